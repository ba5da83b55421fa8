"""The benchmark scripts' own logic (their measurements run outside the test suite)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_info

from benchmarks.accuracy import (
    DATASETS,
    Dataset,
    DataSpec,
    Method,
    fit_predict,
    load_dataset,
    main,
    resample_splits,
    run_one,
    ucr_resample,
)
from skspectra import SpectrumAugmentation

PEERS = "logreg,1nn"


def _two_bands(rng, n_per_class: int, n_points: int = 40, labels=("lo", "hi")):
    """Spectra of two classes, a band at point 10 or at point 30 on a noisy continuum of 1."""
    X = 1 + 0.01 * rng.normal(size=(2 * n_per_class, n_points))
    X[:n_per_class, 8:12] -= 0.5
    X[n_per_class:, 28:32] -= 0.5
    y = np.repeat(list(labels), n_per_class)
    return X.astype(np.float32), y


@pytest.fixture
def data_dir(tmp_path):
    """A folder in the shared data's format: a UCR file (official split) and a CV set."""
    rng = np.random.default_rng(0)
    X_train, y_train = _two_bands(rng, 10)
    X_test, y_test = _two_bands(rng, 7)
    np.savez(
        tmp_path / "ucr_coffee.npz", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test
    )
    X, y = _two_bands(rng, 15)
    np.savez(tmp_path / "asteroid_busdemeo16.npz", X=X, y=y)
    return tmp_path


# --------------------------------------------------------------------------- resampling
def test_ucr_resamples_are_stratified_with_the_official_sizes_and_resample_0_is_official():
    y_train = np.array(["a"] * 5 + ["b"] * 8 + ["c"] * 4 + ["d"] * 13)  # OliveOil's counts
    y_test = np.array(["a"] * 5 + ["b"] * 9 + ["c"] * 4 + ["d"] * 12)
    y = np.concatenate([y_train, y_test])
    train, test = ucr_resample(y, len(y_train), 0)
    np.testing.assert_array_equal(train, np.arange(30))
    np.testing.assert_array_equal(test, np.arange(30, 60))
    seen = set()
    for r in range(1, 10):
        train, test = ucr_resample(y, len(y_train), r)
        assert sorted(np.concatenate([train, test])) == list(range(60))  # a partition
        assert len(train) == 30 and len(test) == 30
        for label in "abcd":  # each class keeps its official training count
            assert (y[train] == label).sum() == (y_train == label).sum()
        np.testing.assert_array_equal(train, ucr_resample(y, len(y_train), r)[0])  # seeded
        seen.add(tuple(sorted(train)))
    assert len(seen) == 9  # and the resamples differs from each other
    # The bake-off redux's resampling, as aeon implements it: the same indices.
    resampling = pytest.importorskip("aeon.benchmarking.resampling")
    for r in (1, 7):
        theirs = resampling.stratified_resample_data_indices(y_train, y_test, random_state=r)
        for ours, ref in zip(ucr_resample(y, len(y_train), r), theirs, strict=True):
            np.testing.assert_array_equal(ours, ref)


def test_cv_resamples_are_repeated_stratified_folds(data_dir):
    data = load_dataset(DATASETS["asteroid"], data_dir, {})
    for r in (0, 1):
        splits = resample_splits(data, r, cv_folds=5)
        tests = np.concatenate([test for _, test in splits])
        assert sorted(tests) == list(range(30))  # every spectrum tested once per repeat
        for train, test in splits:
            assert not set(train) & set(test)
            assert (data.y[test] == "lo").sum() == 3  # stratified: 15 + 15 over 5 folds
    first = [tuple(t) for _, t in resample_splits(data, 0)]
    assert first != [tuple(t) for _, t in resample_splits(data, 1)]


