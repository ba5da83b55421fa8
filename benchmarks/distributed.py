"""Benchmark: spectra per second of ``predict_dask`` on a local Dask cluster against ``predict``.

A FluxScaler + SpectrumCNNClassifier pipeline with the default network is fitted briefly (its
speed of prediction does not depend on its weights) on random spectra, then predicts N spectra:

- the baseline: ``pipe.predict(X)`` in this process, torch using its default threads
  (one per core), then the same with one torch thread;
- ``predict_dask(pipe, da.from_array(X, chunks=...))`` on a LocalCluster of 1 worker process,
  then of 2, each with one Dask thread and one torch thread.

The array starts in this process, so the times include sending the blocks to the workers (and
the model, once per worker); starting the cluster is not included. Every timing is the median
of a few repeats, after one untimed warm-up run. The results go to ``<out-dir>/distributed.json``
and ``<out-dir>/distributed.md`` with the machine they ran on.

Run from the repository root::

    python -m benchmarks.distributed --n-spectra 4000 --n-points 1000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import make_pipeline

from benchmarks._machine import machine_info
from skspectra import FluxScaler, SpectrumCNNClassifier
from skspectra.distributed import local_cluster, predict_dask


def median_time(run, repeats: int, warm_up=None) -> float:
    (warm_up or run)()  # imports, the model's first transfer, torch's first kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-spectra", type=int, default=4000)
    parser.add_argument("--n-points", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=250, help="spectra per Dask block")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    import dask.array as da

    rng = np.random.default_rng(0)
    X = rng.normal(100.0, 30.0, size=(args.n_spectra, args.n_points)).astype(np.float32)
    y = np.array(["star", "galaxy", "qso", "unknown"])[np.arange(args.n_spectra) % 4]
    clf = SpectrumCNNClassifier(max_epochs=1, f1_epochs=0, batches_per_epoch=1, random_state=0)
    pipe = make_pipeline(FluxScaler(), clf).fit(X[:256], y[:256])
    expected = pipe.predict(X)

    rows = []
    default_threads = torch.get_num_threads()
    for threads in dict.fromkeys([default_threads, 1]):
        torch.set_num_threads(threads)
        try:
            seconds = median_time(
                lambda: pipe.predict(X), args.repeats, warm_up=lambda: pipe.predict(X[:256])
            )
        finally:
            torch.set_num_threads(default_threads)
        case = f"in-process predict, {threads} torch thread{'s' if threads > 1 else ''}"
        if threads == default_threads:
            case += " (baseline)"
        rows.append({"case": case, "workers": 0, "torch_threads": threads, "seconds": seconds})
        print(f"{case}: {args.n_spectra / seconds:,.0f} spectra/s", file=sys.stderr)
    X_d = da.from_array(X, chunks=(args.chunk, -1))
    # Sending the array inside the graph is what is measured here; Dask's advice is noted.
    warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
    for n in args.workers:
        with local_cluster(n_workers=n, threads_per_worker=1) as client:
            client.wait_for_workers(n)
            labels = predict_dask(pipe, X_d)
            np.testing.assert_array_equal(labels.compute(), expected)
            seconds = median_time(lambda labels=labels: labels.compute(), args.repeats)
        case = f"predict_dask, {n} worker{'s' if n > 1 else ''} x 1 thread"
        rows.append({"case": case, "workers": n, "torch_threads": 1, "seconds": seconds})
        print(f"{case}: {args.n_spectra / seconds:,.0f} spectra/s", file=sys.stderr)
    base = rows[0]["seconds"]
    for row in rows:
        row["spectra_per_s"] = args.n_spectra / row["seconds"]
        row["vs_baseline"] = base / row["seconds"]

    report = {
        "benchmark": "distributed",
        "n_spectra": args.n_spectra,
        "n_points": args.n_points,
        "chunk": args.chunk,
        "repeats": args.repeats,
        "network": "SpectrumResNet defaults",
        "results": rows,
        "machine": machine_info(extra_packages=("dask", "distributed")),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "distributed.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / "distributed.md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    m = report["machine"]
    v = m["versions"]
    lines = [
        "# Prediction on a local Dask cluster",
        "",
        f"{report['n_spectra']} spectra x {report['n_points']} points, default network, "
        f"blocks of {report['chunk']} spectra; median of {report['repeats']} repeats after a "
        "warm-up. Cluster start-up not included; sending the blocks is.",
        "",
        f"Machine: {m['cpu']}, {m['usable_cores']} usable cores ({m['logical_cores']} logical); "
        f"Python {m['python']}, torch {v.get('torch')}, dask {v.get('dask')}, "
        f"distributed {v.get('distributed')}; baseline with {m.get('torch_threads')} torch "
        f"threads; load average {m['load_average_1min']:.2f} when the run ended (a shared "
        "machine: other jobs ran at the same time).",
        "",
        "| case | spectra/s | vs baseline | median s |",
        "|---|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['case']} | {r['spectra_per_s']:,.0f} | {r['vs_baseline']:.2f}x | "
            f"{r['seconds']:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
