"""Tests for skspectra.datasets.make_spectra: API, determinism, class counts, physics."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from skspectra.datasets import make_spectra

BALANCED = {"star": 0.4, "galaxy": 0.2, "qso": 0.2, "unknown": 0.2}


def _ranks(a):
    return np.argsort(np.argsort(a))


def _band_mean(spectra, flux, lo, hi):
    inside = (spectra.wavelength >= lo) & (spectra.wavelength <= hi)
    return flux[..., inside].mean(axis=-1)


def _roughness(data):
    """Median second difference over the mean flux: pixel-to-pixel scatter."""
    return np.median(np.abs(np.diff(data, 2, axis=1)) / np.abs(data).mean(axis=1, keepdims=True))


@pytest.fixture(scope="module")
def survey():
    return make_spectra(400, n_points=600, class_fractions=BALANCED, random_state=0)


def test_shapes_dtypes_and_metadata(survey):
    n = 400
    assert survey.data.shape == (n, 600)
    assert survey.data.dtype == np.float32
    assert np.isfinite(survey.data).all()
    assert survey.target.shape == (n,)
    assert survey.target.dtype.kind == "U"
    assert survey.target_names.tolist() == ["galaxy", "qso", "star", "unknown"]
    assert survey.target_names.tolist() == np.unique(survey.target).tolist()
    for key in ("redshift", "snr", "temperature", "halpha_ew", "flux_scale"):
        assert survey[key].shape == (n,) and survey[key].dtype == np.float64
    assert survey.source.shape == survey.damage.shape == (n,)
    assert "LAMOST" in survey.DESCR
    # Metadata is filled where it applies, NaN elsewhere.
    stars = survey.target == "star"
    assert np.isfinite(survey.temperature[stars]).all()
    assert np.isnan(survey.temperature[survey.target == "galaxy"]).all()
    assert np.isfinite(survey.halpha_ew[survey.target == "galaxy"]).all()
    assert np.isnan(survey.redshift[survey.source == "none"]).all()
    assert np.isfinite(survey.redshift[survey.source != "none"]).all()
    assert (
        survey.source[survey.target != "unknown"] == survey.target[survey.target != "unknown"]
    ).all()
    # Fluxes span orders of magnitude, like survey counts.
    assert survey.flux_scale.max() / survey.flux_scale.min() > 100


def test_default_grid_is_log_uniform_over_the_contest_range():
    spectra = make_spectra(5, random_state=0)
    wave = spectra.wavelength
    assert spectra.data.shape == (5, 2600)
    assert wave.dtype == np.float64 and wave.shape == (2600,)
    assert wave[0] == pytest.approx(3700.0) and wave[-1] == pytest.approx(9100.0)
    steps = np.diff(np.log(wave))
    assert (steps > 0).all()
    np.testing.assert_allclose(steps, steps[0], rtol=1e-6)


def test_custom_grid():
    spectra = make_spectra(6, n_points=64, wavelength_range=(4000.0, 8000.0), random_state=1)
    assert spectra.data.shape == (6, 64)
    assert spectra.wavelength[[0, -1]] == pytest.approx([4000.0, 8000.0])
    assert np.isfinite(spectra.data).all()


def test_return_X_y_matches_bunch():
    X, y = make_spectra(30, n_points=200, random_state=3, return_X_y=True)
    spectra = make_spectra(30, n_points=200, random_state=3)
    np.testing.assert_array_equal(X, spectra.data)
    np.testing.assert_array_equal(y, spectra.target)


def test_same_seed_same_survey_different_seed_different_survey():
    kwargs = dict(n_points=300, class_fractions=BALANCED)
    a = make_spectra(50, random_state=7, **kwargs)
    b = make_spectra(50, random_state=7, **kwargs)
    c = make_spectra(50, random_state=8, **kwargs)
    for key in ("data", "target", "redshift", "snr", "temperature", "source", "damage"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a.data, c.data)
    assert not np.array_equal(a.target, c.target)


def test_random_state_instances_are_accepted():
    a = make_spectra(10, n_points=100, random_state=np.random.RandomState(0))
    b = make_spectra(10, n_points=100, random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(a.data, b.data)
    c = make_spectra(10, n_points=100, random_state=np.random.default_rng(0))
    assert c.data.shape == (10, 100)


def test_default_fractions_follow_the_contest():
    y = make_spectra(1000, n_points=100, random_state=0, return_X_y=True)[1]
    labels, counts = np.unique(y, return_counts=True)
    counts = dict(zip(labels.tolist(), counts.tolist(), strict=True))
    # 483,851 spectra in the contest: 442,969 stars, 34,288 unknown, 5,231 galaxies, 1,363 qso.
    assert counts == {"star": 915, "unknown": 71, "galaxy": 11, "qso": 3}


@pytest.mark.parametrize(
    ("n", "fractions"),
    [
        (7, {"star": 0.5, "qso": 0.5}),
        (101, {"star": 0.5, "galaxy": 0.25, "qso": 0.125, "unknown": 0.125}),
        (100, None),  # the contest's qso share, 0.28, rounds to 0: still one quasar
        (4, None),
    ],
)
def test_counts_sum_to_n_and_every_class_is_present(n, fractions):
    spectra = make_spectra(n, n_points=64, class_fractions=fractions, random_state=0)
    labels, counts = np.unique(spectra.target, return_counts=True)
    assert counts.sum() == n
    assert labels.tolist() == spectra.target_names.tolist()
    if fractions is not None:
        expected = {k: n * f for k, f in fractions.items()}
        for label, count in zip(labels, counts, strict=True):
            assert abs(count - expected[label]) < 1
    assert "qso" in labels


def test_too_few_spectra_for_every_class():
    # Three spectra, four classes: one each for the three largest shares.
    y = make_spectra(3, n_points=64, random_state=0, return_X_y=True)[1]
    assert sorted(y.tolist()) == ["galaxy", "star", "unknown"]
    y = make_spectra(1, n_points=64, random_state=0, return_X_y=True)[1]
    assert y.tolist() == ["star"]


def test_classes_are_interleaved():
    y = make_spectra(200, n_points=64, class_fractions=BALANCED, random_state=0)["target"]
    assert not (np.sort(y) == y).all()


def test_quasar_broad_lines_sit_at_one_plus_z_times_rest_wavelength():
    spectra = make_spectra(
        150, n_points=2600, class_fractions={"qso": 1.0}, noise=False, random_state=0
    )
    wave, logw = spectra.wavelength, np.log(spectra.wavelength)
    pixel = logw[1] - logw[0]
    checked = 0
    for flux, z in zip(spectra.data.astype(float), spectra.redshift, strict=True):
        for rest in (1549.1, 2798.8):  # C IV, Mg II
            expected = rest * (1.0 + z)
            if not wave[0] * 1.07 < expected < wave[-1] / 1.07:
                continue
            # Continuum: a power law through points 6 % either side, beyond the line wings.
            lo, hi = np.searchsorted(wave, [expected / 1.06, expected * 1.06])
            base = np.exp(np.interp(logw[lo:hi], logw[[lo, hi - 1]], np.log(flux[[lo, hi - 1]])))
            excess = np.clip(flux[lo:hi] - base, 0.0, None)
            centroid = np.sum(excess * logw[lo:hi]) / excess.sum()
            if rest == 2798.8:  # the wings of Si IV can reach the continuum points of C IV
                assert abs(centroid - np.log(expected)) < 2 * pixel
            near = np.flatnonzero(np.abs(logw - np.log(expected)) < 0.01)
            peak = near[np.argmax(flux[near])]
            assert flux[peak] > flux[near[0]] and flux[peak] > flux[near[-1]]
            # The sloped continuum pulls the maximum of a weak line off by several pixels.
            contrast = np.interp(expected, wave[lo:hi], flux[lo:hi] / base)
            if contrast > 1.5:
                assert abs(wave[peak] / expected - 1.0) < 0.003
            checked += 1
    assert checked > 50
    assert spectra.redshift.min() >= 0.1 and spectra.redshift.max() <= 4.0


def test_galaxy_4000_angstrom_break_moves_with_redshift():
    spectra = make_spectra(
        120, n_points=1200, class_fractions={"galaxy": 1.0}, noise=False, random_state=0
    )
    zp = 1.0 + spectra.redshift
    flux = spectra.data.astype(float)
    d4000 = np.array(
        [
            _band_mean(spectra, f, 4050 * s, 4250 * s) / _band_mean(spectra, f, 3750 * s, 3950 * s)
            for f, s in zip(flux, zp, strict=True)
        ]
    )
    # The same ratio 600 A further red, where there is no break.
    control = np.array(
        [
            _band_mean(spectra, f, 4650 * s, 4850 * s) / _band_mean(spectra, f, 4350 * s, 4550 * s)
            for f, s in zip(flux, zp, strict=True)
        ]
    )
    assert np.mean(d4000 > 1.0) > 0.95
    assert np.median(d4000) > 1.3
    assert np.mean(d4000 > control) > 0.95
    assert (spectra.redshift >= 0).all() and spectra.redshift.max() <= 0.5
    # Some galaxies are passive (no emission), most emit.
    assert 0.1 < np.mean(spectra.halpha_ew == 0) < 0.7


def test_hot_stars_are_bluer_than_cool_stars():
    spectra = make_spectra(
        200, n_points=800, class_fractions={"star": 1.0}, noise=False, random_state=0
    )
    flux = spectra.data.astype(float)
    blue_over_red = _band_mean(spectra, flux, 4000, 4500) / _band_mean(spectra, flux, 7000, 7500)
    t = spectra.temperature
    assert 3000 <= t.min() and t.max() <= 30000
    assert np.corrcoef(_ranks(blue_over_red), _ranks(t))[0, 1] > 0.9
    assert blue_over_red[t > 9000].min() > blue_over_red[t < 4000].max()
    # Radial velocities, not cosmological redshifts.
    assert np.abs(spectra.redshift).max() < 500 / 299_792.458


def test_snr_metadata_matches_the_noise_in_the_data(survey):
    # DER_SNR (Stoehr et al. 2008) estimates S/N from the data alone.
    normal = survey.target != "unknown"
    flux = survey.data[normal].astype(float)
    noise = (
        1.482602
        / np.sqrt(6)
        * np.median(np.abs(2 * flux[:, 2:-2] - flux[:, :-4] - flux[:, 4:]), axis=1)
    )
    estimate = np.median(flux, axis=1) / noise
    snr = survey.snr[normal]
    assert np.corrcoef(np.log(estimate), np.log(snr))[0, 1] > 0.95
    assert 0.7 < np.median(estimate / snr) < 1.3
    assert snr.min() >= 2.0 and snr.max() <= 50.0


def test_unknown_spectra_are_faint_or_damaged(survey):
    unknown = survey.target == "unknown"
    assert (survey.damage[~unknown] == "").all()
    assert (survey.damage[unknown] != "").all()
    faint = np.array(["low_snr" in d for d in survey.damage])
    assert faint.any() and (unknown & ~faint).any()
    assert (survey.snr[faint] <= 2.5).all()
    # Dead pixels are exact zeros, which normal spectra never have.
    dead = np.array(["dead_pixels" in d for d in survey.damage])
    assert dead.any()
    assert ((survey.data[dead] == 0).sum(axis=1) >= 5).all()
    assert not (survey.data[~unknown] == 0).any()
    assert set(survey.source[unknown]) <= {"star", "galaxy", "qso", "none"}


def test_noise_false_gives_clean_positive_models():
    spectra = make_spectra(
        40, n_points=300, class_fractions={"star": 0.5, "qso": 0.5}, noise=False, random_state=0
    )
    assert np.isinf(spectra.snr).all()
    assert (spectra.data > 0).all()
    # Without noise the spectra are smooth: no pixel-to-pixel scatter at the red continuum.
    noisy = make_spectra(
        40, n_points=300, class_fractions={"star": 0.5, "qso": 0.5}, random_state=0
    )
    assert _roughness(spectra.data) < 0.1 * _roughness(noisy.data)


def test_classification_is_learnable_but_not_trivial():
    X, y = make_spectra(
        600, n_points=500, class_fractions=BALANCED, random_state=0, return_X_y=True
    )
    X = X.astype(float)
    X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    clf = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    score = f1_score(y_test, clf.predict(X_test), average="macro")
    assert 0.4 < score < 0.99  # chance is ~0.25


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_spectra": 0}, "n_spectra must be an integer >= 1"),
        ({"n_spectra": 2.5}, "n_spectra must be an integer"),
        ({"n_spectra": True}, "n_spectra must be an integer"),
        ({"n_points": 1}, "n_points must be an integer >= 2"),
        ({"wavelength_range": (9100.0, 3700.0)}, "wavelength_range must satisfy 0 < low < high"),
        ({"wavelength_range": (-1.0, 3700.0)}, "wavelength_range must satisfy 0 < low"),
        ({"wavelength_range": (3700.0,)}, "wavelength_range must be a pair"),
        ({"wavelength_range": "abc"}, "wavelength_range must be a pair"),
        ({"snr_range": (0.0, 10.0)}, "snr_range must satisfy 0 < low <= high"),
        ({"snr_range": (10.0, 5.0)}, "snr_range must satisfy 0 < low <= high"),
        ({"snr_range": (1.0, np.inf)}, "snr_range must satisfy"),
        ({"class_fractions": {"star": 0.5, "galaxy": 0.4}}, "must sum to 1, got 0.9"),
        ({"class_fractions": {"quasar": 1.0}}, "unknown label 'quasar'"),
        ({"class_fractions": {"star": 1.5, "qso": -0.5}}, "finite and >= 0"),
        ({"class_fractions": {"star": np.nan}}, "finite and >= 0"),
        ({"class_fractions": [0.5, 0.5]}, "must be a mapping"),
        ({"noise": "yes"}, "noise must be True or False"),
        ({"return_X_y": 1}, "return_X_y must be True or False"),
    ],
)
def test_bad_arguments_raise_helpful_errors(kwargs, message):
    kwargs = {"n_spectra": 5, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make_spectra(**kwargs)


def test_rounded_contest_fractions_are_accepted():
    # The shares as usually quoted sum to 1.0008; small rounding is tolerated.
    fractions = {"star": 0.916, "unknown": 0.071, "galaxy": 0.011, "qso": 0.0028}
    y = make_spectra(50, n_points=64, class_fractions=fractions, random_state=0, return_X_y=True)[1]
    assert y.shape == (50,)