class _Spy(ClassifierMixin, BaseEstimator):
    """Records the row ids (column 0) it is fitted on and asked to predict; predicts 'lo'."""

    fitted: list = []
    predicted: list = []

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        _Spy.fitted.append(set(X[:, 0].astype(int)))
        return self

    def predict(self, X):
        _Spy.predicted.append(set(X[:, 0].astype(int)))
        return np.full(len(X), "lo")


@pytest.mark.parametrize("name", ["coffee", "asteroid"])
def test_no_test_index_ever_enters_training(data_dir, name):
    data = load_dataset(DATASETS[name], data_dir, {})
    data.X[:, 0] = np.arange(len(data.y))  # each row carries its own id
    method = Method("spy", "spy", lambda seed: _Spy(), {})
    for r in range(3):
        _Spy.fitted, _Spy.predicted = [], []
        run_one(method, data, r, lambda text: None)
        assert len(_Spy.fitted) == (1 if name == "coffee" else 5)
        for fitted, predicted in zip(_Spy.fitted, _Spy.predicted, strict=True):
            assert not fitted & predicted
            assert len(fitted | predicted) == len(data.y)


# --------------------------------------------------------------------------- accuracy
def test_the_accuracy_benchmark_writes_json_markdown_and_figure_and_renders_again(data_dir):
    out = data_dir / "results"
    argv = ["--data-dir", str(data_dir), "--datasets", "coffee,asteroid", "--methods", PEERS]
    report = main([*argv, "--resamples", "3", "--cv-repeats", "2", "--out-dir", str(out)])

    assert report["datasets"] == ["coffee", "asteroid"]
    saved = json.loads((out / "accuracy.json").read_text())
    for d, n_resamples in (("coffee", 3), ("asteroid", 2)):
        for method in ("logreg", "1nn"):
            entry = saved["results"][d][method]
            assert [r["resample"] for r in entry["runs"]] == list(range(n_resamples))
            assert entry["summary"]["accuracy"]["mean"] == 1.0  # the bands separate the classes
            assert all(t >= 0 for r in entry["runs"] for t in r["fit_s"] + r["predict_s"])
    assert len(saved["results"]["asteroid"]["1nn"]["runs"][0]["fit_s"]) == 5  # 5 folds
    inv = saved["invocations"][0]
    assert inv["finished"] and len(inv["load_start"]) == 3 and len(inv["load_end"]) == 3
    assert inv["machine"]["versions"]["scikit-learn"]
    table = (out / "accuracy.md").read_text()
    coffee_row = next(line for line in table.splitlines() if line.startswith("| UCR Coffee"))
    assert "1.000 ± 0.000" in coffee_row and coffee_row.endswith("| 1.000 |")  # HC2 mean30
    assert "load average" in table
    assert (out / "accuracy.png").read_bytes()[:4] == b"\x89PNG"

    (out / "accuracy.md").unlink()
    main(["--render-only", "--out-dir", str(out)])
    assert (out / "accuracy.md").read_text() == table

    # --merge: a second run of another method keeps the first run's entries.
    main([*argv[:3], "coffee", "--methods", "logreg", "--resamples", "3", "--cv-repeats", "2",
          "--out-dir", str(out), "--merge"])  # fmt: skip
    merged = json.loads((out / "accuracy.json").read_text())
    assert set(merged["results"]["coffee"]) == {"logreg", "1nn"}
    assert "asteroid" in merged["results"] and len(merged["invocations"]) == 2
    with pytest.raises(SystemExit, match="protocol"):
        main([*argv, "--resamples", "2", "--out-dir", str(out), "--merge"])

    # --merge-from: a run written elsewhere replaces its (data set, method) entries.
    other = data_dir / "other"
    main([*argv[:3], "coffee", "--methods", "1nn", "--resamples", "3", "--cv-repeats", "2",
          "--out-dir", str(other)])  # fmt: skip
    main(["--out-dir", str(out), "--merge-from", str(other / "accuracy.json")])
    merged = json.loads((out / "accuracy.json").read_text())
    theirs = json.loads((other / "accuracy.json").read_text())["invocations"][0]["id"]
    assert merged["results"]["coffee"]["1nn"]["invocation"] == theirs
    assert len(merged["invocations"]) == 3 and "asteroid" in merged["results"]
    main(["--out-dir", str(out), "--note", "Rock not run: out of time."])
    assert "- Rock not run: out of time." in (out / "accuracy.md").read_text()


