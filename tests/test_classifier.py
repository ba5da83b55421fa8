"""SpectrumCNNClassifier: the two-phase fit, sampling, splits, labels, seeds, persistence."""

import copy
import os
import pickle
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_no_attributes_set_in_init
from skorch.callbacks import Callback

from skspectra import FluxScaler, SpectrumCNNClassifier, SpectrumResNet, macro_f1_scorer
from skspectra.network import NetworkEnsemble

from .conftest import FAST, make_alike, make_lines


class Recorder(Callback):
    """Snapshots of what each epoch trained with, and the weights it ended with."""

    def initialize(self):
        # Trailing underscores keep the records out of get_params (and so out of clone).
        self.criteria_, self.lrs_, self.weights_, self.valid_index_ = [], [], [], []
        self.decays_ = []
        self.start_weights_, self.batch_labels_, self.valid_sizes_ = [], [], []
        self.epoch_start_weights_ = []
        return self

    def on_train_begin(self, net, **kwargs):
        self.start_weights_.append(_state(net))

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.epoch_start_weights_.append(_state(net))
        self.criteria_.append(type(net.criterion_).__name__)
        self.lrs_.append(net.optimizer_.param_groups[0]["lr"])
        self.decays_.append({g["weight_decay"] for g in net.optimizer_.param_groups})
        if dataset_valid is not None:
            self.valid_index_.append(dataset_valid.index.numpy().copy())

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.batch_labels_.append(batch[1].numpy().copy())
        else:
            self.valid_sizes_.append(len(batch[1]))

    def on_epoch_end(self, net, **kwargs):
        self.weights_.append(_state(net))


def _state(net):
    return {k: v.detach().clone() for k, v in net.module_.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def fitted():
    """One fitted classifier with a recorder, shared by the read-only tests of this module."""
    X, y = make_lines(n=150)
    rec = Recorder()
    clf = SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 6, "f1_epochs": 4}, random_state=0, callbacks=[("rec", rec)]
    )
    clf.fit(X, y)
    return clf, rec, X, y


def test_default_sets_only_parameters_in_init():
    check_no_attributes_set_in_init("SpectrumCNNClassifier", SpectrumCNNClassifier())


def test_learns_toy_spectra(fitted):
    clf, _, X, y = fitted
    X_test, y_test = make_lines(n=90, seed=1)
    assert f1_score(y_test, clf.predict(X_test), average="macro") > 0.9


def test_phases_switch_loss_and_learning_rate(fitted):
    clf, rec, _, _ = fitted
    assert rec.criteria_ == ["CrossEntropyLoss"] * 6 + ["SoftMacroF1Loss"] * 4
    assert rec.lrs_ == [1e-3] * 6 + [1e-4] * 4
    assert rec.decays_ == [{0}] * 10  # no L2 penalty by default, in either phase
    assert clf.history[:, "phase"] == [1] * 6 + [2] * 4
    # The user's parameters are untouched and the net is left in its phase-1 configuration.
    assert clf.lr == 1e-3 and clf.criterion is torch.nn.CrossEntropyLoss
    assert isinstance(clf.criterion_, torch.nn.CrossEntropyLoss)


def test_weight_decay_reaches_the_optimizer_unless_the_user_set_it_there():
    X, y = make_lines(n=40)
    quick = {**FAST, "max_epochs": 1, "f1_epochs": 1, "validation_split": None}

    def decays(**params):
        clf = SpectrumCNNClassifier(**quick, **params, random_state=0).fit(X, y)
        return {g["weight_decay"] for g in clf.optimizer_.param_groups}

    assert decays(weight_decay=0) == {0}
    assert decays(weight_decay=0.01, optimizer__weight_decay=0.5) == {0.5}
    assert decays(optimizer=torch.optim.SGD, weight_decay=0.2) == {0.2}

    def sgd(params, **kwargs):  # an optimizer factory that forwards its keyword arguments
        return torch.optim.SGD(params, **kwargs)

    assert decays(optimizer=sgd, weight_decay=0.3) == {0.3}
    with pytest.raises(ValueError, match="LBFGS takes no weight_decay: set weight_decay=0"):
        decays(optimizer=torch.optim.LBFGS, weight_decay=0.01)
    # The default, 0, is not passed to an optimizer that has no such argument.
    clf = SpectrumCNNClassifier(**quick, optimizer=torch.optim.LBFGS, random_state=0).fit(X, y)
    assert "weight_decay" not in clf.optimizer_.param_groups[0]


def test_best_epoch_weights_are_restored(fitted):
    clf, rec, _, _ = fitted
    f1 = clf.history[:, "valid_f1"]
    assert clf.best_epoch_ == int(np.argmax(f1)) + 1  # first epoch with the best score
    assert _same(_state(clf), rec.weights_[clf.best_epoch_ - 1])
    assert clf.history[:, "valid_f1_best"].count(True) >= 1


