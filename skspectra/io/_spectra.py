"""The result of every reader: the :class:`Spectra` named tuple, and the warning of skipped
spectra."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

import numpy as np

PathLike = str | os.PathLike
OnError = Literal["raise", "skip"]


class SpectraReadWarning(UserWarning):
    """Warning issued when spectra are skipped (``on_error="skip"``) or a cache cannot be written.

    Examples
    --------
    >>> import warnings
    >>> from skspectra.io import SpectraReadWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", SpectraReadWarning)
    """


class _SpectraFields(NamedTuple):
    X: np.ndarray
    y: np.ndarray | None
    ids: np.ndarray
    wavelength: np.ndarray | None


class Spectra(_SpectraFields):
    """Spectra read from disk: a named tuple ``(X, y, ids, wavelength)``.

    Attributes
    ----------
    X : ndarray of shape (n_spectra, n_points), float32
        The fluxes, one spectrum per row. A cache hit of :func:`read_contest` returns a read-only
        memory map; ``np.array(X)`` makes a writable copy.
    y : ndarray of str, shape (n_spectra,), or None
        The labels, or None for unlabelled data.
    ids : ndarray of str, shape (n_spectra,)
        The identifier of each spectrum, in the order of the source.
    wavelength : ndarray of float64, shape (n_points,), or None
        The common wavelength (or wavenumber) grid, or None when the source has none.
    skipped : dict of str to str
        With ``on_error="skip"``: the id of each spectrum that was dropped, and why. Empty
        otherwise. It is an attribute, not a fifth field, so that ``X, y, ids, wl = spectra``
        keeps working.

    Examples
    --------
    >>> import numpy as np
    >>> from skspectra.io import Spectra
    >>> spectra = Spectra(np.zeros((2, 3), np.float32), None, np.array(["a", "b"]), None)
    >>> X, y, ids, wavelength = spectra
    >>> X.shape, spectra.skipped
    ((2, 3), {})
    """

    # No __slots__ here on purpose: instances get a __dict__ that holds `skipped`.
    skipped: dict[str, str]

    def __new__(
        cls,
        X: np.ndarray,
        y: np.ndarray | None,
        ids: np.ndarray,
        wavelength: np.ndarray | None,
        skipped: Mapping[str, str] | None = None,
    ) -> Spectra:
        self = super().__new__(cls, X, y, ids, wavelength)
        self.skipped = dict(skipped or {})
        return self

    def __getattr__(self, name: str) -> Any:
        # `_make` and `_replace` build instances without calling __new__: nothing was skipped.
        if name == "skipped":
            return {}
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        n, p = self.X.shape if self.X.ndim == 2 else (len(self.X), "?")
        labels = "None" if self.y is None else f"{len(np.unique(self.y))} classes"
        grid = "None"
        if self.wavelength is not None and len(self.wavelength):
            grid = f"{self.wavelength[0]:.6g}..{self.wavelength[-1]:.6g}"
        return (
            f"Spectra(X: {n} x {p} {self.X.dtype}, y: {labels}, wavelength: {grid}, "
            f"skipped: {len(self.skipped)})"
        )
