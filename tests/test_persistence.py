"""skspectra.persistence: save/load round trips, refusals, damaged and malicious files."""

import io
import json
import os
import pickle
import stat
import warnings
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ShuffleSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from skspectra import (
    FluxScaler,
    SpectrumAugmentation,
    SpectrumCNNClassifier,
    SpectrumResNet,
    __version__,
)
from skspectra.persistence import FORMAT_VERSION, load, save

from .conftest import FAST, make_alike, make_lines

# Fewer epochs than FAST: these tests need fitted weights and a history over both phases, not a
# good classifier.
SHORT = {**FAST, "max_epochs": 3, "f1_epochs": 1}
# A network of a few hundred weights for the many small fits.
TINY = dict(
    max_epochs=1,
    f1_epochs=0,
    batches_per_epoch=2,
    module__filters=(4,),
    module__hidden_units=None,
    random_state=0,
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Two torch threads on two cores shared with other processes spin against each other:
    # one fit measured 2 s with one thread and 32 s with two. Restored after this module.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return make_lines(n=90)


@pytest.fixture(scope="module")
def pipe(_one_thread, data):
    X, y = data
    return make_pipeline(
        FluxScaler(method="median"), SpectrumCNNClassifier(**SHORT, random_state=0)
    ).fit(X, y)


@pytest.fixture(scope="module")
def saved(pipe, tmp_path_factory):
    return save(pipe, tmp_path_factory.mktemp("saved") / "model.skspectra")


def _tiny_fit(y, X=None, **params):
    if X is None:
        X = make_lines(n=len(y), n_points=16)[0]
    return SpectrumCNNClassifier(**{**TINY, **params}).fit(X, y)


def _rewrite(source, target, description=None, weights=None, drop=()):
    """Copy a model file, replacing its description (bytes, or a function of the parsed JSON)
    or its weights member (bytes), or leaving members out."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if isinstance(description, bytes):
        members["skspectra.json"] = description
    elif description is not None:
        members["skspectra.json"] = json.dumps(description(json.loads(members["skspectra.json"])))
    if weights is not None:
        members["weights.pt"] = weights
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members.items():
            if name not in drop:
                archive.writestr(name, content)
    return target


# ---------------------------------------------------------------------------- round trips
def test_pipeline_round_trip_predicts_to_the_bit(pipe, saved, data):
    X, y = data
    rng_state = torch.get_rng_state()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain load warns of nothing
        loaded = load(saved)
    assert torch.equal(torch.get_rng_state(), rng_state)  # building the net drew nothing

    check_is_fitted(loaded)
    assert isinstance(loaded, Pipeline)
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    assert loaded[0].get_params() == pipe[0].get_params()
    assert loaded[0].n_features_in_ == 64
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))

    clf, original = loaded[-1], pipe[-1]
    assert not clf.module_.training
    assert type(clf.module_) is SpectrumResNet
    assert clf.classes_.dtype == original.classes_.dtype
    np.testing.assert_array_equal(clf.classes_, original.classes_)
    assert clf.n_features_in_ == original.n_features_in_
    assert clf.best_epoch_ == original.best_epoch_ is not None
    assert len(clf.history) == len(original.history) == 4
    assert clf.history[:, "phase"] == [1, 1, 1, 2]
    assert clf.history[:, "valid_f1"] == original.history[:, "valid_f1"]
    assert clf.history[-1, "batches", 0, "train_loss"] == pytest.approx(
        original.history[-1, "batches", 0, "train_loss"]
    )
    assert clf.get_params(deep=False) == original.get_params(deep=False)


def test_loads_in_threads_leave_the_warning_filters_as_they_were(saved, data):
    # load silences one torch warning with warnings.catch_warnings, which swaps process-wide
    # filters: without a lock, loads that overlapped in threads left the silencing behind.
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        before = list(warnings.filters)
        for _ in range(5):
            with joblib.parallel_config(backend="threading"):
                models = joblib.Parallel(n_jobs=4)(joblib.delayed(load)(saved) for _ in range(8))
            assert warnings.filters == before
    assert len({m.predict(X[:5]).tobytes() for m in models}) == 1


def test_bare_classifier_round_trip(pipe, data, tmp_path):
    X, _ = data
    clf = pipe[-1]
    loaded = load(save(clf, tmp_path / "clf.skspectra"))
    assert type(loaded) is SpectrumCNNClassifier
    check_is_fitted(loaded)
    Xs = pipe[0].transform(X)
    np.testing.assert_array_equal(loaded.predict_proba(Xs), clf.predict_proba(Xs))


def test_an_ensemble_round_trips_and_older_files_hold_one_network(saved, data, tmp_path):
    X, y = data
    clf = SpectrumCNNClassifier(**{**SHORT, "n_networks": 2}, random_state=0).fit(X, y)
    loaded = load(save(clf, tmp_path / "ensemble.skspectra"))
    assert loaded.n_networks_ == 2 and len(loaded.module_.networks) == 2
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))

    # Files written before n_networks existed describe one network, and load as one.
    def older(d):
        del d["classifier"]["n_networks_"]
        return d

    one = load(_rewrite(saved, tmp_path / "older.skspectra", description=older))
    assert one[-1].n_networks_ == 1 and type(one[-1].module_) is SpectrumResNet

    def broken(d):
        d["classifier"]["n_networks_"] = "5"
        return d

    with pytest.raises(ValueError, match="classifier.n_networks_: .5. is not an integer from 1 to"):
        load(_rewrite(saved, tmp_path / "broken.skspectra", description=broken))


def test_weight_decay_round_trips_and_older_files_load_without_it(saved, tmp_path):
    clf = _tiny_fit(np.array(["a", "b"] * 10), weight_decay=0.05)
    assert load(save(clf, tmp_path / "decay.skspectra")).weight_decay == 0.05

    def older(d):  # files written before the parameter existed do not name it
        del d["classifier"]["params"]["weight_decay"]
        return d

    assert (
        load(_rewrite(saved, tmp_path / "older.skspectra", description=older))[-1].weight_decay
        == 0.0
    )


def test_max_points_is_saved_and_older_files_load_seeing_every_point(saved, tmp_path):
    X, y = make_lines(n=20, n_points=40)
    clf = _tiny_fit(y, X, module__max_points=16)  # bins of 3
    back = load(save(clf, tmp_path / "binned.skspectra"))
    assert back.module_.bin == 3 and back.get_params()["module__max_points"] == 16
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    default = _tiny_fit(y, X)
    back = load(save(default, tmp_path / "default.skspectra"))
    assert back.get_params(deep=False) == default.get_params(deep=False)
    assert back.module_.max_points == default.module_.max_points == 1024

    def today_default_differs(d):  # a network built with another day's default
        d["classifier"]["max_points_"] = 16
        return d

    other = load(_rewrite(saved, tmp_path / "other.skspectra", description=today_default_differs))
    assert other[-1].module_.max_points == 16

    def older(d):  # files written before max_points existed name it nowhere
        del d["classifier"]["max_points_"]
        return d

    old = load(_rewrite(saved, tmp_path / "older.skspectra", description=older))
    assert old[-1].module_.bin == 1 and old[-1].module_.max_points is None
    assert old[-1].get_params()["module__max_points"] is None  # a refit builds the same network


def test_loaded_model_survives_joblib_and_clone(saved, data, tmp_path):
    X, y = data
    loaded = load(saved)
    joblib.dump(loaded, tmp_path / "m.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "m.joblib").predict_proba(X), loaded.predict_proba(X)
    )
    fresh = clone(loaded)
    with pytest.raises(NotFittedError):
        fresh.predict(X)
    assert fresh[-1].get_params()["module__filters"] == (8, 8, 16)  # tuples stay tuples
    fresh.set_params(spectrumcnnclassifier__max_epochs=1, spectrumcnnclassifier__f1_epochs=0)
    assert fresh.fit(X, y).predict(X).shape == y.shape


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["qso", "star"] * 10),
        pd.Series(["qso", "star"] * 10, dtype=object),
        np.array([3, -7] * 10, dtype=np.int32),
        np.array([2**40, 5] * 10),
        np.array([True, False] * 10),
        np.array([1.0, 2.0] * 10),
    ],
    ids=["str", "object-str", "int32", "int64", "bool", "float"],
)
def test_labels_come_back_with_their_dtype(labels, tmp_path):
    clf = _tiny_fit(labels)
    loaded = load(save(clf, tmp_path / "m.skspectra"))
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert loaded.classes_.tolist() == clf.classes_.tolist()
    assert [type(c) for c in loaded.classes_] == [type(c) for c in clf.classes_]
    X = make_lines(n=20, n_points=16)[0]
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


@pytest.mark.parametrize("with_scaler", [True, False])
def test_feature_names_round_trip(with_scaler, tmp_path):
    X, y = make_lines(n=20, n_points=16, classes=("a", "b"))
    frame = pd.DataFrame(X, columns=[f"w{i}" for i in range(16)])
    model = SpectrumCNNClassifier(**TINY)
    if with_scaler:
        model = make_pipeline(FluxScaler(), model)
    model.fit(frame, y)
    loaded = load(save(model, tmp_path / "m.skspectra"))
    np.testing.assert_array_equal(loaded.feature_names_in_, frame.columns)
    assert loaded.feature_names_in_.dtype == object
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # named columns are still recognised
        np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    with pytest.warns(UserWarning, match="feature names"):
        loaded.predict(X)


class _Counter(Callback):
    def initialize(self):
        self.epochs_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1


class _MyAdam(torch.optim.Adam):
    pass


def test_parameters_json_cannot_hold_are_dropped_and_listed(tmp_path):
    y = np.array(["a", "b"] * 10)
    clf = _tiny_fit(
        y,
        callbacks=[("count", _Counter())],
        validation_split=ShuffleSplit(n_splits=1, test_size=0.3, random_state=0),
        optimizer=_MyAdam,
        optimizer__weight_decay=0.01,  # would be handed to the default optimizer if kept
        criterion=torch.nn.NLLLoss,
        class_fractions={"a": 0.7, "b": 0.3},
    )
    path = save(clf, tmp_path / "m.skspectra")
    with zipfile.ZipFile(path) as archive:
        description = json.loads(archive.read("skspectra.json"))
    assert description["classifier"]["dropped_params"] == [
        "callbacks",
        "optimizer",
        "optimizer__weight_decay",
        "validation_split",
    ]
    loaded = load(path)
    X = make_lines(n=20, n_points=16)[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    params = loaded.get_params()
    assert params["optimizer"] is torch.optim.Adam  # the default replaces the dropped class
    assert params["criterion"] is torch.nn.NLLLoss  # a torch class is kept, by name
    assert params["class_fractions"] == {"a": 0.7, "b": 0.3}
    # The default replaces the dropped splitter.
    assert params["validation_split"] == SpectrumCNNClassifier().validation_split


def test_torch_classes_and_their_parameters_are_kept(tmp_path):
    clf = _tiny_fit(
        np.array([0, 1] * 10), optimizer=torch.optim.SGD, optimizer__momentum=0.9, lr=0.05
    )
    loaded = load(save(clf, tmp_path / "m.skspectra"))
    assert loaded.optimizer is torch.optim.SGD
    assert loaded.optimizer__momentum == 0.9
    assert loaded.optimizer_.param_groups[0]["momentum"] == 0.9


# ---------------------------------------------------------------------------- refusals
def test_unfitted_models_are_refused(tmp_path):
    with pytest.raises(NotFittedError):
        save(SpectrumCNNClassifier(), tmp_path / "m.skspectra")
    with pytest.raises(NotFittedError):
        save(make_pipeline(FluxScaler(), SpectrumCNNClassifier()), tmp_path / "m.skspectra")
    assert not any(tmp_path.iterdir())


class _OtherNet(SpectrumResNet):
    pass


def test_other_networks_are_refused(tmp_path):
    clf = _tiny_fit(np.array(["a", "b"] * 10), module=_OtherNet)
    with pytest.raises(TypeError, match="module=SpectrumResNet.*_OtherNet"):
        save(clf, tmp_path / "m.skspectra")


def test_unstorable_network_parameters_are_refused(tmp_path):
    clf = _tiny_fit(np.array(["a", "b"] * 10), module__dilations=range(1, 3))
    with pytest.raises(ValueError, match="module__dilations"):
        save(clf, tmp_path / "m.skspectra")


def test_other_pipelines_and_estimators_are_refused(pipe, tmp_path):
    scaler, clf = pipe[0], pipe[-1]
    cases = [
        (Pipeline([("std", StandardScaler()), ("net", clf)]), "'std' \\(StandardScaler"),
        (
            Pipeline([("a", scaler), ("std", StandardScaler()), ("net", clf)]),
            "'std' \\(StandardScaler, step 2 of 3",
        ),
        (Pipeline([("flux", scaler), ("lr", LogisticRegression())]), "'lr' \\(LogisticRegression"),
    ]
    for model, message in cases:
        with pytest.raises(TypeError, match=message):
            save(model, tmp_path / "m.skspectra")
    with pytest.raises(TypeError, match="got LogisticRegression"):
        save(LogisticRegression(), tmp_path / "m.skspectra")


# ---------------------------------------------------------------------------- versions, devices
def test_newer_format_version_is_refused(saved, tmp_path):
    def newer(d):
        d["format_version"] = FORMAT_VERSION + 1
        d["versions"]["skspectra"] = "9.0.0"
        return d

    path = _rewrite(saved, tmp_path / "new.skspectra", description=newer)
    with pytest.raises(ValueError, match=f"9.0.0 in model format version {FORMAT_VERSION + 1}"):
        load(path)


def test_other_library_versions_warn_but_load(saved, data, tmp_path):
    def older(d):
        d["versions"].update(skspectra="0.0.1", torch="2.2.0+cu118")
        return d

    path = _rewrite(saved, tmp_path / "old.skspectra", description=older)
    with pytest.warns(UserWarning, match=r"skspectra 0\.0\.1 .*torch 2\.2\.0\+cu118") as record:
        loaded = load(path)
    assert f"(this is {__version__})" in str(record[0].message)
    X, _ = data
    np.testing.assert_array_equal(loaded.predict_proba(X), load(saved).predict_proba(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_model_loads_on_cpu_without_cuda(saved, data, tmp_path):
    def on_gpu(d):
        d["classifier"]["params"]["device"] = "cuda:0"
        return d

    path = _rewrite(saved, tmp_path / "gpu.skspectra", description=on_gpu)
    with pytest.warns(UserWarning, match="device='cuda:0'.*CPU"):
        loaded = load(path)
    assert loaded[-1].device == "cpu"
    X, _ = data
    np.testing.assert_array_equal(loaded.predict_proba(X), load(saved).predict_proba(X))


# ---------------------------------------------------------------------------- damaged files
def test_damaged_files_raise_value_errors_naming_the_file(saved, tmp_path):
    content = saved.read_bytes()
    truncated = tmp_path / "truncated.skspectra"
    truncated.write_bytes(content[: len(content) // 2])
    flipped = tmp_path / "flipped.skspectra"
    with zipfile.ZipFile(saved) as archive:
        middle = archive.getinfo("weights.pt").header_offset + 1000  # inside the weights
    flipped.write_bytes(content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :])
    text = tmp_path / "text.skspectra"
    text.write_text("not a model")
    no_weights = _rewrite(saved, tmp_path / "no_weights.skspectra", drop=["weights.pt"])
    no_json = _rewrite(saved, tmp_path / "no_json.skspectra", drop=["skspectra.json"])
    bad_json = _rewrite(saved, tmp_path / "bad_json.skspectra", description=b"{not json")
    no_classes = _rewrite(
        saved,
        tmp_path / "no_classes.skspectra",
        description=lambda d: {**d, "classifier": {**d["classifier"], "classes_": None}},
    )
    wrong_shape = _rewrite(
        saved,
        tmp_path / "wrong_shape.skspectra",
        weights=_torch_bytes({"x": torch.zeros(3)}),
    )
    cases = {
        truncated: "truncated or corrupted",
        flipped: "truncated or corrupted",
        text: "truncated or corrupted",
        no_weights: "weights member 'weights.pt' is missing",
        no_json: "no member 'skspectra.json'",
        bad_json: "not valid JSON",
        no_classes: "classifier.classes_: is not a",
        wrong_shape: "do not fit the network",
    }
    for path, message in cases.items():
        with pytest.raises(ValueError, match=message) as info:
            load(path)
        assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.skspectra")


def test_unknown_classes_in_the_description_are_refused(saved, tmp_path):
    def evil(d):
        d["classifier"]["params"]["optimizer"] = {"class": "os.system"}
        return d

    path = _rewrite(saved, tmp_path / "evil.skspectra", description=evil)
    with pytest.raises(ValueError, match="not one a skspectra model may name") as info:
        load(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------- no code runs
class _Payload:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def _torch_bytes(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_a_malicious_weights_pickle_is_refused_not_run(saved, tmp_path):
    marker = tmp_path / "pwned"
    payload = _torch_bytes({"features.0.convs.0.weight": _Payload(marker)})
    # The payload is live: an ordinary unpickling runs it.
    torch.load(io.BytesIO(payload), weights_only=False)
    assert marker.exists()
    marker.unlink()

    for weights in (payload, pickle.dumps(_Payload(marker))):
        path = _rewrite(saved, tmp_path / "evil.skspectra", weights=weights)
        with pytest.raises(
            ValueError, match="could not be read safely: they hold something other than tensors"
        ) as info:
            load(path)
        assert str(path) in str(info.value)
        assert not marker.exists()


def test_load_never_calls_pickle(saved, data, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(joblib, "load", refuse)
    X, _ = data
    assert load(saved).predict_proba(X).shape == (90, 3)


# ---------------------------------------------------------------------------- atomic writes
def test_writes_are_atomic(pipe, tmp_path, monkeypatch):
    path = tmp_path / "model.skspectra"
    path.write_bytes(b"previous")

    def fail(self, name, *args, **kwargs):
        if name == "weights.pt":
            raise OSError("disk full")
        return original(self, name, *args, **kwargs)

    original = zipfile.ZipFile.writestr
    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail)
    with pytest.raises(OSError, match="disk full"):
        save(pipe, path)
    assert path.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind

    monkeypatch.undo()
    assert save(pipe, str(path)) == path
    assert list(tmp_path.iterdir()) == [path]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not tempfile's 0o600
    assert type(load(path)[-1]) is SpectrumCNNClassifier


def test_a_file_from_before_the_scaler_clipped_loads_without_clipping(saved, tmp_path):
    def unclipped(description):
        del description["transformers"][0]["params"]["clip"]
        return description

    assert load(saved)[0].clip == 100.0
    old = load(_rewrite(saved, tmp_path / "old.skspectra", description=unclipped))
    assert old[0].clip is None  # as it scaled when it was written


def test_saved_description_is_plain_json(saved):
    with zipfile.ZipFile(saved) as archive:
        assert archive.namelist() == ["skspectra.json", "weights.pt"]
        description = json.loads(archive.read("skspectra.json"))
    assert description["format_version"] == FORMAT_VERSION
    assert set(description["versions"]) == {"skspectra", "torch", "scikit-learn", "skorch", "numpy"}
    assert description["pipeline"] == {"steps": ["fluxscaler", "spectrumcnnclassifier"]}
    params = {"method": "median", "divisor": 100.0, "clip": 100.0}
    assert description["transformers"][0]["params"] == params
    assert description["transformers"][0]["n_features_in_"] == 64
    clf = description["classifier"]
    assert (clf["module"], clf["n_classes"], clf["n_points"]) == ("SpectrumResNet", 3, 64)
    assert clf["classes_"] == {"dtype": "<U6", "values": ["galaxy", "qso", "star"]}
    assert clf["params"]["module__filters"] == {"tuple": [8, 8, 16]}
    assert clf["weights"]["tensors"]["head.2.weight"] == {
        "dtype": "torch.float32",
        "shape": [3, 16],
    }


def test_an_augmentation_parameter_round_trips(tmp_path):
    augment = SpectrumAugmentation(shift=0.05, noise=0.0)
    clf = _tiny_fit(np.array([0, 1] * 10), augment=augment)
    loaded = load(save(clf, tmp_path / "m.skspectra"))
    assert type(loaded.augment) is SpectrumAugmentation
    assert loaded.augment.get_params() == augment.get_params()


def test_unknown_objects_in_the_description_are_refused(saved, tmp_path):
    def evil(d):
        d["classifier"]["params"]["augment"] = {"object": ["Popen", {"args": "ls"}]}
        return d

    path = _rewrite(saved, tmp_path / "evil.skspectra", description=evil)
    with pytest.raises(ValueError, match="not one a skspectra model may hold"):
        load(path)


# ---------------------------------------------------------------------------- centring
def test_a_centring_model_round_trips_its_mean(tmp_path):
    X, y = make_alike()
    model = make_pipeline(FluxScaler(), SpectrumCNNClassifier(**SHORT, random_state=0)).fit(X, y)
    original = model[-1]
    assert original.input_mean_ is not None
    loaded = load(save(model, tmp_path / "model.skspectra"))
    np.testing.assert_array_equal(loaded[-1].input_mean_, original.input_mean_)
    assert loaded[-1].input_mean_.dtype == np.float32
    assert loaded[-1].input_spread_ == original.input_spread_
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_files_without_a_mean_load_as_not_centring(saved, data, tmp_path):
    description = zipfile.ZipFile(saved).read("skspectra.json").decode()
    assert '"input_mean_": null' in description  # this model did not centre

    def drop_keys(desc):
        return _walk_drop(desc, {"input_mean_", "input_spread_"})

    old = load(_rewrite(saved, tmp_path / "old.skspectra", description=drop_keys))
    assert old[-1].input_mean_ is None
    np.testing.assert_array_equal(old.predict_proba(data[0]), load(saved).predict_proba(data[0]))


def test_a_mean_of_the_wrong_length_is_refused(tmp_path):
    X, y = make_alike()
    saved = save(SpectrumCNNClassifier(**TINY).fit(X, y), tmp_path / "model.skspectra")

    def shorten(desc):
        return _walk_set(desc, "input_mean_", [1.0, 2.0])

    bad = _rewrite(saved, tmp_path / "bad.skspectra", description=shorten)
    with pytest.raises(ValueError, match="input_mean_"):
        load(bad)


def _walk_drop(node, keys):
    if isinstance(node, dict):
        return {k: _walk_drop(v, keys) for k, v in node.items() if k not in keys}
    if isinstance(node, list):
        return [_walk_drop(v, keys) for v in node]
    return node


def _walk_set(node, key, value):
    if isinstance(node, dict):
        return {k: (value if k == key else _walk_set(v, key, value)) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_set(v, key, value) for v in node]
    return node


def test_a_pipeline_that_resamples_keeps_its_grid(tmp_path):
    """The grid the model was fitted on survives the file; new spectra on another grid are
    resampled onto it exactly as in the saved pipeline."""
    import sklearn

    from skspectra.resampling import SpectrumResampler

    X, y = make_lines(n=40, n_points=16, classes=("a", "b"))
    grid = np.linspace(4000.0, 5000.0, 16)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(SpectrumResampler(wavelength=grid), FluxScaler())
        pipe.steps.append(("clf", SpectrumCNNClassifier(**TINY)))
        pipe.fit(X, y, wavelength=grid)
        loaded = load(save(pipe, tmp_path / "m.skspectra"))
        np.testing.assert_array_equal(loaded[0].wavelength_, grid)
        assert loaded[0].wavelength_.dtype == np.float64
        other = np.linspace(3990.0, 5010.0, 40)  # finer, wider: resampled onto the grid
        X_other = np.interp(other, grid, X[0])[None].repeat(3, axis=0)
        np.testing.assert_array_equal(
            loaded.predict_proba(X_other, wavelength=other),
            pipe.predict_proba(X_other, wavelength=other),
        )


@pytest.mark.filterwarnings("ignore::skorch.exceptions.DeviceWarning")
def test_the_accelerate_subclass_saves_as_the_plain_classifier(tmp_path):
    accelerate = pytest.importorskip("accelerate")
    from skspectra.distributed import AcceleratedSpectrumCNNClassifier

    X, y = make_lines(n=40, n_points=16, classes=("a", "b"))
    clf = AcceleratedSpectrumCNNClassifier(accelerator=accelerate.Accelerator(cpu=True), **TINY)
    clf.fit(X, y)
    loaded = load(save(clf, tmp_path / "m.skspectra"))
    assert type(loaded) is SpectrumCNNClassifier
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)
