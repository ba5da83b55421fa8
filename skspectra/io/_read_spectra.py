"""One entry point that picks the reader from what its argument is."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._contest import read_contest
from ._files import _existing_file
from ._fits import _FITS_SUFFIXES, read_fits
from ._spectra import PathLike, Spectra
from ._tables import read_csv, read_npy, read_npz


def read_spectra(
    path: PathLike | Sequence[PathLike], *, spectra_dir: PathLike | None = None, **kwargs: Any
) -> Spectra:
    """Read spectra from any supported source, chosen by what ``path`` is.

    ==========================================  ==================================
    ``path``                                    reader
    ==========================================  ==================================
    an index CSV, with ``spectra_dir=``         :func:`read_contest`
    ``*.npy``                                   :func:`read_npy`
    ``*.npz``                                   :func:`read_npz`
    ``*.csv`` (without ``spectra_dir``)         :func:`read_csv`
    ``*.fits`` (``.fit``, ``.fts``, ``.gz``),   :func:`read_fits`
    a folder of them, or a list of files
    ==========================================  ==================================

    Parameters
    ----------
    path : str, path-like or sequence of them
        What to read, see above.
    spectra_dir : str or path-like, default=None
        The folder of ``<id>.txt`` files of the contest layout; when given, ``path`` is the
        index CSV.
    **kwargs
        Passed on to the reader (e.g. ``on_error``, ``split``, ``wavelength``, ``n_jobs``).

    Returns
    -------
    Spectra
        The named tuple ``(X, y, ids, wavelength)``.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from skspectra.io import read_spectra
    >>> path = Path(tempfile.mkdtemp()) / "data.npz"
    >>> np.savez(path, X=np.ones((4, 8)), y=np.array(["star", "star", "qso", "galaxy"]))
    >>> spectra = read_spectra(path)
    >>> spectra
    Spectra(X: 4 x 8 float32, y: 3 classes, wavelength: None, skipped: 0)
    """
    if spectra_dir is not None:
        return read_contest(path, spectra_dir, **kwargs)
    if not isinstance(path, str | os.PathLike):
        return read_fits(path, **kwargs)
    target = Path(path)
    name = target.name.lower()
    if target.is_dir():
        return read_fits(target, **kwargs)
    if name.endswith(".npy"):
        return read_npy(target, **kwargs)
    if name.endswith(".npz"):
        return read_npz(target, **kwargs)
    if name.endswith(_FITS_SUFFIXES):
        return read_fits(target, **kwargs)
    if name.endswith(".csv"):
        return read_csv(target, **kwargs)
    _existing_file(target, "file")
    raise ValueError(
        f"cannot tell the format of {target} from its name: expected .npy, .npz, .csv, .fits or "
        "a folder of FITS files; for the contest layout pass the index CSV with spectra_dir="
    )
