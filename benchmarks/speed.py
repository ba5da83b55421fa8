"""Benchmark: how fast skspectra predicts and trains, against this CPU's own arithmetic limit.

One run measures, each group in a fresh worker process (so that one backend's allocator
state, compiled code or threads never flatter another's):

- ``matmul``: the machine's float32 matrix-multiply rate (GFLOP/s, 2048 x 2048, torch). With
  the network's FLOPs per spectrum it gives the arithmetic limit in spectra/s;
- ``raw eager``: the plain forward of the default network, ``module(x)`` under
  ``torch.no_grad()``, the whole batch at once, glibc's allocator untouched: the baseline;
- ``predict_proba`` of a fitted ``SpectrumCNNClassifier`` with each ``inference`` backend
  (``eager``, the default, ``compile``, ``onnxruntime``) at batch sizes 1 to 1024, the call
  repeated (so a backend's one-off compile or export is reported apart, as ``first_call_s``),
  ``eager+freed``: the default in a process that has freed one ordinary 25 MB array first
  (glibc's thresholds then rise by themselves; the predictor's first call now does the same,
  :func:`skspectra.inference._settle_heap`), and ``eager+malloc``: the default after the
  opt-in :func:`skspectra.inference.tune_malloc`;
- ``catalogue``: one ``predict_proba`` call on many spectra (the default backend), first and
  second call, and the peak memory above the input's own size, for two sizes;
- ``stream``: many ``predict_proba`` calls with the default backend, of 128 spectra each (a
  survey classified batch by batch) and of one spectrum each (a server): the rate of the first
  and of the last calls, the slowest call and the rate over all of them;
- ``train``: training spectra/s of each phase (cross-entropy, soft macro-F1) at batch 160, of
  the seed network (the one Keras trains: no batch normalisation, no augmentation) as the
  library runs it and after the opt-in ``tune_malloc()``, and of skspectra's defaults, as a
  user's process runs them and after ``tune_malloc()`` (what the ``skspectra`` program sets);
- ``keras``: the seed network in Keras 3 on TensorFlow, trained and run at batch 160, when an
  interpreter with them is given (``--keras-python``; skipped when they are not installed).

Every rate is the median of ``--repeats`` timed calls after an untimed one; with ``--rounds``
above 1 every group runs that many times, interleaved, and the median over rounds is kept.
Results: ``<out-dir>/speed.json``, ``speed.md`` (with the fraction of the FLOP limit) and
``speed.png`` (needs matplotlib), with the CPU, cores, load and versions.

Run from the repository root::

    python -m benchmarks.speed                        # about 10 minutes on 2 cores
    python -m benchmarks.speed --keras-python /path/to/venv-with-tensorflow/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BATCHES = (1, 2, 8, 32, 128, 512, 1024)
BACKENDS = ("eager", "eager+freed", "eager+malloc", "compile", "onnxruntime")
FREED_MB = 25  # an ordinary array glibc maps on its own (over 128 kB, under 32 MB), then freed
TRAIN_BATCH = 160
TRAIN_GROUPS = ("train", "train+malloc", "train-default", "train-default+malloc")
STREAM_WINDOW = 20  # calls at the start and at the end of a stream whose rates are reported
# The classifier parameters that make the network of SEED_MODEL.md, as the Keras comparison
# trains it (benchmarks/_keras_speed.py); their values come from skspectra.presets.SEED_PARAMS.
SEED_NETWORK_PARAMS = ("module__norm", "module__dropout", "module__spatial_dropout", "augment")
# Every network here sees every point (max_points=None), as before max_points existed: the
# figures measure the contest-sized network on 2,600 points and stay comparable over time. The
# default would average such spectra in bins of 3 first, a third of the work.
EVERY_POINT = {"module__max_points": None}


# ---------------------------------------------------------------------- worker side
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _rate(run, n: int, repeats: int) -> tuple[float, float, int]:
    """(first call in s, median spectra/s of ``repeats`` more calls, median minor page faults
    per call: memory the call touched for the first time, fresh from the kernel)."""
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    times, faults = [], []
    for _ in range(repeats):
        before = _minor_faults()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        faults.append(_minor_faults() - before)
    return first, n / statistics.median(times), statistics.median_low(faults)


def _repeats_for(batch: int, n_points: int, repeats: int) -> int:
    # Small batches run fast: repeat them more so each timing covers a few hundred spectra.
    return max(repeats, min(64, (256 * 2600) // (batch * n_points)))


def network_flops(n_points: int, n_classes: int = 4) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass of the default network, by counting
    every convolution and linear layer's multiply-adds with forward hooks."""
    import torch

    from skspectra.network import SpectrumResNet

    net = SpectrumResNet(n_classes, n_points, max_points=None).eval()
    macs = []

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv1d):
            per_output = module.in_channels // module.groups * module.kernel_size[0]
            macs.append(output.numel() * per_output)
        else:
            macs.append(output.numel() * module.in_features)

    for m in net.modules():
        if isinstance(m, torch.nn.Conv1d | torch.nn.Linear):
            m.register_forward_hook(hook)
    with torch.no_grad():
        # The modules one by one on an (N, C, L) map, so that every convolution's hook fires
        # (the CPU forward computes them on channels-last maps from their weights).
        net.head(net.features(torch.zeros(1, 1, n_points)).amax(dim=2))
    return 2.0 * sum(macs)


