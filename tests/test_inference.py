"""Prediction backends: chunking, the compiled copy, ONNX Runtime, the matmul path."""

import pickle
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skspectra import SpectrumCNNClassifier, inference
from skspectra.inference import Predictor, _ChannelsLast2d, chunk_size
from skspectra.network import NetworkEnsemble, SpectrumResNet

from .conftest import FAST, make_lines

N_POINTS = 64


@pytest.fixture(scope="module")
def fitted():
    X, y = make_lines(n=90, n_points=N_POINTS)
    clf = SpectrumCNNClassifier(**{**FAST, "max_epochs": 2, "f1_epochs": 1}, random_state=0)
    return clf.fit(X, y), X


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 16 spectra of N_POINTS, so a few dozen spectra make several chunks."""
    monkeypatch.setattr(inference, "CHUNK_VALUES", 16 * N_POINTS)
    return 16


def eager_proba(clf, X):
    clf.module_.eval()
    with torch.no_grad():
        logits = clf.module_(torch.from_numpy(X).unsqueeze(1))
    return torch.softmax(logits.double(), dim=1).numpy()


def test_eager_runs_in_chunks_and_equals_the_whole_forward(fitted, small_chunks):
    clf, X = fitted
    sizes = []

    def record(module, inputs, output):
        if isinstance(module, SpectrumResNet):  # the network or its batch-norm-folded copy
            sizes.append(len(inputs[0]))

    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        proba = clf.set_params(inference="eager").predict_proba(X[:40])
    finally:
        hook.remove()
    assert sizes == [16, 16, 8]  # memory bounded by the chunk, not by the call
    np.testing.assert_allclose(proba, eager_proba(clf, X[:40]), atol=1e-6)


def test_compiled_copy_equals_eager_and_is_compiled_once(fitted, small_chunks, monkeypatch):
    clf = clone(fitted[0]).set_params(inference="compile").fit(*make_lines(n=60, n_points=64))
    X = make_lines(n=40, n_points=N_POINTS, seed=1)[0]
    compiles = []
    original = Predictor._compile

    def counting(self, chunk, n_points):
        compiles.append((chunk, n_points))
        return original(self, chunk, n_points)

    monkeypatch.setattr(Predictor, "_compile", counting)
    proba = clf.predict_proba(X)  # two compiled chunks of 16, an eager tail of 8
    np.testing.assert_allclose(proba, eager_proba(clf, X), atol=1e-5)
    assert clf.predict_proba(X[:3]).shape == (3, 3)  # a partial chunk: eager, no new compile
    np.testing.assert_allclose(clf.predict_proba(X), proba, atol=1e-12)
    assert compiles == [(16, N_POINTS)]
    # One spectrum: a second compiled copy, of the matrix-product forward, built once.
    np.testing.assert_allclose(clf.predict_proba(X[:1]), eager_proba(clf, X[:1]), atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(X[5:6]), eager_proba(clf, X[5:6]), atol=1e-5)
    assert compiles == [(16, N_POINTS), (1, N_POINTS)]
    single = _predictor(clf)._compiled[1, N_POINTS][1]
    assert isinstance(single._orig_mod, inference.MatmulForward)

    # The compiled copy never travels: pickles and clones are as without it, and predict alike.
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(X), proba, atol=1e-5)
    assert len(compiles) == 3  # the restored copy compiled for itself
    assert clone(clf).get_params()["inference"] == "compile"

    # New weights make the compiled copy stale: it is rebuilt, not reused.
    clf.fit(*make_lines(n=60, n_points=64, seed=2))
    np.testing.assert_allclose(clf.predict_proba(X), eager_proba(clf, X), atol=1e-5)
    assert len(compiles) == 4


def test_compile_builds_nothing_for_calls_under_a_chunk(fitted, small_chunks, monkeypatch):
    clf = clone(fitted[0]).set_params(inference="compile").fit(*make_lines(n=60, n_points=64))
    X = make_lines(n=20, n_points=N_POINTS, seed=1)[0]
    compiles = []
    monkeypatch.setattr(Predictor, "_compile", lambda self, *args: compiles.append(args))
    for n in (2, 7, 15):  # more than one spectrum, less than a chunk of 16: eager
        np.testing.assert_allclose(clf.predict_proba(X[:n]), eager_proba(clf, X[:n]), atol=1e-6)
    assert compiles == []


def test_a_failed_compile_is_an_error_not_a_silent_fallback(fitted, small_chunks, monkeypatch):
    """``inference="compile"`` is an explicit choice: when it cannot be had, say so."""
    clf = clone(fitted[0]).set_params(inference="compile").fit(*make_lines(n=60, n_points=64))

    def broken(self, *args):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(Predictor, "_compile", broken)
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler"):
        clf.predict_proba(make_lines(n=40, n_points=N_POINTS, seed=1)[0])


def _predictor(clf):
    return clf.__dict__["_predictor_"]


@pytest.mark.skipif(
    not all(find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime")),
    reason="needs onnx, onnxscript and onnxruntime",
)
def test_onnxruntime_backend_equals_eager(fitted):
    clf = clone(fitted[0]).set_params(inference="onnxruntime").fit(*make_lines(n=60, n_points=64))
    X = make_lines(n=20, n_points=N_POINTS, seed=1)[0]
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, eager_proba(clf, X), atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert list(clf.predict(X[:3])) == list(clf.classes_[proba[:3].argmax(axis=1)])


def test_an_ensemble_takes_the_folded_compiled_and_onnx_paths(small_chunks, monkeypatch):
    X, y = make_lines(n=40, n_points=N_POINTS)
    params = {**FAST, "max_epochs": 2, "f1_epochs": 1, "n_networks": 2}
    clf = SpectrumCNNClassifier(**params, random_state=0).fit(X, y)
    expected = eager_proba(clf, X)  # the ensemble's own forward: the mean probability

    folded = inference.fold_batch_norm(clf.module_)
    assert isinstance(folded, NetworkEnsemble) and len(folded.networks) == 2
    assert not inference._has_batch_norm(folded) and inference._has_batch_norm(clf.module_)
    proba = clf.set_params(inference="eager").predict_proba(X)
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    # A few spectra: each network's matrix-product forward, their mean probability.
    predictor = _predictor(clf)
    key = inference._weights_key(clf.module_)
    small = predictor._small_forward(predictor._folded_module(key), key)
    assert isinstance(small, NetworkEnsemble)
    assert all(isinstance(m, inference.MatmulForward) for m in small.networks)
    for n in (1, 3):
        np.testing.assert_allclose(clf.predict_proba(X[:n]), expected[:n], atol=1e-6)

    compiled = []
    original = Predictor._compile
    monkeypatch.setattr(
        Predictor, "_compile", lambda self, *a: compiled.append(self) or original(self, *a)
    )
    proba = clf.set_params(inference="compile").predict_proba(X)  # chunks of 16 compiled
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    assert len(compiled) == 1
    # One spectrum: the networks' matrix-product forwards, compiled together.
    np.testing.assert_allclose(clf.predict_proba(X[:1]), expected[:1], atol=1e-5)
    assert len(compiled) == 2

    if all(find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime")):
        proba = clf.set_params(inference="onnxruntime").predict_proba(X)
        np.testing.assert_allclose(proba, expected, atol=1e-5)


def test_unknown_backend_is_refused(fitted):
    clf = clone(fitted[0]).set_params(inference="fastest")
    with pytest.raises(ValueError, match="inference"):
        clf.fit(*make_lines(n=30, n_points=N_POINTS))
    with pytest.raises(ValueError, match="inference"):
        Predictor(fitted[0].module_).proba(make_lines(n=2, n_points=N_POINTS)[0], "fastest")


def test_weights_key_follows_in_place_changes(fitted):
    module = clone(fitted[0]).fit(*make_lines(n=30, n_points=N_POINTS)).module_
    before = inference._weights_key(module)
    assert inference._weights_key(module) == before
    with torch.no_grad():
        next(module.parameters()).add_(1.0)
    assert inference._weights_key(module) != before


def test_chunk_size_bounds():
    assert chunk_size(2600) == 32
    assert chunk_size(10**7) == 1
    assert chunk_size(1) == inference.CHUNK_VALUES


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_malloc_tuning_is_an_explicit_opt_in():
    """The library never tunes the allocator by itself; a server may ask for it."""
    code = (
        "import ctypes, numpy as np\n"
        "looked_up = []\n"
        "lookup = ctypes.CDLL.__getattr__\n"
        "ctypes.CDLL.__getattr__ = lambda lib, name: looked_up.append(name) or lookup(lib, name)\n"
        "from skspectra import SpectrumCNNClassifier\n"
        "from skspectra.inference import tune_malloc\n"
        "X = np.random.default_rng(0).normal(size=(20, 32)).astype('float32')\n"
        "y = np.arange(20) % 2\n"
        "SpectrumCNNClassifier(max_epochs=1, f1_epochs=0, module__filters=(4,)).fit(X, y)"
        ".predict(X)\n"
        "before = looked_up.count('mallopt')\n"
        "print(before, tune_malloc(), looked_up.count('mallopt') > before)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split()[-3:] == ["0", "True", "True"]  # never by itself; on request


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's dynamic thresholds")
def test_repeated_calls_reuse_the_activation_buffers_in_a_fresh_process():
    """The default network, 32 spectra of 2600 points per call: its ~40 MB of activations come
    back from the heap call after call, not as fresh pages from the kernel. Before the predictor
    settled the heap, 7 of 8 fresh processes faulted 5,168-10,336 pages on every call
    (1 to 3 of 3 under pytest)."""
    code = (
        "import resource, statistics, numpy as np\n"
        "from skspectra import SpectrumResNet\n"
        "from skspectra.inference import Predictor\n"
        "X = np.random.default_rng(0).normal(size=(32, 2600)).astype('float32')\n"
        "predictor = Predictor(SpectrumResNet(4, 2600))\n"
        "predictor.proba(X)\n"
        "faults = []\n"
        "for _ in range(5):\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    predictor.proba(X)\n"
        "    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
        "print(statistics.median(faults))"
    )
    # Three processes: whether a process without the settling faulted depended on its history.
    for _ in range(3):
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert float(run.stdout.split()[-1]) < 1000, run.stdout


def test_the_2d_rewrite_folds_batch_norm_into_the_convolutions():
    net = SpectrumResNet(n_classes=3, n_points=N_POINTS, norm="batch", filters=(8, 8, 16))
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
    for _ in range(3):  # move the running statistics and the affine weights off their start
        net(torch.randn(8, 1, N_POINTS) * 3 + 1).logsumexp(dim=1).sum().backward()
        optimizer.step()
    net.eval()
    rewritten = _ChannelsLast2d(net)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in rewritten.modules())
    x = torch.randn(5, 1, N_POINTS)
    with torch.no_grad():
        expected = net(x)
        assert torch.isfinite(expected).all()
        torch.testing.assert_close(rewritten(x), expected, rtol=1e-4, atol=1e-5)


def test_eager_prediction_folds_batch_norm_once_per_weights(fitted, monkeypatch):
    clf = clone(fitted[0]).set_params(inference="eager").fit(*make_lines(n=60, n_points=64))
    X = make_lines(n=20, n_points=N_POINTS, seed=3)[0]
    folds = []
    original = inference.fold_batch_norm
    monkeypatch.setattr(inference, "fold_batch_norm", lambda net: folds.append(1) or original(net))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, eager_proba(clf, X), atol=1e-6)
    clf.predict_proba(X[:3])
    assert len(folds) == 0  # folded once at the end of fit (its training check), then reused
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in clf.module_.modules())  # untouched
    with torch.no_grad():
        clf.module_.features[0].norms[0].running_mean += 0.5  # new statistics: a new fold
    np.testing.assert_allclose(clf.predict_proba(X), eager_proba(clf, X), atol=1e-6)
    assert len(folds) == 1


# ---------------------------------------------------------------------------- few spectra
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"norm": None},
        {"kernel_size": 5, "dilations": (1, 3), "filters": (8, 16, 16)},
        {"n_pools": 0, "filters": (4, 8), "hidden_units": None},
        {"in_channels": 2, "filters": (8, 8)},
        {"max_points": 40, "filters": (8, 8)},
    ],
    ids=["default", "seed-like", "kernel-5", "no-pools", "two-channels", "binned"],
)
def test_matmul_forward_equals_the_network(params):
    torch.manual_seed(0)
    net = SpectrumResNet(3, 101, **params).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that folding matters
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    folded = inference.fold_batch_norm(net)
    forward = inference.MatmulForward(folded)
    x = torch.randn(7, params.get("in_channels", 1), 101)
    with torch.inference_mode():
        expected = net(x)
        for n in (1, 2, 7):
            torch.testing.assert_close(forward(x[:n]), expected[:n], atol=1e-5, rtol=1e-5)
    if net.features[0].norms is not None:
        with pytest.raises(ValueError, match="fold the batch normalisation first"):
            inference.MatmulForward(net)


def test_every_prediction_path_bins_long_spectra_as_the_network_does(small_chunks):
    torch.manual_seed(0)
    net = SpectrumResNet(3, 101, filters=(8, 8), max_points=40).eval()  # bins of 3
    X = torch.randn(21, 101)
    with torch.no_grad():
        expected = torch.softmax(net(X).double(), dim=1).numpy()
        torch.testing.assert_close(
            _ChannelsLast2d(net)(X).double().softmax(1).numpy(), expected, atol=1e-6, rtol=0
        )
    for n in (1, 5, 21):  # the one-spectrum path, a part of a chunk, chunks
        got = Predictor(net).proba(X[:n].numpy())
        np.testing.assert_allclose(got, expected[:n], atol=1e-6)


def test_matmul_forward_refuses_other_networks():
    with pytest.raises(TypeError, match="SpectrumResNet"):
        inference.MatmulForward(torch.nn.Linear(3, 2))


def test_few_spectra_take_the_matmul_path_and_agree(fitted, small_chunks, monkeypatch):
    clf = clone(fitted[0]).set_params(inference="eager").fit(*make_lines(n=60, n_points=64))
    X = make_lines(n=40, n_points=N_POINTS, seed=3)[0]
    sizes = []
    original = inference.MatmulForward.forward
    monkeypatch.setattr(
        inference.MatmulForward,
        "forward",
        lambda self, x: sizes.append(len(x)) or original(self, x),
    )
    for n in (1, 5, 16, 21, 40):  # 21 = a chunk of 16, then 5 left
        np.testing.assert_allclose(clf.predict_proba(X[:n]), eager_proba(clf, X[:n]), atol=1e-6)
    assert sizes == [1, 5, 5]


def test_the_matmul_path_follows_the_current_weights(small_chunks):
    """MatmulForward keeps a copy of the convolution weights: prediction rebuilds it when the
    network's weights change in place (here the head's bias, then a convolution's weights)."""
    X, y = make_lines(n=60, n_points=N_POINTS)
    clf = SpectrumCNNClassifier(
        **{**FAST, "max_epochs": 1, "f1_epochs": 0, "module__norm": None}, random_state=0
    ).fit(X, y)
    before = clf.predict_proba(X[:1])
    with torch.no_grad():
        clf.module_.head[-1].bias.add_(torch.tensor([3.0, 0.0, 0.0]))
    after = clf.predict_proba(X[:1])
    assert after[0, 0] > before[0, 0]
    np.testing.assert_allclose(after, eager_proba(clf, X[:1]), atol=1e-6)
    with torch.no_grad():
        clf.module_.features[0].convs[0].weight.mul_(-2.0)
    changed = clf.predict_proba(X[:1])
    assert np.abs(changed - after).max() > 1e-3
    np.testing.assert_allclose(changed, eager_proba(clf, X[:1]), atol=1e-6)


def test_weights_key_follows_replaced_parameters(fitted):
    module = clone(fitted[0]).fit(*make_lines(n=30, n_points=N_POINTS)).module_
    before = inference._weights_key(module)
    head = module.head[-1]
    head.bias = torch.nn.Parameter(head.bias.detach().clone())  # same values, a new tensor
    assert inference._weights_key(module) != before