def test_the_cnn_methods_share_the_default_flux_scaler_and_take_the_resample_as_seed():
    from benchmarks.accuracy import build_methods
    from skspectra import FluxScaler
    from skspectra.presets import seed_pipeline

    methods, _ = build_methods(["skspectra", "seed"])
    default = FluxScaler().get_params()
    for name in ("skspectra", "seed"):
        pipe = methods[name].build(3)
        assert pipe[0].get_params() == default
        assert pipe[-1].random_state == 3
    set_here = ("random_state", "batches_per_epoch", "class_fractions")
    assert methods["seed"].build(3)[-1].class_fractions is None  # UCR labels, not the contest's
    seed_params = seed_pipeline()[-1].get_params(deep=False)
    ours = methods["seed"].build(3)[-1].get_params(deep=False)
    assert {k: v for k, v in ours.items() if k not in set_here} == {
        k: v for k, v in seed_params.items() if k not in set_here
    }


def test_a_missing_data_file_names_the_folder_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_dataset(DATASETS["rock"], tmp_path, {})


class _Interrupted(ClassifierMixin, BaseEstimator):
    """Fits as a SpectrumCNNClassifier does when SIGTERM arrives: it warns and returns."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        warnings.warn("Training interrupted by SIGTERM in epoch 2", UserWarning, stacklevel=2)
        return self

    def predict(self, X):
        return self.classes_[np.zeros(len(X), dtype=int)]


def test_an_interrupted_fit_stops_the_accuracy_benchmark():
    X = np.zeros((4, 3), dtype=np.float32)
    y = np.array(["a", "b", "a", "b"])
    data = Dataset(DataSpec("toy", None, "ucr", "toy"), X, y, 2, {})
    method = Method("fake", "fake", lambda seed: _Interrupted(), {})
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        run_one(method, data, 0, lambda text: None)


class _CountsThreads(ClassifierMixin, BaseEstimator):
    """Records the BLAS and OpenMP thread counts its fit and predict run under."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.fit_threads_ = {p["user_api"]: p["num_threads"] for p in threadpool_info()}
        return self

    def predict(self, X):
        self.predict_threads_ = {p["user_api"]: p["num_threads"] for p in threadpool_info()}
        return self.classes_[np.zeros(len(X), dtype=int)]


def test_every_fit_of_the_benchmark_runs_on_its_thread_count():
    """The logreg peer fit Rock 15 times slower with BLAS on two threads than on one."""
    X = np.zeros((4, 3), dtype=np.float32)
    y = np.array(["a", "b", "a", "b"])
    est, *_ = fit_predict(_CountsThreads, X, y, X, threads=1)
    assert est.fit_threads_ and set(est.fit_threads_.values()) == {1}
    assert set(est.predict_threads_.values()) == {1}
    if threadpool_info() and max(p["num_threads"] for p in threadpool_info()) > 1:
        # The limit holds for the fit only: the process keeps its own pools afterwards.
        assert max(p["num_threads"] for p in threadpool_info()) > 1


