"""Physics of the synthetic survey (sources, noise, damage); public entry: datasets.make_spectra."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_C_KMS = 299_792.458
_HC_OVER_K = 1.438_776_9e8  # h c / k_B in Angstrom Kelvin
# LAMOST low-resolution mode, R ~ 1800: sigma of the instrumental profile in km/s.
_SIGMA_INST_KMS = _C_KMS / 1800.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))

# S/N of the "unknown" spectra that the pipeline gave up on for want of signal.
_UNKNOWN_SNR = (0.3, 2.5)
_UNKNOWN_SOURCES = ("star", "galaxy", "qso", "none")
_UNKNOWN_SOURCE_P = (0.55, 0.15, 0.15, 0.15)
_DAMAGES = ("dead_pixels", "sky_residuals", "broken_segment", "jump", "cosmic_rays")

# Stars: (rest wavelength in Angstrom, air) of the lines whose strengths _stars sets.
_BALMER = np.array([6562.8, 4861.3, 4340.5, 4101.7, 3970.1, 3889.1])
_BALMER_EW_A0 = np.array([14.0, 15.0, 15.0, 14.0, 12.0, 10.0])  # Angstrom, near 9500 K
_CA_HK = np.array([3933.7, 3968.5])
_MG_B = np.array([5167.3, 5172.7, 5183.6])
_NA_D = np.array([5890.0, 5895.9])
_CA_TRIPLET = np.array([8498.0, 8542.1, 8662.1])
_FE = np.array([4383.5, 5269.5, 5328.0])
_HE_I = np.array([4026.2, 4471.5, 5875.6, 6678.2])
# Thousands of weak metal lines blanket the blue of cool stars; a fixed pseudo line list
# (denser in the blue) stands in for them, so that spectra have texture between strong lines.
_METAL_FOREST = np.sort(3500.0 + 6000.0 * np.random.default_rng(1800).random(40) ** 1.7)
# TiO band heads of M stars; the bands are degraded to the red of each head.
_TIO_HEADS = np.array([4954.6, 5166.7, 5448.0, 6158.7, 7054.2])
_TIO_STRENGTH = np.array([0.5, 0.6, 0.7, 0.8, 1.0])
_TIO_SCALE = np.array([80.0, 80.0, 100.0, 120.0, 150.0])  # e-folding length in Angstrom
# Spectral types as LAMOST sees them (mostly F, G, K): (share, lowest T, highest T).
_STAR_TYPES = (
    (0.13, 3000.0, 3900.0),  # M
    (0.29, 3900.0, 5300.0),  # K
    (0.28, 5300.0, 6000.0),  # G
    (0.20, 6000.0, 7500.0),  # F
    (0.07, 7500.0, 10000.0),  # A
    (0.03, 10000.0, 30000.0),  # B
)

# Galaxies: absorption lines of the old population, (wavelength, EW in Angstrom).
_GAL_ABSORPTION = np.array(
    [
        [3933.7, 8.0],  # Ca II K
        [3968.5, 7.0],  # Ca II H
        [4304.4, 4.0],  # G band (CH)
        [5175.4, 5.0],  # Mg b, unresolved at galaxy velocity dispersions
        [5269.5, 2.0],  # Fe
        [5892.9, 3.0],  # Na D
        [8542.1, 3.0],  # Ca II triplet, strongest line
    ]
)
# Balmer absorption, strong where A stars are young (post-starburst galaxies).
_GAL_BALMER = np.array([6562.8, 4861.3, 4340.5, 4101.7])
# Narrow emission lines: Halpha, [N II] 6584, 6548, Hbeta, Hgamma, Hdelta, [O III] 5007, 4959,
# [O II] 3727 (doublet unresolved), [S II] 6716, 6731.
_GAL_EMISSION = np.array(
    [6562.8, 6583.5, 6548.0, 4861.3, 4340.5, 4101.7, 5006.8, 4958.9, 3727.4, 6716.4, 6730.8]
)

# Quasars: broad lines and rest equivalent widths (Angstrom) close to the SDSS composite of
# Vanden Berk et al. (2001): Ly-alpha (+N V), Si IV, C IV, C III], Mg II, H-gamma, H-beta, H-alpha.
_QSO_LINES = np.array([1215.7, 1400.0, 1549.1, 1908.7, 2798.8, 4340.5, 4861.3, 6562.8])
_QSO_EW = np.array([93.0, 8.0, 24.0, 21.0, 32.0, 13.0, 46.0, 195.0])
_LYA = 1215.67
_LYMAN_LIMIT = 911.75

# Night-sky emission: [O I] 5577, Na D, [O I] 6300, 6364, then bright OH lines (approximate
# positions) that make the red end of every ground-based spectrum noisy.
_SKY_LINES = np.array(
    [5577.3, 5890.0, 5895.9, 6300.3, 6363.8]
    + [6863.9, 6923.2, 7276.4, 7316.3, 7340.9, 7369.2, 7401.7, 7750.6, 7794.1, 7821.5]
    + [7913.7, 7993.3, 8344.6, 8399.2, 8430.2, 8465.4, 8505.1, 8827.1, 8885.9, 8919.6]
    + [8943.4, 8988.4, 9001.4]
)
_SKY_INTENSITY = np.concatenate([[10.0, 3.0, 3.0, 5.0, 2.0], 2.0 + 3.0 * np.linspace(0, 1, 23)])


class _Grid(NamedTuple):
    wave: np.ndarray  # Angstrom, log-uniform
    loglam: np.ndarray
    loglam0: float
    dloglam: float
    floor: float  # sigma in ln(wavelength) of instrument and pixel together
    legendre: np.ndarray  # (3, n) P1..P3 over the grid, for calibration errors
    sky_background: np.ndarray  # (n,) sky continuum + lines, relative
    sky_residual: np.ndarray  # (n_sky, n) residual shape of each sky line, in noise units
    throughput: np.ndarray  # (n,) relative efficiency of telescope + spectrograph


def _make_grid(n_points: int, wavelength_range: tuple[float, float]) -> _Grid:
    lo, hi = np.log(wavelength_range[0]), np.log(wavelength_range[1])
    loglam = np.linspace(lo, hi, n_points)
    dloglam = (hi - lo) / (n_points - 1)
    # Rebinning onto coarse pixels widens lines; half a pixel also keeps lines narrower than a
    # pixel from falling between samples when n_points is small.
    floor = np.hypot(_SIGMA_INST_KMS / _C_KMS, 0.5 * dloglam)
    wave = np.exp(loglam)
    x = np.linspace(-1.0, 1.0, n_points)
    legendre = np.stack([x, 0.5 * (3 * x**2 - 1), 0.5 * (5 * x**3 - 3 * x)])
    sky_shape = np.exp(-0.5 * ((loglam - np.log(_SKY_LINES)[:, None]) / floor) ** 2)
    sky_background = 1.0 + _SKY_INTENSITY @ sky_shape
    # Sky-subtraction residuals scale with the photon noise of the line they come from.
    sky_residual = sky_shape * np.sqrt(_SKY_INTENSITY)[:, None]
    # Blue and red arms joined by a dichroic near 5800 A; little light at either end.
    throughput = 0.05 + _sigmoid((wave - 4000.0) / 250.0) * _sigmoid((9300.0 - wave) / 300.0) * (
        1.0 - 0.5 * np.exp(-0.5 * ((wave - 5800.0) / 60.0) ** 2)
    )
    return _Grid(
        wave, loglam, lo, dloglam, floor, legendre, sky_background, sky_residual, throughput
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _planck(wave, temperature):
    """Planck's B_lambda normalised to 1 at 5500 Angstrom, elementwise."""
    x0 = _HC_OVER_K / (5500.0 * temperature)
    return (5500.0 / wave) ** 5 * np.expm1(x0) / np.expm1(_HC_OVER_K / (wave * temperature))


