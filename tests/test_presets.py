"""skspectra.presets: the contest model in one call, and the network blended with a logistic
regression."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

from skspectra import FluxScaler, macro_f1_scorer, save
from skspectra.presets import blended_pipeline, seed_pipeline

from .conftest import FAST, make_lines

BLEND_FAST = {**FAST, "validation_split": None, "max_epochs": 4, "f1_epochs": 1}


def test_seed_pipeline_builds_the_contest_network_and_schedule():
    rng = np.random.default_rng(0)
    X = rng.normal(100.0, 10.0, size=(8, 2600)).astype(np.float32)
    y = np.array(["star", "galaxy", "qso", "unknown"] * 2)
    pipe = seed_pipeline(max_epochs=0, f1_epochs=0, validation_split=None).fit(X, y)
    scaler, clf = pipe[0], pipe[-1]
    assert isinstance(scaler, FluxScaler)
    np.testing.assert_allclose(scaler.transform(X[:1]), X[:1] / 100.0, rtol=1e-6)
    net = clf.module_
    assert sum(p.numel() for p in net.parameters()) == 748_324  # SEED_MODEL.md
    assert net.n_pools == 7
    assert isinstance(net.dropout, nn.Dropout1d) and net.dropout.p == 0.5
    assert not any(isinstance(m, nn.BatchNorm1d) for m in net.modules())
    assert clf.augment is False
    assert clf.center is False
    assert (clf.batch_size, clf.lr, clf.f1_lr, clf.weight_decay) == (160, 1e-3, 1e-4, 0.0)
    assert (clf.max_epochs, clf.f1_epochs, clf.batches_per_epoch) == (0, 0, 500)  # overridden


def test_seed_pipeline_draws_the_contests_class_fractions():
    """SEED_MODEL.md: batches of 160 with star 0.8, unknown 0.1, galaxy 0.05, qso 0.05."""
    from skorch.callbacks import Callback

    class Batches(Callback):
        def initialize(self):
            self.counts = []
            return self

        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            if training:
                self.counts.append(np.bincount(batch[1].numpy(), minlength=4))

    rng = np.random.default_rng(0)
    X = rng.normal(100.0, 10.0, size=(200, 512)).astype(np.float32)
    y = np.array(["star"] * 170 + ["unknown"] * 15 + ["galaxy"] * 10 + ["qso"] * 5)
    spy = Batches()
    seed_pipeline(
        max_epochs=1, f1_epochs=0, batches_per_epoch=2, validation_split=None, callbacks=[spy]
    ).fit(X, y)
    # classes_ are sorted: galaxy, qso, star, unknown
    assert [c.tolist() for c in spy.counts] == [[8, 8, 128, 16]] * 2


def test_blended_pipeline_averages_the_network_and_the_regression_on_string_labels():
    X, y = make_lines(n=60, classes=("galaxy", "star"))
    model = blended_pipeline(random_state=0, **BLEND_FAST).fit(X[:40], y[:40])
    assert list(model.classes_) == ["galaxy", "star"]
    cnn, logreg = model.named_estimators_["cnn"], model.named_estimators_["logreg"]
    # The members are fitted on encoded labels; the blend is their plain mean.
    expected = (cnn.predict_proba(X[40:]) + logreg.predict_proba(X[40:])) / 2
    np.testing.assert_allclose(model.predict_proba(X[40:]), expected, rtol=1e-6)
    assert set(model.predict(X[40:])) <= {"galaxy", "star"}
    assert (model.predict(X[40:]) == y[40:]).mean() >= 0.9  # one line tells the classes apart
    # Reproducible: the same random_state, the same probabilities.
    again = clone(model).fit(X[:40], y[:40])
    np.testing.assert_array_equal(again.predict_proba(X[40:]), model.predict_proba(X[40:]))


def test_blended_pipeline_fits_classes_of_fewer_than_five_spectra():
    """StratifiedKFold(5) refuses labels where every class has fewer than 5 members; the
    regression's CV takes as many folds as the largest class has spectra instead."""
    X, y = make_lines(n=9, classes=("a", "b", "c"))  # three of each
    model = blended_pipeline(random_state=0, **BLEND_FAST).fit(X, y)
    assert model.named_estimators_["logreg"][-1].cv.get_n_splits(y=y) == 3
    assert model.predict_proba(X).shape == (9, 3)


def test_blended_pipeline_tunes_in_grid_search_and_is_refused_by_save(tmp_path):
    X, y = make_lines(n=40, classes=("galaxy", "star"))
    search = GridSearchCV(
        blended_pipeline(random_state=0, **BLEND_FAST),
        {"cnn__spectrumcnnclassifier__max_epochs": [1, 2]},
        scoring=macro_f1_scorer,
        cv=2,
    ).fit(X, y)
    assert search.best_estimator_.named_estimators_["cnn"][-1].max_epochs in (1, 2)
    # skspectra.save writes a network pipeline only: the blend goes to joblib (documented).
    with pytest.raises(TypeError):
        save(search.best_estimator_, tmp_path / "blend.skspectra")
    assert not (tmp_path / "blend.skspectra").exists()