# --------------------------------------------------------------------------- screen
def test_the_screen_never_touches_test_rows(data_dir, monkeypatch):
    """Test rows poisoned with NaN: a screen that read them into a fit would fail."""
    import benchmarks.screen as screen

    with np.load(data_dir / "ucr_coffee.npz") as f:
        arrays = dict(f)
    arrays["X_test"][:] = np.nan
    np.savez(data_dir / "ucr_coffee.npz", **arrays)
    # Logistic regression stands in for the CNN; a candidate is its parameters.
    monkeypatch.setattr(
        screen, "build_candidate", lambda params, seed: make_pipeline(LogisticRegression(**params))
    )
    out = data_dir / "results"
    argv = ["--data-dir", str(data_dir), "--out-dir", str(out), "--quick"]
    screen.main([*argv, "--candidate", "{}", "--candidate", '{"C": 0.01}', "--note", "test"])
    record = screen.main([*argv, "--datasets", "coffee,asteroid", "--folds", "3"])

    first, second = record["screens"]
    assert first["protocol"]["inner_folds"] == 2 and first["protocol"]["datasets"] == ["coffee"]
    for cand in first["candidates"]:
        result = cand["results"]["coffee"]
        assert result["n_train"] == 20  # the official training split, nothing more
        assert result["accuracy"]["mean"] == 1.0 and len(result["runs"][0]["fit_s"]) == 2
    assert second["candidates"][0]["results"]["asteroid"]["n_train"] == 24  # 4 of 5 folds
    assert second["finished"] and len(second["load_end"]) == 3
    table = (out / "screens.md").read_text()
    assert '`{"C": 0.01}`' in table and "| coffee | asteroid |" in table
    assert "inner StratifiedKFold(3" in table and "Note: test" in table
    (out / "screens.md").unlink()
    screen.main(["--render-only", "--out-dir", str(out)])
    assert (out / "screens.md").read_text() == table


def test_speed_rounds_merge_by_median_and_the_table_reports_streams():
    from benchmarks.speed import _median_merge, render_markdown, training_ratios

    rounds = [
        {"gflops": 100.0, "rates": {"1": 10.0}, "versions": {"keras": "3"}, "available": True},
        {"gflops": 300.0, "rates": {"1": 30.0}, "versions": {"keras": "3"}, "available": True},
        {"gflops": 200.0, "rates": {"1": 50.0}, "versions": {"keras": "3"}, "available": True},
    ]
    merged = _median_merge(rounds)
    assert merged == {"gflops": 200.0, "rates": {"1": 30.0}, "versions": {"keras": "3"},
                      "available": True}  # fmt: skip
    # A round without Keras, or that failed, is left out; whole numbers stay one of theirs.
    rounds = [{"available": False, "reason": "no keras"}, {"n": 2, "x": 1.0}, {"n": 5, "x": 3.0},
              {"error": ["boom"]}]  # fmt: skip
    assert _median_merge(rounds) == {"n": 2, "x": 2.0}
    assert _median_merge(rounds[:1]) == {"available": False, "reason": "no keras"}

    stream = {
        "batch": 128, "spectra": 40960, "total_s": 40.0, "spectra_per_s": 1024.0,
        "first_calls_spectra_per_s": 800.0, "last_calls_spectra_per_s": 1500.0,
        "slowest_call_s": 9.0, "slowest_call_at_spectra": 20096,
    }  # fmt: skip
    result = {
        "finished": "now", "command": "x", "config": {"n_points": 2600, "batches": [1]},
        "machine": {"cpu": "cpu", "usable_cores": 2, "versions": {"torch": "2"},
                    "load_average_1min": 0.0},
        "flops_per_spectrum": 1e8, "matmul_gflops": 200.0, "flop_limit_spectra_per_s": 2000.0,
        "inference": {"raw eager": {"rates": {"1": 100.0}},
                      "predict_proba eager": {"rates": {"1": 250.0}}},
        "catalogue": {}, "streams": {"128:40960": stream, "1:3000": {"error": ["boom"]}},
        "training": {"train": {"cross_entropy": 260.0, "soft_f1": 240.0}},
        "keras": {"available": True, "versions": {"keras": "3", "tensorflow": "2"},
                  "train_spectra_per_s": 130.0, "predict_spectra_per_s": 500.0},
    }  # fmt: skip
    table = render_markdown(result)
    assert "| 128 | 40,960 | 800 | 1500 (75%) | 9.0 | 20,096 | 1024 |" in table
    assert "| 1:3000 | failed: ['boom'] |" in table
    assert "1: 2.50x" in table  # default over the raw forward
    assert "phase 1 2.00x, phase 2 1.85x" in table  # over Keras
    assert "Round by round" not in table  # one round: nothing more to say

    # Several rounds: each round's ratio against its own Keras run; a round where Keras or
    # our training failed is left out.
    ours = [{"cross_entropy": 200.0, "soft_f1": 210.0}, {"error": ["boom"]},
            {"cross_entropy": 300.0, "soft_f1": 240.0}]  # fmt: skip
    keras = [{"available": True, "train_spectra_per_s": 100.0},
             {"available": True, "train_spectra_per_s": 120.0},
             {"available": True, "train_spectra_per_s": 150.0}]  # fmt: skip
    assert training_ratios(ours, keras) == [[2.0, 2.1], [2.0, 1.6]]
    assert training_ratios(ours, [{"available": False}] * 3) == []
    result["training_ratios_by_round"] = training_ratios(ours, keras)
    assert "phase 1 / phase 2: 2.00x / 2.10x, 2.00x / 1.60x." in render_markdown(result)

    # Process by process: every round's own rate and page faults, not only their median.
    assert "process by process" not in render_markdown(result)
    result["predict_rounds"] = {
        "predict_proba eager": [{"rates": {"1": 1200.0}, "faults_per_call": {"1": 0}},
                                {"rates": {"1": 700.0}, "faults_per_call": {"1": 10336}}]
    }  # fmt: skip
    table = render_markdown(result)
    assert "| predict_proba eager | 1 | 1200 (60%), 0 |" in table
    assert "| predict_proba eager | 2 | 700 (35%), 10,336 |" in table


