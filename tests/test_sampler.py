"""Tests of the class-fraction batch sampler and of resolve_class_fractions."""

from collections import Counter

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skspectra.sampler import ClassFractionSampler, resolve_class_fractions


def sampler(y, batch_size, n_batches=None, fractions=None, seed=0):
    fractions = None if fractions is None else np.asarray(fractions, dtype=float)
    return ClassFractionSampler(y, batch_size, n_batches, fractions, np.random.default_rng(seed))


def class_counts(y, batch, n_classes):
    return np.bincount(np.asarray(y)[batch], minlength=n_classes)


# --- fixed class fractions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fractions, batch_size, expected",
    [
        ([0.8, 0.1, 0.05, 0.05], 160, [128, 16, 8, 8]),  # the contest's schedule
        ([0.1, 0.6, 0.3], 10, [1, 6, 3]),  # exact, despite 0.1 * 10 etc. in floating point
        ([0.29, 0.71], 100, [29, 71]),  # 0.29 * 100 = 28.999999999999996
        ([0.9, 0.0, 0.1], 20, [18, 0, 2]),  # a zero fraction is never drawn
    ],
)
def test_whole_shares_are_drawn_exactly_in_every_batch(fractions, batch_size, expected):
    n_classes = len(fractions)
    y = np.repeat(np.arange(n_classes), 50)
    s = sampler(y, batch_size, n_batches=6, fractions=fractions)
    batches = list(s)
    assert len(batches) == len(s) == 6
    for batch in batches:
        assert len(batch) == batch_size
        assert_array_equal(class_counts(y, batch, n_classes), expected)


@pytest.mark.parametrize(
    "fractions, batch_size",
    [
        ([0.9, 0.06, 0.02, 0.02], 16),  # 14.4, 0.96, 0.32, 0.32: two classes under one a batch
        ([1 / 20] * 20, 16),  # "balanced" over 20 classes: 0.8 of a member each
        ([0.5, 0.3, 0.2, 0.0], 7),
    ],
)
def test_fractional_shares_are_honoured_in_expectation(fractions, batch_size):
    """Every class with a positive fraction is drawn, at fraction * batch_size a batch on
    average, each batch holding the whole part or one more, never a zero-fraction class."""
    fractions = np.asarray(fractions)
    n_classes = len(fractions)
    y = np.repeat(np.arange(n_classes), 30)
    n_batches = 4000
    counts = np.array(
        [class_counts(y, b, n_classes) for b in sampler(y, batch_size, n_batches, fractions)]
    )
    assert (counts.sum(axis=1) == batch_size).all()
    exact = fractions * batch_size
    assert ((counts == np.floor(exact)) | (counts == np.floor(exact) + 1)).all()
    assert (counts[:, fractions > 0].sum(axis=0) > 0).all()
    assert (counts[:, fractions == 0] == 0).all()
    # Means within 5 standard errors of the expected share.
    sd = np.sqrt(np.maximum(exact % 1 * (1 - exact % 1), 1e-12) / n_batches)
    assert np.all(np.abs(counts.mean(axis=0) - exact) <= 5 * sd + 1e-9)


def test_rare_class_in_every_batch_drawn_from_right_class():
    y = np.zeros(1000, dtype=int)
    y[[137, 802]] = 1  # 2 of 1000
    y[500:530] = 2
    s = sampler(y, 40, fractions=[0.9, 0.05, 0.05])
    batches = list(s)
    assert len(batches) == 25  # one pass over 1000 samples by default
    for batch in batches:
        batch = np.asarray(batch)
        assert_array_equal(class_counts(y, batch, 3), [36, 2, 2])
        assert set(batch[y[batch] == 1]) <= {137, 802}
        assert ((batch >= 500) & (batch < 530)).sum() == 2
    # Drawn with replacement: both rare samples keep coming back.
    rare = Counter(i for b in batches for i in b if y[i] == 1)
    assert set(rare) == {137, 802}


def test_stratified_batches_are_shuffled_and_cover_a_class():
    y = np.repeat([0, 1], [100, 20])
    batches = list(sampler(y, 20, n_batches=30, fractions=[0.5, 0.5]))
    # Classes are interleaved inside a batch, not concatenated class by class.
    assert any(np.any(y[b][:10] == 1) for b in batches)
    # Sampling with replacement over 30 batches reaches every member of the small class.
    assert {i for b in batches for i in b if y[i] == 1} == set(range(100, 120))


def test_positive_fraction_for_class_without_samples_raises():
    y = np.array([0, 0, 2, 2])
    with pytest.raises(ValueError, match=r"classes \[1\]"):
        sampler(y, 4, fractions=[0.5, 0.25, 0.25])
    # A zero fraction for the empty class is fine.
    batches = list(sampler(y, 4, n_batches=3, fractions=[0.5, 0.0, 0.5]))
    assert all(class_counts(y, b, 3).tolist() == [2, 0, 2] for b in batches)


# --- plain shuffling -----------------------------------------------------------------------------


@pytest.mark.parametrize("n, batch_size", [(100, 32), (64, 16), (5, 10)])
def test_plain_shuffling_yields_every_index_once_per_epoch(n, batch_size):
    y = np.arange(n) % 3
    s = sampler(y, batch_size)
    for _ in range(2):
        batches = list(s)
        assert len(batches) == len(s) == -(-n // batch_size)
        assert all(len(b) == batch_size for b in batches[:-1])
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(n))
    assert flat != list(range(n))  # shuffled (n >= 5)