def _planck_grid(grid: _Grid, temperature, z) -> np.ndarray:
    """Planck's B_lambda at the rest wavelengths wave / (1 + z), 1 at rest 5500 A: (m, n).

    The (1 + z) factors are pulled out of the (m, n) array so that it takes four passes.
    """
    zp = 1.0 + z
    out = np.multiply.outer(_HC_OVER_K * zp / temperature, 1.0 / grid.wave)
    np.expm1(out, out=out)
    np.reciprocal(out, out=out)
    out *= (zp**5 * np.expm1(_HC_OVER_K / (5500.0 * temperature)))[:, None]
    out *= (5500.0 / grid.wave) ** 5
    return out


def _dust_tau(grid: _Grid, tau_v, z, slope: float) -> np.ndarray:
    """Optical depth of dust, tau_V (lambda_rest / 5500)^-slope, minus its value at 5500 A.

    Taking off tau_V keeps the flux level at 5500 A: dust changes the colours only.
    """
    zp = 1.0 + z
    out = np.multiply.outer(tau_v * zp**slope, (grid.wave / 5500.0) ** -slope)
    out -= tau_v[:, None]
    return out


def _scatter(n: int, center_px, width_px, peak, one_sided: bool = False) -> np.ndarray:
    """Sum of L profiles per row, each evaluated only in a window around its centre.

    center_px, width_px, peak: (m, L) in pixels; Gaussians (width = sigma) or, if one_sided,
    exponentials decaying redward of their head (width = e-folding length).
    """
    m, n_lines = center_px.shape
    reach = np.ceil((6.0 if one_sided else 4.0) * width_px.max(axis=0)).astype(np.int64)
    pad = 2 * int(reach.max()) + 2
    buf = np.zeros((m, n + 2 * pad))
    rows = np.arange(m)[:, None]
    for k in range(n_lines):
        if not np.any(peak[:, k]):
            continue
        h = int(reach[k])
        offsets = np.arange(0 if one_sided else -h, h + 1)
        # Lines far off the grid are parked in the padding, where they add (almost) nothing.
        i0 = np.rint(np.clip(center_px[:, k], -h - 1, n + h)).astype(np.int64)
        cols = i0[:, None] + offsets
        dx = (cols - center_px[:, k, None]) / width_px[:, k, None]
        if one_sided:
            prof = np.where(dx >= 0.0, np.exp(-np.abs(dx)), 0.0)
        else:
            prof = np.exp(-0.5 * dx * dx)
        # Columns are distinct within a row, so buffered fancy += adds every term.
        buf[rows, cols + pad] += peak[:, k, None] * prof
    return buf[:, pad : pad + n]


