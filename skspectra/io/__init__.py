"""Read spectra from disk into arrays: the LAMOST contest layout, NumPy files, CSV tables and FITS.

Every reader returns a :class:`Spectra` tuple ``(X, y, ids, wavelength)`` with ``X`` as float32 of
shape ``(n_spectra, n_points)``, ready for the estimators of skspectra. :func:`read_spectra` picks
the reader from what its argument is.

Bad input never turns into a silently wrong array: a missing file, a value that is not a number, a
spectrum of the wrong length, a NaN or an infinity, an unknown label, a duplicated id or an empty
index raise an error that names the file and the line or position. With ``on_error="skip"`` the bad
spectra are dropped instead, a :class:`SpectraReadWarning` says how many and why, and
``Spectra.skipped`` maps each dropped id to the reason.

Files named by an index never lead out of their folder: an id must be a plain file name, a
symlink is followed only to a file inside the folder, only regular files are opened (never a
FIFO or a device), each read is capped by the size the expected spectrum takes, and an error
names the file without showing its content.

The package holds one private module per format, behind this public API: ``_contest`` (the
contest layout and its cache), ``_tables`` (``.npy``, ``.npz``, CSV), ``_fits``, ``_problems``
(the shared ``on_error`` reporting), ``_files`` (atomic writes, confined and bounded reads),
``_parallel`` (chunks in worker processes), ``_predictions`` (the prediction CSV the command
line and the Dask path write) and ``_spectra`` (the :class:`Spectra` tuple).
"""

from ._contest import CONTEST_LABELS, read_contest
from ._files import atomic_write
from ._fits import FitsSpectrum, read_fits, read_fits_spectrum
from ._read_spectra import read_spectra
from ._spectra import Spectra, SpectraReadWarning
from ._tables import read_csv, read_npy, read_npz

__all__ = [
    "CONTEST_LABELS",
    "FitsSpectrum",
    "Spectra",
    "SpectraReadWarning",
    "atomic_write",
    "read_contest",
    "read_csv",
    "read_fits",
    "read_fits_spectrum",
    "read_npy",
    "read_npz",
    "read_spectra",
]