def _fitted(n_points: int, inference: str = "eager"):
    """A default classifier fitted for a moment: its speed does not depend on its weights."""
    from skspectra import SpectrumCNNClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, n_points)).astype(np.float32)
    y = np.arange(32) % 4
    clf = SpectrumCNNClassifier(
        max_epochs=1,
        f1_epochs=0,
        batches_per_epoch=1,
        batch_size=8,
        validation_split=None,
        random_state=0,
        inference=inference,
        **EVERY_POINT,
    )
    return clf.fit(X, y)


def worker(group: str, cfg: dict) -> dict:
    import torch

    n_points, repeats = cfg["n_points"], cfg["repeats"]
    rng = np.random.default_rng(1)
    out: dict = {"group": group, "torch_threads": torch.get_num_threads()}
    if group.endswith("+malloc"):  # the opt-in allocator tuning, before anything runs
        from skspectra.inference import tune_malloc

        out["malloc_tuned"] = tune_malloc()
        group = group.removesuffix("+malloc")
    if group.endswith("+freed"):
        # Free one mapped array of 20-32 MB, as any NumPy array of that size is: glibc then
        # raises its mmap threshold to that size and keeps up to twice it of freed heap,
        # enough for a chunk's activations (the process-by-process table).
        np.ones(FREED_MB * 2**20 // 8).sum()
        group = group.removesuffix("+freed")
    if group == "matmul":
        a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
        _, rate, _ = _rate(lambda: a @ b, 1, 20)
        out["gflops"] = 2 * 2048**3 * rate / 1e9
    elif group == "raw":
        from skspectra.network import SpectrumResNet

        net = SpectrumResNet(4, n_points, max_points=None).eval()
        out["rates"] = {}
        for batch in cfg["batches"]:
            x = torch.from_numpy(rng.normal(size=(batch, 1, n_points)).astype(np.float32))

            def run(x=x):
                with torch.no_grad():
                    net(x)

            _, rate, _ = _rate(run, batch, _repeats_for(batch, n_points, repeats))
            out["rates"][str(batch)] = rate
    elif group.startswith("predict:"):
        clf = _fitted(n_points, group.split(":", 1)[1])
        out["rates"], out["first_call_s"], out["faults_per_call"] = {}, {}, {}
        for batch in cfg["batches"]:
            X = rng.normal(size=(batch, n_points)).astype(np.float32)
            first, rate, faults = _rate(
                lambda X=X: clf.predict_proba(X), batch, _repeats_for(batch, n_points, repeats)
            )
            out["rates"][str(batch)], out["first_call_s"][str(batch)] = rate, first
            out["faults_per_call"][str(batch)] = faults
    elif group.startswith("catalogue:"):
        n = int(group.split(":", 1)[1])
        clf = _fitted(n_points, cfg["catalogue_backend"])
        X = rng.normal(size=(n, n_points)).astype(np.float32)
        before = _peak_rss_mb()
        start = time.perf_counter()
        clf.predict_proba(X)
        out["first_call_s"] = time.perf_counter() - start
        start = time.perf_counter()
        clf.predict_proba(X)
        out["second_call_s"] = time.perf_counter() - start
        out["spectra_per_s"] = n / out["second_call_s"]
        out["input_mb"] = X.nbytes / 2**20
        out["peak_rss_growth_mb"] = _peak_rss_mb() - before
    elif group.startswith("stream:"):
        _, batch, n = group.split(":")
        batch = int(batch)
        n_calls = max(int(n) // batch, 2 * STREAM_WINDOW)
        clf = _fitted(n_points)
        X = rng.normal(size=(batch, n_points)).astype(np.float32)
        times = []
        for _ in range(n_calls):
            start = time.perf_counter()
            clf.predict_proba(X)
            times.append(time.perf_counter() - start)
        out["batch"] = batch
        out["spectra"] = n_calls * batch
        out["total_s"] = sum(times)
        out["spectra_per_s"] = out["spectra"] / out["total_s"]
        out["first_calls_spectra_per_s"] = batch / statistics.median(times[:STREAM_WINDOW])
        out["last_calls_spectra_per_s"] = batch / statistics.median(times[-STREAM_WINDOW:])
        out["slowest_call_s"] = max(times)
        out["slowest_call_at_spectra"] = (times.index(max(times)) + 1) * batch
    elif group in ("train", "train-default"):
        from skspectra import SpectrumCNNClassifier
        from skspectra.presets import SEED_PARAMS

        n_batches = cfg["train_batches"]
        X = rng.normal(size=(TRAIN_BATCH * 2, n_points)).astype(np.float32)
        y = np.arange(len(X)) % 4
        # "train" (and "train+malloc"): the seed's network (no batch normalisation, no
        # augmentation), the network Keras trains; "train-default": skspectra's defaults.
        seed_network = {k: SEED_PARAMS[k] for k in SEED_NETWORK_PARAMS}
        if group == "train-default":
            seed_network = {}
        clf = SpectrumCNNClassifier(
            max_epochs=cfg["train_epochs"],
            f1_epochs=cfg["train_epochs"],
            batch_size=TRAIN_BATCH,
            batches_per_epoch=n_batches,
            validation_split=None,
            random_state=0,
            **seed_network,
            **EVERY_POINT,
        ).fit(X, y)
        for phase, name in ((1, "cross_entropy"), (2, "soft_f1")):
            durs = [row["dur"] for row in clf.history if row["phase"] == phase][1:]
            out[name] = TRAIN_BATCH * n_batches / statistics.median(durs)
    else:
        raise ValueError(f"unknown group {group!r}")
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


# ---------------------------------------------------------------------- driver side
def _run_worker(group: str, cfg: dict, env: dict | None = None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.speed", "--worker", group, "--config", json.dumps(cfg)]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        return {"group": group, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_keras(python: str, n_points: int) -> dict:
    done = subprocess.run(
        [
            python,
            "-m",
            "benchmarks._keras_speed",
            "--n-points",
            str(n_points),
            "--batch",
            str(TRAIN_BATCH),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"available": False, "reason": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


def _median_merge(results: list[dict]) -> dict:
    """One group's rounds merged: the median of every number, key by key, over the rounds that
    worked (a Keras round without Keras, ``available: False``, or a worker's ``error``) and
    have the key; whole numbers (counts, positions) take the lower median, one of the values."""
    usable = [r for r in results if "error" not in r and r.get("available", True)]
    if len(usable) <= 1:
        return (usable or results)[0]
    merged: dict = {}
    for key, value in usable[0].items():
        values = [r[key] for r in usable if key in r]
        if isinstance(value, dict):
            merged[key] = _median_merge([v for v in values if isinstance(v, dict)])
        elif isinstance(value, bool) or not isinstance(value, int | float):
            merged[key] = value
        elif all(isinstance(v, int) for v in values):
            merged[key] = statistics.median_low(values)
        else:
            merged[key] = statistics.median(values)
    return merged


def training_ratios(ours: list[dict], keras: list[dict]) -> list[list[float]]:
    """Round by round, skspectra's training rate over the Keras run of the same round: one
    ``[phase 1, phase 2]`` pair per round where both ran (the machine's noise, seen in one run)."""
    pairs = []
    for mine, theirs in zip(ours, keras, strict=True):
        if "cross_entropy" in mine and theirs.get("available") and "train_spectra_per_s" in theirs:
            rate = theirs["train_spectra_per_s"]
            pairs.append([mine["cross_entropy"] / rate, mine["soft_f1"] / rate])
    return pairs


def _stream(text: str) -> str:
    """A ``--streams`` value, BATCH:SPECTRA with two positive whole numbers."""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected BATCH:SPECTRA, e.g. 128:40960, got {text!r}")
    return text


def _rows(entries: dict, row) -> list[str]:
    """Table rows, ``row(name, entry)`` for each entry that worked, "failed" for the others."""
    return [
        f"| {name} | failed: {entry['error']} |" if "error" in entry else row(name, entry)
        for name, entry in entries.items()
    ]


def _rounds_table(result: dict) -> list[str]:
    """Each round's worker process apart, for ``predict_proba``: its rate and the page faults
    per call, which tell a process whose allocator hands freed memory back to the system (and
    takes it again, zeroed, on the next call) from one that reuses it."""
    limit, batches = result["flop_limit_spectra_per_s"], result["config"]["batches"]
    entries = {k: v for k, v in result.get("predict_rounds", {}).items() if len(v) > 1}
    if not entries:
        return []
    lines = [
        "",
        "## `predict_proba` process by process",
        "",
        "Each round is a fresh process. Cell: spectra/s (fraction of the limit), minor page "
        "faults per call (median); a page fault takes a fresh, zeroed page from the kernel "
        "(4 kB, or 2 MB where it gives transparent huge pages).",
        "",
        "| method | round | " + " | ".join(f"batch {b}" for b in batches) + " |",
        "|---|---|" + "---|" * len(batches),
    ]
    for name, rounds in entries.items():
        for i, entry in enumerate(rounds, 1):
            cells = [
                f"{entry['rates'][str(b)]:.0f} ({entry['rates'][str(b)] / limit:.0%}), "
                f"{entry['faults_per_call'][str(b)]:,}"
                for b in batches
            ]
            lines.append(f"| {name} | {i} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(result: dict) -> str:
    limit = result["flop_limit_spectra_per_s"]
    batches = result["config"]["batches"]
    lines = [
        "# Speed: predict and train, against the CPU's arithmetic limit",
        "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['usable_cores']} cores, "
        f"torch {result['machine']['versions'].get('torch')} "
        f"({result['machine'].get('torch_threads')} threads), load average "
        f"{result['machine']['load_average_1min']:.2f} at the start; "
        f"{result['finished']}.",
        f"Command: `{result['command']}`",
        "",
        f"Network: the default `SpectrumResNet` (the seed), {result['config']['n_points']} "
        f"points, {result['flops_per_spectrum'] / 1e6:.1f} MFLOP per spectrum. Matrix multiply: "
        f"{result['matmul_gflops']:.0f} GFLOP/s, so the arithmetic limit is **{limit:.0f} "
        "spectra/s**. Each cell: spectra/s (fraction of the limit), median of repeated calls "
        "after an untimed first call.",
        "",
        "| method | " + " | ".join(f"batch {b}" for b in batches) + " | first call (s) |",
        "|---|" + "---|" * (len(batches) + 1),
    ]
    for name, entry in result["inference"].items():
        if "error" in entry:
            lines.append(f"| {name} | failed: {entry['error']} |")
            continue
        cells = [
            f"{entry['rates'][str(b)]:.0f} ({entry['rates'][str(b)] / limit:.0%})" for b in batches
        ]
        first = entry.get("first_call_s", {})
        first_cell = f"{max(first.values()):.1f}" if first else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {first_cell} |")
    raw = result["inference"].get("raw eager", {}).get("rates")
    default = result["inference"].get("predict_proba eager", {}).get("rates")
    if raw and default:
        ratios = ", ".join(f"{b}: {default[str(b)] / raw[str(b)]:.2f}x" for b in batches)
        lines += ["", f"`predict_proba` (default) over the raw eager forward, by batch: {ratios}."]
    lines += _rounds_table(result)
    lines += [
        "",
        "## One call on a catalogue (default `inference`)",
        "",
        "| spectra | first call (s) | second call (s) | spectra/s | fraction of limit | "
        "input (MB) | peak memory above it (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += _rows(
        result["catalogue"],
        lambda n, entry: (
            f"| {n} | {entry['first_call_s']:.1f} | {entry['second_call_s']:.1f} | "
            f"{entry['spectra_per_s']:.0f} | {entry['spectra_per_s'] / limit:.0%} | "
            f"{entry['input_mb']:.0f} | {entry['peak_rss_growth_mb']:.0f} |"
        ),
    )
    if result.get("streams"):
        lines += [
            "",
            "## Many calls (default `inference`): a survey batch by batch, a server spectrum by "
            "spectrum",
            "",
            f"Every call uses the same backend. Rates of the first and last {STREAM_WINDOW} "
            "calls: medians of their calls.",
            "",
            "| spectra per call | spectra | first calls, spectra/s | last calls, spectra/s | "
            "slowest call (s) | after spectra | all calls, spectra/s |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += _rows(
            result["streams"],
            lambda name, entry: (
                f"| {entry['batch']} | {entry['spectra']:,} | "
                f"{entry['first_calls_spectra_per_s']:.0f} | "
                f"{entry['last_calls_spectra_per_s']:.0f} "
                f"({entry['last_calls_spectra_per_s'] / limit:.0%}) | "
                f"{entry['slowest_call_s']:.1f} | {entry['slowest_call_at_spectra']:,} | "
                f"{entry['spectra_per_s']:.0f} |"
            ),
        )
    lines += [
        "",
        f"## Training (batch {TRAIN_BATCH}), spectra/s",
        "",
        "| method | phase 1 (cross-entropy) | phase 2 (soft macro-F1) |",
        "|---|---|---|",
    ]
    labels = {
        "train": "skspectra, seed network",
        "train+malloc": "skspectra, seed network, after the opt-in tune_malloc()",
        "train-default": "skspectra defaults (+ batch norm, augmentation)",
        "train-default+malloc": "skspectra defaults, after tune_malloc() (the command line's "
        "setting)",
    }
    for name, label in labels.items():
        entry = result["training"].get(name, {})
        if "cross_entropy" in entry:
            lines.append(f"| {label} | {entry['cross_entropy']:.0f} | {entry['soft_f1']:.0f} |")
    keras = result["keras"]
    if keras.get("available"):
        lines.append(
            f"| Keras {keras['versions']['keras']} / TensorFlow "
            f"{keras['versions']['tensorflow']} (cross-entropy) | "
            f"{keras['train_spectra_per_s']:.0f} | - |"
        )
        ours = result["training"].get("train", {})
        if "cross_entropy" in ours:
            lines += [
                "",
                f"skspectra over Keras, training: phase 1 "
                f"{ours['cross_entropy'] / keras['train_spectra_per_s']:.2f}x, phase 2 "
                f"{ours['soft_f1'] / keras['train_spectra_per_s']:.2f}x. Keras inference at batch "
                f"{TRAIN_BATCH}: {keras['predict_spectra_per_s']:.0f} spectra/s"
                + (
                    f", {keras['predict_xla_spectra_per_s']:.0f} with XLA."
                    if "predict_xla_spectra_per_s" in keras
                    else "."
                ),
            ]
        by_round = result.get("training_ratios_by_round", [])
        if len(by_round) > 1:
            lines.append(
                f"Round by round ({len(by_round)} rounds, each against the Keras run of its "
                "round), phase 1 / phase 2: "
                + ", ".join(f"{one:.2f}x / {two:.2f}x" for one, two in by_round)
                + "."
            )
    else:
        lines += ["", f"Keras: not measured ({keras.get('reason', 'no interpreter given')})."]
    lines.append("")
    return "\n".join(lines)


def render_png(result: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    batches = result["config"]["batches"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, entry in result["inference"].items():
        if "rates" in entry:
            ax.plot(batches, [entry["rates"][str(b)] for b in batches], marker="o", label=name)
    limit = result["flop_limit_spectra_per_s"]
    ax.axhline(limit, color="k", lw=1, ls="--", label="FLOP limit (matmul rate)")
    ax.axhline(0.7 * limit, color="grey", lw=1, ls=":", label="70% of the limit")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("spectra per call")
    ax.set_ylabel("spectra / s")
    ax.set_title(
        f"Prediction speed, {result['config']['n_points']} points, {result['machine']['cpu'][:40]}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-points", type=int, default=2600)
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument(
        "--catalogue",
        type=int,
        nargs="+",
        default=[5000, 40000],
        help="spectra in one predict_proba call (time and memory)",
    )
    parser.add_argument(
        "--catalogue-backend", default="eager", choices=("eager", "compile", "onnxruntime")
    )
    parser.add_argument(
        "--streams",
        nargs="*",
        type=_stream,
        default=["128:40960", "1:3000"],
        metavar="BATCH:SPECTRA",
        help="spectra predicted in many calls of BATCH with the default backend (none: skip)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--train-batches", type=int, default=6)
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument(
        "--keras-python",
        default=None,
        help="a Python with keras and tensorflow (default: this one)",
    )
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, json.loads(args.config))))
        return None

    from benchmarks._machine import machine_info

    cfg = {
        "n_points": args.n_points,
        "batches": args.batches,
        "repeats": args.repeats,
        "train_batches": args.train_batches,
        "train_epochs": args.train_epochs,
        "catalogue_backend": args.catalogue_backend,
    }
    machine = machine_info(extra_packages=("onnxruntime",))
    groups = [("matmul", None), ("raw", None)]
    groups += [(f"predict:{b}", None) for b in args.backends]
    groups += [(f"catalogue:{n}", None) for n in args.catalogue]
    groups += [(f"stream:{stream}", None) for stream in args.streams]
    groups += [(name, None) for name in TRAIN_GROUPS]
    # Keras trains in every round too, next to skspectra's training, under the same load.
    groups += [("keras", None)]
    rounds: dict[str, list] = {g: [] for g, _ in groups}
    for r in range(args.rounds):
        for group, env in groups if r % 2 == 0 else groups[::-1]:
            print(f"[round {r + 1}/{args.rounds}] {group} ...", flush=True)
            if group == "keras":
                rounds[group].append(_run_keras(args.keras_python or sys.executable, args.n_points))
            else:
                rounds[group].append(_run_worker(group, cfg, env))
    merged = {g: _median_merge(v) for g, v in rounds.items()}
    keras = merged["keras"]

    flops = network_flops(args.n_points)
    gflops = merged["matmul"]["gflops"]
    inference = {"raw eager": merged["raw"]}
    inference.update({f"predict_proba {b}": merged[f"predict:{b}"] for b in args.backends})
    result = {
        "command": "python -m benchmarks.speed " + " ".join(sys.argv[1:] if argv is None else argv),
        "finished": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine,
        "config": cfg,
        "flops_per_spectrum": flops,
        "matmul_gflops": gflops,
        "flop_limit_spectra_per_s": gflops * 1e9 / flops,
        "inference": inference,
        "predict_rounds": {
            f"predict_proba {b}": [
                {key: r[key] for key in ("rates", "faults_per_call")}
                for r in rounds[f"predict:{b}"]
                if "rates" in r
            ]
            for b in args.backends
        },
        "catalogue": {str(n): merged[f"catalogue:{n}"] for n in args.catalogue},
        "streams": {stream: merged[f"stream:{stream}"] for stream in args.streams},
        "training": {name: merged[name] for name in TRAIN_GROUPS},
        "keras": keras,
        "training_ratios_by_round": training_ratios(rounds["train"], rounds["keras"]),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "speed.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / "speed.md").write_text(render_markdown(result))
    render_png(result, args.out_dir / "speed.png")
    print(render_markdown(result))
    return result


if __name__ == "__main__":
    main()