def _line_sum(grid: _Grid, rest_wave, z, area, sigma_kms) -> np.ndarray:
    """Gaussian lines in ln(wavelength), each with the given area (an EW over wavelength).

    rest_wave (L,), z (m,), area and sigma_kms (intrinsic) broadcastable to (m, L). Working in
    ln(wavelength) makes EW / wavelength, hence the area, the same in every frame.
    """
    m, n_lines = z.shape[0], rest_wave.size
    center_px = (np.log(rest_wave)[None, :] + np.log1p(z)[:, None] - grid.loglam0) / grid.dloglam
    sigma_ln = np.hypot(np.broadcast_to(sigma_kms, (m, n_lines)) / _C_KMS, grid.floor)
    peak = np.broadcast_to(area, (m, n_lines)) / (np.sqrt(2.0 * np.pi) * sigma_ln)
    return _scatter(grid.wave.size, center_px, sigma_ln / grid.dloglam, peak)


def _band_sum(grid: _Grid, heads, z, depth, scale_angstrom) -> np.ndarray:
    """Molecular bands: optical depth jumps at each head and decays to the red."""
    m = z.shape[0]
    center_px = (np.log(heads)[None, :] + np.log1p(z)[:, None] - grid.loglam0) / grid.dloglam
    width_px = np.broadcast_to(scale_angstrom / heads / grid.dloglam, (m, heads.size))
    return _scatter(grid.wave.size, center_px, width_px, depth, one_sided=True)


def _star_temperatures(gen: np.random.Generator, m: int) -> np.ndarray:
    share = np.array([t[0] for t in _STAR_TYPES])
    kind = gen.choice(len(_STAR_TYPES), size=m, p=share / share.sum())
    lo = np.log(np.array([t[1] for t in _STAR_TYPES]))[kind]
    hi = np.log(np.array([t[2] for t in _STAR_TYPES]))[kind]
    return np.exp(gen.uniform(lo, hi))