def test_phase_two_starts_from_best_phase_one_weights(fitted):
    clf, rec, _, _ = fitted
    best_phase1 = int(np.argmax(clf.history[:6, "valid_f1"]))
    assert best_phase1 < 5  # otherwise the test would not tell the best from the last
    assert _same(rec.epoch_start_weights_[6], rec.weights_[best_phase1])


def test_validation_split_is_fixed_stratified_and_seeded(fitted):
    clf, rec, _, y = fitted
    first = rec.valid_index_[0]
    assert all(np.array_equal(first, idx) for idx in rec.valid_index_)
    assert len(first) == 30  # 20 % of 150
    _, counts = np.unique(y[first], return_counts=True)
    assert counts.tolist() == [10, 10, 10]


def test_either_phase_can_be_skipped_and_probabilities_sum_to_one():
    X, y = make_lines()
    for epochs, f1_epochs in [(3, 0), (0, 3)]:
        rec = Recorder()
        clf = SpectrumCNNClassifier(
            **{**FAST, "max_epochs": epochs, "f1_epochs": f1_epochs},
            random_state=0,
            callbacks=[("rec", rec)],
        ).fit(X, y)
        assert len(clf.history) == 3
        expected = "CrossEntropyLoss" if epochs else "SoftMacroF1Loss"
        assert set(rec.criteria_) == {expected}
        proba = clf.predict_proba(X)
        assert proba.dtype == np.float64 and proba.shape == (len(X), 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        assert (proba >= 0).all()


@pytest.mark.parametrize(
    "labels", [["galaxy", "qso", "star"], [3, 10, 42], [-1, 0, 7], [True, False, True]]
)
def test_predict_returns_the_original_labels(labels):
    labels = list(dict.fromkeys(labels))
    X, y_idx = make_lines(n=90, classes=tuple(range(len(labels))))
    y = np.array(labels)[y_idx.astype(int)]
    clf = SpectrumCNNClassifier(**FAST, random_state=0).fit(X, y)
    assert clf.classes_.tolist() == sorted(labels)
    pred = clf.predict(X)
    assert pred.dtype == y.dtype
    assert set(pred) <= set(labels)
    assert (pred == y).mean() > 0.8


def test_input_layouts_agree():
    X, y = make_lines(n=90)
    preds = []
    for Xi in (X, X[:, None, :], pd.DataFrame(X)):
        clf = SpectrumCNNClassifier(**FAST, random_state=0).fit(Xi, y)
        assert clf.n_features_in_ == X.shape[1]
        preds.append(clf.predict_proba(Xi))
    np.testing.assert_array_equal(preds[0], preds[1])
    np.testing.assert_array_equal(preds[0], preds[2])


def test_bad_input_gets_a_clear_error():
    X, y = make_lines(n=60)
    clf = SpectrumCNNClassifier(**FAST)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.raises(ValueError, match="2 channels"):
        clf.fit(np.stack([X, X], axis=1), y)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.full(len(X), "star"))
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(np.where(np.eye(60, 64, dtype=bool), np.nan, X), y)
    deep = SpectrumCNNClassifier(**{**FAST, "module__n_pools": 2})
    with pytest.raises(ValueError, match="at least 4"):
        deep.fit(X[:, :3], y)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="64 features"):
        clf.predict(X[:, :50])
    with pytest.raises(ValueError, match="unseen"):
        clf.set_params(warm_start=True).fit(X, np.full(len(X), "comet"))
    with pytest.raises(ValueError, match="contradicts the data"):
        SpectrumCNNClassifier(**FAST, module__n_classes=7).fit(X, y)


def test_class_fractions_set_every_batch():
    X, y = make_lines(n=200)
    y[:150] = "star"  # galaxy and qso become rare
    rec = Recorder()
    clf = SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 2, "f1_epochs": 1},
        class_fractions={"star": 0.5, "galaxy": 0.25, "qso": 0.25},
        batches_per_epoch=7,
        random_state=0,
        callbacks=[("rec", rec)],
    ).fit(X, y)
    assert clf.history[:, "train_batch_count"] == [7, 7, 7]
    for labels in rec.batch_labels_:  # encoded: galaxy 0, qso 1, star 2
        assert np.bincount(labels, minlength=3).tolist() == [8, 8, 16]


def test_balanced_fractions_and_plain_shuffling():
    X, y = make_lines(n=120)
    y[:90] = "star"
    rec = Recorder()
    SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 1, "f1_epochs": 0, "batch_size": 30},
        class_fractions="balanced",
        random_state=0,
        callbacks=[("rec", rec)],
    ).fit(X, y)
    assert all(np.bincount(b, minlength=3).tolist() == [10, 10, 10] for b in rec.batch_labels_)
    rec = Recorder()
    SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 1, "f1_epochs": 0, "batch_size": 8},
        random_state=0,
        callbacks=[("rec", rec)],
    ).fit(X, y)
    # One pass over the 96 training spectra is 12 batches, each index seen once.
    assert len(rec.batch_labels_) == 12
    assert sum(len(b) for b in rec.batch_labels_) == 96


