"""Flux-conserving resampling and the SpectrumResampler transformer."""

import joblib
import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from skspectra.classifier import SpectrumCNNClassifier
from skspectra.resampling import SpectrumResampler, parse_grid, resample_spectra
from skspectra.scaler import FluxScaler

from .conftest import make_lines


def log_grid(start, stop, n):
    return np.geomspace(start, stop, n)


def edges_of(centres):
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def overlap_matrix(wl, grid):
    """Overlap (in wavelength) of every input pixel with every output pixel, by brute force."""
    e_in, e_out = edges_of(wl), edges_of(grid)
    lo = np.maximum(e_in[None, :-1], e_out[:-1, None])
    hi = np.minimum(e_in[None, 1:], e_out[1:, None])
    return np.clip(hi - lo, 0, None)  # (n_grid, n_in)


def exact_integral(wl, flux, a, b):
    """Integral of the step-function flux density over [a, b]."""
    e = edges_of(wl)
    overlap = np.clip(np.minimum(e[1:], b) - np.maximum(e[:-1], a), 0, None)
    return float(np.sum(overlap * flux))


@pytest.mark.parametrize("n_grid", [300, 1200, 5000])  # coarser, similar, finer than the input
def test_flux_is_conserved_over_a_band(n_grid):
    rng = np.random.default_rng(0)
    wl = log_grid(3800.0, 9000.0, 2000)
    flux = 1.0 + rng.gamma(0.5, size=(3, len(wl)))  # spiky, positive
    grid = np.linspace(4000.0, 8500.0, n_grid)
    out = resample_spectra(flux, wl, grid).flux
    e = edges_of(grid)
    for a, b in [(10, n_grid - 10), (n_grid // 3, n_grid // 3 + 7), (0, n_grid)]:
        for row in range(3):
            resampled = np.sum(out[row, a:b] * np.diff(e)[a:b])
            exact = exact_integral(wl, flux[row], e[a], e[b])
            assert abs(resampled / exact - 1) < 1e-6  # measured: ~1e-15


def test_same_grid_gives_the_same_spectrum_and_ivar():
    rng = np.random.default_rng(1)
    wl = log_grid(4000.0, 7000.0, 500)
    flux, ivar = rng.normal(size=(2, 500)), rng.uniform(0.5, 2.0, size=(2, 500))
    out = resample_spectra(flux, wl, wl, ivar=ivar)
    assert_allclose(out.flux, flux, rtol=1e-12, atol=1e-12)
    assert_allclose(out.ivar, ivar, rtol=1e-12)
    assert_array_equal(out.n_bad, [0, 0])


def test_ivar_matches_the_overlap_weights_and_monte_carlo():
    rng = np.random.default_rng(2)
    wl = np.sort(rng.uniform(4000.0, 5000.0, 400))
    ivar = rng.uniform(0.2, 5.0, size=len(wl))
    grid = np.linspace(4020.0, 4980.0, 97)
    out = resample_spectra(np.zeros_like(wl), wl, grid, ivar=ivar)
    w = overlap_matrix(wl, grid)
    expected = w.sum(axis=1) ** 2 / (w**2 @ (1.0 / ivar))
    assert_allclose(out.ivar, expected, rtol=1e-10)
    # The resampled fluxes of many noise draws scatter as the propagated ivar says.
    noise = rng.normal(size=(4000, len(wl))) / np.sqrt(ivar)
    measured = 1.0 / resample_spectra(noise, wl, grid).flux.var(axis=0)
    assert_allclose(measured, out.ivar, rtol=0.1)
    assert np.median(np.abs(measured / out.ivar - 1)) < 0.03


def test_a_line_is_averaged_into_coarse_pixels_not_sampled():
    wl = np.arange(4000.0, 4100.0, 0.5)
    flux = np.ones_like(wl)
    flux[wl == 4050.0] = 101.0  # one 0.5 Angstrom pixel: 50 flux units above the continuum
    grid = np.arange(4010.0, 4090.0, 5.0)  # 5 Angstrom pixels
    out = resample_spectra(flux, wl, grid).flux
    assert out.max() == pytest.approx(1.0 + 50.0 / 5.0)
    assert np.sum((out - 1.0) * 5.0) == pytest.approx(50.0)


@pytest.mark.parametrize("kind", ["ivar0", "mask", "nan", "inf"])
def test_bad_pixels_are_interpolated_never_spikes(kind):
    wl = np.linspace(5000.0, 6000.0, 1001)
    flux = 2.0 + np.sin(wl / 30.0)
    ivar = np.ones_like(wl)
    mask = np.zeros(wl.shape, bool)
    bad = [100, 101, 102, 500, 900]
    if kind == "nan":
        flux[bad] = np.nan
    elif kind == "inf":
        ivar[bad] = np.inf
        flux[bad] = 1e4
    else:
        flux[bad] = 1e4  # a pixel of flux 1e4 with ivar 0: the 8,980 after resampling
        (ivar if kind == "ivar0" else mask.view(np.int8))[bad] = 0 if kind == "ivar0" else 1
    grid = np.linspace(5010.0, 5990.0, 500)
    out = resample_spectra(flux, wl, grid, ivar=ivar, mask=mask)
    assert out.n_bad == len(bad)
    assert np.isfinite(out.flux).all() and out.flux.max() <= 3.0 + 1e-9
    # Every output pixel near a bad one stays within its good neighbours' range.
    good = np.ones(len(wl), bool)
    good[bad] = False
    for b in bad:
        near = np.abs(grid - wl[b]) < 3.0
        neighbours = flux[[b - 3, b + 3]] if good[[b - 3, b + 3]].all() else flux[good][:3]
        assert (out.flux[near] <= neighbours.max() + 0.05).all()
    # Bad pixels carry no weight in the inverse variance: less than two good pixels' worth.
    j = np.argmin(np.abs(grid - wl[101]))
    assert 0 < out.ivar[j] < out.ivar[np.argmin(np.abs(grid - wl[300]))]


def test_no_good_pixel_is_an_error_naming_the_spectrum():
    wl = np.linspace(5000.0, 6000.0, 50)
    flux = np.ones((3, 50))
    ivar = np.ones((3, 50))
    ivar[2] = 0.0
    with pytest.raises(ValueError, match="spectrum 2 has no good pixel"):
        resample_spectra(flux, wl, wl, ivar=ivar)


def test_spectra_that_miss_the_grid_are_refused_with_both_ranges():
    wl = np.linspace(3800.0, 6000.0, 1000)
    grid = np.linspace(3700.0, 9100.0, 100)
    with pytest.raises(ValueError, match=r"covers 3800 to 6000, but the grid needs 3700 to 9100"):
        resample_spectra(np.ones(1000), wl, grid)
    out = resample_spectra(np.ones(1000), wl, grid, ivar=np.ones(1000), fill_value=np.nan)
    inside = (grid > 3800.0) & (grid < 6000.0)
    assert_allclose(out.flux[inside], 1.0)
    assert np.isnan(out.flux[~inside]).all() and (out.ivar[~inside] == 0).all()


def test_per_row_grids_ragged_and_decreasing():
    grid = np.linspace(4100.0, 4900.0, 81)
    wl_a, wl_b = np.linspace(4000.0, 5000.0, 1001), log_grid(4050.0, 4950.0, 333)[::-1]
    slope_a, slope_b = 1.0 + wl_a / 1e4, 1.0 + wl_b / 1e4
    out = resample_spectra([slope_a, slope_b], [wl_a, wl_b], grid).flux
    assert out.shape == (2, 81)
    # A linear flux density keeps its value at each pixel's centre (up to the pixel width).
    assert_allclose(out, np.tile(1.0 + grid / 1e4, (2, 1)), rtol=1e-5)
    with pytest.raises(ValueError, match="wavelength has 3 rows for 2 spectra"):
        resample_spectra([slope_a, slope_b], [wl_a, wl_b, wl_a], grid)
    with pytest.raises(ValueError, match="spectrum 1 has 333 flux values for 1001 wavelengths"):
        resample_spectra([slope_a, slope_b], [wl_a, wl_a], grid)
    with pytest.raises(ValueError, match="not strictly monotonic"):
        resample_spectra(slope_a, np.r_[wl_a[:-1], wl_a[0]], grid)


def test_parse_grid_forms(tmp_path):
    assert_allclose(parse_grid("3700:9100:2600"), np.linspace(3700, 9100, 2600))
    assert_allclose(parse_grid("3700:9100:2600:log"), np.geomspace(3700, 9100, 2600))
    np.save(tmp_path / "g.npy", np.arange(5.0))
    (tmp_path / "g.txt").write_text("1\n2\n3\n")
    assert_array_equal(parse_grid(tmp_path / "g.npy"), np.arange(5.0))
    assert_array_equal(parse_grid(str(tmp_path / "g.txt")), [1.0, 2.0, 3.0])
    for bad, message in [
        ("3700:9100", "START:STOP:N"),
        ("3700:9100:10:lin", "START:STOP:N"),
        ("nofile.txt", "neither START:STOP:N nor an existing file"),
        ("9100:3700:10", "strictly increasing"),
        ([1.0], "at least 2 points"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_grid(bad)


# --------------------------------------------------------------------------------------------
# The transformer
# --------------------------------------------------------------------------------------------


def test_resampler_params_stay_verbatim_and_are_validated_in_fit():
    grid = [4000.0, 4500.0, 5000.0]
    resampler = SpectrumResampler(wavelength=grid)
    assert resampler.get_params() == {"wavelength": grid, "fill_value": None}
    assert clone(resampler).wavelength == grid
    with pytest.raises(NotFittedError):
        resampler.transform(np.ones((1, 3)))
    with pytest.raises(ValueError, match="no grid"):
        SpectrumResampler().fit(np.ones((2, 3)))
    with pytest.raises(ValueError, match="strictly increasing"):
        SpectrumResampler(wavelength=grid[::-1]).fit(np.ones((2, 3)))
    with pytest.raises(ValueError, match="fill_value"):
        SpectrumResampler(wavelength=grid, fill_value="zero").fit(np.ones((2, 3)))
    fitted = SpectrumResampler("4000:5000:3").fit(np.ones((2, 3)))
    assert fitted.wavelength_.dtype == np.float64 and fitted.n_features_in_ == 3
    assert fitted.wavelength == "4000:5000:3"
    # Without wavelengths, X must already be on the grid.
    assert_array_equal(fitted.transform(np.ones((2, 3), np.float32)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="X has 4 points .* no wavelength was given"):
        fitted.transform(np.ones((2, 4)))


def test_resampler_takes_one_grid_per_row_and_ragged_lists():
    grid = np.linspace(4100.0, 4900.0, 50)
    wls = [np.linspace(4000.0, 5000.0, n) for n in (900, 1100, 1300)]
    X = [(1.0 + w / 1e4).astype(np.float32) for w in wls]
    resampler = SpectrumResampler(wavelength=grid)
    out = resampler.fit_transform(X, wavelength=wls)
    assert out.dtype == np.float32 and out.shape == (3, 50)
    assert_allclose(out, np.tile(1.0 + grid / 1e4, (3, 1)), rtol=1e-5)
    assert not hasattr(resampler, "n_features_in_")  # the rows differed in length
    with pytest.raises(ValueError, match="covers 4500 to 5500, but the grid needs 4100 to 4900"):
        resampler.transform(X[:1], wavelength=wls[0] + 500.0)


def survey(n=60, n_points=64, seed=0):
    """make_lines spectra, given a wavelength grid and resampled onto two other grids."""
    X, y = make_lines(n=n, n_points=n_points, seed=seed)
    wl = np.linspace(5000.0, 5630.0, n_points)
    return X, y, wl


def test_pipeline_fitted_on_one_grid_resamples_new_spectra_onto_it(tmp_path):
    X, y, wl = survey()
    # The training spectra, and the same spectra seen on two other, finer grids.
    other = [np.linspace(4990.0, 5640.0, 151), log_grid(4980.0, 5650.0, 203)]
    X_other = [resample_spectra(X, wl, grid, fill_value=np.nan).flux for grid in other]
    X_other = [np.where(np.isnan(x), 0.0, x).astype(np.float32) for x in X_other]
    pipe = make_pipeline(
        SpectrumResampler(wavelength=wl),
        FluxScaler(),
        SpectrumCNNClassifier(
            module__filters=(8, 8, 16), max_epochs=2, f1_epochs=0, batch_size=16, random_state=0
        ),
    )
    with sklearn.config_context(enable_metadata_routing=True):
        pipe.fit(X, y, wavelength=wl)
        assert_array_equal(pipe[0].wavelength_, wl)
        expected = pipe.predict_proba(X, wavelength=wl)
        for grid, x in zip(other, X_other, strict=True):
            by_hand = pipe[1:].predict_proba(resample_spectra(x, grid, wl).flux.astype(np.float32))
            assert_allclose(pipe.predict_proba(x, wavelength=grid), by_hand, atol=1e-6)
        # Ragged: each spectrum on its own grid, in one call.
        ragged = [X_other[0][0], X_other[1][1]]
        assert_allclose(
            pipe.predict_proba(ragged, wavelength=other),
            np.vstack(
                [
                    pipe.predict_proba(x[i : i + 1], wavelength=g)
                    for i, (g, x) in enumerate(zip(other, X_other, strict=True))
                ]
            ),
            atol=1e-6,
        )
        # Spectra that do not cover the model's grid are refused with both ranges.
        with pytest.raises(
            ValueError, match="covers 5100 to 5730, but the grid needs 5000 to 5630"
        ):
            pipe.predict(X, wavelength=wl + 100.0)
    # Without routing, the spectra must already be on the grid.
    assert_allclose(pipe.predict_proba(X), expected, atol=1e-6)
    # The grid survives joblib.
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    loaded = joblib.load(tmp_path / "pipe.joblib")
    assert loaded[0].wavelength_.dtype == np.float64
    assert_array_equal(loaded[0].wavelength_, wl)
    with sklearn.config_context(enable_metadata_routing=True):
        assert_allclose(
            loaded.predict_proba(X_other[1], wavelength=other[1]),
            pipe.predict_proba(X_other[1], wavelength=other[1]),
            atol=1e-6,
        )
