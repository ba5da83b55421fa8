"""Tests of the plain PyTorch network: SpectrumResNet, DilatedBlock, auto_n_pools, min_length."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from skspectra.network import (
    DilatedBlock,
    SpectrumResNet,
    auto_n_pools,
    channels_last_map,
    min_length,
    plain_layout,
    relu_fold,
)

SEED_FILTERS = (16, 16, 32, 32, 64, 64, 128, 128)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def expected_params(
    n_classes, filters, dilations=(1, 2, 4), kernel_size=3, hidden=128, in_ch=1, norm="batch"
):
    """Parameter count of the architecture of SEED_MODEL.md, counted by hand (plus a scale and
    a shift per convolution channel with batch normalisation)."""
    total, channels = 0, in_ch
    for f in filters:
        total += channels * 2 * f * kernel_size + 2 * f  # first convolution, to 2f
        total += (len(dilations) - 1) * (f * 2 * f * kernel_size + 2 * f)  # the others, f -> 2f
        if norm == "batch":
            total += len(dilations) * 2 * (2 * f)
        if channels != f:
            total += channels * f + f  # 1x1 shortcut
        channels = f
    if hidden:
        return total + channels * hidden + hidden + hidden * n_classes + n_classes
    return total + channels * n_classes + n_classes


def n_maxpools(net):
    return sum(isinstance(m, nn.MaxPool1d) for m in net.modules())


# --- the seed configuration ----------------------------------------------------------------------


def test_seed_parameter_count_and_pools():
    net = SpectrumResNet(n_classes=4, n_points=2600, norm=None)
    assert n_params(net) == 748_324
    assert expected_params(4, SEED_FILTERS, norm=None) == 748_324
    assert n_params(SpectrumResNet(n_classes=4, n_points=2600)) == expected_params(4, SEED_FILTERS)
    assert net.n_pools == 7
    assert n_maxpools(net) == 7
    blocks = [m for m in net.features if isinstance(m, DilatedBlock)]
    assert [b.filters for b in blocks] == list(SEED_FILTERS)
    # A pool follows each of the first seven blocks, none follows the last.
    kinds = [type(m) for m in net.features]
    assert kinds[-1] is DilatedBlock
    assert kinds[:-1] == [DilatedBlock, nn.MaxPool1d] * 7


@pytest.mark.parametrize("length", [1, 2, 5, 235, 2600])
def test_output_shape_for_any_length(length):
    net = SpectrumResNet(n_classes=4, n_points=length).eval()
    with torch.no_grad():
        out = net(torch.randn(3, 1, length))
    assert out.shape == (3, 4)
    assert torch.isfinite(out).all()
    assert net.n_pools == auto_n_pools(length, len(SEED_FILTERS))
    assert n_maxpools(net) == net.n_pools


@pytest.mark.parametrize(
    "n_points, max_points, size", [(2844, 1024, 3), (1024, 1024, 1), (1025, 1024, 2), (90, 8, 12)]
)
def test_spectra_over_max_points_are_averaged_in_bins_first(n_points, max_points, size):
    torch.manual_seed(0)
    net = SpectrumResNet(3, n_points, filters=(4, 8), max_points=max_points).eval()
    plain = SpectrumResNet(3, n_points // size, filters=(4, 8), max_points=None).eval()
    plain.load_state_dict(net.state_dict())
    assert net.bin == size and net.n_pools == plain.n_pools
    x = torch.randn(5, 1, n_points)
    expected = x[..., : n_points // size * size].reshape(5, 1, -1, size).mean(-1)
    with torch.no_grad():
        torch.testing.assert_close(net(x), plain(expected))
    # None, and the network as pickled before max_points existed, see every point.
    assert SpectrumResNet(3, 5000, max_points=None).bin == 1
    del net.bin, net.max_points  # class attributes remain, as for an old pickle
    with torch.no_grad():
        assert net(x).shape == (5, 3) and net.bin == 1
    with pytest.raises(ValueError, match="max_points must be positive"):
        SpectrumResNet(3, 100, max_points=0)
    with pytest.raises(ValueError, match="Spectra have 11 points after bins of 9, but n_pools=4"):
        SpectrumResNet(3, 100, filters=(4, 4, 4, 4, 4), n_pools=4, max_points=12)


def test_two_dimensional_input_is_one_channel():
    net = SpectrumResNet(n_classes=3, n_points=40, filters=(4, 8), hidden_units=8).eval()
    x = torch.randn(5, 40)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x.unsqueeze(1)))


# --- pooling stages ------------------------------------------------------------------------------


def test_auto_n_pools_examples():
    assert auto_n_pools(2600, 8) == 7
    assert auto_n_pools(235, 8) == 5  # 235 // 32 = 7 positions, 235 // 64 = 3 would be too few
    assert auto_n_pools(5, 8) == 0
    assert auto_n_pools(8, 8) == 1
    assert auto_n_pools(7, 8) == 0
    assert auto_n_pools(10**6, 3) == 2  # capped at n_blocks - 1
    assert auto_n_pools(10**6, 1) == 0


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(n_points=st.integers(1, 10**6), n_blocks=st.integers(1, 12))
def test_auto_n_pools_keeps_four_positions_and_is_maximal(n_points, n_blocks):
    k = auto_n_pools(n_points, n_blocks)
    assert 0 <= k <= n_blocks - 1
    if k > 0:
        assert n_points // 2**k >= 4
    if k < n_blocks - 1:  # one more pool would leave fewer than 4 positions
        assert n_points // 2 ** (k + 1) < 4


def test_auto_n_pools_rejects_non_positive_length():
    with pytest.raises(ValueError, match="n_points must be positive"):
        auto_n_pools(0, 8)


def test_min_length():
    assert [min_length(k) for k in range(4)] == [1, 2, 4, 8]
    assert min_length(7) == 128


def test_explicit_n_pools_too_many_for_length_names_minimum_and_fix():
    with pytest.raises(ValueError) as info:
        SpectrumResNet(n_classes=4, n_points=100, n_pools=7)
    msg = str(info.value)
    assert "100 points" in msg
    assert "at least 128" in msg
    assert "n_pools<=6" in msg  # 2**6 = 64 <= 100
    assert "n_pools=None" in msg
    assert "resample" in msg


def test_explicit_n_pools_exactly_at_minimum_length_works():
    net = SpectrumResNet(n_classes=2, n_points=8, filters=(4, 4, 4, 4), n_pools=3).eval()
    assert n_maxpools(net) == 3
    with torch.no_grad():
        assert net(torch.randn(2, 1, 8)).shape == (2, 2)
    with pytest.raises(ValueError, match="at least 8"):
        SpectrumResNet(n_classes=2, n_points=7, filters=(4, 4, 4, 4), n_pools=3)


def test_explicit_n_pools_overrides_auto():
    net = SpectrumResNet(n_classes=2, n_points=2600, filters=(4, 4, 4), n_pools=0)
    assert net.n_pools == 0
    assert n_maxpools(net) == 0


@pytest.mark.parametrize("n_pools", [-1, 8, 20])
def test_n_pools_out_of_range_raises(n_pools):
    with pytest.raises(ValueError, match=r"0 to 7"):
        SpectrumResNet(n_classes=4, n_points=10**6, n_pools=n_pools)


def test_invalid_filters_and_classes_raise():
    with pytest.raises(ValueError, match="filters"):
        SpectrumResNet(n_classes=4, n_points=64, filters=())
    with pytest.raises(ValueError, match="n_classes"):
        SpectrumResNet(n_classes=0, n_points=64)


# --- the block: channel fold and shortcut --------------------------------------------------------


def _centre_only(conv, gains, biases):
    """Set a kernel-3 convolution to out_j = gains[j] * x_centre + biases[j] (one input channel)."""
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, 0, 1] = torch.tensor(gains)
        conv.bias.copy_(torch.tensor(biases))


def test_channel_fold_adds_channel_i_and_i_plus_f():
    block = DilatedBlock(1, 2, dilations=(1,))
    conv = block.convs[0]
    assert conv.out_channels == 4  # 2f
    _centre_only(conv, [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, -1.0])
    with torch.no_grad():
        block.shortcut.weight.zero_()
        block.shortcut.bias.zero_()
    x = torch.tensor([[[-1.0, 0.5, 2.0, 3.0]]])
    with torch.no_grad():
        out = block(x)
    relu = torch.relu
    x0 = x[0, 0]
    # Channel i + channel i + f (not adjacent pairs 2i, 2i + 1).
    expected = torch.stack([relu(x0) + relu(3 * x0), relu(2 * x0) + relu(4 * x0 - 1)])
    torch.testing.assert_close(out[0], expected)
    adjacent = torch.stack([relu(x0) + relu(2 * x0), relu(3 * x0) + relu(4 * x0 - 1)])
    assert not torch.allclose(out[0], adjacent)


def test_block_output_is_shortcut_plus_folded_path():
    block = DilatedBlock(1, 2, dilations=(1,))
    _centre_only(block.convs[0], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0])
    with torch.no_grad():
        block.shortcut.weight.fill_(10.0)
        block.shortcut.bias.copy_(torch.tensor([1.0, -1.0]))
    x = torch.tensor([[[1.0, 2.0, 3.0]]])
    with torch.no_grad():
        out = block(x)
    x0 = x[0, 0]
    expected = torch.stack([10 * x0 + 1 + 4 * x0, 10 * x0 - 1 + 6 * x0])
    torch.testing.assert_close(out[0], expected)


def test_dilation_and_same_padding():
    """With a kernel reading only its first tap, dilation d delays the input by d positions."""
    block = DilatedBlock(1, 1, dilations=(2,))
    conv = block.convs[0]
    assert conv.dilation == (2,)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0] = 1.0  # out channel 0 reads x[t - 2]
        conv.bias.zero_()
    x = torch.arange(1.0, 8.0).view(1, 1, 7)
    with torch.no_grad():
        out = block(x)
    assert out.shape == x.shape
    shifted = torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    torch.testing.assert_close(out[0, 0], x[0, 0] + shifted)  # identity shortcut + path


def _reference_block(block, x, dilations, f):
    """Functional reimplementation of a block following SEED_MODEL.md."""
    out = x
    for conv, d in zip(block.convs, dilations, strict=True):
        k = conv.kernel_size[0]
        z = torch.relu(F.conv1d(out, conv.weight, conv.bias, padding=d * (k - 1) // 2, dilation=d))
        out = z[:, :f] + z[:, f:]
    if isinstance(block.shortcut, nn.Identity):
        short = x
    else:
        short = F.conv1d(x, block.shortcut.weight, block.shortcut.bias)
    return short + out


@pytest.mark.parametrize(
    "in_ch, f, dilations, k", [(1, 4, (1, 2, 4), 3), (3, 3, (1, 2, 4), 3), (2, 5, (1, 3), 5)]
)
def test_block_matches_reference(in_ch, f, dilations, k):
    block = DilatedBlock(in_ch, f, dilations=dilations, kernel_size=k)
    assert [c.dilation[0] for c in block.convs] == list(dilations)
    assert [c.in_channels for c in block.convs] == [in_ch] + [f] * (len(dilations) - 1)
    assert all(c.out_channels == 2 * f for c in block.convs)
    x = torch.randn(2, in_ch, 17)
    with torch.no_grad():
        out = block(x)
    assert out.shape == (2, f, 17)
    torch.testing.assert_close(out, _reference_block(block, x, dilations, f))


@pytest.mark.parametrize("shape", [(3, 8, 19), (2, 6, 1, 11)])  # 1-D maps, and 2-D (height 1)
def test_relu_fold_gradients_equal_plain_autograd(shape):
    """The fused ReLU-and-fold of training: the plain expression's values and gradients, with
    exact zeros in the input (where ReLU's gradient is 0) and a fold of half the channels."""
    x = torch.randn(*shape)
    x[x.abs() < 0.3] = 0.0
    upstream = torch.randn(shape[0], shape[1] // 2, *shape[2:])
    f = shape[1] // 2
    fused_in = x.clone().requires_grad_(True)
    fused = relu_fold(fused_in, f)
    assert type(fused.grad_fn).__name__ == "_ReluFoldBackward"
    fused.backward(upstream)
    plain_in = x.clone().requires_grad_(True)
    z = torch.relu(plain_in)
    plain = z[:, :f] + z[:, f:]
    plain.backward(upstream)
    assert torch.equal(fused, plain)
    assert torch.equal(fused_in.grad, plain_in.grad)
    with torch.no_grad():  # inference: the plain operations, no autograd node
        kept = x.clone()
        assert torch.equal(relu_fold(x, f), plain)
        assert torch.equal(x, kept)  # not overwritten unless asked
        assert torch.equal(relu_fold(x, f, inplace=True), plain)
        assert torch.equal(x, torch.relu(kept))
    leaf = x.clone().requires_grad_(True)  # with gradients, a leaf is never overwritten
    relu_fold(leaf, f, inplace=True)
    assert torch.equal(leaf.detach(), x)
    # An intermediate result (a convolution's output in the network) is, with the same
    # values and gradients as the plain expression.
    source = x.clone().requires_grad_(True)
    intermediate = source * 1.0
    overwritten = relu_fold(intermediate, f, inplace=True)
    assert torch.equal(intermediate.detach(), torch.relu(x))
    overwritten.backward(upstream)
    assert torch.equal(overwritten, plain)
    assert torch.equal(source.grad, plain_in.grad)


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_last_map_makes_the_first_convolution_answer_channels_last(channels):
    """A one-channel map needs explicit channels-last strides: with the strides of
    ``contiguous(memory_format=channels_last)`` (a no-op for one channel) the first convolution
    answers channels-first and its large output would have to be copied."""
    x = torch.randn(4, channels, 50)
    h = channels_last_map(x)
    assert h.shape == (4, channels, 1, 50)
    assert h.stride() == (50 * channels, 1, 50 * channels, channels)
    assert torch.equal(h.squeeze(2), x)
    out = torch.nn.functional.conv2d(h, torch.randn(8, channels, 1, 3), padding=(0, 1))
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_block_weight_gradients_match_reference():
    torch.manual_seed(0)
    block = DilatedBlock(2, 4, dilations=(1, 2, 4))
    x = torch.randn(3, 2, 23)
    block(x).square().sum().backward()
    fused = [p.grad.clone() for p in block.parameters()]
    block.zero_grad()
    _reference_block(block, x, (1, 2, 4), 4).square().sum().backward()
    for got, want in zip(fused, [p.grad for p in block.parameters()], strict=True):
        torch.testing.assert_close(got, want)


def _plain_layout(monkeypatch):
    """Make SpectrumResNet run its blocks on (N, C, L) maps, as it does off the CPU."""
    monkeypatch.setattr("skspectra.network._channels_last", lambda x: False)


@pytest.mark.parametrize("norm", [None, "batch"])
@pytest.mark.parametrize("in_ch", [1, 3])
def test_cpu_channels_last_path_computes_what_the_plain_layout_computes(norm, in_ch, monkeypatch):
    """On the CPU the blocks run as 2-D convolutions on channels-last maps of height 1: the
    same logits, parameter gradients and batch-norm running statistics as the (N, C, L) path."""
    torch.manual_seed(0)
    net = SpectrumResNet(3, 64, filters=(4, 8, 8), dropout=0.0, norm=norm, in_channels=in_ch)
    ref = SpectrumResNet(3, 64, filters=(4, 8, 8), dropout=0.0, norm=norm, in_channels=in_ch)
    ref.load_state_dict(net.state_dict())
    x = torch.randn(5, in_ch, 64)
    seen = []
    net.features[0].register_forward_hook(lambda m, i, o: seen.append(o))
    out = net(x)
    # the blocks really ran on channels-last maps (one input channel and batch norm too)
    assert seen[0].shape == (5, 4, 1, 64)
    assert seen[0].is_contiguous(memory_format=torch.channels_last)
    out.square().sum().backward()
    _plain_layout(monkeypatch)
    want = ref(x)
    want.square().sum().backward()
    torch.testing.assert_close(out, want)
    for got, expected in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(got.grad, expected.grad, rtol=1e-4, atol=1e-5)
    for got, expected in zip(net.buffers(), ref.buffers(), strict=True):
        torch.testing.assert_close(got, expected)  # running means, variances, batch counts
    net.eval(), ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref(x))


def test_training_gradients_with_batch_norm_are_as_accurate_as_float32_allows():
    """Against float64, on spectra with lines and a continuum. The network trains its batch
    norm on channels-last maps (_BatchNormRows): median relative error 1.4e-6 over its
    parameters, 1.6e-6 in the (N, C, L) layout; with PyTorch's own CPU kernel for channels-last
    maps, which sums its backward less accurately, it was 6.6e-4 (0.5 % on real spectra, which
    cost accuracy)."""
    import copy

    import numpy as np

    from skspectra.datasets import make_spectra

    X, y = make_spectra(64, n_points=1024, random_state=0, return_X_y=True)
    X = (X / np.median(np.abs(X), axis=1, keepdims=True)).astype(np.float32)
    labels = torch.from_numpy(np.unique(y, return_inverse=True)[1])
    torch.manual_seed(0)
    net = SpectrumResNet(4, 1024, filters=(8, 8, 16, 16), dropout=0.0).train()
    exact = copy.deepcopy(net).double()
    x = torch.from_numpy(X)[:, None, :]
    F.cross_entropy(net(x), labels).backward()
    F.cross_entropy(exact(x.double()), labels).backward()
    errors = [
        ((p.grad.double() - q.grad).norm() / q.grad.norm()).item()
        for (name, p), q in zip(net.named_parameters(), exact.parameters(), strict=True)
        if not ("convs" in name and name.endswith("bias"))  # ~0: batch norm cancels them
    ]
    assert np.median(errors) < 1e-4


def test_plain_layout_runs_the_blocks_on_n_c_l_maps_within_its_block_only():
    net = SpectrumResNet(3, 64, filters=(4, 8), norm=None).eval()
    other = SpectrumResNet(3, 64, filters=(4, 8), norm=None).eval()
    seen = []
    for m in (net, other):
        m.features[0].register_forward_hook(lambda m, i, o: seen.append(o.dim()))
    x = torch.randn(2, 1, 64)
    with torch.no_grad():
        with plain_layout(net):
            plain = net(x)
            with plain_layout(net):  # nested: the outer block still holds after the inner one
                pass
            net(x)
            other(x)  # another network (another thread's model, say) is untouched
        cpu = net(x)
    assert seen == [3, 3, 4, 4]
    torch.testing.assert_close(plain, cpu)


def test_block_takes_a_plain_or_a_channels_last_map():
    torch.manual_seed(0)
    block = DilatedBlock(3, 4, dilations=(1, 2), norm="batch")
    x = torch.randn(2, 3, 21)
    x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(block(x4).squeeze(2), block(x))
    assert block(x4).is_contiguous(memory_format=torch.channels_last)


def test_identity_shortcut_when_channels_match():
    block = DilatedBlock(6, 6)
    assert isinstance(block.shortcut, nn.Identity)
    with torch.no_grad():
        for conv in block.convs:
            conv.weight.zero_()
            conv.bias.zero_()
    x = torch.randn(2, 6, 11)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)


