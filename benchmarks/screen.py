"""Screen candidate configurations of the classifier without touching any test data.

Each candidate (a dict of ``SpectrumCNNClassifier`` parameters; ``{}`` is the default) is
scored by inner stratified k-fold cross-validation on the **training part of resample 0** of
each data set of :mod:`benchmarks.accuracy`: the official training split of a UCR set, the
training part of the first fold of repeat 0 of the other sets. The test rows are never read into
a fit or a prediction (the test suite poisons them with NaN to check). Scores are accuracy and
macro-F1 of the pooled out-of-fold predictions, with the fit time of every fit.

Every screen is recorded with its protocol, command, date, machine, load and code in
``<out-dir>/screens.json`` and ``screens.md``, appended to what earlier screens wrote and
rewritten after every (candidate, data set), so that an interrupted screen keeps what it
measured. A default is chosen on these numbers, never on the accuracy benchmark's test parts.

Run from the repository root::

    python -m benchmarks.screen --candidate '{}' \\
        --candidate '{"n_networks": 1, "validation_split": null}' --datasets coffee,beef
    python -m benchmarks.screen --candidates-file candidates.json   # a JSON list of dicts
    python -m benchmarks.screen --quick --candidate '{}'            # coffee, 2 folds
    python -m benchmarks.screen --render-only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import VotingClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback
from torch.optim import swa_utils

from skspectra import (
    FluxScaler,
    SpectrumAugmentation,
    SpectrumCNNClassifier,
    SpectrumResNet,
    make_spectra,
)
from skspectra.presets import blended_pipeline

from ._machine import machine_info
from .accuracy import (
    ALIASES,
    DATASETS,
    REPO,
    UCR_SETS,
    Dataset,
    _jsonable,
    _load,
    _parse_names,
    _write_text,
    code_state,
    fit_predict,
    load_dataset,
    locked,
    resample_splits,
)

INNER_FOLDS = 5
INNER_SEED = 0


# Steps a candidate may put between FluxScaler and the classifier: {"_before": "standard"}.
BEFORE = {"standard": StandardScaler}

# A development collection, declared before its first screen and never reported on: a
# make_spectra survey of another draw than the accuracy benchmark's (random_state=0), its
# spectra screened as a whole (it has no test part to keep out). Its unclassifiable quarter
# carries the cosmic rays and dead pixels of real survey spectra.
DEV_SURVEY = dict(
    n_spectra=600,
    n_points=800,
    class_fractions={"star": 0.25, "galaxy": 0.25, "qso": 0.25, "unknown": 0.25},
    random_state=100,
)
# A second development set, declared on 2026-12-05 before its first screen and never reported
# on: the Pickles (1998) stellar library, 131 spectra of 4,771 points in 7 MK classes (O has 3),
# screened as a whole. Many classes and a rare one, which the UCR training splits lack.
DEV_STARS = "pickles_stellar_library.npz"
DEV_SETS = ("dev-survey", "dev-stars")


class LinearPathResNet(SpectrumResNet):
    """A screening candidate: :class:`~skspectra.SpectrumResNet` plus a linear map of the
    whole input spectrum added to its logits, trained with it (zero at the start, so the
    first step is the network's). On 20-60 training spectra a logistic regression beat the
    network on Beef (0.810 against 0.633); here the network may lean on such a term where it
    helps. Predictions run the module's own forward (the fast paths know only SpectrumResNet).
    """

    def __init__(self, n_classes: int, n_points: int, in_channels: int = 1, **kwargs):
        super().__init__(n_classes, n_points, in_channels=in_channels, **kwargs)
        self.linear = torch.nn.Linear(in_channels * n_points, n_classes)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + self.linear(x.flatten(1))


def _dropped_map(net: SpectrumResNet, x: torch.Tensor) -> torch.Tensor:
    """The network's last feature map ``(N, C, L)`` after its dropout, before the pool."""
    h = net._features(x.unsqueeze(1) if x.dim() == 2 else x)
    if net.spatial_dropout:
        return net.dropout(h.transpose(1, 2)).transpose(1, 2)
    return net.dropout(h)


class MeanPoolResNet(SpectrumResNet):
    """A screening candidate: :class:`~skspectra.SpectrumResNet` with a global average pool
    over length in place of the contest network's global max pool, as the ResNet and FCN of
    Wang, Yan & Oates 2017 have (Beef 0.753 and 0.680 on the official split in Ismail Fawaz et
    al. 2019)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(_dropped_map(self, x).mean(dim=2))


class MaxMeanPoolResNet(SpectrumResNet):
    """A screening candidate: :class:`~skspectra.SpectrumResNet` whose dense head reads both
    the global max and the global average over length (twice the inputs)."""

    def __init__(self, n_classes: int, n_points: int, hidden_units: int | None = 128, **kwargs):
        super().__init__(n_classes, n_points, hidden_units=hidden_units, **kwargs)
        first = self.head[0] if hidden_units else self.head
        wide = torch.nn.Linear(2 * first.in_features, first.out_features)
        if hidden_units:
            self.head[0] = wide
        else:
            self.head = wide

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _dropped_map(self, x)
        return self.head(torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1))


class BinnedResNet(SpectrumResNet):
    """A screening candidate: :class:`~skspectra.SpectrumResNet` with ``max_points=1024``
    (spectra averaged in bins of ``ceil(n_points / 1024)`` points before the first block). It
    changes only longer spectra (UCR Rock, 2,844 points: bins of 3; dev-stars, 4,771: 5). The
    bound 1,024 was set before the screen, not chosen by it."""

    def __init__(self, n_classes: int, n_points: int, **kwargs):
        super().__init__(n_classes, n_points, **{"max_points": 1024, **kwargs})


class WeightAverage(Callback):
    """A screening candidate: stochastic weight averaging (Izmailov et al. 2018,
    arXiv:1803.05407) along the default's own training. The weights at the end of every epoch
    from epoch ``start`` (1-based) on are averaged uniformly
    (:class:`torch.optim.swa_utils.AveragedModel`); when training ends the network takes the
    average and its batch-norm statistics are measured again on the clean training spectra
    (:func:`torch.optim.swa_utils.update_bn`). The steps are the default's, so a screen
    against the default's rows of the same seeds isolates the averaging."""

    def __init__(self, start: int = 8):
        self.start = start

    def on_train_begin(self, net, **kwargs):
        self.average_ = None

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) < self.start:
            return
        if self.average_ is None:
            self.average_ = swa_utils.AveragedModel(net.module_)
        self.average_.update_parameters(net.module_)

    def on_train_end(self, net, X=None, **kwargs):
        if self.average_ is None or getattr(net, "interrupted_", None) is not None:
            return
        net.module_.load_state_dict(self.average_.module.state_dict())
        self.average_ = None
        with torch.no_grad():
            batches = [xi["X"] for xi, _ in net.get_iterator(X, training=False)]
        swa_utils.update_bn(batches, net.module_)