@pytest.mark.parametrize(
    ("n", "split", "expected"),
    [
        (10, None, 10),  # capped at the training set
        (30, None, 16),
        (40, 0.25, 16),
        (150, None, 50),
        (150, 0.2, 40),  # a third of the 120 training spectra, not of all 150
        (200, None, 64),
        (400, 0.2, 64),
    ],
)
def test_auto_batch_size_is_a_third_of_the_training_spectra_within_16_to_64(n, split, expected):
    X, y = make_lines(n=n)
    rec = Recorder()
    params = {**FAST, "max_epochs": 1, "f1_epochs": 0, "validation_split": split}
    del params["batch_size"]  # the default, "auto"
    clf = SpectrumCNNClassifier(**params, batches_per_epoch=2, random_state=0, callbacks=[rec])
    clf.fit(X, y)
    assert [len(b) for b in rec.batch_labels_] == [expected, expected]
    assert clf.batch_size_ == max(expected, 16) and clf.batch_size == "auto"
    if split is not None:  # validation in batches of 64, the last one shorter
        n_valid = round(n * split)
        assert rec.valid_sizes_ == [64] * (n_valid // 64) + [n_valid % 64] * (n_valid % 64 > 0)


def test_iterator_batch_sizes_set_by_the_user_override_batch_size():
    X, y = make_lines(n=100)
    rec = Recorder()
    SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 1, "f1_epochs": 0},
        iterator_train__batch_size=7,
        iterator_valid__batch_size=-1,  # skorch's "the whole set"
        batches_per_epoch=2,
        random_state=0,
        callbacks=[("rec", rec)],
    ).fit(X, y)
    assert [len(b) for b in rec.batch_labels_] == [7, 7]
    assert rec.valid_sizes_ == [20]
    rec = Recorder()
    SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 1, "f1_epochs": 0},
        iterator_train__batch_size=-1,
        batches_per_epoch=2,
        random_state=0,
        callbacks=[("rec", rec)],
    ).fit(X, y)
    assert [len(b) for b in rec.batch_labels_] == [80, 80]


@pytest.mark.parametrize(
    "n, expected",
    [
        (30, 10),  # batches of 16: two would be one pass
        (60, 10),  # batches of 20
        (1000, 16),  # batches of 64: one pass
    ],
)
def test_an_epoch_is_one_pass_but_at_least_10_batches(n, expected):
    from skorch.callbacks import ProgressBar

    X, y = make_lines(n=n)
    clf = SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 1, "f1_epochs": 0, "batch_size": "auto", "validation_split": None},
        # skorch's progress bar counts the batches (its own total assumes one pass)
        callbacks=[("progress", ProgressBar(batches_per_epoch="count"))],
        random_state=0,
    ).fit(X, y)
    assert clf.history[-1, "train_batch_count"] == expected


def test_validation_split_by_splitter_and_none():
    X, y = make_lines(n=60)
    fold = np.where(np.arange(60) < 15, 0, -1)
    rec = Recorder()
    SpectrumCNNClassifier(
        **{**FAST, "validation_split": PredefinedSplit(fold)},
        random_state=0,
        callbacks=[("rec", rec)],
    ).fit(X, y)
    assert rec.valid_index_[0].tolist() == list(range(15))
    clf = SpectrumCNNClassifier(**{**FAST, "validation_split": None}, random_state=0).fit(X, y)
    assert clf.best_epoch_ is None
    assert "valid_f1" not in clf.history[-1]


def test_random_state_reproduces_the_fit_to_the_bit():
    X, y = make_lines(n=90)
    before = torch.random.get_rng_state()
    a = SpectrumCNNClassifier(**FAST, random_state=3).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is left alone
    b = SpectrumCNNClassifier(**FAST, random_state=3).fit(X, y)
    c = SpectrumCNNClassifier(**FAST, random_state=4).fit(X, y)
    assert _same(_state(a), _state(b))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not _same(_state(a), _state(c))


