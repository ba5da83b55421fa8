"""`SpectrumCNNClassifier`: the contest model's two-phase training as a scikit-learn classifier."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring, EpochTimer, PassthroughScoring, PrintLog
from torch.utils.data import Dataset

from ._skorch import SkorchParamsMixin
from ._torch_rng import torch_rng
from .augmentation import SpectrumAugmentation, mixup
from .callbacks import (
    EpochCheckpoint,
    FiniteLoss,
    PrintSettings,
    TrainingScore,
    TwoPhaseSchedule,
    valid_accuracy,
    valid_macro_f1,
)
from .checkpoint import TrainingInterrupted, end_interrupted, interruptible
from .dataset import SpectraDataset, as_rows, spread_around_mean, validation_indices
from .inference import BACKENDS, Predictor, mc_dropout
from .loss import weighted_loss
from .network import SpectrumResNet, build_networks
from .sampler import ClassFractionSampler, resolve_class_fractions

__all__ = ["SpectrumCNNClassifier"]

# An epoch is one pass over the training spectra but at least this many batches: on a few dozen
# spectra one pass is a single step, and 30 such epochs would be too few steps to learn.
_MIN_BATCHES_PER_EPOCH = 10
# center="auto" centres spectra that differ from their mean by less than this share of its norm.
_AUTO_CENTER_SPREAD = 0.05
# mixup="auto" mixes centred spectra with this Beta alpha.
_AUTO_MIXUP_ALPHA = 0.4
# batch_size="auto": a third of the training spectra within these bounds.
_AUTO_BATCH = (16, 64)


class SpectrumCNNClassifier(SkorchParamsMixin, NeuralNetClassifier):
    """Residual dilated 1-D CNN for spectra, trained in two phases, the scikit-learn way.

    Phase 1 trains with ``criterion`` at ``lr`` for ``max_epochs`` epochs, phase 2 from the
    best phase-1 weights with :class:`~skspectra.SoftMacroF1Loss` at ``f1_lr`` for
    ``f1_epochs``: the LAMOST 2018 contest model's schedule (``SEED_MODEL.md``) as skorch
    callbacks (:mod:`skspectra.callbacks`). A skorch ``NeuralNetClassifier`` (``callbacks``,
    ``history``, ``module__*``); classes and input length come from the data. Each default is
    one behaviour, the same for a CV fold as for the refit, chosen as
    ``benchmarks/results/screens.md`` records.

    Parameters
    ----------
    module : torch module class or instance, default=SpectrumResNet
        Built with ``n_classes``, ``n_points`` and the ``module__*`` parameters; maps
        ``(n, 1, n_points)`` spectra to ``(n, n_classes)`` logits.
    lr, max_epochs : float, int, default=1e-3, 15
        Learning rate and epochs of phase 1 (0 epochs skips it).
    f1_lr, f1_epochs : float, int, default=1e-4, 5
        Learning rate and epochs of phase 2 (0 epochs skips it).
    weight_decay : float, default=0.0
        L2 penalty on every weight, passed to the optimizer in both phases (an explicit
        ``optimizer__weight_decay`` takes precedence). 0.01 won the inner cross-validation
        screen of 2026-12-05 02:06 (mean macro-F1 0.867 against 0.849 on the six UCR training
        splits), but not the held-out resamples (``benchmarks/results/weight-decay/``): the
        same mean over the six UCR sets, lower on the asteroids and the milk. So the default
        is none.
    batch_size : "auto" or int, default="auto"
        Spectra per training batch; ``"auto"``: a third of the training spectra, from 16 to
        64 (``batch_size_``), a smooth rule, so a fold and the refit differ by a few spectra.
    class_fractions : None, "balanced" or mapping, default=None
        Composition of every training batch (members drawn with replacement): None, plain
        shuffling; ``"balanced"``, equal shares; ``{label: fraction}`` (the contest's
        ``{"star": 0.8, "unknown": 0.1, "galaxy": 0.05, "qso": 0.05}``), in expectation
        where a share is less than one spectrum a batch.
    class_weight : None, "balanced" or dict, default=None
        Class weights in both losses, multiplied into ``sample_weight`` (as in scikit-learn).
    batches_per_epoch : int or None, default=None
        None: one pass over the training spectra but at least 10 batches, mixing or not.
    validation_split : None, float, int or CV splitter, default=None
        Spectra held out to score macro-F1 every epoch and keep the best epoch: a fraction, a
        count (stratified) or a splitter's first split. None: keep the last epoch.
    augment : bool, callable or None, default=True
        Perturbs each training batch: True, :class:`~skspectra.SpectrumAugmentation()`; a
        callable, that; False or None, none.
    center : "auto" or bool, default="auto"
        Subtract the training spectra's mean (``input_mean_``) before the network; ``"auto"``:
        when they differ from it by less than 5 % of its norm (``input_spread_``, a
        scale-free property of the data).
    mixup : "auto", float or None, default="auto"
        Mixup's Beta alpha (Zhang et al. 2018): batches ``lam * X + (1 - lam) * X[perm]``
        and the same mix of the two losses. ``"auto"``: 0.4 when centring, else none.
    n_networks : int, default=1
        Networks trained side by side on the same batches, predicting their mean probability
        (:class:`~skspectra.network.NetworkEnsemble`); each costs a network's time.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, sampler, weights, augmentation and dropout: with an int a CPU fit is
        reproducible to the bit (for a given number of torch threads), also beside other fits
        in threads of the same process, which take turns: torch's generator is process-wide.
    checkpoint_dir : str, path or None, default=None
        A checkpoint after every epoch: ``fit`` again with the same data and parameters
        resumes an interrupted fit and ends with the weights of an uninterrupted one.
    inference : {"eager", "compile", "onnxruntime"}, default="eager"
        How ``predict_proba`` runs the network (:mod:`skspectra.inference`), the same for
        every call.
    criterion, optimizer, device : default=CrossEntropyLoss, Adam, "cpu"
    verbose : int, default=0
        1 prints what the defaults resolved to and a line per epoch.
    **kwargs
        Other skorch parameters: ``callbacks``, ``module__*``, ``optimizer__*``, ...

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, module_
        As in scikit-learn; the trained network.
    n_networks_, batch_size_, mixup_alpha_ : int, int, float
        What ``n_networks``, ``batch_size`` and ``mixup`` resolved to.
    input_mean_, input_spread_ : ndarray or None, float
        The subtracted mean spectrum (None when not centring) and the spread (``center``).
    history : skorch.history.History
        A row per epoch: ``phase``, ``lr``, ``train_loss``, ``dur`` and, with validation,
        ``valid_loss``, ``valid_acc``, ``valid_f1``, ``valid_f1_best``.
    best_epoch_ : int or None
        The epoch whose weights were kept; None without validation.
    training_f1_ : float
        Macro-F1 on the training spectra (below 0.5 warns: the fit did not learn them).
    interrupted_ : str or None
        ``"SIGINT"`` or ``"SIGTERM"`` when the last fit was interrupted.

    Notes
    -----
    Ctrl-C (SIGINT) or SIGTERM during ``fit`` ends training with the best weights so far and
    warns (:class:`~skspectra.checkpoint.TrainingInterruptedWarning`); after SIGTERM the
    process then ends as it would have, with the last checkpoint written.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from skspectra import FluxScaler, SpectrumCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 64)).astype(np.float32)
    >>> y = np.where(np.arange(60) % 2 == 0, "star", "qso")
    >>> X[y == "qso", 30:34] += 5.0  # an emission line
    >>> clf = SpectrumCNNClassifier(max_epochs=5, f1_epochs=2, random_state=0,
    ...                             module__filters=(8, 8, 16))
    >>> pipe = make_pipeline(FluxScaler(), clf).fit(X, y)
    >>> pipe.predict(X[:4])
    array(['star', 'qso', 'star', 'qso'], dtype='<U4')
    >>> pipe.predict_proba(X[:2]).sum(axis=1)
    array([1., 1.])
    """

    _parameter_constraints: dict = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "f1_lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "f1_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "class_fractions": [None, StrOptions({"balanced"}), Mapping],
        "class_weight": [None, StrOptions({"balanced"}), dict],
        "batches_per_epoch": [None, Interval(Integral, 1, None, closed="left")],
        "validation_split": [
            None,
            Interval(Real, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
            "cv_object",
        ],
        "augment": ["boolean", None, callable],
        "center": ["boolean", StrOptions({"auto"})],
        "mixup": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left"), None],
        "n_networks": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "checkpoint_dir": [None, str, os.PathLike],
        "inference": [StrOptions(set(BACKENDS))],
    }

    def __init__(
        self,
        module=SpectrumResNet,
        *args,
        lr: float = 1e-3,
        max_epochs: int = 15,
        f1_lr: float = 1e-4,
        f1_epochs: int = 5,
        weight_decay: float = 0.0,
        batch_size="auto",
        class_fractions=None,
        class_weight=None,
        batches_per_epoch: int | None = None,
        validation_split=None,
        augment=True,
        center="auto",
        mixup="auto",
        n_networks: int = 1,
        random_state=None,
        checkpoint_dir=None,
        inference: str = "eager",
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        device="cpu",
        verbose: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("train_split", None)  # the split is `validation_split`'s
        super().__init__(
            module,
            *args,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            criterion=criterion,
            optimizer=optimizer,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.f1_lr = f1_lr
        self.weight_decay = weight_decay
        self.f1_epochs = f1_epochs
        self.class_fractions = class_fractions
        self.class_weight = class_weight
        self.batches_per_epoch = batches_per_epoch
        self.validation_split = validation_split
        self.augment = augment
        self.center = center
        self.mixup = mixup
        self.n_networks = n_networks
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.inference = inference

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.multi_class = True
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_predictor_", None)  # compiled code and sessions never travel in a pickle
        return state

    @property
    def partial_fit(self):
        # Not offered: "continue from the current weights" is `warm_start=True` with `fit`.
        raise AttributeError(
            "SpectrumCNNClassifier has no partial_fit: to train on from the current weights, "
            "set warm_start=True and call fit (max_epochs=0 runs the soft macro-F1 phase only)."
        )

    @property
    def total_epochs(self) -> int:
        """Epochs of a whole fit: ``max_epochs + f1_epochs``."""
        return self.max_epochs + self.f1_epochs

    @property
    def _default_callbacks(self):
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_acc", EpochScoring(valid_accuracy, name="valid_acc", use_caching=True)),
            ("valid_f1", EpochScoring(valid_macro_f1, name="valid_f1", use_caching=True)),
            ("finite_loss", FiniteLoss()),
            ("schedule", TwoPhaseSchedule()),
            ("checkpoint", EpochCheckpoint()),
            ("training_f1", TrainingScore()),
            ("print_settings", PrintSettings()),
            ("print_log", PrintLog()),
        ]

    # ------------------------------------------------------------------ data
    def _check_X(self, X) -> np.ndarray:
        """Validate spectra to predict as scikit-learn does, also ``(n, 1, n_points)``."""
        return validate_data(self, as_rows(X), reset=False, dtype=np.float32)

    def get_dataset(self, X, y=None):
        """A :class:`~skspectra.dataset.SpectraDataset` of plain spectra, centred as in
        training; a ``Dataset`` is taken as it is."""
        if isinstance(X, Dataset):
            return X
        X = torch.from_numpy(np.require(X, np.float32, ["C", "W"]))
        return SpectraDataset(X.reshape(len(X), 1, -1), offset=self._offset())

    def get_split_datasets(self, X, y=None, **fit_params):
        return self.get_dataset(X).split()

    def _offset(self) -> torch.Tensor | None:
        mean = getattr(self, "input_mean_", None)
        return None if mean is None else torch.from_numpy(mean).unsqueeze(0)

    def get_iterator(self, dataset, training=False):
        """Training batches come from :class:`~skspectra.ClassFractionSampler`."""
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        batch_size = kwargs.pop("batch_size", None)
        if batch_size is None:
            auto = self.batch_size == "auto"
            batch_size = (self.batch_size_ if training else 64) if auto else self.batch_size
        batch_size = len(dataset) if batch_size == -1 else batch_size  # skorch's "all"
        if not training:
            return self.iterator_valid(dataset, batch_size=batch_size, **kwargs)
        batch_size = min(batch_size, len(dataset))
        kwargs.pop("shuffle", None)
        n_batches = self.batches_per_epoch
        if n_batches is None:
            n_batches = max(-(-len(dataset) // batch_size), _MIN_BATCHES_PER_EPOCH)
        labels = dataset.labels
        fractions = resolve_class_fractions(self.class_fractions, self.classes_, labels)
        sampler = ClassFractionSampler(labels, batch_size, n_batches, fractions, dataset.rng)
        return self.iterator_train(dataset, batch_sampler=sampler, **kwargs)

    # ------------------------------------------------------------------ module
    def initialize_criterion(self):
        """skorch's criterion, made to return per-spectrum losses: :meth:`get_loss` averages
        them with the sample weights."""
        super().initialize_criterion()
        if hasattr(self.criterion_, "reduction"):
            self.criterion_.reduction = "none"
        return self

    def initialize_module(self):
        """Build ``n_networks`` networks with the classes and points taken from the data."""
        kwargs = self.get_params_for("module")
        if isinstance(self.module, torch.nn.Module):
            if self.n_networks != 1:
                raise ValueError(
                    f"n_networks={self.n_networks} builds networks from a module class; this "
                    "classifier was given a module instance. Pass the class or n_networks=1."
                )
            self.module_ = self.initialized_instance(self.module, kwargs)
            return self
        inferred = {"n_classes": len(self.classes_), "n_points": self.n_features_in_}
        self.module_ = build_networks(self.module, self.n_networks, kwargs, inferred)
        return self

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Train in two phases (from the current weights with ``warm_start=True``) on spectra
        ``X`` of shape (n_spectra, n_points) or (n_spectra, 1, n_points) and labels ``y``
        (strings or integers); ``sample_weight`` weighs both losses (a Pipeline routes it after
        ``set_fit_request(sample_weight=True)``), ``fit_params`` go to the module's ``forward``.
        Returns self."""
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), type(self).__name__
        )
        if self.train_split is not None:
            raise ValueError("Set validation_split, not skorch's train_split (leave it None).")
        warm = self.warm_start and self.__sklearn_is_fitted__()
        X, y = validate_data(self, as_rows(X), y, reset=not warm, dtype=np.float32)
        check_classification_targets(y)
        if not warm:
            self.classes_ = LabelEncoder().fit(y).classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"y has only one class ({self.classes_[0]!r}): a classifier needs spectra "
                    "of at least two classes."
                )
            self.input_spread_ = spread_around_mean(X)
            auto = self.input_spread_ < _AUTO_CENTER_SPREAD
            centre = auto if self.center == "auto" else self.center
            mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
            self.input_mean_ = mean if centre else None
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} unseen by the first fit.")
        y_enc = np.searchsorted(self.classes_, y)
        weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if self.class_weight is not None:
            weight = weight * compute_sample_weight(self.class_weight, y).astype(np.float32)
        auto = _AUTO_MIXUP_ALPHA if self.input_mean_ is not None else 0.0
        self.mixup_alpha_ = float(auto if self.mixup == "auto" else self.mixup or 0.0)
        rs = check_random_state(self.random_state)
        split_seed, sampler_seed, torch_seed = (int(s) for s in rs.randint(0, 2**31 - 1, 3))
        _, valid = validation_indices(y_enc, self.validation_split, split_seed)
        data = SpectraDataset(
            torch.from_numpy(np.require(X, requirements=["C", "W"])).unsqueeze(1),
            torch.from_numpy(y_enc.astype(np.int64)),
            torch.from_numpy(weight),
            offset=self._offset(),
            rng=np.random.default_rng(sampler_seed),
            valid_index=valid,
        )
        self.n_networks_ = self.n_networks
        n_train = len(y) - (0 if valid is None else len(valid))
        auto = min(_AUTO_BATCH[1], max(_AUTO_BATCH[0], n_train // 3))
        self.batch_size_ = auto if self.batch_size == "auto" else self.batch_size
        self.interrupted_ = None
        self.__dict__.pop("_predictor_", None)  # the training score builds a fresh one
        cuda = str(self.device).startswith("cuda") and torch.cuda.is_available()
        devices = [torch.device(self.device).index or 0] if cuda else []
        with torch_rng(torch_seed, devices), interruptible():
            if not warm:
                self.initialize()
            self.initialize_history()
            super().partial_fit(data, None, **fit_params)
            # Leave the net as its parameters describe it: phase-1 loss, fresh optimizer state.
            self.initialize_criterion()
            self.initialize_optimizer()
        if self.interrupted_ is not None:
            end_interrupted(self)
        return self

    def get_params_for_optimizer(self, prefix, named_parameters):
        """skorch's optimizer arguments, with ``weight_decay`` unless ``optimizer__*`` set it."""
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer" and "weight_decay" not in kwargs:
            takes = inspect.signature(self.optimizer).parameters
            if "weight_decay" in takes or any(p.kind is p.VAR_KEYWORD for p in takes.values()):
                kwargs["weight_decay"] = self.weight_decay
            elif self.weight_decay:
                raise ValueError(
                    f"{getattr(self.optimizer, '__name__', self.optimizer)} takes no "
                    "weight_decay: set weight_decay=0 to use it"
                )
        return args, kwargs

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop over the epochs this fit has left (fewer when it resumed)."""
        try:
            epochs = self.total_epochs - len(self.history) if epochs is None else epochs
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except TrainingInterrupted as exc:  # skorch's partial_fit then ends training
            self.interrupted_ = str(exc)
            raise

    def train_step(self, batch, **fit_params):
        """One optimiser step on an augmented (and, with mixup, mixed) batch. The mixing's
        ``lam`` and pairing travel in the batch to :meth:`get_loss`."""
        Xi, yi = batch
        Xi = dict(Xi)
        augment = SpectrumAugmentation() if self.augment is True else self.augment
        with torch.no_grad():
            x = Xi["X"].to(self.device)
            if augment:
                x = augment(x)
            if self.mixup_alpha_:
                x, Xi["mix"] = mixup(x, self.mixup_alpha_)
        Xi["X"] = x
        return super().train_step((Xi, yi), **fit_params)

    def infer(self, x, **fit_params):
        """The module's output for a batch (its spectra only: weights and mixing stay out)."""
        return super().infer(x["X"] if isinstance(x, Mapping) else x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """:func:`~skspectra.loss.weighted_loss` with the batch's sample weights (and, in a
        training step, its mixup pairing); the mean over an ensemble's networks."""
        if y_pred.dim() == 3:  # an ensemble in training: one loss per network
            k = range(y_pred.shape[1])
            return torch.stack([self.get_loss(y_pred[:, i], y_true, X, training) for i in k]).mean()
        batch = X if isinstance(X, Mapping) else {}
        weight = batch.get("sample_weight")
        weight = None if weight is None else weight.to(y_pred.device)
        mix = batch.get("mix") if training else None
        return weighted_loss(self.criterion_, y_pred, y_true.to(y_pred.device), weight, mix)

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X):
        """Class probabilities of spectra ``X`` of shape (n_spectra, n_points) or (n_spectra,
        1, n_points): a float64 ndarray of shape (n_spectra, n_classes), columns in
        ``classes_`` order, rows summing to 1."""
        check_is_fitted(self)
        if isinstance(X, Dataset):  # skorch's callbacks pass datasets
            chunks = [
                torch.softmax(out.to(torch.float64), dim=1).cpu().numpy()
                for out in self.forward_iter(X, training=False)
            ]
            return np.concatenate(chunks) if chunks else np.empty((0, len(self.classes_)))
        X = self._check_X(X)
        proba = self._proba(X, self.inference)
        if not np.isfinite(proba).all():
            rows = np.flatnonzero(~np.isfinite(proba).all(axis=1))
            raise ValueError(
                f"The network's output is not finite for {len(rows)} spectra (first: row "
                f"{rows[0]}, values up to {np.abs(X[rows[0]]).max():.3g}): scale the spectra "
                "to moderate values first (FluxScaler)."
            )
        return proba

    def _proba(self, X: np.ndarray, backend: str) -> np.ndarray:
        predictor = self.__dict__.get("_predictor_")
        if predictor is None or predictor.module is not self.module_:
            predictor = self.__dict__["_predictor_"] = Predictor(self.module_)
        return predictor.proba(X, backend, onnx_source=self, offset=self.input_mean_)

    def predict(self, X):
        """Most probable class of each spectrum (``X`` as for :meth:`predict_proba`), as the
        original labels: an ndarray of shape (n_spectra,)."""
        proba = self.predict_proba(X)  # checks fitting before classes_ is read
        return self.classes_[proba.argmax(axis=1)]

    def predict_uncertainty(self, X, n_samples: int = 30, random_state=None):
        """Monte-Carlo dropout over ``n_samples`` stochastic passes of every network (seeded
        by ``random_state``; torch's global generator is left as it was): a Bunch of
        ``proba``, ``std``, ``entropy`` and ``mutual_information``
        (:func:`skspectra.inference.mc_dropout`)."""
        check_is_fitted(self)
        batches = self.get_iterator(self.get_dataset(self._check_X(X)))
        return mc_dropout(self.module_, batches, n_samples, random_state, self.device)
