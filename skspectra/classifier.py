"""`SpectrumCNNClassifier`: the contest model's two-phase training as a scikit-learn classifier."""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.metrics import f1_score
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from skorch.utils import to_tensor
from torch.utils.data import Dataset

from . import checkpoint as ckpt
from .augmentation import SpectrumAugmentation
from .inference import BACKENDS, Predictor, heap_kept
from .loss import SoftMacroF1Loss
from .network import NetworkEnsemble, SpectrumResNet
from .sampler import ClassFractionSampler, resolve_class_fractions

__all__ = ["SpectrumCNNClassifier"]

# Epochs shorter than this many batches are lengthened: on a few dozen spectra one pass is a
# single optimiser step, and selecting the best of 30 such "epochs" would select noise. Longer
# epochs for such sets (at least 480 spectra: 30 batches of 16) were benchmarked and kept only
# with mixup (below): Beef 0.844 -> 0.867 and Meat 0.956 -> 0.978 but Rock 0.920 / 0.860 ->
# 0.820 / 0.820 (benchmarks/results/accuracy.md).
_MIN_BATCHES_PER_EPOCH = 10

# With mixup, batches_per_epoch=None makes every epoch this many times as long: mixing is a
# strong regulariser that learns more slowly (Zhang et al. 2018 found its gains grew with
# longer training). On the two UCR sets the default mixes, it raised Meat's accuracy from
# 0.956 +- 0.038 to 0.983 +- 0.000 and left OliveOil's at 0.956 (means of 3 seeds,
# benchmarks/results/accuracy.md); the sets it does not mix are unaffected.
_MIXUP_EPOCH_FACTOR = 3

# validation_split="auto": this share held out when every class has at least this many spectra
# (10 or more of each in validation); smaller sets train on everything and keep the last epoch.
_AUTO_VALIDATION = 0.2
_AUTO_VALIDATION_MIN_CLASS = 50

# batch_size="auto": a third of the training spectra, within these bounds. On the small UCR sets
# (20-60 training spectra) batches of 16-20 scored Rock 0.853, OliveOil 0.944, Meat 0.967 and
# Beef 0.789 where batches of 64 (the whole set in every step) scored 0.813, 0.911, 0.950 and
# 0.811 (means of 3 seeds, benchmarks/results/accuracy.md); Strawberry lost with 16; from 192
# training spectra up (milk, Strawberry, the asteroids, make_spectra) it is the 64 they were
# tuned and benchmarked with.
_AUTO_BATCH_MIN = 16
_AUTO_BATCH_MAX = 64

# center="auto": subtract the mean spectrum when the spectra differ from it, on average, by less
# than this fraction of its norm. Measured after FluxScaler() (benchmarks/results/accuracy.md):
# centring helped at UCR OliveOil's 0.011 and Meat's 0.039, made no clear difference at the
# asteroids' 0.072 (macro-F1 0.790 vs 0.799 over 2 seeds) and hurt at Rock's 0.37 and Beef's 0.62
# (Coffee 0.094, Strawberry 0.19, milk 0.60, make_spectra 1.3 left alone).
_AUTO_CENTER_SPREAD = 0.05
_SPREAD_CHUNK_VALUES = 1 << 22  # values per chunk of the spread computation (32 MB in float64)

# mixup="auto": Beta(alpha, alpha) mixing with this alpha when the classifier centres its input.
# Benchmarked with 3 seeds (benchmarks/results/accuracy.md): centred sets gained (UCR Meat 0.883
# -> 0.950, OliveOil 0.856 -> 0.911 accuracy); in screens, sets of varied spectra lost (Beef
# 0.811 -> 0.767, Strawberry 0.960 -> 0.948, asteroid macro-F1 0.799 -> 0.744 over 2 seeds) or
# stayed level (Rock 0.813 -> 0.807); alpha 0.2 did no better.
_AUTO_MIXUP_ALPHA = 0.4

# n_networks="auto": this many networks when the training split holds at most
# _AUTO_ENSEMBLE_POINTS spectrum points (n_train x n_points), one otherwise. Five networks side
# by side raised the accuracy on the small real sets (benchmarks/results/accuracy.md); the
# bound keeps an ensemble's epoch no dearer than one network's on 1.25 million points.
_AUTO_NETWORKS = 5
_AUTO_ENSEMBLE_POINTS = 250_000

# augment=True: these settings (never modified: each call draws from torch's generator).
_DEFAULT_AUGMENTATION = SpectrumAugmentation()

