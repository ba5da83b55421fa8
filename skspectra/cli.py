"""The ``skspectra`` command line: demo, train, predict, evaluate.

Every command has ``--help``. Files are written atomically (a temporary file, then a rename), so
an interrupted command never leaves a half-written model, CSV or figure behind. Every number an
option takes, and every output path, is checked when the command line is parsed, before any
data is read. An interrupted ``train`` (Ctrl-C, or SIGTERM from a batch scheduler) never
replaces the model at ``--out``: it writes what it learned beside it, as
``<name>.partial<suffix>``, and exits with 130 (SIGINT) or 143 (SIGTERM) as a shell would.

The program (``skspectra``, ``python -m skspectra``) runs in a process of its own, so it raises
glibc's allocator thresholds there (:func:`~skspectra.inference.tune_malloc`), which the library
never does in a user's process: freed activation buffers are reused instead of taken from the
kernel again at every step and every chunk (``benchmarks/results/speed.md``: training the
defaults 1.2-1.3x as fast). ``main`` called from Python leaves the allocator alone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import joblib
import numpy as np

from ._cli_types import (
    _UNSET,
    _filters,
    _mixup,
    _number,
    _output_file,
    _output_folder,
    _parse_fractions,
    _validation_split,
    _wavelength,
    _whole,
)
from .inference import BACKENDS, tune_malloc

__all__ = ["main"]

# Demo survey: the contest's classes on its 2600-point grid, with the rare classes made common
# enough that a few thousand spectra hold dozens of each (the contest has 0.28 % quasars).
DEMO_FRACTIONS = {"star": 0.55, "unknown": 0.15, "galaxy": 0.15, "qso": 0.15}


# ---------------------------------------------------------------------------------- helpers
def _write_bytes(path: Path, data: bytes) -> None:
    from .io import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(data))


def _dump_model(model, path: Path) -> None:
    """``.skspectra``: the safe format of :func:`skspectra.save`; anything else: joblib."""
    if path.suffix == ".skspectra":
        from .persistence import save

        path.parent.mkdir(parents=True, exist_ok=True)
        save(model, path)
        return
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    _write_bytes(path, buffer.getvalue())


def _load_model(path: str):
    if Path(path).suffix == ".skspectra":
        from .persistence import load

        return load(path)
    return joblib.load(path)


def _choose_inference(model, choice: str | None) -> None:
    """Set the classifier's ``inference`` for the whole run; None keeps the model's own."""
    from .classifier import SpectrumCNNClassifier

    clf = model[-1] if hasattr(model, "steps") else model
    if choice is not None and isinstance(clf, SpectrumCNNClassifier):
        clf.set_params(inference=choice)


def _try_plot(draw, *args) -> bool:
    try:
        draw(*args)
    except ImportError as exc:
        print(f"note: no figure written ({exc})", file=sys.stderr)
        return False
    return True


def _read(args, labelled: bool, grid: np.ndarray | None = None):
    """Read ``args.data``; with a wavelength ``grid`` (``--wavelength``, or the model's own),
    put the spectra on it: FITS files are resampled as they are read, spectra with a grid of
    their own (an .npz's ``wavelength``) afterwards, and others must have the grid's length."""
    from .io import read_spectra

    kwargs = {"spectra_dir": args.spectra_dir}
    if getattr(args, "split", None):
        kwargs["split"] = args.split
    if getattr(args, "label_key", None):
        kwargs["label_key"] = args.label_key
    if grid is not None and _is_fits(args.data) and args.spectra_dir is None:
        # fill_value=None: a file that does not cover the grid is refused with both ranges.
        kwargs.update(wavelength=grid, fill_value=None)
    data = read_spectra(args.data, **kwargs)
    if labelled and data.y is None:
        raise SystemExit(
            f"error: {args.data} holds no labels; training and evaluation need labelled "
            "spectra (an index with a 'type' column, or arrays X and y)"
        )
    if grid is None or "wavelength" in kwargs:
        return data
    if data.wavelength is not None:
        from .resampling import SpectrumResampler

        X = SpectrumResampler(wavelength=grid).fit_transform(data.X, wavelength=data.wavelength)
        return data._replace(X=X.astype(np.float32), wavelength=grid)
    if data.X.shape[1] != len(grid):
        raise SystemExit(
            f"error: {args.data} has spectra of {data.X.shape[1]} points and no wavelengths, "
            f"but the grid has {len(grid)}: give FITS files or an .npz with a 'wavelength' array"
        )
    return data


def _is_fits(path: str) -> bool:
    from .io._fits import _FITS_SUFFIXES

    return Path(path).is_dir() or str(path).lower().endswith(_FITS_SUFFIXES)


def _grid_of(model) -> np.ndarray | None:
    from .export import wavelength_grid

    return wavelength_grid(model)


def _build_pipeline(args):
    from sklearn.pipeline import make_pipeline

    from .classifier import SpectrumCNNClassifier
    from .scaler import FluxScaler

    params = {}
    if args.filters:
        params["module__filters"] = args.filters
    if args.dropout is not None:
        params["module__dropout"] = args.dropout
    if args.norm is not None:
        params["module__norm"] = None if args.norm == "none" else args.norm
    if args.augment is not None:
        params["augment"] = args.augment
    if args.center is not None:
        params["center"] = {"auto": "auto", "on": True, "off": False}[args.center]
    if args.mixup is not None:
        params["mixup"] = args.mixup
    if args.n_networks is not None:
        params["n_networks"] = args.n_networks
    # Options left unset keep the classifier's defaults.
    if args.batch_size is not None:
        params["batch_size"] = args.batch_size
    if args.validation_split is not _UNSET:
        params["validation_split"] = args.validation_split
    clf = SpectrumCNNClassifier(
        max_epochs=args.epochs,
        f1_epochs=args.f1_epochs,
        lr=args.lr,
        f1_lr=args.f1_lr,
        class_fractions=_parse_fractions(args.class_fractions),
        batches_per_epoch=args.batches_per_epoch,
        random_state=args.seed,
        checkpoint_dir=getattr(args, "checkpoint_dir", None),
        device=args.device,
        verbose=0 if args.quiet else 1,
        **params,
    )
    return make_pipeline(FluxScaler(method=args.scaler), clf)


def _report(y_true, y_pred, labels, out=None) -> dict:
    """Print macro-F1, a per-class table and the confusion matrix; return them as a dict."""
    out = out or sys.stdout
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    macro = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    width = max(8, *(len(str(c)) for c in labels))
    print(f"macro-F1: {macro:.4f}   accuracy: {np.mean(y_true == y_pred):.4f}", file=out)
    print(f"{'class':<{width}}  precision  recall      F1  support", file=out)
    for i, c in enumerate(labels):
        print(
            f"{c!s:<{width}}  {precision[i]:9.3f}  {recall[i]:6.3f}  {f1[i]:6.3f}  {support[i]:7d}",
            file=out,
        )
    print("confusion matrix (rows: true, columns: predicted)", file=out)
    print(" " * width + "  " + " ".join(f"{str(c)[:7]:>7}" for c in labels), file=out)
    for i, c in enumerate(labels):
        print(f"{c!s:<{width}}  " + " ".join(f"{v:7d}" for v in matrix[i]), file=out)
    return {
        "macro_f1": float(macro),
        "accuracy": float(np.mean(y_true == y_pred)),
        "per_class": {
            str(c): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(labels)
        },
        "labels": [str(c) for c in labels],
        "confusion_matrix": matrix.tolist(),
    }


def _save_history(clf, out: Path) -> tuple[Path, Path]:
    rows = [{k: v for k, v in row.items() if k != "batches"} for row in clf.history]
    json_path = out.with_name(out.stem + ".history.json")
    _write_bytes(json_path, json.dumps(rows, indent=1, default=float).encode())
    png_path = out.with_name(out.stem + ".history.png")
    from .plotting import plot_history

    _try_plot(plot_history, rows, png_path)
    return json_path, png_path


# --------------------------------------------------------------------------------- commands
def cmd_demo(args) -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from .datasets import make_spectra
    from .scaler import FluxScaler

    start = time.perf_counter()
    print(f"Making a synthetic survey of {args.n_spectra} spectra x {args.n_points} points ...")
    X, y = make_spectra(
        args.n_spectra,
        n_points=args.n_points,
        class_fractions=DEMO_FRACTIONS,
        random_state=args.seed,
        return_X_y=True,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    counts = dict(zip(*np.unique(y_train, return_counts=True), strict=True))
    print(
        "training set:",
        ", ".join(f"{c} {n}" for c, n in counts.items()),
        f"| test set: {len(y_test)}",
    )

    print("\nBaseline: logistic regression on the same scaled fluxes (FluxScaler())")
    t0 = time.perf_counter()
    baseline = make_pipeline(FluxScaler(), LogisticRegression(max_iter=300, C=0.1))
    baseline.fit(X_train, y_train)
    labels = np.unique(y)
    base = _report(y_test, baseline.predict(X_test), labels)
    print(f"({time.perf_counter() - t0:.0f} s)")

    print(
        f"\nSpectrumCNNClassifier: {args.epochs} cross-entropy epochs, then {args.f1_epochs} "
        "soft macro-F1 epochs"
    )
    pipe = _build_pipeline(args)
    t0 = time.perf_counter()
    pipe.fit(X_train, y_train)
    clf = pipe[-1]
    print(
        f"trained in {time.perf_counter() - t0:.0f} s; kept the weights of epoch "
        f"{clf.best_epoch_} (validation macro-F1 "
        f"{max(clf.history[:, 'valid_f1']) if clf.best_epoch_ else float('nan'):.4f})"
    )
    ours = _report(y_test, pipe.predict(X_test), labels)

    out = Path(args.out)
    _dump_model(pipe, out)
    json_path, png_path = _save_history(clf, out)
    metrics = {
        "cnn": ours,
        "logistic_regression": base,
        "seconds": round(time.perf_counter() - start, 1),
    }
    _write_bytes(out.with_name(out.stem + ".metrics.json"), json.dumps(metrics, indent=1).encode())
    print(
        f"\nmacro-F1 on the test set: SpectrumCNNClassifier {ours['macro_f1']:.4f} vs "
        f"logistic regression {base['macro_f1']:.4f}"
    )
    print(
        f"saved {out} (model), {json_path.name}, {png_path.name}; "
        f"total {time.perf_counter() - start:.0f} s"
    )
    return 0


class _Terminated(Exception):
    """SIGTERM arrived (what a batch scheduler sends before it kills a job)."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`_Terminated` (in the main thread only: signal
    handlers cannot be set elsewhere). The classifier's own handler, set during ``fit``, takes
    precedence there; the signal it raises again once its checkpoint is safe lands here."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _partial_path(out: Path) -> Path:
    """Where an interrupted train writes its model: ``model.partial.skspectra`` beside
    ``model.skspectra`` (the suffix kept, so the format is the same)."""
    return out.with_name(f"{out.stem}.partial{out.suffix}")


def _interrupted(pipe, signal_name: str, out: Path) -> int:
    """Write what an interrupted fit learned beside ``out`` (never over it); return the exit
    status a shell gives a process ended by that signal."""
    partial = _partial_path(out)
    try:
        _dump_model(pipe, partial)
        note = f"the partly trained model is in {partial}"
    except Exception as exc:  # not fitted far enough to save: nothing to keep
        note = f"nothing was saved ({type(exc).__name__}: {exc})"
    kept = "the previous model there is kept" if out.exists() else "nothing was written there"
    print(
        f"interrupted by {signal_name}: {out} was not replaced ({kept}); {note}. Run the same "
        "command again to train from the start (or to resume, with --checkpoint-dir).",
        file=sys.stderr,
    )
    return 130 if signal_name == "SIGINT" else 143


def cmd_train(args) -> int:
    data = _read(args, labelled=True, grid=args.wavelength)
    print(f"read {len(data.X)} spectra x {data.X.shape[1]} points from {args.data}")
    pipe = _build_pipeline(args)
    if args.wavelength is not None:  # the model keeps its grid: predict resamples onto it
        from .resampling import SpectrumResampler

        pipe.steps.insert(0, ("spectrumresampler", SpectrumResampler(wavelength=args.wavelength)))
    out = Path(args.out)
    try:
        pipe.fit(np.asarray(data.X), data.y)
    except KeyboardInterrupt:
        return _interrupted(pipe, "SIGINT", out)
    except _Terminated:
        return _interrupted(pipe, "SIGTERM", out)
    clf = pipe[-1]
    # The classifier returns from an interrupted fit with the best weights so far and says so.
    stopped = getattr(clf, "interrupted_", None)
    if stopped:
        return _interrupted(pipe, stopped if isinstance(stopped, str) else "SIGINT", out)
    _dump_model(pipe, out)
    json_path, png_path = _save_history(clf, out)
    print(
        f"saved {out}; history {json_path}, learning curve {png_path}; best epoch {clf.best_epoch_}"
    )
    return 0


def _predict_on_dask(args, model) -> int:
    """``predict --dask``: the contest layout is read by the workers, other data by this process
    and predicted block by block on the cluster."""
    from .distributed import local_cluster, predict_dask, predict_files
    from .io._predictions import write_predictions

    if args.dask == "local":
        client = local_cluster(n_workers=args.workers or 2, threads_per_worker=1)
    else:
        from distributed import Client

        client = Client(args.dask)
        if args.workers:
            client.wait_for_workers(args.workers, timeout=120)
    with client:
        out = Path(args.out)
        if args.spectra_dir is not None:
            n = predict_files(
                model,
                args.data,
                spectra_dir=args.spectra_dir,
                client=client,
                out_csv=out,
                proba=args.proba,
            )
        else:
            import dask.array as da

            data = _read(args, labelled=False)
            X = da.from_array(np.asarray(data.X), chunks=(args.chunk_size, -1))
            proba = predict_dask(model, X, proba=True).compute()
            labels = np.asarray(model.classes_)[proba.argmax(axis=1)]
            n = write_predictions(
                out, model.classes_, [(data.ids, labels, proba)], proba=args.proba
            )
    print(f"wrote {n} predictions to {args.out}")
    return 0


def cmd_predict(args) -> int:
    from tqdm import tqdm

    from .io._predictions import write_predictions

    model = _load_model(args.model)
    if getattr(args, "dask", None):
        return _predict_on_dask(args, model)
    data = _read(args, labelled=False, grid=_grid_of(model))
    n = len(data.X)
    _choose_inference(model, args.inference)
    classes = np.asarray(model.classes_)

    def chunks():
        # A cached contest read is memory-mapped: only one chunk is in memory at a time.
        with tqdm(total=n, unit="spectra", disable=args.quiet or None, file=sys.stderr) as bar:
            for start in range(0, n, args.chunk_size):
                stop = start + args.chunk_size
                proba = model.predict_proba(np.asarray(data.X[start:stop]))
                bar.update(len(proba))
                yield data.ids[start:stop], classes[proba.argmax(axis=1)], proba

    write_predictions(args.out, classes, chunks(), proba=args.proba)
    print(f"wrote {n} predictions to {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    model = _load_model(args.model)
    grid = _grid_of(model)
    data = _read(args, labelled=True, grid=grid)
    pred = model.predict(np.asarray(data.X))
    labels = np.union1d(model.classes_, np.unique(data.y))
    metrics = _report(np.asarray(data.y), pred, labels)
    if args.plot:
        from .plotting import plot_confusion_matrix

        if _try_plot(
            plot_confusion_matrix,
            np.array(metrics["confusion_matrix"]),
            metrics["labels"],
            Path(args.plot),
            f"macro-F1 {metrics['macro_f1']:.3f}",
        ):
            print(f"confusion matrix plotted in {args.plot}")
    if args.json:
        _write_bytes(Path(args.json), json.dumps(metrics, indent=1).encode())
    if args.explain:
        from .plotting import plot_attributions

        X, y = np.asarray(data.X), np.asarray(data.y)

        def explain(path: Path) -> None:
            plot_attributions(model, X, y, path, wavelength=grid)

        if _try_plot(explain, Path(args.explain)):
            print(f"attributions per wavelength plotted in {args.explain}")
    return 0


# ----------------------------------------------------------------------------------- parser
def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data",
        help="spectra: an index CSV (with --spectra-dir), .npy, .npz, a CSV "
        "of one spectrum per row, FITS files or a folder of them",
    )
    p.add_argument(
        "--spectra-dir",
        help="folder of <id>.txt files (the contest layout); DATA is then the index CSV",
    )
    p.add_argument(
        "--split",
        choices=["train", "test"],
        help="which split of an .npz holding X_train/X_test to read",
    )
    p.add_argument(
        "--label-key",
        help="FITS: the header keyword (or one-row table column) holding each file's label, "
        "e.g. CLASS",
    )


def _add_training(p: argparse.ArgumentParser, epochs: int, f1_epochs: int) -> None:
    g = p.add_argument_group("schedule")
    g.add_argument(
        "--epochs",
        type=_whole(0),
        default=epochs,
        help="phase-1 (cross-entropy) epochs (default %(default)s)",
    )
    g.add_argument(
        "--f1-epochs",
        type=_whole(0),
        default=f1_epochs,
        help="phase-2 (soft macro-F1) epochs (default %(default)s)",
    )
    positive = _number(0, low_open=True)
    g.add_argument("--lr", type=positive, default=1e-3, help="phase-1 learning rate")
    g.add_argument("--f1-lr", type=positive, default=1e-4, help="phase-2 learning rate")
    g.add_argument(
        "--batch-size",
        type=_whole(1),
        help="spectra per training batch (default: the classifier's)",
    )
    g.add_argument(
        "--batches-per-epoch",
        type=_whole(1),
        help="default: one pass over the data (at least 10 batches)",
    )
    g.add_argument(
        "--class-fractions",
        help="'balanced' or label=fraction pairs, e.g. "
        "star=0.8,unknown=0.1,galaxy=0.05,qso=0.05 (default: plain shuffling)",
    )
    g.add_argument(
        "--validation-split",
        type=_validation_split,
        default=_UNSET,
        metavar="{FRACTION,COUNT,0}",
        help="spectra held out and scored every epoch: a fraction such as 0.2, a number of "
        "spectra such as 500, or 0 for none (default: the classifier's)",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--filters",
        type=_filters,
        help="channels per block, e.g. 16,16,32,32,64,64,128,128 (the default)",
    )
    g.add_argument(
        "--dropout",
        type=_number(0, 1, high_open=True),
        help="dropout before the global pool (default 0.1)",
    )
    g.add_argument(
        "--norm",
        choices=["none", "batch"],
        help="normalisation after each convolution (default: the classifier's, module__norm)",
    )
    g.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="perturb training spectra (flux scale, offset, noise, small shifts; default: the "
        "classifier's)",
    )
    g.add_argument(
        "--center",
        choices=["auto", "on", "off"],
        help="subtract the training spectra's mean spectrum; auto: when they are nearly alike "
        "(default: the classifier's)",
    )
    g.add_argument(
        "--mixup",
        type=_mixup,
        metavar="{auto,off,ALPHA}",
        help="mix pairs of training spectra and their labels, Beta(ALPHA, ALPHA); auto: alpha "
        "0.4 when the spectra are centred (default: the classifier's)",
    )
    g.add_argument(
        "--n-networks",
        type=_whole(1),
        metavar="N",
        help="networks trained side by side, predicting their mean probability (default: the "
        "classifier's)",
    )
    g.add_argument(
        "--scaler",
        default="median",
        choices=["median", "zscore", "constant", "max", "l2", "minmax"],
        help="per-spectrum flux scaling (default %(default)s)",
    )
    g.add_argument(
        "--seed", type=_whole(0, 2**32 - 1), default=0, help="random_state (default %(default)s)"
    )
    g.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skspectra",
        description="Classify 1-D spectra with a residual dilated CNN (two-phase training).",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"skspectra {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "demo",
        help="train and score on a synthetic survey, against a logistic regression",
        description="Make a synthetic LAMOST-like survey, "
        "train with the two-phase schedule, report macro-F1 next to a logistic "
        "regression, and save the model.",
    )
    p.add_argument("--n-spectra", type=_whole(8), default=3000)
    p.add_argument("--n-points", type=_whole(8), default=2600)
    p.add_argument(
        "--out",
        type=_output_file,
        default="demo_model.joblib",
        help="model file (default %(default)s)",
    )
    _add_training(p, epochs=6, f1_epochs=3)
    p.set_defaults(func=cmd_demo, batches_per_epoch=None)

    p = sub.add_parser(
        "train",
        help="train on labelled spectra and save the model",
        description="Train a FluxScaler + SpectrumCNNClassifier pipeline; write "
        "the model (joblib), its history (JSON) and a learning-curve PNG.",
    )
    _add_data(p)
    p.add_argument(
        "--out",
        type=_output_file,
        required=True,
        help="model file: model.joblib, or model.skspectra "
        "for the safe format that runs no code when loaded",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=_output_folder,
        help="write a checkpoint after every epoch here; after "
        "an interruption (Ctrl-C, SIGTERM, a crash) the same command resumes",
    )
    p.add_argument(
        "--wavelength",
        type=_wavelength,
        help="the model's wavelength grid, START:STOP:N (add :log for log-linear) or a file of "
        "wavelengths: FITS spectra are resampled onto it (flux-conserving), and so are new "
        "spectra at predict time",
    )
    _add_training(p, epochs=15, f1_epochs=5)  # the classifier's defaults
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "predict",
        help="classify spectra, write id,type rows",
        description="Classify spectra with a saved model and write a CSV of "
        "id,type rows (the contest's submission format), in chunks.",
    )
    p.add_argument("model", help="a model written by 'skspectra train'")
    _add_data(p)
    p.add_argument("--out", type=_output_file, required=True, help="CSV to write")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument(
        "--chunk-size", type=_whole(1), default=4096, help="spectra per chunk (default %(default)s)"
    )
    p.add_argument(
        "--inference",
        choices=BACKENDS,
        help="how the network runs (see the classifier's 'inference'; default: the model's)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="predict on a Dask cluster: a scheduler address (tcp://host:8786), or 'local' "
        "for a local cluster of --workers processes; needs skspectra[dask]",
    )
    p.add_argument(
        "--workers",
        type=_whole(1),
        help="with --dask local: worker processes (default 2); with an address: wait for "
        "this many workers",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "evaluate",
        help="score a saved model on labelled spectra",
        description="Macro-F1, per-class precision / recall / F1 and the "
        "confusion matrix of a saved model on labelled spectra.",
    )
    p.add_argument("model", help="a model written by 'skspectra train'")
    _add_data(p)
    p.add_argument("--plot", type=_output_file, help="write the confusion matrix as a PNG here")
    p.add_argument("--json", type=_output_file, help="write the metrics as JSON here")
    p.add_argument(
        "--explain",
        type=_output_file,
        help="plot which wavelengths decided, per class, over its mean spectrum, as a PNG here",
    )
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with _sigterm_raises():
            return args.func(args)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (SIGINT): nothing was written", file=sys.stderr)
        return 130
    except _Terminated:
        print("interrupted (SIGTERM): nothing was written", file=sys.stderr)
        return 143


def run() -> int:
    """The ``skspectra`` program: :func:`main` in a process of its own, allocator tuned."""
    tune_malloc()
    return main()


if __name__ == "__main__":
    sys.exit(run())
