"""Integrated-gradients attributions and the per-class attribution display."""

import warnings

import matplotlib
import numpy as np
import pytest
import sklearn
import torch
from numpy.testing import assert_allclose
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skspectra import _survey_physics
from skspectra.classifier import SpectrumCNNClassifier
from skspectra.datasets import make_spectra
from skspectra.inspection import (
    KNOWN_LINES,
    SpectrumAttributionDisplay,
    _continuum,
    classifier_input,
    integrated_gradients,
)
from skspectra.resampling import SpectrumResampler, resample_spectra
from skspectra.scaler import FluxScaler

from .conftest import make_lines

TINY = dict(module__filters=(8, 8, 16), f1_epochs=0, batch_size=16, random_state=0)

# The lines make_spectra draws, per class (rest wavelengths in Angstrom).
CLASS_LINES = {
    "star": np.concatenate(
        [
            _survey_physics._BALMER,
            _survey_physics._CA_HK,
            _survey_physics._MG_B,
            _survey_physics._NA_D,
            _survey_physics._FE,
            [4226.7, 4304.4],  # Ca I, G band
        ]
    ),
    "qso": np.concatenate([_survey_physics._QSO_LINES, [5006.8, 4958.9]]),  # broad lines, [O III]
    "galaxy": np.concatenate(
        [
            _survey_physics._GAL_ABSORPTION[:, 0],
            _survey_physics._GAL_BALMER,
            _survey_physics._GAL_EMISSION,
        ]
    ),
}
SURVEY = dict(
    n_points=256,
    wavelength_range=(3700.0, 7000.0),  # blue of the OH sky forest, whose residuals are noise
    class_fractions={"star": 1 / 3, "galaxy": 1 / 3, "qso": 1 / 3},
    snr_range=(10.0, 50.0),
)


@pytest.fixture(scope="module")
def tiny_model():
    X, y = make_lines(n=60, n_points=64)
    return SpectrumCNNClassifier(max_epochs=2, **TINY).fit(X, y), X, y


# --------------------------------------------------------------------------------------------
# Which wavelengths decided, on make_spectra: lines for a trained model, not for shuffled labels
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def surveys():
    train = make_spectra(400, random_state=0, **SURVEY)
    test = make_spectra(90, random_state=1, **SURVEY)
    return train, test


def fit(X, y):
    return make_pipeline(FluxScaler(), SpectrumCNNClassifier(max_epochs=8, **TINY)).fit(X, y)


def line_check(pipe, test, label, n_top=10, tolerance=0.01):
    """Per spectrum of class `label`, at its own redshift: the fraction of its `n_top` points of
    largest attribution (those that count most for the class) that lie within `tolerance` (in
    ln wavelength: 3000 km/s) of the class's lines, and the signed share of the attribution at
    the lines (1 when all of it counts for the class, -1 when all against); means over the
    spectra, and the fraction of the grid that is near lines (the chance of a random point)."""
    rows = test.target == label
    attributions = integrated_gradients(pipe, test.data[rows], target=label, n_steps=8)
    hits, shares, chance = [], [], []
    for a, z in zip(attributions, test.redshift[rows], strict=True):
        rest = test.wavelength / (1 + z)
        near = (np.abs(np.log(rest[:, None] / CLASS_LINES[label])) < tolerance).any(axis=1)
        hits.append(near[np.argsort(-a)[:n_top]].mean())
        if np.abs(a[near]).sum() > 0:  # (a saturated prediction has no gradient at all)
            shares.append(a[near].sum() / np.abs(a[near]).sum())
        chance.append(near.mean())
    return float(np.mean(hits)), float(np.mean(shares)), float(np.mean(chance))