# Each fitted classifier's Predictor (chunked forward, compiled copy), dropped with the
# classifier. A Predictor never refers back to its classifier, so entries can be collected.
_PREDICTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def spread_around_mean(X: np.ndarray) -> float:
    """Mean Euclidean distance of the rows of ``X`` to their mean row, over that row's norm
    (``inf`` when the mean row is zero): 0.01 for spectra that are nearly alike, 1 or more for
    varied ones.

    >>> spread_around_mean(np.array([[1.0, 2.0], [1.2, 2.0], [0.8, 2.0]]))  # doctest: +ELLIPSIS
    0.0596...
    """
    mean = X.mean(axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0 or len(X) == 0:
        return float("inf")
    total, rows = 0.0, max(1, _SPREAD_CHUNK_VALUES // max(X.shape[1], 1))
    for start in range(0, len(X), rows):  # in chunks: no float64 copy of a large X
        block = X[start : start + rows].astype(np.float64) - mean
        total += float(np.sqrt(np.square(block).sum(axis=1)).sum())
    return total / len(X) / norm


def _as_tensor(X: np.ndarray) -> torch.Tensor:
    """A tensor sharing X's memory when possible (torch needs it writable and contiguous)."""
    return torch.from_numpy(np.require(X, requirements=["C", "W"]))


class _Spectra(Dataset):
    """Rows ``index`` of ``X`` and ``y`` (tensors shared, never copied), with their labels
    as numpy for the batch sampler and the random generator the sampler draws from. An
    ``offset`` (the classifier's ``input_mean_``) is subtracted from each row as it is read, so
    centring never copies the whole training set."""

    def __init__(self, X, y, index, rng=None, offset: torch.Tensor | None = None):
        self.X, self.y, self.index = X, y, torch.as_tensor(index)
        self.labels = y[self.index].numpy()
        self.rng = rng
        self.offset = offset

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        j = self.index[i]
        row = self.X[j]
        return (row if self.offset is None else row - self.offset), self.y[j]


class _Phases:
    """Marker passed through skorch's ``fit_loop`` in place of ``X``: the prepared datasets."""

    def __init__(self, train: _Spectra, valid: _Spectra | None):
        self.train, self.valid = train, valid


class SpectrumCNNClassifier(NeuralNetClassifier):
    """Residual dilated 1-D CNN for spectra, trained in two phases, the scikit-learn way.

    Phase 1 trains with cross-entropy (``criterion``) at ``lr`` for ``max_epochs`` epochs.
    Phase 2 starts from the best phase-1 weights and trains with the soft macro-F1 loss
    (:class:`~skspectra.SoftMacroF1Loss`) at ``f1_lr`` for ``f1_epochs`` epochs, each phase with
    a fresh optimizer. After every epoch the macro-F1 on a held-out validation split is scored;
    at the end the weights of the best epoch over both phases are restored (in memory). This is
    the schedule of the LAMOST 2018 contest model (see the project's ``SEED_MODEL.md``).

    It is a skorch :class:`~skorch.classifier.NeuralNetClassifier`: callbacks, ``history``,
    ``module__*`` and ``optimizer__*`` parameters and ``device`` work as in skorch. The number of
    classes and the input length are taken from the data at ``fit``.

    Parameters
    ----------
    module : torch module class or instance, default=SpectrumResNet
        The network. A class is built with ``n_classes`` and ``n_points`` from the data plus
        ``module__*`` parameters (e.g. ``module__filters=(16, 32)``, ``module__dropout=0.3``).
        It must output logits of shape ``(n, n_classes)`` for input ``(n, 1, n_points)``.
    lr : float, default=1e-3
        Learning rate of phase 1.
    max_epochs : int, default=30
        Epochs of phase 1 (cross-entropy); 0 skips it.
    f1_lr : float, default=1e-4
        Learning rate of phase 2.
    f1_epochs : int, default=10
        Epochs of phase 2 (soft macro-F1 loss); 0 skips it.
    batch_size : "auto" or int, default="auto"
        Spectra per training batch (capped at the training set size) and per validation
        batch. ``"auto"``: a third of the training spectra, but at least 16 and at most 64,
        so 64 from 192 training spectra up and 16 to 20 on sets of a few dozen, where smaller,
        noisier steps generalised better (UCR Rock 0.813 -> 0.853, OliveOil 0.911 -> 0.944,
        Meat 0.950 -> 0.967, Beef 0.811 -> 0.789 accuracy, means of 3 seeds;
        ``benchmarks/results/accuracy.md``) and fit faster. Validation runs in batches of 64.
        The seed: 160. (skorch's ``ProgressBar`` computes its total from ``batch_size``; with
        this classifier use ``ProgressBar(batches_per_epoch="count")``.)
    class_fractions : None, "balanced" or mapping, default=None
        Composition of every training batch. ``None``: plain shuffling. ``"balanced"``: equal
        numbers of each class. A mapping ``label -> fraction`` (e.g. the contest's
        ``{"star": 0.8, "unknown": 0.1, "galaxy": 0.05, "qso": 0.05}``): those fractions. With
        fractions, members of each class are drawn with replacement, so rare classes appear in
        every batch.
    batches_per_epoch : int or None, default=None
        Batches in one epoch. ``None``: one pass over the training split, but at least 10
        batches (so that tiny data sets still take enough steps per scored epoch); with
        mixing (``mixup``) three times that, since mixup learns more slowly.
    validation_split : "auto", float, int, CV splitter or None, default="auto"
        Held-out data scored after every epoch. A float is the fraction and an int the number
        of spectra, split stratified by class (plain random when a class is too rare to
        stratify, with a warning); a scikit-learn splitter (anything with ``split(X, y)``)
        gives its first split. The same split serves both phases. ``None``: no validation; the
        last epoch's weights are kept. ``"auto"``: 0.2 when every class has at least 50
        spectra (so the validation set holds 10 or more of each), otherwise ``None``: on a few
        dozen spectra, choosing the epoch by a handful of held-out ones selected noise and
        cost a fifth of the training data (``benchmarks/results/accuracy.md``).
    augment : bool, callable or None, default=True
        Perturbs every training batch (a tensor of shape ``(n, 1, n_points)``) before the
        forward pass. ``True``: :class:`~skspectra.SpectrumAugmentation` with its defaults
        (random flux scaling, offsets, noise and shifts of up to 1 % of the length); a callable
        (e.g. ``SpectrumAugmentation(shift=0)`` or ``SpectrumAugmentation(mask=0.05)``): that;
        ``False`` or ``None``: none. Validation and prediction see the spectra as given. On
        the small real sets of ``benchmarks/results/accuracy.md`` it raised the mean accuracy
        (the seed: none).
    center : "auto" or bool, default="auto"
        Subtract the training spectra's mean spectrum (``input_mean_``) from every spectrum,
        in ``fit`` and in prediction, so the network sees how a spectrum departs from the
        typical one. ``"auto"``: only when the spectra are nearly alike, i.e. they differ from
        their mean by less than 5 % of its norm on average (FTIR of one kind of sample, say):
        there the classes differ by a few percent and the shared shape would drown them. It
        raised the accuracy on UCR OliveOil from 0.678 to 0.856 and on Meat from 0.783 to 0.883
        (means of 3 seeds, ``benchmarks/results/accuracy.md``); on
        sets of varied spectra (UCR Beef, Rock) it lowered it, so ``"auto"`` leaves those
        alone. The augmentation (``augment``) then perturbs the centred spectra, i.e. the
        departures from the mean. The seed: ``False``.
    mixup : "auto", float or None, default="auto"
        Mixup (Zhang et al. 2018, "mixup: beyond empirical risk minimization"): every training
        batch is replaced by ``lam * X + (1 - lam) * X[perm]`` for a random pairing ``perm``
        and ``lam`` drawn from Beta(``mixup``, ``mixup``), and the loss by the same mix of the
        losses against both labels, in both phases. A float sets that alpha (0.2-0.4 is
        usual); ``None`` or 0: off. ``"auto"``: alpha 0.4 when the classifier centres its input
        (see ``center``), off otherwise: mixing two nearly alike spectra gives a plausible one.
        On the centred UCR sets it raised the accuracy from 0.883 to 0.950 (Meat) and from
        0.856 to 0.911 (OliveOil), and halved the calibration error; on varied spectra it
        lowered it (Beef 0.811 -> 0.767, Strawberry 0.960 -> 0.948; means of 3 seeds,
        ``benchmarks/results/accuracy.md``). Mixing learns more slowly: with
        ``batches_per_epoch=None`` its epochs are three times as long (Meat 0.956 -> 0.983,
        OliveOil level). The seed: ``None``.
    n_networks : "auto" or int, default="auto"
        Networks trained side by side on the same batches, each from its own initial weights
        and with its own loss, and predicting together: ``predict_proba`` is the mean of their
        class probabilities (a deep ensemble; see :class:`~skspectra.network.NetworkEnsemble`).
        Each network costs a full network's time in training and prediction. ``"auto"``: 5
        when the training split holds at most 250,000 spectrum points (e.g. 96 spectra of
        2600 points, or 1,000 of 250), 1 otherwise (and for a ``module`` instance, which is
        one network). The loss is the mean of the networks' losses, so each network's gradient
        is 1/n_networks of its own: Adam (the default) divides that scale out (up to its eps),
        plain SGD would need an n_networks-times larger ``lr``. With several networks the
        parameter names gain a ``networks.<k>.`` prefix (``networks.0.head.0.weight``): name
        patterns for optimizer parameter groups or skorch's ``Freezer`` must match those. In
        ``benchmarks/results/accuracy.md`` (means of 3 seeds) five networks
        raised UCR Beef from 0.789 to 0.844, Rock from 0.853 to 0.893 and OliveOil from 0.944
        to 0.956, left Coffee (1.000), Strawberry (0.961) and the asteroids' macro-F1 (0.793)
        about level and Meat within its spread (0.967 -> 0.956); over more seeds (10 of one
        network, 4 of five, on a GPU) they were ahead on all of these but OliveOil (level). The
        seed: 1.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the batch sampler, weight initialisation and dropout. With an int, a
        fit on CPU is reproducible to the bit. The global torch random state is left as it was.
    checkpoint_dir : str, path or None, default=None
        A folder for a checkpoint written after every epoch. A fit that was interrupted (or
        killed) is resumed from its last completed epoch by calling ``fit`` again with the same
        data and parameters (an int ``random_state``), and ends with the same weights as an
        uninterrupted fit. The checkpoint is removed when the fit completes.
    inference : {"auto", "eager", "compile", "onnxruntime"}, default="auto"
        How ``predict`` and ``predict_proba`` run the network, in chunks of about 330,000
        spectrum points (128 spectra of 2600), so memory does not grow with the number of
        spectra. ``"eager"``: the module's own forward. ``"compile"``: a copy compiled by
        ``torch.compile`` once per fitted model and process (5-30 s) at the first call of at
        least a chunk of spectra, about 1.4x faster on CPU (calls of fewer run eagerly: warm
        up with a full chunk, :func:`skspectra.inference.chunk_size` spectra); on CPU a call
        of one spectrum compiles (once) and runs a second copy, of the matrix-product
        forward, 1.5x eager. ``"onnxruntime"``: ONNX Runtime (the ``onnx`` extra), the lowest
        latency for single spectra. ``"auto"``: compile on CPU when a call has at least 20,000
        spectra of 2600 points (or as many points), when smaller calls with the same weights
        have added up to that many in full chunks, or when a compiled copy exists; calls of
        under 16 spectra go to ONNX Runtime (if the ``onnx`` extra is installed) once such
        calls have added up to 150 spectra of 2600 points (its export takes 0.4-0.6 s; 2,000
        where torch lacks its TorchScript-based exporter), and without it calls of one
        spectrum compile their forward once they have added up to 3,000; eager otherwise,
        and eager whenever compiling or exporting fails. All agree to ~1e-6; see
        :mod:`skspectra.inference` and ``benchmarks/results/speed.md``.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
        Loss of phase 1, fed logits.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Optimizer of both phases (rebuilt with fresh state at the start of each).
    device : str or torch.device, default="cpu"
        Where to train and predict (``"cuda"`` for a GPU).
    verbose : int, default=0
        1 prints a line per epoch with the phase, losses and validation macro-F1.
    **kwargs
        Other skorch parameters: ``callbacks``, ``module__*``, ``optimizer__*``,
        ``iterator_train__*``, ...

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of ``predict_proba``'s columns.
    n_features_in_ : int
        Points per spectrum seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names, when ``fit`` was given a DataFrame with string column names.
    module_ : torch.nn.Module
        The trained network, holding the best epoch's weights; with several networks, a
        :class:`~skspectra.network.NetworkEnsemble` of them.
    n_networks_ : int
        The number of networks trained (``n_networks``, with ``"auto"`` resolved).
    input_mean_ : ndarray of shape (n_features_in_,) or None
        The mean spectrum subtracted before the network (see ``center``); ``None`` when not
        centring.
    input_spread_ : float
        How much the training spectra differ from their mean: the mean Euclidean distance to
        it over its norm (what ``center="auto"`` compares with 0.05).
    history : skorch.history.History
        One row per epoch: ``phase``, ``train_loss``, ``valid_loss``, ``valid_acc``,
        ``valid_f1`` (validation macro-F1), ``valid_f1_best``, ``lr``, ``dur``.
    best_epoch_ : int or None
        The epoch (1-based, counted over both phases) whose weights were restored; ``None``
        without validation.

    See Also
    --------
    FluxScaler : per-spectrum flux scaling, usually the step before this one.
    SoftMacroF1Loss : the loss of phase 2.
    SpectrumResNet : the default network.

    Notes
    -----
    Ctrl-C (SIGINT) or SIGTERM during ``fit`` stops training, restores the best weights so far
    and returns with a warning: the classifier is usable, and with ``checkpoint_dir`` the fit
    can be resumed. skorch's ``EarlyStopping`` callback ends only the current phase.

    ``random_state`` makes fits bitwise reproducible on CPU, across processes, for the same
    number of torch threads (``torch.set_num_threads``); other thread counts change the order
    of floating-point sums (differences near 1e-7). On CUDA, convolutions are reproducible only
    with ``torch.backends.cudnn.deterministic = True``, and cuDNN runs them in TF32 by default
    (``torch.backends.cudnn.allow_tf32``), so a GPU's probabilities differ from the CPU's by
    ~1e-4; set it to ``False`` for float32 agreement.

    The pickle of a fitted classifier (``joblib.dump``) holds the weights but no optimizer
    state. A model trained on CUDA loads and predicts on a CPU-only machine.

    References
    ----------
    The LAMOST spectrum classification contest (Tianchi, 2018): a residual dilated CNN, trained
    with cross-entropy and then a differentiable macro-F1 loss.

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
        "f1_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "class_fractions": [None, StrOptions({"balanced"}), Mapping],
        "batches_per_epoch": [None, Interval(Integral, 1, None, closed="left")],
        "validation_split": [
            None,
            StrOptions({"auto"}),
            Interval(Real, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
            "cv_object",
        ],
        "augment": ["boolean", None, callable],
        "center": ["boolean", StrOptions({"auto"})],
        "mixup": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left"), None],
        "random_state": ["random_state"],
        "checkpoint_dir": [None, str, os.PathLike],
        "inference": [StrOptions(set(BACKENDS))],
        "n_networks": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        module=SpectrumResNet,
        *args,
        lr: float = 1e-3,
        max_epochs: int = 30,
        f1_lr: float = 1e-4,
        f1_epochs: int = 10,
        batch_size="auto",
        class_fractions=None,
        batches_per_epoch: int | None = None,
        validation_split="auto",
        augment=True,
        center="auto",
        mixup="auto",
        n_networks="auto",
        random_state=None,
        checkpoint_dir=None,
        inference: str = "auto",
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        device="cpu",
        verbose: int = 0,
        **kwargs,
    ):
        # The split is made by `validation_split`; skorch's own `train_split` stays off.
        kwargs.setdefault("train_split", None)
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
        self.f1_epochs = f1_epochs
        self.class_fractions = class_fractions
        self.batches_per_epoch = batches_per_epoch
        self.validation_split = validation_split
        self.augment = augment
        self.n_networks = n_networks
        self.center = center
        self.mixup = mixup
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.inference = inference

    # skorch sets `history_`, `initialized_` and `virtual_params_` in `__init__`; scikit-learn
    # requires `__init__` to set nothing but parameters. These properties keep skorch's names
    # working while storing the values under private names that scikit-learn's checks ignore.
    @property
    def history_(self):
        return self.__dict__.get("_history_")

    @history_.setter
    def history_(self, value):
        self.__dict__["_history_"] = value

    @property
    def initialized_(self):
        # Unset until skorch's `__init__` sets it: skorch tells its first `__init__` (where a
        # module instance may be passed) from later assignments by this attribute's absence.
        if "_initialized_" not in self.__dict__:
            raise AttributeError("initialized_")
        return self.__dict__["_initialized_"]

    @initialized_.setter
    def initialized_(self, value):
        self.__dict__["_initialized_"] = value

    @property
    def virtual_params_(self):
        return self.__dict__.setdefault("_virtual_params_", {})

    @virtual_params_.setter
    def virtual_params_(self, value):
        self.__dict__["_virtual_params_"] = value

    # skorch's `classes_` is a read-only property over its `classes` parameter; here it is a
    # plain fitted attribute (the LabelEncoder's classes).
    @property
    def classes_(self):
        try:
            return self.__dict__["classes_"]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_': call fit first"
            ) from None

    @classes_.setter
    def classes_(self, value):
        self.__dict__["classes_"] = value

    def _get_param_names(self):
        # skorch lists every public attribute, including its private `_params_to_validate`;
        # that one is rebuilt by `__init__` and must not travel through get_params / clone.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def __sklearn_is_fitted__(self) -> bool:
        return "classes_" in self.__dict__ and self.initialized_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.multi_class = True
        return tags

    @property
    def _default_callbacks(self):
        # skorch's `valid_acc` scorer calls `predict` on a dataset; accuracy and macro-F1 are
        # computed here from the validation batches instead (see `on_epoch_end`).
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("print_log", PrintLog()),
        ]

    # ------------------------------------------------------------------ data
    def _check_X(self, X, reset: bool) -> np.ndarray:
        """Validate ``X`` as scikit-learn does, also accepting ``(n, 1, n_points)``."""
        shape = getattr(X, "shape", None)
        if shape is not None and len(shape) == 3:
            if shape[1] != 1:
                raise ValueError(
                    f"X has shape {tuple(shape)}: {shape[1]} channels, but one is supported. "
                    "Pass spectra as (n_spectra, n_points) or (n_spectra, 1, n_points)."
                )
            X = np.asarray(X)[:, 0, :]
        return validate_data(self, X, reset=reset, dtype=np.float32)

    def _check_Xy(self, X, y, reset: bool):
        shape = getattr(X, "shape", None)
        if shape is not None and len(shape) == 3:
            X = self._check_X(X, reset=reset)
        X, y = validate_data(self, X, y, reset=reset, dtype=np.float32)
        check_classification_targets(y)
        return X, y

    def _split(self, X: np.ndarray, y: np.ndarray, seed: int):
        """Train and validation indices, drawn once per fit and used by both phases."""
        split = self.validation_split
        everything = np.arange(len(y))
        if isinstance(split, str) and split == "auto":
            smallest = np.bincount(y).min() if len(y) else 0
            split = _AUTO_VALIDATION if smallest >= _AUTO_VALIDATION_MIN_CLASS else None
        if split is None:
            return everything, None
        if not hasattr(split, "split"):
            try:
                splitter = StratifiedShuffleSplit(n_splits=1, test_size=split, random_state=seed)
                return next(splitter.split(X, y))
            except ValueError as exc:
                warnings.warn(
                    f"The validation split is not stratified ({exc}); it is drawn at random, "
                    "so a rare class may be missing from one side. Give more spectra of each "
                    "class, a smaller validation_split, or validation_split=None.",
                    UserWarning,
                    stacklevel=3,
                )
                splitter = ShuffleSplit(n_splits=1, test_size=split, random_state=seed)
        else:
            splitter = split
        train, valid = next(splitter.split(X, y))
        if len(train) == 0 or len(valid) == 0:
            raise ValueError(
                f"validation_split={split!r} leaves {len(train)} spectra for training and "
                f"{len(valid)} for validation: both need at least one."
            )
        return np.asarray(train), np.asarray(valid)

    # ------------------------------------------------------------------ module
    def initialize_module(self):
        """Build the module with the number of classes and points taken from the data."""
        kwargs = self.get_params_for("module")
        if isinstance(self.module, type) or not isinstance(self.module, torch.nn.Module):
            inferred = {"n_classes": len(self.classes_), "n_points": self.n_features_in_}
            clash = {k: v for k, v in kwargs.items() if k in inferred and v != inferred[k]}
            if clash:
                raise ValueError(
                    f"module__{next(iter(clash))} contradicts the data ({inferred}): "
                    "leave it unset, it is taken from the data."
                )
            kwargs.update(inferred)
        n_networks = self._n_networks()
        if n_networks == 1:
            self.module_ = self.initialized_instance(self.module, kwargs)
            return self
        if isinstance(self.module, torch.nn.Module):
            raise ValueError(
                f"n_networks={n_networks} builds that many networks from a module class; "
                "this classifier was given a module instance. Pass the class (with "
                "module__* parameters) or set n_networks=1."
            )
        self.module_ = NetworkEnsemble(self.module(**kwargs) for _ in range(n_networks))
        return self

    def _n_networks(self) -> int:
        """The networks a fit trains: ``n_networks_`` once a fit has chosen it, else
        ``n_networks`` (``"auto"`` before any fit: one)."""
        if "n_networks_" in self.__dict__:
            return self.n_networks_
        # (A model pickled before n_networks existed has no such attribute: one network.)
        n_networks = getattr(self, "n_networks", "auto")
        return 1 if n_networks == "auto" else int(n_networks)

    def _training_batch_size(self, n_train: int) -> int:
        """The training batch: ``batch_size``, or the ``"auto"`` rule, capped at ``n_train``."""
        if self.batch_size == "auto":
            size = min(_AUTO_BATCH_MAX, max(_AUTO_BATCH_MIN, n_train // 3))
        else:
            size = self.batch_size
        return max(1, min(size, n_train))

    def _iterator_batch_size(self, kwargs: dict, n: int, training: bool) -> int:
        """The batch of an iterator over ``n`` spectra: a user's ``iterator_*__batch_size``
        (popped from ``kwargs``; skorch's -1: all ``n``), else ``batch_size`` (``"auto"``: the
        rule for training, batches of 64 otherwise)."""
        size = kwargs.pop("batch_size", None)
        if size is None and training:
            return self._training_batch_size(n)
        if size is None:
            size = _AUTO_BATCH_MAX if self.batch_size == "auto" else self.batch_size
        return n if size == -1 else size

    def get_iterator(self, dataset, training=False):
        """Training batches come from :class:`ClassFractionSampler`; the rest as in skorch
        (which would hand ``batch_size="auto"`` to the DataLoader)."""
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        batch_size = self._iterator_batch_size(kwargs, len(dataset), training)
        if not (training and isinstance(dataset, _Spectra)):
            return getattr(self, prefix)(dataset, batch_size=batch_size, **kwargs)
        batch_size = min(batch_size, len(dataset))
        kwargs.pop("shuffle", None)
        n_batches = self.batches_per_epoch
        if n_batches is None:
            n_batches = max(-(-len(dataset) // batch_size), _MIN_BATCHES_PER_EPOCH)
            if self._mixup_alpha() > 0:
                n_batches *= _MIXUP_EPOCH_FACTOR
        fractions = resolve_class_fractions(self.class_fractions, self.classes_)
        if fractions is not None:
            absent = np.setdiff1d(np.arange(len(fractions)), dataset.labels)
            if absent.size and fractions[absent].sum() > 0:
                fractions[absent] = 0.0
                fractions /= fractions.sum()
        sampler = ClassFractionSampler(
            dataset.labels, batch_size, n_batches, fractions, dataset.rng
        )
        return self.iterator_train(dataset, batch_sampler=sampler, **kwargs)

    def check_data(self, X, y):
        # Data reaching skorch's loop was validated in `fit`; skorch's checks would only
        # re-infer the classes from encoded labels.
        if not isinstance(X, _Phases):
            super().check_data(X, y)

    def get_split_datasets(self, X, y=None, **fit_params):
        if isinstance(X, _Phases):
            return X.train, X.valid
        return super().get_split_datasets(X, y, **fit_params)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, **fit_params):
        """Train in two phases and keep the weights of the best validation macro-F1.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_points) or (n_spectra, 1, n_points)
            Spectra, one per row (a DataFrame works too).
        y : array-like of shape (n_spectra,)
            Labels: strings or integers.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self : SpectrumCNNClassifier
        """
        return self._fit(X, y, reset=True, **fit_params)

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Run both phases again from the current weights (a first call is ``fit``).

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_points) or (n_spectra, 1, n_points)
            Spectra with the number of points seen before.
        y : array-like of shape (n_spectra,)
            Labels among ``classes_``.
        classes : array-like, default=None
            All classes, needed on the first call only when ``y`` lacks some of them.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self : SpectrumCNNClassifier
        """
        if not self.__sklearn_is_fitted__():
            return self._fit(X, y, reset=True, classes=classes, **fit_params)
        return self._fit(X, y, reset=False, **fit_params)

    def _fit(self, X, y, reset: bool, classes=None, **fit_params):
        # skorch's `_validate_params` checks argument names; scikit-learn's constraints here.
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), type(self).__name__
        )
        if self.train_split is not None:
            raise ValueError(
                "SpectrumCNNClassifier splits off validation data by `validation_split`; "
                "leave skorch's `train_split` unset (None)."
            )
        X, y = self._check_Xy(X, y, reset=reset)
        if reset:
            encoder = LabelEncoder().fit(y if classes is None else np.concatenate([classes, y]))
            if len(encoder.classes_) < 2:
                raise ValueError(
                    f"y has only one class ('{encoder.classes_[0]}'): a classifier needs "
                    "spectra of at least two classes."
                )
            self.classes_ = encoder.classes_
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y has labels {unknown.tolist()} unseen in the first fit "
                f"(classes_ = {self.classes_.tolist()}): call fit to start over."
            )
        y_enc = np.searchsorted(self.classes_, y)
        # Weights that go on training (partial_fit, warm_start) keep the centring they
        # learned with; a fresh start chooses it from this data.
        if reset and not (self.warm_start and self.initialized_):
            self.input_spread_ = spread_around_mean(X)
            centre = self.center
            if centre == "auto":
                centre = self.input_spread_ < _AUTO_CENTER_SPREAD
            self.input_mean_ = (
                X.mean(axis=0, dtype=np.float64).astype(np.float32) if centre else None
            )
        else:
            self.input_mean_ = self._input_mean()
        offset = None
        if self.input_mean_ is not None:  # (1, n_points), the layout of a training row
            offset = torch.from_numpy(self.input_mean_).unsqueeze(0)

        rs = check_random_state(self.random_state)
        split_seed, sampler_seed, torch_seed = (int(s) for s in rs.randint(0, 2**31 - 1, 3))
        train_idx, valid_idx = self._split(X, y_enc, split_seed)

        X_t = _as_tensor(X).unsqueeze(1)
        y_t = torch.from_numpy(y_enc.astype(np.int64))
        data = _Phases(
            _Spectra(X_t, y_t, train_idx, np.random.default_rng(sampler_seed), offset),
            None if valid_idx is None else _Spectra(X_t, y_t, valid_idx, offset=offset),
        )
        resume = None
        if self.checkpoint_dir is not None:
            self._fingerprint_ = ckpt.fingerprint(self.get_params(deep=False), X, y_enc)
            resume = ckpt.read_checkpoint(self.checkpoint_dir, self._fingerprint_)
        devices = [torch.device(self.device).index or 0] if self._uses_cuda() else []
        # heap_kept (and tune_malloc): training allocates the same large buffers every step.
        with torch.random.fork_rng(devices=devices), heap_kept():
            torch.manual_seed(torch_seed)
            if reset and not (self.warm_start and self.initialized_):
                self.n_networks_ = self.n_networks
                if self.n_networks == "auto":
                    points = len(train_idx) * self.n_features_in_
                    small = points <= _AUTO_ENSEMBLE_POINTS
                    instance = isinstance(self.module, torch.nn.Module)
                    self.n_networks_ = _AUTO_NETWORKS if small and not instance else 1
                self.initialize()
            self._train_phases(data, resume, **fit_params)
        return self

    def _uses_cuda(self) -> bool:
        return str(self.device).startswith("cuda") and torch.cuda.is_available()

    def _train_phases(self, data: _Phases, resume: dict | None, **fit_params):
        self._best_ = {"f1": -np.inf, "state": None, "epoch": None}
        self._fit_data_ = data
        start_phase, done = 1, 0
        if resume is not None:
            start_phase, done = self._restore(resume, data)
        phases = [
            (1, self.max_epochs, self.lr, None),
            (2, self.f1_epochs, self.f1_lr, SoftMacroF1Loss()),
        ]
        interrupted = None
        try:
            with ckpt.interruptible():
                for phase, epochs, lr, criterion in phases:
                    skip = done if phase == start_phase else 0
                    if phase < start_phase or epochs - skip <= 0:
                        continue
                    if phase == 2 and skip == 0 and self._best_["state"] is not None:
                        self.module_.load_state_dict(self._best_["state"])
                    self._start_phase(phase, lr, criterion, epochs_done=skip)
                    if skip:
                        self.optimizer_.load_state_dict(resume["optimizer"])
                    self.notify("on_train_begin", X=data, y=None)
                    try:
                        self.fit_loop(data, None, epochs=epochs - skip, **fit_params)
                    except ckpt.TrainingInterrupted as exc:
                        interrupted = exc
                    except KeyboardInterrupt:  # skorch's EarlyStopping: end of this phase
                        pass
                    finally:
                        self.notify("on_train_end", X=data, y=None)
                    if interrupted is not None:
                        break
            if self._best_["state"] is not None:
                self.module_.load_state_dict(self._best_["state"])
            self.best_epoch_ = self._best_["epoch"]
            if interrupted is not None:
                warnings.warn(
                    f"Training interrupted by {interrupted} in epoch {len(self.history)}; "
                    f"kept the weights of epoch {self.best_epoch_}, the best so far. "
                    + (
                        "Call fit again with the same data to resume from the last checkpoint."
                        if self.checkpoint_dir is not None
                        else "Set checkpoint_dir to make an interrupted fit resumable."
                    ),
                    UserWarning,
                    stacklevel=4,
                )
            elif self.checkpoint_dir is not None:
                ckpt.remove_checkpoint(self.checkpoint_dir)
        finally:
            # Leave the net as its parameters describe it: phase-1 criterion, a fresh optimizer
            # (so no optimizer state is pickled), nothing of the fit's bookkeeping.
            self.initialize_criterion()
            self.initialize_optimizer()
            for name in (
                "_best_",
                "_phase_",
                "_phase_epochs_",
                "_valid_out_",
                "_fit_data_",
                "_fingerprint_",
            ):
                self.__dict__.pop(name, None)

    def _checkpoint_state(self) -> dict:
        return {
            "fingerprint": self._fingerprint_,
            "phase": self._phase_,
            "epochs_done": self._phase_epochs_,
            "module": self.module_.state_dict(),
            "optimizer": self.optimizer_.state_dict(),
            "best": dict(self._best_),
            "history": ckpt.plain(list(self.history)),
            "torch_rng": torch.get_rng_state(),
            "sampler_rng": self._fit_data_.train.rng.bit_generator.state,
        }

    def _restore(self, state: dict, data: _Phases) -> tuple[int, int]:
        """Put the fit back where a checkpoint left it; return (phase, epochs done in it)."""
        from skorch.history import History

        self.module_.load_state_dict(state["module"])
        self._best_ = dict(state["best"])
        self.history_ = History(state["history"])
        torch.set_rng_state(state["torch_rng"])
        data.train.rng.bit_generator.state = state["sampler_rng"]
        return state["phase"], state["epochs_done"]

    def _start_phase(self, phase: int, lr: float, criterion, epochs_done: int = 0):
        self._phase_ = phase
        self._phase_epochs_ = epochs_done
        self.initialize_criterion()
        if criterion is not None:
            self.criterion_ = criterion.to(self.device)
        args, kwargs = self.get_params_for_optimizer("optimizer", self.get_all_learnable_params())
        kwargs["lr"] = lr
        self.optimizer_ = self.optimizer(*args, **kwargs)

    def train_step(self, batch, **fit_params):
        """One optimiser step; the batch's spectra go through ``augment`` first (here, not in
        ``train_step_single``, which skorch's ``AccelerateMixin`` replaces)."""
        augment = _DEFAULT_AUGMENTATION if self.augment is True else self.augment
        if augment is not None and augment is not False:
            Xi, yi = batch
            with torch.no_grad():
                Xi = augment(to_tensor(Xi, device=self.device))
            batch = (Xi, yi)
        alpha = self._mixup_alpha()
        if not alpha:
            return super().train_step(batch, **fit_params)
        Xi, yi = batch
        Xi = to_tensor(Xi, device=self.device)
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        perm = torch.randperm(len(Xi))
        with torch.no_grad():
            Xi = lam * Xi + (1 - lam) * Xi[perm.to(Xi.device)]
        self._mixing = (lam, perm)  # read by get_loss during this step
        try:
            return super().train_step((Xi, yi), **fit_params)
        finally:
            self._mixing = None

    def _mixup_alpha(self) -> float:
        """The Beta distribution's alpha of ``mixup`` for this fit (0: no mixing)."""
        if self.mixup == "auto":
            return _AUTO_MIXUP_ALPHA if self._input_mean() is not None else 0.0
        return float(self.mixup or 0.0)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """skorch's loss; during a mixup training step, the same mix of the losses against
        both labels of every mixed spectrum; for an ensemble in training (logits of shape
        ``(n, n_networks, n_classes)``), the mean of its members' losses."""
        if y_pred.dim() == 3:
            losses = [
                self.get_loss(y_pred[:, k], y_true, X=X, training=training)
                for k in range(y_pred.shape[1])
            ]
            return torch.stack(losses).mean()
        mixing = getattr(self, "_mixing", None) if training else None
        if mixing is None:
            return super().get_loss(y_pred, y_true, X=X, training=training)
        lam, perm = mixing
        other = y_true[perm.to(y_true.device)] if torch.is_tensor(y_true) else y_true[perm]
        return lam * super().get_loss(y_pred, y_true, X=X, training=training) + (
            1 - lam
        ) * super().get_loss(y_pred, other, X=X, training=training)

    # ------------------------------------------------------------------ epoch hooks
    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid)
        self.history.record("phase", self._phase_)
        self.history.record("lr", self.optimizer_.param_groups[0]["lr"])
        self._valid_out_ = ([], [])

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training and "y_pred" in kwargs and hasattr(self, "_valid_out_"):
            self._valid_out_[0].append(kwargs["y_pred"].argmax(dim=1).cpu().numpy())
            self._valid_out_[1].append(batch[1].cpu().numpy())

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_end(net, dataset_train=dataset_train, dataset_valid=dataset_valid)
        self._phase_epochs_ += 1
        if dataset_valid is not None and self._valid_out_[0]:
            self._score_epoch()
        else:
            # Without validation the last epoch is the one kept.
            self._best_ = {"f1": -np.inf, "state": None, "epoch": None}
        if self.checkpoint_dir is not None:
            ckpt.write_checkpoint(self.checkpoint_dir, self._checkpoint_state())

    def _score_epoch(self) -> None:
        pred = np.concatenate(self._valid_out_[0])
        true = np.concatenate(self._valid_out_[1])
        f1 = f1_score(true, pred, average="macro", zero_division=0)
        self.history.record("valid_acc", float(np.mean(pred == true)))
        self.history.record("valid_f1", float(f1))
        is_best = f1 > self._best_["f1"]
        self.history.record("valid_f1_best", bool(is_best))
        if is_best:
            state = {k: v.detach().clone() for k, v in self.module_.state_dict().items()}
            self._best_ = {"f1": float(f1), "state": state, "epoch": len(self.history)}

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order, rows summing to 1.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_points) or (n_spectra, 1, n_points)
            Spectra with the number of points seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_spectra, n_classes), float64
        """
        check_is_fitted(self)
        if isinstance(X, Dataset):  # skorch callbacks pass datasets
            chunks = [
                torch.softmax(logits.to(torch.float64), dim=1).numpy()
                for logits in self.forward_iter(X, training=False)
            ]
            return np.concatenate(chunks) if chunks else np.empty((0, len(self.classes_)))
        X = self._check_X(X, reset=False)
        # Centred chunk by chunk, so no copy of X is made (the ONNX graph centres by itself).
        return self._predictor().proba(X, onnx_source=self, offset=self._input_mean())

    def _input_mean(self) -> np.ndarray | None:
        # Models pickled before `center` existed have no input_mean_: they never centred.
        return getattr(self, "input_mean_", None)

    def get_dataset(self, X, y=None):
        """skorch's dataset of ``X``; a centring model subtracts ``input_mean_`` from plain
        spectra first, so skorch's own ``forward``, ``forward_iter`` and ``predict`` paths see
        what training saw. A ``Dataset`` is taken as it is (the training split is already
        centred)."""
        mean = self._input_mean()
        if mean is not None and not isinstance(X, Dataset):
            X = np.asarray(X, dtype=np.float32) - mean
        return super().get_dataset(X, y)

    def _predictor(self) -> Predictor:
        """The fitted module's :class:`~skspectra.inference.Predictor`, kept between calls (a
        compiled copy lives there); rebuilt when the module or backend changes (a Predictor
        refuses an unknown backend). It is kept outside the instance, so predicting changes no
        attribute and pickles never carry compiled code."""
        predictor = _PREDICTORS.get(self)
        if (
            predictor is None
            or predictor.module is not self.module_
            or predictor.backend != self.inference
        ):
            predictor = Predictor(self.module_, self.inference)
            _PREDICTORS[self] = predictor
        return predictor

    def predict(self, X):
        """Most probable class of each spectrum, as the original labels.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_points) or (n_spectra, 1, n_points)
            Spectra with the number of points seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_spectra,)
        """
        proba = self.predict_proba(X)  # checks fitting before classes_ is touched
        return self.classes_[proba.argmax(axis=1)]

    def predict_uncertainty(self, X, n_samples: int = 30, random_state=None) -> Bunch:
        """Monte-Carlo dropout: probabilities and their spread over stochastic forward passes.

        Dropout stays on at prediction time, so each of ``n_samples`` passes sees a different
        thinned network; the spread of their predictions estimates how unsure the model is
        (Gal & Ghahramani 2016, as astroNN does for stellar spectra). With several networks
        (``n_networks_`` > 1) each network's pass counts as a sample of its own, so the spread
        and ``mutual_information`` also measure how much the networks disagree (Lakshminarayanan
        et al. 2017); such a model needs no dropout for it. Spectra with a high ``entropy`` or
        ``mutual_information`` are the ones to inspect by eye.

        Parameters
        ----------
        X : array-like of shape (n_spectra, n_points) or (n_spectra, 1, n_points)
            Spectra with the number of points seen in ``fit``.
        n_samples : int, default=30
            Stochastic forward passes (of every network).
        random_state : int or None, default=None
            Seeds the dropout masks (the global torch random state is left as it was).

        Returns
        -------
        result : Bunch
            ``proba`` (n_spectra, n_classes): the mean probabilities; ``std``: their standard
            deviation over passes; ``entropy`` (n_spectra,): predictive entropy of ``proba`` in
            nats (total uncertainty); ``mutual_information`` (n_spectra,): entropy minus the
            mean entropy of the passes (the part due to the model's own uncertainty).
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        # get_dataset centres the spectra of a centring model.
        data = self.get_dataset(self._check_X(X, reset=False)[:, None, :])
        dropouts = [
            m for m in self.module_.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)
        ]
        # (With skorch's compile=True, module_ wraps the network.)
        network = getattr(self.module_, "_orig_mod", self.module_)
        ensemble = isinstance(network, NetworkEnsemble)
        networks = list(network.networks) if ensemble else [self.module_]
        if not dropouts and not ensemble:
            raise ValueError("the module has no dropout layer: Monte-Carlo dropout needs one")
        if ensemble and not any(m.p > 0 for m in dropouts):
            n_samples = 1  # every pass would be the same: the networks' spread is all there is
        devices = [torch.device(self.device).index or 0] if self._uses_cuda() else []
        passes = []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(check_random_state(random_state).randint(0, 2**31 - 1))
            for _ in range(n_samples):
                chunks = [[] for _ in networks]
                for batch in self.get_iterator(data, training=False):
                    self.module_.eval()
                    for m in dropouts:
                        m.train()
                    x = batch[0].to(self.device)
                    for network, out in zip(networks, chunks, strict=True):
                        with torch.no_grad():
                            logits = network(x)
                        out.append(torch.softmax(logits.to(torch.float64), dim=1).cpu().numpy())
                passes.extend(np.concatenate(out) for out in chunks)
        self.module_.eval()
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
