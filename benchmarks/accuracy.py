"""Benchmark: accuracy of skspectra on real spectra, by a protocol that cannot see the test data.

Protocol (issue 26):

- **UCR sets** (Coffee, Beef, OliveOil, Meat, Rock, Strawberry): ``--resamples`` (default 10)
  stratified resamples of train + test with the official sizes, as the bake-off redux does with
  30 (Middlehurst, Schafer & Bagnall 2024, "Bake off redux", Data Min. Knowl. Discov. 38):
  resample 0 is the official split; resample ``i > 0`` pools train and test and, class by
  class, draws as many training spectra as the official training split holds with
  ``numpy.random.RandomState(i)`` (the rest is the test part). This is the algorithm of
  ``aeon.benchmarking.resampling.stratified_resample_data_indices`` and gives its indices.
- **Other sets** (``asteroid_busdemeo16``, ``qsi_milk_species6``, a survey from
  :func:`skspectra.datasets.make_spectra`): repeated stratified k-fold (``--cv-folds`` x
  ``--cv-repeats``, default 5 x 2); repeat ``r`` draws its folds with ``random_state=r`` and is
  scored on its pooled out-of-fold predictions, so one repeat is one resample.

Every method sees only the training part of a resample: hyper-parameters are either fixed or,
for ``logreg``, tuned by cross-validation inside that training part. Reported per (data set,
method): accuracy and macro-F1 as mean ± sd over resamples, every per-resample number, and the
fit and predict times of every fit. Methods, each on the same resamples:

- ``skspectra``: ``make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state=resample))``
  with the defaults of the code on disk at run time (recorded in the results);
- ``seed``: the LAMOST contest network and schedule of :func:`skspectra.presets.seed_pipeline`
  behind the same default ``FluxScaler()`` as every other method (the preset's own division by
  100 leaves z-normalised UCR spectra near 0, where the seed network does not learn), with
  ``SEED_BATCHES_PER_EPOCH`` batches per epoch (see :data:`SEED_NOTE`);
- ``logreg``: ``FluxScaler() -> StandardScaler() -> LogisticRegressionCV`` (L2, 10 values of C,
  5-fold stratified CV on the training part, scored by log-loss);
- ``rf``: a random forest of 500 trees; ``1nn``: 1-nearest neighbour, Euclidean;
- ``minirocket``, ``hydra``, ``mr-hydra``, ``quant``: MiniRocket (Dempster, Schmidt & Webb
  2021), Hydra and MultiRocket-Hydra (Dempster, Schmidt & Webb 2023) and QUANT (Dempster,
  Schmidt & Webb 2024) from aeon, with their default settings, on ``FluxScaler()`` rows;
- the published HIVE-COTE 2 mean over 30 resamples (Middlehurst et al. 2024) as a column.

Every method runs on one thread (torch, numba, scikit-learn ``n_jobs=1``, and the BLAS and
OpenMP pools through threadpoolctl; rows measured before code 7e73469 of 2026-12-04 left BLAS
free, see the notes). Results go to
``<out-dir>/accuracy.json`` (every number, the configurations, the machine with its load
average at the start and end of each invocation, the library versions and the commit),
``accuracy.md`` and ``accuracy.png`` (accuracy against fit time, log time axis), rewritten
after every resample so that an interrupted run keeps what it measured. ``--merge`` keeps the
(data set, method) entries of an earlier run with the same protocol and replaces only those
run now, under a file lock, so that two invocations can write into one table.

Run from the repository root::

    python -m benchmarks.accuracy --data-dir ../shared/data              # everything, 10 resamples
    python -m benchmarks.accuracy --methods logreg,rf,1nn,minirocket,hydra,mr-hydra,quant
    python -m benchmarks.accuracy --methods skspectra,seed,minirocket --datasets coffee --merge
    python -m benchmarks.accuracy --quick          # a few seconds: tiny sets and resamples
    python -m benchmarks.accuracy --render-only    # Markdown and figure again from the JSON
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skspectra import FluxScaler, SpectrumCNNClassifier
from skspectra.datasets import make_spectra
from skspectra.presets import blended_pipeline, seed_pipeline

from ._machine import machine_info, package_versions

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESAMPLES = 10
CV_FOLDS = 5
CV_REPEATS = 2
SEED_BATCHES_PER_EPOCH = 4
SEED_NOTE = (
    f"{SEED_BATCHES_PER_EPOCH} batches per epoch: the preset's 50 + 50 epochs then take 400 "
    "optimiser steps; its 500 batches per epoch (50,000 steps of 160 spectra, as in the "
    "contest) would take hours per fit here. Batches are capped at the training part's size."
)
METHOD_NAMES = (
    "skspectra",
    "skspectra-x5",
    "skspectra-blend",
    "seed",
    "logreg",
    "rf",
    "1nn",
    "minirocket",
    "hydra",
    "mr-hydra",
    "quant",
)
CNN_METHODS = ("skspectra", "skspectra-x5", "skspectra-blend", "seed")
AEON_METHODS = ("minirocket", "hydra", "mr-hydra", "quant")


# --------------------------------------------------------------------------- data sets
@dataclass(frozen=True)
class DataSpec:
    """A data set of the shared data folder: its file, protocol and title."""

    name: str
    file: str | None  # None: synthetic
    protocol: str  # "ucr" (stratified resamples of the official split) or "cv"
    title: str
    note: str = ""


DATASETS = {
    spec.name: spec
    for spec in [
        DataSpec("coffee", "ucr_coffee.npz", "ucr", "UCR Coffee (FTIR)"),
        DataSpec("beef", "ucr_beef.npz", "ucr", "UCR Beef (mid-IR)"),
        DataSpec("oliveoil", "ucr_oliveoil.npz", "ucr", "UCR OliveOil (FTIR)"),
        DataSpec("meat", "ucr_meat.npz", "ucr", "UCR Meat (FTIR-ATR)"),
        DataSpec("rock", "ucr_rock.npz", "ucr", "UCR Rock (reflectance)"),
        DataSpec("strawberry", "ucr_strawberry.npz", "ucr", "UCR Strawberry (FTIR-ATR)"),
        DataSpec("asteroid", "asteroid_busdemeo16.npz", "cv", "Asteroids, Bus-DeMeo 16 classes"),
        DataSpec(
            "milk",
            "qsi_milk_species6.npz",
            "cv",
            "Raman, milk of 6 species",
            "optimistic: random folds over repeat measurements of the same samples",
        ),
        DataSpec("synthetic", None, "cv", "make_spectra survey", "synthetic"),
    ]
}
UCR_SETS = tuple(n for n, s in DATASETS.items() if s.protocol == "ucr")
SMALL_UCR_SETS = tuple(n for n in UCR_SETS if n != "strawberry")  # 20-60 training spectra
# Short names and the files' stems both work on the command line.
ALIASES = {Path(s.file).stem: s.name for s in DATASETS.values() if s.file} | {
    "make_spectra": "synthetic"
}

# HIVE-COTE 2, mean test accuracy over 30 stratified resamples (Middlehurst, Schafer & Bagnall
# 2024, Bake Off Redux), from the shared data folder's README.
HC2_MEAN30 = {
    "coffee": 1.000,
    "beef": 0.721,
    "meat": 0.984,
    "oliveoil": 0.888,
    "strawberry": 0.980,
    "rock": 0.877,
}
# Korda et al. 2023 (A&A 675, A50): a CNN on high-resolution asteroid spectra, own protocol.
KORDA_ASTEROID_F1 = 0.90
PUBLISHED_SOURCES = [
    "HIVE-COTE 2 mean over 30 resamples: Middlehurst, Schafer & Bagnall 2024, Data Min. Knowl. "
    "Discov. 38 (Bake Off Redux), via the data README. UCR archive: Dau et al. 2019, IEEE/CAA "
    "J. Autom. Sinica 6(6).",
    "Asteroids: DeMeo et al. 2009, Binzel et al. 2019 via Sirrah91/Asteroid-spectra; Korda et "
    "al. 2023, A&A 675, A50 report F1 ~0.90 for a CNN (their protocol, not this one).",
    "Milk Raman: qsi-tk 1.4.1 (PyPI). No published accuracy.",
    "MiniRocket: Dempster, Schmidt & Webb 2021 (KDD); Hydra and MultiRocket-Hydra: Dempster, "
    "Schmidt & Webb 2023 (Data Min. Knowl. Discov. 37); QUANT: Dempster, Schmidt & Webb 2024 "
    "(Data Min. Knowl. Discov. 38); implementations from aeon.",
]


@dataclass
class Dataset:
    """Every spectrum of a data set (UCR: official train rows first) and how to resample it."""

    spec: DataSpec
    X: np.ndarray
    y: np.ndarray
    n_official_train: int | None  # UCR: the first n rows are the official training split
    info: dict

    @property
    def labels(self) -> np.ndarray:
        return np.unique(self.y)


def load_dataset(spec: DataSpec, data_dir: Path, synthetic: dict) -> Dataset:
    """Read one data set from ``data_dir`` (or generate the synthetic survey)."""
    n_train = None
    if spec.file is None:
        X, y = make_spectra(
            synthetic["n_spectra"],
            n_points=synthetic["n_points"],
            class_fractions=synthetic["class_fractions"],
            random_state=0,
            return_X_y=True,
        )
        info = {"source": "make_spectra(random_state=0)", **synthetic}
    else:
        path = Path(data_dir) / spec.file
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: pass --data-dir, the folder of the shared data sets "
                "(../shared/data beside a checkout)"
            )
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        if spec.protocol == "ucr":
            X = np.concatenate([arrays["X_train"], arrays["X_test"]])
            y = np.concatenate([arrays["y_train"], arrays["y_test"]])
            n_train = len(arrays["y_train"])
        else:
            X, y = arrays["X"], arrays["y"]
        info = {"source": spec.file}
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    info.update(
        n_spectra=int(len(y)),
        n_points=int(X.shape[1]),
        n_classes=int(len(np.unique(y))),
        note=spec.note,
    )
    if n_train is not None:
        info.update(n_train=n_train, n_test=int(len(y) - n_train))
    return Dataset(spec, X, y, n_train, info)


def ucr_resample(y: np.ndarray, n_train: int, resample: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and test indices of one stratified resample of an official split.

    ``y`` holds the official training labels (its first ``n_train`` entries) then the test
    labels. Resample 0 is the official split. Resample ``i > 0`` keeps each class's official
    training count and draws its members from train and test pooled, class after class in
    sorted order, with ``numpy.random.RandomState(i)``: the bake-off redux's resampling
    (Middlehurst et al. 2024; ``aeon.benchmarking.resampling``), whose indices it reproduces.

    Parameters
    ----------
    y : ndarray of shape (n_train + n_test,)
        Labels, the official training split first.
    n_train : int
        Size of the official training split.
    resample : int
        Resample number; 0 is the official split.

    Returns
    -------
    train, test : ndarray of int
        Indices into ``y``; together a partition of ``range(len(y))``.
    """
    if resample == 0:
        return np.arange(n_train), np.arange(n_train, len(y))
    rng = np.random.RandomState(resample)
    labels, counts = np.unique(y[:n_train], return_counts=True)
    train, test = [], []
    for label, count in zip(labels, counts, strict=True):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        train.append(members[:count])
        test.append(members[count:])
    return np.concatenate(train), np.concatenate(test)


def resample_splits(
    data: Dataset, resample: int, cv_folds: int = CV_FOLDS
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) index pairs of one resample: one pair (UCR) or ``cv_folds`` folds."""
    if data.spec.protocol == "ucr":
        return [ucr_resample(data.y, data.n_official_train, resample)]
    cv = StratifiedKFold(cv_folds, shuffle=True, random_state=resample)
    return list(cv.split(data.X, data.y))


def protocol_text(name: str, n_resamples: int, cv_folds: int) -> str:
    """One line saying how a data set is resampled."""
    if DATASETS[name].protocol == "ucr":
        return (
            f"{n_resamples} stratified resamples of train+test with the official sizes and "
            "training class counts (resample 0 = the official split; resample i: "
            "RandomState(i), as the bake-off redux)"
        )
    return (
        f"{n_resamples} x stratified {cv_folds}-fold CV (repeat r: StratifiedKFold(shuffle=True, "
        "random_state=r)); each repeat scored on its pooled out-of-fold predictions"
    )


# --------------------------------------------------------------------------- methods
@dataclass
class Method:
    """A method: its name, label, builder ``seed -> unfitted estimator`` and configuration."""

    name: str
    label: str
    build: Callable[[int], object]
    config: dict


class _Panel:
    """``FluxScaler()``, then the rows as aeon's ``(n, 1, L)`` collections, then a classifier.

    Not a scikit-learn Pipeline: aeon's estimators take 3-D input, which ``Pipeline`` would pass
    on unchanged but scikit-learn's validation of the scaler's output would not expect.
    """

    def __init__(self, classifier):
        self.classifier = classifier

    def _panel(self, X):
        return np.asarray(self.scaler_.transform(X), dtype=np.float64)[:, None, :]

    def fit(self, X, y):
        self.scaler_ = FluxScaler().fit(X)
        self.classifier.fit(self._panel(X), np.asarray(y))
        self.classes_ = np.asarray(self.classifier.classes_)
        return self

    def predict(self, X):
        return np.asarray(self.classifier.predict(self._panel(X)))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def seed_method_pipeline(seed: int) -> Pipeline:
    """The seed network and schedule behind the default ``FluxScaler()``."""
    # Plain shuffling: the contest's class fractions name its four labels, not these.
    clf = seed_pipeline(
        random_state=seed, batches_per_epoch=SEED_BATCHES_PER_EPOCH, class_fractions=None
    )[-1]
    return make_pipeline(FluxScaler(), clf)


def _aeon_methods(names: list[str]) -> dict[str, Method | str]:
    """aeon's classifiers among ``names``, or why they are unavailable."""
    wanted = [n for n in AEON_METHODS if n in names]
    if not wanted:
        return {}
    try:
        from aeon.classification.convolution_based import (
            HydraClassifier,
            MiniRocketClassifier,
            MultiRocketHydraClassifier,
        )
        from aeon.classification.interval_based import QUANTClassifier
    except ImportError as exc:
        why = (
            f"aeon cannot be imported ({exc}): pip install 'numba>=0.68' matplotlib deprecated"
            " && pip install --no-deps 'aeon>=1.6' (aeon's own pins would downgrade numpy)"
        )
        return dict.fromkeys(wanted, why)
    versions = package_versions(["aeon", "numba"])
    package = f"aeon {versions['aeon']} (numba {versions['numba']})"
    table = {
        "minirocket": (
            "MiniRocket",
            lambda s: MiniRocketClassifier(n_jobs=1, random_state=s),
            "MiniRocketClassifier(n_jobs=1): 10,000 kernels, RidgeClassifierCV",
        ),
        "hydra": (
            "Hydra",
            lambda s: HydraClassifier(n_jobs=1, random_state=s),
            "HydraClassifier(n_jobs=1): 8 kernels x 64 groups, RidgeClassifierCV",
        ),
        "mr-hydra": (
            "MultiRocket-Hydra",
            lambda s: MultiRocketHydraClassifier(n_jobs=1, random_state=s),
            "MultiRocketHydraClassifier(n_jobs=1): Hydra + MultiRocket features, RidgeClassifierCV",
        ),
        "quant": (
            "QUANT",
            lambda s: QUANTClassifier(random_state=s),
            "QUANTClassifier(): interval quantiles, ExtraTrees(200, max_features=0.1, entropy)",
        ),
    }
    methods: dict[str, Method | str] = {}
    for n in wanted:
        label, make, text = table[n]
        methods[n] = Method(
            n,
            label,
            lambda s, make=make: _Panel(make(s)),
            {"pipeline": f"FluxScaler() -> (n, 1, L) -> {text}", "package": package},
        )
    return methods


def build_methods(names: list[str]) -> tuple[dict[str, Method], dict[str, str]]:
    """The methods asked for, and those skipped with the reason."""
    candidates: dict[str, Method | str] = {}
    if "skspectra" in names:
        candidates["skspectra"] = Method(
            "skspectra",
            "skspectra (default)",
            lambda s: make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state=s)),
            {
                "pipeline": "make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state="
                "resample))",
                "classifier_params": _jsonable(SpectrumCNNClassifier().get_params(deep=False)),
            },
        )
    if "skspectra-x5" in names:  # the explicit ensemble option, for its gain and its cost
        candidates["skspectra-x5"] = Method(
            "skspectra-x5",
            "skspectra, 5 networks",
            lambda s: make_pipeline(
                FluxScaler(), SpectrumCNNClassifier(n_networks=5, random_state=s)
            ),
            {
                "pipeline": "make_pipeline(FluxScaler(), SpectrumCNNClassifier(n_networks=5, "
                "random_state=resample))"
            },
        )
    if "skspectra-blend" in names:  # the explicit blend option, for its gain and its cost
        candidates["skspectra-blend"] = Method(
            "skspectra-blend",
            "skspectra + logreg",
            lambda s: blended_pipeline(random_state=s),
            {
                "pipeline": "skspectra.presets.blended_pipeline(random_state=resample): soft "
                "VotingClassifier of make_pipeline(FluxScaler(), SpectrumCNNClassifier()) and "
                "the logreg pipeline, equal weights"
            },
        )
    if "seed" in names:
        candidates["seed"] = Method(
            "seed",
            "seed network",
            seed_method_pipeline,
            {
                "pipeline": "make_pipeline(FluxScaler(), seed_pipeline(random_state=resample, "
                f"batches_per_epoch={SEED_BATCHES_PER_EPOCH}, class_fractions=None)[-1])",
                "classifier_params": _jsonable(seed_method_pipeline(0)[-1].get_params(deep=False)),
                "note": SEED_NOTE,
            },
        )
    candidates["logreg"] = Method(
        "logreg",
        "logistic regression (CV)",
        lambda s: make_pipeline(
            FluxScaler(),
            StandardScaler(),
            LogisticRegressionCV(
                Cs=10,
                cv=5,
                l1_ratios=(0.0,),
                scoring="neg_log_loss",
                max_iter=5000,
                use_legacy_attributes=False,
            ),
        ),
        {
            "pipeline": "FluxScaler() -> StandardScaler() -> LogisticRegressionCV(Cs=10, cv=5, "
            "l1_ratios=(0.0,), scoring='neg_log_loss', max_iter=5000): L2, C among "
            "logspace(-4, 4, 10) chosen by 5-fold stratified CV on the training part"
        },
    )
    candidates["rf"] = Method(
        "rf",
        "random forest",
        lambda s: make_pipeline(
            FluxScaler(), RandomForestClassifier(n_estimators=500, n_jobs=1, random_state=s)
        ),
        {"pipeline": "FluxScaler() -> RandomForestClassifier(n_estimators=500, n_jobs=1)"},
    )
    candidates["1nn"] = Method(
        "1nn",
        "1-NN",
        lambda s: make_pipeline(FluxScaler(), KNeighborsClassifier(n_neighbors=1)),
        {"pipeline": "FluxScaler() -> KNeighborsClassifier(n_neighbors=1) (Euclidean)"},
    )
    candidates.update(_aeon_methods(names))
    unknown = [n for n in names if n not in candidates]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}: choose among {list(METHOD_NAMES)}")
    methods = {n: candidates[n] for n in names if isinstance(candidates[n], Method)}
    skipped = {n: candidates[n] for n in names if isinstance(candidates[n], str)}
    return methods, skipped


# --------------------------------------------------------------------------- measuring
def fit_predict(
    build: Callable[[], object],
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    threads: int,
) -> tuple[object, np.ndarray, float, float, list]:
    """Fit a fresh estimator on the training part only, predict the test part, time both.

    Returns the estimator, the predictions, fit and predict seconds and the warnings caught.
    Raises KeyboardInterrupt when the classifier reports that a signal ended its fit (it
    turns SIGINT and SIGTERM into a graceful return; the benchmark must stop, not go on).
    """
    est = build()
    # numba and aeon's Hydra set the thread count of the OpenMP runtime they share with
    # torch: set it again before every fit.
    torch.set_num_threads(threads)
    # The BLAS scikit-learn calls starts a thread per core unless told: on the 2-core machine
    # the logreg pipeline fit Rock in 15 s with two and in 1 s with one (2026-12-04).
    with threadpool_limits(threads), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        start = time.perf_counter()
        est.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        pred = np.asarray(est.predict(X_test))
        predict_s = time.perf_counter() - start
    if any(str(w.message).startswith("Training interrupted by") for w in record):
        raise KeyboardInterrupt("a fit was interrupted by a signal: the benchmark stops")
    return est, pred, fit_s, predict_s, list(record)


def run_one(
    method: Method,
    data: Dataset,
    resample: int,
    log: Callable[[str], None],
    threads: int = 1,
    cv_folds: int = CV_FOLDS,
    seed_offset: int = 0,
) -> dict:
    """Fit and score one method on one resample of one data set (every fold of it), each fit
    seeded with ``resample + seed_offset``."""
    y_true, y_pred = [], []
    fit_s, predict_s, best_epochs, caught = [], [], [], {}
    for train, test in resample_splits(data, resample, cv_folds):
        est, pred, t_fit, t_pred, record = fit_predict(
            lambda: method.build(resample + seed_offset),
            data.X[train],
            data.y[train],
            data.X[test],
            threads,
        )
        fit_s.append(t_fit)
        predict_s.append(t_pred)
        y_true.append(data.y[test])
        y_pred.append(pred)
        for w in record:
            key = f"{w.category.__name__}: {str(w.message)[:300]}"
            caught[key] = caught.get(key, 0) + 1
        clf = est[-1] if isinstance(est, Pipeline) else est
        if getattr(clf, "best_epoch_", None) is not None:
            best_epochs.append(int(clf.best_epoch_))
    y_true, y_pred = np.concatenate(y_true), np.concatenate(y_pred)
    return {
        "resample": resample,
        "seed": resample + seed_offset,
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "fit_s": [round(t, 4) for t in fit_s],
        "predict_s": [round(t, 4) for t in predict_s],
        "n_test": int(len(y_true)),
        "best_epochs": best_epochs or None,
        "warnings": caught,
        "converged": not any(k.startswith(ConvergenceWarning.__name__) for k in caught),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def summarise(runs: list[dict]) -> dict:
    """Mean and sd over resamples of accuracy and macro-F1; medians of the times per fit."""
    summary: dict = {"n_resamples": len(runs)}
    for key in ("accuracy", "macro_f1"):
        values = np.array([r[key] for r in runs])
        summary[key] = {
            "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        }
    for key in ("fit_s", "predict_s"):
        values = np.array([t for r in runs for t in r[key]])
        summary[key] = {"median": float(np.median(values)), "mean": float(values.mean())}
    return summary


# --------------------------------------------------------------------------- files
def _write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Write through ``write(tmp_path)`` to a temporary file beside ``path``, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0o600 would make results files private
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write(text)

    _write_atomic(path, write)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory``: one writer of its results files at once.

    The lock is on the folder itself (``flock`` on its descriptor): no lock file is left behind.
    """
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def code_state() -> dict:
    """The commit checked out, and the last commit of the classifier (whose defaults we run)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    status = git("status", "--porcelain", "--", "skspectra")
    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "classifier_commit": git(
            "log", "-1", "--format=%h %cI %s", "--", "skspectra/classifier.py"
        ),
        "skspectra_uncommitted": status.splitlines() if status else [],
    }


# --------------------------------------------------------------------------- reporting
def _cell(summary: dict | None, key: str, expected: int | None = None) -> str:
    """``mean ± sd``, with the number of resamples where fewer than ``expected`` were run."""
    if not summary:
        return ""
    value = summary[key]
    text = f"{value['mean']:.3f}"
    if summary["n_resamples"] > 1:
        text += f" ± {value['sd']:.3f}"
    if expected and summary["n_resamples"] < expected:
        text += f" (n={summary['n_resamples']})"
    return text


def _expected(report: dict, d: str) -> int:
    proto = report["protocol"]
    return proto["ucr_resamples"] if d in UCR_SETS else proto["cv_repeats"]


def _summary(report: dict, d: str, n: str) -> dict | None:
    return report["results"].get(d, {}).get(n, {}).get("summary")


def evaluate_targets(report: dict) -> list[str]:
    """The issue's targets for the default, each met, missed or incomplete, with the numbers.

    A count target over several sets is decided as soon as the sets measured so far decide it
    (enough wins, or too many losses), and "incomplete" until then.
    """
    res = report["results"]

    def verdict(ok: bool | None) -> str:
        return {True: "**met**", False: "**missed**", None: "incomplete"}[ok]

    def count_verdict(wins: int, measured: int, total: int, need: int) -> bool | None:
        if wins >= need:
            return True
        if measured - wins > total - need:
            return False
        return None

    lines = []
    measured = [d for d in UCR_SETS if _summary(report, d, "skspectra")]
    pairs = [d for d in measured if _summary(report, d, "minirocket")]
    wins = [
        d
        for d in pairs
        if _summary(report, d, "skspectra")["accuracy"]["mean"]
        >= _summary(report, d, "minirocket")["accuracy"]["mean"] - 1e-12
    ]
    lines.append(
        "- Mean accuracy >= MiniRocket's on >= 5 of the 6 UCR sets: "
        f"{verdict(count_verdict(len(wins), len(pairs), 6, 5))} (at or above on "
        f"{len(wins)} of the {len(pairs)} sets measured"
        + (": " + ", ".join(wins) if wins else "")
        + ")."
    )
    hc2 = [d for d in measured if d in HC2_MEAN30]
    above = [
        d for d in hc2 if _summary(report, d, "skspectra")["accuracy"]["mean"] >= HC2_MEAN30[d]
    ]
    lines.append(
        "- Mean accuracy >= published HC2 mean-over-30 on >= 3 of the 6: "
        f"{verdict(count_verdict(len(above), len(hc2), 6, 3))} (at or above on "
        f"{len(above)} of the {len(hc2)} sets measured"
        + (": " + ", ".join(above) if above else "")
        + ")."
    )
    ast = _summary(report, "asteroid", "skspectra")
    ok = None if ast is None else ast["macro_f1"]["mean"] >= 0.85
    lines.append(
        f"- Asteroid 16-class macro-F1 >= 0.85: {verdict(ok)}"
        + (f" ({_cell(ast, 'macro_f1')})" if ast else " (not run)")
        + "."
    )
    syn = _summary(report, "synthetic", "skspectra")
    peers = {
        n: e["summary"]["macro_f1"]["mean"]
        for n, e in res.get("synthetic", {}).items()
        if n not in CNN_METHODS and e.get("summary")
    }
    if syn and peers:
        best = max(peers, key=peers.get)
        lines.append(
            "- Synthetic survey ahead of every peer (macro-F1): "
            f"{verdict(syn['macro_f1']['mean'] > peers[best])} ({_cell(syn, 'macro_f1')} "
            f"against {best} {peers[best]:.3f})."
        )
    else:
        lines.append("- Synthetic survey ahead of every peer: incomplete (not run).")
    small = [d for d in SMALL_UCR_SETS if _summary(report, d, "skspectra")]
    medians = {d: _summary(report, d, "skspectra")["fit_s"]["median"] for d in small}
    complete = len(small) == len(SMALL_UCR_SETS)
    if medians:
        overall = float(np.median(list(medians.values())))
        lines.append(
            "- Default fit time, median over the 5 small UCR sets <= 30 s: "
            f"{verdict(overall <= 30 if complete else None)} ({overall:.1f} s over "
            f"{len(small)} sets; per set "
            + ", ".join(f"{d} {t:.1f} s" for d, t in medians.items())
            + ")."
        )
    else:
        lines.append("- Default fit time, median over the small UCR sets <= 30 s: incomplete.")
    ratios = {
        d: medians[d] / _summary(report, d, "minirocket")["fit_s"]["median"]
        for d in small
        if _summary(report, d, "minirocket")
    }
    if ratios:
        same = all(
            res[d]["skspectra"].get("invocation") == res[d]["minirocket"].get("invocation")
            for d in ratios
        )
        ok = all(r <= 10 for r in ratios.values()) if complete else None
        if any(r > 10 for r in ratios.values()):
            ok = False
        lines.append(
            f"- Default fit time <= 10x MiniRocket's on each small UCR set: {verdict(ok)} ("
            + ", ".join(f"{d} {r:.0f}x" for d, r in ratios.items())
            + "; "
            + ("each pair in one invocation" if same else "not every pair in one invocation")
            + ")."
        )
    return lines


def behind_lines(report: dict) -> list[str]:
    """Where the default trails a method of this table or HC2's published mean, by how much."""
    lines = []
    for d in report["datasets"]:
        sk = _summary(report, d, "skspectra")
        if not sk:
            continue
        acc = sk["accuracy"]["mean"]
        ahead = []
        for n, entry in report["results"][d].items():
            other = entry.get("summary")
            if n == "skspectra" or not other:
                continue
            gap = other["accuracy"]["mean"] - acc
            if gap > 1e-9:
                se = math.hypot(sk["accuracy"]["sd"], other["accuracy"]["sd"]) / math.sqrt(
                    max(1, min(sk["n_resamples"], other["n_resamples"]))
                )
                ahead.append(
                    (gap, f"{n} +{gap:.3f}" + (" (within 2 s.e.)" if gap <= 2 * se else ""))
                )
        if d in HC2_MEAN30 and HC2_MEAN30[d] > acc + 1e-9:
            ahead.append(
                (HC2_MEAN30[d] - acc, f"HC2 mean30 (published) +{HC2_MEAN30[d] - acc:.3f}")
            )
        if ahead:
            ahead.sort(key=lambda item: -item[0])
            lines.append(
                f"- **{DATASETS[d].title}** ({_cell(sk, 'accuracy')}): "
                + ", ".join(t for _, t in ahead)
                + "."
            )
    return lines


def markdown(report: dict) -> str:
    """The results as Markdown: tables, targets, where the default is behind, the protocol."""
    names = [n for n in report["methods"] if any(n in r for r in report["results"].values())]
    datasets = [d for d in report["datasets"] if d in report["results"]]
    proto = report["protocol"]
    lines = [
        "# Accuracy on real spectra, resampled",
        "",
        f"{proto['ucr_resamples']} stratified resamples of each UCR set (resample 0 = the "
        f"official split), {proto['cv_repeats']} x {proto['cv_folds']}-fold stratified CV on "
        "the other sets; mean ± sd over resamples. Each method sees only the training part of "
        "a resample; nothing was tuned on these test parts. Written by "
        "`python -m benchmarks.accuracy` (commands, machine and load below).",
    ]

    def table(title: str, key: str, hc2: bool) -> None:
        lines.extend(["", f"## {title}", ""])
        header = ["data set"] + names + (["HC2 mean30 (publ.)"] if hc2 else [])
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|---" + "|---:" * (len(header) - 1) + "|")
        for d in datasets:
            cells = []
            means = {n: s[key]["mean"] for n in names if (s := _summary(report, d, n))}
            top = max(means.values()) if means else None
            for n in names:
                entry = report["results"][d].get(n, {})
                text = _cell(entry.get("summary"), key, _expected(report, d))
                if not text and entry.get("error"):
                    text = "error"
                if text and top is not None and means.get(n, -1) >= top - 1e-12:
                    text = f"**{text}**"
                cells.append(text)
            if hc2:
                cells.append(f"{HC2_MEAN30[d]:.3f}" if d in HC2_MEAN30 else "")
            lines.append(f"| {DATASETS[d].title} | " + " | ".join(cells) + " |")

    def times(title: str, key: str) -> None:
        lines.extend(["", f"## {title}", ""])
        lines.append("| data set | " + " | ".join(names) + " |")
        lines.append("|---" + "|---:" * len(names) + "|")
        for d in datasets:
            cells = []
            for n in names:
                s = _summary(report, d, n)
                cells.append(f"{s[key]['median']:.2f}" if s else "")
            lines.append(f"| {DATASETS[d].title} | " + " | ".join(cells) + " |")

    table("Accuracy (mean ± sd over resamples; best in bold)", "accuracy", True)
    table("Macro-F1 (mean ± sd over resamples)", "macro_f1", False)
    times("Fit time (median seconds per fit, one thread, shared machine)", "fit_s")
    times("Predict time (median seconds per test part)", "predict_s")
    lines += ["", "## Targets of issue 26 (for `skspectra`, the default)", ""]
    lines += evaluate_targets(report)
    if report.get("notes"):
        lines += ["", "## Notes on this run", ""] + [f"- {note}" for note in report["notes"]]
    lines += ["", "## Where skspectra (default) is behind, by mean accuracy", ""]
    behind = behind_lines(report)
    lines += behind or ["- nowhere in this table (or the default was not run)."]
    lines += [
        "",
        "(n=k): only k of the protocol's resamples were run (the run was stopped for time); "
        "the mean is over those k (the first k of a UCR set).",
        "",
        '"within 2 s.e.": a gap no larger than twice the standard error of the difference of '
        "the means (sd's combined over the number of resamples).",
        "",
        "## Protocol",
        "",
    ]
    for d in datasets:
        info = report["data"][d]
        n_res = proto["ucr_resamples"] if d in UCR_SETS else proto["cv_repeats"]
        sizes = (
            f"train {info['n_train']} / test {info['n_test']}"
            if "n_train" in info
            else f"{info['n_spectra']} spectra"
        )
        lines.append(
            f"- **{DATASETS[d].title}** (`{info['source']}`): {info['n_points']} points, "
            f"{info['n_classes']} classes, {sizes}; "
            f"{protocol_text(d, n_res, proto['cv_folds'])}"
            + (f"; {info['note']}" if info.get("note") and info["note"] != "synthetic" else "")
            + "."
        )
    offset = proto.get("seed_offset", 0)
    lines.append(
        f"- Seeds: every fit is seeded with its resample number plus {offset}"
        + (" (`--seed-offset`): another draw of each method's randomness." if offset else ".")
    )
    lines += [
        "- Choosing defaults: screens score candidates by inner stratified k-fold CV on the "
        "training part of resample 0 only (`python -m benchmarks.screen`, recorded in "
        "`screens.md`). Earlier screens, scored on the official UCR test splits, are kept in "
        "`official-split-2026-11/` as history, not evidence: defaults chosen by them have seen "
        "resample 0's test part, which is one of the resamples here.",
        "",
        "## Methods",
        "",
    ]
    for n in names:
        config = report["methods"][n]["config"]
        lines.append(f"- **{n}** ({report['methods'][n]['label']}): `{config['pipeline']}`")
        if "package" in config:
            lines.append(f"  ({config['package']})")
        if "note" in config:
            lines.append(f"  ({config['note']})")
        if "classifier_params" in config:
            params = config["classifier_params"]
            shown = {k: v for k, v in params.items() if k in _SHOWN_PARAMS}
            lines.append(f"  (classifier at run time: {shown})")
    lines += ["", "## Runs, machine and load", ""]
    for inv in report["invocations"]:
        m = inv["machine"]
        end = inv.get("load_end")
        lines.append(
            f"- `python -m benchmarks.accuracy {' '.join(inv['argv'])}`: started {inv['started']}, "
            f"{_ending(inv)}; "
            f"{m['cpu']}, {m['usable_cores']} usable cores, {inv['threads']} thread(s); load "
            f"average (1/5/15 min) {_load(inv['load_start'])} at the start, "
            f"{_load(end) if end else '-'} at the end; code {inv['code']['head']}, classifier "
            f"{_short(inv['code']['classifier_commit'])}"
            + (
                f" (uncommitted: {inv['code']['skspectra_uncommitted']})"
                if inv["code"].get("skspectra_uncommitted")
                else ""
            )
            + f"; methods {', '.join(inv['methods'])}."
        )
    versions = report["invocations"][-1]["machine"]["versions"] if report["invocations"] else {}
    lines += [
        "",
        "The machine has 2 cores shared by several engineers: every fit ran on one thread, but "
        "other work inflates fit times (the load average says by how much); compare times "
        "within one invocation.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ".",
        "",
        "## Sources",
        "",
    ]
    lines += [f"- {s}" for s in PUBLISHED_SOURCES]
    return "\n".join(lines) + "\n"


_SHOWN_PARAMS = (
    "lr",
    "max_epochs",
    "f1_lr",
    "f1_epochs",
    "batch_size",
    "batches_per_epoch",
    "class_fractions",
    "validation_split",
    "augment",
    "center",
    "mixup",
    "n_networks",
)


def _ending(inv: dict) -> str:
    if inv.get("finished"):
        return f"finished {inv['finished']}"
    if inv.get("load_end"):
        return "**stopped before the end** (interrupted)"
    return "**unfinished at its last save** (still running, or killed)"


def _short(text: str | None, width: int = 90) -> str:
    text = text or "?"
    return text if len(text) <= width else text[: width - 3] + "..."


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


COLORS = {
    "skspectra": "tab:red",
    "skspectra-x5": "darkred",
    "skspectra-blend": "salmon",
    "seed": "tab:orange",
    "logreg": "tab:blue",
    "rf": "tab:green",
    "1nn": "tab:gray",
    "minirocket": "tab:purple",
    "hydra": "tab:brown",
    "mr-hydra": "tab:pink",
    "quant": "tab:cyan",
}


def plot(report: dict, path: Path) -> None:
    """Accuracy against median fit time, per data set and method, log time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in report["datasets"] if d in report["results"]]
    names = [n for n in report["methods"] if any(n in r for r in report["results"].values())]
    panels = len(datasets) + 1
    cols = min(4, panels)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    axes = axes.ravel()
    for ax, d in zip(axes, datasets, strict=False):
        for n in names:
            s = _summary(report, d, n)
            if s:
                ax.errorbar(
                    max(s["fit_s"]["median"], 1e-3),
                    s["accuracy"]["mean"],
                    yerr=s["accuracy"]["sd"],
                    fmt="o",
                    color=COLORS.get(n, "k"),
                    ms=5,
                    capsize=2,
                    label=n,
                )
        if d in HC2_MEAN30:
            ax.axhline(HC2_MEAN30[d], color="0.4", ls="--", lw=0.8, label="HC2 mean30 (publ.)")
        ax.set_xscale("log")
        ax.set_title(DATASETS[d].title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    # The UCR sets together: mean accuracy against the geometric mean of the fit times.
    ax = axes[len(datasets)]
    for n in names:
        sets = [d for d in UCR_SETS if _summary(report, d, n)]
        if not sets:
            continue
        acc = np.mean([_summary(report, d, n)["accuracy"]["mean"] for d in sets])
        fit = np.exp(
            np.mean([np.log(max(_summary(report, d, n)["fit_s"]["median"], 1e-3)) for d in sets])
        )
        ax.plot(fit, acc, "o", color=COLORS.get(n, "k"), ms=6, label=f"{n} ({len(sets)} sets)")
    ax.set_xscale("log")
    ax.set_title("UCR sets: mean accuracy vs geometric-mean fit time", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="lower right")
    for ax in axes[panels:]:
        ax.axis("off")
    for i in range(0, len(axes), cols):
        axes[i].set_ylabel("accuracy (mean ± sd)", fontsize=7)
    for ax in axes[len(axes) - cols :]:
        ax.set_xlabel("fit time, s (median, log axis)", fontsize=7)
    proto = report["protocol"]
    fig.suptitle(
        f"skspectra accuracy benchmark: {proto['ucr_resamples']} UCR resamples, "
        f"{proto['cv_repeats']}x{proto['cv_folds']}-fold CV elsewhere; one thread, shared "
        "2-core machine",
        fontsize=9,
    )
    fig.tight_layout()
    _write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def render(report: dict, out_dir: Path, figure: bool = True) -> None:
    """Write accuracy.md (and accuracy.png) from a report."""
    _write_text(out_dir / "accuracy.md", markdown(report))
    if figure:
        try:
            plot(report, out_dir / "accuracy.png")
        except ImportError as exc:
            print(f"no figure: {exc} (pip install matplotlib)", flush=True)


def merge(old: dict, new: dict) -> dict:
    """``old`` with the (data set, method) entries, invocation and configs of ``new``."""
    if old.get("protocol") != new["protocol"]:
        raise SystemExit(
            f"--merge: the results file's protocol {old.get('protocol')} differs from this "
            f"run's {new['protocol']}: use the same --resamples/--cv-folds/--cv-repeats, "
            "--seed-offset and synthetic size, or another --out-dir"
        )
    out = dict(old)
    ids = {i["id"] for i in new["invocations"]}
    out["invocations"] = [i for i in old["invocations"] if i["id"] not in ids]
    out["invocations"] += new["invocations"]
    out["invocations"].sort(key=lambda i: i["id"])
    out["methods"] = {**old["methods"], **new["methods"]}
    out["methods"] = {n: out["methods"][n] for n in METHOD_NAMES if n in out["methods"]}
    out["data"] = {**old["data"], **new["data"]}
    results = {d: dict(r) for d, r in old["results"].items()}
    for d, per_method in new["results"].items():
        results.setdefault(d, {}).update(per_method)
    out["results"] = results
    out["datasets"] = [d for d in DATASETS if d in results]
    # An invocation whose every entry a later run replaced no longer describes the table.
    used = {e.get("invocation") for r in results.values() for e in r.values()}
    out["invocations"] = [i for i in out["invocations"] if i["id"] in used]
    return out


def save(report: dict, out_dir: Path, merge_with_file: bool, figure: bool = True) -> None:
    """Write this run's report (merged into the file's, with ``--merge``), Markdown and figure."""
    path = out_dir / "accuracy.json"
    with locked(out_dir):
        full = report
        if merge_with_file and path.exists():
            full = merge(json.loads(path.read_text()), report)
        _write_text(path, json.dumps(full, indent=1) + "\n")
        render(full, out_dir, figure)


# --------------------------------------------------------------------------- main
def _parse_names(text: str | None, known, aliases: dict | None = None) -> list[str]:
    if text is None:
        return list(known)
    names = []
    for raw in text.split(","):
        name = (aliases or {}).get(raw.strip(), raw.strip())
        if name not in known:
            raise SystemExit(f"unknown name {raw!r}: choose among {list(known)}")
        names.append(name)
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Accuracy of skspectra and its peers over stratified resamples."
    )
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="UCR resamples")
    p.add_argument("--cv-folds", type=int, default=CV_FOLDS, help="folds on the other sets")
    p.add_argument("--cv-repeats", type=int, default=CV_REPEATS, help="repeats of the k folds")
    p.add_argument("--datasets", help=f"comma-separated, among {list(DATASETS)}")
    p.add_argument("--methods", help=f"comma-separated, among {list(METHOD_NAMES)} (default all)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds: 2 resamples, 2-fold CV once, a survey of 60 x 256, coffee and "
        "synthetic unless --datasets",
    )
    p.add_argument("--threads", type=int, default=1, help="torch, BLAS, OpenMP threads")
    p.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="seed each fit with resample + this (default 0): another draw of every method's "
        "randomness on the same resamples; a results file holds one offset",
    )
    p.add_argument("--synthetic-n", type=int, default=600, help="spectra of the survey")
    p.add_argument("--synthetic-points", type=int, default=2600, help="points per spectrum")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the other (data set, method) entries of <out-dir>/accuracy.json",
    )
    p.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    p.add_argument(
        "--merge-from",
        action="append",
        type=Path,
        help="merge another run's accuracy.json (same protocol) into <out-dir>'s; run nothing",
    )
    p.add_argument(
        "--note",
        action="append",
        help="replace the notes of <out-dir>/accuracy.json (repeat for several; runs nothing)",
    )
    p.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite accuracy.md and accuracy.png from <out-dir>/accuracy.json; run nothing",
    )
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    argv_text = list(sys.argv[1:] if argv is None else argv)
    if args.merge_from:
        with locked(args.out_dir):
            report = json.loads((args.out_dir / "accuracy.json").read_text())
            for path in args.merge_from:
                if not Path(path).exists():  # a run that has not saved anything yet
                    print(f"--merge-from {path}: no such file, skipped", flush=True)
                    continue
                report = merge(report, json.loads(Path(path).read_text()))
            _write_text(args.out_dir / "accuracy.json", json.dumps(report, indent=1) + "\n")
        args.render_only = True
    if args.note:
        with locked(args.out_dir):
            report = json.loads((args.out_dir / "accuracy.json").read_text())
            report["notes"] = list(args.note)
            _write_text(args.out_dir / "accuracy.json", json.dumps(report, indent=1) + "\n")
        args.render_only = True
    if args.render_only:
        report = json.loads((args.out_dir / "accuracy.json").read_text())
        render(report, args.out_dir)
        return report
    if args.quick:
        args.resamples, args.cv_folds, args.cv_repeats = 2, 2, 1
        args.synthetic_n, args.synthetic_points = 60, 256
        args.datasets = args.datasets or "coffee,synthetic"
    if min(args.resamples, args.cv_repeats) < 1 or args.cv_folds < 2:
        raise SystemExit("--resamples and --cv-repeats must be >= 1, --cv-folds >= 2")
    datasets = _parse_names(args.datasets, DATASETS, ALIASES)
    datasets = [d for d in DATASETS if d in datasets]  # small UCR sets first, Strawberry last
    methods, skipped = build_methods(_parse_names(args.methods, METHOD_NAMES))
    for n, why in skipped.items():
        print(f"skipping {n}: {why}", flush=True)
    torch.set_num_threads(args.threads)
    synthetic = {
        "n_spectra": args.synthetic_n,
        "n_points": args.synthetic_points,
        # The contest's shares (0.28 % quasars) would leave one or two quasars in a test part
        # of a hundred: macro-F1 would be noise. The rare classes are raised instead.
        "class_fractions": {"star": 0.4, "unknown": 0.2, "galaxy": 0.2, "qso": 0.2},
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - t0:7.0f} s] {text}", flush=True)

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    invocation = {
        "id": f"{dt.datetime.now(dt.timezone.utc).isoformat()} pid {os.getpid()}",
        "argv": argv_text,
        "started": started,
        "finished": None,
        "threads": args.threads,
        "methods": list(methods),
        "datasets": datasets,
        "load_start": list(os.getloadavg()),
        "load_end": None,
        "machine": machine_info(["aeon", "numba", "llvmlite", "matplotlib"]),
        "code": code_state(),
        "skipped_methods": skipped,
    }
    report: dict = {
        "benchmark": "accuracy of skspectra and peers over stratified resamples (issue 26)",
        "protocol": {
            "ucr_resamples": args.resamples,
            "cv_folds": args.cv_folds,
            "cv_repeats": args.cv_repeats,
            "synthetic": synthetic,
            # only when set, so that files written before the option still merge
            **({"seed_offset": args.seed_offset} if args.seed_offset else {}),
        },
        "datasets": datasets,
        "invocations": [invocation],
        "methods": {n: {"label": m.label, "config": m.config} for n, m in methods.items()},
        "published": {"hc2_mean30": HC2_MEAN30, "korda2023_asteroid_f1": KORDA_ASTEROID_F1},
        "published_sources": PUBLISHED_SOURCES,
        "data": {},
        "results": {},
    }
    existing = args.out_dir / "accuracy.json"
    if args.merge and existing.exists():
        merge(json.loads(existing.read_text()), report)  # a protocol mismatch stops us here
    if any(n in methods for n in AEON_METHODS):
        # numba compiles MiniRocket's, MultiRocket's and QUANT's kernels on first use: do it
        # before anything is timed.
        rng = np.random.default_rng(0)
        X_warm = rng.normal(size=(20, 64)).astype(np.float32)
        for n in AEON_METHODS:
            if n in methods:
                methods[n].build(0).fit(X_warm, np.repeat(["a", "b"], 10))
        log("aeon's kernels compiled (warm-up fits)")
    try:
        for d in datasets:
            data = load_dataset(DATASETS[d], args.data_dir, synthetic)
            report["data"][d] = data.info
            report["results"][d] = {}
            n_resamples = args.resamples if d in UCR_SETS else args.cv_repeats
            log(f"{d}: {data.info}")
            for n, method in methods.items():
                entry = report["results"][d][n] = {
                    "invocation": invocation["id"],
                    "runs": [],
                    "load_start": round(os.getloadavg()[0], 2),
                }
                for r in range(n_resamples):
                    try:
                        run = run_one(
                            method, data, r, log, args.threads, args.cv_folds, args.seed_offset
                        )
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # one failure must not lose the rest of the run
                        entry["error"] = f"{type(exc).__name__}: {exc}"
                        entry["traceback"] = traceback.format_exc()
                        log(f"{d} {n} resample {r}: FAILED {entry['error']}")
                        break
                    entry["runs"].append(run)
                    entry["summary"] = summarise(entry["runs"])
                    entry["load_end"] = run["load_1min"]
                    log(
                        f"{d:10s} {n:10s} resample {r}: acc {run['accuracy']:.3f} macro-F1 "
                        f"{run['macro_f1']:.3f} fit {np.mean(run['fit_s']):.2f} s "
                        f"predict {np.mean(run['predict_s']):.3f} s"
                    )
                    save(report, args.out_dir, args.merge, figure=n in CNN_METHODS)
                save(report, args.out_dir, args.merge)
    except KeyboardInterrupt as exc:
        invocation["load_end"] = list(os.getloadavg())
        save(report, args.out_dir, args.merge)
        log(f"stopped ({exc or 'interrupted'}): the results so far are in {args.out_dir}")
        raise SystemExit(130) from None
    invocation["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    invocation["load_end"] = list(os.getloadavg())
    invocation["wall_s"] = round(time.perf_counter() - t0, 1)
    save(report, args.out_dir, args.merge)
    log(f"done: results in {args.out_dir}")
    return report


if __name__ == "__main__":
    main()