def test_one_by_one_conv_shortcut_when_channels_differ():
    block = DilatedBlock(3, 5)
    assert isinstance(block.shortcut, nn.Conv1d)
    assert block.shortcut.kernel_size == (1,)
    assert (block.shortcut.in_channels, block.shortcut.out_channels) == (3, 5)
    with torch.no_grad():
        for conv in block.convs:
            conv.weight.zero_()
            conv.bias.zero_()
    x = torch.randn(2, 3, 11)
    with torch.no_grad():
        # No activation on the shortcut: negative values pass.
        expected = torch.einsum("oi,nil->nol", block.shortcut.weight[:, :, 0], x)
        expected = expected + block.shortcut.bias[None, :, None]
        out = block(x)
    torch.testing.assert_close(out, expected)
    assert (out < 0).any()


@pytest.mark.parametrize("kernel_size", [0, 2, 4, -1])
def test_even_or_non_positive_kernel_size_raises(kernel_size):
    with pytest.raises(ValueError, match="kernel_size"):
        DilatedBlock(1, 4, kernel_size=kernel_size)
    with pytest.raises(ValueError, match="kernel_size"):
        SpectrumResNet(n_classes=2, n_points=64, filters=(4,), kernel_size=kernel_size)


def test_block_without_convolutions_is_refused():
    with pytest.raises(ValueError, match="dilations must name at least one"):
        DilatedBlock(2, 2, dilations=())
    with pytest.raises(ValueError, match="dilations must name at least one"):
        SpectrumResNet(n_classes=2, n_points=64, filters=(4,), dilations=())


