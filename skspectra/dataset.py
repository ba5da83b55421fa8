"""The classifier's spectra as a torch ``Dataset``, and its validation split."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from torch.utils.data import Dataset

__all__ = ["SpectraDataset", "as_rows", "spread_around_mean", "validation_indices"]


class SpectraDataset(Dataset):
    """Rows ``index`` of spectra ``X`` with their labels and sample weights.

    Each item is ``({"X": spectrum, "sample_weight": weight}, label)``, so a batch carries its
    weights (and, while training, its mixup pairing) to the loss. ``X`` is shared, never
    copied: an ``offset`` (the classifier's ``input_mean_``) is subtracted row by row as it is
    read.

    Parameters
    ----------
    X : torch.Tensor of shape (n_spectra, 1, n_points), float32
    y : torch.Tensor of shape (n_spectra,), int64, or None
        Encoded labels (0 for every row when None: prediction).
    sample_weight : torch.Tensor of shape (n_spectra,), float32, or None
        None: weight 1 for every row.
    index : array of int or None
        The rows this dataset holds (None: all).
    offset : torch.Tensor of shape (1, n_points) or None
        Subtracted from every row.
    rng : numpy.random.Generator or None
        The generator the training batch sampler draws from (its state is checkpointed).
    valid_index : array of int or None
        Rows held out for validation by :meth:`split` (None: no validation).
    """

    def __init__(
        self, X, y=None, sample_weight=None, index=None, offset=None, rng=None, valid_index=None
    ):
        n = len(X)
        self.X = X
        self.y = torch.zeros(n, dtype=torch.int64) if y is None else y
        self.sample_weight = torch.ones(n) if sample_weight is None else sample_weight
        self.index = torch.arange(n) if index is None else torch.as_tensor(index)
        self.offset = offset
        self.rng = rng
        self.valid_index = valid_index

    def split(self) -> tuple[SpectraDataset, SpectraDataset | None]:
        """The training rows (all but ``valid_index``) and the validation rows (or None)."""
        if self.valid_index is None:
            return self, None
        train = np.setdiff1d(self.index.numpy(), self.valid_index)
        return (
            SpectraDataset(self.X, self.y, self.sample_weight, train, self.offset, self.rng),
            SpectraDataset(self.X, self.y, self.sample_weight, self.valid_index, self.offset),
        )

    @property
    def labels(self) -> np.ndarray:
        """The encoded label of every row held, for the batch sampler."""
        return self.y[self.index].numpy()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        j = self.index[i]
        row = self.X[j] if self.offset is None else self.X[j] - self.offset
        return {"X": row, "sample_weight": self.sample_weight[j]}, self.y[j]


def validation_indices(y: np.ndarray, split, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and validation rows for ``validation_split``: None (no validation), a fraction
    or a count of spectra (stratified by class; at random, with a warning, when a class is too
    rare to stratify), or a scikit-learn splitter (its first split).

    >>> train, valid = validation_indices(np.array([0, 1] * 10), 0.2, seed=0)
    >>> len(train), len(valid), np.bincount(np.array([0, 1] * 10)[valid]).tolist()
    (16, 4, [2, 2])
    """
    everything = np.arange(len(y))
    if split is None:
        return everything, None
    if hasattr(split, "split"):
        splitter = split
    else:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=split, random_state=seed)
        try:
            next(splitter.split(everything, y))
        except ValueError as exc:
            warnings.warn(
                f"The validation split is not stratified ({exc}); it is drawn at random, so a "
                "rare class may be missing from one side. Give more spectra of each class, a "
                "smaller validation_split, or validation_split=None.",
                UserWarning,
                stacklevel=4,
            )
            splitter = ShuffleSplit(n_splits=1, test_size=split, random_state=seed)
    train, valid = next(splitter.split(everything, y))
    if len(train) == 0 or len(valid) == 0:
        raise ValueError(
            f"validation_split={split!r} leaves {len(train)} spectra for training and "
            f"{len(valid)} for validation: both need at least one."
        )
    return np.asarray(train), np.asarray(valid)


def spread_around_mean(X: np.ndarray) -> float:
    """Mean Euclidean distance of the rows of ``X`` to their mean row, over that row's norm
    (``inf`` when the mean row is zero): 0.01 for spectra that are nearly alike, 1 or more for
    varied ones. Scale-free, and nearly the same on any large part of the data as on all of it.

    >>> spread_around_mean(np.array([[1.0, 2.0], [1.2, 2.0], [0.8, 2.0]]))  # doctest: +ELLIPSIS
    0.0596...
    """
    mean = X.mean(axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0 or len(X) == 0:
        return float("inf")
    rows = max(1, (1 << 22) // max(X.shape[1], 1))
    total = sum(  # in chunks: no float64 copy of a large X
        float(np.linalg.norm(X[i : i + rows].astype(np.float64) - mean, axis=1).sum())
        for i in range(0, len(X), rows)
    )
    return total / len(X) / norm


def as_rows(X):
    """``(n, 1, n_points)`` spectra as ``(n, n_points)``; other input as it is (for
    scikit-learn's validation to judge)."""
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 3:
        return X
    if shape[1] != 1:
        raise ValueError(
            f"X has shape {tuple(shape)}: {shape[1]} channels, but one is supported. "
            "Pass spectra as (n_spectra, n_points) or (n_spectra, 1, n_points)."
        )
    return np.asarray(X)[:, 0, :]
