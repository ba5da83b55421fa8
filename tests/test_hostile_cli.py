"""The command line against bad numbers, bad output paths and interruptions (issue 27, items 4
and 5): refused when parsed, before any data is read; an interrupted train never replaces the
previous model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from skspectra.cli import build_parser, main

from .conftest import make_lines


def _parse_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("value", ["-5", "0", "2.5", "many"])
def test_a_bad_chunk_size_is_refused_when_parsed(value, capsys, tmp_path):
    argv = ["predict", "m.joblib", "data.npy", "--out", str(tmp_path / "p.csv")]
    error = _parse_error([*argv, "--chunk-size", value], capsys)
    assert "--chunk-size: expected a whole number >= 1" in error


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--filters", "4,x", "expected whole numbers >= 1 separated by commas"),
        ("--filters", "4,0", "expected whole numbers >= 1"),
        ("--epochs", "-1", "expected a whole number >= 0"),
        ("--lr", "0", "expected a number in (0, inf]"),
        ("--lr", "nan", "expected a number in"),
        ("--dropout", "1", "expected a number in [0, 1)"),
        ("--seed", "-2", "expected a whole number from 0"),
        ("--batches-per-epoch", "0", "expected a whole number >= 1"),
        ("--validation-split", "1.5", "expected a fraction in (0, 1), a number of spectra >= 1"),
        ("--validation-split", "-3", "expected a fraction in (0, 1)"),
        ("--validation-split", "auto", "expected a fraction in (0, 1)"),
    ],
)
def test_bad_training_numbers_are_refused_before_any_data_is_read(
    option, value, message, capsys, tmp_path
):
    # The data file does not exist: the option's error comes first, from the parser.
    argv = ["train", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "m.joblib")]
    error = _parse_error([*argv, option, value], capsys)
    assert f"{option}: {message}" in error
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("value", "expected"), [("0.25", 0.25), ("40", 40), ("0", None)])
def test_validation_split_takes_a_fraction_a_count_or_zero(value, expected):
    from skspectra.cli import _build_pipeline

    args = build_parser().parse_args(
        ["train", "data.npy", "--out", "m.joblib", "--validation-split", value]
    )
    assert _build_pipeline(args)[-1].validation_split == expected


def test_an_output_folder_is_refused_before_the_work_starts(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    for argv in (
        ["predict", "m.joblib", "data.npy", "--out", str(folder)],
        ["train", "data.npy", "--out", str(folder)],
        ["train", "data.npy", "--out", str(tmp_path / "new") + os.sep],
        ["evaluate", "m.joblib", "data.npy", "--json", str(folder)],
    ):
        assert "is a folder: name the file to write in it" in _parse_error(argv, capsys)


def test_an_output_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    argv = ["predict", "m.joblib", "data.npy", "--out", str(tmp_path / "afile" / "p.csv")]
    assert "is not a folder" in _parse_error(argv, capsys)


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root writes in read-only folders"
)
def test_an_unwritable_output_folder_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        argv = ["predict", "m.joblib", "data.npy", "--out", str(locked / "p.csv")]
        assert "is not writable" in _parse_error(argv, capsys)
    finally:
        locked.chmod(0o700)


def test_an_output_in_a_new_folder_is_accepted(tmp_path):
    args = build_parser().parse_args(
        ["predict", "m.joblib", "data.npy", "--out", str(tmp_path / "new" / "deeper" / "p.csv")]
    )
    assert args.out.endswith("p.csv")


def test_predict_chunks_of_one_write_every_row(tmp_path, capsys):
    from pathlib import Path

    from sklearn.pipeline import make_pipeline

    from skspectra import FluxScaler, SpectrumCNNClassifier
    from skspectra.cli import _dump_model

    X, y = make_lines(n=20, n_points=16)
    model = make_pipeline(
        FluxScaler(),
        SpectrumCNNClassifier(
            max_epochs=1, f1_epochs=0, module__filters=(4,), module__hidden_units=None
        ),
    ).fit(X, y)
    _dump_model(model, tmp_path / "m.joblib")
    np.save(tmp_path / "X.npy", X[:3])
    out = tmp_path / "p.csv"
    argv = ["predict", str(tmp_path / "m.joblib"), str(tmp_path / "X.npy"), "--out", str(out)]
    assert main([*argv, "--chunk-size", "1", "--quiet"]) == 0
    assert len(Path(out).read_text().splitlines()) == 4
    assert "wrote 3 predictions" in capsys.readouterr().out


# ---------------------------------------------------------------------------- interruptions
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_train_keeps_the_previous_model_and_exits_with_the_signal(
    tmp_path, signum, status
):
    X, y = make_lines(n=60, n_points=32)
    data = tmp_path / "lines.npz"
    np.savez(data, X=X, y=y)
    out = tmp_path / "model.skspectra"
    out.write_bytes(b"the previous, complete model")
    # Endless training, so that the signal surely arrives during it.
    argv = [sys.executable, "-m", "skspectra", "train", str(data), "--out", str(out)]
    argv += ["--epochs", "100000", "--f1-epochs", "0", "--filters", "4", "--batch-size", "16"]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"},
    )
    try:
        # The epoch table's rows start with the epoch number: training is under way.
        deadline = time.monotonic() + 120
        for line in process.stdout:
            if line.strip()[:1].isdigit() or time.monotonic() > deadline:
                break
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == status, err
    assert out.read_bytes() == b"the previous, complete model"
    assert "was not replaced" in err
    partial = tmp_path / "model.partial.skspectra"
    assert partial.exists(), err
    from skspectra.persistence import load

    assert load(partial).predict(X[:5]).shape == (5,)


def test_a_checkpoint_dir_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    argv = ["train", "data.npy", "--out", "m.joblib", "--checkpoint-dir", str(tmp_path / "afile")]
    assert "is a file: name a folder" in _parse_error(argv, capsys)
    ok = ["train", "data.npy", "--out", "m.joblib", "--checkpoint-dir", str(tmp_path / "new")]
    assert build_parser().parse_args(ok).checkpoint_dir == str(tmp_path / "new")
