"""Tests of macro_f1_scorer, the contest's metric as a scikit-learn scorer."""

import warnings

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import cross_val_score

from skspectra.metrics import macro_f1_scorer

from .conftest import make_lines


@pytest.fixture(scope="module")
def fitted():
    X, y = make_lines(n=90, n_points=32)
    X_test, y_test = make_lines(n=60, n_points=32, seed=1)
    # A weak model, so that the score is neither 0 nor 1 and the averaging matters.
    clf = LogisticRegression(C=1e-3, max_iter=200).fit(X[:, :10], y)
    return clf, X_test[:, :10], y_test


def test_equals_macro_f1_of_predictions(fitted):
    clf, X, y = fitted
    expected = f1_score(y, clf.predict(X), average="macro")
    assert 0 < expected < 1
    assert macro_f1_scorer(clf, X, y) == pytest.approx(expected, abs=1e-12)
    # Macro, not micro/weighted: with unequal per-class F1 they differ.
    per_class = f1_score(y, clf.predict(X), average=None)
    assert macro_f1_scorer(clf, X, y) == pytest.approx(per_class.mean())


def test_good_model_scores_higher_than_dummy():
    X, y = make_lines(n=90, n_points=32)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    dummy = DummyClassifier(strategy="stratified", random_state=0).fit(X, y)
    good = macro_f1_scorer(clf, X, y)
    assert good > 0.95
    assert good > macro_f1_scorer(dummy, X, y) + 0.3  # greater is better: not negated


def test_never_predicted_class_scores_zero_without_warnings():
    X = np.zeros((10, 2))
    y = np.array(["star"] * 6 + ["qso"] * 2 + ["galaxy"] * 2)
    clf = DummyClassifier(strategy="most_frequent").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = macro_f1_scorer(clf, X, y)
    star_f1 = 2 * 6 / (6 + 10)
    assert score == pytest.approx((star_f1 + 0 + 0) / 3)


def test_usable_in_cross_validation():
    X, y = make_lines(n=60, n_points=32)
    scores = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3, scoring=macro_f1_scorer)
    assert scores.shape == (3,)
    assert np.all((scores > 0.8) & (scores <= 1))


def test_binary_string_labels_through_grid_search():
    """Star vs galaxy: the scorer must score, not return NaN (scikit-learn's default pos_label=1
    is not a label here), and GridSearchCV must pick the candidate that separates the classes."""
    from sklearn.model_selection import GridSearchCV

    X, y = make_lines(n=60, n_points=32)
    y = np.where(y == y[0], "star", "galaxy")
    search = GridSearchCV(
        LogisticRegression(max_iter=500), {"C": [1e-6, 10.0]}, cv=3, scoring=macro_f1_scorer
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NaN score warns in GridSearchCV
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    assert search.best_params_ == {"C": 10.0}
    assert macro_f1_scorer(search, X, y) == pytest.approx(
        f1_score(y, search.predict(X), average="macro")
    )