def _stars(gen: np.random.Generator, grid: _Grid, m: int) -> tuple[np.ndarray, dict]:
    t = _star_temperatures(gen, m)
    z = np.clip(gen.normal(0.0, 40.0, m), -400.0, 400.0) / _C_KMS  # radial velocity
    # Milky Way dust: A_V = 3.1 E(B-V); a lambda^-1.2 law follows its optical extinction curve.
    tau_v = 3.1 / 1.086 * np.minimum(gen.exponential(0.08, m), 0.6)
    metals = 10.0 ** gen.normal(0.0, 0.2, m)  # metallicity scatter scales the metal lines
    tc = t[:, None]

    # Balmer lines peak near A0 (~9500 K); their pressure-broadened wings grow with them.
    logt = np.log10(tc)
    width = np.where(logt < 3.98, 0.12, 0.18)
    balmer = np.exp(-0.5 * ((logt - 3.98) / width) ** 2)
    cool = _sigmoid((6500.0 - tc) / 700.0)
    ew = [
        _BALMER_EW_A0 * (0.02 + balmer),
        np.array([1.0, 0.8]) * (1.0 + 17.0 * cool) * metals[:, None],  # Ca II K, H
        (0.3 + 4.0 * _sigmoid((4800.0 - tc) / 500.0)) * metals[:, None],  # Ca I 4227
        (0.3 + 5.0 * np.exp(-0.5 * ((tc - 5000.0) / 900.0) ** 2)) * metals[:, None],  # G band
        (0.2 + np.array([1.5, 1.2, 1.0]) * _sigmoid((6000.0 - tc) / 700.0)) * metals[:, None],
        (0.2 + np.array([1.5, 2.0, 2.5]) * _sigmoid((5800.0 - tc) / 600.0)) * metals[:, None],
        (0.2 + np.array([3.0, 2.5]) * _sigmoid((5000.0 - tc) / 500.0)) * metals[:, None],
        (0.3 + np.array([1.5, 3.5, 3.0]) * _sigmoid((6800.0 - tc) / 1200.0)) * metals[:, None],
        0.05 + np.array([0.6, 1.0, 0.8, 0.5]) * _sigmoid((tc - 14000.0) / 2500.0),  # He I, B stars
        0.4 * _sigmoid((6200.0 - tc) / 800.0) * metals[:, None] * np.linspace(0.3, 1.0, 40),
    ]
    waves = np.concatenate(
        [_BALMER, _CA_HK, [4226.7, 4304.4], _FE, _MG_B, _NA_D, _CA_TRIPLET, _HE_I, _METAL_FOREST]
    )
    sigma = np.concatenate(
        [
            np.broadcast_to(150.0 + 650.0 * balmer, (m, _BALMER.size)),
            np.full((m, 2), 250.0),  # damping wings of Ca II H and K
            np.full((m, 1), 50.0),
            np.full((m, 1), 500.0),  # the G band is a molecular band ~15 A wide
            np.full((m, waves.size - 10), 30.0),
        ],
        axis=1,
    )
    area = np.concatenate([np.broadcast_to(e, (m, np.shape(e)[-1])) for e in ew], axis=1) / waves
    tau = _line_sum(grid, waves, z, area, sigma)
    cool = np.flatnonzero(t < 4100.0)
    if cool.size:
        tio = 1.5 * ((4100.0 - tc[cool]) / 900.0).clip(0.0, 1.0) ** 0.7 * _TIO_STRENGTH
        tau[cool] += _band_sum(grid, _TIO_HEADS, z[cool], tio, _TIO_SCALE)
    tau += _dust_tau(grid, tau_v, z, 1.2)
    model = _planck_grid(grid, t, z)
    model *= np.exp(-tau, out=tau)
    return model, {"redshift": z, "temperature": t}


