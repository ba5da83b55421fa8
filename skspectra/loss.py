"""The soft (differentiable) macro-F1 loss of the contest model's second training phase."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SoftMacroF1Loss", "weighted_loss"]


class SoftMacroF1Loss(nn.Module):
    """Negative log of a differentiable macro-F1 over a batch.

    For each class ``c``, with one-hot targets ``t`` and predicted probabilities ``p``::

        F1_c = 2 * sum(t_c * p_c) / (sum(t_c) + sum(p_c) + eps)
        loss = -log(mean_c F1_c + eps)

    Probabilities replace hard decisions, so the expected counts of true positives, predicted
    and actual members stay differentiable. With ``sample_weight`` each spectrum counts with its
    weight in every sum (a weight of 0 leaves it out). Rare classes weigh as much as common
    ones, which is the point on imbalanced surveys; a class absent from the batch
    (``sum(t_c) == 0``) still penalises probability mass put on it.

    Parameters
    ----------
    eps : float, default=1e-7
        Guards the divisions and the logarithm.
    from_logits : bool, default=True
        Apply a softmax to the input first (the network outputs logits). ``False`` takes
        probabilities.

    Examples
    --------
    >>> import torch
    >>> loss = SoftMacroF1Loss()
    >>> logits = torch.tensor([[4.0, -4.0], [-4.0, 4.0]])
    >>> round(loss(logits, torch.tensor([0, 1])).item(), 4)  # nearly perfect: F1 ~ 1
    0.0003
    >>> round(loss(logits, torch.tensor([1, 0])).item(), 2)  # all wrong: F1 ~ 0
    8.0
    """

    #: The classifier passes each batch's sample weights to this loss.
    accepts_sample_weight = True

    def __init__(self, eps: float = 1e-7, from_logits: bool = True):
        super().__init__()
        self.eps = eps
        self.from_logits = from_logits

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        proba = torch.softmax(input, dim=1) if self.from_logits else input
        onehot = nn.functional.one_hot(target.long(), num_classes=proba.shape[1]).to(proba.dtype)
        weighted = proba
        if sample_weight is not None:
            weight = sample_weight.to(proba.dtype)[:, None]
            onehot, weighted = onehot * weight, proba * weight
        true_pos = (onehot * proba).sum(dim=0)
        f1 = 2 * true_pos / (onehot.sum(dim=0) + weighted.sum(dim=0) + self.eps)
        return -torch.log(f1.mean() + self.eps)


def weighted_loss(criterion, y_pred, y_true, sample_weight=None, mix=None) -> torch.Tensor:
    """``criterion``'s loss of a batch, averaged with the spectra's ``sample_weight``.

    A criterion with ``accepts_sample_weight`` (:class:`SoftMacroF1Loss`) takes the weights
    itself; any other returns per-spectrum losses (``reduction="none"``), averaged here. With
    ``mix = (lam, perm)`` (a mixup batch) the loss is ``lam`` times the loss against ``y_true``
    plus ``1 - lam`` times the loss against ``y_true[perm]``, weights permuted alike.
    """
    if mix is not None:
        lam, perm = mix
        perm = perm.to(y_true.device)
        other = None if sample_weight is None else sample_weight[perm]
        return lam * weighted_loss(criterion, y_pred, y_true, sample_weight) + (
            1 - lam
        ) * weighted_loss(criterion, y_pred, y_true[perm], other)
    if getattr(criterion, "accepts_sample_weight", False):
        return criterion(y_pred, y_true, sample_weight=sample_weight)
    losses = criterion(y_pred, y_true)
    if losses.dim() == 0:  # a criterion that reduces by itself
        return losses
    if sample_weight is None:
        return losses.mean()
    total = sample_weight.sum().clamp_min(torch.finfo(losses.dtype).tiny)
    return (losses * sample_weight).sum() / total