# Networks a candidate may name: {"_module": "linear-path"}.
MODULES = {
    "linear-path": LinearPathResNet,
    "mean-pool": MeanPoolResNet,
    "max-mean-pool": MaxMeanPoolResNet,
    "binned": BinnedResNet,
}


def build_candidate(params: dict, seed: int) -> Pipeline | VotingClassifier:
    """The pipeline a candidate stands for: ``FluxScaler(**params["_scaler"])``, the step
    named by its ``"_before"`` key if any, then the classifier with the other ``params``
    (``"_augment"``: the strengths of its ``SpectrumAugmentation``; ``"_module"``: a network
    of :data:`MODULES`; ``"_average_from"``: :class:`WeightAverage` from that epoch).
    ``"_blend": true`` stands for :func:`skspectra.presets.blended_pipeline` with the other
    ``params``."""
    params = dict(params)
    if params.pop("_blend", False):
        return blended_pipeline(random_state=seed, **params)
    scaler = FluxScaler(**params.pop("_scaler", {}))
    before = [BEFORE[params.pop("_before")]()] if "_before" in params else []
    if "_module" in params:
        params["module"] = MODULES[params.pop("_module")]
    if "_average_from" in params:
        params["callbacks"] = [("screen_average", WeightAverage(params.pop("_average_from")))]
    if "_augment" in params:
        params["augment"] = SpectrumAugmentation(**params.pop("_augment"))
    clf = SpectrumCNNClassifier(random_state=seed, **params)
    return make_pipeline(scaler, *before, clf)