def test_block_leaves_its_input_unchanged():
    """The block adds the shortcut into its own buffer, never into the caller's tensor."""
    for in_ch in (3, 4):  # identity shortcut, 1x1 convolution
        block = DilatedBlock(in_ch, 4).eval()
        x = torch.randn(2, in_ch, 16)
        kept = x.clone()
        with torch.no_grad():
            block(x)
        assert torch.equal(x, kept)


# --- dropout and evaluation mode -----------------------------------------------------------------


def _capture_dropout(net, x):
    seen = {}

    def hook(module, inputs, output):
        seen["in"], seen["out"] = inputs[0].detach().clone(), output.detach().clone()

    handle = net.dropout.register_forward_hook(hook)
    with torch.no_grad():
        net(x)
    handle.remove()
    return seen["in"], seen["out"]


def test_spatial_dropout_zeroes_whole_positions_in_train_mode():
    p = 0.5
    net = SpectrumResNet(
        n_classes=3,
        n_points=64,
        filters=(8, 8),
        hidden_units=8,
        dropout=p,
        spatial_dropout=True,
    )
    net.train()
    x = torch.randn(4, 1, 64) + 5.0
    h_in, h_out = _capture_dropout(net, x)  # (n, positions, channels)
    assert h_in.shape == (4, 32, 8)
    keep = h_out != 0
    nonzero_in = h_in != 0
    # All channels at a position are dropped together, or all kept (where the input was nonzero).
    dropped = (~keep | ~nonzero_in).all(dim=2)
    kept = (keep | ~nonzero_in).all(dim=2)
    assert (dropped | kept).all()
    assert dropped.any() and kept.any()
    # Kept positions are rescaled by 1 / (1 - p).
    scaled = h_in / (1 - p)
    torch.testing.assert_close(h_out[kept], scaled[kept])
    assert (h_out[dropped] == 0).all()


