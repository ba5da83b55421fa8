"""Mini-batches drawn with fixed class fractions, so that rare classes appear in every batch."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from torch.utils.data import Sampler

__all__ = ["ClassFractionSampler", "resolve_class_fractions"]


def resolve_class_fractions(
    class_fractions: None | str | Mapping, classes: np.ndarray
) -> np.ndarray | None:
    """Turn the ``class_fractions`` parameter into one fraction per class (in ``classes`` order).

    ``None`` gives ``None`` (plain shuffling), ``"balanced"`` equal fractions, a mapping
    ``label -> fraction`` those fractions. Every class must be named and the fractions must be
    non-negative with a positive sum; they are normalised to sum to 1.

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
        return np.full(len(classes), 1.0 / len(classes))
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
    return fractions / fractions.sum()


def _batch_counts(fractions: np.ndarray, batch_size: int) -> np.ndarray:
    """Members of each class in a batch: largest-remainder rounding, so counts sum exactly."""
    exact = fractions * batch_size
    counts = np.floor(exact).astype(int)
    short = batch_size - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


class ClassFractionSampler(Sampler):
    """Yield batches of indices, each with fixed class fractions or plainly shuffled.

    With ``fractions``, every batch holds ``round(fraction * batch_size)`` members of each
    class, drawn with replacement from that class, so that a class of 0.3 % of the data still
    appears in every batch (the contest model's sampling). Without, batches are consecutive
    slices of fresh random permutations of all samples.

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
        counts = _batch_counts(self.fractions, self.batch_size)
        for _ in range(self.n_batches):
            parts = [
                self.rng.choice(self.members[c], size=k, replace=True)
                for c, k in enumerate(counts)
                if k > 0
            ]
            batch = np.concatenate(parts)
            yield self.rng.permutation(batch).tolist()