def _galaxies(
    gen: np.random.Generator,
    grid: _Grid,
    m: int,
    z: np.ndarray | None = None,
    emission: bool = True,
) -> tuple[np.ndarray, dict]:
    """Galaxy spectra at 1 near rest 5500 A; also the host galaxies of quasars."""
    if z is None:
        z = np.maximum(0.5 * gen.beta(2.0, 6.0, m), 1e-3)
    young = gen.beta(1.0, 3.0, m)  # share of the light at 5500 A from young stars
    t_old = gen.uniform(4200.0, 5200.0, m)
    t_young = gen.uniform(9000.0, 20000.0, m)
    # Attenuation in the galaxy itself, tau ~ lambda^-0.7 (Charlot & Fall 2000).
    tau_v = np.minimum(gen.exponential(0.4, m), 2.5)
    sigma_v = gen.uniform(100.0, 300.0, m)[:, None]  # velocity dispersion
    y = young[:, None]
    strength = gen.uniform(0.6, 1.1, m)  # of the old population's metal features
    # Old stars' metal absorption piles up blueward of 4000 A: the 4000 A break, D4000.
    d4000 = 1.1 + 0.8 * (1.0 - young) * strength

    cont = _planck_grid(grid, t_old, z)
    cont *= 1.0 - y
    cont += y * _planck_grid(grid, t_young, z)
    step = grid.loglam - np.log(4000.0 * (1.0 + z))[:, None]
    step *= 0.5 * 4000.0 / 12.0  # a break some 12 A wide
    np.tanh(step, out=step)
    step *= (0.5 * (1.0 - 1.0 / d4000))[:, None]
    step += (0.5 * (1.0 + 1.0 / d4000))[:, None]
    cont *= step

    waves = np.concatenate([_GAL_ABSORPTION[:, 0], _GAL_BALMER])
    area = np.concatenate(
        [
            _GAL_ABSORPTION[:, 1] * ((1.0 - young) * strength)[:, None],
            np.array([1.0, 1.0, 1.0, 1.0]) + np.array([3.0, 4.0, 5.0, 6.0]) * y,
        ],
        axis=1,
    )
    tau = _line_sum(grid, waves, z, area / waves, sigma_v)
    tau += _dust_tau(grid, tau_v, z, 0.7)
    model = cont
    model *= np.exp(-tau, out=tau)
    ew_ha = np.zeros(m)
    if emission:
        emitting = gen.random(m) < 0.6
        ew_ha = np.where(emitting, 10.0 ** gen.uniform(0.3, 2.3, m), 0.0)
        n2 = 10.0 ** gen.uniform(-1.2, 0.1, m)  # [N II]/Halpha: star forming to AGN-like
        hb = 1.0 / gen.uniform(2.86, 6.0, m)  # Balmer decrement, 2.86 without dust
        o3 = hb * 10.0 ** gen.uniform(-0.8, 1.0, m)
        ratio = np.stack(
            [
                np.ones(m),
                n2,
                n2 / 3.05,
                hb,
                0.47 * hb,
                0.26 * hb,
                o3,
                o3 / 2.98,
                hb * 10.0 ** gen.uniform(0.0, 0.7, m),
                10.0 ** gen.uniform(-1.2, -0.5, m),
                10.0 ** gen.uniform(-1.2, -0.5, m),
            ],
            axis=1,
        )
        # EW is the line flux over the continuum at H-alpha (red of the break).
        c_ha = (1.0 - young) * _planck(6562.8, t_old) + young * _planck(6562.8, t_young)
        c_ha = (c_ha * np.exp(-tau_v * ((6562.8 / 5500.0) ** -0.7 - 1.0)))[:, None]
        area = ratio * (ew_ha[:, None] * c_ha) / _GAL_EMISSION
        model += _line_sum(grid, _GAL_EMISSION, z, area, sigma_v)
    return model, {"redshift": z, "halpha_ew": ew_ha}