def test_seeded_fits_in_threads_match_the_serial_fit():
    # Torch draws dropout and augmentation from one process-wide generator: threaded fits
    # interleaved their draws (4 of 4 differed from the serial fit) until they took turns.
    X, y = make_lines(n=60)
    clf = SpectrumCNNClassifier(**FAST, random_state=0)
    serial = clone(clf).fit(X, y).predict_proba(X)
    before = torch.random.get_rng_state()
    with joblib.parallel_config(backend="threading"):
        threaded = joblib.Parallel(n_jobs=3)(
            joblib.delayed(lambda: clone(clf).fit(X, y).predict_proba(X))() for _ in range(3)
        )
    assert all(np.array_equal(p, serial) for p in threaded)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_fits_in_two_fresh_processes_are_identical(tmp_path):
    # Bitwise reproducibility holds across processes for the same number of torch threads.
    script = textwrap.dedent(f"""
        import sys, numpy as np, torch
        sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})
        from tests.conftest import FAST, make_lines
        from skspectra import SpectrumCNNClassifier
        torch.set_num_threads(1)
        X, y = make_lines(n=90)
        clf = SpectrumCNNClassifier(**FAST, random_state=5).fit(X, y)
        np.save(sys.argv[1], clf.predict_proba(X))
    """)
    outputs = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for out in outputs:
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(outputs[0]), np.load(outputs[1]))


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(fitted):
    clf = fitted[0]
    copy = clone(clf)
    assert not copy.initialized_
    assert copy.get_params()["module__filters"] == FAST["module__filters"]
    with pytest.raises(NotFittedError):
        copy.predict(fitted[2])


def test_pipeline_grid_search_in_two_processes_matches_one():
    X, y = make_lines(n=120)
    pipe = make_pipeline(FluxScaler(), SpectrumCNNClassifier(**FAST, random_state=0))
    grid = {"spectrumcnnclassifier__lr": [1e-3, 3e-3]}
    results = []
    for n_jobs in (1, 2):
        search = GridSearchCV(pipe, grid, scoring=macro_f1_scorer, cv=2, n_jobs=n_jobs)
        search.fit(X, y)
        results.append(search.cv_results_["mean_test_score"])
    assert results[0].min() > 0.8
    np.testing.assert_allclose(results[0], results[1], atol=0.02)


def test_a_soft_voting_ensemble_of_seeds_averages_its_members():
    # The README's recipe for small sets: networks that differ only in their seed, soft voting.
    X, y = make_lines(n=90)
    members = [
        (
            f"net{seed}",
            make_pipeline(FluxScaler(), SpectrumCNNClassifier(**FAST, random_state=seed)),
        )
        for seed in range(3)
    ]
    vote = VotingClassifier(members, voting="soft").fit(X, y)
    proba = vote.predict_proba(X)
    mean = np.mean([m.predict_proba(X) for m in vote.estimators_], axis=0)
    np.testing.assert_allclose(proba, mean, rtol=1e-6)
    assert not np.allclose(
        vote.estimators_[0].predict_proba(X), vote.estimators_[1].predict_proba(X)
    )
    assert set(vote.predict(X)) <= {"galaxy", "qso", "star"}
    assert (vote.predict(X) == y).mean() > 0.9


def test_joblib_round_trip_in_a_fresh_process(tmp_path, fitted):
    clf, _, X, _ = fitted
    pipe = make_pipeline(FluxScaler(), clone(clf).set_params(callbacks=None)).fit(*make_lines())
    joblib.dump(pipe, tmp_path / "model.joblib")
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(f"""
        import joblib, numpy as np
        pipe = joblib.load({str(tmp_path / "model.joblib")!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "proba.npy")!r}, pipe.predict_proba(X))
    """)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), pipe.predict_proba(X))


def test_pickle_holds_weights_but_no_optimizer_state():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 2600)).astype(np.float32)
    y = np.repeat(["galaxy", "star"], 12)
    clf = SpectrumCNNClassifier(
        max_epochs=1, f1_epochs=1, batches_per_epoch=1, batch_size=8, n_networks=1, random_state=0
    ).fit(X, y)
    weights = sum(t.numel() * t.element_size() for t in clf.module_.state_dict().values())
    # The seed network with 2 classes (748,066 float32 weights) and batch normalisation after
    # its 24 convolutions: 5,760 scales and shifts, 5,760 running means and variances, and 24
    # int64 batch counters.
    assert weights == 4 * (748_066 + 2 * 5_760) + 8 * 24
    size = len(pickle.dumps(clf))
    assert size < 1.1 * weights  # Adam's two moment buffers would make it three times that
    assert not clf.optimizer_.state_dict()["state"]


def test_monte_carlo_dropout_flags_what_the_model_is_unsure_of(fitted):
    clf, _, X, y = fitted
    clean = clf.predict_uncertainty(X[:30], n_samples=20, random_state=0)
    assert clean.proba.shape == (30, 3) and clean.std.shape == (30, 3)
    np.testing.assert_allclose(clean.proba.sum(axis=1), 1.0, atol=1e-12)
    assert (clean.std > 0).any()  # dropout really was on
    again = clf.predict_uncertainty(X[:30], n_samples=20, random_state=0)
    np.testing.assert_array_equal(clean.proba, again.proba)
    # Pure noise, with no line at all, is less certain than the training spectra.
    noise = np.random.default_rng(1).normal(scale=0.5, size=(30, X.shape[1])).astype(np.float32)
    unsure = clf.predict_uncertainty(noise, n_samples=20, random_state=0)
    assert unsure.entropy.mean() > clean.entropy.mean()
    assert np.array_equal(clf.predict(X[:5]), clf.predict(X[:5]))  # eval mode afterwards
    with pytest.raises(ValueError, match="n_samples"):
        clf.predict_uncertainty(X, n_samples=0)


