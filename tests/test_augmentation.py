"""skspectra.augmentation and the classifier's ``augment`` parameter."""

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from skspectra import SpectrumAugmentation, SpectrumCNNClassifier

from .conftest import FAST, make_lines


def _ramps(n=64, n_points=100):
    return torch.arange(n_points, dtype=torch.float32).repeat(n, 1, 1)


def test_all_changes_off_is_the_identity():
    X = torch.randn(8, 1, 50)
    off = SpectrumAugmentation(shift=0, scale=0, offset=0, noise=0)
    assert torch.equal(off(X), X)


def test_shift_moves_whole_spectra_by_at_most_the_bound_and_repeats_the_edges():
    X = _ramps()
    out = SpectrumAugmentation(shift=0.05, scale=0, offset=0, noise=0)(X)
    moves = X[:, 0, 50] - out[:, 0, 50]  # a ramp of step 1: the value difference is the shift
    assert moves.abs().max() <= 5
    assert len(torch.unique(moves)) > 3  # each spectrum draws its own shift
    for row, move in zip(out[:, 0], moves.long(), strict=True):
        expected = (torch.arange(100) - move).clamp(0, 99).float()
        assert torch.equal(row, expected)


def test_mask_replaces_one_window_per_spectrum_by_the_line_between_its_neighbours():
    torch.manual_seed(0)
    X = torch.randn(200, 1, 100)
    out = SpectrumAugmentation(shift=0, scale=0, offset=0, noise=0, mask=0.1)(X)
    changed = out != X
    widths = changed[:, 0].sum(dim=1)
    assert widths.max() <= 10 and len(torch.unique(widths)) > 5
    starts = set()
    for row, new, where in zip(X[:, 0], out[:, 0], changed[:, 0], strict=True):
        idx = torch.nonzero(where).flatten()
        if len(idx) == 0:
            continue
        a, b = int(idx[0]), int(idx[-1])
        starts.add(a)
        assert b - a + 1 == len(idx)  # one contiguous window
        lo = row[a - 1] if a > 0 else row[b + 1]
        hi = row[b + 1] if b < 99 else row[a - 1]
        t = torch.arange(1, len(idx) + 1) / (len(idx) + 1)
        torch.testing.assert_close(new[a : b + 1], lo + (hi - lo) * t)
    assert len(starts) > 20  # windows anywhere, the edges included below


def test_mask_keeps_lines_inside_and_repeats_the_neighbour_at_the_edges():
    torch.manual_seed(1)
    ramps = _ramps(n=500, n_points=40)
    out = SpectrumAugmentation(shift=0, scale=0, offset=0, noise=0, mask=0.25)(ramps)
    changed = (out != ramps)[:, 0]
    # a window inside a line is that line again: only windows at an edge change a ramp
    at_start, at_end = changed[:, 0], changed[:, -1]
    assert at_start.any() and at_end.any()
    assert not changed[~(at_start | at_end)].any()
    for row, where, start in zip(out[:, 0], changed, at_start, strict=True):
        idx = torch.nonzero(where).flatten()
        if len(idx):
            neighbour = int(idx[-1]) + 1 if start else int(idx[0]) - 1
            assert torch.all(row[idx] == neighbour)


def test_mask_off_draws_nothing_so_default_fits_are_unchanged():
    X = torch.randn(8, 1, 50)
    torch.manual_seed(2)
    a = SpectrumAugmentation()(X)
    after_a = torch.rand(1)
    torch.manual_seed(2)
    b = SpectrumAugmentation(mask=0.0)(X)
    assert torch.equal(a, b) and torch.equal(after_a, torch.rand(1))


def test_changes_follow_the_spectrum_scale():
    X = torch.randn(16, 1, 80)
    augment = SpectrumAugmentation(shift=0.02, scale=0.2, offset=0.3, noise=0.1)
    torch.manual_seed(3)
    small = augment(X)
    torch.manual_seed(3)
    large = augment(1000 * X)
    torch.testing.assert_close(large, 1000 * small, rtol=1e-4, atol=1e-3)


