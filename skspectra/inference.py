"""Fast prediction for a fitted network: chunks, a compiled copy, ONNX Runtime.

``SpectrumCNNClassifier.predict_proba`` hands its spectra to a :class:`Predictor`, which runs the
network over fixed-size chunks with one of these backends (the estimator's ``inference``
parameter):

``"eager"``
    The module's own forward under :func:`torch.inference_mode`, chunk by chunk. Always works.
    A :class:`~skspectra.SpectrumResNet` with batch normalisation runs as a copy with the
    normalisation folded into the convolutions (:func:`fold_batch_norm`; made once per fitted
    weights), which skips a pass over every feature map. Fewer than ``SMALL_BATCH`` spectra at
    a time (a single spectrum, or a call's last few) go through :class:`MatmulForward`, the
    same arithmetic as one matrix product per convolution: PyTorch's convolutions take a slow
    path for a batch of one (about 2x slower, ``benchmarks/results/speed.md``).
``"compile"``
    A copy of the network compiled by ``torch.compile`` (inductor, weights frozen as constants)
    for one chunk shape. A :class:`~skspectra.SpectrumResNet` is rewritten as 2-D convolutions of
    height 1 in channels-last layout first, which oneDNN runs about twice as fast as the 1-D
    form on CPU. A call of one spectrum runs a second compiled copy, of its
    :class:`MatmulForward` (1.5x eager's rate). Compiling takes 5-30 s per copy and process
    (inductor keeps a disk cache), so each copy is cached per fitted model; a call's last,
    partial chunk and calls of 2 to a chunk's spectra run eagerly (no new compile).
``"onnxruntime"``
    The model exported to ONNX once per fitted model and process and run by ONNX Runtime (the
    ``onnx`` extra); the fastest for a few spectra at a time on CPU. The network is
    :func:`skspectra.to_onnx`'s, exported by torch's TorchScript-based exporter in 0.4-0.6 s
    while torch has it (else by ``to_onnx``'s own, 5-10 s; see
    :func:`skspectra.export.runtime_graph`).
Every call of a model uses the backend its ``inference`` parameter names, from the first call to
the last: the probabilities are a function of the fitted model alone.

An ensemble of networks (:class:`~skspectra.network.NetworkEnsemble`, the classifier's
``n_networks``) of :class:`~skspectra.SpectrumResNet` takes the same paths, each network folded
or rewritten in turn.

All backends give the eager forward's results within float32 round-off (about 1e-6 in
probability; ONNX Runtime computes its softmax in float32, so a probability that eager gives as
1e-40 can come out as 0).

The library calls no allocator setting (``mallopt``) by itself. A predictor's first call on the
CPU allocates and frees one block of about 32 MB (:func:`_settle_heap`). glibc's own dynamic
thresholds then rise for the process, as after any NumPy array of that size is freed, and keep a
chunk's activation buffers in the heap. Before, the speed depended on the process's history: at
32 spectra per call 24-52 % of the FLOP limit in 5 of 6 fresh processes, 75 % now
(``benchmarks/results/speed.md``). On Linux with glibc a server may also call
:func:`tune_malloc` once, which sets the thresholds higher (64 MB and 256 MB); it makes training
the defaults about 1.2x as fast. The ``skspectra`` command line calls it in its own process.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import sys
import threading
from numbers import Integral

import numpy as np
import torch
from sklearn.utils import Bunch
from torch import nn

from ._torch_rng import torch_rng
from .network import (
    DilatedBlock,
    NetworkEnsemble,
    SpectrumResNet,
    binned,
    channels_last_map,
    max_of_pairs,
)

__all__ = [
    "BACKENDS",
    "CHUNK_VALUES",
    "MatmulForward",
    "Predictor",
    "SMALL_BATCH",
    "chunk_size",
    "fold_batch_norm",
    "mc_dropout",
    "tune_malloc",
]

BACKENDS = ("eager", "compile", "onnxruntime")

# Spectrum points per chunk: 32 spectra of 2600 points. With glibc's default malloc the largest
# activations (~10 MB) are then reused from the heap instead of mapped afresh: 1,064-1,130
# spectra/s at 1024 per call against 681-791 with chunks of 128 (default network, 2 threads,
# the project's 2-core machine). Memory is bounded by the chunk, not by the number of spectra.
CHUNK_VALUES = 32 * 2600

# Chunks of fewer spectra than this run through MatmulForward. Measured on the project's 2-core
# machine (default network, 2600 points, 2 threads, spectra/s): batch 1 299 vs 135 for the
# convolutions, 2: 389 vs 254, 8: 552 vs 543, 32: 505 vs 682.
SMALL_BATCH = 8

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 64 << 20  # buffers up to 64 MB come from the heap, not from fresh mmaps
_TRIM_THRESHOLD = 256 << 20  # and up to 256 MB of freed heap is kept for the next chunk


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; return whether they are set.

    An explicit opt-in for servers that predict in a loop (the library never calls it): glibc
    serves buffers above its mmap threshold with fresh ``mmap`` calls and returns freed heap
    above its trim threshold to the system, so every forward pass pays page faults for its
    activation buffers again. With the thresholds at 64 MB and 256 MB those buffers are reused,
    and at most 256 MB of freed memory stays with the process. Returns False off glibc.
    """
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError off glibc
    except (OSError, AttributeError):
        return False
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )


# One block just under glibc's largest dynamic mmap threshold (32 MB on 64-bit systems).
_SETTLE_BYTES = (32 << 20) - (64 << 10)


def _settle_heap() -> None:
    """Allocate and free one mapped block of ~32 MB, as any NumPy array of that size is.

    glibc's documented rule (mallopt(3), M_MMAP_THRESHOLD) then serves buffers up to that size
    from its heap and keeps up to twice it of freed heap, so a chunk's activations (about 40 MB
    for the default network) are reused instead of faulted in afresh on every call. Without it
    the speed depended on whether the process had happened to free such an array before: at 32
    spectra per call, 5 of 6 fresh processes faulted 10,336 pages per call (24-52 % of the FLOP
    limit, ``benchmarks/results/speed-2026-12-04-unsettled/``); with it none faulted (median
    75 %, ``benchmarks/results/speed.md``). Unlike :func:`tune_malloc` it calls no ``mallopt``:
    glibc's thresholds move within their own bounds (at most 32 MB and 64 MB), as they do for any
    program that frees such an array.
    """
    block = np.empty(_SETTLE_BYTES, dtype=np.uint8)  # mapped, not touched: no page is faulted
    del block


def chunk_size(n_points: int) -> int:
    """Spectra per chunk for spectra of ``n_points``: about ``CHUNK_VALUES`` points in all.

    >>> chunk_size(2600), chunk_size(250), chunk_size(10**6)
    (32, 332, 1)
    """
    return max(1, CHUNK_VALUES // max(int(n_points), 1))


def fold_batch_norm(net: SpectrumResNet | NetworkEnsemble) -> SpectrumResNet | NetworkEnsemble:
    """An evaluation-mode copy of ``net`` whose batch normalisations are folded into the
    convolutions before them (in evaluation mode each is a fixed per-channel affine map), so
    that prediction skips a pass over every feature map. ``net`` itself is left as it is; an
    ensemble's networks are folded one by one."""
    if isinstance(net, NetworkEnsemble):
        return NetworkEnsemble(fold_batch_norm(member) for member in net.networks).eval()
    folded = copy.deepcopy(net).eval()
    with torch.no_grad():
        for block in folded.features:
            if not isinstance(block, DilatedBlock) or block.norms is None:
                continue
            for conv, norm in zip(block.convs, block.norms, strict=True):
                # norm(conv(x)) = (conv(x) - mean) * gamma / sqrt(var + eps) + beta
                factor = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                bias = conv.bias if conv.bias is not None else torch.zeros_like(factor)
                conv.weight.mul_(factor[:, None, None])
                conv.bias = nn.Parameter((bias - norm.running_mean) * factor + norm.bias)
            block.norms = None
    return folded


def _has_batch_norm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.BatchNorm1d) for m in net.modules())


class _Conv2dBlock(nn.Module):
    """A :class:`~skspectra.network.DilatedBlock` without normalisation, as 2-D convolutions
    of height 1."""

    def __init__(self, block: DilatedBlock):
        super().__init__()
        if block.norms is not None:  # pragma: no cover - _ChannelsLast2d folds them first
            raise ValueError("fold the batch normalisation first (fold_batch_norm)")
        self.filters = block.filters
        self.convs = nn.ModuleList(_conv2d(c) for c in block.convs)
        self.norms = None
        self.shortcut = (
            _conv2d(block.shortcut) if isinstance(block.shortcut, nn.Conv1d) else nn.Identity()
        )

    # The same convolve-ReLU-fold and shortcut: channels are dimension 1 in 2-D as in 1-D.
    forward = DilatedBlock.forward