def _configuration(clf):
    """What a fit resolved its defaults to: everything that makes two fits different models."""
    return {
        "networks": len(getattr(clf.module_, "networks", [clf.module_])),
        "bins": getattr(clf.module_, "networks", [clf.module_])[0].bin,
        "validation": clf.best_epoch_ is not None,
        "centred": clf.input_mean_ is not None,
        "mixup": clf.mixup_alpha_,
        "epochs": len(clf.history),
    }


@pytest.mark.parametrize("n_per_class", [40, 50])  # where n_networks / validation flipped
def test_a_cv_fold_and_the_refit_train_the_same_configuration(n_per_class):
    """The defaults that once switched on data size (3 x 40 and 3 x 50 spectra of 2600
    points): a 5-fold training fold (80 %) and the refit (100 %) resolve them the same way."""
    from sklearn.model_selection import StratifiedKFold

    X, y = make_lines(n=3 * n_per_class, n_points=2600)
    quick = dict(max_epochs=1, f1_epochs=0, batches_per_epoch=1, module__filters=(4, 4))
    fold, _ = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    on_fold = SpectrumCNNClassifier(**quick, random_state=0).fit(X[fold], y[fold])
    refit = SpectrumCNNClassifier(**quick, random_state=0).fit(X, y)
    assert _configuration(on_fold) == _configuration(refit)
    assert _configuration(refit)["networks"] == 1 and not _configuration(refit)["validation"]
    assert _configuration(refit)["bins"] == 3  # 2,600 points: a property of the length alone
    defaults = SpectrumCNNClassifier()
    assert (defaults.n_networks, defaults.validation_split) == (1, None)
    # The batch follows the data smoothly (a third of it, 16 to 64): 32 against 40 here.
    assert on_fold.batch_size_ == min(64, len(fold) // 3)
    assert refit.batch_size_ == min(64, len(y) // 3)


def test_verbose_prints_what_the_defaults_resolved_to(capsys):
    X, y = make_alike()
    params = dict(FAST, max_epochs=1, f1_epochs=0, random_state=0)
    clf = SpectrumCNNClassifier(**params, verbose=1).fit(X, y)
    first = capsys.readouterr().out.splitlines()[0]
    assert f"{len(X)} spectra of {X.shape[1]} points" in first
    assert f"centred=True (spread {clf.input_spread_:.3g})" in first
    assert f"mixup alpha {clf.mixup_alpha_}" in first and clf.mixup_alpha_ > 0
    assert f"batches of {clf.batch_size_}" in first
    SpectrumCNNClassifier(**params).fit(X, y)
    assert capsys.readouterr().out == ""
    SpectrumCNNClassifier(**params, module__max_points=16, verbose=1).fit(X, y)
    first = capsys.readouterr().out.splitlines()[0]
    assert f"{len(X)} spectra of {X.shape[1]} points (seen in bins of " in first


# ---------------------------------------------------------------------------- centring
def test_auto_centring_follows_the_spread_of_the_spectra():
    alike, y_alike = make_alike()
    varied, y_varied = make_lines(n=60)
    params = dict(FAST, max_epochs=1, f1_epochs=0, random_state=0)

    clf = SpectrumCNNClassifier(**params).fit(alike, y_alike)
    assert clf.input_spread_ < 0.05
    np.testing.assert_allclose(clf.input_mean_, alike.mean(axis=0), rtol=1e-6)
    assert clf.input_mean_.dtype == np.float32

    clf = SpectrumCNNClassifier(**params).fit(varied, y_varied)
    assert clf.input_spread_ > 0.05 and clf.input_mean_ is None

    forced = SpectrumCNNClassifier(**params, center=True).fit(varied, y_varied)
    np.testing.assert_allclose(forced.input_mean_, varied.mean(axis=0), rtol=1e-5, atol=1e-6)
    never = SpectrumCNNClassifier(**params, center=False).fit(alike, y_alike)
    assert never.input_mean_ is None


def test_spread_around_mean():
    from skspectra.classifier import spread_around_mean

    X = np.tile(np.arange(1.0, 5.0), (3, 1))
    assert spread_around_mean(X) == 0.0
    X[0] *= 1.1  # one row 10 % brighter: mean distance 0.1/3 + 2 * 0.05/3 of the mean's norm
    mean = X.mean(axis=0)
    expected = np.linalg.norm(X - mean, axis=1).mean() / np.linalg.norm(mean)
    assert spread_around_mean(X) == pytest.approx(expected)
    assert spread_around_mean(np.zeros((3, 4))) == np.inf


@pytest.fixture(scope="module")
def centring():
    X, y = make_alike()
    params = {**FAST, "module__dropout": 0.0, "max_epochs": 2, "f1_epochs": 0}
    clf = SpectrumCNNClassifier(**params, random_state=0).fit(X, y)
    assert clf.input_mean_ is not None
    clf.module_.eval()
    with torch.no_grad():
        centred = torch.softmax(clf.module_(torch.from_numpy(X - clf.input_mean_)[:, None]), 1)
        raw = torch.softmax(clf.module_(torch.from_numpy(X)[:, None]), 1)
    assert (centred - raw).abs().max() > 1e-3  # the subtraction matters to the network
    return clf, X, centred.double().numpy()


BACKENDS = ["eager", "compile"] + (["onnxruntime"] if find_spec("onnxruntime") else [])


@pytest.mark.parametrize("inference", BACKENDS)
@pytest.mark.parametrize("n", [3, 60])  # the matmul path for few spectra, the convolutions
def test_a_centring_model_subtracts_the_mean_in_every_backend(centring, inference, n):
    clf, X, expected = centring
    clf.set_params(inference=inference)
    try:
        np.testing.assert_allclose(clf.predict_proba(X[:n]), expected[:n], atol=1e-5)
    finally:
        clf.set_params(inference="eager")


def test_a_centring_model_centres_in_mc_dropout_and_skorchs_own_forward(centring):
    clf, X, expected = centring
    # Without dropout every Monte-Carlo pass is the plain forward, centred the same way.
    mc = clf.predict_uncertainty(X, n_samples=2, random_state=0)
    np.testing.assert_allclose(mc.proba, expected, atol=1e-5)
    logits = clf.forward(X)  # skorch's path: get_dataset centres plain spectra
    np.testing.assert_allclose(torch.softmax(logits.double(), 1).numpy(), expected, atol=1e-5)


def test_warm_start_keeps_the_mean_it_trained_with():
    X, y = make_alike()
    clf = SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 1, "f1_epochs": 0}, warm_start=True, random_state=0
    ).fit(X, y)
    first = clf.input_mean_.copy()
    clf.fit(X * np.float32(1.05), y)
    np.testing.assert_array_equal(clf.input_mean_, first)


