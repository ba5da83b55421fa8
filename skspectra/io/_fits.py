"""Spectra in FITS files (SDSS, LAMOST, 1-D WCS images), put on one wavelength grid.

Each file is read with astropy into its wavelengths (in Angstrom, whatever its unit), fluxes and,
where the layout has them, inverse variances and masks; most layouts hold one spectrum per file,
an SDSS ``spPlate`` one per fibre. Bad pixels are interpolated over and counted; :func:`read_fits`
then resamples every spectrum onto one grid, flux-conserving
(:func:`~skspectra.resampling.resample_spectra`), and :func:`read_fits_spectrum` returns one
spectrum on its own grid.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import joblib
import numpy as np

from ..resampling import _fill_bad, resample_spectra
from ._files import _existing_file
from ._parallel import _MAX_CHUNK, _MIN_PARALLEL, _chunk_size, _map_chunks, _want_progress
from ._problems import (
    _LABEL_HINT,
    _check_on_error,
    _handle_problems,
    _label_problems,
    _take,
)
from ._spectra import OnError, PathLike, Spectra

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")

# Rows of the primary image of LAMOST DR1-DR4 low-resolution files, in the survey's order.
_LAMOST_ROWS = ("flux", "ivar", "wavelength", "andmask", "ormask")
# SDSS spPlate files: fluxes in the primary image, then these images of the same shape.
_PLATE_IVAR_HDU, _PLATE_ANDMASK_HDU = 1, 2
_PLATE_PLUGMAP_HDU = 5  # the plug map: one table row per fibre, FIBERID among its columns
# Column names of spectrum tables, lower case, in order of preference.
_IVAR_COLUMNS = ("ivar", "invvar", "inverse_variance")
_MASK_COLUMNS = ("and_mask", "andmask")
_WAVE_COLUMNS = ("wavelength", "lambda", "wave")


class FitsSpectrum(NamedTuple):
    """One spectrum as :func:`read_fits_spectrum` reads it, on its own grid.

    Attributes
    ----------
    wavelength : ndarray of shape (n_pixels,), float64
        Increasing, in Angstrom (converted from the file's unit).
    flux : ndarray of shape (n_pixels,), float64
        Fluxes, bad pixels replaced by the line between their good neighbours.
    ivar : ndarray of shape (n_pixels,), float64, or None
        Inverse variances, 0 at bad pixels; None when the layout has none.
    good : ndarray of shape (n_pixels,), bool
        False at bad pixels: non-finite flux, ``ivar`` 0 or not finite, non-zero and-mask.
    meta : dict
        ``layout`` ("sdss-table", "sdss-plate", "lamost-table", "lamost-image" or "wcs1d"),
        ``medium`` ("air", "vacuum" or "unknown": wavelengths are never converted between them),
        ``unit`` (the file's wavelength unit), ``n_bad`` (bad pixels interpolated over).
    """

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray | None
    good: np.ndarray
    meta: dict


def read_fits(
    source: PathLike | Sequence[PathLike],
    *,
    wavelength: np.ndarray | None = None,
    fill_value: float | None = np.nan,
    label_key: str | None = None,
    labels: Collection[str] | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    on_error: OnError = "raise",
    min_good: float = 0.5,
) -> Spectra:
    """Read the spectra of FITS files and put them on one wavelength grid.

    Needs astropy (``pip install "skspectra[fits]"``). These layouts are understood (see
    :func:`read_fits_spectrum` for the details):

    - **SDSS** ``spec-*.fits`` and other spectrum tables: the HDU named ``COADD``, else the
      first binary table, with ``flux``, ``loglam`` (log10 of the wavelength) or
      ``wavelength``, ``ivar`` and ``and_mask`` columns (names in any case).
    - **SDSS** ``spPlate-*.fits``, one spectrum per fibre: a primary image of fluxes, one row
      per fibre, with the log-linear grid of ``COEFF0``/``COEFF1``; the inverse variances in
      HDU 1, the and-mask in HDU 2 and the plug map (a table, ``FIBERID`` per row) in HDU 5.
      Each fibre's id is the file's followed by its fibre number, e.g.
      ``spPlate-3586-55181-0042``.
    - **LAMOST DR5 and later** (low resolution): a binary table of one row whose cells are the
      arrays ``FLUX``, ``IVAR``, ``WAVELENGTH``, ``ANDMASK`` and ``ORMASK``.
    - **LAMOST DR1-DR4**: a primary image of 5 rows (flux, inverse variance, wavelength,
      and-mask, or-mask) with ``COEFF0``/``COEFF1`` (log10 of the wavelength is
      ``COEFF0 + COEFF1 * i`` for pixel ``i`` from 0).
    - **1-D images with a WCS** (``wcs1d``): ``CRVAL1`` with ``CDELT1`` (or ``CD1_1``) and
      ``CRPIX1`` (default 1), in the unit ``CUNIT1`` (Angstrom when absent; nm, micron...
      through astropy.units); log-linear grids by ``CTYPE1 = 'WAVE-LOG'`` (FITS WCS paper
      III) or ``DC-FLAG = 1`` (IRAF: ``CRVAL1``, ``CDELT1`` in log10). Of a 2-D image the
      first row is the flux.

    Parameters
    ----------
    source : str, path-like or sequence of them
        A FITS file, a folder (every ``*.fits``, ``*.fit``, ``*.fts``, optionally ``.gz``,
        sorted by name) or a list of files.
    wavelength : array-like of shape (n_points,), default=None
        The grid to resample every spectrum onto, increasing, in Angstrom (every file's
        wavelengths are converted to Angstrom first). Resampling conserves flux and propagates
        inverse variances (:func:`~skspectra.resampling.resample_spectra`). None keeps the grid
        of the files, which must then all be the same (a ValueError says when they differ).
        A fitted model's grid is ``SpectrumResampler.wavelength_``.
    fill_value : float or None, default=np.nan
        The flux given to grid points outside the wavelength range of a spectrum. NaN marks them
        plainly; the classifiers need finite input, so either pick a grid that every spectrum
        covers or pass e.g. ``fill_value=0.0``. None refuses a file that does not cover the
        grid: a problem (see ``on_error``) that names it and states both ranges. Use None to
        predict with a model's grid: a ``SpectrumResampler`` given spectra already on its grid
        takes NaN for bad pixels and fills them from their neighbours.
    label_key : str, default=None
        Read a label per file: the primary header keyword of this name (LAMOST: ``"CLASS"``), or
        else the column of this name in a one-row table (SDSS: ``"CLASS"`` in ``SPECOBJ``). The
        fibres of an spPlate file take theirs from the plug map's column of this name (e.g.
        ``"OBJTYPE"``), else from the primary header. None returns ``y=None``. Labels are
        returned as written (e.g. "STAR", not "star").
    labels : collection of str, default=None
        The allowed labels when ``label_key`` is given; any other label is an error.
    n_jobs : int, default=None
        Worker processes, as in :func:`read_contest`.
    progress : bool, default=None
        Show a progress bar; None shows it when stderr is a terminal.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a file that cannot be used (unreadable, no flux or wavelength found,
        wavelengths not monotonic, too few good pixels, missing or unknown label, duplicated
        id); of an spPlate file, each fibre is kept or dropped on its own.
    min_good : float, default=0.5
        The least fraction of good pixels (finite flux, ``ivar`` > 0, and-mask 0) a file must
        have; a file with fewer is a problem that names it.

    Returns
    -------
    Spectra
        ``X`` float32 of shape (n_spectra, n_points), one row per file (per fibre of an spPlate
        file), ``y`` the labels or None, ``ids`` the file names without their FITS suffix (and
        the fibre number) and ``wavelength`` the grid (float64, Angstrom). Its
        attribute ``meta`` is a dict of arrays, one entry per spectrum kept: ``layout``,
        ``medium`` ("air", "vacuum" or "unknown"), ``unit`` (of the file), ``n_bad`` (bad
        pixels interpolated over) and ``ivar`` (n_files, n_points) float32, the inverse
        variances on the grid (NaN rows for files without them).

    Raises
    ------
    ImportError
        If astropy is not installed.
    ValueError
        If a file cannot be used (with ``on_error="raise"``); the message names every such file
        and why, e.g. "only 12 of 3000 pixels are good".

    Notes
    -----
    Bad pixels are replaced by linear interpolation between their good neighbours before
    resampling, so a masked pixel of flux 1e4 never becomes a spike, and carry no weight in
    the inverse variance. Air and vacuum wavelengths are not converted (SDSS and LAMOST are in
    vacuum, other files say so by ``CTYPE1 = 'AWAV'``/``'WAVE'``, ``AIRORVAC`` or
    ``VACUUM``): ``meta["medium"]`` tells which each file is, since a 1.5 Angstrom shift
    near H-alpha between the two matters at high resolution.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> from skspectra.io import read_fits
    >>> folder = Path(tempfile.mkdtemp())
    >>> flux = np.ones((3, 100), dtype=np.float32)  # rows: flux, ivar, wavelength
    >>> header = fits.Header({"COEFF0": 3.6, "COEFF1": 1e-4})  # 3981 to 4070 Angstrom
    >>> fits.PrimaryHDU(flux, header).writeto(folder / "spec-1.fits")
    >>> X, y, ids, wl = read_fits(folder, wavelength=[3900.0, 4000.0, 4050.0])
    >>> X, ids.tolist()
    (array([[nan,  1.,  1.]], dtype=float32), ['spec-1'])
    """
    fits = _import_fits()
    _check_on_error(on_error)
    if not (isinstance(min_good, int | float) and 0.0 <= min_good <= 1.0):
        raise ValueError(f"min_good must be a fraction between 0 and 1, got {min_good!r}")
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

    workers = joblib.effective_n_jobs(-1 if n_jobs is None else n_jobs)
    if len(paths) < _MIN_PARALLEL // 10:  # a FITS file takes ~10 times longer than a text file
        workers = 1
    step = _chunk_size(len(paths), workers) if workers > 1 else _MAX_CHUNK
    starts = range(0, len(paths), step)
    chunks = [([os.fspath(p) for p in paths[s : s + step]], label_key, min_good) for s in starts]
    ids: list[str] = []
    where: list[str] = []  # the file, and the fibre of a plate, for messages
    read: list[tuple[FitsSpectrum, str | None] | str] = []
    for part in _map_chunks(
        _read_fits_chunk,
        chunks,
        workers=workers,
        progress=_want_progress(progress),
        total=len(paths),
        desc="reading FITS",
    ):
        for entry_id, entry_where, item in part:
            ids.append(entry_id)
            where.append(entry_where)
            read.append(item)

    problems = {i: item for i, item in enumerate(read) if isinstance(item, str)}
    good = [i for i in range(len(read)) if i not in problems]
    if grid is None and good:
        first = good[0]
        grid = read[first][0].wavelength
        for i in good[1:]:
            other = read[i][0].wavelength
            if other.shape != grid.shape or not np.allclose(other, grid, rtol=1e-7, atol=0):
                raise ValueError(
                    f"{where[first]} and {where[i]} have different wavelength grids "
                    f"({_describe_grid(grid)} vs {_describe_grid(other)}): pass wavelength= the "
                    "grid to resample onto, e.g. np.linspace(3700, 9100, 2600)"
                )
    n_points = 0 if grid is None else len(grid)
    X = np.zeros((len(read), n_points), dtype=np.float32)
    ivar = np.full((len(read), n_points), np.nan, dtype=np.float32)
    meta: dict[str, list] = {"layout": [], "medium": [], "unit": [], "n_bad": []}
    for i in range(len(read)):
        if i in problems:
            for key, empty in (("layout", ""), ("medium", ""), ("unit", ""), ("n_bad", -1)):
                meta[key].append(empty)
            continue
        spectrum = read[i][0]
        for key in ("layout", "medium", "unit", "n_bad"):
            meta[key].append(spectrum.meta[key])
        if wavelength is None:
            X[i], row_ivar = spectrum.flux, spectrum.ivar
        else:
            wl = spectrum.wavelength
            if fill_value is None and not _covers(wl, grid):
                problems[i] = (
                    f"{where[i]}: covers {wl[0]:.6g} to {wl[-1]:.6g} Angstrom, but the grid needs "
                    f"{grid[0]:.6g} to {grid[-1]:.6g}: leave the file out, or pass a fill_value"
                )
                continue
            try:
                out = resample_spectra(
                    spectrum.flux,
                    spectrum.wavelength,
                    grid,
                    ivar=spectrum.ivar,
                    mask=~spectrum.good,
                    fill_value=fill_value,
                )
            except ValueError as exc:
                problems[i] = f"{where[i]}: {exc}"
                continue
            X[i], row_ivar = out.flux, out.ivar
        if row_ivar is not None:
            ivar[i] = row_ivar
    y = None
    if label_key is not None:
        y = np.array(["" if i in problems else str(read[i][1]) for i in range(len(read))])
    ids_array = np.array(ids, dtype=str)
    rows = dict(enumerate(where))
    for row, message in _label_problems(y, ids_array, labels, rows).items():
        problems.setdefault(row, message)
    hint = _LABEL_HINT if labels is not None else ""
    keep, skipped = _handle_problems(problems, ids_array, on_error, source="FITS files", hint=hint)
    spectra = Spectra(_take(X, keep), _take(y, keep), _take(ids_array, keep), grid, skipped)
    spectra.meta = {key: _take(np.asarray(value), keep) for key, value in meta.items()}
    spectra.meta["ivar"] = _take(ivar, keep)
    return spectra


def _covers(wl: np.ndarray, grid: np.ndarray) -> bool:
    """Whether a spectrum's pixels (edges half a pixel beyond its first and last wavelength)
    reach every grid point, as :func:`~skspectra.resampling.resample_spectra` requires."""
    return bool(1.5 * wl[0] - 0.5 * wl[1] <= grid[0] and grid[-1] <= 1.5 * wl[-1] - 0.5 * wl[-2])


def read_fits_spectrum(
    path: PathLike, *, min_good: float = 0.0, fiber: int | None = None
) -> FitsSpectrum:
    """Read one spectrum of a FITS file on its own grid, in Angstrom, bad pixels filled.

    Parameters
    ----------
    path : str or path-like
        A FITS file in one of the layouts of :func:`read_fits`.
    min_good : float, default=0.0
        The least fraction of good pixels; a file with fewer raises. At least one good pixel is
        always needed.
    fiber : int, default=None
        The fibre to read of an SDSS spPlate file (its ``FIBERID`` in the plug map, from 1);
        ignored for files of one spectrum. A plate needs it.

    Returns
    -------
    FitsSpectrum
        ``(wavelength, flux, ivar, good, meta)``; ``meta`` of a fibre also holds ``fiber``.

    Raises
    ------
    ValueError
        If the file holds no spectrum in a known layout, its wavelengths are not monotonic or
        their unit is not a length, or too few of its pixels are good; if it is a plate and
        ``fiber`` is missing or not one of its fibres. The message names the file.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> from skspectra.io._fits import read_fits_spectrum
    >>> path = Path(tempfile.mkdtemp()) / "nm.fits"
    >>> header = {"CRVAL1": 400.0, "CDELT1": 0.1, "CRPIX1": 1, "CUNIT1": "nm", "CTYPE1": "AWAV"}
    >>> fits.PrimaryHDU(np.ones(50, np.float32), fits.Header(header)).writeto(path)
    >>> spectrum = read_fits_spectrum(path)
    >>> spectrum.wavelength[:3].round(6), spectrum.meta["medium"], spectrum.meta["unit"]
    (array([4000., 4001., 4002.]), 'air', 'nm')
    """
    fits = _import_fits()
    path = _existing_file(path, "FITS file")
    try:
        with fits.open(path, memmap=False) as hdus:
            if not _is_plate(hdus, fits):
                return _read_spectrum(hdus, fits, min_good)
            fibers, raw = _plate_spectra(hdus, fits)
            if fiber not in fibers.tolist():
                listed = f"{fibers[0]} to {fibers[-1]}" if len(fibers) else "none"
                raise _BadSpectrum(
                    f"is an SDSS spPlate file of {len(fibers)} spectra (fibres {listed}): pass "
                    f"fiber= one of them (got {fiber!r}), or read them all with read_fits"
                )
            return _checked_spectrum(raw(fibers.tolist().index(fiber)), min_good)
    except _BadSpectrum as exc:
        raise ValueError(f"{path}: {exc}") from None


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


_Entry = tuple[str, str, "tuple[FitsSpectrum, str | None] | str"]


def _read_fits_chunk(paths: Sequence[str], label_key: str | None, min_good: float) -> list[_Entry]:
    """Read some FITS files (runs in a worker): per spectrum, its id, where it is (the file, and
    the fibre of a plate) and (spectrum, label) or a problem."""
    fits = _import_fits()
    out: list[_Entry] = []
    for path in paths:
        file_id = _fits_id(Path(path))
        try:
            with fits.open(path, memmap=False) as hdus:
                if _is_plate(hdus, fits):
                    out.extend(_plate_entries(hdus, fits, path, file_id, label_key, min_good))
                    continue
                spectrum = _read_spectrum(hdus, fits, min_good)
                label = _fits_label(hdus, label_key, fits) if label_key is not None else None
            out.append((file_id, path, (spectrum, label)))
        except _BadSpectrum as exc:
            out.append((file_id, path, f"{path}: {exc}"))
        except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
            # astropy raises all of these on truncated or malformed files.
            message = f"{path}: not a readable FITS file ({type(exc).__name__}: {exc})"
            out.append((file_id, path, message))
    return out


# --------------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------------


def _read_spectrum(hdus: Any, fits: Any, min_good: float) -> FitsSpectrum:
    return _checked_spectrum(_raw_spectrum(hdus, fits), min_good)


def _checked_spectrum(raw: tuple, min_good: float) -> FitsSpectrum:
    """Wavelengths made increasing, bad pixels found, counted and filled."""
    wl, flux, ivar, mask, meta = raw
    if wl.shape != flux.shape or flux.ndim != 1:
        raise _BadSpectrum(f"{wl.shape} wavelengths for {flux.shape} flux values")
    if len(flux) < 2:
        raise _BadSpectrum(f"holds {len(flux)} flux values, too few for a spectrum")
    for name, values in (("ivar", ivar), ("mask", mask)):
        if values is not None and values.shape != flux.shape:
            raise _BadSpectrum(f"{values.shape} {name} values for {flux.shape} flux values")
    if wl[0] > wl[-1]:
        wl, flux = wl[::-1], flux[::-1]
        ivar = None if ivar is None else ivar[::-1]
        mask = None if mask is None else mask[::-1]
    if not (np.isfinite(wl).all() and (np.diff(wl) > 0).all()):
        raise _BadSpectrum("its wavelengths are not finite and strictly monotonic")
    good = np.isfinite(flux)
    if ivar is not None:
        good &= np.isfinite(ivar) & (ivar > 0)
    if mask is not None:
        good &= mask == 0
    n_good = int(good.sum())
    if n_good == 0 or n_good < min_good * len(flux):
        raise _BadSpectrum(
            f"only {n_good} of {len(flux)} pixels are good (finite flux, ivar > 0, and-mask 0), "
            f"fewer than min_good={min_good:g} of them: leave the file out, or lower min_good"
        )
    flux = _fill_bad(wl, flux, good, 0)
    if ivar is not None:
        ivar = np.where(good, ivar, 0.0)
    meta["n_bad"] = len(flux) - n_good
    return FitsSpectrum(wl, flux, ivar, good, meta)


def _raw_spectrum(hdus: Any, fits: Any):
    """(wavelength in Angstrom, flux, ivar or None, and-mask or None, meta) of the file."""
    primary = hdus[0]
    if primary.data is not None and primary.data.size:
        return _image_spectrum(primary)
    table = next(
        (h for h in hdus if h.name.upper() == "COADD" and isinstance(h, fits.BinTableHDU)),
        next((h for h in hdus if isinstance(h, fits.BinTableHDU) and _has_flux(h)), None),
    )
    if table is not None:
        return _table_spectrum(table, primary.header)
    image = next((h for h in hdus[1:] if isinstance(h, fits.ImageHDU) and h.data is not None), None)
    if image is not None:
        return _image_spectrum(image)
    raise _BadSpectrum(
        "no spectrum found: expected an image with a wavelength WCS (LAMOST DR1-4, wcs1d) or a "
        "binary table with flux and loglam/wavelength columns (SDSS COADD, LAMOST DR5+)"
    )


def _is_plate(hdus: Any, fits: Any) -> bool:
    """Whether the file is an SDSS spPlate: a 2-D primary image of fluxes on a COEFF0/COEFF1 grid
    and, in HDU 1, inverse variances of the same shape (LAMOST DR1-DR4 files, 2-D with COEFF0
    too, have no second image)."""
    primary = hdus[0]
    if primary.header.get("NAXIS") != 2 or "COEFF0" not in primary.header:
        return False
    if len(hdus) <= _PLATE_IVAR_HDU or not isinstance(hdus[_PLATE_IVAR_HDU], fits.ImageHDU):
        return False
    return hdus[_PLATE_IVAR_HDU].shape == primary.shape


def _plate_spectra(hdus: Any, fits: Any):
    """The fibre numbers of a plate, and a function giving the raw spectrum of its k-th row."""
    primary = hdus[0]
    flux = np.asarray(primary.data, dtype=np.float64)
    n_fibers, n_pixels = flux.shape
    wl = _header_wavelength(primary.header, n_pixels)
    ivar = np.asarray(hdus[_PLATE_IVAR_HDU].data, dtype=np.float64)
    mask = None
    if len(hdus) > _PLATE_ANDMASK_HDU:
        hdu = hdus[_PLATE_ANDMASK_HDU]
        if isinstance(hdu, fits.ImageHDU) and hdu.shape == primary.shape:
            mask = np.asarray(hdu.data)
    fibers = np.arange(1, n_fibers + 1)
    plugmap = _plugmap(hdus, fits)
    if plugmap is not None and len(plugmap.data) == n_fibers:
        names = {name.upper(): name for name in plugmap.columns.names}
        if "FIBERID" in names:
            fibers = np.asarray(plugmap.data[names["FIBERID"]], dtype=np.int64)
    meta = {"layout": "sdss-plate", "medium": _medium(primary.header, "vacuum"), "unit": "Angstrom"}

    def raw(k: int):
        row_mask = None if mask is None else mask[k]
        return wl, flux[k], ivar[k], row_mask, {**meta, "fiber": int(fibers[k])}

    return fibers, raw


def _plugmap(hdus: Any, fits: Any) -> Any:
    """The plug map of a plate: HDU 5 if it is a table, else a table named PLUGMAP."""
    if len(hdus) > _PLATE_PLUGMAP_HDU and isinstance(hdus[_PLATE_PLUGMAP_HDU], fits.BinTableHDU):
        return hdus[_PLATE_PLUGMAP_HDU]
    return next(
        (h for h in hdus if isinstance(h, fits.BinTableHDU) and h.name.upper() == "PLUGMAP"), None
    )


def _plate_entries(
    hdus: Any, fits: Any, path: str, file_id: str, label_key: str | None, min_good: float
) -> list[_Entry]:
    """Each fibre of a plate as a spectrum of its own, its bad pixels filled as in the other
    layouts; a fibre with too few good pixels is a problem of that fibre alone."""
    fibers, raw = _plate_spectra(hdus, fits)
    labels = None if label_key is None else _plate_labels(hdus, fits, label_key, len(fibers))
    out: list[_Entry] = []
    for k, fiber in enumerate(fibers.tolist()):
        entry_id, where = f"{file_id}-{fiber:04d}", f"{path} fibre {fiber}"
        try:
            spectrum = _checked_spectrum(raw(k), min_good)
        except _BadSpectrum as exc:
            out.append((entry_id, where, f"{where}: {exc}"))
            continue
        out.append((entry_id, where, (spectrum, None if labels is None else labels[k])))
    return out


def _plate_labels(hdus: Any, fits: Any, key: str, n_fibers: int) -> list[str]:
    """The plug map's column ``key`` per fibre (case ignored), else the primary header's."""
    plugmap = _plugmap(hdus, fits)
    if plugmap is not None and len(plugmap.data) == n_fibers:
        names = {name.lower(): name for name in plugmap.columns.names}
        if key.lower() in names:
            values = plugmap.data[names[key.lower()]]
            return [(v.decode() if isinstance(v, bytes) else str(v)).strip() for v in values]
    if key in hdus[0].header:
        return [str(hdus[0].header[key]).strip()] * n_fibers
    raise _BadSpectrum(
        f"has no {key!r} column in its plug map (HDU {_PLATE_PLUGMAP_HDU}) nor primary header "
        "keyword for the fibres' labels"
    )


def _has_flux(hdu: Any) -> bool:
    return "flux" in {name.lower() for name in hdu.columns.names}


def _column(table: Any, columns: dict[str, str], names: Sequence[str]) -> np.ndarray | None:
    name = next((columns[n] for n in names if n in columns), None)
    if name is None:
        return None
    values = np.asarray(table.data[name], dtype=np.float64)
    # A table of one row whose cells are arrays (LAMOST DR5 and later): that row.
    return values[0] if values.ndim == 2 and len(values) == 1 else values


def _table_spectrum(table: Any, primary_header: Any):
    columns = {name.lower(): name for name in table.columns.names}
    if "flux" not in columns:
        raise _BadSpectrum(f"the table {table.name!r} has no 'flux' column ({table.columns.names})")
    flux = _column(table, columns, ["flux"])
    one_row = len(table.data) == 1 and np.ndim(table.data[columns["flux"]]) == 2
    if "loglam" in columns:
        wl, unit = 10.0 ** _column(table, columns, ["loglam"]), "log10(Angstrom)"
    else:
        name = next((columns[c] for c in _WAVE_COLUMNS if c in columns), None)
        if name is None:
            raise _BadSpectrum(
                f"the table {table.name!r} has no 'loglam' or 'wavelength' column "
                f"({table.columns.names})"
            )
        unit = table.columns[name].unit or "Angstrom"
        wl = _column(table, columns, [name.lower()]) * _angstrom_per(unit)
    ivar = _column(table, columns, _IVAR_COLUMNS)
    mask = _column(table, columns, _MASK_COLUMNS)
    telescope = str(primary_header.get("TELESCOP", "")).strip().upper()
    lamost = one_row or telescope == "LAMOST"
    # SDSS and LAMOST both give vacuum wavelengths; a header may say otherwise.
    medium = _medium(primary_header, default="vacuum")
    layout = "lamost-table" if lamost else "sdss-table"
    return wl, flux, ivar, mask, {"layout": layout, "medium": medium, "unit": str(unit)}


def _image_spectrum(hdu: Any):
    header = hdu.header
    data = np.asarray(hdu.data, dtype=np.float64)
    rows = data.reshape(-1, data.shape[-1])
    telescope = str(header.get("TELESCOP", "")).strip().upper()
    if len(rows) == len(_LAMOST_ROWS) and ("COEFF0" in header or telescope == "LAMOST"):
        flux, ivar, wl_row, andmask, _ = rows
        wl = _header_wavelength(header, rows.shape[1]) if "COEFF0" in header else wl_row
        meta = {"layout": "lamost-image", "medium": _medium(header, "vacuum"), "unit": "Angstrom"}
        return wl, flux, ivar, andmask, meta
    flux = rows[0]
    wl, unit = _header_wavelength(header, len(flux)), _header_unit(header)
    wl = wl * _angstrom_per(unit)
    return wl, flux, None, None, {"layout": "wcs1d", "medium": _medium(header), "unit": unit}


def _header_unit(header: Any) -> str:
    if "COEFF0" in header:
        return "Angstrom"
    return str(header.get("CUNIT1", "Angstrom")).strip() or "Angstrom"


def _angstrom_per(unit: str) -> float:
    """How many Angstrom one ``unit`` is (IRAF's plural "Angstroms" accepted)."""
    from astropy import units as u

    text = str(unit).strip()
    for candidate in (text, text.rstrip("sS"), text.lower()):
        for fmt in ("fits", None):
            try:
                return float((1.0 * u.Unit(candidate, format=fmt)).to_value(u.AA))
            except (ValueError, u.UnitConversionError, TypeError):
                continue
    raise _BadSpectrum(
        f"its wavelength unit {unit!r} is not a length astropy knows: use Angstrom, nm or "
        "micron in CUNIT1 (or the column's TUNIT)"
    )


def _header_wavelength(header: Any, n: int) -> np.ndarray:
    """Wavelengths of pixels 0..n-1 in the header's unit, from COEFF0/1 or the 1-D WCS."""
    pixel = np.arange(n, dtype=np.float64)
    if "COEFF0" in header and "COEFF1" in header:
        return 10.0 ** (float(header["COEFF0"]) + float(header["COEFF1"]) * pixel)
    step = header.get("CDELT1", header.get("CD1_1"))
    if "CRVAL1" in header and step is not None:
        crval = float(header["CRVAL1"])
        offset = (pixel + 1 - float(header.get("CRPIX1", 1.0))) * float(step)
        if header.get("DC-FLAG") == 1:  # IRAF: CRVAL1 and CDELT1 are log10 of wavelengths
            return 10.0 ** (crval + offset)
        if str(header.get("CTYPE1", "")).strip().upper().endswith("-LOG"):
            # FITS WCS paper III (Greisen et al. 2006), eq. 5: w = r exp(x / r).
            return crval * np.exp(offset / crval)
        return crval + offset
    raise _BadSpectrum(
        "the primary image has no wavelength keywords: expected COEFF0/COEFF1 or CRVAL1 with "
        "CDELT1 (or CD1_1)"
    )


def _medium(header: Any, default: str = "unknown") -> str:
    """Whether the wavelengths are in air or vacuum, as the header says."""
    ctype = str(header.get("CTYPE1", "")).strip().upper()
    if ctype.startswith("AWAV"):
        return "air"
    if ctype.startswith("WAVE"):
        return "vacuum"
    said = str(header.get("AIRORVAC", "")).strip().lower()
    if said.startswith("air"):
        return "air"
    if said.startswith("vac"):
        return "vacuum"
    if "VACUUM" in header:
        return "vacuum" if bool(header["VACUUM"]) else "air"
    return default


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
