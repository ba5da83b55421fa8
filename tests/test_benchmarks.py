"""The benchmark scripts' own logic (their measurements run outside the test suite)."""

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