def test_warm_start_continues_from_the_current_weights():
    """scikit-learn's meaning: the next fit starts from the weights the last one left."""
    X, y = make_lines(n=60)
    params = {**FAST, "max_epochs": 2, "f1_epochs": 0, "validation_split": None}
    rec = Recorder()
    clf = SpectrumCNNClassifier(**params, warm_start=True, random_state=0, callbacks=[rec])
    clf.fit(X, y)
    after_first = _state(clf)
    clf.fit(X, y)
    assert _same(rec.start_weights_[1], after_first)
    assert not _same(rec.start_weights_[0], after_first)
    assert len(clf.history) == 2  # the history is this fit's
    cold = SpectrumCNNClassifier(**params, random_state=0)
    assert _same(_state(cold.fit(X, y)), _state(cold.fit(X, y)))  # from fresh weights each time


def test_partial_fit_is_not_offered():
    clf = SpectrumCNNClassifier()
    assert not hasattr(clf, "partial_fit")
    with pytest.raises(AttributeError, match="warm_start"):
        clf.partial_fit(*make_lines(n=20))


def test_center_must_be_a_bool_or_auto():
    X, y = make_alike()
    with pytest.raises(ValueError, match="center"):
        SpectrumCNNClassifier(center="yes").fit(X, y)


def test_centring_in_fit_equals_fitting_centred_spectra():
    X, y = make_alike()
    params = {**FAST, "max_epochs": 2, "f1_epochs": 1, "mixup": None}
    centred = SpectrumCNNClassifier(**params, random_state=0).fit(X, y)
    manual = SpectrumCNNClassifier(**params, center=False, random_state=0)
    manual.fit(X - centred.input_mean_, y)
    for name, value in centred.module_.state_dict().items():
        assert torch.equal(value, manual.module_.state_dict()[name]), name
    assert centred.history[:, "valid_f1"] == manual.history[:, "valid_f1"]


# ---------------------------------------------------------------------- mixup
class _TrainingInputs(Callback):
    """Records the spectra every training forward pass sees."""

    def initialize(self):
        self.seen = []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.hook = net.module_.register_forward_pre_hook(
                lambda module, args: self.seen.append(args[0].detach().clone())
            )

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            self.hook.remove()


