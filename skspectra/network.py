"""The residual, dilated 1-D convolutional network of the LAMOST contest model.

A plain :class:`torch.nn.Module` that knows nothing of scikit-learn: the estimator in
``classifier.py`` builds it with the number of classes and the input length taken from the data.
The architecture is described in ``SEED_MODEL.md`` of the project (the LAMOST 2018 contest's
reference single model).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "build_networks",
    "DilatedBlock",
    "NetworkEnsemble",
    "SpectrumResNet",
    "min_length",
    "auto_n_pools",
    "binned",
    "channels_last_map",
    "max_of_pairs",
    "plain_layout",
    "relu_fold",
]

SEED_FILTERS = (16, 16, 32, 32, 64, 64, 128, 128)
SEED_DILATIONS = (1, 2, 4)
NORMS = (None, "batch")

# Shortest length a feature map may shrink to before the global max pool when the number of
# pooling stages is chosen automatically: below a handful of positions, pooling only throws
# information away.
_MIN_POOLED_LENGTH = 4


def min_length(n_pools: int) -> int:
    """Return the shortest input length that ``n_pools`` pooling stages of 2 can carry."""
    return 2**n_pools


def auto_n_pools(n_points: int, n_blocks: int) -> int:
    """Number of pooling stages for an input of ``n_points``: as many as the seed (one after each
    block but the last), but never shrinking the feature map below a few positions.

    >>> auto_n_pools(2600, 8), auto_n_pools(235, 8), auto_n_pools(5, 8)
    (7, 5, 0)
    """
    if n_points < 1:
        raise ValueError(f"n_points must be positive, got {n_points}")
    fit = int(math.floor(math.log2(max(n_points / _MIN_POOLED_LENGTH, 1))))
    return max(0, min(n_blocks - 1, fit))


class _ReluFold(torch.autograd.Function):
    """``relu(x)[:, :f] + relu(x)[:, f:]`` with a backward of one pass over ``x``'s size.

    The same values and gradients as the plain expression, whose backward autograd builds from
    two zero-filled full-size tensors (one per slice), their sum and the ReLU's mask: three
    more passes over the largest activations of the network, in every training step.

    With ``inplace`` the ReLU overwrites ``x`` (which then holds the values saved for the
    backward) instead of writing a new tensor of its size: in a training step of the seed
    network at batch 160 that was 1.2x faster (fresh buffers of that size are page-faulted in
    on every step; measured on the project's 2-core machine). Only for an ``x`` that nothing
    else reads: a convolution's or batch norm's output, whose own backward needs its input.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, filters: int, inplace: bool) -> torch.Tensor:
        r = torch.relu_(x) if inplace else torch.relu(x)
        ctx.save_for_backward(r)
        ctx.filters = filters
        return r[:, :filters] + r[:, filters:]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (r,) = ctx.saved_tensors
        f = ctx.filters
        # Each half of the input's gradient is `grad` where that half's ReLU passed, else 0:
        # written straight into its half (2x faster than masking a concatenated copy).
        out = torch.empty_like(r)
        threshold_backward = torch.ops.aten.threshold_backward.grad_input
        threshold_backward(grad, r[:, :f], 0, grad_input=out[:, :f])
        threshold_backward(grad, r[:, f:], 0, grad_input=out[:, f:])
        return out, None, None


