"""The command line end to end on tiny data: demo, train -> predict -> evaluate, contest layout."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skspectra.cli import main

from .conftest import make_lines

TINY = ["--epochs", "3", "--f1-epochs", "1", "--filters", "8,8,16", "--batch-size", "32", "--quiet"]
TINY += ["--n-networks", "1"]


def run(*argv: str) -> subprocess.CompletedProcess:
    """``skspectra ARGV...`` in a fresh process, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "skspectra", *argv], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_program_tunes_the_allocator_in_its_own_process_and_main_never_does(tmp_path):
    # ``main`` called from Python (a user's process) leaves glibc alone; ``run``, the program
    # behind ``skspectra`` and ``python -m skspectra``, tunes it. Counted by the mallopt lookups.
    missing = str(tmp_path / "missing.joblib")
    code = (
        "import ctypes, sys\n"
        "looked_up = []\n"
        "lookup = ctypes.CDLL.__getattr__\n"
        "ctypes.CDLL.__getattr__ = lambda lib, name: looked_up.append(name) or lookup(lib, name)\n"
        "from skspectra.cli import main, run\n"
        f"argv = ['predict', {missing!r}, {missing!r}, '--out', {missing + '.csv'!r}]\n"
        "status = main(argv)\n"
        "before = looked_up.count('mallopt')\n"
        "sys.argv = ['skspectra', *argv]\n"
        "print(status, before, run(), looked_up.count('mallopt') > before)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    expected = ["2", "0", "2", "True" if sys.platform == "linux" else "False"]
    assert done.stdout.split()[-4:] == expected, done.stderr


@pytest.fixture
def npz(tmp_path):
    X, y = make_lines(n=120, n_points=64)
    X_test, y_test = make_lines(n=60, n_points=64, seed=1)
    path = tmp_path / "lines.npz"
    np.savez(path, X_train=X, y_train=y, X_test=X_test, y_test=y_test)
    return path


def test_every_command_has_help(capsys):
    # The installed entry point, once, in a fresh process.
    done = subprocess.run(
        [sys.executable, "-m", "skspectra", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "usage: skspectra" in done.stdout
    for command in ("demo", "train", "predict", "evaluate"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        assert f"usage: skspectra {command}" in capsys.readouterr().out


def test_demo_trains_reports_and_saves(tmp_path, capsys):
    out = tmp_path / "demo.joblib"
    code = main(["demo", "--n-spectra", "240", "--n-points", "256", *TINY, "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "logistic regression" in text and "confusion matrix" in text
    metrics = json.loads(out.with_name("demo.metrics.json").read_text())
    assert set(metrics["cnn"]["labels"]) == {"galaxy", "qso", "star", "unknown"}
    assert 0 <= metrics["cnn"]["macro_f1"] <= 1
    assert out.exists() and out.with_name("demo.history.png").stat().st_size > 1000


def test_train_predict_evaluate_round_trip(tmp_path, npz):
    model = tmp_path / "model.joblib"
    run("train", str(npz), "--split", "train", "--out", str(model), *TINY)
    history = json.loads((tmp_path / "model.history.json").read_text())
    assert [row["phase"] for row in history] == [1, 1, 1, 2]
    assert (tmp_path / "model.history.png").read_bytes()[:4] == b"\x89PNG"

    result = tmp_path / "result.csv"
    run(
        "predict",
        str(model),
        str(npz),
        "--split",
        "test",
        "--out",
        str(result),
        "--proba",
        "--chunk-size",
        "7",
        "--quiet",
    )
    table = pd.read_csv(result)
    assert list(table.columns) == ["id", "type", "p_galaxy", "p_qso", "p_star"]
    assert len(table) == 60
    np.testing.assert_allclose(table[["p_galaxy", "p_qso", "p_star"]].sum(axis=1), 1, atol=1e-5)
    y_test = np.load(npz)["y_test"]
    assert (table["type"].to_numpy() == y_test).mean() > 0.8

    plot = tmp_path / "confusion.png"
    metrics_path = tmp_path / "metrics.json"
    done = run(
        "evaluate",
        str(model),
        str(npz),
        "--split",
        "test",
        "--plot",
        str(plot),
        "--json",
        str(metrics_path),
    )
    assert "macro-F1" in done.stdout and "confusion matrix" in done.stdout
    metrics = json.loads(metrics_path.read_text())
    assert np.sum(metrics["confusion_matrix"]) == 60
    assert metrics["macro_f1"] == pytest.approx(
        float(done.stdout.split("macro-F1: ")[1].split()[0]), abs=1e-4
    )
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_contest_layout_round_trip(tmp_path):
    X, y = make_lines(n=90, n_points=64, classes=("galaxy", "qso", "star"))
    spectra = tmp_path / "train"
    spectra.mkdir()
    ids = [f"{1000 + i}" for i in range(len(X))]
    for id_, row in zip(ids, X, strict=True):
        (spectra / f"{id_}.txt").write_text(",".join(f"{v:.5f}" for v in row))
    pd.DataFrame({"id": ids, "type": y}).to_csv(tmp_path / "train_index.csv", index=False)
    pd.DataFrame({"id": ids[::-1]}).to_csv(tmp_path / "test_index.csv", index=False)

    model = tmp_path / "model.joblib"
    run(
        "train",
        str(tmp_path / "train_index.csv"),
        "--spectra-dir",
        str(spectra),
        "--out",
        str(model),
        *TINY,
    )
    result = tmp_path / "result.csv"
    run(
        "predict",
        str(model),
        str(tmp_path / "test_index.csv"),
        "--spectra-dir",
        str(spectra),
        "--out",
        str(result),
        "--quiet",
    )
    table = pd.read_csv(result, dtype=str)
    assert table["id"].tolist() == ids[::-1]  # the order of the index
    assert (table["type"].to_numpy() == y[::-1]).mean() > 0.8


def test_a_failed_command_leaves_the_previous_output_alone(tmp_path, npz, capsys):
    result = tmp_path / "result.csv"
    result.write_text("id,type\ngood,star\n")
    code = main(["predict", str(tmp_path / "missing.joblib"), str(npz), "--out", str(result)])
    assert code == 2
    assert "missing.joblib" in capsys.readouterr().err
    assert result.read_text() == "id,type\ngood,star\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lines.npz", "result.csv"]


def test_bad_options_are_explained(tmp_path, npz, capsys):
    with pytest.raises(SystemExit, match="label=fraction"):
        main(
            [
                "train",
                str(npz),
                "--split",
                "train",
                "--out",
                str(tmp_path / "m.joblib"),
                "--class-fractions",
                "star:0.5",
                *TINY,
            ]
        )
    X = np.zeros((4, 8), np.float32)
    np.save(tmp_path / "unlabelled.npy", X)
    with pytest.raises(SystemExit, match="no labels"):
        main(["train", str(tmp_path / "unlabelled.npy"), "--out", str(tmp_path / "m.joblib")])


def test_safe_model_format_round_trip(tmp_path, npz, capsys):
    model = tmp_path / "model.skspectra"
    assert main(["train", str(npz), "--split", "train", "--out", str(model), *TINY]) == 0
    assert model.read_bytes()[:2] == b"PK"  # a zip of JSON and tensors, not a pickle
    capsys.readouterr()
    metrics_path = tmp_path / "metrics.json"
    args = ["evaluate", str(model), str(npz), "--split", "test", "--json", str(metrics_path)]
    assert main(args) == 0
    assert json.loads(metrics_path.read_text())["macro_f1"] > 0.8


def test_predict_sets_inference_only_when_asked():
    from sklearn.pipeline import make_pipeline

    from skspectra import FluxScaler, SpectrumCNNClassifier
    from skspectra.cli import _choose_inference

    pipe = make_pipeline(FluxScaler(), SpectrumCNNClassifier(inference="compile"))
    _choose_inference(pipe, None)
    assert pipe[-1].inference == "compile"  # the model's own choice stays
    _choose_inference(pipe, "eager")
    assert pipe[-1].inference == "eager"


@pytest.mark.parametrize(
    ("flags", "norm", "augmented", "center", "mixup"),
    [
        ([], "default", "default", "default", "default"),
        (["--norm", "none", "--no-augment", "--center", "off", "--mixup", "off"], None, False,
         False, 0.0),
        (["--norm", "batch", "--augment", "--center", "on", "--mixup", "0.2"], "batch", True,
         True, 0.2),
        (["--center", "auto", "--mixup", "auto"], "default", "default", "auto", "auto"),
    ],
)  # fmt: skip
def test_train_options_reach_the_classifier(flags, norm, augmented, center, mixup):
    from skspectra import SpectrumCNNClassifier
    from skspectra.cli import _build_pipeline, build_parser

    args = build_parser().parse_args(["train", "data.npy", "--out", "m.joblib", *flags])
    clf = _build_pipeline(args)[-1]
    defaults = SpectrumCNNClassifier().get_params()
    expected_norm = defaults.get("module__norm") if norm == "default" else norm
    assert clf.get_params().get("module__norm") == expected_norm
    assert clf.augment is (defaults["augment"] if augmented == "default" else augmented)
    assert clf.center == (defaults["center"] if center == "default" else center)
    assert clf.mixup == (defaults["mixup"] if mixup == "default" else mixup)


@pytest.mark.parametrize(("flags", "expected"), [([], "default"), (["--n-networks", "3"], 3)])
def test_n_networks_reaches_the_classifier(flags, expected):
    from skspectra import SpectrumCNNClassifier
    from skspectra.cli import _build_pipeline, build_parser

    args = build_parser().parse_args(["train", "data.npy", "--out", "m.joblib", *flags])
    if expected == "default":
        expected = SpectrumCNNClassifier().n_networks
    assert _build_pipeline(args)[-1].n_networks == expected


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_bad_n_networks_is_refused_by_the_parser(value, capsys):
    from skspectra.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "data.npy", "--out", "m.joblib", "--n-networks", value])
    assert "expected a whole number >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "lots", "nan"])
def test_a_bad_mixup_alpha_is_refused_by_the_parser(value, capsys):
    from skspectra.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "data.npy", "--out", "m.joblib", "--mixup", value])
    assert "expected auto, off or an alpha >= 0" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "expected"), [([], "default"), (["--batch-size", "24"], 24)])
def test_batch_size_flag_takes_a_number_or_leaves_the_default(flags, expected):
    from skspectra import SpectrumCNNClassifier
    from skspectra.cli import _build_pipeline, build_parser

    args = build_parser().parse_args(["train", "data.npy", "--out", "m.joblib", *flags])
    if expected == "default":
        expected = SpectrumCNNClassifier().batch_size
    assert _build_pipeline(args)[-1].batch_size == expected


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "big", "auto"])
def test_a_bad_batch_size_is_refused_by_the_parser(value, capsys):
    from skspectra.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "data.npy", "--out", "m.joblib", "--batch-size", value])
    assert "expected a whole number >= 1" in capsys.readouterr().err