def test_elementwise_dropout_when_spatial_dropout_off():
    net = SpectrumResNet(
        n_classes=3, n_points=64, filters=(8, 8), hidden_units=8, spatial_dropout=False
    )
    net.train()
    h_in, h_out = _capture_dropout(net, torch.randn(4, 1, 64) + 5.0)
    zero = (h_out == 0) & (h_in != 0)
    # Some position has both dropped and kept channels.
    assert (zero.any(dim=1) & (~zero).any(dim=1)).any()


@pytest.mark.parametrize("spatial", [True, False])
def test_dropout_is_identity_in_eval_mode(spatial):
    net = SpectrumResNet(
        n_classes=3, n_points=64, filters=(8, 8), hidden_units=8, spatial_dropout=spatial
    )
    net.eval()
    h_in, h_out = _capture_dropout(net, torch.randn(4, 1, 64))
    torch.testing.assert_close(h_out, h_in)


def test_train_mode_is_random_eval_mode_deterministic():
    net = SpectrumResNet(n_classes=3, n_points=64, filters=(8, 8), hidden_units=8, dropout=0.5)
    x = torch.randn(6, 1, 64)
    with torch.no_grad():
        net.train()
        assert not torch.allclose(net(x), net(x))
        net.eval()
        torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)


def test_eval_logits_independent_of_batch_composition():
    net = SpectrumResNet(n_classes=4, n_points=96, filters=(8, 8, 16), hidden_units=16).eval()
    x = torch.randn(7, 1, 96)
    with torch.no_grad():
        batch = net(x)
        alone = torch.cat([net(x[i : i + 1]) for i in range(len(x))])
        reordered = net(x.flip(0)).flip(0)
    torch.testing.assert_close(alone, batch, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reordered, batch, rtol=1e-5, atol=1e-5)