def screened_spectra(name: str, data_dir: Path, cv_folds: int) -> tuple[np.ndarray, np.ndarray]:
    """The spectra a screen may see: the training part of resample 0 of a benchmark set
    (:func:`training_part`), or the whole of a development set (``"dev-survey"``,
    ``"dev-stars"``)."""
    if name == "dev-survey":
        return make_spectra(**DEV_SURVEY, return_X_y=True)
    if name == "dev-stars":
        path = Path(data_dir) / DEV_STARS
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: pass --data-dir")
        with np.load(path) as data:
            return data["X"].astype(np.float32), data["y"]
    data = load_dataset(DATASETS[name], data_dir, {})
    return training_part(data, cv_folds)  # nothing else of `data` leaves this function


def training_part(data: Dataset, cv_folds: int) -> tuple[np.ndarray, np.ndarray]:
    """The spectra and labels of the training part of resample 0, and nothing else.

    Parameters
    ----------
    data : Dataset
        A data set of :mod:`benchmarks.accuracy`.
    cv_folds : int
        Folds of the benchmark's cross-validation on sets without an official split.

    Returns
    -------
    X, y : ndarray
        Copies of the training rows of resample 0 (of its first fold on a CV set).
    """
    train, _ = resample_splits(data, 0, cv_folds)[0]
    return data.X[train].copy(), data.y[train].copy()