def test_speed_counts_the_fresh_pages_each_call_takes():
    from benchmarks.speed import _rate

    # 128 MB is above any threshold glibc keeps freed memory under: each call maps it afresh,
    # at least 64 faults (2 MB huge pages) and up to 32,768 (4 kB pages).
    _, _, fresh = _rate(lambda: np.ones(2**24), 1, 2)
    assert fresh >= 64
    buffer = np.zeros(2**24)
    _, rate, reused = _rate(lambda: buffer.fill(1.0), 1, 2)
    assert reused <= 4 and rate > 0


def test_the_stellar_development_set_is_screened_whole_and_never_reported(data_dir, monkeypatch):
    import benchmarks.screen as screen
    from benchmarks.accuracy import ALIASES, DATASETS

    X, y = _two_bands(np.random.default_rng(1), 12)
    np.savez(data_dir / screen.DEV_STARS, X=X, y=y, wavelength=np.arange(X.shape[1]))
    monkeypatch.setattr(screen, "build_candidate", lambda params, seed: LogisticRegression())
    out = data_dir / "results"
    argv = ["--data-dir", str(data_dir), "--out-dir", str(out), "--folds", "2"]
    record = screen.main(
        [*argv, "--datasets", "dev-stars,coffee", "--candidate", "{}", "--first-seed", "2"]
    )
    (only,) = record["screens"]
    assert only["protocol"]["datasets"] == ["coffee", "dev-stars"]
    assert only["protocol"]["seeds"] == [2]  # more seeds of an earlier screen's candidates
    assert [r["seed"] for r in only["candidates"][0]["results"]["coffee"]["runs"]] == [2]
    assert only["candidates"][0]["results"]["dev-stars"]["n_train"] == len(y)
    assert "dev-stars: all of pickles_stellar_library.npz" in only["protocol"]["text"]
    # The accuracy benchmark cannot be asked for it: a development set is never reported.
    assert "dev-stars" not in DATASETS and Path(screen.DEV_STARS).stem not in ALIASES
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        screen.screened_spectra("dev-stars", data_dir / "missing", 5)