# --- custom configurations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(filters=(8, 8, 16)),
        dict(filters=(4,)),
        dict(filters=(8, 16), dilations=(1, 2)),
        dict(filters=(8, 16), dilations=(1, 2, 4, 8)),
        dict(filters=(8, 16), kernel_size=5),
        dict(filters=(8, 16), hidden_units=32),
        dict(filters=(8, 16), hidden_units=None),
        dict(filters=(8, 16), hidden_units=0),
        dict(filters=(8, 16), in_channels=2),
        dict(filters=(8, 16), norm=None),
    ],
)
def test_custom_configuration_parameter_counts(kwargs):
    net = SpectrumResNet(n_classes=3, n_points=64, **kwargs)
    expected = expected_params(
        3,
        kwargs["filters"],
        dilations=kwargs.get("dilations", (1, 2, 4)),
        kernel_size=kwargs.get("kernel_size", 3),
        hidden=kwargs.get("hidden_units", 128),
        in_ch=kwargs.get("in_channels", 1),
        norm=kwargs.get("norm", "batch"),
    )
    assert n_params(net) == expected


def test_hidden_units_none_means_single_linear_head():
    net = SpectrumResNet(n_classes=5, n_points=64, filters=(8, 16), hidden_units=None)
    assert isinstance(net.head, nn.Linear)
    assert (net.head.in_features, net.head.out_features) == (16, 5)
    net = SpectrumResNet(n_classes=5, n_points=64, filters=(8, 16), hidden_units=12)
    linears = [m for m in net.head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 12), (12, 5)]
    assert any(isinstance(m, nn.ReLU) for m in net.head)


