"""Mini-batches drawn with fixed class fractions, so that rare classes appear in every batch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from torch.utils.data import Sampler

__all__ = ["ClassFractionSampler", "resolve_class_fractions"]


def resolve_class_fractions(
    class_fractions: None | str | Mapping, classes: np.ndarray, present: np.ndarray | None = None
) -> np.ndarray | None:
    """Turn the ``class_fractions`` parameter into one fraction per class (in ``classes`` order).

    ``None`` gives ``None`` (plain shuffling), ``"balanced"`` equal fractions, a mapping
    ``label -> fraction`` those fractions. Every class must be named and the fractions must be
    non-negative with a positive sum; they are normalised to sum to 1. With ``present`` (the
    encoded labels of the spectra to draw from), classes absent from it get none.

    >>> resolve_class_fractions({"a": 3, "b": 1}, np.array(["a", "b"]))
    array([0.75, 0.25])
    """
    if class_fractions is None:
        return None
    if isinstance(class_fractions, str):
        if class_fractions != "balanced":
            raise ValueError(
                f"class_fractions={class_fractions!r} is not understood: use None, "
                "'balanced', or a mapping label -> fraction"
            )
        fractions = np.full(len(classes), 1.0 / len(classes))
        return fractions if present is None else _only_present(fractions, present)
    if not isinstance(class_fractions, Mapping):
        raise TypeError(
            "class_fractions must be None, 'balanced', or a mapping label -> fraction, "
            f"got {type(class_fractions).__name__}"
        )
    lookup = {str(k): v for k, v in class_fractions.items()}
    missing = [str(c) for c in classes if str(c) not in lookup]
    if missing:
        raise ValueError(
            f"class_fractions has no fraction for class(es) {missing}: name every class of y "
            f"({[str(c) for c in classes]})"
        )
    unknown = sorted(set(lookup) - {str(c) for c in classes})
    if unknown:
        raise ValueError(
            f"class_fractions names {unknown}, which are not classes of y "
            f"({[str(c) for c in classes]})"
        )
    fractions = np.array([float(lookup[str(c)]) for c in classes])
    if np.any(fractions < 0) or not np.isfinite(fractions).all() or fractions.sum() <= 0:
        raise ValueError(
            f"class_fractions must be non-negative with a positive sum, got {class_fractions}"
        )
    fractions = fractions / fractions.sum()
    return fractions if present is None else _only_present(fractions, present)


def _only_present(fractions: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``fractions`` with the classes not in ``present`` (encoded labels) at 0, renormalised."""
    fractions = fractions.copy()
    fractions[np.setdiff1d(np.arange(len(fractions)), present)] = 0.0
    if fractions.sum() <= 0:
        raise ValueError(
            "class_fractions gives no share to any class among the training spectra: give a "
            "positive fraction to at least one class they contain."
        )
    return fractions / fractions.sum()


def _batch_counts(fractions: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Members of each class in one batch: ``fraction * batch_size`` in expectation, summing to
    ``batch_size`` exactly.

    Each class gets the whole part of its share, and the remaining places go to classes with
    probability equal to their fractional parts (systematic sampling over their cumulative sum),
    so a class whose share is below one member still appears in a matching share of batches.
    """
    # Rounded to 1e-9 so that shares meant to be whole (0.1 * 10) are not 0.9999999 short.
    exact = np.round(fractions * batch_size, 9)
    counts = np.floor(exact).astype(int)
    remainder = exact - counts
    short = batch_size - int(counts.sum())
    if short > 0:
        # Points u, u + 1, ... over the cumulated remainders (which add up to `short`): class c
        # is hit at most once (its remainder is under 1), with probability equal to it.
        edges = np.cumsum(remainder)
        edges *= short / edges[-1]
        hit = np.searchsorted(edges, rng.random() + np.arange(short), side="right")
        counts += np.bincount(hit, minlength=len(counts))
    return counts


class ClassFractionSampler(Sampler):
    """Yield batches of indices, each with fixed class fractions or plainly shuffled.

    With ``fractions``, every batch holds ``fraction * batch_size`` members of each class in
    expectation (the whole part always, the fractional part by chance), drawn with replacement
    from that class, so that a class of 0.3 % of the data still appears in its share of batches
    even when that share is below one member per batch (the contest model's sampling).
    Without, batches are consecutive slices of fresh random permutations of all samples.

    Parameters
    ----------
    y : array of int, shape (n_samples,)
        Encoded class of each sample (``0 .. n_classes - 1``).
    batch_size : int
        Samples per batch.
    n_batches : int or None
        Batches per epoch. ``None``: one pass over the data (``ceil(n_samples / batch_size)``).
    fractions : array of float or None
        One fraction per class, summing to 1; ``None`` for plain shuffling.
    rng : numpy.random.Generator
        Source of randomness; its state carries over from one epoch to the next.

    Examples
    --------
    >>> y = np.array([0] * 95 + [1] * 5)
    >>> sampler = ClassFractionSampler(y, 10, 3, np.array([0.5, 0.5]), np.random.default_rng(0))
    >>> [int((y[batch] == 1).sum()) for batch in sampler]
    [5, 5, 5]
    """

    def __init__(
        self,
        y: np.ndarray,
        batch_size: int,
        n_batches: int | None,
        fractions: np.ndarray | None,
        rng: np.random.Generator,
    ):
        self.y = np.asarray(y)
        self.batch_size = int(batch_size)
        n = len(self.y)
        self.one_pass = n_batches is None
        self.n_batches = max(1, -(-n // self.batch_size)) if self.one_pass else int(n_batches)
        self.fractions = fractions
        self.rng = rng
        if fractions is not None:
            self.members = [np.flatnonzero(self.y == c) for c in range(len(fractions))]
            empty = [c for c, m in enumerate(self.members) if len(m) == 0 and fractions[c] > 0]
            if empty:
                raise ValueError(f"classes {empty} have a positive fraction but no samples")

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        if self.fractions is None:
            yield from self._shuffled()
        else:
            yield from self._stratified()

    def _shuffled(self) -> Iterator[list[int]]:
        n = len(self.y)
        if self.one_pass:
            order = self.rng.permutation(n)
            for start in range(0, n, self.batch_size):
                yield order[start : start + self.batch_size].tolist()
            return
        # A fixed number of batches: consecutive permutations, cut into full batches.
        buffer = np.empty(0, dtype=np.int64)
        for _ in range(self.n_batches):
            while len(buffer) < self.batch_size:
                buffer = np.concatenate([buffer, self.rng.permutation(n)])
            batch, buffer = buffer[: self.batch_size], buffer[self.batch_size :]
            yield batch.tolist()

    def _stratified(self) -> Iterator[list[int]]:
        for _ in range(self.n_batches):
            counts = _batch_counts(self.fractions, self.batch_size, self.rng)
            parts = [
                self.rng.choice(self.members[c], size=k, replace=True)
                for c, k in enumerate(counts)
                if k > 0
            ]
            batch = np.concatenate(parts)
            yield self.rng.permutation(batch).tolist()