def test_a_screen_candidate_sets_the_scaler_and_the_development_survey_is_another_draw():
    import benchmarks.screen as screen

    pipe = screen.build_candidate({"_scaler": {"clip": None}, "max_epochs": 2}, seed=3)
    assert pipe[0].get_params() == {"method": "median", "divisor": 100.0, "clip": None}
    assert (pipe[-1].max_epochs, pipe[-1].random_state) == (2, 3)
    assert screen.build_candidate({}, seed=0)[0].clip == 100.0
    assert screen.build_candidate({}, seed=0)[-1].augment is True
    augment = screen.build_candidate({"_augment": {"mask": 0.05}}, seed=0)[-1].augment
    assert augment.get_params() == {**SpectrumAugmentation().get_params(), "mask": 0.05}
    blend = screen.build_candidate({"_blend": True, "max_epochs": 2}, seed=4)
    cnn = blend.named_estimators["cnn"][-1]
    assert (blend.voting, cnn.max_epochs, cnn.random_state) == ("soft", 2, 4)
    # The development survey is never the benchmark's survey (random_state=0).
    assert screen.DEV_SURVEY["random_state"] != 0
    X, y = screen.screened_spectra("dev-survey", Path("/nonexistent"), 5)
    assert X.shape == (600, 800) and set(y) == {"star", "galaxy", "qso", "unknown"}


def test_screening_networks_differ_from_the_default_only_where_named():
    import torch

    import benchmarks.screen as screen
    from skspectra import SpectrumResNet

    assert screen.build_candidate({"_module": "mean-pool"}, seed=0)[-1].module is (
        screen.MeanPoolResNet
    )
    torch.manual_seed(0)
    base = SpectrumResNet(n_classes=3, n_points=64).eval()
    x = torch.randn(5, 64)
    with torch.no_grad():
        h = base._features(x.unsqueeze(1))
        mean_pool = screen.MeanPoolResNet(n_classes=3, n_points=64).eval()
        mean_pool.load_state_dict(base.state_dict())
        torch.testing.assert_close(mean_pool(x), base.head(h.mean(2)))
        both = screen.MaxMeanPoolResNet(n_classes=3, n_points=64).eval()
        both.features.load_state_dict(base.features.state_dict())
        expected = both.head(torch.cat([h.amax(2), h.mean(2)], dim=1))
        torch.testing.assert_close(both(x), expected)
        linear = screen.LinearPathResNet(n_classes=3, n_points=64).eval()
        linear.load_state_dict(base.state_dict(), strict=False)
        torch.testing.assert_close(linear(x), base(x))  # the path starts at zero
        linear.linear.bias.fill_(1.0)
        torch.testing.assert_close(linear(x), base(x) + 1.0)


def test_weight_averaging_keeps_the_default_steps_and_predicts_with_the_average():
    """The candidate trains exactly as the default does; it ends with the mean of the epoch-end
    weights from ``start`` on, and predicts with that network."""
    import torch
    from skorch.callbacks import Callback

    import benchmarks.screen as screen

    class Snapshots(Callback):
        def on_train_begin(self, net, **kwargs):
            self.states = []

        def on_epoch_end(self, net, **kwargs):
            self.states.append({k: v.clone() for k, v in net.module_.named_parameters()})

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 32)).astype(np.float32) + 2.0
    y = np.repeat(["a", "b"], 12)
    X[y == "b", 10:14] += 3.0
    small = {"max_epochs": 3, "f1_epochs": 2, "module__filters": [4, 8]}
    snaps = Snapshots()
    plain = screen.build_candidate({**small, "callbacks": [("snaps", snaps)]}, 0).fit(X, y)
    averaged = screen.build_candidate({**small, "_average_from": 3}, 0).fit(X, y)
    net, clf = plain[-1], averaged[-1]
    losses = [row["train_loss"] for row in net.history]
    assert losses == [row["train_loss"] for row in clf.history]  # the same steps
    for name, value in clf.module_.named_parameters():
        expected = torch.stack([s[name] for s in snaps.states[2:]]).mean(0)
        torch.testing.assert_close(value, expected)
    with torch.no_grad():
        x = torch.from_numpy(averaged[0].transform(X)).unsqueeze(1)
        expected = torch.softmax(clf.module_.eval()(x).double(), dim=1).numpy()
    np.testing.assert_allclose(averaged.predict_proba(X), expected, rtol=1e-4, atol=1e-6)
    bn = next(m for m in clf.module_.modules() if isinstance(m, torch.nn.BatchNorm1d))
    assert bn.momentum is not None  # update_bn leaves the module as it found it
    assert not torch.equal(
        bn.running_mean,
        net.module_.get_submodule(
            next(n for n, m in net.module_.named_modules() if isinstance(m, torch.nn.BatchNorm1d))
        ).running_mean,
    )  # measured again on the averaged weights