def relu_fold(x: torch.Tensor, filters: int, inplace: bool = False) -> torch.Tensor:
    """ReLU, then channel ``i`` plus channel ``i + filters``: ``2 * filters`` -> ``filters``.

    ``inplace=True`` lets the ReLU overwrite ``x``: one buffer of ``x``'s size fewer per call.
    With gradients it does so only for an intermediate result (``x.grad_fn`` set), never a leaf
    tensor; the gradients are the same either way.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return _ReluFold.apply(x, filters, inplace and x.grad_fn is not None)
    x = torch.relu_(x) if inplace else torch.relu(x)
    return x[:, :filters] + x[:, filters:]


def binned(x: torch.Tensor, size: int) -> torch.Tensor:
    """Spectra ``x``, ``(N, L)`` or ``(N, C, L)``, as ``(N, C, L // size)``: the means of bins
    of ``size`` neighbouring points, a remainder at the end dropped (``max_points``)."""
    if x.dim() == 2:
        x = x.unsqueeze(1)
    return x if size == 1 else F.avg_pool1d(x, size)


def channels_last_map(x: torch.Tensor) -> torch.Tensor:
    """An ``(N, C, L)`` map as the ``(N, C, 1, L)`` channels-last map of height 1 that the CPU
    path convolves (:func:`_channels_last`), with channels-last strides even for one channel.

    ``x.unsqueeze(2).contiguous(memory_format=torch.channels_last)`` returns a one-channel map
    as it is (both layouts hold it the same), with strides PyTorch reads as channels-first: the
    first convolution then answers channels-first, and its output, the largest map of the
    network (32 channels at full length for the seed), is copied to channels-last, forward and
    backward (a training step of the seed network 5 % slower, measured).
    """
    h = x.unsqueeze(2)
    return torch.empty_like(h, memory_format=torch.channels_last).copy_(h)


def _channels_last(x: torch.Tensor) -> bool:
    """Whether :class:`SpectrumResNet` runs its blocks on channels-last 2-D maps for ``x``.

    On the CPU, oneDNN convolves 1-D (and channels-first 2-D) maps in a blocked layout of its
    own, and PyTorch converts every activation into it and back around every convolution,
    forward and backward: in a training step of the seed network at batch 160 these conversions
    took 45 % of oneDNN's time. A map of height 1 in PyTorch's channels-last layout (positions
    outer, channels inner) is convolved as it is (0.8 % of the time in conversions; the step
    1.4x faster). Other devices keep the plain 1-D layout, as does a network under
    :func:`plain_layout`.
    """
    return x.device.type == "cpu"


@contextlib.contextmanager
def plain_layout(module: nn.Module) -> Iterator[nn.Module]:
    """Within the block, the :class:`SpectrumResNet` networks in ``module`` run on ``(N, C, L)``
    maps on every device; other networks, and other threads' predictions, are untouched.

    For tracing and export: the ONNX graph of the plain layout has 1-D convolutions with the
    batch normalisation folded into them, which ONNX Runtime runs faster than the channels-last
    graph with its transposes (295-351 against 213 spectra/s at batch 32, measured).
    ``to_onnx`` and the ONNX Runtime backend's export use it on their own copy of the network.
    """
    networks = [m for m in module.modules() if isinstance(m, SpectrumResNet)]
    before = [net.plain_layout for net in networks]
    for net in networks:
        net.plain_layout = True
    try:
        yield module
    finally:
        for net, value in zip(networks, before, strict=True):
            net.plain_layout = value


def _conv(conv: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``conv`` applied to a map: a 1-D convolution to an ``(N, C, L)`` map as itself, and to an
    ``(N, C, 1, L)`` channels-last map as the 2-D convolution of height 1 with its weights."""
    if h.dim() == 3 or not isinstance(conv, nn.Conv1d):
        return conv(h)
    out = F.conv2d(
        h,
        conv.weight.unsqueeze(2),
        conv.bias,
        stride=(1, conv.stride[0]),
        padding=(0, conv.padding[0]),
        dilation=(1, conv.dilation[0]),
        groups=conv.groups,
    )
    # A no-op for maps made by channels_last_map; a one-channel map with other strides (both
    # layouts hold it the same) makes PyTorch answer channels-first, copied here.
    return out.contiguous(memory_format=torch.channels_last)


class _BatchNormRows(torch.autograd.Function):
    """Training-mode batch normalisation of an ``(M, C)`` matrix (the rows of a channels-last
    map), with every sum over the rows taken by PyTorch's own column sums.

    PyTorch's CPU batch norm kernel for this layout accumulates its backward row after row in
    float32: with the 416,000 rows of the default network's first block at batch 160, its
    parameter gradients came out 2.8e-2 off (median, against float64), against 4.7e-4 in the
    ``(N, C, L)`` layout and 6.7e-4 here (``Tensor.sum`` sums in cascades). Each pass writes
    into the one buffer of ``x``'s size that the result needs anyway: a fresh buffer of that
    size costs more in page faults than the arithmetic on it.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        rows = x.shape[0]
        mean = x.sum(0) / rows
        out = torch.sub(x, mean).square_()
        var = out.sum(0) / rows
        invstd = torch.rsqrt(var + eps)
        scale = invstd if weight is None else weight * invstd
        torch.sub(x, mean, out=out).mul_(scale)
        if bias is not None:
            out.add_(bias)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.has_bias = bias is not None
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(ctx, grad, _grad_mean, _grad_var):
        x, weight, mean, invstd = ctx.saved_tensors
        rows = x.shape[0]
        sum_dy = grad.sum(0)
        out = torch.sub(x, mean).mul_(grad)
        sum_dy_xmu = out.sum(0)  # sum of grad * (x - mean)
        scale = invstd if weight is None else weight * invstd
        # grad_x = scale * (grad - mean(grad) - (x - mean) * invstd^2 * mean(grad * (x - mean)))
        x_coef = -scale * invstd.square() * sum_dy_xmu / rows
        torch.sub(x, mean, out=out).mul_(x_coef).addcmul_(grad, scale).sub_(scale * sum_dy / rows)
        grad_weight = None if weight is None else sum_dy_xmu * invstd
        grad_bias = sum_dy if ctx.has_bias else None
        return out, grad_weight, grad_bias, None


def _batch_norm_rows(norm: nn.BatchNorm1d, rows: torch.Tensor) -> torch.Tensor:
    """``norm`` in training mode on ``(M, C)`` rows (:class:`_BatchNormRows`), updating its
    running statistics as :class:`~torch.nn.BatchNorm1d` does."""
    out, mean, var = _BatchNormRows.apply(rows, norm.weight, norm.bias, norm.eps)
    if norm.track_running_stats:
        with torch.no_grad():
            norm.num_batches_tracked.add_(1)
            momentum = norm.momentum
            if momentum is None:  # a cumulative average, as BatchNorm1d's momentum=None
                momentum = 1.0 / float(norm.num_batches_tracked)
            unbiased = var * (rows.shape[0] / max(rows.shape[0] - 1, 1))
            norm.running_mean.lerp_(mean.to(norm.running_mean.dtype), momentum)
            norm.running_var.lerp_(unbiased.to(norm.running_var.dtype), momentum)
    return out


def _norm(norm: nn.BatchNorm1d, h: torch.Tensor) -> torch.Tensor:
    """A :class:`~torch.nn.BatchNorm1d` applied to a map, 3-D or 4-D channels-last: the latter,
    which the module refuses, as the ``(N * L, C)`` matrix it is in memory (a view both ways).

    In training (batch statistics) the 4-D map goes through :class:`_BatchNormRows`, as
    accurate as the 3-D module; in evaluation mode the module itself, which is exact there."""
    if h.dim() == 3:
        return norm(h)
    n, c, _, length = h.shape
    matrix = h.permute(0, 2, 3, 1).reshape(-1, c)
    if norm.training or norm.running_mean is None:
        rows = _batch_norm_rows(norm, matrix)
    else:
        rows = norm(matrix)
    return rows.view(n, 1, length, c).permute(0, 3, 1, 2)


def max_of_pairs(h: torch.Tensor, dim: int) -> torch.Tensor:
    """A max pool of 2 along dimension ``dim`` (>= 0) without gradients in mind: the larger of
    positions ``2i`` and ``2i + 1`` (an odd last position is dropped), from two strided views
    of ``h``; 2-5x faster than ``max_pool2d`` or ``amax`` over pairs, the same numbers."""
    pairs = h.narrow(dim, 0, h.shape[dim] // 2 * 2).unflatten(dim, (-1, 2))
    return torch.maximum(pairs.select(dim + 1, 0), pairs.select(dim + 1, 1))


def _max_pool(pool: nn.MaxPool1d, h: torch.Tensor) -> torch.Tensor:
    """``pool`` applied to an ``(N, C, 1, L)`` channels-last map.

    Without gradients, a pool of 2 (the network's) is the larger of each pair of positions,
    taken from two strided views of the map: the same numbers 5x faster than ``max_pool2d``
    on this layout (0.6 ms against 3.5 ms for 128 seed spectra after the first block,
    measured on the project's 2-core machine), which also computes the indices a backward
    would need. With gradients ``max_pool2d`` runs, whose backward sends a tie's gradient to
    one position rather than halves to both.
    """
    plain = (pool.kernel_size, pool.stride, pool.padding, pool.dilation) == (2, 2, 0, 1)
    if plain and not pool.ceil_mode and not (torch.is_grad_enabled() and h.requires_grad):
        return max_of_pairs(h, h.dim() - 1)
    return F.max_pool2d(
        h,
        (1, pool.kernel_size),
        (1, pool.stride),
        (0, pool.padding),
        (1, pool.dilation),
        ceil_mode=pool.ceil_mode,
    )


class DilatedBlock(nn.Module):
    """One residual block: three dilated convolutions, each folded to half its channels.

    Each stage convolves to ``2 * filters`` channels (ReLU), then folds them back to ``filters``
    by adding channel ``i`` and channel ``i + filters``. The output is the folded path plus a
    shortcut (the input itself, or a 1x1 convolution when the channel count changes).

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    filters : int
        Channels of the output.
    dilations : sequence of int, default=(1, 2, 4)
        Dilation of each convolution stage.
    kernel_size : int, default=3
        Kernel size of each convolution (odd, so that "same" padding is symmetric).
    norm : {None, "batch"}, default=None
        ``"batch"``: batch normalisation after each convolution, before its ReLU.
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        dilations: Sequence[int] = SEED_DILATIONS,
        kernel_size: int = 3,
        norm: str | None = None,
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if len(dilations) == 0:
            raise ValueError("dilations must name at least one convolution, e.g. (1, 2, 4)")
        self.filters = filters
        convs = []
        channels = in_channels
        for dilation in dilations:
            padding = dilation * (kernel_size - 1) // 2
            convs.append(
                nn.Conv1d(channels, 2 * filters, kernel_size, dilation=dilation, padding=padding)
            )
            channels = filters
        self.convs = nn.ModuleList(convs)
        # Without normalisation no module is added, so the seed's weights keep their names.
        self.norms = (
            nn.ModuleList(nn.BatchNorm1d(2 * filters) for _ in convs) if norm == "batch" else None
        )
        self.shortcut = (
            nn.Identity() if in_channels == filters else nn.Conv1d(in_channels, filters, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block on an ``(N, C, L)`` map, or on an ``(N, C, 1, L)`` channels-last one (as
        :class:`SpectrumResNet` runs it on the CPU): the same numbers either way."""
        out = x
        for i, conv in enumerate(self.convs):
            out = _conv(conv, out)
            if self.norms is not None:
                out = _norm(self.norms[i], out)
            out = relu_fold(out, self.filters, inplace=True)  # `out` is this block's own
        return out.add_(_conv(self.shortcut, x))


class SpectrumResNet(nn.Module):
    """Residual dilated 1-D CNN for spectra; outputs class logits.

    Blocks of ``filters`` channels, a max pool of 2 after each of the first ``n_pools`` blocks,
    dropout, a global max pool over length, a hidden dense layer with ReLU and a linear output.
    The defaults are the LAMOST contest model (748,324 parameters with 4 classes) but for a
    lighter dropout and batch normalisation (``dropout=0.5, spatial_dropout=True, norm=None``
    restore the seed's).

    Parameters
    ----------
    n_classes : int
        Number of output logits.
    n_points : int
        Input length (points per spectrum). Only used to choose and check ``n_pools``.
    filters : sequence of int, default=(16, 16, 32, 32, 64, 64, 128, 128)
        Output channels of each block.
    dilations : sequence of int, default=(1, 2, 4)
        Dilations of the convolutions inside every block.
    kernel_size : int, default=3
        Kernel size of every dilated convolution.
    n_pools : int or None, default=None
        Pooling stages (after the first ``n_pools`` blocks). ``None`` chooses as many as the
        seed (one fewer than the blocks) but keeps at least 4 positions before the global pool,
        so short spectra work. An explicit value that the input length cannot carry raises.
    dropout : float, default=0.1
        Dropout probability before the global pool (the seed: 0.5); kept by inner CV against
        0.3 and 0 (``benchmarks/results/screens.md``).
    spatial_dropout : bool, default=False
        Drop whole positions (all channels at once), as the seed's Keras model did, instead of
        single activations (the seed: True); kept by inner CV against spatial dropout
        (``benchmarks/results/screens.md``).
    hidden_units : int or None, default=128
        Width of the dense layer before the output; ``None`` or 0 for none.
    norm : {"batch", None}, default="batch"
        Normalisation after every convolution of the blocks (the seed: none). Kept by inner
        CV against none (``benchmarks/results/screens.md``, 2026-12-04 12:41); in evaluation
        mode it is a fixed affine map, folded into the convolutions for prediction.
    in_channels : int, default=1
        Channels of the input.
    max_points : int or None, default=1024
        Spectra of more points are averaged in bins of ``ceil(n_points / max_points)``
        neighbouring points (a remainder at the end dropped) before the first block, so the
        blocks see at most ``max_points`` positions: 2,844 points with 1,024 become 948, and
        a fit takes a fraction of the time. None: every point.

    Notes
    -----
    On the CPU, without batch normalisation (the seed's network, and every network whose
    batch norm prediction has folded into its convolutions), the blocks run on
    ``(N, C, 1, L)`` maps in channels-last layout, each convolution computed as the 2-D
    convolution of height 1 with its ``Conv1d`` module's weights (a training step of the seed
    network 1.3-1.4x faster: oneDNN convolves that layout as it is). The numbers are those of
    the ``(N, C, L)`` computation, which ``net.features(x)`` still performs; but forward hooks
    on a block then see its 4-D map, and those on a convolution module do not fire (it is not
    called). The ReLU after each convolution (or batch norm) overwrites that module's output,
    in training too, as torchvision's ``ReLU(inplace=True)`` does: a forward hook that keeps
    such an output must keep a copy.

    Examples
    --------
    >>> import torch
    >>> seed = SpectrumResNet(n_classes=4, n_points=2600, norm=None)
    >>> sum(p.numel() for p in seed.parameters())
    748324
    >>> net = SpectrumResNet(n_classes=4, n_points=2600)  # + 5,760 batch-norm weights
    >>> sum(p.numel() for p in net.parameters())
    754084
    >>> net(torch.zeros(2, 1, 2600)).shape
    torch.Size([2, 4])
    """

    #: Run the blocks on ``(N, C, L)`` maps even on the CPU (set by :func:`plain_layout`).
    plain_layout = False
    #: Points averaged per bin before the first block, and ``max_points``; a network pickled
    #: before ``max_points`` existed has neither attribute and saw every point.
    bin = 1
    max_points = None

    def __init__(
        self,
        n_classes: int,
        n_points: int,
        filters: Sequence[int] = SEED_FILTERS,
        dilations: Sequence[int] = SEED_DILATIONS,
        kernel_size: int = 3,
        n_pools: int | None = None,
        dropout: float = 0.1,
        spatial_dropout: bool = False,
        hidden_units: int | None = 128,
        norm: str | None = "batch",
        in_channels: int = 1,
        max_points: int | None = 1024,
    ):
        super().__init__()
        if max_points is not None and max_points < 1:
            raise ValueError(f"max_points must be positive or None, got {max_points}")
        self.max_points = max_points
        self.bin = 1 if max_points is None else max(1, -(-n_points // max_points))
        n_points //= self.bin
        filters = list(filters)
        if not filters:
            raise ValueError("filters must name at least one block, e.g. (16, 16, 32, 32)")
        if n_classes < 1:
            raise ValueError(f"n_classes must be at least 1, got {n_classes}")
        max_pools = len(filters) - 1
        if n_pools is None:
            n_pools = auto_n_pools(n_points, len(filters))
        elif not 0 <= n_pools <= max_pools:
            raise ValueError(
                f"n_pools={n_pools} is impossible with {len(filters)} blocks: pooling follows "
                f"a block but never the last, so use 0 to {max_pools}, or None to choose "
                "from the input length"
            )
        elif n_points < min_length(n_pools):
            most = int(math.floor(math.log2(n_points)))
            seen = f"{n_points} points" + (f" after bins of {self.bin}" if self.bin > 1 else "")
            raise ValueError(
                f"Spectra have {seen}, but n_pools={n_pools} pooling stages need at least "
                f"{min_length(n_pools)}: use n_pools<={most}, n_pools=None (chosen from the "
                "length), a larger max_points, or resample the spectra to more points"
            )
        self.n_pools = n_pools

        layers: list[nn.Module] = []
        channels = in_channels
        for i, f in enumerate(filters):
            layers.append(DilatedBlock(channels, f, dilations, kernel_size, norm))
            if i < n_pools:
                layers.append(nn.MaxPool1d(2))
            channels = f
        self.features = nn.Sequential(*layers)
        # Dropout1d zeroes whole "channels" of an (N, C, L) input; fed the transposed (N, L, C)
        # map it zeroes whole positions, like the seed's Keras noise_shape=(N, L, 1).
        self.dropout = nn.Dropout1d(dropout) if spatial_dropout else nn.Dropout(dropout)
        self.spatial_dropout = spatial_dropout
        if hidden_units:
            self.head = nn.Sequential(
                nn.Linear(channels, hidden_units), nn.ReLU(), nn.Linear(hidden_units, n_classes)
            )
        else:
            self.head = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._features(self.binned(x))
        if self.spatial_dropout:
            h = self.dropout(h.transpose(1, 2)).transpose(1, 2)
        else:
            h = self.dropout(h)
        h = h.amax(dim=2)
        return self.head(h)

    def binned(self, x: torch.Tensor) -> torch.Tensor:
        """What the first block sees of spectra ``x``: :func:`binned` by ``self.bin``."""
        return binned(x, self.bin)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """``self.features(x)``; on the CPU computed on a channels-last map of height 1
        (:func:`_channels_last`), returned as ``(N, C, L)`` with the channels innermost.

        Batch normalisation runs there too, on the map's rows (:func:`_norm`), with cascaded
        sums: PyTorch's own CPU kernel for that layout sums row by row, and its parameter
        gradients came out 0.5 % off on real spectra, which cost accuracy (UCR Strawberry 0.945
        against 0.959 over twelve paired seeds). A training step of the default network at batch
        160 takes 0.84-0.87 s there against 0.97-1.33 s in the ``(N, C, L)`` layout (2 threads,
        the project's 2-core machine), whose convolutions convert every map to oneDNN's layout
        and back.
        """
        if self.plain_layout or not _channels_last(x):
            return self.features(x)
        h = channels_last_map(x)
        for layer in self.features:
            if isinstance(layer, nn.MaxPool1d):
                h = _max_pool(layer, h)
            else:
                h = layer(h)
        return h.squeeze(2)


class NetworkEnsemble(nn.Module):
    """Several networks trained side by side on the same batches, predicting together.

    In training mode the forward returns every member's logits, shape
    ``(n, n_networks, n_classes)``, so that each member gets its own loss (the classifier
    averages them); in evaluation mode it returns the logarithm of the members' mean class
    probability, shape ``(n, n_classes)``, so its softmax is that mean. Each member keeps the
    initial weights it was built with: with the same batches and augmentation, those and the
    dropout masks are what make the members differ, and their mean is more accurate than one
    of them (Lakshminarayanan et al. 2017, "Simple and scalable predictive uncertainty
    estimation using deep ensembles"; InceptionTime averages five networks the same way).

    Parameters
    ----------
    networks : iterable of torch.nn.Module
        The members, each mapping ``(n, 1, n_points)`` spectra to ``(n, n_classes)`` logits.
    """

    def __init__(self, networks):
        super().__init__()
        self.networks = nn.ModuleList(networks)
        if len(self.networks) == 0:
            raise ValueError("NetworkEnsemble needs at least one network")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([net(x) for net in self.networks], dim=1)
        if self.training:
            return logits
        log_proba = torch.log_softmax(logits, dim=2)
        return torch.logsumexp(log_proba, dim=1) - math.log(len(self.networks))


def build_networks(module, n_networks: int, params: dict, inferred: dict) -> nn.Module:
    """``n_networks`` networks of class ``module`` built from ``params`` (the ``module__*``
    parameters) and ``inferred`` (what the data says: ``n_classes``, ``n_points``), which the
    parameters may not contradict; one network alone, more as a :class:`NetworkEnsemble`."""
    clash = {k: v for k, v in params.items() if k in inferred and v != inferred[k]}
    if clash:
        raise ValueError(
            f"module__{next(iter(clash))} contradicts the data ({inferred}): leave it unset, it "
            "is taken from the data."
        )
    networks = [module(**{**params, **inferred}) for _ in range(n_networks)]
    return networks[0] if n_networks == 1 else NetworkEnsemble(networks)