def lines_decide(pipe, test):
    """Stars and quasars are told by their lines: the wavelengths that count most for each fall
    on its lines more often than chance, and the attribution at the lines counts for it.

    Galaxies are in the data but not checked here (they are in the noise-free test below),
    because no check of them held up on noisy spectra. With this
    model, their top wavelengths fall on galaxy lines less often than chance (0.27 vs 0.32,
    share at the lines -0.16; Ca II H&K 0.04 vs 0.05). Better-trained models (512 points, 600
    spectra, 12 epochs) put 8-28 % of them on Ca II H&K (chance 5 %), but the share there moved
    from -0.12 to 0.58 with the seed, and shuffled-label models reached 15 %.

    Nor do they follow the 4000 A break. Measured with this test's data, fit and attributions
    (classifier seeds 0, 1, 2; shuffled labels drawn with default_rng(seed + 1)), the share of
    the galaxies' 10 top wavelengths blue of the break (from the grid's start to 4000 (1 + z) A
    at each galaxy's z) is 0.79, 0.67, 0.77 for the model, 0.30, 0.30, 0.55 for shuffled labels,
    chance 0.32; but 0.76, 0.66, 0.73 for the model with the redshifts shuffled among the
    galaxies. The share is high because the top wavelengths sit at the blue end of the grid
    (32-50 % of them below 3940 A, chance 10 %; the rank correlation of their median with z is
    0.18-0.35, p 0.06-0.35), which is blue of the break for nearly every galaxy, whatever its
    z. In the band that moves with the break (rest 3750-4000 A) the model is at chance: 0.10,
    0.09, 0.14 against 0.07, 0.11, 0.15 shuffled, chance 0.10; within 100 A (rest) of 4000 A,
    0.04-0.11, chance 0.08. At seeds 3-5 the blue share was 0.87, 0.75, 0.74 against 0.61, 0.53,
    0.33 shuffled, so a bound between the two (0.61 < x < 0.67) would be a knife edge."""
    checks = {label: line_check(pipe, test, label) for label in ("star", "qso")}
    ok = all(
        hits >= 0.4 and hits > 1.4 * chance and share > 0.35
        for hits, share, chance in checks.values()
    )
    return ok, checks


def labels_without_class(target, seed=1):
    """Labels that carry no class: each true class split evenly over all labels, so no label
    correlates with what the spectra are."""
    shuffled = target.copy()
    rng = np.random.default_rng(seed)
    for label in np.unique(target):
        rows = rng.permutation(np.flatnonzero(target == label))
        shuffled[rows] = np.resize(np.unique(target), len(rows))
    return shuffled


def fit_without_class(fit, X, y):
    with warnings.catch_warnings():
        # The classifier may warn that it did not learn its training labels: it cannot.
        warnings.simplefilter("ignore", UserWarning)
        return fit(X, labels_without_class(y))


def test_top_wavelengths_fall_on_each_class_lines_and_not_for_shuffled_labels(surveys):
    train, test = surveys
    ok, checks = lines_decide(fit(train.data, train.target), test)
    assert ok, checks
    pipe_shuffled = fit_without_class(fit, train.data, train.target)
    ok_shuffled, checks_shuffled = lines_decide(pipe_shuffled, test)
    assert not ok_shuffled, checks_shuffled
    for label, (_, share, _) in checks_shuffled.items():
        assert share < checks[label][1]


def over_continuum(X):
    """Each spectrum over its running median (31 points), minus 1: its lines, not its colour."""
    continuum = _continuum(X, 31)
    return X / np.where(np.abs(continuum) > 1e-3, continuum, 1e-3) - 1.0


def test_every_class_is_told_by_its_own_lines_when_the_lines_are_all_there_is():
    """Noise-free spectra over their continuum: no colour and no noise to tell a class by, so a
    model that has learnt the classes must use lines, and each class's attribution counts for
    it at its own lines (at each spectrum's redshift). On noisy spectra galaxies fail this: part
    of their attribution sits at the grid's blue end, where red galaxies are faint (see
    lines_decide).

    Measured at classifier seeds 0-5 (shuffled labels from default_rng(seed + 1)): the signed
    share at the lines was 0.63 to 0.75 for stars, 0.43 to 0.74 for quasars and 0.47 to 0.88
    for galaxies, their mean 0.58 to 0.76; for the shuffled labels -0.47 to 0.42, -0.02 to 0.39
    and -0.39 to 0.59, their mean -0.06 to 0.16, and below the trained model's in each class and
    seed. The top wavelengths fall on lines for both (0.63-0.95): without noise nearly all the
    input's departures from the continuum are lines, so only the sign tells them apart."""
    survey = dict(SURVEY, noise=False)
    train = make_spectra(600, random_state=0, **survey)
    test = make_spectra(90, random_state=1, **survey)

    def fit_lines(X, y):
        steps = [FluxScaler(), FunctionTransformer(over_continuum)]
        return make_pipeline(*steps, SpectrumCNNClassifier(max_epochs=20, **TINY)).fit(X, y)

    trained = fit_lines(train.data, train.target)
    checks = {label: line_check(trained, test, label) for label in CLASS_LINES}
    for label, (hits, share, chance) in checks.items():
        assert hits >= 0.4 and hits > 1.4 * chance and share > 0.35, (label, checks)
    assert np.mean([share for _, share, _ in checks.values()]) > 0.5, checks

    without_class = fit_without_class(fit_lines, train.data, train.target)
    shuffled = {label: line_check(without_class, test, label) for label in CLASS_LINES}
    assert np.mean([share for _, share, _ in shuffled.values()]) < 0.3, shuffled
    for label, (_, share, _) in shuffled.items():
        assert share < checks[label][1], (label, shuffled, checks)


