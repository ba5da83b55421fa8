"""Benchmark: reading the LAMOST contest layout with skspectra against the reference loop.

Writes N synthetic spectrum files (2600 comma-separated floats each, as in the contest) and an
index to a temporary folder, then measures files per second of:

- the reference: one process, a loop of ``json.loads("[" + text + "]")`` per file;
- ``read_contest`` in one process without a cache, to show the gain of the parser alone;
- ``read_contest`` cold (all cores, ``cache=False``);
- ``read_contest`` cold writing its cache (the first read of a data set);
- ``read_contest`` warm (cache hit).

Every timing is the median of a few repeats. The files stay in the page cache throughout, as
they would after a first pass over a data set, so disk speed does not enter. The results go to
``<out-dir>/reading.json`` and ``<out-dir>/reading.md`` with the machine they ran on.

Run from the repository root::

    python -m benchmarks.reading --n-files 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from skspectra.io import read_contest

N_POINTS = 2600
# Distinct file contents; the files cycle through them (parsing cost does not depend on it).
N_TEXTS = 256


def make_dataset(folder: Path, n_files: int, seed: int = 0) -> tuple[Path, Path]:
    """Write ``n_files`` contest-style spectra and their index; return (index, spectra_dir)."""
    rng = np.random.default_rng(seed)
    spectra_dir = folder / "train"
    spectra_dir.mkdir(parents=True)
    texts = [
        ",".join(f"{v:.6f}" for v in rng.normal(100.0, 30.0, N_POINTS)) + "\n"
        for _ in range(min(N_TEXTS, n_files))
    ]
    ids = [str(i) for i in range(n_files)]
    for k, i in enumerate(ids):
        (spectra_dir / f"{i}.txt").write_text(texts[k % len(texts)])
    labels = rng.choice(["star", "galaxy", "qso", "unknown"], n_files, p=[0.9, 0.04, 0.03, 0.03])
    index = folder / "index.csv"
    index.write_text("id,type\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, labels, strict=True)))
    return index, spectra_dir


def reference_read(index: Path, spectra_dir: Path) -> np.ndarray:
    """What the reference solution did: parse each file with json.loads, in one process.

    Each row goes straight into a preallocated array, which is faster than keeping the lists
    of Python floats and converting them at the end: the baseline is the best of that approach.
    """
    ids = pd.read_csv(index, dtype=str)["id"].tolist()
    X = np.empty((len(ids), N_POINTS), dtype=np.float32)
    for row, i in enumerate(ids):
        with open(spectra_dir / f"{i}.txt") as handle:
            X[row] = json.loads("[" + handle.read() + "]")
    return X


def median_time(run: Callable[[], object], repeats: int, before: Callable[[], None] | None = None):
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") if os.path.exists("/proc/cpuinfo") else open(os.devnull) as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "joblib_workers": joblib.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "platform": platform.platform(),
        # Other work on the machine skews the parallel timings most: keep it on record.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-files", type=int, default=20000, help="spectrum files to write")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the slow timings")
    parser.add_argument("--n-jobs", type=int, default=None, help="workers (default: all cores)")
    parser.add_argument(
        "--out-dir", type=Path, default=Path(__file__).parent / "results", help="results folder"
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="skspectra-bench-"))
    try:
        print(f"writing {args.n_files} files to {workdir} ...", file=sys.stderr)
        index, spectra_dir = make_dataset(workdir, args.n_files)
        # The cache does not trust files modified in the last 2 s (see read_contest): wait, so
        # that the warm timing measures a clean cache hit, as on a real data set.
        time.sleep(2.5)
        cache_dir = workdir / "cache"

        def clear_cache() -> None:
            shutil.rmtree(cache_dir, ignore_errors=True)

        expected = reference_read(index, spectra_dir)
        got = read_contest(index, spectra_dir, cache=False, n_jobs=args.n_jobs).X
        assert np.array_equal(expected, got), "read_contest and the reference disagree"

        cases = [
            ("reference: json.loads per file, 1 process",
             lambda: reference_read(index, spectra_dir), None, args.repeats),
            ("read_contest, 1 process, no cache",
             lambda: read_contest(index, spectra_dir, n_jobs=1, cache=False), None, args.repeats),
            ("read_contest cold, no cache",
             lambda: read_contest(index, spectra_dir, n_jobs=args.n_jobs, cache=False), None,
             args.repeats),
            ("read_contest cold, writing the cache",
             lambda: read_contest(index, spectra_dir, n_jobs=args.n_jobs, cache_dir=cache_dir),
             clear_cache, args.repeats),
            ("read_contest warm (cache hit)",
             lambda: read_contest(index, spectra_dir, n_jobs=args.n_jobs, cache_dir=cache_dir),
             None, max(5, args.repeats)),
        ]  # fmt: skip
        results = []
        for name, run, before, repeats in cases:
            seconds, times = median_time(run, repeats, before)
            results.append(
                {
                    "case": name,
                    "median_s": seconds,
                    "times_s": times,
                    "files_per_s": args.n_files / seconds,
                }
            )
            print(f"{name:45s} {args.n_files / seconds:12.0f} files/s", file=sys.stderr)
        warm = read_contest(index, spectra_dir, cache_dir=cache_dir)
        assert isinstance(warm.X, np.memmap), "the warm read did not come from the cache"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    baseline = results[0]["files_per_s"]
    for result in results:
        result["ratio_vs_reference"] = result["files_per_s"] / baseline
    report = {
        "benchmark": "reading the LAMOST contest layout",
        "n_files": args.n_files,
        "n_points": N_POINTS,
        "n_jobs": args.n_jobs,
        "machine": machine(),
        "results": results,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "reading.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / "reading.md").write_text(markdown(report))
    print(markdown(report))
    return report


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Reading the contest layout",
        "",
        f"{report['n_files']} files of {report['n_points']} comma-separated floats "
        "(page-cached), median of repeats.",
        "",
        f"Machine: {m['cpu']}, {m['usable_cores']} usable cores ({m['logical_cores']} logical); "
        f"Python {m['python']}, NumPy {m['numpy']}, pandas {m['pandas']}, joblib {m['joblib']}; "
        f"load average {m['load_average_1min']:.2f} when the run ended.",
        "",
        "| case | files/s | vs reference | median s |",
        "|---|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['case']} | {r['files_per_s']:,.0f} | {r['ratio_vs_reference']:.1f}x | "
            f"{r['median_s']:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
