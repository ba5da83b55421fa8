"""skspectra.export: the ONNX graph agrees with predict_proba, carries its labels, and is
written atomically."""

import copy
import json
import sys
import warnings
from importlib.util import find_spec

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skspectra import FluxScaler, SpectrumCNNClassifier, SpectrumResNet
from skspectra.export import _FluxScaling, to_onnx

from .conftest import FAST, make_alike, make_lines

# Exporting needs onnx and onnxscript, checking the graph onnxruntime.
needs_onnx = pytest.mark.skipif(
    not all(find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime")),
    reason='needs onnx, onnxscript and onnxruntime (pip install "skspectra[onnx]" onnxruntime)',
)
METHODS = ["zscore", "constant", "max", "median", "l2", "minmax"]
N_POINTS = 64


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Two torch threads on two cores shared with other processes spin against each other:
    # one fit measured 2 s with one thread and 32 s with two. Restored after this module.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clf(_one_thread):
    # One network serves every scaler below: agreement with predict_proba does not need the
    # network to have been trained behind that scaler.
    X, y = make_lines(n=90, n_points=N_POINTS)
    return SpectrumCNNClassifier(**FAST, random_state=0).fit(X, y)


def _spectra(n_points=N_POINTS):
    """17 rows: toy spectra, a flat row, an all-zero row, and a row in physical flux units
    (1e-26), whose squares leave float32's range."""
    X = make_lines(n=14, n_points=n_points, seed=1)[0]
    flat = np.full((1, n_points), 2.5, dtype=np.float32)
    zero = np.zeros((1, n_points), dtype=np.float32)
    tiny = X[:1] * np.float32(1e-26)
    return np.concatenate([X, flat, zero, tiny]).astype(np.float32)


def _session(path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------------------- the torch scaler
@pytest.mark.parametrize("clipped", [False, True])
@pytest.mark.parametrize("n_points", [N_POINTS, N_POINTS - 1])  # even and odd (median)
@pytest.mark.parametrize("method", METHODS)
def test_torch_scaling_matches_flux_scaler(method, n_points, clipped):
    X = _spectra(n_points)
    plain = FluxScaler(method=method, divisor=7.0, clip=None).fit_transform(X)
    clip = 0.5 * float(np.abs(plain).max()) if clipped else None  # a bound that bites
    scaler = FluxScaler(method=method, divisor=7.0, clip=clip).fit(X)
    expected = scaler.transform(X)
    got = _FluxScaling(method, 7.0, n_points, clip)(torch.from_numpy(X)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)
    assert np.isfinite(got).all()
    if method in ("zscore", "minmax"):
        np.testing.assert_array_equal(got[14:16], 0.0)  # flat and zero rows
    if method != "constant":
        # Scale-free methods ignore the units: the 1e-26 copy scales like the original row.
        np.testing.assert_allclose(got[16], got[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- ONNX agreement
@needs_onnx
@pytest.mark.parametrize("method", [*METHODS, None], ids=[*METHODS, "bare"])
def test_onnx_agrees_with_predict_proba(clf, method, tmp_path):
    model = clf if method is None else make_pipeline(FluxScaler(method=method).fit(_spectra()), clf)
    path = to_onnx(model, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == [path] == [tmp_path / "model.onnx"]  # no temporary file
    session = _session(path)
    (spectra,) = session.get_inputs()
    assert spectra.name == "spectra"
    assert isinstance(spectra.shape[0], str) and spectra.shape[1] == N_POINTS  # dynamic batch
    X = _spectra()
    meta = session.get_modelmeta()
    assert meta.producer_name == "skspectra"
    props = meta.custom_metadata_map
    assert json.loads(props["classes"]) == ["galaxy", "qso", "star"]
    assert props["classes_dtype"] == "<U6"
    assert props["n_points"] == str(N_POINTS)
    scaler = dict(method=method, divisor=100.0, clip=100.0)
    expected = None if method is None else {"class": "FluxScaler", **scaler}
    assert json.loads(props["scaler"]) == expected
    labels = np.array(json.loads(props["classes"]), dtype=props["classes_dtype"])
    spiked = X[:3] + np.float32(1e4) * (np.arange(N_POINTS) == 5)  # clipped by the scaler
    for n, rows in ((1, X), (17, X), (3, spiked)):
        proba = session.run(["probabilities"], {"spectra": rows[:n]})[0]
        expected = model.predict_proba(rows[:n])
        assert proba.shape == (n, 3)
        np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(labels[proba.argmax(axis=1)], model.predict(rows[:n]))


@needs_onnx
def test_graph_has_one_dimensional_convolutions_with_batch_norm_folded(clf, tmp_path):
    """Exported from the plain (N, C, L) layout, not the CPU's channels-last one, whose graph
    keeps batch normalisation and transposes (ONNX Runtime ran it ~1.5x slower)."""
    import onnx

    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in clf.module_.modules())
    graph = onnx.load(str(to_onnx(clf, tmp_path / "model.onnx"))).graph
    ops = {node.op_type for node in graph.node}
    assert "Conv" in ops
    assert not ops & {"BatchNormalization", "Transpose"}
    # The export changed its own copy's layout only: the classifier's network keeps the CPU's.
    networks = [m for m in clf.module_.modules() if isinstance(m, SpectrumResNet)]
    assert networks and not any(net.plain_layout for net in networks)


@needs_onnx
def test_onnx_agrees_on_confident_predictions(clf, tmp_path):
    # The toy network is unsure (probabilities near 1/3); logits 30 times larger give
    # probabilities near 0 and 1, where float32 rounding in the graph weighs most.
    sharp = copy.deepcopy(clf)
    with torch.no_grad():
        sharp.module_.head[-1].weight.mul_(30)
        sharp.module_.head[-1].bias.mul_(30)
    X = _spectra()
    expected = sharp.predict_proba(X)
    assert (expected.max(axis=1) > 0.99).sum() >= 5
    weights = {k: v.clone() for k, v in sharp.module_.state_dict().items()}
    sharp.module_.train()
    path = to_onnx(sharp, tmp_path / "m.onnx")
    # The export ran on an evaluation-mode copy: the model is left as it was.
    assert sharp.module_.training
    assert all(torch.equal(v, sharp.module_.state_dict()[k]) for k, v in weights.items())
    proba = _session(path).run(None, {"spectra": X})[0]
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5)


@needs_onnx
def test_integer_labels_travel_as_json_numbers(tmp_path):
    X, y = make_lines(n=20, n_points=16, classes=(4, 9))
    clf = SpectrumCNNClassifier(
        max_epochs=1, f1_epochs=0, batches_per_epoch=2, module__filters=(4,), random_state=0
    ).fit(X, y)
    props = _session(to_onnx(clf, tmp_path / "m.onnx")).get_modelmeta().custom_metadata_map
    assert json.loads(props["classes"]) == [4, 9]


@needs_onnx
def test_a_pipeline_that_resamples_records_its_grid_in_the_metadata(clf, tmp_path):
    """The graph takes spectra on the model's grid; the metadata says which grid that is."""
    from skspectra.resampling import SpectrumResampler

    grid = np.linspace(4000.0, 5000.0, N_POINTS)
    resampler = SpectrumResampler(wavelength=grid).fit(_spectra(), wavelength=grid)
    model = make_pipeline(resampler, FluxScaler().fit(_spectra()), clf)
    session = _session(to_onnx(model, tmp_path / "model.onnx"))
    props = session.get_modelmeta().custom_metadata_map
    np.testing.assert_array_equal(json.loads(props["wavelength"]), grid)
    X = _spectra()[:5]
    proba = session.run(["probabilities"], {"spectra": X})[0]
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-5)
    with pytest.raises(TypeError, match="in that order"):
        to_onnx(make_pipeline(FluxScaler().fit(X), resampler, clf), tmp_path / "bad.onnx")


@needs_onnx
@pytest.mark.filterwarnings("ignore::skorch.exceptions.DeviceWarning")
def test_the_accelerate_subclass_exports_like_the_plain_classifier(tmp_path):
    accelerate = pytest.importorskip("accelerate")
    from skspectra.distributed import AcceleratedSpectrumCNNClassifier

    X, y = make_lines(n=60, n_points=N_POINTS)
    fast = {**FAST, "max_epochs": 2, "f1_epochs": 0}
    clf = AcceleratedSpectrumCNNClassifier(
        accelerator=accelerate.Accelerator(cpu=True), random_state=0, **fast
    ).fit(X, y)
    session = _session(to_onnx(clf, tmp_path / "model.onnx"))
    proba = session.run(["probabilities"], {"spectra": X[:7]})[0]
    np.testing.assert_allclose(proba, clf.predict_proba(X[:7]), rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------- refusals, writes
def test_unfitted_and_unsupported_models_are_refused(clf, tmp_path):
    with pytest.raises(NotFittedError):
        to_onnx(SpectrumCNNClassifier(), tmp_path / "m.onnx")
    with pytest.raises(NotFittedError):
        to_onnx(make_pipeline(FluxScaler(), SpectrumCNNClassifier()), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="'std' \\(StandardScaler"):
        to_onnx(Pipeline([("std", StandardScaler()), ("net", clf)]), tmp_path / "m.onnx")
    assert not any(tmp_path.iterdir())


def test_missing_exporter_packages_name_the_extra(clf, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # makes `import onnxscript` fail
    with pytest.raises(ImportError, match=r'pip install "skspectra\[onnx\]"'):
        to_onnx(clf, tmp_path / "m.onnx")
    assert not any(tmp_path.iterdir())


@needs_onnx
def test_a_failed_export_leaves_the_old_file(clf, tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")

    def fail(model, args=(), f=None, *, dynamo=True, **kwargs):  # torch.onnx.export's shape
        raise RuntimeError("exporter failed")

    monkeypatch.setattr(torch.onnx, "export", fail)
    with pytest.raises(RuntimeError, match="exporter failed"):
        to_onnx(clf, path)
    assert path.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [path]


@needs_onnx
def test_onnx_of_a_centring_model_subtracts_its_mean(tmp_path):
    X, y = make_alike(n_points=N_POINTS)
    model = make_pipeline(
        FluxScaler(), SpectrumCNNClassifier(**{**FAST, "max_epochs": 2}, random_state=0)
    ).fit(X, y)
    assert model[-1].input_mean_ is not None
    session = _session(to_onnx(model, tmp_path / "model.onnx"))
    proba = session.run(["probabilities"], {"spectra": X})[0]
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-5)
    # ONNX Runtime as a backend: its cached session holds the mean, so a changed mean (here
    # none) means a new export.
    model[-1].set_params(inference="onnxruntime")
    np.testing.assert_allclose(model.predict_proba(X), proba, rtol=0, atol=1e-5)
    model[-1].input_mean_ = None
    uncentred = model.predict_proba(X)
    assert np.abs(uncentred - proba).max() > 1e-3
    model[-1].set_params(inference="eager")
    np.testing.assert_allclose(model.predict_proba(X), uncentred, rtol=0, atol=1e-5)


@needs_onnx
def test_onnx_of_a_binning_model_averages_its_bins(tmp_path):
    X, y = make_alike(n_points=100)
    model = make_pipeline(
        FluxScaler(),
        SpectrumCNNClassifier(**{**FAST, "max_epochs": 2}, module__max_points=40, random_state=0),
    ).fit(X, y)
    assert model[-1].module_.bin == 3
    session = _session(to_onnx(model, tmp_path / "model.onnx"))
    proba = session.run(["probabilities"], {"spectra": X})[0]
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-5)
    model[-1].set_params(inference="onnxruntime")
    np.testing.assert_allclose(model.predict_proba(X), proba, rtol=0, atol=1e-5)


# ------------------------------------------------- the graph of the ONNX Runtime backend
@pytest.fixture
def export_spy(monkeypatch):
    """The ``dynamo`` argument of every torch.onnx.export call (False: the TorchScript-based
    exporter), which fails with ``fail_old``."""
    calls, export = [], torch.onnx.export

    def spy(*args, dynamo=True, **kwargs):
        calls.append(dynamo)
        if not dynamo and spy.fail_old:
            raise RuntimeError("an operator the old exporter lacks")
        return export(*args, dynamo=dynamo, **kwargs)

    spy.fail_old = False
    spy.calls = calls
    monkeypatch.setattr(torch.onnx, "export", spy)
    return spy


@needs_onnx
@pytest.mark.parametrize("kind", ["bare", "pipeline", "ensemble", "centring"])
def test_runtime_graph_agrees_with_predict_proba_and_is_made_quickly(clf, kind, export_spy):
    """skspectra's own ONNX Runtime backend exports with torch's TorchScript-based exporter
    while torch has it (seconds faster than to_onnx's): the same probabilities, batch free,
    and nothing said to the caller."""
    import onnx
    import onnxruntime

    from skspectra import export
    from skspectra.export import runtime_graph

    if kind == "bare":
        model = clf
    elif kind == "pipeline":
        model = make_pipeline(FluxScaler(method="median").fit(_spectra()), clf)
    else:
        X, y = make_alike(n_points=N_POINTS) if kind == "centring" else make_lines(n=60)
        networks = 2 if kind == "ensemble" else 1
        model = SpectrumCNNClassifier(**{**FAST, "n_networks": networks}, random_state=0).fit(X, y)
        assert (model.input_mean_ is not None) == (kind == "centring")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old exporter's deprecation notice stays inside
        graph = runtime_graph(model)
    assert export_spy.calls == ([False] if export._torchscript_exporter_present() else [True])
    proto = onnx.load_from_string(graph)
    ops = {node.op_type for node in proto.graph.node}
    assert "Conv" in ops and not ops & {"BatchNormalization", "Transpose"}
    for port in (*proto.graph.input, *proto.graph.output):  # the batch size free both ways
        assert port.type.tensor_type.shape.dim[0].dim_param
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    X = _spectra()
    for n in (1, 17):
        proba = session.run(["probabilities"], {"spectra": X[:n]})[0]
        np.testing.assert_allclose(proba, model.predict_proba(X[:n]), rtol=0, atol=1e-5)


@needs_onnx
@pytest.mark.parametrize("cause", ["missing", "failing"])
def test_runtime_graph_falls_back_to_the_current_exporter(clf, cause, export_spy, monkeypatch):
    import onnxruntime

    from skspectra import export
    from skspectra.export import runtime_graph

    if cause == "missing":  # a torch that no longer has the TorchScript-based exporter
        monkeypatch.setattr(export, "_torchscript_exporter_present", lambda: False)
    else:
        monkeypatch.setattr(export, "_torchscript_exporter_present", lambda: True)
        export_spy.fail_old = True
    graph = runtime_graph(clf)
    assert export_spy.calls == ([True] if cause == "missing" else [False, True])
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    X = _spectra()
    proba = session.run(["probabilities"], {"spectra": X})[0]
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)
