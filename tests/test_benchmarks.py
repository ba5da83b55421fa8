"""The benchmark scripts' own logic (their measurements run outside the test suite)."""

import json
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from benchmarks.accuracy import Dataset, DataSpec, Method, run_one


class _Interrupted(ClassifierMixin, BaseEstimator):
    """Fits as a SpectrumCNNClassifier does when SIGTERM arrives: it warns and returns."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        warnings.warn("Training interrupted by SIGTERM in epoch 2", UserWarning, stacklevel=2)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    def predict(self, X):
        return self.classes_[np.zeros(len(X), dtype=int)]


def test_an_interrupted_fit_stops_the_accuracy_benchmark():
    X = np.zeros((4, 3), dtype=np.float32)
    y = np.array(["a", "b", "a", "b"])
    spec = DataSpec("toy", None, "split", "toy")
    data = Dataset(spec, [(X, y, X, y)], np.array(["a", "b"]), {})
    method = Method("fake", "fake", True, lambda seed: _Interrupted(), {})
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        run_one(method, data, 0, lambda text: None, threads=1)


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
                      "predict_proba auto": {"rates": {"1": 250.0}}},
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


def _two_bands(rng, n_per_class: int, n_points: int = 40):
    """Spectra of two classes, a band at point 10 or at point 30 on a noisy continuum of 1."""
    X = 1 + 0.01 * rng.normal(size=(2 * n_per_class, n_points))
    X[:n_per_class, 8:12] -= 0.5
    X[n_per_class:, 28:32] -= 0.5
    y = np.repeat(["lo", "hi"], n_per_class)
    return X.astype(np.float32), y


def test_the_accuracy_benchmark_runs_from_a_data_folder_end_to_end(tmp_path):
    """`python -m benchmarks.accuracy --data-dir ...` on a folder in the shared data's format:
    an official split (a UCR file) and a 5-fold set (the asteroid file), with the published
    numbers printed beside ours, and ``--render-only`` rewriting the same table."""
    from benchmarks.accuracy import PUBLISHED_ACCURACY, main

    rng = np.random.default_rng(0)
    X_train, y_train = _two_bands(rng, 10)
    X_test, y_test = _two_bands(rng, 7)
    np.savez(
        tmp_path / "ucr_coffee.npz", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test
    )
    X, y = _two_bands(rng, 15)
    np.savez(tmp_path / "asteroid_busdemeo16.npz", X=X, y=y)
    out = tmp_path / "results"

    report = main(
        [
            "--data-dir",
            str(tmp_path),
            "--datasets",
            "coffee,asteroid",
            "--methods",
            "logreg,1nn",
            "--seeds",
            "1",
            "--out-dir",
            str(out),
        ]
    )

    assert report["complete"] and report["datasets"] == ["coffee", "asteroid"]
    coffee = report["data"]["coffee"]
    assert coffee["n_train"] == [20] and coffee["n_test"] == [14]
    assert report["data"]["asteroid"]["n_test"] == [6] * 5  # 5 stratified folds of 30
    for name in ("coffee", "asteroid"):
        for method in ("logreg", "1nn"):
            summary = report["results"][name][method]["summary"]
            assert summary["accuracy"]["mean"] == 1.0  # the bands separate the classes
            assert summary["ece"]["mean"] <= 0.5
    saved = json.loads((out / "accuracy.json").read_text())
    assert saved["results"]["asteroid"]["1nn"]["summary"]["macro_f1"]["mean"] == 1.0
    table = (out / "accuracy.md").read_text()
    coffee_row = next(line for line in table.splitlines() if line.startswith("| UCR Coffee"))
    assert f"{PUBLISHED_ACCURACY['coffee']['ResNet']:.3f}" in coffee_row
    assert (out / "accuracy.png").stat().st_size > 0

    main(["--render-only", "--out-dir", str(out)])
    assert (out / "accuracy.md").read_text() == table


def test_a_missing_data_file_names_the_folder_to_pass(tmp_path):
    from benchmarks.accuracy import DATASETS, load_dataset

    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_dataset(DATASETS["rock"], tmp_path, {})


def test_expected_calibration_error_of_known_cases():
    from benchmarks.accuracy import expected_calibration_error, reliability_bins

    proba = np.tile([0.9, 0.1], (10, 1))
    half_right = np.array([1, 0] * 5, dtype=float)
    # Confident at 0.9 and right half the time: a gap of 0.4 in the one occupied bin.
    assert expected_calibration_error(reliability_bins(proba, half_right)) == pytest.approx(0.4)
    # Confident at 0.9 and right 9 times in 10: calibrated.
    nine_right = np.array([1] * 9 + [0], dtype=float)
    assert expected_calibration_error(reliability_bins(proba, nine_right)) == pytest.approx(0.0)