def test_the_survey_fit_compares_two_checkouts_on_the_same_spectra(tmp_path):
    """Against its own revision, each side is the same code on the same spectra: the same
    predictions, epochs and score, each imported from its own folder (a fresh process each)."""
    import subprocess

    from benchmarks import survey_fit

    inside = subprocess.run(["git", "rev-parse"], cwd=survey_fit.ROOT, capture_output=True)
    if inside.returncode != 0:
        pytest.skip("not a git checkout: the baseline is a git worktree")
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=survey_fit.ROOT, capture_output=True, text=True
    ).stdout
    report = survey_fit.main(
        ["--baseline", "HEAD", "--n-train", "40", "--n-test", "20", "--n-points", "96"]
        + ["--rounds", "1", "--out-dir", str(tmp_path)]
    )
    baseline, current = sorted(report["rounds"], key=lambda r: r["side"])
    assert (baseline["side"], current["side"]) == ("baseline", "current")
    assert baseline["predictions"] == current["predictions"]
    assert len(current["predictions"]) == 20
    assert baseline["epochs"] == current["epochs"] == 20  # 15 + 5, the defaults' schedule
    assert baseline["macro_f1"] == current["macro_f1"]
    assert Path(current["skspectra_file"]).is_relative_to(survey_fit.ROOT)
    assert not Path(baseline["skspectra_file"]).is_relative_to(survey_fit.ROOT)
    saved = json.loads((tmp_path / "survey_fit.json").read_text())
    assert "predictions" not in saved["rounds"][0] and saved["survey"]["n_train"] == 40
    assert "| 0 | current |" in (tmp_path / "survey_fit.md").read_text()
    after = subprocess.run(
        ["git", "worktree", "list"], cwd=survey_fit.ROOT, capture_output=True, text=True
    ).stdout
    assert after == worktrees  # the baseline's worktree is gone


def test_a_seed_offset_seeds_every_fit_and_keeps_its_results_apart(data_dir):
    """--seed-offset K: the fit of resample r is seeded r + K, recorded per run; a results file
    of one offset refuses to merge another's (two draws must not mix in one row)."""
    seeds = []
    data = load_dataset(DATASETS["coffee"], data_dir, {})
    method = Method("rec", "rec", lambda seed: seeds.append(seed) or _Spy(), {})
    runs = [run_one(method, data, r, lambda text: None, seed_offset=1000) for r in range(3)]
    assert seeds == [1000, 1001, 1002] and [run["seed"] for run in runs] == seeds

    out = data_dir / "results"
    argv = ["--data-dir", str(data_dir), "--datasets", "coffee", "--methods", "1nn"]
    main([*argv, "--resamples", "2", "--out-dir", str(out)])
    with pytest.raises(SystemExit, match="protocol"):
        main([*argv, "--resamples", "2", "--out-dir", str(out), "--merge", "--seed-offset", "7"])
    report = main(
        [*argv, "--resamples", "2", "--out-dir", str(data_dir / "o7"), "--seed-offset", "7"]
    )
    assert [r["seed"] for r in report["results"]["coffee"]["1nn"]["runs"]] == [7, 8]
    assert "plus 7 (`--seed-offset`)" in (data_dir / "o7" / "accuracy.md").read_text()