def _conv2d(conv: nn.Conv1d) -> nn.Conv2d:
    new = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        (1, conv.kernel_size[0]),
        dilation=(1, conv.dilation[0]),
        padding=(0, conv.padding[0]),
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        new.weight.copy_(conv.weight.unsqueeze(2))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


class _ChannelsLast2d(nn.Module):
    """The evaluation-mode forward of a :class:`~skspectra.SpectrumResNet`, as 2-D
    convolutions of height 1 on channels-last tensors (copies of the weights; no dropout)."""

    def __init__(self, net: SpectrumResNet):
        super().__init__()
        if _has_batch_norm(net):
            net = fold_batch_norm(net)
        layers = []
        for layer in net.features:
            if isinstance(layer, DilatedBlock):
                layers.append(_Conv2dBlock(layer))
            elif isinstance(layer, nn.MaxPool1d):
                layers.append(nn.MaxPool2d((1, 2)))
            else:  # pragma: no cover - SpectrumResNet has no other feature layers
                raise TypeError(f"cannot convert {type(layer).__name__}")
        self.features = nn.Sequential(*layers)
        self.head = copy.deepcopy(net.head)
        self.bin = net.bin
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(channels_last_map(binned(x, self.bin))).amax(dim=(2, 3)))


class MatmulForward(nn.Module):
    """The evaluation-mode forward of a :class:`~skspectra.SpectrumResNet` without batch
    normalisation (or with it folded, :func:`fold_batch_norm`), each convolution computed as one
    matrix product on ``(n, n_points, channels)`` maps: the ``kernel_size`` shifted copies of the
    map (zero-padded) side by side, ``(n, n_points, kernel_size * in_channels)``, times the
    weights, as a linear layer.

    For a few spectra this is about 1.5-2x as fast as PyTorch's dilated convolutions, which run
    a batch of one on a generic path; from a batch of about 8 the convolutions win. Compiled
    (``torch.compile`` with the weights frozen), inductor multiplies by pre-packed weights and
    fuses the shifted copies, ReLUs, folds and sums around the products: a seed spectrum in
    1.3-1.8 ms of forward against 2.5-3.5 ms eager, on the project's 2-core machine (ONNX
    Runtime is faster still, see ``benchmarks/results/speed.md``).

    The weights are copied once, when it is built, into the ``(out, kernel_size * in)`` matrices
    of the products (1.4x faster for one seed spectrum than re-arranging them on every call,
    measured on the project's 2-core AMD EPYC): build a new one after the network's weights
    change. The biases and the dense head are read from the network when called.

    Parameters
    ----------
    net : SpectrumResNet
        The network; its batch normalisation, if any, must be folded first.
    """

    def __init__(self, net: SpectrumResNet):
        if type(net) is not SpectrumResNet:
            raise TypeError(f"expected a SpectrumResNet, got {type(net).__name__}")
        if _has_batch_norm(net):
            raise ValueError("fold the batch normalisation first (fold_batch_norm)")
        super().__init__()
        self.net = net
        # Per block, in order: the matrices of its convolutions, and its shortcut's (or None).
        self.weights = [
            (
                [_matmul_weight(conv) for conv in block.convs],
                _matmul_weight(block.shortcut) if isinstance(block.shortcut, nn.Conv1d) else None,
            )
            for block in net.features
            if isinstance(block, DilatedBlock)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net.binned(x).transpose(1, 2)  # (n, points, channels): a product per conv
        weights = iter(self.weights)
        for layer in self.net.features:
            if isinstance(layer, nn.MaxPool1d):
                h = max_of_pairs(h, 1)
            else:
                h = self._block(layer, next(weights), h)
        return self.net.head(h.amax(dim=1))

    @staticmethod
    def _block(block: DilatedBlock, weights: tuple, h: torch.Tensor) -> torch.Tensor:
        conv_weights, shortcut_weight = weights
        out = h
        for conv, weight in zip(block.convs, conv_weights, strict=True):
            out = _conv_as_matmul(conv, weight, out).relu_()
            out = out[..., : block.filters] + out[..., block.filters :]
        if shortcut_weight is not None:
            return out.add_(_conv_as_matmul(block.shortcut, shortcut_weight, h))
        return out.add_(h)


def _matmul_weight(conv: nn.Conv1d) -> torch.Tensor:
    """``conv``'s weights as the ``(out, kernel_size * in)`` matrix of :func:`_conv_as_matmul`,
    the taps outermost as in its shifted copies (the order that compiles faster); a copy."""
    weight = conv.weight.detach()
    return weight.permute(0, 2, 1).reshape(conv.out_channels, -1).contiguous()


def _conv_as_matmul(conv: nn.Conv1d, weight: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``conv`` ("same" padding, stride 1) of ``h`` laid out as (n, length, channels), its
    weights given as :func:`_matmul_weight` arranges them."""
    n, length, channels = h.shape
    (k,), (d,), (pad,) = conv.kernel_size, conv.dilation, conv.padding
    if k == 1:
        return nn.functional.linear(h, weight, conv.bias)
    padded = nn.functional.pad(h, (0, 0, pad, pad))
    # (n, length, k, channels): position i holds the positions i, i + d, ... of the padded map;
    # one strided view of it, copied once by the reshape.
    s_spectrum, s_point, s_channel = padded.stride()
    cols = padded.as_strided(
        (n, length, k, channels), (s_spectrum, s_point, d * s_point, s_channel)
    )
    return nn.functional.linear(cols.reshape(n, length, k * channels), weight, conv.bias)


def _weights_key(module: nn.Module) -> tuple:
    """Changes whenever a parameter is replaced or modified in place (an optimiser step,
    ``load_state_dict``): a compiled copy with frozen weights is valid while it is the same."""
    # A walk over the modules' own tables: 0.15 ms for the default network, against 0.25 ms
    # through module.modules() and 0.6 ms for state_dict(), which builds every name (this runs
    # on every prediction call).
    key: list = []
    stack = [module]
    while stack:
        m = stack.pop()
        if m is None:  # an optional submodule left unset
            continue
        for table in (m._parameters, m._buffers):
            for t in table.values():
                if t is not None:
                    key += (id(t), t.data_ptr(), t._version)
        stack += m._modules.values()
    return tuple(key)


def _can_convert(module: nn.Module) -> bool:
    """Whether ``module`` is a :class:`~skspectra.SpectrumResNet`, or an ensemble of them, that
    the folded, compiled and ONNX paths know how to rewrite."""
    if isinstance(module, NetworkEnsemble):
        return all(type(member) is SpectrumResNet for member in module.networks)
    return type(module) is SpectrumResNet


def _matmul_forward(module: nn.Module) -> nn.Module | None:
    """:class:`MatmulForward` of a network without batch normalisation, or a
    :class:`~skspectra.network.NetworkEnsemble` of those of an ensemble's networks (in
    evaluation mode: their mean probability); ``None`` for any other module."""
    if isinstance(module, NetworkEnsemble):
        members = [_matmul_forward(member) for member in module.networks]
        return None if any(m is None for m in members) else NetworkEnsemble(members).eval()
    if type(module) is SpectrumResNet and not _has_batch_norm(module):
        return MatmulForward(module)
    return None


def _channels_last_copy(module: nn.Module) -> nn.Module:
    """:class:`_ChannelsLast2d` of a network, or of each network of an ensemble."""
    if isinstance(module, NetworkEnsemble):
        return NetworkEnsemble(_ChannelsLast2d(member) for member in module.networks)
    return _ChannelsLast2d(module)


class Predictor:
    """Runs a fitted network over spectra in chunks, keeping the copies its backends make.

    Parameters
    ----------
    module : torch.nn.Module
        The fitted network (``module_`` of the estimator); it is switched to evaluation mode
        and run where its parameters are (CPU or a GPU). Copies made from it (folded, compiled,
        exported) are rebuilt when its weights change.
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self._fold = _can_convert(module) and _has_batch_norm(module)
        self._folded = None  # (weights key, copy with batch norm folded into the convolutions)
        self._small = None  # (the eager module, weights key, its MatmulForward or None)
        # (spectra per call: a chunk or 1, points per spectrum) -> (weights key, compiled copy)
        self._compiled = {}
        self._session = None  # ((weights key, input mean bytes), onnxruntime session)
        self._heap_settled = False
        # Building a compiled copy or an ONNX session takes seconds: one thread at a time.
        self._building = threading.Lock()

    @property
    def device(self) -> torch.device:
        """Where the module's parameters are (the CPU for a module without any)."""
        first = next(self.module.parameters(), None)
        return torch.device("cpu") if first is None else first.device

    def proba(
        self,
        X: np.ndarray,
        backend: str = "eager",
        onnx_source=None,
        offset: np.ndarray | None = None,
    ) -> np.ndarray:
        """Class probabilities (float64, rows summing to 1) of float32 spectra ``X``.

        ``backend`` is one of :data:`BACKENDS`. ``onnx_source`` is what
        :func:`skspectra.to_onnx` exports for ``"onnxruntime"``: the fitted estimator that owns
        the module, whose graph subtracts ``offset`` itself. ``offset`` (one spectrum) is
        subtracted from each chunk before the network.
        """
        if backend not in BACKENDS:
            raise ValueError(f"inference must be one of {BACKENDS}, got {backend!r}")
        n, n_points = X.shape
        if self.module.training:  # eval() walks every submodule: skip it when already done
            self.module.eval()
        key = _weights_key(self.module)
        if backend == "onnxruntime":
            return self._proba_onnx(X, onnx_source, key)
        chunk = chunk_size(n_points)
        device = self.device
        size = 1 if n == 1 and device.type == "cpu" and _can_convert(self.module) else chunk
        compiled = None
        if backend == "compile" and n >= size:
            compiled = self._compiled_module(size, n_points, key)
        eager = self._folded_module(key) if self._fold else self.module
        small = self._small_forward(eager, key) if n % chunk < SMALL_BATCH else None
        if device.type == "cpu" and not self._heap_settled:
            _settle_heap()
            self._heap_settled = True
        out = []
        shift = None if offset is None else torch.from_numpy(np.asarray(offset)).to(device)
        with torch.inference_mode():
            for start in range(0, n, chunk):
                block = X[start : start + chunk]
                if not block.flags.writeable:  # a read-only memory map: torch wants writable
                    block = block.copy()
                x = torch.from_numpy(block).to(device).unsqueeze(1)
                if shift is not None:
                    x = x - shift
                # A partial last chunk runs eagerly: a new shape would mean a new compile.
                if compiled is not None and len(x) == size:
                    forward = compiled
                elif small is not None and len(x) < SMALL_BATCH:
                    forward = small
                else:
                    forward = eager
                logits = forward(x).to(torch.float64)
                out.append(torch.softmax(logits, dim=1).cpu().numpy())
        return np.concatenate(out)

    def _folded_module(self, key: tuple):
        if self._folded is None or self._folded[0] != key:
            self._folded = (key, fold_batch_norm(self.module))
        return self._folded[1]

    def _small_forward(self, eager: nn.Module, key: tuple) -> nn.Module | None:
        """The :func:`_matmul_forward` of ``eager`` (CPU only; ``None`` for other networks),
        built again when its weights change (``key``: :func:`_weights_key`)."""
        if self._small is None or self._small[:2] != (eager, key):
            usable = self.device.type == "cpu"
            self._small = (eager, key, _matmul_forward(eager) if usable else None)
        return self._small[2]

    def _compiled_module(self, size: int, n_points: int, key: tuple):
        """The compiled copy for calls of ``size`` spectra (a chunk, or 1), built once per
        weights. A failed compile raises: ``inference="compile"`` was asked for."""
        with self._building:
            entry = self._compiled.get((size, n_points))
            if entry is None or entry[0] != key:
                self._compiled[size, n_points] = (key, self._compile(size, n_points))
            return self._compiled[size, n_points][1]

    def _compile(self, size: int, n_points: int):
        import torch._inductor.config as inductor_config

        base = self.module
        if self.device.type == "cpu" and _can_convert(base):
            # One spectrum: the matrix-product form (a copy: the weights are frozen below);
            # a chunk: the 2-D channels-last form, which oneDNN convolves fastest.
            if size == 1:
                base = _matmul_forward(fold_batch_norm(base))
            else:
                base = _channels_last_copy(base).to(self.device).eval()
        compiled = torch.compile(base, dynamic=False)
        example = torch.zeros(size, 1, n_points, device=self.device)
        # Freezing folds the weights into the graph as constants (then oneDNN pre-packs them);
        # inductor reads the flag when the first call compiles.
        with inductor_config.patch(freezing=True), torch.inference_mode():
            compiled(example)
        return compiled

    def _proba_onnx(self, X: np.ndarray, onnx_source, key: tuple) -> np.ndarray:
        session = self._onnx_session(onnx_source, key)
        chunk = chunk_size(X.shape[1])
        proba = np.concatenate(
            [
                session.run(None, {"spectra": X[start : start + chunk]})[0]
                for start in range(0, len(X), chunk)
            ]
        ).astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def _onnx_session(self, onnx_source, weights_key: tuple):
        if onnx_source is None:
            raise ValueError("inference='onnxruntime' needs the estimator to export")
        # The exported graph holds the estimator's input_mean_ too (a centring classifier).
        mean = getattr(onnx_source, "input_mean_", None)
        key = (weights_key, None if mean is None else mean.tobytes())
        if self._session is not None and self._session[0] == key:
            return self._session[1]
        try:
            import onnxruntime
        except ImportError as exc:
            raise ImportError(
                "inference='onnxruntime' needs the packages onnxruntime, onnx and onnxscript: "
                'pip install "skspectra[onnx]"'
            ) from exc
        from .export import runtime_graph

        with self._building:
            if self._session is not None and self._session[0] == key:  # built meanwhile
                return self._session[1]
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            session = onnxruntime.InferenceSession(
                runtime_graph(onnx_source), options, providers=["CPUExecutionProvider"]
            )
            self._session = (key, session)
            return session


def mc_dropout(module: nn.Module, batches, n_samples: int, random_state, device) -> Bunch:
    """Monte-Carlo dropout (Gal & Ghahramani 2016, as astroNN does for stellar spectra):
    ``n_samples`` forward passes of ``module`` with its dropout on, over ``batches`` (an
    iterable of ``(X, y)`` whose ``X`` is a spectra tensor or a dict with one under ``"X"``).

    With a :class:`~skspectra.network.NetworkEnsemble` each network's pass counts as a sample,
    so the spread also measures how much the networks disagree (Lakshminarayanan et al. 2017);
    such a model needs no dropout for it (one pass then, if it has none).

    Returns
    -------
    result : Bunch
        ``proba`` (n_spectra, n_classes): the mean probabilities; ``std``: their standard
        deviation over passes; ``entropy`` (n_spectra,): the predictive entropy of ``proba``
        in nats; ``mutual_information``: entropy minus the passes' mean entropy (the model's own
        uncertainty). Spectra high in either are the ones to inspect by eye.
    """
    from sklearn.utils import check_random_state

    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    dropouts = [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    network = getattr(module, "_orig_mod", module)  # skorch's compile=True wraps the module
    networks = list(network.networks) if isinstance(network, NetworkEnsemble) else [module]
    if not dropouts and len(networks) == 1:
        raise ValueError("the module has no dropout layer: Monte-Carlo dropout needs one")
    if not any(m.p > 0 for m in dropouts):
        n_samples = 1  # every pass would be the same: the networks' spread is all there is
    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    passes = []
    seed = check_random_state(random_state).randint(0, 2**31 - 1)
    with torch_rng(seed, devices), torch.no_grad():
        module.eval()
        for m in dropouts:
            m.train()
        try:
            for _ in range(n_samples):
                chunks = [[] for _ in networks]
                for X, _y in batches:
                    x = (X["X"] if isinstance(X, dict) else X).to(device)
                    for net, out in zip(networks, chunks, strict=True):
                        out.append(torch.softmax(net(x).to(torch.float64), dim=1).cpu().numpy())
                passes.extend(np.concatenate(out) for out in chunks)
        finally:
            module.eval()
    passes = np.stack(passes)
    proba = passes.mean(axis=0)

    def entropy(p):
        return -np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=-1)

    total = entropy(proba)
    return Bunch(
        proba=proba,
        std=passes.std(axis=0),
        entropy=total,
        mutual_information=np.maximum(total - entropy(passes).mean(axis=0), 0.0),
    )
