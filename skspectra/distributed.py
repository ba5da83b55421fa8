"""Scaling out: searches and survey-scale prediction on a Dask cluster, training with Accelerate.

Three independent tools, each behind an optional dependency:

- :func:`local_cluster` and :class:`TorchThreads` (``dask[distributed]``): a Dask client whose
  workers run torch with as many threads as they have Dask threads, so that joblib's Dask
  backend (``with joblib.parallel_backend("dask"):``) can run ``GridSearchCV`` or
  ``cross_validate`` of skspectra pipelines on many machines without oversubscribing cores.
- :func:`predict_dask` and :func:`predict_files` (``dask[distributed]``): prediction over a
  ``dask.array`` of spectra, or over a catalogue in the contest layout (an index CSV and a folder
  of ``<id>.txt`` files) read piece by piece by the workers themselves. The fitted model is sent
  to each worker once, not once per block.
- :class:`AcceleratedSpectrumCNNClassifier` (``accelerate``): the classifier with skorch's
  :class:`~skorch.hf.AccelerateMixin`, for mixed precision and multi-GPU / multi-node training
  launched with ``accelerate launch``.

Dask and Accelerate are imported only when used: this module imports without them.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from skorch.hf import AccelerateMixin

from .classifier import SpectrumCNNClassifier
from .network import SpectrumResNet

try:  # the plugin base class is only needed when distributed is there to load the plugin
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover - exercised without the extra
    WorkerPlugin = object

__all__ = [
    "AcceleratedSpectrumCNNClassifier",
    "TorchThreads",
    "local_cluster",
    "predict_dask",
    "predict_files",
]

# Spectra per partition of a catalogue when `partitions` is not given: a few tens of MB of
# fluxes per task at the contest's 2600 points, and enough tasks to balance the workers.
_PARTITION_SIZE = 4096


def _require(module: str, extra: str, pip: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is needed here: pip install 'skspectra[{extra}]' (or pip install {pip})"
        ) from exc


# ------------------------------------------------------------------------------ torch threads
class TorchThreads(WorkerPlugin):
    """Dask worker plugin: set the number of torch threads on every worker, new ones included.

    A worker with ``k`` Dask threads runs ``k`` tasks at once; if each trains or predicts with
    torch's default of one thread per core, the machine is asked for ``k`` times more threads
    than it has cores, and everything slows down. This plugin calls ``torch.set_num_threads``
    on every worker when it is registered and on every worker that joins later.

    Parameters
    ----------
    n_threads : int, default=1
        Torch threads per worker process. One per Dask thread of the worker is the usual
        choice (``local_cluster`` passes ``threads_per_worker``).

    See Also
    --------
    local_cluster : a local client with this plugin registered.

    Notes
    -----
    ``distributed`` already starts worker processes with ``OMP_NUM_THREADS=1`` (its
    ``distributed.nanny.pre-spawn-environ`` setting), which torch follows; the plugin makes the
    choice explicit, applies it to workers started some other way (``dask worker`` on a cluster,
    a changed configuration), and sets more threads where a worker should use more.

    Examples
    --------
    >>> from skspectra.distributed import TorchThreads
    >>> TorchThreads(1).n_threads
    1
    """

    # A fixed name: registering the plugin again replaces it rather than adding a second one.
    name = "skspectra-torch-threads"

    def __init__(self, n_threads: int = 1):
        self.n_threads = n_threads

    def setup(self, worker) -> None:
        import torch

        torch.set_num_threads(int(self.n_threads))


def local_cluster(n_workers: int = 2, threads_per_worker: int = 1, **kwargs: Any):
    """A Dask client on a new local cluster of worker processes, torch threads set.

    Parameters
    ----------
    n_workers : int, default=2
        Worker processes.
    threads_per_worker : int, default=1
        Dask threads (concurrent tasks) per worker; also the torch threads of each task
        (``torch.set_num_threads``), through a :class:`TorchThreads` plugin.
    **kwargs
        Passed to :class:`distributed.LocalCluster` (e.g. ``memory_limit``). The dashboard is
        off unless ``dashboard_address`` is given.

    Returns
    -------
    client : distributed.Client
        Closing it (``client.close()`` or leaving a ``with`` block) closes the cluster too.

    Notes
    -----
    The workers start without the ``MALLOC_TRIM_THRESHOLD_`` variable that Dask's nanny sets
    by default: it makes glibc map and unmap every large buffer, and the network's prediction
    2-3 times slower (measured on the machine of ``benchmarks/distributed.py``). Workers of
    a real cluster are best started likewise, e.g. with the configuration
    ``distributed.nanny.pre-spawn-environ`` lacking that variable.

    Examples
    --------
    >>> import joblib
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skspectra.distributed import local_cluster
    >>> with local_cluster(n_workers=2) as client:  # doctest: +SKIP
    ...     with joblib.parallel_backend("dask"):
    ...         search = GridSearchCV(pipe, {"spectrumcnnclassifier__lr": [1e-3, 3e-3]},
    ...                               n_jobs=-1).fit(X, y)
    """
    distributed = _require("distributed", "dask", "'dask[distributed]'")
    import dask

    kwargs.setdefault("dashboard_address", None)
    kwargs.setdefault("processes", True)
    # The nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which turns off glibc's dynamic
    # mmap threshold: every large buffer of a convolution is then mmap-ed and unmapped again,
    # and torch's CPU inference runs 2-3 times slower. Keep the other variables it sets.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        client = distributed.Client(
            n_workers=n_workers, threads_per_worker=threads_per_worker, **kwargs
        )
    try:
        client.register_plugin(TorchThreads(threads_per_worker))
    except BaseException:
        client.close()
        raise
    return client


# ------------------------------------------------------------------------------ prediction
def _predict_block(block: np.ndarray, model, proba: bool) -> np.ndarray:
    """Labels or probabilities of one block of rows (run on a worker)."""
    classes = np.asarray(model.classes_)
    if len(block) == 0:  # scikit-learn refuses empty input; an empty block is legal in Dask
        return np.empty((0, len(classes))) if proba else np.empty(0, dtype=classes.dtype)
    p = model.predict_proba(np.asarray(block))
    return p if proba else classes[p.argmax(axis=1)]


def predict_dask(model, X, proba: bool = False):
    """Predict a ``dask.array`` of spectra block by block, the model sent once per worker.

    Parameters
    ----------
    model : fitted classifier or pipeline
        Anything with ``predict_proba`` and ``classes_`` that pickles (e.g. a fitted
        ``FluxScaler`` + :class:`~skspectra.SpectrumCNNClassifier` pipeline).
    X : dask array of shape (n_spectra, n_points)
        The spectra, chunked along rows (the points of a spectrum are put in one chunk if they
        are not). A NumPy array is wrapped with Dask's automatic chunks.
    proba : bool, default=False
        Return class probabilities (columns in ``classes_`` order) instead of labels.

    Returns
    -------
    dask array
        Of shape (n_spectra,) with the labels, or (n_spectra, n_classes) float64 with the
        probabilities, chunked as ``X``'s rows. Nothing is computed until ``.compute()``;
        with a :class:`distributed.Client` active, that runs on its cluster.

    Notes
    -----
    The model enters the graph as one ``dask.delayed`` key on which every block depends, so
    the scheduler sends it to a worker once and that worker keeps it for all its blocks,
    whatever the number of blocks. Each block is predicted in the model's own chunks (see the
    classifier's ``inference``); a block of a few thousand spectra keeps the per-task overhead
    small.

    A NumPy array wrapped with ``da.from_array`` travels from this process to the workers
    inside the graph (Dask warns about a large graph). For a survey, let the workers load their
    blocks themselves (``da.from_zarr``, ``da.from_npy_stack``), or use :func:`predict_files`
    for the contest layout.

    Examples
    --------
    >>> import pytest
    >>> da = pytest.importorskip("dask.array")
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skspectra.distributed import predict_dask
    >>> model = DummyClassifier().fit(np.zeros((4, 3)), ["qso", "star", "star", "star"])
    >>> X = da.zeros((10, 3), chunks=(4, 3))
    >>> labels = predict_dask(model, X)
    >>> labels.chunks
    ((4, 4, 2),)
    >>> labels.compute(scheduler="sync").tolist()[:3]
    ['star', 'star', 'star']
    """
    da = _require("dask.array", "dask", "'dask[distributed]'")
    import dask

    classes = np.asarray(model.classes_)
    if not isinstance(X, da.Array):
        X = da.asarray(X)
    if X.ndim == 3 and X.shape[1] == 1:
        X = X[:, 0, :]
    if X.ndim != 2:
        raise ValueError(
            f"X has shape {X.shape}: pass spectra as a 2-D dask array (n_spectra, n_points)"
        )
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    # One key for the model, whatever the number of blocks: it travels once per worker.
    model_key = dask.delayed(model, pure=False, traverse=False)
    if proba:
        return da.map_blocks(
            _predict_block,
            X,
            model_key,
            proba=True,
            dtype=np.float64,
            chunks=(X.chunks[0], (len(classes),)),
            meta=np.empty((0, 0), dtype=np.float64),
        )
    return da.map_blocks(
        _predict_block,
        X,
        model_key,
        proba=False,
        dtype=classes.dtype,
        drop_axis=1,
        meta=np.empty((0,), dtype=classes.dtype),
    )


def _read_index_ids(index_csv: Path) -> np.ndarray:
    import pandas as pd

    frame = pd.read_csv(index_csv, dtype=str, keep_default_na=False, skip_blank_lines=True)
    if "id" not in frame.columns:
        raise ValueError(
            f"{index_csv} has no 'id' column (columns: {list(frame.columns)}): the contest "
            "layout's index starts with the header 'id' or 'id,type'"
        )
    return frame["id"].to_numpy(dtype=str)


def _predict_part(model, ids: np.ndarray, spectra_dir: str, suffix: str, proba: bool):
    """Read the spectra of ``ids`` with the io module and predict them (run on a worker)."""
    from .io import read_contest

    with tempfile.TemporaryDirectory(prefix="skspectra-part-") as tmp:
        index = Path(tmp) / "index.csv"
        index.write_text("id\n" + "".join(f"{i}\n" for i in ids), encoding="utf-8")
        # One process per worker task: the cluster is the parallelism; no cache of a part.
        data = read_contest(
            index, spectra_dir, suffix=suffix, n_jobs=1, cache=False, progress=False
        )
    p = model.predict_proba(np.asarray(data.X))
    return data.ids, np.asarray(model.classes_)[p.argmax(axis=1)], (p if proba else None)


def predict_files(
    model,
    data,
    *,
    spectra_dir=None,
    client,
    out_csv,
    partitions: int | None = None,
    proba: bool = False,
    suffix: str = ".txt",
) -> int:
    """Classify a catalogue in the contest layout on a Dask cluster and write ``id,type`` rows.

    The index is split into ``partitions`` consecutive pieces; each worker reads the spectrum
    files of its pieces itself (with :func:`skspectra.io.read_contest`) and predicts them, so
    the fluxes never pass through this process. The rows are written in the index's order to
    ``out_csv``, atomically: a temporary file renamed at the end.

    Parameters
    ----------
    model : fitted classifier or pipeline
        Anything with ``predict_proba`` and ``classes_`` that pickles. Sent to each worker once
        (``client.scatter(..., broadcast=True)``).
    data : str or path-like
        The index CSV (an ``id`` column; other columns are ignored).
    spectra_dir : str or path-like, default=None
        The folder of ``<id>.txt`` files; None means the ``data`` file's folder. It must be
        reachable under this path from every worker (a shared file system on a real cluster).
    client : distributed.Client
        The cluster to run on.
    out_csv : str or path-like
        The CSV to write: a header ``id,type`` and one row per spectrum.
    partitions : int or None, default=None
        Pieces of the catalogue. None: enough for about 4096 spectra each, and at least one per
        worker.
    proba : bool, default=False
        Add one probability column ``p_<class>`` per class.
    suffix : str, default=".txt"
        The file name of a spectrum is its id followed by this suffix.

    Returns
    -------
    n : int
        The number of rows written.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`~skspectra.io.read_contest`, raised here from the worker that met the problem;
        nothing is written then.
    """
    from .io._predictions import write_predictions

    index = Path(data)
    if not index.is_file():
        raise FileNotFoundError(f"index CSV {index} does not exist")
    folder = Path(spectra_dir) if spectra_dir is not None else index.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"spectra_dir {str(folder)!r} is not a directory: pass the folder of <id>{suffix} files"
        )
    ids = _read_index_ids(index)
    n = len(ids)
    if partitions is None:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        partitions = max(n_workers, math.ceil(n / _PARTITION_SIZE))
    if not isinstance(partitions, int | np.integer) or partitions < 1:
        raise ValueError(f"partitions must be a positive integer or None, got {partitions!r}")
    partitions = max(1, min(int(partitions), n))
    classes = np.asarray(model.classes_)

    model_future = client.scatter(model, broadcast=True, hash=False)
    futures = [
        client.submit(
            _predict_part,
            model_future,
            part,
            os.fspath(folder.resolve()),
            suffix,
            proba,
            pure=False,
        )
        for part in np.array_split(ids, partitions)
        if len(part)
    ]
    try:
        results = client.gather(futures)  # in submission order: the index's order
    finally:
        client.cancel([*futures, model_future])

    return write_predictions(out_csv, classes, results, proba=proba)


# ------------------------------------------------------------------------------ accelerate
class AcceleratedSpectrumCNNClassifier(AccelerateMixin, SpectrumCNNClassifier):
    """:class:`~skspectra.SpectrumCNNClassifier` trained through Hugging Face Accelerate.

    skorch's :class:`~skorch.hf.AccelerateMixin` hands the module, the loss, the optimizer and
    the data loaders to an ``accelerate.Accelerator``: mixed precision, gradient accumulation,
    and data-parallel training on several GPUs or machines when the script is started with
    ``accelerate launch``. Parameters, fitted attributes and methods are those of
    :class:`~skspectra.SpectrumCNNClassifier`, plus the two below.

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        E.g. ``Accelerator(mixed_precision="bf16")``; ``Accelerator(cpu=True)`` on a CPU.
    device : None, default=None
        Leave it to the accelerator (skorch refuses a device when the accelerator places
        tensors itself).
    unwrap_after_train : bool, default=True
        Must stay True: the best epoch's weights are restored into the unwrapped network
        between the two phases and at the end. After ``fit`` the network is a plain module
        (picklable, predicting in full precision).
    **kwargs
        Every parameter of :class:`~skspectra.SpectrumCNNClassifier`.

    See Also
    --------
    SpectrumCNNClassifier : the same model without Accelerate.
    skorch.hf.AccelerateMixin : the integration this builds on.

    Notes
    -----
    The two-phase schedule is kept. Phase 2 starts with a fresh optimizer and the soft
    macro-F1 loss; the mixin prepares only what exists when the net is initialised, so this
    class prepares the new loss and optimizer when phase 2 begins (a plain optimizer would miss
    Accelerate's gradient scaling and accumulation). With several processes, each process
    scores the validation batches it sees, so processes could keep different best epochs: that
    path is untested here.

    Multi-GPU recipe (one process per GPU; ``accelerate config`` once per machine)::

        # train.py
        from accelerate import Accelerator
        from skspectra.distributed import AcceleratedSpectrumCNNClassifier
        clf = AcceleratedSpectrumCNNClassifier(accelerator=Accelerator(), random_state=0)
        clf.fit(X, y)   # X scaled beforehand, e.g. with FluxScaler().fit_transform(X)
        if clf.accelerator.is_main_process:
            joblib.dump(clf, "model.joblib")

        $ accelerate launch --multi_gpu --num_processes 4 train.py

    Limitations: only the CPU path (one process) is tested here. ``checkpoint_dir`` is meant
    for one process (every process would write the same files). ``predict_uncertainty`` does
    not go through the accelerator. As with any ``AccelerateMixin`` net, the batch size is per
    process, and the class is fit directly on scaled spectra (in a ``Pipeline`` every process
    runs the scaler, which is harmless).

    Examples
    --------
    >>> import pytest
    >>> accelerate = pytest.importorskip("accelerate")
    >>> import numpy as np
    >>> from skspectra.distributed import AcceleratedSpectrumCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 64)).astype(np.float32)
    >>> y = np.where(np.arange(60) % 2 == 0, "star", "qso")
    >>> X[y == "qso", 30:34] += 5.0
    >>> clf = AcceleratedSpectrumCNNClassifier(
    ...     accelerator=accelerate.Accelerator(cpu=True), max_epochs=5, f1_epochs=2,
    ...     random_state=0, module__filters=(8, 8, 16)).fit(X, y)
    >>> clf.predict(X[:4])
    array(['star', 'qso', 'star', 'qso'], dtype='<U4')
    """

    def __init__(
        self,
        module=SpectrumResNet,
        *args,
        accelerator,
        device=None,
        unwrap_after_train: bool = True,
        callbacks__print_log__sink="auto",
        **kwargs,
    ):
        super().__init__(
            module,
            *args,
            accelerator=accelerator,
            device=device,
            unwrap_after_train=unwrap_after_train,
            callbacks__print_log__sink=callbacks__print_log__sink,
            **kwargs,
        )

    def fit(self, X, y=None, **fit_params):
        """Fit as :meth:`SpectrumCNNClassifier.fit <skspectra.SpectrumCNNClassifier.fit>`
        does, through the accelerator."""
        if not self.unwrap_after_train:
            raise ValueError(
                "AcceleratedSpectrumCNNClassifier needs unwrap_after_train=True: after fit the "
                "network must be a plain module (picklable, predicting in full precision)."
            )
        return super().fit(X, y, **fit_params)

    def _initialize_callbacks(self):
        # The mixin's "auto" sink (accelerator.print) prints whatever `verbose` says; here it
        # prints on the main process only when verbose, and the parameter keeps its value.
        sink = self.callbacks__print_log__sink
        if isinstance(sink, str) and sink == "auto":
            self.callbacks__print_log__sink = self.accelerator.print if self.verbose else print
        try:
            return super()._initialize_callbacks()
        finally:
            self.callbacks__print_log__sink = sink

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        # TwoPhaseSchedule starts phase 2 (in on_epoch_begin) with a new loss and optimizer,
        # plain torch objects: prepare them as the mixin prepared phase 1's, or the optimizer
        # would miss Accelerate's gradient scaling and accumulation.
        if method_name == "on_epoch_begin" and len(self.history) == self.max_epochs + 1:
            self.criterion_ = self.accelerator.prepare(self.criterion_)
            self.optimizer_ = self.accelerator.prepare(self.optimizer_)
