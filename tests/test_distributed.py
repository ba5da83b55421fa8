"""Scaling out: joblib's Dask backend, predict_dask / predict_files, the Accelerate classifier.

One LocalCluster (2 worker processes, 1 thread each) serves the whole module; one fitted
pipeline serves every prediction test.
"""

import csv

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback

from skspectra import FluxScaler, SpectrumCNNClassifier
from skspectra.cli import main
from skspectra.distributed import TorchThreads, local_cluster, predict_dask, predict_files

from .conftest import FAST, make_lines

try:
    import dask.array as da
except ImportError:  # every test that needs it asks for the client fixture, which skips
    da = None

# Deserialisations of a _CountingModel in this process (read on the workers with client.run).
UNPICKLED = 0


class _CountingModel:
    """A fitted model that counts how often it is unpickled in the process it lands in."""

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict_proba(self, X):
        return self.model.predict_proba(X)

    def __setstate__(self, state):
        global UNPICKLED
        UNPICKLED += 1
        self.__dict__.update(state)


def _unpickled():
    return UNPICKLED


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    with local_cluster(n_workers=2, threads_per_worker=1) as c:
        yield c


@pytest.fixture(scope="module")
def fitted():
    X, y = make_lines(n=90, n_points=64)
    pipe = make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state=0, **FAST)).fit(X, y)
    X_new, _ = make_lines(n=50, n_points=64, seed=1)
    return pipe, X_new


@pytest.fixture
def catalogue(tmp_path, fitted):
    """The contest layout: an index whose order differs from the ids' order, and its files."""
    _, X = fitted
    ids = [f"s{(7 * k) % len(X):03d}" for k in range(len(X))]
    (tmp_path / "spectra").mkdir()
    for id_, row in zip(ids, X, strict=True):
        (tmp_path / "spectra" / f"{id_}.txt").write_text(",".join(f"{v:.9g}" for v in row))
    index = tmp_path / "index.csv"
    index.write_text("id\n" + "".join(f"{i}\n" for i in ids))
    return index, tmp_path / "spectra", np.array(ids)


def _read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


# ------------------------------------------------------------------------------ part 1
def test_torch_threads_on_workers(client):
    assert set(client.run(torch.get_num_threads).values()) == {1}
    # The plugin sets what it is told, on every worker (the nanny's OMP_NUM_THREADS=1 is 1).
    client.register_plugin(TorchThreads(2))
    try:
        assert set(client.run(torch.get_num_threads).values()) == {2}
    finally:
        client.register_plugin(TorchThreads(1))
    assert set(client.run(torch.get_num_threads).values()) == {1}


def _malloc_environ():
    import os

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")


def test_workers_keep_dynamic_malloc(client):
    # MALLOC_TRIM_THRESHOLD_ (set by Dask's nanny) slows torch's CPU inference 2-3 times.
    assert set(client.run(_malloc_environ).values()) == {(None, "1")}


def test_grid_search_on_dask_equals_serial(client):
    X, y = make_lines(n=60, n_points=48)
    pipe = make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state=0, **FAST))
    grid = {"spectrumcnnclassifier__lr": [1e-3, 3e-3]}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' count: the same float sums, the same fits
    try:
        serial = GridSearchCV(pipe, grid, cv=2, n_jobs=1).fit(X, y)
    finally:
        torch.set_num_threads(threads)
    with joblib.parallel_backend("dask"):
        dask_run = GridSearchCV(pipe, grid, cv=2, n_jobs=-1).fit(X, y)
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_allclose(dask_run.cv_results_[key], serial.cv_results_[key])
    assert dask_run.best_params_ == serial.best_params_
    np.testing.assert_allclose(
        dask_run.predict_proba(X[:10]), serial.predict_proba(X[:10]), atol=1e-6
    )


# ------------------------------------------------------------------------------ part 2
def test_predict_dask_equals_in_process(client, fitted):
    pipe, X = fitted
    X_d = da.from_array(X, chunks=(12, 16))  # column chunks are merged
    labels = predict_dask(pipe, X_d)
    assert labels.chunks == ((12, 12, 12, 12, 2),)
    np.testing.assert_array_equal(labels.compute(), pipe.predict(X))
    proba = predict_dask(pipe, X_d, proba=True).compute()
    np.testing.assert_allclose(proba, pipe.predict_proba(X), atol=1e-6)


def test_predict_dask_ships_model_once(client, fitted):
    pipe, X = fitted
    model = _CountingModel(pipe)
    labels = predict_dask(model, da.from_array(X, chunks=5))  # 10 blocks
    np.testing.assert_array_equal(labels.compute(), pipe.predict(X))
    counts = client.run(_unpickled)
    assert sum(counts.values()) >= 1
    assert max(counts.values()) == 1, f"unpickled more than once on a worker: {counts}"
    graph = dict(labels.__dask_graph__())
    holds_model = [k for k, v in graph.items() if getattr(v, "value", v) is model]
    assert len(holds_model) == 1, "the model must be a single key of the graph"


def test_predict_files_keeps_order(client, fitted, catalogue, tmp_path):
    pipe, X = fitted
    index, folder, ids = catalogue
    out = tmp_path / "out" / "pred.csv"
    n = predict_files(pipe, index, spectra_dir=folder, client=client, out_csv=out, partitions=3)
    rows = _read_rows(out)
    assert n == len(X) and rows[0] == ["id", "type"]
    assert [r[0] for r in rows[1:]] == ids.tolist()
    assert [r[1] for r in rows[1:]] == pipe.predict(X).tolist()
    assert not list(out.parent.glob("*.tmp"))