@pytest.mark.parametrize("mixup", [None, 0.4])
def test_mixup_trains_on_mixtures_of_pairs_of_spectra(mixup):
    X, y = make_lines(n=40, n_points=32)
    record = _TrainingInputs()
    params = {**FAST, "max_epochs": 2, "f1_epochs": 1, "validation_split": None}
    SpectrumCNNClassifier(
        **params, augment=False, center=False, mixup=mixup, callbacks=[record], random_state=0
    ).fit(X, y)
    rows = torch.from_numpy(X)
    seen = torch.cat(record.seen).squeeze(1)
    exact = (seen[:, None, :] == rows[None, :, :]).all(dim=2).any(dim=1)
    if mixup is None:
        assert exact.all()  # every spectrum seen is a training spectrum
        return
    assert not exact.all()
    # A mixed spectrum is lam * a + (1 - lam) * b for two training spectra a and b.
    batch = record.seen[0].squeeze(1)
    lam_times = []
    for row in batch[~exact[: len(batch)]][:5]:
        found = False
        for a in rows:
            for b in rows:
                d = a - b
                if not d.abs().max() > 1e-6:
                    continue
                lam = float(((row - b) @ d) / (d @ d))
                if 0 <= lam <= 1 and torch.allclose(lam * a + (1 - lam) * b, row, atol=1e-5):
                    found = True
                    lam_times.append(lam)
                    break
            if found:
                break
        assert found
    assert len(set(round(v, 6) for v in lam_times)) <= 2  # one lam per batch (or 1 - lam)


def test_mixup_loss_mixes_the_losses_against_both_labels():
    X, y = make_lines(n=40, n_points=32)
    clf = SpectrumCNNClassifier(**{**FAST, "max_epochs": 1, "f1_epochs": 0}, random_state=0)
    clf.fit(X, y)
    y_pred = torch.randn(6, 3)
    y_true = torch.tensor([0, 1, 2, 0, 1, 2])
    perm = torch.tensor([3, 4, 5, 0, 1, 2])
    ce = torch.nn.functional.cross_entropy
    batch = {"X": None, "sample_weight": torch.ones(6), "mix": (0.3, perm)}
    mixed = clf.get_loss(y_pred, y_true, X=batch, training=True)
    plain = clf.get_loss(y_pred, y_true, X=batch, training=False)  # validation: never mixed
    expected = 0.3 * ce(y_pred, y_true) + 0.7 * ce(y_pred, y_true[perm])
    assert torch.allclose(mixed, expected)
    assert torch.allclose(plain, ce(y_pred, y_true))


def test_auto_mixup_follows_the_centring():
    params = {**FAST, "max_epochs": 1, "f1_epochs": 0}
    alike = SpectrumCNNClassifier(**params, random_state=0).fit(*make_alike())
    varied = SpectrumCNNClassifier(**params, random_state=0).fit(*make_lines(n=40, n_points=32))
    assert alike.input_mean_ is not None and alike.mixup_alpha_ == 0.4
    assert varied.input_mean_ is None and varied.mixup_alpha_ == 0.0
    forced = SpectrumCNNClassifier(**params, mixup=0.2, random_state=0).fit(*make_lines(n=40))
    assert forced.mixup_alpha_ == 0.2


def test_mixup_keeps_the_automatic_epoch_length():
    # 48 training spectra in batches of 32: 2 per pass, lengthened to 10, mixing or not (three
    # times that when mixing lost by inner CV on OliveOil and Meat: screens.md, 2026-12-04).
    X, y = make_alike()
    params = {**FAST, "max_epochs": 2, "f1_epochs": 1, "validation_split": None}
    alike = SpectrumCNNClassifier(**params, random_state=0).fit(X[:48], y[:48])
    assert alike.mixup_alpha_ > 0
    assert alike.history[:, "train_batch_count"] == [10, 10, 10]
    unmixed = SpectrumCNNClassifier(**params, mixup=None, random_state=0).fit(X[:48], y[:48])
    assert unmixed.history[:, "train_batch_count"] == [10, 10, 10]
    # An explicit length is kept as given, mixing or not.
    fixed = SpectrumCNNClassifier(**params, batches_per_epoch=4, random_state=0).fit(X, y)
    assert fixed.mixup_alpha_ > 0 and fixed.history[:, "train_batch_count"] == [4, 4, 4]


def test_a_fit_with_mixup_is_reproducible():
    X, y = make_alike()
    params = {**FAST, "max_epochs": 2, "f1_epochs": 1}
    first = SpectrumCNNClassifier(**params, random_state=3).fit(X, y)
    second = SpectrumCNNClassifier(**params, random_state=3).fit(X, y)
    assert first.mixup_alpha_ > 0
    for name, value in first.module_.state_dict().items():
        assert torch.equal(value, second.module_.state_dict()[name]), name


@pytest.mark.parametrize("mixup", [-0.1, "yes"])
def test_mixup_must_be_auto_none_or_a_non_negative_alpha(mixup):
    with pytest.raises(ValueError, match="mixup"):
        SpectrumCNNClassifier(mixup=mixup).fit(*make_lines(n=20, n_points=32))


# ------------------------------------------------------------------ n_networks
@pytest.fixture(scope="module")
def ensemble():
    X, y = make_lines(n=120)
    clf = SpectrumCNNClassifier(**{**FAST, "n_networks": 3}, random_state=0).fit(X, y)
    return clf, X, y


def _member_probas(clf, X):
    x = torch.from_numpy(X).unsqueeze(1)
    with torch.no_grad():
        return [torch.softmax(net.eval()(x).double(), 1).numpy() for net in clf.module_.networks]


def test_an_ensemble_predicts_the_mean_of_its_networks_probabilities(ensemble):
    clf, X, y = ensemble
    assert clf.n_networks_ == 3
    assert isinstance(clf.module_, NetworkEnsemble) and len(clf.module_.networks) == 3
    members = _member_probas(clf, X)
    np.testing.assert_allclose(clf.predict_proba(X), np.mean(members, axis=0), atol=1e-6)
    # Each network learned the task from its own initial weights: they agree, but not exactly.
    for proba in members:
        assert (clf.classes_[proba.argmax(axis=1)] == y).mean() > 0.8
    assert np.abs(members[0] - members[1]).max() > 1e-3


def test_each_network_of_an_ensemble_trains_on_its_own_loss(ensemble):
    clf = ensemble[0]
    logits = torch.randn(6, 3, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    expected = torch.stack([torch.nn.functional.cross_entropy(logits[:, k], y) for k in range(3)])
    assert torch.allclose(clf.get_loss(logits, y, training=True), expected.mean())
    # In training mode the ensemble hands every network's logits to the loss (a copy: a
    # training-mode forward moves the batch-norm statistics).
    assert copy.deepcopy(clf.module_).train()(torch.zeros(2, 1, 64)).shape == (2, 3, 3)


def test_an_ensemble_fit_is_reproducible_and_survives_pickling(ensemble, tmp_path):
    clf, X, y = ensemble
    again = clone(clf).fit(X, y)
    assert _same(_state(clf), _state(again))
    joblib.dump(clf, tmp_path / "ensemble.joblib")
    restored = joblib.load(tmp_path / "ensemble.joblib")
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.n_networks_ == 3


def test_an_ensemble_gives_monte_carlo_dropout_uncertainty(ensemble):
    clf, X, _ = ensemble
    result = clf.predict_uncertainty(X[:10], n_samples=4, random_state=0)
    assert result.proba.shape == (10, 3) and result.entropy.shape == (10,)
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0, atol=1e-9)
    assert (result.mutual_information >= -1e-9).all()


def test_an_ensembles_uncertainty_counts_its_networks_disagreement():
    X, y = make_lines(n=60)
    params = {**FAST, "n_networks": 3, "module__dropout": 0.0}
    clf = SpectrumCNNClassifier(**params, random_state=0).fit(X, y)
    X_new = make_lines(n=30, seed=1)[0]
    X_new[:10] = np.random.default_rng(0).normal(size=(10, 64))  # no line: unlike training
    calls = []
    hooks = [net.register_forward_hook(lambda *_: calls.append(1)) for net in clf.module_.networks]
    try:
        result = clf.predict_uncertainty(X_new, n_samples=5, random_state=0)
    finally:
        for hook in hooks:
            hook.remove()
    assert len(calls) == 3  # without dropout one pass of each network says it all
    members = np.stack(_member_probas(clf, X_new))
    np.testing.assert_allclose(result.proba, members.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(result.proba, clf.predict_proba(X_new), atol=1e-6)

    def entropy(p):
        return -np.sum(p * np.log(p), axis=-1)

    disagreement = entropy(members.mean(axis=0)) - entropy(members).mean(axis=0)
    np.testing.assert_allclose(result.mutual_information, disagreement, atol=1e-6)
    assert result.mutual_information.max() > 1e-3
    np.testing.assert_allclose(result.std, members.std(axis=0), atol=1e-6)


def test_a_module_instance_trains_and_several_networks_need_a_class():
    X, y = make_lines(n=30)
    network = SpectrumResNet(3, 64, filters=(8,), hidden_units=8)
    clf = SpectrumCNNClassifier(module=network, max_epochs=1, f1_epochs=0, random_state=0)
    assert clf.fit(X, y).module_ is network and clf.n_networks_ == 1
    clf = SpectrumCNNClassifier(module=network, n_networks=2, max_epochs=1, f1_epochs=0)
    with pytest.raises(ValueError, match="module instance"):
        clf.fit(X, y)


@pytest.mark.parametrize("n_networks", [0, 1.5, "many", "auto"])
def test_n_networks_must_be_a_positive_integer(n_networks):
    X, y = make_lines(n=30)
    with pytest.raises(ValueError, match="n_networks"):
        SpectrumCNNClassifier(**{**FAST, "n_networks": n_networks}).fit(X, y)