def test_parameter_count_independent_of_length():
    counts = {n_params(SpectrumResNet(n_classes=4, n_points=n)) for n in (5, 235, 2600)}
    assert counts == {754_084}


def test_multichannel_input():
    net = SpectrumResNet(n_classes=2, n_points=32, filters=(4, 4), in_channels=3).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32)).shape == (2, 2)
    assert net.features[0].convs[0].in_channels == 3


def test_global_max_pool_makes_output_shift_tolerant():
    """Without pooling stages, circularly moving a feature far from the edges keeps the logits."""
    net = SpectrumResNet(n_classes=2, n_points=64, filters=(4,), n_pools=0, dilations=(1,)).eval()
    x = torch.zeros(1, 1, 64)
    x[0, 0, 20] = 5.0
    y = torch.roll(x, 10, dims=2)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(y))


def test_batch_norm_follows_every_convolution_and_adds_no_modules_when_off():
    plain = SpectrumResNet(n_classes=3, n_points=256, norm=None)
    normed = SpectrumResNet(n_classes=3, n_points=256)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())
    assert not any("norms" in k for k in plain.state_dict())  # the seed's weights keep names
    norms = [m for m in normed.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [n.num_features for n in norms] == [2 * f for f in SEED_FILTERS for _ in range(3)]
    # In training mode every convolution's output is normalised per channel before the ReLU.
    block = DilatedBlock(1, 4, dilations=(1,), norm="batch")
    seen = []
    # (A copy: the block's ReLU then overwrites the output, as torchvision's in-place ReLUs do.)
    block.norms[0].register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    block(torch.randn(16, 1, 50) * 7 + 3)
    mean = seen[0].mean(dim=(0, 2))
    assert torch.allclose(mean, torch.zeros(8), atol=1e-5)


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="norm must be one of"):
        SpectrumResNet(n_classes=2, n_points=64, norm="layer")