def test_noise_and_scaling_have_the_asked_size():
    X = torch.randn(4000, 1, 200)
    X = X / X.std(dim=(1, 2), keepdim=True)
    noise = SpectrumAugmentation(shift=0, scale=0, offset=0, noise=0.05)(X) - X
    assert noise.std().item() == pytest.approx(0.05, rel=0.05)
    scaled = SpectrumAugmentation(shift=0, scale=0.1, offset=0, noise=0)(X)
    factors = scaled[:, 0, 0] / X[:, 0, 0]
    assert factors.std().item() == pytest.approx(0.1, rel=0.1)


def test_slope_adds_a_straight_tilt_of_the_asked_size_and_is_off_by_default():
    X = torch.randn(4000, 1, 101)
    X = X / X.std(dim=(1, 2), keepdim=True)
    tilt = SpectrumAugmentation(shift=0, scale=0, offset=0, noise=0, slope=0.2)(X) - X
    # A straight line through zero at the middle point, its ends at +-amplitude.
    torch.testing.assert_close(tilt[:, 0, 50], torch.zeros(4000), atol=1e-5, rtol=0)
    torch.testing.assert_close(tilt[:, 0, 0], -tilt[:, 0, -1], atol=1e-5, rtol=0)
    steps = tilt.diff(dim=2)
    torch.testing.assert_close(steps, steps[:, :, :1].expand_as(steps), atol=1e-5, rtol=0)
    assert tilt[:, 0, -1].std().item() == pytest.approx(0.2, rel=0.05)
    assert SpectrumAugmentation().slope == 0.0


def test_flat_spectra_stay_finite():
    out = SpectrumAugmentation()(torch.zeros(4, 1, 30))
    assert torch.isfinite(out).all()


def test_bad_parameters_raise_when_used():
    with pytest.raises(InvalidParameterError, match="shift"):
        SpectrumAugmentation(shift=0.7)(torch.zeros(2, 1, 10))
    with pytest.raises(InvalidParameterError, match="noise"):
        SpectrumAugmentation(noise=-1)(torch.zeros(2, 1, 10))
    with pytest.raises(InvalidParameterError, match="mask"):
        SpectrumAugmentation(mask=0.6)(torch.zeros(2, 1, 10))
    with pytest.raises(InvalidParameterError, match="slope"):
        SpectrumAugmentation(slope=-0.1)(torch.zeros(2, 1, 10))


class _Recorder:
    def __init__(self):
        self.shapes = []

    def __call__(self, X):
        self.shapes.append(tuple(X.shape))
        return X + 1.0


def test_classifier_augments_training_batches_only():
    X, y = make_lines(n=60, n_points=32)
    recorder = _Recorder()
    params = {**FAST, "max_epochs": 2, "f1_epochs": 1, "batches_per_epoch": 3}
    clf = SpectrumCNNClassifier(**params, augment=recorder, random_state=0).fit(X, y)
    assert recorder.shapes == [(32, 1, 32)] * 9  # 3 epochs of 3 training batches
    clf.predict_proba(X)
    assert len(recorder.shapes) == 9  # prediction and validation see the spectra as given


def test_augmented_fits_are_reproducible_and_differ_from_plain_ones():
    X, y = make_lines(n=60, n_points=32)
    params = {**FAST, "max_epochs": 2, "f1_epochs": 1, "random_state": 0}
    default = SpectrumCNNClassifier(**params).fit(X, y)  # augment=True
    again = SpectrumCNNClassifier(**params).fit(X, y)
    explicit = SpectrumCNNClassifier(**params, augment=SpectrumAugmentation()).fit(X, y)
    plain = SpectrumCNNClassifier(**params, augment=False).fit(X, y)
    np.testing.assert_array_equal(default.predict_proba(X), again.predict_proba(X))
    np.testing.assert_array_equal(default.predict_proba(X), explicit.predict_proba(X))
    assert not np.allclose(default.predict_proba(X), plain.predict_proba(X))
    none = SpectrumCNNClassifier(**params, augment=None).fit(X, y)
    np.testing.assert_array_equal(none.predict_proba(X), plain.predict_proba(X))


def test_a_non_callable_augment_is_refused():
    X, y = make_lines(n=30, n_points=32)
    with pytest.raises(InvalidParameterError, match="augment"):
        SpectrumCNNClassifier(**FAST, augment="shift").fit(X, y)