def test_plain_shuffling_with_fixed_number_of_batches():
    y = np.arange(10) % 2
    s = sampler(y, 4, n_batches=7)
    batches = list(s)
    assert len(batches) == len(s) == 7
    assert all(len(b) == 4 for b in batches)
    flat = [i for b in batches for i in b]
    # Consecutive permutations: each block of 10 draws holds every index once.
    assert sorted(flat[:10]) == list(range(10))
    assert sorted(flat[10:20]) == list(range(10))
    counts = Counter(flat)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_fixed_n_batches_in_stratified_mode():
    y = np.repeat([0, 1], [30, 10])
    s = sampler(y, 8, n_batches=13, fractions=[0.75, 0.25])
    assert len(s) == 13
    assert len(list(s)) == 13


# --- randomness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fractions", [None, [0.5, 0.5]])
def test_same_seed_same_batches_and_state_carries_over(fractions):
    y = np.repeat([0, 1], [40, 8])
    a = sampler(y, 8, n_batches=5, fractions=fractions, seed=3)
    b = sampler(y, 8, n_batches=5, fractions=fractions, seed=3)
    first_a, first_b = list(a), list(b)
    assert first_a == first_b
    second_a = list(a)
    assert second_a != first_a  # a new epoch, not a replay
    assert second_a == list(b)
    other = sampler(y, 8, n_batches=5, fractions=fractions, seed=4)
    assert list(other) != first_a


def test_batches_are_lists_of_python_ints():
    y = np.repeat([0, 1], [10, 10])
    for s in (sampler(y, 4), sampler(y, 4, fractions=[0.5, 0.5])):
        batch = next(iter(s))
        assert isinstance(batch, list)
        assert all(type(i) is int for i in batch)


# --- resolve_class_fractions ---------------------------------------------------------------------

CLASSES = np.array(["galaxy", "qso", "star", "unknown"])


def test_resolve_none_and_balanced():
    assert resolve_class_fractions(None, CLASSES) is None
    assert_allclose(resolve_class_fractions("balanced", CLASSES), [0.25] * 4)
    assert_allclose(resolve_class_fractions("balanced", np.array([0, 1, 2])), [1 / 3] * 3)


def test_resolve_mapping_in_class_order_and_normalised():
    mapping = {"star": 80, "unknown": 10, "galaxy": 5, "qso": 5}
    out = resolve_class_fractions(mapping, CLASSES)
    assert_allclose(out, [0.05, 0.05, 0.8, 0.1])
    assert out.sum() == pytest.approx(1.0)
    contest = {"star": 0.8, "unknown": 0.1, "galaxy": 0.05, "qso": 0.05}
    assert_allclose(resolve_class_fractions(contest, CLASSES), [0.05, 0.05, 0.8, 0.1])


def test_resolve_integer_labels_and_zero_fraction():
    out = resolve_class_fractions({0: 1, 1: 0, 2: 3}, np.array([0, 1, 2]))
    assert_allclose(out, [0.25, 0.0, 0.75])


def test_resolve_gives_absent_classes_no_share():
    # A validation split can leave a class out of the training rows: it cannot be drawn.
    present = np.array([0, 2, 2, 3])
    out = resolve_class_fractions("balanced", CLASSES, present)
    assert_allclose(out, [1 / 3, 0.0, 1 / 3, 1 / 3])
    contest = {"star": 0.8, "unknown": 0.1, "galaxy": 0.05, "qso": 0.05}
    expected = np.array([0.05, 0.0, 0.8, 0.1]) / 0.95
    assert_allclose(resolve_class_fractions(contest, CLASSES, present), expected)
    with pytest.raises(ValueError, match="no share to any class"):
        resolve_class_fractions({"galaxy": 0, "qso": 1, "star": 0, "unknown": 0}, CLASSES, present)


def test_resolve_missing_class_names_it():
    with pytest.raises(ValueError, match="no fraction") as info:
        resolve_class_fractions({"star": 0.9, "galaxy": 0.1}, np.array(["galaxy", "qso", "star"]))
    assert "qso" in str(info.value)
    assert "galaxy" not in str(info.value).split("name every class")[0]


def test_resolve_unknown_label_names_it():
    with pytest.raises(ValueError, match="not classes of y") as info:
        resolve_class_fractions({"star": 0.5, "qso": 0.3, "agn": 0.2}, np.array(["qso", "star"]))
    assert "agn" in str(info.value)


@pytest.mark.parametrize(
    "mapping",
    [
        {"a": -0.1, "b": 1.1},
        {"a": 0, "b": 0},
        {"a": float("nan"), "b": 1.0},
        {"a": float("inf"), "b": 1.0},
    ],
)
def test_resolve_negative_zero_sum_or_non_finite_raise(mapping):
    with pytest.raises(ValueError, match="non-negative with a positive sum"):
        resolve_class_fractions(mapping, np.array(["a", "b"]))


@pytest.mark.parametrize("bad", [[0.5, 0.5], (0.5, 0.5), 0.5, np.array([0.5, 0.5])])
def test_resolve_wrong_type_raises(bad):
    with pytest.raises(TypeError, match="mapping label -> fraction"):
        resolve_class_fractions(bad, np.array(["a", "b"]))


def test_resolve_unknown_string_raises():
    with pytest.raises(ValueError, match="'balance'.*not understood"):
        resolve_class_fractions("balance", np.array(["a", "b"]))


def test_resolved_fractions_feed_the_sampler():
    classes = np.array(["galaxy", "star"])
    fractions = resolve_class_fractions({"galaxy": 1, "star": 3}, classes)
    y = np.repeat([0, 1], [3, 97])
    for batch in sampler(y, 16, n_batches=4, fractions=fractions):
        assert_array_equal(class_counts(y, batch, 2), [4, 12])