# --------------------------------------------------------------------------------------------
# The integrated gradients themselves
# --------------------------------------------------------------------------------------------


def member_log_proba(clf, X, label):
    """The mean over the ensemble's members of each member's log probability of `label`."""
    k = list(clf.classes_).index(label)
    network = clf.module_
    members = list(network.networks) if hasattr(network, "networks") else [network]
    offset = getattr(clf, "input_mean_", None)
    x = torch.as_tensor((X if offset is None else X - offset)[:, None, :])
    network.eval()
    with torch.no_grad():
        return np.mean(
            [torch.log_softmax(m(x).double(), dim=1)[:, k].numpy() for m in members], axis=0
        )


@pytest.mark.parametrize("baseline", ["zero", "continuum"])
def test_attributions_sum_to_the_change_of_log_probability(tiny_model, baseline):
    clf, X, y = tiny_model
    attributions = integrated_gradients(clf, X[:6], target=y[:6], baseline=baseline, n_steps=256)
    assert attributions.shape == (6, 64) and attributions.dtype == np.float64
    from skspectra.inspection import _baseline

    base = _baseline(X[:6], baseline, None)
    expected = [
        member_log_proba(clf, X[i : i + 1], y[i]) - member_log_proba(clf, base[i : i + 1], y[i])
        for i in range(6)
    ]
    assert_allclose(attributions.sum(axis=1), np.ravel(expected), atol=5e-3, rtol=2e-2)


def test_an_ensemble_is_explained_member_by_member_and_a_centred_input_as_the_model_sees_it():
    X, y = make_lines(n=60, n_points=64)
    params = dict(max_epochs=2, n_networks=3, center=True, **TINY)
    try:
        clf = SpectrumCNNClassifier(**params).fit(X, y)
    except (TypeError, ValueError) as exc:  # a classifier without these parameters
        pytest.skip(f"no ensemble or centring parameter: {exc}")
    members = list(getattr(clf.module_, "networks", []))
    assert len(members) == 3
    attributions = integrated_gradients(clf, X[:4], target=y[:4], baseline="zero", n_steps=128)
    # The mean of the members' integrated gradients: it sums to the change of their mean log
    # probability (whatever the module does with the input_mean_ centring).
    expected = [
        member_log_proba(clf, X[i : i + 1], y[i]) - member_log_proba(clf, 0 * X[i : i + 1], y[i])
        for i in range(4)
    ]
    assert_allclose(attributions.sum(axis=1), np.ravel(expected), atol=5e-3, rtol=2e-2)
    # Each member explained alone (swapped in as the classifier's module), then averaged: the
    # same attributions.
    whole, alone = clf.module_, []
    for member in members:
        clf.module_ = member
        alone.append(integrated_gradients(clf, X[:4], target=y[:4], baseline="zero", n_steps=16))
    clf.module_ = whole
    assert_allclose(
        integrated_gradients(clf, X[:4], target=y[:4], baseline="zero", n_steps=16),
        np.mean(alone, axis=0),
        rtol=1e-4,
        atol=1e-7,
    )


def test_target_defaults_to_the_prediction_and_is_checked(tiny_model):
    clf, X, _ = tiny_model
    predicted = clf.predict(X[:5])
    assert_allclose(
        integrated_gradients(clf, X[:5], n_steps=4),
        integrated_gradients(clf, X[:5], target=predicted, n_steps=4),
    )
    with pytest.raises(ValueError, match="target 'comet' is not a class"):
        integrated_gradients(clf, X[:2], target="comet")
    with pytest.raises(ValueError, match="baseline has shape"):
        integrated_gradients(clf, X[:2], baseline=np.zeros(3))
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        integrated_gradients(clf, X[:2], n_steps=0)
    with pytest.raises(ValueError, match="no fitted torch module"):
        integrated_gradients(SpectrumCNNClassifier(), X[:2])
    # The module is left in the mode it was in.
    clf.module_.train()
    integrated_gradients(clf, X[:2], n_steps=2)
    assert clf.module_.training
    clf.module_.eval()


def test_pipeline_attributions_are_on_the_resampled_grid(tiny_model):
    clf, X, y = tiny_model
    grid = np.linspace(5000.0, 5630.0, 64)
    own = np.geomspace(4990.0, 5640.0, 97)
    X_own = resample_spectra(X, grid, own, fill_value=0.0).flux.astype(np.float32)
    pipe = make_pipeline(SpectrumResampler(wavelength=grid), clf)
    pipe[0].fit(X_own, wavelength=own)
    Xc = classifier_input(pipe, X_own, wavelength=own)
    assert Xc.shape == (60, 64)
    assert_allclose(
        integrated_gradients(pipe, X_own[:4], wavelength=own, n_steps=4),
        integrated_gradients(clf, Xc[:4], n_steps=4),
    )


