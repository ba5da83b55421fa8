"""SpectrumCNNClassifier's scikit-learn contract: weights, class weights, labels, pure prediction,
no process-wide side effects, no import circle, and errors instead of silent failures."""

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback

from skspectra import FluxScaler, SpectrumCNNClassifier

from .conftest import FAST, make_lines

QUICK = {**FAST, "max_epochs": 6, "f1_epochs": 2, "validation_split": None, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    return make_lines(n=90)


def test_sample_weight_of_ones_is_no_weight_and_zero_keeps_a_class_out(data):
    X, y = data
    plain = SpectrumCNNClassifier(**QUICK).fit(X, y)
    ones = SpectrumCNNClassifier(**QUICK).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(plain.predict_proba(X), ones.predict_proba(X))
    assert (plain.predict(X) == "qso").sum() > 20
    weight = np.where(y == "qso", 0.0, 1.0)
    no_qso = SpectrumCNNClassifier(**QUICK).fit(X, y, sample_weight=weight)
    assert list(no_qso.classes_) == ["galaxy", "qso", "star"]  # still a class of the model
    assert (no_qso.predict(X) == "qso").sum() == 0
    # Weights change the fit: doubling one class is not the same fit as none.
    doubled = SpectrumCNNClassifier(**QUICK).fit(X, y, sample_weight=np.where(y == "qso", 2, 1))
    assert not np.array_equal(doubled.predict_proba(X), plain.predict_proba(X))


def test_sample_weight_is_routed_through_a_pipeline(data):
    X, y = data
    weight = np.where(y == "qso", 0.0, 1.0)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = SpectrumCNNClassifier(**QUICK).set_fit_request(sample_weight=True)
        pipe = make_pipeline(FluxScaler(), clf)
        pipe.fit(X, y, sample_weight=weight)
    assert (pipe.predict(X) == "qso").sum() == 0


def test_class_weight_balanced_equals_the_matching_sample_weights():
    X, y = make_lines(n=90)
    keep = np.r_[np.flatnonzero(y != "qso"), np.flatnonzero(y == "qso")[:10]]
    X, y = X[keep], y[keep]
    balanced = SpectrumCNNClassifier(**QUICK, class_weight="balanced").fit(X, y)
    counts = {c: (y == c).sum() for c in np.unique(y)}
    weight = np.array([len(y) / (3 * counts[c]) for c in y])
    by_hand = SpectrumCNNClassifier(**QUICK).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(balanced.predict_proba(X), by_hand.predict_proba(X), atol=1e-6)
    as_dict = SpectrumCNNClassifier(**QUICK, class_weight={"galaxy": 1, "qso": 0, "star": 1})
    assert (as_dict.fit(X, y).predict(X) == "qso").sum() == 0


@pytest.mark.parametrize("bad", ["balance", 3, ["qso"]])
def test_class_weight_is_validated_with_the_other_parameters(data, bad):
    with pytest.raises(ValueError, match="class_weight"):
        SpectrumCNNClassifier(**QUICK, class_weight=bad).fit(*data)


class _Drawn(Callback):
    def initialize(self):
        self.labels = []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.labels.append(batch[1].numpy().copy())


def test_a_rare_class_is_drawn_at_a_fraction_below_one_spectrum_a_batch():
    """Fractions .9/.06/.02/.02 at batches of 16: 0.32 of a member a batch for the rarest."""
    X, y = make_lines(n=200, classes=("star", "unknown", "galaxy", "qso"))
    drawn = _Drawn()
    fractions = {"star": 0.9, "unknown": 0.06, "galaxy": 0.02, "qso": 0.02}
    SpectrumCNNClassifier(
        **{**QUICK, "max_epochs": 1, "f1_epochs": 0, "batch_size": 16},
        class_fractions=fractions,
        batches_per_epoch=200,
        callbacks=[drawn],
    ).fit(X, y)
    counts = np.bincount(np.concatenate(drawn.labels), minlength=4) / 200
    # classes_: galaxy, qso, star, unknown
    np.testing.assert_allclose(counts, [0.32, 0.32, 14.4, 0.96], atol=0.1)


def test_binary_string_labels_through_grid_search_with_the_default_scorer():
    from sklearn.model_selection import GridSearchCV

    from skspectra import macro_f1_scorer

    X, y = make_lines(n=60, classes=("star", "galaxy"))
    search = GridSearchCV(
        SpectrumCNNClassifier(**QUICK), {"lr": [1e-3, 3e-3]}, cv=2, scoring=macro_f1_scorer
    )
    search.fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_score_ > 0.8


def test_prediction_is_a_pure_function_of_the_fitted_model(data, monkeypatch):
    """The same backend from the first call to the last, and no allocator tuning."""
    from skspectra import inference

    X, y = data
    clf = SpectrumCNNClassifier(**QUICK).fit(X, y)
    monkeypatch.setattr(inference, "tune_malloc", lambda: pytest.fail("mallopt was called"))
    first = clf.predict_proba(X[:1])
    for _ in range(300):  # "auto" used to switch to ONNX Runtime after 150 single spectra
        later = clf.predict_proba(X[:1])
    np.testing.assert_array_equal(first, later)
    predictor = clf.__dict__["_predictor_"]
    assert predictor._session is None and not predictor._compiled
    # In a larger batch the same spectrum takes the convolutions' path: float32 round-off.
    np.testing.assert_allclose(clf.predict_proba(X[:40])[:1], first, atol=1e-6)


def test_fit_and_predict_leave_process_wide_state_alone(data):
    import signal

    import torch

    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    rng = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    clf = SpectrumCNNClassifier(**QUICK).fit(*data)
    clf.predict(data[0])
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert torch.get_num_threads() == threads


def test_the_package_has_no_import_circle():
    """Module-level imports between skspectra's modules form no cycle."""
    root = Path(__file__).resolve().parents[1] / "skspectra"
    graph = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        package = ".".join(parts[:-1])
        deps = set()
        for node in ast.parse(path.read_text()).body:  # top level only: lazy imports are fine
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = [b for b in base if b]
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names if not node.module else [None]:
                    deps.add(target if alias is None else ".".join([*base, alias.name]))
        graph[name] = {d for d in deps if d != name}
    known = set(graph)

    def visit(node, stack):
        if node in stack:
            pytest.fail(f"import circle: {' -> '.join([*stack, node])}")
        for dep in graph.get(node, ()):
            if dep in known and dep != "":  # the package's __init__ imports everything
                visit(dep, [*stack, node])

    for module in known - {""}:
        visit(module, [])


def test_a_fit_that_cannot_learn_its_training_spectra_warns():
    X, y = make_lines(n=60)
    X[:] = X[0]  # every spectrum the same: nothing tells the classes apart
    with pytest.warns(UserWarning, match="did not learn its own training spectra"):
        clf = SpectrumCNNClassifier(**QUICK).fit(X, y)
    assert clf.training_f1_ < 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        good = SpectrumCNNClassifier(**QUICK).fit(*make_lines(n=60))
    assert good.training_f1_ > 0.9


def test_values_at_the_float32_limit_are_errors_not_nan(data):
    X, y = data
    huge = X.copy()
    huge[0] = 3e38
    with pytest.raises(ValueError, match="training loss became nan"):
        SpectrumCNNClassifier(**QUICK).fit(huge, y)
    clf = SpectrumCNNClassifier(**{**QUICK, "max_epochs": 1, "f1_epochs": 0})
    clf.fit(X, y)
    with pytest.raises(ValueError, match="not finite for 1 spectra"):
        clf.predict_proba(huge[:3])


def test_a_dataframe_gives_feature_names_and_they_are_checked():
    import pandas as pd

    X, y = make_lines(n=60)
    frame = pd.DataFrame(X, columns=[f"w{i}" for i in range(X.shape[1])])
    clf = SpectrumCNNClassifier(**{**QUICK, "max_epochs": 1, "f1_epochs": 0}).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)  # fitted with names, given none: scikit-learn's warning
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"w0": "x"}))