def _quasars(gen: np.random.Generator, grid: _Grid, m: int) -> tuple[np.ndarray, dict]:
    z = 0.1 + 3.9 * gen.beta(1.7, 3.0, m)
    alpha = gen.uniform(-1.5, -0.5, m)[:, None]  # f_lambda ~ lambda^alpha
    # (lambda_rest / 5500)^alpha in one exp, without an (m, n) array of rest wavelengths.
    model = np.multiply.outer(alpha[:, 0], grid.loglam - np.log(5500.0))
    model -= alpha * np.log1p(z)[:, None]
    np.exp(model, out=model)
    # One broad-line region per quasar: FWHM of 2000-10000 km/s shared by its lines.
    fwhm = 10.0 ** gen.uniform(np.log10(2000.0), 4.0, m)
    sigma = fwhm[:, None] / 2.3548 * 10.0 ** gen.normal(0.0, 0.08, (m, _QSO_LINES.size))
    ew = _QSO_EW * 10.0 ** (gen.normal(0.0, 0.15, (m, 1)) + gen.normal(0.0, 0.2, (m, 8)))
    area = ew * (_QSO_LINES / 5500.0) ** alpha / _QSO_LINES
    model += _line_sum(grid, _QSO_LINES, z, area, sigma)
    # Narrow [O III] 5007, 4959 from the narrow-line region.
    o3 = 10.0 ** gen.uniform(0.0, 1.3, m)[:, None] * (5006.8 / 5500.0) ** alpha / 5006.8
    o3_area = o3 * np.array([1.0, 1.0 / 2.98])
    model += _line_sum(grid, np.array([5006.8, 4958.9]), z, o3_area, 250.0)

    # Host galaxy starlight, visible in nearby quasars only.
    host = np.clip(gen.uniform(0.0, 0.7, m) * (1.0 - z / 0.5), 0.0, None)
    near = host > 0
    if near.any():
        starlight, _ = _galaxies(gen, grid, int(near.sum()), z=z[near], emission=False)
        model[near] = (1.0 - host[near, None]) * model[near] + host[near, None] * starlight

    # Ly-alpha forest: effective optical depth 0.0018 (1 + z)^3.92 (Faucher-Giguere et al.
    # 2008); the absorbers are narrower than a pixel, so each pixel fluctuates on its own.
    far = np.flatnonzero(grid.wave[0] / (1.0 + z) < _LYA)
    if far.size:
        r = grid.wave / (1.0 + z[far, None])
        tau_eff = 0.0018 * (grid.wave / _LYA) ** 3.92
        tau = np.where(r < _LYA, tau_eff * gen.exponential(1.0, r.shape), 0.0)
        tau += np.where(r < _LYMAN_LIMIT, gen.uniform(0.5, 4.0, (far.size, 1)), 0.0)
        model[far] *= np.exp(-tau)
    return model, {"redshift": z}


def _featureless(gen: np.random.Generator, grid: _Grid, m: int) -> tuple[np.ndarray, dict]:
    """No source: scattered light, a smooth positive curve."""
    coef = gen.normal(0.0, 0.2, (m, 3))
    return np.maximum(1.0 + coef @ grid.legendre, 0.1), {}


_GENERATORS = {"star": _stars, "galaxy": _galaxies, "qso": _quasars, "none": _featureless}


def _observe(gen, grid: _Grid, model, snr, noise: bool):
    """Flux scale, calibration error, photon and sky noise, sky-subtraction residuals.

    Returns the flux, the flux scale and the noise scale of each spectrum (the noise of a
    pixel of pure sky continuum at full throughput).
    """
    m, n = model.shape
    scale = 10.0 ** gen.uniform(0.5, 3.5, m)  # survey fluxes span orders of magnitude
    if not noise:
        return model * scale[:, None], scale, np.zeros(m)
    # Flux calibration leaves a smooth multiplicative error across the spectrum.
    coef = gen.normal(0.0, 1.0, (m, 3)) * np.array([0.12, 0.06, 0.03])
    flux = coef @ grid.legendre
    flux += 1.0
    np.maximum(flux, 0.2, out=flux)
    flux *= model
    # Variance: the source's own photons (bright sources) plus the sky's (faint ones), over
    # the throughput. Factors common to a row cancel once the noise is scaled to the S/N.
    own = gen.uniform(0.2, 0.9, m)
    v = np.maximum(flux, 0.0)
    v *= (own / (1.0 - own))[:, None]
    v += grid.sky_background
    np.sqrt(v, out=v)
    v *= grid.throughput**-0.5
    flux *= scale[:, None]
    # snr is the median over pixels of signal / noise, as survey pipelines quote it.
    level = np.median(flux / v, axis=1, overwrite_input=True) / snr
    v *= level[:, None]
    v *= gen.standard_normal((m, n), dtype=np.float32)
    flux += v
    weights = gen.standard_normal((m, _SKY_LINES.size)) * gen.uniform(0.0, 1.5, (m, 1))
    flux += (weights * level[:, None]) @ grid.sky_residual
    return flux, scale, level


