"""Bad input at every public entry gets a ValueError or TypeError that names the problem."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skspectra import FluxScaler, SpectrumCNNClassifier
from skspectra.cli import main
from skspectra.io import read_contest

from .conftest import FAST, make_lines

X_GOOD, Y_GOOD = make_lines(n=60, n_points=32)

# (name, X, y, error type, a phrase the message must contain)
BAD_FIT = [
    ("nan", np.where(np.eye(60, 32, dtype=bool), np.nan, X_GOOD), Y_GOOD, ValueError, "NaN"),
    ("inf", np.where(np.eye(60, 32, dtype=bool), np.inf, X_GOOD), Y_GOOD, ValueError, "infinity"),
    ("empty", np.empty((0, 32)), np.empty(0, dtype=str), ValueError, "0 sample"),
    ("one class", X_GOOD, np.full(60, "star"), ValueError, "only one class"),
    ("1-D X", X_GOOD[0], Y_GOOD[:1], ValueError, "Expected 2D array"),
    ("strings", X_GOOD.astype(str).astype(object) + "x", Y_GOOD, ValueError, "convert"),
    ("complex", X_GOOD + 1j, Y_GOOD, ValueError, "Complex data not supported"),
    ("sparse", sp.csr_matrix(X_GOOD), Y_GOOD, TypeError, "toarray"),
    (
        "text column",
        pd.DataFrame(X_GOOD).rename(columns=str).assign(note="a"),
        Y_GOOD,
        ValueError,
        "convert",
    ),
    ("2 channels", np.stack([X_GOOD, X_GOOD], 1), Y_GOOD, ValueError, "channels"),
    ("short y", X_GOOD, Y_GOOD[:-1], ValueError, "inconsistent numbers of samples"),
    ("continuous y", X_GOOD, np.linspace(0, 1, 60), ValueError, "Unknown label type"),
]


@pytest.mark.parametrize("name, X, y, error, phrase", BAD_FIT, ids=[b[0] for b in BAD_FIT])
def test_classifier_fit_rejects(name, X, y, error, phrase):
    with pytest.raises(error, match=phrase):
        SpectrumCNNClassifier(**FAST).fit(X, y)


@pytest.mark.parametrize(
    "name, X, y, error, phrase",
    [b for b in BAD_FIT if b[0] not in ("one class", "short y", "continuous y", "2 channels")],
    ids=[
        b[0] for b in BAD_FIT if b[0] not in ("one class", "short y", "continuous y", "2 channels")
    ],
)
def test_scaler_rejects(name, X, y, error, phrase):
    if name == "nan":  # the scaler passes NaN through, documented; the classifier rejects it
        assert np.isnan(FluxScaler().fit_transform(X)).sum() == np.isnan(X).sum()
        return
    with pytest.raises(error, match=phrase):
        FluxScaler().fit_transform(X)


@pytest.fixture(scope="module")
def fitted():
    return SpectrumCNNClassifier(**FAST, random_state=0).fit(X_GOOD, Y_GOOD)


@pytest.mark.parametrize(
    "X, phrase",
    [
        (X_GOOD[:, :20], "has 20 features, but SpectrumCNNClassifier is expecting 32"),
        (np.full((2, 32), np.nan), "NaN"),
        (X_GOOD[0], "Expected 2D array"),
        (np.empty((0, 32)), "0 sample"),
        (X_GOOD.astype(complex), "Complex"),
    ],
)
def test_predict_rejects(fitted, X, phrase):
    with pytest.raises(ValueError, match=phrase):
        fitted.predict(X)


def test_wrong_parameters_are_named():
    for params, phrase in [
        ({"max_epochs": -1}, "max_epochs"),
        ({"class_fractions": "even"}, "class_fractions"),
        ({"validation_split": 1.5}, "validation_split"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "large"}, "batch_size"),
    ]:
        with pytest.raises(ValueError, match=phrase):
            SpectrumCNNClassifier(**{**FAST, **params}).fit(X_GOOD, Y_GOOD)
    with pytest.raises(ValueError, match="no fraction for class"):
        SpectrumCNNClassifier(**FAST, class_fractions={"star": 1.0}).fit(X_GOOD, Y_GOOD)


def test_cli_reports_bad_data_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[1.0, np.nan], [2.0, 3.0]]))
    assert main(["predict", "nothing.joblib", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    shape=st.tuples(st.integers(0, 4), st.integers(0, 5)),
    dtype=st.sampled_from(["float32", "float64", "int64", "object", "complex128", "bool"]),
    fill=st.sampled_from([0.0, 1.5, np.nan, np.inf, "a"]),
)
def test_input_validation_never_gives_a_silently_wrong_array(shape, dtype, fill):
    """Any array either validates to finite float32 of the same shape or raises a clear error."""
    try:
        X = np.full(shape, fill, dtype=dtype)
    except (ValueError, TypeError):
        return
    clf = SpectrumCNNClassifier()
    try:
        checked = clf._check_X(X)
    except (ValueError, TypeError) as exc:
        assert str(exc)  # a message, never an empty error
        return
    assert checked.dtype == np.float32 and checked.shape == shape
    assert np.isfinite(checked).all()


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.text(alphabet="0123456789.,-eEnaif \n", max_size=40))
def test_contest_reader_parses_exactly_or_names_the_file(tmp_path, text):
    """Whatever a spectrum file holds, the reader returns its numbers or names the file."""
    folder = tmp_path / "spectra"
    folder.mkdir(exist_ok=True)
    (folder / "1.txt").write_text(text)
    (folder / "2.txt").write_text("1.0,2.0,3.0")
    (tmp_path / "index.csv").write_text("id\n1\n2\n")
    try:
        X = read_contest(tmp_path / "index.csv", folder, n_points=3, cache=False, progress=False).X
    except ValueError as exc:
        assert "1.txt" in str(exc)
        return
    expected = np.array([float(v) for v in text.replace("\n", "").strip().rstrip(",").split(",")])
    np.testing.assert_array_equal(X[0], expected.astype(np.float32))
    assert np.isfinite(X).all()