@pytest.mark.slow
@pytest.mark.parametrize("norm", [None, "batch"])
def test_compiled_training_step_has_the_eager_gradients(norm):
    """torch.compile (skorch's ``compile=True``) traces the fused ReLU-fold and its backward."""
    torch.manual_seed(0)
    net = SpectrumResNet(3, 64, filters=(4, 8), dropout=0.0, norm=norm)
    ref = SpectrumResNet(3, 64, filters=(4, 8), dropout=0.0, norm=norm)
    ref.load_state_dict(net.state_dict())
    x = torch.randn(5, 1, 64)
    torch.compile(net)(x).square().sum().backward()
    ref(x).square().sum().backward()
    for got, want in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("track", [True, False])
def test_channels_last_batch_norm_does_what_the_module_does(momentum, track):
    """Batch norm on a channels-last map's rows (training, then evaluation): the outputs,
    gradients and running statistics of BatchNorm1d on the (N, C, L) map, for a cumulative
    average (momentum=None) and without running statistics too."""
    import copy

    from skspectra.network import _norm

    torch.manual_seed(0)
    norm = nn.BatchNorm1d(6, momentum=momentum, track_running_stats=track)
    nn.init.uniform_(norm.weight, 0.5, 2.0), nn.init.uniform_(norm.bias, -1.0, 1.0)
    ref = copy.deepcopy(norm)
    for _ in range(3):  # a few batches, so the running averages are really averaged
        x = (torch.randn(4, 6, 19) * 3 + 5).requires_grad_()
        x4 = x.detach().unsqueeze(2).contiguous(memory_format=torch.channels_last)
        x4.requires_grad_()
        weights = torch.randn(4, 6, 19)
        out = _norm(norm, x4)
        (out.squeeze(2) * weights).sum().backward()
        want = ref(x)
        (want * weights).sum().backward()
        torch.testing.assert_close(out.squeeze(2), want)
        torch.testing.assert_close(x4.grad.squeeze(2), x.grad, rtol=1e-4, atol=1e-5)
        for got, expected in zip(norm.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(got.grad, expected.grad, rtol=1e-4, atol=1e-5)
        for got, expected in zip(norm.buffers(), ref.buffers(), strict=True):
            torch.testing.assert_close(got, expected)
    norm.eval(), ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(_norm(norm, x4).squeeze(2), ref(x))