def _damage(gen, grid: _Grid, flux, scale, level, hit) -> np.ndarray:
    """Apply what makes a pipeline give up on a spectrum; hit: (m, 5) bool, one per damage."""
    m, n = flux.shape
    cols = np.arange(n)
    # Where level is 0 (noise=False) the damage still needs a size: use 2 % of the flux.
    unit = np.where(level > 0, level, 0.02 * scale)[:, None]

    def stretches(rows, n_max, max_frac):
        k = rows.size
        length = (gen.uniform(0.01, max_frac, (k, n_max)) * n).astype(np.int64) + 1
        start = (gen.random((k, n_max)) * (n - length + 1)).astype(np.int64)  # all on the grid
        used = np.arange(n_max) < gen.integers(1, n_max + 1, (k, 1))
        inside = (cols >= start[..., None]) & (cols < (start + length)[..., None])
        return (inside & used[..., None]).any(axis=1)

    rows = np.flatnonzero(hit[:, 1])  # sky residuals, mostly under-subtracted sky
    if rows.size:
        w = gen.uniform(8.0, 60.0, (rows.size, 1)) * (
            1.0 + gen.standard_normal((rows.size, _SKY_LINES.size))
        )
        flux[rows] += unit[rows] * (w @ grid.sky_residual)
    rows = np.flatnonzero(hit[:, 3])  # a jump, usually where the blue and red arms meet
    if rows.size:
        at = np.where(
            gen.random(rows.size) < 0.7,
            gen.uniform(5700.0, 5900.0, rows.size),
            gen.uniform(grid.wave[0], grid.wave[-1], rows.size),
        )
        factor = 10.0 ** (gen.choice([-1.0, 1.0], rows.size) * gen.uniform(0.3, 1.0, rows.size))
        red = grid.wave >= at[:, None]
        flux[rows] *= np.where(red, factor[:, None], 1.0)
    rows = np.flatnonzero(hit[:, 2])  # a broken segment: junk at the wrong level
    if rows.size:
        bad = stretches(rows, 1, 0.4)
        junk = unit[rows] * gen.uniform(1.0, 5.0, (rows.size, 1))
        junk = junk * gen.standard_normal((rows.size, n))
        junk += scale[rows, None] * gen.uniform(-0.5, 2.0, (rows.size, 1))
        flux[rows] = np.where(bad, junk, flux[rows])
    rows = np.flatnonzero(hit[:, 4])  # cosmic-ray hits: single hot pixels
    if rows.size:
        k = 15
        where = gen.integers(0, n, (rows.size, k))
        height = unit[rows] * 10.0 ** gen.uniform(1.3, 2.5, (rows.size, k))
        height *= np.arange(k) < gen.integers(3, k + 1, (rows.size, 1))
        np.add.at(flux, (rows[:, None], where), height)
    rows = np.flatnonzero(hit[:, 0])  # dead pixels: zeroed stretches
    if rows.size:
        flux[rows] = np.where(stretches(rows, 3, 0.25), 0.0, flux[rows])
    return flux


def _unknown(gen, grid: _Grid, m: int, snr_range, noise: bool):
    source = np.asarray(_UNKNOWN_SOURCES)[gen.choice(4, size=m, p=_UNKNOWN_SOURCE_P)]
    model = np.empty((m, grid.wave.size))
    meta = {
        "redshift": np.full(m, np.nan),
        "temperature": np.full(m, np.nan),
        "halpha_ew": np.full(m, np.nan),
    }
    for name in _UNKNOWN_SOURCES:
        rows = np.flatnonzero(source == name)
        if rows.size:
            part, part_meta = _GENERATORS[name](gen, grid, rows.size)
            model[rows] = part / part.mean(axis=1, keepdims=True)
            for key, value in part_meta.items():
                meta[key][rows] = value
    # Most were too faint to classify; the rest are damaged, whatever their S/N.
    faint = gen.random(m) < 0.6
    snr = np.where(faint, _log_uniform(gen, _UNKNOWN_SNR, m), _log_uniform(gen, snr_range, m))
    hit = np.zeros((m, len(_DAMAGES)), dtype=bool)
    hit[np.arange(m), gen.integers(0, len(_DAMAGES), m)] = True
    hit |= gen.random((m, len(_DAMAGES))) < 0.15
    hit &= (~faint | (gen.random(m) < 0.25))[:, None]
    flux, scale, level = _observe(gen, grid, model, snr, noise)
    flux = _damage(gen, grid, flux, scale, level, hit)
    tags = np.array(
        [
            ",".join(
                (["low_snr"] if f else []) + [d for d, h in zip(_DAMAGES, row, strict=True) if h]
            )
            for f, row in zip(faint, hit, strict=True)
        ]
    )
    meta.update(source=source, damage=tags)
    return flux, scale, snr, meta


def _log_uniform(gen, bounds, m):
    return np.exp(gen.uniform(np.log(bounds[0]), np.log(bounds[1]), m))