# --------------------------------------------------------------------------------------------
# The display
# --------------------------------------------------------------------------------------------


def test_display_draws_each_class_with_the_lines_in_the_grid(tiny_model):
    clf, X, y = tiny_model
    backend = matplotlib.get_backend()
    wl = np.linspace(4800.0, 5100.0, 64)  # holds H-beta and [O III]
    display = SpectrumAttributionDisplay.from_estimator(clf, X, y, wavelength=wl, n_steps=4)
    assert matplotlib.get_backend() == backend
    assert len(display.ax_) == 3 and display.figure_ is display.ax_[0].figure
    assert display.attributions.shape == (3, 64) and display.mean_spectra.shape == (3, 64)
    assert list(display.classes) == list(clf.classes_) and list(display.counts) == [20] * 3
    assert set(display.lines_) == {"H$\\beta$", "[O III]"}
    assert display.lines_["[O III]"] == KNOWN_LINES["[O III]"]
    # The same grid in nm marks the same lines, at nm positions.
    in_nm = SpectrumAttributionDisplay.from_estimator(
        clf, X, y, wavelength=wl / 10, unit="nm", n_steps=2, max_per_class=5
    )
    assert in_nm.lines_["[O III]"] == pytest.approx(500.68)
    # Without a grid: point indices and no lines; into given axes.
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1)
    plain = SpectrumAttributionDisplay.from_estimator(clf, X, y, n_steps=2, ax=axes)
    assert plain.lines_ == {} and plain.figure_ is fig and plain.wavelength is None
    with pytest.raises(ValueError, match="ax holds 2 axes for 3 classes"):
        plain.plot(ax=axes[:2])
    with pytest.raises(ValueError, match="unknown wavelength unit"):
        SpectrumAttributionDisplay(
            wavelength=wl,
            mean_spectra=display.mean_spectra,
            attributions=display.attributions,
            classes=display.classes,
            unit="parsec-ish",
        ).plot()
    plt.close("all")


def test_display_counts_each_spectrum_once_unless_told_not_to(tiny_model):
    clf, X, y = tiny_model
    X = X.copy()
    X[0] *= 20.0  # one spectrum whose attributions dwarf its class's others
    label = y[0]
    rows = np.flatnonzero(y == label)
    raw = integrated_gradients(clf, X[rows], target=y[rows], n_steps=2)
    share = raw / np.abs(raw).sum(axis=1, keepdims=True)
    k = list(clf.classes_).index(label)
    kwargs = dict(n_steps=2, max_per_class=None)
    even = SpectrumAttributionDisplay.from_estimator(clf, X, y, **kwargs)
    assert_allclose(even.attributions[k], share.mean(axis=0), rtol=1e-6, atol=1e-12)
    # Every class's mean of shares sums (in absolute value) to at most 1.
    assert (np.abs(even.attributions).sum(axis=1) <= 1 + 1e-9).all()
    plain = SpectrumAttributionDisplay.from_estimator(clf, X, y, normalize=False, **kwargs)
    assert_allclose(plain.attributions[k], raw.mean(axis=0), rtol=1e-6, atol=1e-12)
    # The bright spectrum makes up most of the plain mean, one share in twenty of the other.
    mine = np.abs(raw[0]).sum() / np.abs(raw).sum()
    assert mine > 0.3 and abs(np.abs(share[0]).sum() / len(rows) - 1 / len(rows)) < 1e-9
    import matplotlib.pyplot as plt

    plt.close("all")


def test_display_with_a_resampling_pipeline_uses_its_grid(tiny_model):
    clf, X, y = tiny_model
    grid = np.linspace(6400.0, 6700.0, 64)
    own = np.linspace(6350.0, 6750.0, 80)
    X_own = resample_spectra(X, grid, own, fill_value=0.0).flux.astype(np.float32)
    pipe = make_pipeline(SpectrumResampler(wavelength=grid), clf)
    pipe[0].fit(X_own, wavelength=own)
    with sklearn.config_context(enable_metadata_routing=True):
        display = SpectrumAttributionDisplay.from_estimator(
            pipe, X_own, y, wavelength=own, n_steps=2, max_per_class=4
        )
    assert_allclose(display.wavelength, grid)
    assert list(display.lines_) == ["H$\\alpha$"] and list(display.counts) == [4] * 3
    import matplotlib.pyplot as plt

    plt.close("all")