def inner_cv(
    build: Callable[[int], object],
    X: np.ndarray,
    y: np.ndarray,
    folds: int,
    seeds: list[int],
    threads: int = 1,
) -> dict:
    """Accuracy and macro-F1 of pooled out-of-fold predictions of k-fold CV on ``(X, y)``.

    The folds are ``StratifiedKFold(folds, shuffle=True, random_state=INNER_SEED)``, the same
    for every candidate and seed; a class with fewer members than folds is missing from some.
    """
    cv = StratifiedKFold(folds, shuffle=True, random_state=INNER_SEED)
    runs = []
    caught: dict[str, int] = {}
    for seed in seeds:
        pred = np.empty_like(y)
        fit_s = []
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class")
            splits = list(cv.split(X, y))
        for inner_train, inner_test in splits:
            _, p, t_fit, _, record = fit_predict(
                lambda seed=seed: build(seed), X[inner_train], y[inner_train], X[inner_test],
                threads,
            )  # fmt: skip
            pred[inner_test] = p
            fit_s.append(round(t_fit, 3))
            for w in record:
                key = f"{w.category.__name__}: {str(w.message)[:200]}"
                caught[key] = caught.get(key, 0) + 1
        runs.append(
            {
                "seed": seed,
                "accuracy": float(accuracy_score(y, pred)),
                "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
                "fit_s": fit_s,
            }
        )
    result: dict = {"runs": runs, "n_train": int(len(y)), "warnings": caught}
    for key in ("accuracy", "macro_f1"):
        values = np.array([r[key] for r in runs])
        result[key] = {
            "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        }
    result["fit_s_median"] = float(np.median([t for r in runs for t in r["fit_s"]]))
    return result


# --------------------------------------------------------------------------- records
def _label(params: dict) -> str:
    return json.dumps(params, sort_keys=True) if params else "{} (default)"


def markdown(record: dict) -> str:
    """Every screen of ``record`` as Markdown, oldest first."""
    lines = [
        "# Screens: candidate defaults scored by inner cross-validation on training parts",
        "",
        "Written by `python -m benchmarks.screen`. Each candidate is scored by stratified k-fold "
        "cross-validation inside the training part of resample 0 of each set (the official "
        "training split of a UCR set; the training part of fold 1 of repeat 0 elsewhere); no "
        "test spectrum of the accuracy benchmark is read. Cells: macro-F1 / accuracy of the "
        "pooled out-of-fold predictions (mean over seeds); fit time: median seconds per fit "
        "on the shared 2-core machine (one thread).",
    ]
    if record.get("decisions"):  # which default each screen settled, written by hand
        lines += ["", "## What the screens decided", ""]
        lines += [f"- {d}" for d in record["decisions"]]
    for screen in record["screens"]:
        proto, m = screen["protocol"], screen["machine"]
        sets = proto["datasets"]
        lines += [
            "",
            f"## Screen of {screen['started']}" + ("" if screen["finished"] else " (unfinished)"),
            "",
            f"`python -m benchmarks.screen {' '.join(screen['argv'])}`",
            "",
            f"Protocol: {proto['text']} Seeds {proto['seeds']}. Machine: {m['cpu']}, "
            f"{m['usable_cores']} usable cores, {screen['threads']} thread(s); load average "
            f"{_load(screen['load_start'])} at the start, "
            f"{_load(screen['load_end']) if screen.get('load_end') else '-'} at the end. Code "
            f"{screen['code']['head']}, classifier {screen['code']['classifier_commit']}.",
            "",
            "| candidate | " + " | ".join(sets) + " | mean F1 | mean acc | fit s |",
            "|---" + "|---:" * (len(sets) + 3) + "|",
        ]
        for cand in screen["candidates"]:
            res = cand["results"]
            cells = []
            for d in sets:
                r = res.get(d)
                if r is None:
                    cells.append("")
                elif "error" in r:
                    cells.append("error")
                else:
                    cells.append(f"{r['macro_f1']['mean']:.3f} / {r['accuracy']['mean']:.3f}")
            done = [res[d] for d in sets if d in res and "error" not in res[d]]
            complete = len(done) == len(sets)
            mean_f1 = f"{np.mean([r['macro_f1']['mean'] for r in done]):.3f}" if complete else ""
            mean_acc = f"{np.mean([r['accuracy']['mean'] for r in done]):.3f}" if complete else ""
            fit = f"{np.median([r['fit_s_median'] for r in done]):.1f}" if done else ""
            lines.append(
                f"| `{cand['label']}` | " + " | ".join(cells) + f" | {mean_f1} | {mean_acc} | "
                f"{fit} |"
            )
        if screen.get("note"):
            lines += ["", f"Note: {screen['note']}"]
    return "\n".join(lines) + "\n"


def save(screen: dict, out_dir: Path) -> dict:
    """Put ``screen`` (replacing its earlier state) into screens.json; rewrite screens.md."""
    path = out_dir / "screens.json"
    with locked(out_dir):
        record = json.loads(path.read_text()) if path.exists() else {"screens": []}
        record["screens"] = [s for s in record["screens"] if s["id"] != screen["id"]]
        record["screens"].append(screen)
        record["screens"].sort(key=lambda s: s["id"])
        _write_text(path, json.dumps(record, indent=1) + "\n")
        _write_text(out_dir / "screens.md", markdown(record))
    return record


def _candidates(args) -> list[dict]:
    found = [json.loads(text) for text in args.candidate or []]
    if args.candidates_file:
        loaded = json.loads(Path(args.candidates_file).read_text())
        found += loaded if isinstance(loaded, list) else [loaded]
    for c in found:
        if not isinstance(c, dict):
            raise SystemExit(f"a candidate must be a JSON object of classifier params, not {c!r}")
    return found or [{}]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(
        description="Score classifier configurations by inner CV on training parts only."
    )
    p.add_argument(
        "--candidate",
        action="append",
        help="JSON dict of SpectrumCNNClassifier params, e.g. '{\"n_networks\": 1}' (repeat it)",
    )
    p.add_argument("--candidates-file", help="a JSON file: a list of such dicts")
    p.add_argument(
        "--datasets", help=f"comma-separated, among {[*DATASETS, *DEV_SETS]} (default UCR)"
    )
    p.add_argument(
        "--folds", type=int, default=None, help=f"inner CV folds (default {INNER_FOLDS})"
    )
    p.add_argument("--seeds", type=int, default=1, help="random_state 0..seeds-1 per candidate")
    p.add_argument(
        "--first-seed", type=int, default=0, help="start the seeds there: more seeds later"
    )
    p.add_argument("--cv-folds", type=int, default=5, help="the benchmark's folds on CV sets")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--note", default="", help="why this screen was run (kept in the record)")
    p.add_argument("--quick", action="store_true", help="coffee and 2 inner folds unless given")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--render-only", action="store_true", help="rewrite screens.md from the JSON")
    args = p.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        record = json.loads((args.out_dir / "screens.json").read_text())
        _write_text(args.out_dir / "screens.md", markdown(record))
        return record
    if args.quick:
        args.folds = args.folds or 2
        args.datasets = args.datasets or "coffee"
    args.folds = args.folds or INNER_FOLDS
    asked = (args.datasets or ",".join(UCR_SETS)).split(",")
    names = [n for n in asked if n not in DEV_SETS]
    datasets = _parse_names(",".join(names), DATASETS, ALIASES) if names else []
    if "synthetic" in datasets:
        raise SystemExit(
            "the benchmark's synthetic survey is not screened: choose real sets or dev-survey "
            f"(make_spectra(**{DEV_SURVEY}), declared for development)"
        )
    datasets += [n for n in DEV_SETS if n in asked]
    candidates = _candidates(args)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    torch.set_num_threads(args.threads)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    screen = {
        "id": f"{dt.datetime.now(dt.timezone.utc).isoformat()} pid {os.getpid()}",
        "argv": list(sys.argv[1:] if argv is None else argv),
        "started": started,
        "finished": None,
        "threads": args.threads,
        "note": args.note,
        "protocol": {
            "text": (
                f"inner StratifiedKFold({args.folds}, shuffle=True, random_state={INNER_SEED}) "
                "on the training part of resample 0 (UCR: the official training split; other "
                f"sets: fold 1 of StratifiedKFold({args.cv_folds}, shuffle=True, "
                f"random_state=0); dev-survey: all of make_spectra(**{DEV_SURVEY}), a draw "
                f"declared for development and never reported; dev-stars: all of {DEV_STARS}, "
                "declared for development on 2026-12-05 and never reported); pooled "
                "out-of-fold predictions; "
                "pipeline FluxScaler(**candidate['_scaler']) -> "
                "[the step named by a candidate's _before key] -> "
                "SpectrumCNNClassifier(random_state=seed, **candidate) (_module: the network "
                "class of that name in benchmarks/screen.py: MODULES; a candidate with "
                "_blend: skspectra.presets.blended_pipeline(random_state=seed, **candidate))."
            ),
            "inner_folds": args.folds,
            "seeds": seeds,
            "datasets": datasets,
            "classifier_defaults": _jsonable(SpectrumCNNClassifier().get_params(deep=False)),
        },
        "load_start": list(os.getloadavg()),
        "load_end": None,
        "machine": machine_info(),
        "code": code_state(),
        "candidates": [{"params": c, "label": _label(c), "results": {}} for c in candidates],
    }
    t0 = time.perf_counter()
    for d in datasets:
        X, y = screened_spectra(d, args.data_dir, args.cv_folds)
        for cand in screen["candidates"]:
            try:
                result = inner_cv(
                    lambda s, c=cand["params"]: build_candidate(c, s),
                    X,
                    y,
                    args.folds,
                    seeds,
                    args.threads,
                )
            except KeyboardInterrupt:
                screen["load_end"] = list(os.getloadavg())
                save(screen, args.out_dir)
                raise SystemExit(130) from None
            except Exception as exc:  # a candidate the classifier rejects: record, go on
                result = {"error": f"{type(exc).__name__}: {exc}", "tb": traceback.format_exc()}
            cand["results"][d] = result
            text = result.get("error") or (
                f"macro-F1 {result['macro_f1']['mean']:.3f} acc {result['accuracy']['mean']:.3f}"
                f" fit {result['fit_s_median']:.1f} s"
            )
            print(
                f"[{time.perf_counter() - t0:7.0f} s] {d:10s} {cand['label']}: {text}", flush=True
            )
            screen["load_end"] = list(os.getloadavg())
            save(screen, args.out_dir)
    screen["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    screen["load_end"] = list(os.getloadavg())
    return save(screen, args.out_dir)


if __name__ == "__main__":
    main()