def test_predict_files_errors_write_nothing(client, fitted, catalogue, tmp_path):
    pipe, _ = fitted
    index, folder, ids = catalogue
    (folder / f"{ids[-1]}.txt").unlink()
    out = tmp_path / "pred.csv"
    with pytest.raises(FileNotFoundError, match=ids[-1]):
        predict_files(pipe, index, spectra_dir=folder, client=client, out_csv=out)
    assert not out.exists()


def test_cli_predict_with_dask(client, fitted, catalogue, tmp_path):
    pipe, X = fitted
    index, folder, ids = catalogue
    model = tmp_path / "model.joblib"
    joblib.dump(pipe, model)
    address = client.scheduler.address
    out = tmp_path / "dask.csv"
    argv = [str(model), str(index), "--spectra-dir", str(folder), "--out", str(out), "--quiet"]
    assert main(["predict", *argv, "--dask", address, "--workers", "2", "--proba"]) == 0
    serial = tmp_path / "serial.csv"
    assert main(["predict", *argv[:-3], "--out", str(serial), "--quiet", "--proba"]) == 0
    got, want = _read_rows(out), _read_rows(serial)
    assert got[0] == want[0] == ["id", "type"] + [f"p_{c}" for c in pipe.classes_]
    assert [r[:2] for r in got] == [r[:2] for r in want]
    np.testing.assert_allclose(
        np.array([r[2:] for r in got[1:]], float),
        np.array([r[2:] for r in want[1:]], float),
        atol=1e-5,
    )
    # Arrays without the contest layout go through predict_dask.
    npy = tmp_path / "X.npy"
    np.save(npy, X)
    out_npy = tmp_path / "npy.csv"
    code = main(["predict", str(model), str(npy), "--out", str(out_npy), "--quiet",
                 "--dask", address, "--chunk-size", "16"])  # fmt: skip
    assert code == 0
    assert [r[1] for r in _read_rows(out_npy)[1:]] == pipe.predict(X).tolist()


@pytest.mark.slow
def test_cli_predict_local_cluster(fitted, catalogue, tmp_path):
    # Starts (and stops) its own LocalCluster: a few seconds more than the tests above.
    pipe, X = fitted
    index, folder, _ = catalogue
    model = tmp_path / "model.joblib"
    joblib.dump(pipe, model)
    out = tmp_path / "local.csv"
    argv = ["predict", str(model), str(index), "--spectra-dir", str(folder), "--out", str(out)]
    assert main([*argv, "--quiet", "--dask", "local", "--workers", "2"]) == 0
    assert [r[1] for r in _read_rows(out)[1:]] == pipe.predict(X).tolist()


# ------------------------------------------------------------------------------ part 3
# skorch warns that device=None became "cpu" when the pickled net is loaded back.
@pytest.mark.filterwarnings("ignore::skorch.exceptions.DeviceWarning")
def test_accelerated_classifier_trains_two_phases_on_cpu():
    accelerate = pytest.importorskip("accelerate")
    from skspectra.distributed import AcceleratedSpectrumCNNClassifier

    seen = []
    X, y = make_lines(n=90, n_points=64)
    clf = AcceleratedSpectrumCNNClassifier(
        accelerator=accelerate.Accelerator(cpu=True), random_state=0, **FAST
    )
    clf.set_params(callbacks=[("record", _Record(seen))])
    clf.fit(X, y)
    assert {phase for phase, _ in seen} == {1, 2}
    # The optimizer of each phase went through accelerator.prepare.
    assert {name for _, name in seen} == {"AcceleratedOptimizer"}
    assert clf.best_epoch_ is not None
    assert not clf._wrapped_with_accelerator  # a plain module after fit: picklable
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(clf.predict(X) == y) > 0.9
    # On one CPU process Accelerate changes nothing: the plain classifier's fit, epoch by epoch.
    plain = SpectrumCNNClassifier(random_state=0, **FAST).fit(X, y)
    assert clf.history[:, "phase"] == plain.history[:, "phase"]
    np.testing.assert_allclose(clf.history[:, "valid_f1"], plain.history[:, "valid_f1"])
    assert clf.best_epoch_ == plain.best_epoch_
    np.testing.assert_allclose(proba, plain.predict_proba(X), atol=1e-6)
    clone = joblib.load(_dump(clf))
    np.testing.assert_allclose(clone.predict_proba(X), proba, atol=1e-6)


def test_accelerated_classifier_refuses_wrapped_result():
    accelerate = pytest.importorskip("accelerate")
    from skspectra.distributed import AcceleratedSpectrumCNNClassifier

    X, y = make_lines(n=30, n_points=32)
    clf = AcceleratedSpectrumCNNClassifier(
        accelerator=accelerate.Accelerator(cpu=True), unwrap_after_train=False, **FAST
    )
    with pytest.raises(ValueError, match="unwrap_after_train=True"):
        clf.fit(X, y)


class _Record(Callback):
    """Records (phase, optimizer class) at the end of every epoch."""

    def __init__(self, seen):
        self.seen = seen

    def on_epoch_end(self, net, **kwargs):
        self.seen.append((net.history[-1, "phase"], type(net.optimizer_).__name__))


def _dump(obj):
    import io

    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer
