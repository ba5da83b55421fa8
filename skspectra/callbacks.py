"""skorch callbacks that make up :class:`~skspectra.SpectrumCNNClassifier`'s training.

- :class:`TwoPhaseSchedule`: cross-entropy for ``max_epochs`` epochs, then the soft macro-F1
  loss at ``f1_lr`` from the best weights so far; the best epoch by validation macro-F1 is
  restored when training ends.
- :class:`FiniteLoss`: stops a fit whose loss became NaN or infinite, with an error that says why.
- :class:`EpochCheckpoint`: writes a checkpoint after every epoch (``checkpoint_dir``).
- :class:`PrintSettings`: with ``verbose``, prints what the data-dependent defaults resolved to.
- :class:`TrainingScore`: scores the training spectra when training ends and warns when the
  network did not learn them.

The validation scores are skorch's own :class:`~skorch.callbacks.EpochScoring` with
``use_caching=True`` over the functions :func:`valid_accuracy` and :func:`valid_macro_f1`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn.metrics import f1_score
from skorch.callbacks import Callback

from . import checkpoint as ckpt
from .loss import SoftMacroF1Loss

__all__ = [
    "EpochCheckpoint",
    "FiniteLoss",
    "PrintSettings",
    "TrainingScore",
    "TwoPhaseSchedule",
    "valid_accuracy",
    "valid_macro_f1",
]


def _predicted(net, dataset) -> np.ndarray:
    # The encoded class of every row: under EpochScoring's caching, the validation pass's
    # outputs are reused, not computed again.
    return np.concatenate([out.argmax(dim=1).cpu().numpy() for out in net.forward_iter(dataset)])


def _weights(dataset) -> np.ndarray | None:
    # Validation counts each spectrum with its sample weight, as the losses do.
    weight = getattr(dataset, "sample_weight", None)
    return None if weight is None else weight[dataset.index].numpy()


def valid_macro_f1(net, dataset, y) -> float:
    """Macro-F1 of ``net`` on a validation dataset whose encoded labels are ``y``, each
    spectrum counted with its sample weight."""
    pred = _predicted(net, dataset)
    return float(
        f1_score(y, pred, average="macro", zero_division=0, sample_weight=_weights(dataset))
    )


def valid_accuracy(net, dataset, y) -> float:
    """Accuracy of ``net`` on a validation dataset whose encoded labels are ``y``, each spectrum
    counted with its sample weight."""
    weight = _weights(dataset)
    return float(np.average(_predicted(net, dataset) == np.asarray(y), weights=weight))


class TwoPhaseSchedule(Callback):
    """The contest model's schedule (``SEED_MODEL.md``) in one skorch training loop.

    Epochs ``1 .. net.max_epochs`` train with ``net.criterion`` at ``net.lr``; at epoch
    ``net.max_epochs + 1`` the module goes back to the best weights so far and training goes on
    with :class:`~skspectra.SoftMacroF1Loss` and a fresh optimizer at ``net.f1_lr``. Every epoch
    records its ``phase`` and ``lr``. With a ``valid_f1`` score in the history, the weights of
    the epoch that scored best are kept (in memory) and restored when training ends, and
    ``net.best_epoch_`` names that epoch (None without validation: the last weights stay).
    """

    def initialize(self):
        self.best_score_ = -math.inf
        self.best_epoch_ = None
        self.best_state_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.initialize()  # a warm start's fit keeps its callbacks: forget the last fit's best

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)
        if epoch == net.max_epochs + 1:
            if self.best_state_ is not None:
                net.module_.load_state_dict(self.best_state_)
            self.phase_two(net)
        net.history.record("phase", 1 if epoch <= net.max_epochs else 2)
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1].get("valid_f1")
        if score is not None and score > self.best_score_:
            self.best_score_ = float(score)
            self.best_epoch_ = len(net.history)
            self.best_state_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        net.best_epoch_ = self.best_epoch_

    @staticmethod
    def phase_two(net):
        """Switch ``net`` to the soft macro-F1 loss and a fresh optimizer at ``f1_lr``."""
        net.criterion_ = SoftMacroF1Loss().to(net.device)
        args, kwargs = net.get_params_for_optimizer("optimizer", net.get_all_learnable_params())
        net.optimizer_ = net.optimizer(*args, **{**kwargs, "lr": net.f1_lr})

    def state_dict(self) -> dict:
        """What a checkpoint keeps of the schedule."""
        return {"score": self.best_score_, "epoch": self.best_epoch_, "state": self.best_state_}

    def load_state_dict(self, state: dict) -> None:
        self.best_score_ = float(state["score"])
        self.best_epoch_ = state["epoch"]
        self.best_state_ = state["state"]


class FiniteLoss(Callback):
    """Raise a ValueError when an epoch's training loss is NaN or infinite.

    Such a fit has stopped learning (every later step is NaN too) and would predict one class
    for everything; the usual cause is spectra with huge values that overflow float32.
    """

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is not None and not math.isfinite(loss):
            raise ValueError(
                f"The training loss became {loss} in epoch {len(net.history)}: the network "
                "overflowed float32. Scale the spectra to moderate values first (FluxScaler) "
                "or lower lr."
            )


class EpochCheckpoint(Callback):
    """Resume from ``net.checkpoint_dir`` when training begins, and write a checkpoint there
    after every epoch (nothing when it is None).

    The file is named by the fingerprint of the fit's parameters and data
    (:func:`skspectra.checkpoint.fingerprint`), so only the same fit resumes it. It holds the
    weights, the optimizer's state, the history, :class:`TwoPhaseSchedule`'s best weights and
    the states of torch's generator and of the batch sampler's (``X.rng``): a resumed fit ends
    with the same weights as an uninterrupted one. It is removed when training completes.
    Place it after the scores and the schedule.
    """

    def initialize(self):
        self.key_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.key_ = None
        if net.checkpoint_dir is None:
            return
        self.key_ = ckpt.fingerprint(
            net.get_params(deep=False), X.X.numpy(), X.y.numpy(), X.sample_weight.numpy()
        )
        state = ckpt.read_checkpoint(net.checkpoint_dir, self.key_, net.total_epochs)
        if state is None:
            return
        from skorch.history import History

        schedule = dict(net.callbacks_)["schedule"]
        try:
            net.module_.load_state_dict(state["module"])
            net.history_ = History(state["history"])
            schedule.load_state_dict(state["schedule"])
            if state["epochs_done"] > net.max_epochs:
                schedule.phase_two(net)
            net.optimizer_.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            X.rng.bit_generator.state = state["sampler_rng"]
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            path = ckpt.checkpoint_path(net.checkpoint_dir, self.key_)
            raise ValueError(
                f"{path} is not a usable skspectra checkpoint ({type(exc).__name__}: {exc}); "
                "delete it"
            ) from exc

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        if self.key_ is None:
            return
        state = {
            "epochs_done": len(net.history),
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "schedule": dict(net.callbacks_)["schedule"].state_dict(),
            "history": ckpt.plain(list(net.history)),
            "torch_rng": torch.get_rng_state(),
            "sampler_rng": dataset_train.rng.bit_generator.state,
        }
        ckpt.write_checkpoint(net.checkpoint_dir, self.key_, state)

    def on_train_end(self, net, **kwargs):
        # An interruption in the last epoch leaves that epoch undone: its checkpoint stays.
        done = len(net.history) >= net.total_epochs and getattr(net, "interrupted_", None) is None
        if self.key_ is not None and done:
            ckpt.remove_checkpoint(net.checkpoint_dir, self.key_)


class TrainingScore(Callback):
    """When training ends, macro-F1 on the training spectra as ``net.training_f1_``, with a
    warning below ``threshold``: a fit that did not learn its own data (spectra scaled to huge
    values, too few epochs) must not pass silently. Nothing after an interrupted fit.
    """

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def on_train_end(self, net, X=None, **kwargs):
        if getattr(net, "interrupted_", None) is not None:
            return
        spectra = X.X[X.index].reshape(len(X), -1).numpy()
        # Eagerly, whatever `inference` says: a fit compiles or exports nothing for this check.
        pred = net._proba(spectra, "eager").argmax(axis=1)
        net.training_f1_ = float(f1_score(X.labels, pred, average="macro"))
        if net.training_f1_ < self.threshold:
            warnings.warn(
                f"The network did not learn its own training spectra (training macro-F1 "
                f"{net.training_f1_:.2f}). Check the scaling of the spectra (values from "
                f"{spectra.min():.3g} to {spectra.max():.3g} after the steps before the "
                "classifier; FluxScaler puts them near 1), try more epochs or a lower lr.",
                UserWarning,
                stacklevel=5,  # fit's caller: notify, partial_fit and fit lie between
            )


class PrintSettings(Callback):
    """With ``net.verbose``, print at the start of training what the data-dependent defaults
    resolved to (bins, centring, mixup, batch size), so that a fold and the refit can be
    compared."""

    def on_train_begin(self, net, X=None, **kwargs):
        if net.verbose:
            first = getattr(net.module_, "networks", [net.module_])[0]
            size = getattr(first, "bin", 1)
            bins = f" (seen in bins of {size}: max_points)" if size > 1 else ""
            print(
                f"{type(net).__name__}: {len(X)} spectra of {X.X.shape[-1]} points{bins}, "
                f"{len(net.classes_)} classes, {net.n_networks_} network(s), centred="
                f"{net.input_mean_ is not None} (spread {net.input_spread_:.3g}), mixup alpha "
                f"{net.mixup_alpha_}, batches of {net.batch_size_}, validation_split="
                f"{net.validation_split!r}"
            )
