"""FITS files of one spectrum each (LAMOST, SDSS), put on one wavelength grid."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from ._files import _existing_file
from ._parallel import _MAX_CHUNK, _MIN_PARALLEL, _chunk_size, _map_chunks, _want_progress
from ._problems import (
    _LABEL_HINT,
    _check_on_error,
    _finite_float32,
    _handle_problems,
    _label_problems,
    _take,
)
from ._spectra import OnError, PathLike, Spectra

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")


def read_fits(
    source: PathLike | Sequence[PathLike],
    *,
    wavelength: np.ndarray | None = None,
    fill_value: float = np.nan,
    label_key: str | None = None,
    labels: Collection[str] | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    on_error: OnError = "raise",
) -> Spectra:
    """Read one-spectrum-per-file FITS files and put them on one wavelength grid.

    Needs astropy (``pip install "skspectra[fits]"``). Two layouts are understood:

    - **LAMOST DR** (low resolution): the primary HDU is an image whose first row is the flux.
      The wavelength comes from the header: ``COEFF0``/``COEFF1`` (log10 of the wavelength is
      ``COEFF0 + COEFF1 * i`` for pixel ``i`` from 0), or else ``CRVAL1`` with ``CDELT1`` (or
      ``CD1_1``) and ``CRPIX1`` (default 1), linear, or log10 when ``DC-FLAG`` is 1 (IRAF's
      convention, which LAMOST follows).
    - **Tables** such as SDSS ``spec-*.fits``: the HDU named ``COADD``, else the first binary
      table, with a ``flux`` column and a ``loglam`` (log10 wavelength) or ``wavelength``
      column (names in any case). A table of one row whose cells are arrays (LAMOST DR8 and
      later) is read too.

    Parameters
    ----------
    source : str, path-like or sequence of them
        A FITS file, a folder (every ``*.fits``, ``*.fit``, ``*.fts``, optionally ``.gz``,
        sorted by name) or a list of files.
    wavelength : array-like of shape (n_points,), default=None
        The grid to resample every spectrum onto, increasing, in the unit of the files
        (Angstrom for LAMOST and SDSS). None keeps the grid of the files, which must then all
        be the same (a ValueError says when they differ).
    fill_value : float, default=np.nan
        The flux given to grid points outside the wavelength range of a spectrum. NaN marks them
        plainly; the classifiers need finite input, so either pick a grid that every spectrum
        covers or pass e.g. ``fill_value=0.0``.
    label_key : str, default=None
        Read a label per file: the primary header keyword of this name (LAMOST: ``"CLASS"``), or
        else the column of this name in a one-row table (SDSS: ``"CLASS"`` in ``SPECOBJ``).
        None returns ``y=None``. Labels are returned as written (e.g. "STAR", not "star").
    labels : collection of str, default=None
        The allowed labels when ``label_key`` is given; any other label is an error.
    n_jobs : int, default=None
        Worker processes, as in :func:`read_contest`.
    progress : bool, default=None
        Show a progress bar; None shows it when stderr is a terminal.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a file that cannot be used (unreadable, no flux or wavelength found,
        non-finite flux, wavelengths not monotonic, missing or unknown label, duplicated id).

    Returns
    -------
    Spectra
        ``X`` float32 of shape (n_files, n_points), ``y`` the labels or None, ``ids`` the file
        names without their FITS suffix and ``wavelength`` the grid (float64).

    Raises
    ------
    ImportError
        If astropy is not installed.

    Notes
    -----
    Resampling is linear interpolation (``np.interp``) of the flux at each grid wavelength.
    Flux densities (per Angstrom, as LAMOST and SDSS store them) are kept as they are: there is
    no rescaling for the change of pixel width, and no flux conservation. That is right when
    the new grid is about as fine as the old one; on a much coarser grid, narrow lines are
    sampled rather than averaged, so smooth or rebin first. Flux values are never
    extrapolated: grid points beyond either end of a spectrum get ``fill_value``.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> from skspectra.io import read_fits
    >>> folder = Path(tempfile.mkdtemp())
    >>> flux = np.ones((3, 100), dtype=np.float32)  # flux, ivar, wavelength as in LAMOST
    >>> header = fits.Header({"COEFF0": 3.6, "COEFF1": 1e-4})  # 3981 to 4070 Angstrom
    >>> fits.PrimaryHDU(flux, header).writeto(folder / "spec-1.fits")
    >>> X, y, ids, wl = read_fits(folder, wavelength=[3900.0, 4000.0, 4050.0])
    >>> X, ids.tolist()
    (array([[nan,  1.,  1.]], dtype=float32), ['spec-1'])
    """
    fits = _import_fits()
    _check_on_error(on_error)
    paths = _fits_paths(source)
    grid = None
    if wavelength is not None:
        grid = np.asarray(wavelength, dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all():
            raise ValueError(
                f"wavelength must be a 1-D array of finite values, got shape {grid.shape}"
            )
        if grid.size > 1 and not (np.diff(grid) > 0).all():
            raise ValueError("wavelength must be strictly increasing: sort it, e.g. np.sort(wl)")
    del fits  # imported only to fail early and clearly; the workers import it again

    ids = np.array([_fits_id(p) for p in paths], dtype=str)
    workers = joblib.effective_n_jobs(-1 if n_jobs is None else n_jobs)
    if len(paths) < _MIN_PARALLEL // 10:  # a FITS file takes ~10 times longer than a text file
        workers = 1
    step = _chunk_size(len(paths), workers) if workers > 1 else _MAX_CHUNK
    starts = range(0, len(paths), step)
    chunks = [([os.fspath(p) for p in paths[s : s + step]], label_key) for s in starts]
    read = []
    for part in _map_chunks(
        _read_fits_chunk,
        chunks,
        workers=workers,
        progress=_want_progress(progress),
        total=len(paths),
        desc="reading FITS",
    ):
        read.extend(part)

    problems = {i: item for i, item in enumerate(read) if isinstance(item, str)}
    good = [i for i in range(len(read)) if i not in problems]
    if grid is None and good:
        first = good[0]
        grid = read[first][0]
        for i in good[1:]:
            other = read[i][0]
            if other.shape != grid.shape or not np.allclose(other, grid, rtol=1e-7, atol=0):
                raise ValueError(
                    f"{paths[first]} and {paths[i]} have different wavelength grids "
                    f"({_describe_grid(grid)} vs {_describe_grid(other)}): pass wavelength= the "
                    "grid to resample onto, e.g. np.linspace(3700, 9100, 2600)"
                )
    n_points = 0 if grid is None else len(grid)
    X = np.zeros((len(paths), n_points), dtype=np.float32)
    for i in good:
        wl, flux, _ = read[i]
        if wavelength is None:
            X[i] = flux
        else:
            X[i] = np.interp(grid, wl, flux, left=fill_value, right=fill_value)
    y = None
    if label_key is not None:
        y = np.array(["" if i in problems else str(read[i][2]) for i in range(len(read))])
    rows = {i: str(paths[i]) for i in range(len(paths))}
    for row, message in _label_problems(y, ids, labels, rows).items():
        problems.setdefault(row, message)
    hint = _LABEL_HINT if labels is not None else ""
    keep, skipped = _handle_problems(problems, ids, on_error, source="FITS files", hint=hint)
    return Spectra(_take(X, keep), _take(y, keep), _take(ids, keep), grid, skipped)


def _import_fits() -> Any:
    try:
        from astropy.io import fits
    except ImportError:
        raise ImportError(
            "reading FITS files needs astropy, which is not installed: "
            'pip install "skspectra[fits]" (or pip install astropy)'
        ) from None
    return fits


def _fits_paths(source: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            paths = sorted(p for p in path.iterdir() if p.name.lower().endswith(_FITS_SUFFIXES))
            if not paths:
                raise FileNotFoundError(
                    f"{path} holds no FITS files (*.fits, *.fit, *.fts, optionally .gz): pass "
                    "the folder that holds them, or a list of files"
                )
            return paths
        return [_existing_file(path, "FITS file")]
    paths = [Path(p) for p in source]
    if not paths:
        raise ValueError("no FITS files given: pass a file, a folder or a non-empty list")
    for path in paths:
        _existing_file(path, "FITS file")
    return paths


def _fits_id(path: Path) -> str:
    name = path.name
    for suffix in sorted(_FITS_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _describe_grid(grid: np.ndarray) -> str:
    return f"{len(grid)} points from {grid[0]:.6g} to {grid[-1]:.6g}"


class _BadSpectrum(Exception):
    """A FITS file that holds no usable spectrum; the message says why."""


def _read_fits_chunk(
    paths: Sequence[str], label_key: str | None
) -> list[tuple[np.ndarray, np.ndarray, str | None] | str]:
    """Read some FITS files (runs in a worker): (wavelength, flux, label) or a problem each."""
    fits = _import_fits()
    out: list[tuple[np.ndarray, np.ndarray, str | None] | str] = []
    for path in paths:
        try:
            with fits.open(path, memmap=False) as hdus:
                wl, flux = _fits_spectrum(hdus, fits)
                label = _fits_label(hdus, label_key, fits) if label_key is not None else None
            out.append((*_check_spectrum(wl, flux), label))
        except _BadSpectrum as exc:
            out.append(f"{path}: {exc}")
        except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
            # astropy raises all of these on truncated or malformed files.
            out.append(f"{path}: not a readable FITS file ({type(exc).__name__}: {exc})")
    return out


def _fits_spectrum(hdus: Any, fits: Any) -> tuple[np.ndarray, np.ndarray]:
    primary = hdus[0]
    if primary.data is not None and primary.data.size:
        data = np.asarray(primary.data, dtype=np.float64)
        flux = data.reshape(-1, data.shape[-1])[0]
        return _header_wavelength(primary.header, len(flux)), flux
    table = next(
        (h for h in hdus if h.name.upper() == "COADD"),
        next((h for h in hdus if isinstance(h, fits.BinTableHDU)), None),
    )
    if table is None:
        raise _BadSpectrum(
            "no spectrum found: expected a primary image (LAMOST) or a binary table with flux "
            "and loglam/wavelength columns (SDSS COADD)"
        )
    columns = {name.lower(): name for name in table.columns.names}
    if "flux" not in columns:
        raise _BadSpectrum(f"the table {table.name!r} has no 'flux' column ({table.columns.names})")
    flux = np.asarray(table.data[columns["flux"]], dtype=np.float64)
    if "loglam" in columns:
        wl = 10.0 ** np.asarray(table.data[columns["loglam"]], dtype=np.float64)
    else:
        name = next((columns[c] for c in ("wavelength", "lambda", "wave") if c in columns), None)
        if name is None:
            raise _BadSpectrum(
                f"the table {table.name!r} has no 'loglam' or 'wavelength' column "
                f"({table.columns.names})"
            )
        wl = np.asarray(table.data[name], dtype=np.float64)
    if flux.ndim == 2 and len(flux) == 1:  # one row of array cells (LAMOST DR8 and later)
        flux, wl = flux[0], wl[0] if wl.ndim == 2 else wl
    return wl, flux


def _header_wavelength(header: Any, n: int) -> np.ndarray:
    pixel = np.arange(n, dtype=np.float64)
    if "COEFF0" in header and "COEFF1" in header:
        return 10.0 ** (float(header["COEFF0"]) + float(header["COEFF1"]) * pixel)
    step = header.get("CDELT1", header.get("CD1_1"))
    if "CRVAL1" in header and step is not None:
        value = float(header["CRVAL1"]) + (pixel + 1 - float(header.get("CRPIX1", 1.0))) * step
        return 10.0**value if header.get("DC-FLAG") == 1 else value
    raise _BadSpectrum(
        "the primary image has no wavelength keywords: expected COEFF0/COEFF1 or CRVAL1 with "
        "CDELT1 (or CD1_1)"
    )


def _fits_label(hdus: Any, key: str, fits: Any) -> str:
    if key in hdus[0].header:
        return str(hdus[0].header[key]).strip()
    for hdu in hdus[1:]:
        if isinstance(hdu, fits.BinTableHDU) and len(hdu.data) == 1:
            names = {n.lower(): n for n in hdu.columns.names}
            if key.lower() in names:
                value = hdu.data[names[key.lower()]][0]
                return (value.decode() if isinstance(value, bytes) else str(value)).strip()
    raise _BadSpectrum(f"has no {key!r} header keyword nor one-row table column for the label")


def _check_spectrum(wl: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if wl.shape != flux.shape or flux.ndim != 1:
        raise _BadSpectrum(f"{wl.shape} wavelengths for {flux.shape} flux values")
    if len(flux) < 2:
        raise _BadSpectrum(f"holds {len(flux)} flux values, too few for a spectrum")
    if wl[0] > wl[-1]:
        wl, flux = wl[::-1], flux[::-1]
    if not (np.diff(wl) > 0).all():
        raise _BadSpectrum("its wavelengths are not strictly monotonic")
    flux32, message = _finite_float32(flux, lambda j: f"{flux[j]} (at {wl[j]:.6g})")
    if message is not None:
        raise _BadSpectrum(f"flux {message}")
    return wl, flux32