def _draw_report(offset: int, accuracies: dict) -> dict:
    """An accuracy report of one seed offset: ``accuracies[set][method]`` is its mean."""
    protocol = {"ucr_resamples": 10, "cv_folds": 5, "cv_repeats": 2}
    if offset:
        protocol["seed_offset"] = offset
    results = {
        d: {
            n: {
                "summary": {
                    "n_resamples": 10,
                    "accuracy": {"mean": acc, "sd": 0.05},
                    "fit_s": {"median": 2.0 + offset / 1000, "mean": 2.0},
                }
            }
            for n, acc in methods.items()
        }
        for d, methods in accuracies.items()
    }
    return {"protocol": protocol, "results": results}


def test_draws_average_each_draw_and_decide_the_targets_on_the_means():
    from benchmarks.draws import combine, markdown

    # Beef: skspectra below MiniRocket in the first draw, above in the second, below on the mean.
    first = {"beef": {"skspectra": 0.63, "minirocket": 0.72}, "coffee": {"skspectra": 1.0}}
    second = {"beef": {"skspectra": 0.73, "minirocket": 0.71}, "coffee": {"skspectra": 0.99}}
    result = combine([_draw_report(0, first), _draw_report(1000, second)], ["a", "b"])
    beef = result["results"]["beef"]
    assert beef["skspectra"]["draws"] == [0.63, 0.73]
    assert beef["skspectra"]["mean"] == pytest.approx(0.68)
    assert (beef["skspectra"]["min"], beef["skspectra"]["max"]) == (0.63, 0.73)
    assert beef["minirocket"]["fit_s_median_of_draws"] == pytest.approx(2.5)
    assert result["targets"]["minirocket"]["at_or_above"] == []  # 0.68 < 0.715 on the mean
    # Coffee 0.995 and Beef 0.68: below HC2's published 1.000 and 0.721.
    assert result["targets"]["hc2_mean30"]["at_or_above"] == []
    assert result["seed_offsets"] == [0, 1000]
    assert "0.680 (0.630 / 0.730)" in markdown(result)
    assert result["option_targets"] == {}  # no explicit option measured


def test_draws_count_an_explicit_option_apart_from_the_default():
    from benchmarks.draws import combine, markdown

    first = {"beef": {"skspectra": 0.63, "skspectra-blend": 0.75, "minirocket": 0.72}}
    second = {"beef": {"skspectra": 0.69, "skspectra-blend": 0.71, "minirocket": 0.71}}
    result = combine([_draw_report(0, first), _draw_report(1000, second)], ["a", "b"])
    assert result["targets"]["minirocket"]["at_or_above"] == []  # the default: 0.66 < 0.715
    blend = result["option_targets"]["skspectra-blend"]
    assert blend["minirocket"]["at_or_above"] == ["beef"]  # 0.73 >= 0.715
    assert blend["hc2_mean30"]["at_or_above"] == ["beef"]  # 0.73 >= 0.721 published
    assert "skspectra-blend (an explicit option, not the default)" in markdown(result)


def test_draws_refuse_files_that_differ_beyond_their_seeds():
    from benchmarks.draws import combine

    one = {"beef": {"skspectra": 0.7}}
    with pytest.raises(ValueError, match="share a seed offset"):
        combine([_draw_report(1000, one), _draw_report(1000, one)], ["a", "b"])
    other = _draw_report(1000, one)
    other["protocol"]["ucr_resamples"] = 30
    with pytest.raises(ValueError, match="differs"):
        combine([_draw_report(0, one), other], ["a", "b"])
    with pytest.raises(ValueError, match="at least two"):
        combine([_draw_report(0, one)], ["a"])
