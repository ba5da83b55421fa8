"""Export a fitted model to ONNX, for serving without torch or scikit-learn.

:func:`to_onnx` writes one ONNX graph that maps raw spectra, a float32 array of shape
``(n, n_points)`` with any ``n``, to class probabilities of shape ``(n, n_classes)``: the
pipeline's :class:`~skspectra.FluxScaler` (rebuilt in torch by :class:`_FluxScaling`), the
network and the softmax. The class labels travel in the file's metadata, so that a server maps
the ``argmax`` of each row back to a label.

Exporting needs ``onnx`` and ``onnxscript`` (``pip install "skspectra[onnx]"``); running the
graph needs only ``onnxruntime`` (or any ONNX runtime).
"""

from __future__ import annotations

import copy
import functools
import inspect
import io
import json
import logging
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .io import atomic_write
from .network import plain_layout

__all__ = ["to_onnx"]

_EXTRA = 'pip install "skspectra[onnx]"'

# One export at a time in a process: the exporters change the process's warning filters.
_EXPORTING = threading.Lock()


class _FluxScaling(nn.Module):
    """:class:`~skspectra.FluxScaler`'s transform as a torch module, for export.

    Every method scales each row by its own statistics as ``FluxScaler.transform`` does,
    including degenerate rows: a row whose scale is 0 is only shifted (so ``"zscore"`` and
    ``"minmax"`` map a flat row to zeros, and the divisors leave an all-zero row at zero). The
    standard deviation and the Euclidean norm are computed in float64, as in ``FluxScaler``,
    since squares of fluxes in physical units leave float32's range. The median of an even
    number of points is the mean of the two middle ones, as numpy's. NaN is not handled: it
    propagates to the whole row (``FluxScaler`` ignores it in the statistics).

    Parameters
    ----------
    method : str
        One of FluxScaler's methods.
    divisor : float
        The divisor of ``method="constant"``.
    n_points : int
        Points per spectrum (fixes the middle positions for ``"median"``).
    clip : float or None
        The bound on the scaled values (None: none).
    """

    def __init__(self, method: str, divisor: float, n_points: int, clip: float | None = None):
        super().__init__()
        self.method, self.divisor, self.n_points = method, float(divisor), int(n_points)
        self.clip = None if clip is None else float(clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._scale(x)
        return x if self.clip is None else x.clamp(-self.clip, self.clip)

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == "constant":
            return x / self.divisor
        if self.method == "zscore":
            x64 = x.double()
            mean = x64.mean(dim=1, keepdim=True)
            scale = (x64 - mean).square().mean(dim=1, keepdim=True).sqrt()
            shift = mean.to(x.dtype)
        elif self.method == "minmax":
            shift = x.amin(dim=1, keepdim=True)
            scale = x.amax(dim=1, keepdim=True) - shift
        else:
            shift = None
            if self.method == "max":
                scale = x.abs().amax(dim=1, keepdim=True)
            elif self.method == "median":
                ordered = x.abs().sort(dim=1).values
                lower, upper = (self.n_points - 1) // 2, self.n_points // 2
                scale = (ordered[:, lower : lower + 1] + ordered[:, upper : upper + 1]) / 2
            elif self.method == "l2":
                scale = x.double().square().sum(dim=1, keepdim=True).sqrt()
            else:
                raise ValueError(f"Unknown FluxScaler method {self.method!r}")
        scale = torch.where(scale > 0, scale, torch.ones_like(scale)).to(x.dtype)
        if shift is not None:
            x = x - shift
        return x / scale


class _ProbabilityGraph(nn.Module):
    """Raw spectra ``(n, n_points)`` to probabilities ``(n, n_classes)``."""

    def __init__(
        self, scaling: nn.Module | None, network: nn.Module, offset: np.ndarray | None = None
    ):
        super().__init__()
        self.scaling = scaling if scaling is not None else nn.Identity()
        self.network = network
        # The classifier's input_mean_ (see its `center`), subtracted after the scaling.
        self.centre = offset is not None
        if self.centre:
            self.register_buffer("offset", torch.as_tensor(np.asarray(offset, dtype=np.float32)))

    def forward(self, spectra: torch.Tensor) -> torch.Tensor:
        x = self.scaling(spectra)
        if self.centre:
            x = x - self.offset
        logits = self.network(x.unsqueeze(1))
        return torch.softmax(logits, dim=1)


def _import_onnx():
    try:
        import onnx
        import onnxscript  # noqa: F401 - torch's exporter needs it; fail early with the fix
    except ImportError as exc:
        raise ImportError(
            f"Exporting to ONNX needs the packages onnx and onnxscript ({exc}): {_EXTRA}"
        ) from exc
    return onnx


def split_model(model):
    """The parts of a fitted model: ``(scaler or None, classifier, step names or None)``.

    The classifier is a fitted :class:`~skspectra.SpectrumCNNClassifier` (or a subclass, such
    as the Accelerate one), alone or the last step of a Pipeline whose other steps are an
    optional :class:`~skspectra.SpectrumResampler` first (see :func:`wavelength_grid`) and an
    optional :class:`~skspectra.FluxScaler` just before the classifier. Raises ``TypeError``
    naming any other step, and ``NotFittedError`` if the model is not fitted.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted
    from skorch import NeuralNetClassifier

    from .resampling import SpectrumResampler
    from .scaler import FluxScaler

    def is_classifier(step) -> bool:  # duck-typed: importing the classifier would close a loop
        return isinstance(step, NeuralNetClassifier) and hasattr(type(step), "total_epochs")

    if not isinstance(model, Pipeline):
        if not is_classifier(model):
            raise TypeError(
                "Expected a SpectrumCNNClassifier or a Pipeline ending in one, got "
                f"{type(model).__name__}."
            )
        check_is_fitted(model)
        return None, model, None
    steps = list(model.steps)
    allowed = [SpectrumResampler, FluxScaler]  # before the classifier, in this order, once
    for i, (name, step) in enumerate(steps):
        if i == len(steps) - 1:
            ok = is_classifier(step)
        else:
            found = [k for k, kind in enumerate(allowed) if isinstance(step, kind)]
            ok = bool(found)
            allowed = allowed[found[0] + 1 :] if found else allowed
        if not ok:
            raise TypeError(
                f"Unsupported pipeline step {name!r} ({type(step).__name__}, step {i + 1} of "
                f"{len(steps)}): only a SpectrumCNNClassifier, optionally preceded by a "
                "SpectrumResampler and a FluxScaler (in that order), is supported."
            )
        check_is_fitted(step)
    scaler = next((step for _, step in steps if isinstance(step, FluxScaler)), None)
    return scaler, steps[-1][1], [name for name, _ in steps]


def wavelength_grid(model) -> np.ndarray | None:
    """The wavelength grid a fitted Pipeline puts spectra on (its first step's
    ``wavelength_`` when that is a :class:`~skspectra.SpectrumResampler`), else None."""
    from sklearn.pipeline import Pipeline

    from .resampling import SpectrumResampler

    if isinstance(model, Pipeline) and isinstance(model.steps[0][1], SpectrumResampler):
        return np.asarray(model.steps[0][1].wavelength_, dtype=np.float64)
    return None


@functools.cache
def _torchscript_exporter_present() -> bool:
    """Whether this torch has its TorchScript-based ONNX exporter (looked up once; the lookup
    imports ``torch.onnx``). Deprecated since torch 2.9 and announced for removal; it lives in
    ``torch.onnx._internal.torchscript_exporter`` since 2.9 and in ``torch.onnx.utils``
    before, so only asked whether one of them exists."""
    from importlib.util import find_spec

    for name in ("torch.onnx._internal.torchscript_exporter", "torch.onnx.utils"):
        try:
            if find_spec(name) is not None:
                return True
        except (ImportError, ValueError):
            pass
    return False


def _probability_graph(model) -> tuple:
    """``(scaler or None, classifier, graph)``: the :class:`_ProbabilityGraph` of a fitted
    model, on a CPU copy of its network in evaluation mode (the model itself is neither moved
    nor switched out of its mode)."""
    scaler, clf, _ = split_model(model)
    n_points = int(clf.n_features_in_)
    scaling = None
    if scaler is not None:
        scaling = _FluxScaling(scaler.method, scaler.divisor, n_points, scaler.clip)
    # (With skorch's compile=True, module_ wraps the network: the plain one is exported.)
    network = copy.deepcopy(getattr(clf.module_, "_orig_mod", clf.module_)).to("cpu").eval()
    graph = _ProbabilityGraph(scaling, network, getattr(clf, "input_mean_", None)).eval()
    return scaler, clf, graph


def runtime_graph(model) -> bytes:
    """The ONNX graph of a fitted model, as :func:`to_onnx` would write it but without the
    metadata, for skspectra's own ONNX Runtime backend (``inference="onnxruntime"``).

    Exported by torch's TorchScript-based exporter while torch has it: 0.35 s for the seed
    network against ~7 s for the ``torch.export``-based one of :func:`to_onnx`, the same
    probabilities within 1e-7 and run as fast by ONNX Runtime (measured on the project's 2-core
    AMD EPYC). Otherwise, or when the old one fails, by :func:`to_onnx`'s exporter.
    """
    if _torchscript_exporter_present():
        _import_onnx()  # the packages of the extra, so the same error as to_onnx without them
        _, clf, graph = _probability_graph(model)
        buffer = io.BytesIO()
        try:
            with _EXPORTING, warnings.catch_warnings(), plain_layout(graph), torch.no_grad():
                warnings.filterwarnings(
                    "ignore", message="You are using the legacy TorchScript-based ONNX export"
                )
                warnings.filterwarnings("ignore", message="The feature will be removed")
                torch.onnx.export(
                    graph,
                    (torch.zeros(2, int(clf.n_features_in_)),),
                    buffer,
                    dynamo=False,
                    input_names=["spectra"],
                    output_names=["probabilities"],
                    dynamic_axes={"spectra": {0: "batch"}, "probabilities": {0: "batch"}},
                )
            return buffer.getvalue()
        except Exception:  # a graph the old exporter cannot take: the current one may
            pass
    with tempfile.TemporaryDirectory() as folder:
        return to_onnx(model, Path(folder) / "model.onnx").read_bytes()


def to_onnx(model, path, *, opset_version: int | None = None) -> Path:
    """Export a fitted model to an ONNX file mapping raw spectra to class probabilities.

    Parameters
    ----------
    model : SpectrumCNNClassifier or Pipeline
        A fitted :class:`~skspectra.SpectrumCNNClassifier`, or a fitted
        :class:`~sklearn.pipeline.Pipeline` ending in one, after an optional
        :class:`~skspectra.SpectrumResampler` and an optional :class:`~skspectra.FluxScaler`.
    path : str or path-like
        The ONNX file to write (``.onnx`` by convention). It is written to a temporary file in
        the same folder and renamed over ``path`` at the end, so a failed export leaves any
        previous file intact.
    opset_version : int or None, default=None
        ONNX operator set; ``None`` takes torch's default.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    TypeError
        If a pipeline step is not supported.
    ImportError
        If onnx or onnxscript is missing (``pip install "skspectra[onnx]"``).

    See Also
    --------
    skspectra.persistence.save : a file that loads back into a fitted estimator.

    Notes
    -----
    The graph has one input, ``spectra``: float32 of shape ``(batch, n_points)``, the batch
    size free. Its one output, ``probabilities``: float32 of shape ``(batch, n_classes)``,
    columns in ``classes_`` order. The scaler runs inside the graph (see
    :class:`_FluxScaling`), and so does the subtraction of the classifier's ``input_mean_``
    (when it centres); the network runs in evaluation mode (no dropout). NaN in the input
    is not supported: ``predict_proba`` rejects it, the graph returns NaN for that row.

    The metadata (``metadata_props``) holds ``classes`` (the JSON list of labels, in column
    order), ``classes_dtype`` (numpy's name for their dtype), ``n_points``, ``scaler`` (JSON:
    the FluxScaler's parameters, or ``null``), ``skspectra_version`` and, for a pipeline that
    starts with a :class:`~skspectra.SpectrumResampler`, ``wavelength``: the JSON list of its
    grid (the graph takes spectra already on it; resample with
    :func:`skspectra.resampling.resample_spectra` first).

    The graph is made by torch's ``torch.export``-based exporter (``dynamo=True``, torch's
    default since 2.9), which needs torch 2.5 or newer.

    Examples
    --------
    With ``pipe`` a fitted pipeline and ``X`` spectra of its length:

    >>> import json
    >>> import numpy as np
    >>> import onnxruntime  # doctest: +SKIP
    >>> from skspectra.export import to_onnx
    >>> to_onnx(pipe, "model.onnx")  # doctest: +SKIP
    PosixPath('model.onnx')
    >>> session = onnxruntime.InferenceSession("model.onnx")  # doctest: +SKIP
    >>> proba = session.run(None, {"spectra": X.astype(np.float32)})[0]  # doctest: +SKIP
    >>> meta = session.get_modelmeta().custom_metadata_map  # doctest: +SKIP
    >>> labels = np.array(json.loads(meta["classes"]))[proba.argmax(axis=1)]  # doctest: +SKIP
    """
    scaler, clf, graph = _probability_graph(model)
    onnx = _import_onnx()
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        raise RuntimeError(
            f"Exporting to ONNX needs torch 2.5 or newer (this is {torch.__version__})."
        )
    n_points = int(clf.n_features_in_)
    # Two example rows: torch.export specialises sizes 0 and 1, so a single row would fix the
    # batch size in the graph.
    example = torch.zeros(2, n_points)
    # The exporter logs a warning per torchvision operator it cannot register, and torch warns
    # of its own deprecations from inside: noise for the caller.
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        # The (N, C, L) layout: its graph of 1-D convolutions, batch norm folded into them.
        with _EXPORTING, warnings.catch_warnings(), plain_layout(graph):
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.|copyreg")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
            program = torch.onnx.export(
                graph,
                (example,),
                dynamo=True,
                input_names=["spectra"],
                output_names=["probabilities"],
                dynamic_shapes={"spectra": {0: torch.export.Dim("batch")}},
                opset_version=opset_version,
                verbose=False,
            )
    finally:
        registration.setLevel(level)
    proto = program.model_proto
    from . import __version__

    classes = np.asarray(clf.classes_)
    metadata = {
        "classes": json.dumps(classes.tolist()),
        "classes_dtype": classes.dtype.str,
        "n_points": str(n_points),
        "scaler": json.dumps(
            None
            if scaler is None
            else {
                "class": "FluxScaler",
                "method": scaler.method,
                "divisor": scaler.divisor,
                "clip": scaler.clip,
            }
        ),
        "skspectra_version": __version__,
    }
    grid = wavelength_grid(model)
    if grid is not None:  # the graph takes spectra on this grid: resample before running it
        metadata["wavelength"] = json.dumps(grid.tolist())
    onnx.helper.set_model_props(
        proto, {**{p.key: p.value for p in proto.metadata_props}, **metadata}
    )
    proto.producer_name = "skspectra"
    proto.producer_version = __version__
    proto.doc_string = (
        f"Raw spectra float32 (batch, {n_points}) -> class probabilities float32 "
        f"(batch, {len(classes)}), columns in the order of metadata 'classes'."
    )
    data = proto.SerializeToString()
    return atomic_write(path, lambda file: file.write(data))
