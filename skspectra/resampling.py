"""Flux-conserving resampling of spectra onto a wavelength grid, and a transformer that does it.

:func:`resample_spectra` moves flux densities (and inverse variances) from each spectrum's own
wavelength grid onto a target grid by integrating over the overlap of the pixels' bin edges, so
that the integrated flux over any band of whole output pixels is kept.
:class:`SpectrumResampler` does it inside a scikit-learn ``Pipeline``: it remembers the grid it
was fitted with (``wavelength_``) and takes each spectrum's own wavelengths through scikit-learn's
metadata routing, so new spectra on other grids are put on the model's grid by themselves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Real
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["ResampledSpectra", "SpectrumResampler", "parse_grid", "resample_spectra"]


class ResampledSpectra(NamedTuple):
    """What :func:`resample_spectra` returns: ``(flux, ivar, n_bad)``.

    Attributes
    ----------
    flux : ndarray of shape (n_spectra, n_grid) or (n_grid,), float64
        Mean flux density over each output pixel.
    ivar : ndarray of the shape of ``flux``, float64, or None
        Propagated inverse variance (0 where no good input pixel overlaps), or None when no
        ``ivar`` was given.
    n_bad : ndarray of shape (n_spectra,) or int
        Bad input pixels of each spectrum (ivar 0, masked or non-finite) that were interpolated
        over before resampling.
    """

    flux: np.ndarray
    ivar: np.ndarray | None
    n_bad: np.ndarray


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


def parse_grid(spec: str | os.PathLike | Sequence[float] | np.ndarray) -> np.ndarray:
    """A wavelength grid from ``"START:STOP:N"`` (``":log"`` appended for log-uniform), a file or
    an array.

    Parameters
    ----------
    spec : str, path-like or array-like
        ``"3700:9100:2600"`` gives ``np.linspace(3700, 9100, 2600)``; ``"3700:9100:2600:log"``
        the same ends with uniform steps in log(wavelength) (as SDSS, LAMOST and
        :func:`~skspectra.make_spectra` sample). A path names a ``.npy`` file or a text file of
        one wavelength per line. An array is checked and returned as float64.

    Returns
    -------
    grid : ndarray of shape (n_points,), float64
        Strictly increasing, finite.

    Raises
    ------
    ValueError
        If the text is neither form, the file is missing, or the grid is not strictly
        increasing and finite with at least 2 points.

    Examples
    --------
    >>> from skspectra.resampling import parse_grid
    >>> parse_grid("4000:5000:5")
    array([4000., 4250., 4500., 4750., 5000.])
    >>> parse_grid("1000:10000:3:log").round(6)
    array([ 1000.     ,  3162.27766, 10000.     ])
    """
    if isinstance(spec, str) and ":" in spec:
        parts = spec.split(":")
        log = len(parts) == 4 and parts[3].strip().lower() == "log"
        try:
            if len(parts) not in (3, 4) or (len(parts) == 4 and not log):
                raise ValueError
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(
                f"cannot read the grid {spec!r}: write START:STOP:N (e.g. 3700:9100:2600) or "
                "START:STOP:N:log for steps uniform in log(wavelength)"
            ) from None
        if log and not (start > 0 and stop > 0):
            raise ValueError(f"a log grid needs positive ends, got {spec!r}")
        grid = np.geomspace(start, stop, n) if log else np.linspace(start, stop, n)
    elif isinstance(spec, str | os.PathLike):
        path = os.fspath(spec)
        if not os.path.isfile(path):
            raise ValueError(
                f"the grid {path!r} is neither START:STOP:N nor an existing file (.npy or text "
                "with one wavelength per line)"
            )
        grid = np.load(path) if path.endswith(".npy") else np.loadtxt(path, ndmin=1)
    else:
        grid = spec
    return _check_grid(grid, "the wavelength grid")


def _check_grid(grid: Any, what: str) -> np.ndarray:
    try:
        grid = np.asarray(grid, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an array of numbers, got {type(grid).__name__}") from None
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError(f"{what} must be 1-D with at least 2 points, got shape {grid.shape}")
    if not np.isfinite(grid).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    if not (np.diff(grid) > 0).all():
        raise ValueError(f"{what} must be strictly increasing: sort it, e.g. np.sort(grid)")
    return grid


def _edges(centres: np.ndarray) -> np.ndarray:
    """Pixel edges halfway between centres; the end pixels as wide as their neighbours' halves
    (the convention of specutils' resamplers)."""
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------


def _overlap_sums(
    edges: np.ndarray, values: np.ndarray, lo: np.ndarray, hi: np.ndarray, power: int
) -> np.ndarray:
    """``sum_i overlap(i, j) ** power * values[:, i]`` for output intervals ``[lo_j, hi_j]``.

    The overlap of an input pixel with an output interval is its whole width except for the
    first and last input pixels the interval touches, so the sum is two end terms plus a
    difference of cumulative sums: O(n_in + n_out) per spectrum, no overlap matrix.
    """
    width = np.diff(edges)
    cumulative = np.zeros(values.shape[:-1] + (len(width) + 1,))
    np.cumsum(width**power * values, axis=-1, out=cumulative[..., 1:])
    last = len(width) - 1
    first_pix = np.clip(np.searchsorted(edges, lo, side="right") - 1, 0, last)
    last_pix = np.clip(np.searchsorted(edges, hi, side="left") - 1, 0, last)
    same = first_pix == last_pix
    head = np.where(same, hi - lo, edges[first_pix + 1] - lo) ** power
    tail = np.where(same, 0.0, hi - edges[last_pix]) ** power
    inner = cumulative[..., last_pix] - cumulative[..., np.minimum(first_pix + 1, last_pix)]
    return head * values[..., first_pix] + tail * values[..., last_pix] + np.where(same, 0, inner)


def _fill_bad(wl: np.ndarray, flux: np.ndarray, good: np.ndarray, row: int) -> np.ndarray:
    """Flux with bad pixels replaced by the line between their good neighbours (the nearest good
    value beyond either end), so that no bad pixel rises above its neighbours."""
    if good.all():
        return flux
    if not good.any():
        raise ValueError(
            f"spectrum {row} has no good pixel (every one has ivar 0, is masked or is not "
            "finite): drop it before resampling"
        )
    return np.interp(wl, wl[good], flux[good])


def _resample_one_grid(
    wl: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray | None,
    mask: np.ndarray | None,
    grid_edges: np.ndarray,
    grid: np.ndarray,
    fill_value: float | None,
    rows: Sequence[int],
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Resample the spectra ``flux`` (n, m) that share the grid ``wl`` (m,)."""
    if wl[0] > wl[-1]:  # some surveys store wavelengths decreasing
        wl, flux = wl[::-1], flux[:, ::-1]
        ivar = None if ivar is None else ivar[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    if not (np.diff(wl) > 0).all():
        raise ValueError(
            f"the wavelengths of spectrum {rows[0]} are not strictly monotonic: sort each "
            "spectrum by wavelength first"
        )
    good = np.isfinite(flux)
    if ivar is not None:
        good &= np.isfinite(ivar) & (ivar > 0)
    if mask is not None:
        good &= ~mask
    n_bad = (~good).sum(axis=1)
    flux = np.array(
        [_fill_bad(wl, f, g, r) for f, g, r in zip(flux, good, rows, strict=True)], dtype=float
    )
    edges = _edges(wl)
    inside = (grid >= edges[0]) & (grid <= edges[-1])
    if fill_value is None and not inside.all():
        raise ValueError(
            f"spectrum {rows[0]} covers {wl[0]:.6g} to {wl[-1]:.6g}, but the grid needs "
            f"{grid[0]:.6g} to {grid[-1]:.6g}: pass spectra that cover the grid, or a grid "
            f"inside {wl[0]:.6g} to {wl[-1]:.6g}"
        )
    # Output pixels at the ends of a spectrum are averaged over the part it covers.
    lo = np.clip(grid_edges[:-1], edges[0], edges[-1])
    hi = np.clip(grid_edges[1:], edges[0], edges[-1])
    covered = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = _overlap_sums(edges, flux, lo, hi, 1) / covered
        out_ivar = None
        if ivar is not None:
            variance = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
            # The mean of the good pixels' flux, weighted by overlap: var = sum w^2 var / (sum w)^2.
            weight = _overlap_sums(edges, good.astype(float), lo, hi, 1)
            spread = _overlap_sums(edges, variance, lo, hi, 2)
            out_ivar = np.where(spread > 0, weight**2 / spread, 0.0)
    out[:, ~inside] = np.nan if fill_value is None else fill_value
    if out_ivar is not None:
        out_ivar[:, ~inside] = 0.0
    return out, out_ivar, n_bad


def _as_rows(values: Any, what: str) -> list[np.ndarray] | np.ndarray:
    """A 2-D float64 array, or a list of 1-D arrays when the rows differ in length."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        array = np.asarray(values, dtype=np.float64)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2:
            raise ValueError(f"{what} must be 1-D or 2-D, got shape {array.shape}")
        return array
    rows = [np.asarray(row, dtype=np.float64) for row in values]
    if rows and rows[0].ndim == 0:  # a plain list of numbers: one spectrum
        return np.asarray(rows, dtype=np.float64)[None, :]
    for i, row in enumerate(rows):
        if row.ndim != 1:
            raise ValueError(f"row {i} of {what} must be 1-D, got shape {row.shape}")
    if rows and all(len(row) == len(rows[0]) for row in rows):
        return np.stack(rows)
    return rows


def _is_one_spectrum(values: Any) -> bool:
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values.ndim == 1
    return len(values) > 0 and np.ndim(values[0]) == 0


def resample_spectra(
    flux: Any,
    wavelength: Any,
    grid: Any,
    *,
    ivar: Any = None,
    mask: Any = None,
    fill_value: float | None = None,
) -> ResampledSpectra:
    """Resample spectra onto a wavelength grid, conserving flux and propagating inverse variance.

    Each pixel is a bin around its wavelength, with edges halfway between neighbouring centres.
    The flux density is taken as constant across an input bin, and each output bin gets the
    mean flux density over it: the overlap-weighted sum of the input bins it overlaps, divided
    by its width. So the integrated flux over any band of whole output pixels equals the
    integral of the input over the same wavelengths: flux is conserved, and a narrow line is
    averaged into a coarse pixel rather than sampled (the method of Carnall 2017 and of
    specutils' ``FluxConservingResampler``).

    Parameters
    ----------
    flux : array-like of shape (n_spectra, n_points) or (n_points,), or list of 1-D arrays
        Flux densities (per unit wavelength). A list of arrays of different lengths holds
        spectra on different grids.
    wavelength : array-like
        The wavelength of each flux value: one grid of shape (n_points,) for all spectra, or one
        per spectrum (a 2-D array, or a list of 1-D arrays matching ``flux``). Increasing or
        decreasing, in the unit of ``grid``.
    grid : array-like of shape (n_grid,)
        The target wavelengths, strictly increasing (bin edges halfway between them).
    ivar : array-like of the shape of ``flux``, default=None
        Inverse variances. Pixels with ``ivar`` 0 (or not finite) are bad.
    mask : array-like of bool of the shape of ``flux``, default=None
        True marks a bad pixel (e.g. a non-zero SDSS ``and_mask``).
    fill_value : float, default=None
        Value of output pixels whose wavelength lies outside a spectrum's coverage. None
        refuses such spectra with a ValueError that states both ranges. Output pixels that a
        spectrum covers in part are averaged over the covered part.

    Returns
    -------
    ResampledSpectra
        ``(flux, ivar, n_bad)``: flux of shape (n_spectra, n_grid), or (n_grid,) for a 1-D
        ``flux``, float64; the propagated inverse variance (None without ``ivar``); the number
        of bad input pixels per spectrum.

    Raises
    ------
    ValueError
        If shapes disagree, wavelengths are not monotonic, a spectrum has no good pixel, or
        (``fill_value=None``) a spectrum does not cover the grid.

    Notes
    -----
    Bad pixels (non-finite flux, ``ivar`` 0 or non-finite, ``mask`` True) are replaced by
    linear interpolation between their good neighbours before integration, so they never make
    spikes, and they carry no weight in the inverse variance: an output pixel's variance is
    that of the overlap-weighted mean of the good input pixels under it,
    ``sum(w_i**2 / ivar_i) / (sum w_i)**2``, with ``w_i`` the overlap of good pixel ``i``. Its
    inverse variance is 0 where no good pixel overlaps it. Neighbouring output pixels that share
    an input pixel are correlated; like specutils, the covariance is not returned.

    The sums over overlaps are computed from cumulative sums of the input bins (two end terms
    per output pixel plus a difference of cumulative sums), O(n_points + n_grid) per spectrum,
    with no overlap matrix; spectra that share a grid are resampled in one vectorised pass.

    References
    ----------
    .. [1] Carnall, A. C. (2017). SpectRes: a fast spectral resampling tool in Python.
       arXiv:1705.05165.

    Examples
    --------
    >>> import numpy as np
    >>> from skspectra.resampling import resample_spectra
    >>> wl = np.arange(4000.0, 4010.0)  # 1 Angstrom pixels
    >>> flux = np.array([1.0, 1.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    >>> out = resample_spectra(flux, wl, [4001.5, 4003.5, 4005.5, 4007.5], ivar=np.ones(10))
    >>> out.flux  # the line is averaged into its 2 Angstrom pixel, not sampled
    array([1., 5., 1., 1.])
    >>> out.ivar  # two pixels of ivar 1 averaged: ivar 2
    array([2., 2., 2., 2.])
    """
    grid = _check_grid(grid, "grid")
    grid_edges = _edges(grid)
    flux_rows = _as_rows(flux, "flux")
    single = _is_one_spectrum(flux)
    n = len(flux_rows)
    wl_rows = _as_rows(wavelength, "wavelength")
    shared = isinstance(wl_rows, np.ndarray) and len(wl_rows) == 1
    if not shared and len(wl_rows) != n:
        raise ValueError(
            f"wavelength has {len(wl_rows)} rows for {n} spectra: pass one grid for all spectra "
            "or one per spectrum"
        )
    extras = {}
    for name, value in (("ivar", ivar), ("mask", mask)):
        if value is not None:
            extras[name] = _as_rows(value, name)
            if len(extras[name]) != n:
                raise ValueError(f"{name} has {len(extras[name])} rows for {n} spectra")

    # Spectra on one shared grid go through in one pass; others one by one.
    if shared and isinstance(flux_rows, np.ndarray):
        groups = [(wl_rows[0], np.arange(n))]
    else:
        groups = [(wl_rows[0] if shared else wl_rows[i], np.array([i])) for i in range(n)]
    out = np.empty((n, len(grid)))
    out_ivar = np.empty((n, len(grid))) if ivar is not None else None
    n_bad = np.zeros(n, dtype=np.int64)
    for wl, rows in groups:
        block = _take_rows(flux_rows, rows)
        if block.shape[1] != len(wl):
            raise ValueError(
                f"spectrum {rows[0]} has {block.shape[1]} flux values for {len(wl)} wavelengths"
            )
        parts = {}
        for name, value in extras.items():
            parts[name] = _take_rows(value, rows)
            if parts[name].shape != block.shape:
                raise ValueError(
                    f"{name} of spectrum {rows[0]} has shape {parts[name].shape[1:]}, flux "
                    f"{block.shape[1:]}"
                )
        part_mask = parts.get("mask")
        result = _resample_one_grid(
            wl,
            block,
            parts.get("ivar"),
            None if part_mask is None else part_mask.astype(bool),
            grid_edges,
            grid,
            fill_value,
            rows,
        )
        out[rows], n_bad[rows] = result[0], result[2]
        if out_ivar is not None:
            out_ivar[rows] = result[1]
    if single:
        return ResampledSpectra(out[0], None if out_ivar is None else out_ivar[0], n_bad[0])
    return ResampledSpectra(out, out_ivar, n_bad)


def _take_rows(rows: list[np.ndarray] | np.ndarray, index: np.ndarray) -> np.ndarray:
    if isinstance(rows, np.ndarray):
        return rows[index]
    return np.stack([rows[i] for i in index])


# --------------------------------------------------------------------------------------------
# The transformer
# --------------------------------------------------------------------------------------------


class SpectrumResampler(TransformerMixin, BaseEstimator):
    """Put spectra on one wavelength grid, flux-conserving: a model that knows its grid.

    In ``fit`` the target grid is fixed (``wavelength_``); ``transform`` resamples each
    spectrum from its own wavelengths onto it with :func:`resample_spectra`. The spectra's own
    wavelengths arrive as the ``wavelength`` argument, which scikit-learn's metadata routing
    passes through a ``Pipeline`` (requested by default for ``fit`` and ``transform``), so a
    pipeline fitted on one grid puts new spectra on that grid by itself.

    Parameters
    ----------
    wavelength : array-like of shape (n_grid,), str or None, default=None
        The target grid, strictly increasing, or its text form for :func:`parse_grid`
        (``"3700:9100:2600"``, ``"3700:9100:2600:log"``, or a file). None takes the grid of the
        spectra passed to ``fit`` (one grid shared by all of them).
    fill_value : float or None, default=None
        What to put at grid points a spectrum does not cover. None refuses such spectra with
        an error that states both ranges (the classifier cannot use a made-up flux).

    Attributes
    ----------
    wavelength_ : ndarray of shape (n_grid,), float64
        The grid every spectrum is put on: the output has ``len(wavelength_)`` columns.
    n_features_in_ : int
        Points per spectrum in ``fit``, when all spectra there had the same number.

    See Also
    --------
    resample_spectra : The function, with inverse variances and masks.
    FluxScaler : Usually the next step.

    Notes
    -----
    Metadata routing must be switched on for a Pipeline to pass ``wavelength`` to this step:
    ``sklearn.set_config(enable_metadata_routing=True)`` (or ``sklearn.config_context``). Then
    ``pipe.fit(X, y, wavelength=wl)`` and ``pipe.predict(X_new, wavelength=wl_new)`` route it
    here. ``wavelength`` may be one grid for all rows or one per row; when the grids differ in
    length, ``X`` is a list of 1-D arrays. Called without ``wavelength``, ``transform`` takes
    ``X`` to be on the grid already and only checks its length.

    Non-finite fluxes are interpolated over (see :func:`resample_spectra`); to pass inverse
    variances or masks, resample with :func:`resample_spectra` first.

    Examples
    --------
    >>> import numpy as np
    >>> from skspectra.resampling import SpectrumResampler
    >>> wl = np.linspace(4000.0, 5000.0, 101)  # 10 Angstrom pixels
    >>> X = np.ones((2, 101))
    >>> resampler = SpectrumResampler(wavelength="4010:4990:50").fit(X, wavelength=wl)
    >>> resampler.transform(X, wavelength=wl).shape
    (2, 50)
    >>> resampler.transform(X, wavelength=wl + 500.0)
    Traceback (most recent call last):
    ...
    ValueError: spectrum 0 covers 4500 to 5500, but the grid needs 4010 to 4990: ...
    """

    _parameter_constraints: dict = {
        "wavelength": ["array-like", str, os.PathLike, None],
        "fill_value": [Real, None],
    }
    # The spectra's wavelengths are what this step is for: routed without set_*_request.
    __metadata_request__fit = {"wavelength": True}
    __metadata_request__transform = {"wavelength": True}

    def __init__(self, wavelength=None, fill_value=None):
        self.wavelength = wavelength
        self.fill_value = fill_value

    def fit(self, X, y=None, wavelength=None):
        """Fix the target grid and check that the spectra cover it.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_points), or list of 1-D arrays
            Spectra on their own grids.
        y : None
            Ignored.
        wavelength : array-like, default=None
            The spectra's own wavelengths: one grid, or one per spectrum. Needed unless ``X`` is
            on the target grid already.

        Returns
        -------
        self : SpectrumResampler
        """
        self._validate_params()
        if self.wavelength is not None:
            grid = parse_grid(self.wavelength)
        elif wavelength is not None and np.ndim(wavelength) == 1:
            grid = _check_grid(wavelength, "wavelength")
        else:
            raise ValueError(
                "SpectrumResampler has no grid: pass SpectrumResampler(wavelength=grid) (an "
                "array or 'START:STOP:N'), or fit it with one shared grid, fit(X, wavelength=wl)"
            )
        rows = _as_rows(X, "X")
        if len(rows) == 0:
            raise ValueError("X holds no spectra: fit needs at least one")
        if wavelength is not None:
            self._resample(rows, wavelength, grid)  # checks shapes and coverage early
        elif rows[0].shape[-1] != len(grid):
            raise ValueError(self._no_wavelength_message(rows[0].shape[-1], len(grid)))
        self.wavelength_ = grid
        if isinstance(rows, np.ndarray):
            self.n_features_in_ = rows.shape[1]
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        return self

    def transform(self, X, wavelength=None):
        """Resample each spectrum onto ``wavelength_``.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_points), or list of 1-D arrays
            Spectra on their own grids.
        wavelength : array-like, default=None
            The spectra's wavelengths: one grid, or one per spectrum. None: ``X`` is on
            ``wavelength_`` already.

        Returns
        -------
        X_grid : ndarray of shape (n_spectra, len(wavelength_))
            float32 when every input spectrum was float32, float64 otherwise.
        """
        check_is_fitted(self, "wavelength_")
        float32 = _all_float32(X)
        rows = _as_rows(X, "X")
        if wavelength is None:
            lengths = {len(row) for row in rows}
            if lengths != {len(self.wavelength_)}:
                raise ValueError(
                    self._no_wavelength_message(max(lengths, default=0), len(self.wavelength_))
                )
            wavelength = self.wavelength_
        out = self._resample(rows, wavelength, self.wavelength_)
        return out.astype(np.float32) if float32 else out

    def fit_transform(self, X, y=None, wavelength=None):
        """Fit, then resample ``X`` (``wavelength`` goes to both steps).

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_points), or list of 1-D arrays
            Spectra on their own grids.
        y : None
            Ignored.
        wavelength : array-like, default=None
            The spectra's own wavelengths: one grid, or one per spectrum.

        Returns
        -------
        X_grid : ndarray of shape (n_spectra, len(wavelength_))
        """
        return self.fit(X, y, wavelength=wavelength).transform(X, wavelength=wavelength)

    def _resample(self, rows, wavelength, grid: np.ndarray) -> np.ndarray:
        return resample_spectra(rows, wavelength, grid, fill_value=self.fill_value).flux

    @staticmethod
    def _no_wavelength_message(n_points: int, n_grid: int) -> str:
        return (
            f"X has {n_points} points per spectrum and no wavelength was given, but the grid "
            f"has {n_grid}: pass the spectra's wavelengths, transform(X, wavelength=wl) (in a "
            "Pipeline, with sklearn.set_config(enable_metadata_routing=True): "
            "pipe.predict(X, wavelength=wl))"
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # bad pixels are interpolated over
        return tags


def _all_float32(X: Any) -> bool:
    if isinstance(X, np.ndarray) and X.dtype != object:
        return X.dtype == np.float32
    return len(X) > 0 and all(np.asarray(row).dtype == np.float32 for row in X)
