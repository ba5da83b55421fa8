"""Benchmark: the default pipeline's fit on a synthetic survey, against a baseline revision.

Issue 26 asks that the default fit the synthetic survey of 3,000 spectra of 2,600 points no
slower than the code of the day the issue was filed (``f4c3401``, 2026-11-28). Both sides fit
``make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state=0))`` with the defaults of
their own code, on the same spectra (drawn once by this checkout's
:func:`skspectra.datasets.make_spectra`), each in a fresh process: this checkout, and the
baseline revision checked out into a temporary git worktree. Rounds alternate the two sides so
that a change of the machine's speed falls on both. Reported per side: fit seconds, epochs run,
macro-F1 on held-out spectra of the same survey, the machine and its load.

    python -m benchmarks.survey_fit --out-dir benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._machine import machine_info

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "f4c3401"  # main when issues 25 and 26 were filed

# Runs in the side's own checkout (its folder first on sys.path), so it must use only what
# both the baseline's API and today's have.
WORKER = """
import json, sys, time
import numpy as np
import skspectra
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from skspectra import FluxScaler, SpectrumCNNClassifier

data = np.load(sys.argv[1], allow_pickle=False)
pipe = make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state=0))
start = time.perf_counter()
pipe.fit(data["X_train"], data["y_train"])
fit_s = time.perf_counter() - start
predicted = pipe.predict(data["X_test"])
clf = pipe[-1]
print(json.dumps({
    "skspectra_file": skspectra.__file__,
    "fit_s": fit_s,
    "epochs": len(clf.history),
    "n_networks": int(getattr(clf, "n_networks_", getattr(clf, "n_networks", 1)) or 1),
    "macro_f1": float(f1_score(data["y_test"], predicted, average="macro")),
    "predictions": predicted.tolist(),
}))
"""


def fit_in(root: Path, data: Path) -> dict:
    """Fit the default pipeline with the code in ``root``, in a fresh process."""
    load = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(data)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root), "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the fit in {root} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(result["skspectra_file"]).resolve().is_relative_to(root.resolve()):
        raise RuntimeError(f"{root} imported skspectra from {result['skspectra_file']}")
    result["load_average_1min"] = load
    return result


def run(baseline: str, n_train: int, n_test: int, n_points: int, rounds: int) -> dict:
    from skspectra.datasets import make_spectra

    survey = make_spectra(n_train + n_test, n_points=n_points, random_state=0)
    X, y = survey.data.astype(np.float32), survey.target.astype(str)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    report: dict = {
        "baseline": baseline,
        "commit": commit,
        "survey": {"n_train": n_train, "n_test": n_test, "n_points": n_points, "seed": 0},
        "machine": machine_info(),
        "rounds": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "survey.npz"
        np.savez(
            data, X_train=X[:n_train], y_train=y[:n_train], X_test=X[n_train:], y_test=y[n_train:]
        )
        worktree = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(worktree), baseline],
            cwd=ROOT,
            check=True,
        )
        try:
            for index in range(rounds):
                sides = [("baseline", worktree), ("current", ROOT)]
                if index % 2:
                    sides.reverse()
                for name, root in sides:
                    result = fit_in(root, data)
                    result.update(side=name, round=index)
                    report["rounds"].append(result)
                    print(name, f"{result['fit_s']:.1f} s", f"F1 {result['macro_f1']:.3f}")
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
            )
    report["load_average_1min_end"] = os.getloadavg()[0]
    return report


def median_fit(report: dict, side: str) -> float:
    return float(np.median([r["fit_s"] for r in report["rounds"] if r["side"] == side]))


def markdown(report: dict) -> str:
    survey, machine = report["survey"], report["machine"]
    ratio = median_fit(report, "current") / median_fit(report, "baseline")
    lines = [
        "# The default fit on the synthetic survey, against a baseline revision",
        "",
        f"Written by `python -m benchmarks.survey_fit` at commit `{report['commit'][:7]}`. "
        f"`make_spectra({survey['n_train']} + {survey['n_test']}, n_points={survey['n_points']}, "
        "random_state=0)`: the first spectra train, the rest test. Each side fits "
        "`make_pipeline(FluxScaler(), SpectrumCNNClassifier(random_state=0))` with its own "
        "defaults in a fresh process; rounds alternate the sides. Machine: "
        f"{machine['cpu']}, {machine['usable_cores']} usable cores, "
        f"{machine.get('torch_threads')} torch threads; load average "
        f"{machine['load_average_1min']:.2f} at the start, "
        f"{report['load_average_1min_end']:.2f} at the end.",
        "",
        "| round | side | fit s | epochs | networks | test macro-F1 | load at start |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["rounds"]:
        side = r["side"] if r["side"] == "current" else f"baseline `{report['baseline']}`"
        lines.append(
            f"| {r['round']} | {side} | {r['fit_s']:.1f} | {r['epochs']} | {r['n_networks']} "
            f"| {r['macro_f1']:.3f} | {r['load_average_1min']:.2f} |"
        )
    lines += [
        "",
        f"Median fit: {median_fit(report, 'current'):.1f} s against "
        f"{median_fit(report, 'baseline'):.1f} s for the baseline ({ratio:.2f}x).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare against")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-points", type=int, default=2600)
    parser.add_argument("--rounds", type=int, default=2, help="fits per side, alternating")
    parser.add_argument("--out-dir", type=Path, default=None, help="where to write the results")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report = run(args.baseline, args.n_train, args.n_test, args.n_points, args.rounds)
    report["wall_s"] = time.perf_counter() - start
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        rounds = [{k: v for k, v in r.items() if k != "predictions"} for r in report["rounds"]]
        slim = {**report, "rounds": rounds}
        (args.out_dir / "survey_fit.json").write_text(json.dumps(slim, indent=1) + "\n")
        (args.out_dir / "survey_fit.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
