"""Synthetic spectroscopic surveys, built on the physics of stars, galaxies and quasars.

:func:`make_spectra` stands in for the LAMOST contest data (see ``SEED_MODEL.md``) in the
README, the tests, the docs and the benchmarks: same grid, same classes, same imbalance.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._survey_physics import (
    _GENERATORS,
    _log_uniform,
    _make_grid,
    _observe,
    _unknown,
)

__all__ = ["make_spectra"]

_CLASSES = ("star", "galaxy", "qso", "unknown")
# First-round training set of the contest; the fractions are these counts over their total
# (91.6 %, 1.1 %, 0.28 %, 7.1 %), so that they sum to 1 exactly.
_CONTEST_COUNTS = {"star": 442_969, "galaxy": 5_231, "qso": 1_363, "unknown": 34_288}

# Rows generated at once: bounds memory (a few float64 arrays of this many spectra).
_CHUNK = 2048


def _class_counts(n: int, fractions: np.ndarray) -> np.ndarray:
    """Largest-remainder apportionment; then each class with a share gets one spectrum, taken
    from the largest class, for as long as n allows (the largest shares first)."""
    exact = n * fractions
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    for k in np.argsort(-fractions, kind="stable"):
        if fractions[k] > 0 and counts[k] == 0 and counts.max() > 1:
            counts[np.argmax(counts)] -= 1
            counts[k] = 1
    return counts


def _check_fractions(class_fractions) -> np.ndarray:
    if class_fractions is None:
        counts = np.array([_CONTEST_COUNTS[c] for c in _CLASSES], dtype=float)
        return counts / counts.sum()
    if not isinstance(class_fractions, Mapping):
        raise ValueError(
            "class_fractions must be a mapping label -> fraction such as "
            f"{{'star': 0.5, 'galaxy': 0.5}}, got {type(class_fractions).__name__}"
        )
    unknown = [key for key in class_fractions if key not in _CLASSES]
    if unknown:
        raise ValueError(
            f"class_fractions has unknown label {unknown[0]!r}: use 'star', 'galaxy', 'qso' "
            "or 'unknown'"
        )
    fractions = np.array([class_fractions.get(c, 0.0) for c in _CLASSES], dtype=float)
    if not np.all(np.isfinite(fractions)) or np.any(fractions < 0):
        raise ValueError(f"class_fractions must be finite and >= 0, got {dict(class_fractions)}")
    total = fractions.sum()
    if abs(total - 1.0) > 1e-3:
        raise ValueError(f"class_fractions must sum to 1, got {total:.6g}")
    return fractions / total


def _check_pair(value, name: str, strict: bool) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    relation = "<" if strict else "<="
    ordered = lo < hi if strict else lo <= hi
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo and ordered):
        raise ValueError(f"{name} must satisfy 0 < low {relation} high, got {value!r}")
    return lo, hi


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_spectra(
    n_spectra: int = 1000,
    *,
    n_points: int = 2600,
    wavelength_range: tuple[float, float] = (3700.0, 9100.0),
    class_fractions: Mapping[str, float] | None = None,
    snr_range: tuple[float, float] = (2.0, 50.0),
    noise: bool = True,
    random_state: int | np.random.RandomState | np.random.Generator | None = None,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Generate a synthetic survey of stars, galaxies, quasars and unclassifiable spectra.

    The defaults reproduce the shape of the LAMOST spectrum-classification contest: 2600
    fluxes per spectrum on one optical grid, four classes in the contest's proportions
    (star 91.6 %, unknown 7.1 %, galaxy 1.1 %, qso 0.28 %). The spectra follow the physics
    (see Notes), so that a classifier has to find lines, breaks and continuum shapes at
    unknown redshifts, through noise, calibration errors and damage.

    Parameters
    ----------
    n_spectra : int, default=1000
        Number of spectra.
    n_points : int, default=2600
        Number of fluxes per spectrum, on a grid uniform in log(wavelength).
    wavelength_range : tuple of float, default=(3700.0, 9100.0)
        First and last wavelength of the grid, in Angstrom.
    class_fractions : mapping of str to float, default=None
        Share of each class among ``"star"``, ``"galaxy"``, ``"qso"`` and ``"unknown"``;
        missing labels get 0, the shares must sum to 1. None means the contest's shares.
        Counts are apportioned exactly (largest remainder), sum to `n_spectra`, and every
        class with a positive share gets at least one spectrum when `n_spectra` allows.
    snr_range : tuple of float, default=(2.0, 50.0)
        Range of the median signal-to-noise ratio per pixel, drawn log-uniformly per spectrum.
        Spectra of class ``"unknown"`` that were too faint to classify are drawn from
        (0.3, 2.5) instead.
    noise : bool, default=True
        If False, leave out the photon and sky noise, the sky-subtraction residuals and the
        calibration error: each spectrum is its physical model times its flux scale, which
        is useful for checking the physics. Damage to ``"unknown"`` spectra is still applied,
        but their low S/N then shows nowhere.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed or generator; the same integer gives the same survey.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the attributes:

        data : ndarray of shape (n_spectra, n_points), float32
            Fluxes (arbitrary survey units, spanning orders of magnitude).
        target : ndarray of shape (n_spectra,), str
            Class labels.
        target_names : ndarray of str
            The labels with a positive share, sorted (as ``np.unique`` and classifiers'
            ``classes_`` sort them).
        wavelength : ndarray of shape (n_points,), float64
            The grid, in Angstrom.
        redshift : ndarray of shape (n_spectra,), float64
            Redshift; radial velocity over c for stars; NaN for spectra without a source.
        snr : ndarray of shape (n_spectra,), float64
            Median S/N per pixel before damage (inf when ``noise=False``).
        temperature : ndarray of shape (n_spectra,), float64
            Effective temperature of stars in Kelvin, NaN for the others.
        halpha_ew : ndarray of shape (n_spectra,), float64
            Rest equivalent width of narrow H-alpha emission of galaxies in Angstrom (0 for
            passive ones), NaN for the others.
        flux_scale : ndarray of shape (n_spectra,), float64
            Mean flux of the spectrum before calibration error, noise and damage.
        source : ndarray of shape (n_spectra,), str
            What is really there: the class, or for ``"unknown"`` spectra the underlying
            ``"star"``, ``"galaxy"``, ``"qso"`` or ``"none"``.
        damage : ndarray of shape (n_spectra,), str
            For ``"unknown"`` spectra, why: comma-separated tags among ``low_snr``,
            ``dead_pixels``, ``sky_residuals``, ``broken_segment``, ``jump``, ``cosmic_rays``;
            empty for the other classes.
        DESCR : str
            Description of the data set.

    (data, target) : tuple if `return_X_y` is True
        The ``data`` and ``target`` arrays above.

    Raises
    ------
    ValueError
        If an argument is out of range; the message names it and what it must be.

    Notes
    -----
    Every class is built from the physics and then observed:

    - **Stars**: Planck continua of 3000-30000 K (mostly F, G and K types), reddened by
      Milky Way dust (a lambda^-1.2 law, close to its optical extinction curve), radial
      velocities of tens of km/s; absorption lines whose
      equivalent widths depend on temperature: the Balmer series, strongest near A0
      (~9500 K) and pressure-broadened; Ca II H and K, Ca I 4227, the G band, Fe, Mg b, Na D
      and the Ca II triplet, strong in cool stars and scaled by a metallicity scatter; He I in
      B stars; a pseudo line list of weak metal lines; TiO bands (heads at 4955, 5167, 5448,
      6159 and 7054 A) below ~4100 K.
    - **Galaxies**: redshift 0-0.5; old plus young stellar populations with the 4000 A break
      (D4000 of 1.1 to 2) and dust (tau ~ lambda^-0.7, Charlot & Fall 2000); absorption by
      Ca H and K, the G band, Mg b, Na D, Balmer lines (strong in post-starburst galaxies);
      for 60 % of them narrow emission (H-alpha EW of
      2-200 A, H-beta, [O II] 3727, [O III] 4959/5007, [N II] 6548/6584, [S II]) with random
      line ratios; velocity dispersions of 100-300 km/s.
    - **Quasars**: redshift 0.1-4; power-law continua f_lambda ~ lambda^alpha, alpha in
      [-1.5, -0.5]; broad Ly-alpha, Si IV, C IV, C III], Mg II, H-gamma, H-beta and H-alpha
      (FWHM 2000-10000 km/s, equivalent widths near the Vanden Berk et al. 2001 composite);
      narrow [O III]; host-galaxy light at z < 0.5; the Ly-alpha forest and the Lyman limit.
    - **Unknown**: any of the above or no source at all, either too faint (S/N 0.3-2.5) or
      damaged: zeroed stretches, strong sky-line residuals, a broken segment, a jump in flux
      (often at the junction of the blue and red arms near 5800 A), cosmic-ray hits.

    Observation, for every spectrum: a flux scale spanning 3 decades; a smooth
    multiplicative calibration error (a cubic polynomial); Gaussian noise from the source and
    the sky photons, higher at sky lines ([O I] 5577, 6300, 6364, Na D, the OH forest redward
    of ~6800 A) and at the ends of the spectrograph's throughput; small sky-subtraction
    residuals. Lines are Gaussians in log(wavelength) convolved with the instrumental profile
    of LAMOST (R ~ 1800), and never narrower than half a pixel.

    References
    ----------
    .. [1] Vanden Berk, D. E. et al. (2001). Composite quasar spectra from the Sloan Digital
       Sky Survey. AJ 122, 549.
    .. [2] Charlot, S. & Fall, S. M. (2000). A simple model for the absorption of starlight
       by dust in galaxies. ApJ 539, 718.
    .. [3] Faucher-Giguere, C.-A. et al. (2008). The evolution of the effective optical depth
       of the Ly-alpha forest. ApJ 681, 831.

    Examples
    --------
    >>> from collections import Counter
    >>> from skspectra.datasets import make_spectra
    >>> spectra = make_spectra(200, random_state=0)
    >>> spectra.data.shape, spectra.data.dtype
    ((200, 2600), dtype('float32'))
    >>> sorted(Counter(spectra.target.tolist()).items())
    [('galaxy', 2), ('qso', 1), ('star', 183), ('unknown', 14)]
    >>> round(spectra.wavelength[0]), round(spectra.wavelength[-1])
    (3700, 9100)

    A balanced, shorter survey as ``(X, y)``:

    >>> X, y = make_spectra(
    ...     40,
    ...     n_points=500,
    ...     class_fractions={"star": 0.25, "galaxy": 0.25, "qso": 0.25, "unknown": 0.25},
    ...     random_state=0,
    ...     return_X_y=True,
    ... )
    >>> X.shape, sorted(Counter(y.tolist()).values())
    ((40, 500), [10, 10, 10, 10])
    """
    n_spectra = _check_int(n_spectra, "n_spectra", 1)
    n_points = _check_int(n_points, "n_points", 2)
    wavelength_range = _check_pair(wavelength_range, "wavelength_range", strict=True)
    snr_range = _check_pair(snr_range, "snr_range", strict=False)
    fractions = _check_fractions(class_fractions)
    for name, value in (("noise", noise), ("return_X_y", return_X_y)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    if isinstance(random_state, np.random.Generator):
        gen = random_state
    else:
        # An integer seed or a RandomState seeds a Generator: faster normals, same habits.
        gen = np.random.default_rng(check_random_state(random_state).randint(2**31, size=4))

    grid = _make_grid(n_points, wavelength_range)
    counts = _class_counts(n_spectra, fractions)
    dest = gen.permutation(n_spectra)  # shuffle: classes come out interleaved
    data = np.empty((n_spectra, n_points), dtype=np.float32)
    target = np.repeat(np.asarray(_CLASSES), counts)[np.argsort(dest)]
    meta = {
        key: np.full(n_spectra, np.nan)
        for key in ("redshift", "snr", "temperature", "halpha_ew", "flux_scale")
    }
    meta["source"] = target.copy()
    meta["damage"] = np.full(n_spectra, "", dtype=object)

    first = 0
    for label, count in zip(_CLASSES, counts, strict=True):
        for start in range(0, count, _CHUNK):
            m = min(_CHUNK, count - start)
            rows = dest[first + start : first + start + m]
            if label == "unknown":
                flux, scale, snr, part = _unknown(gen, grid, m, snr_range, noise)
            else:
                model, part = _GENERATORS[label](gen, grid, m)
                model /= model.mean(axis=1, keepdims=True)
                snr = _log_uniform(gen, snr_range, m)
                flux, scale, _ = _observe(gen, grid, model, snr, noise)
            data[rows] = flux
            meta["snr"][rows] = snr if noise else np.inf
            meta["flux_scale"][rows] = scale
            for key, value in part.items():
                meta[key][rows] = value
        first += count
    meta["damage"] = meta["damage"].astype(str)

    if return_X_y:
        return data, target
    target_names = np.array(sorted(c for c, f in zip(_CLASSES, fractions, strict=True) if f > 0))
    return Bunch(
        data=data,
        target=target,
        target_names=target_names,
        wavelength=grid.wave,
        DESCR=_describe(
            n_spectra, n_points, wavelength_range, dict(zip(_CLASSES, counts, strict=True))
        ),
        **meta,
    )


def _describe(n_spectra, n_points, wavelength_range, counts) -> str:
    shares = ", ".join(f"{c} {k}" for c, k in counts.items() if k)
    return (
        "Synthetic spectroscopic survey (skspectra.datasets.make_spectra)\n"
        "----------------------------------------------------------------\n\n"
        f"{n_spectra} spectra of {n_points} fluxes, log-uniform in wavelength from "
        f"{wavelength_range[0]:g} to {wavelength_range[1]:g} Angstrom.\n"
        f"Classes: {shares}.\n\n"
        "Modelled on the LAMOST spectrum-classification contest (Tianchi, 2018): stars (Planck\n"
        "continua, temperature-dependent absorption lines, TiO bands), galaxies (z < 0.5,\n"
        "4000 A break, narrow emission lines), quasars (z 0.1-4, power laws, broad emission\n"
        "lines, Ly-alpha forest) and 'unknown' spectra (too faint or damaged), observed with\n"
        "noise, calibration errors and sky-line residuals. Per-spectrum truth is in redshift,\n"
        "snr, temperature, halpha_ew, flux_scale, source and damage.\n"
    )
