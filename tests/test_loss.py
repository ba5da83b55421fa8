"""Tests of the soft macro-F1 loss of the second training phase."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from skspectra.loss import SoftMacroF1Loss


def onehot(labels, n_classes):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), n_classes).double()


def test_matches_hand_computation():
    proba = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    target = torch.tensor([0, 1, 2, 1])
    # Class 0: TP 0.7, support 1, predicted 1.5 -> 1.4 / 2.5
    # Class 1: TP 0.6 + 0.4, support 2, predicted 1.4 -> 2.0 / 3.4
    # Class 2: TP 0.6, support 1, predicted 1.1 -> 1.2 / 2.1
    eps = 1e-7
    f1 = [1.4 / (2.5 + eps), 2.0 / (3.4 + eps), 1.2 / (2.1 + eps)]
    expected = -math.log(sum(f1) / 3 + eps)
    loss = SoftMacroF1Loss(from_logits=False)(proba, target)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_from_logits_applies_softmax():
    logits = torch.randn(10, 4)
    target = torch.randint(0, 4, (10,))
    from_logits = SoftMacroF1Loss()(logits, target)
    from_proba = SoftMacroF1Loss(from_logits=False)(torch.softmax(logits, dim=1), target)
    torch.testing.assert_close(from_logits, from_proba)
    # The logits themselves are not probabilities: taking them as such gives another value.
    assert not torch.isclose(from_logits, SoftMacroF1Loss(from_logits=False)(logits, target))


@pytest.mark.parametrize("seed", range(5))
def test_one_hot_probabilities_give_sklearn_macro_f1(seed):
    rng = np.random.default_rng(seed)
    n_classes = 4
    y_true = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, 36)])
    rng.shuffle(y_true)
    # Mostly right, sometimes wrong: a macro-F1 well inside (0, 1).
    y_pred = np.where(rng.random(len(y_true)) < 0.6, y_true, rng.integers(0, n_classes, 40))
    expected = f1_score(y_true, y_pred, average="macro")
    assert 0 < expected < 1
    loss = SoftMacroF1Loss(from_logits=False)(onehot(y_pred, n_classes), torch.tensor(y_true))
    assert loss.item() == pytest.approx(-math.log(expected), abs=1e-5)


def test_perfect_and_hopeless_predictions():
    target = torch.tensor([0, 1, 2, 2, 1, 0])
    loss = SoftMacroF1Loss(from_logits=False)
    assert loss(onehot(target, 3), target).item() == pytest.approx(0.0, abs=1e-6)
    wrong = (target + 1) % 3
    assert loss(onehot(wrong, 3), target).item() == pytest.approx(-math.log(1e-7), rel=1e-3)


def test_absent_class_that_is_predicted_lowers_f1():
    target = torch.tensor([0, 0, 1, 1])  # class 2 is absent from the batch
    loss = SoftMacroF1Loss(from_logits=False)
    clean = torch.tensor([[0.9, 0.1, 0.0], [0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.1, 0.9, 0.0]])
    leaky = torch.tensor([[0.6, 0.1, 0.3], [0.9, 0.1, 0.0], [0.1, 0.6, 0.3], [0.1, 0.9, 0.0]])
    assert loss(leaky, target) > loss(clean, target)
    # With hard predictions, an absent class counts as F1 = 0 in the mean over all classes, as in
    # sklearn's f1_score(labels=all classes, zero_division=0).
    y_pred = np.array([2, 0, 1, 1])
    expected = f1_score(target.numpy(), y_pred, labels=[0, 1, 2], average="macro", zero_division=0)
    got = loss(onehot(y_pred, 3), target).item()
    assert got == pytest.approx(-math.log(expected), abs=1e-5)


def test_invariant_to_batch_order():
    logits = torch.randn(16, 3, dtype=torch.float64)
    target = torch.randint(0, 3, (16,))
    perm = torch.randperm(16)
    loss = SoftMacroF1Loss()
    torch.testing.assert_close(loss(logits[perm], target[perm]), loss(logits, target))


def test_gradients_flow_to_logits():
    logits = torch.randn(8, 3, requires_grad=True)
    target = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    SoftMacroF1Loss()(logits, target).backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0
    # Raising a sample's true-class logit lowers the loss: its gradient there is negative.
    assert (logits.grad[torch.arange(8), target] < 0).all()


def test_sgd_steps_reduce_loss_on_toy_problem():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    centres = torch.tensor([[2.0, 0.0], [-1.0, 2.0], [-1.0, -2.0]])
    X = centres[y] + 0.5 * torch.randn(60, 2, generator=g)
    model = torch.nn.Linear(2, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = SoftMacroF1Loss()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    acc = (model(X).argmax(dim=1) == y).float().mean().item()
    assert acc > 0.9


def test_integer_like_float_targets_accepted():
    proba = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    loss = SoftMacroF1Loss(from_logits=False)
    torch.testing.assert_close(
        loss(proba, torch.tensor([0.0, 1.0])), loss(proba, torch.tensor([0, 1]))
    )
