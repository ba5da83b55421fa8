"""Shared problem reporting: describe a bad value, list duplicated ids and bad labels, and
raise or skip (``on_error``) with one message that names each file and line."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping

import numpy as np
import pandas as pd

from ._spectra import OnError, SpectraReadWarning

# How many problems an error message or warning lists before "... and N more".
_MAX_LISTED = 5

_LABEL_HINT = "Pass labels=None to accept any label."


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise ValueError(
            f"on_error must be 'raise' or 'skip', got {on_error!r}: 'skip' drops the spectra "
            "that cannot be used, with a warning"
        )


def _check_labels(labels: Collection[str]) -> set[str]:
    if isinstance(labels, str):
        raise TypeError(
            f"labels must be a collection of labels, got the string {labels!r}: wrap it, e.g. "
            f"labels=[{labels!r}]"
        )
    return {str(label) for label in labels}


def _take(array: np.ndarray | None, keep: np.ndarray | None) -> np.ndarray | None:
    if array is None or keep is None:
        return array
    return np.ascontiguousarray(array[keep])


def _handle_problems(
    problems: Mapping[int, str],
    ids: np.ndarray,
    on_error: OnError,
    *,
    source: str,
    hint: str = "",
    missing: Collection[int] = (),
) -> tuple[np.ndarray | None, dict[str, str]]:
    """Raise about the problems, or return which rows to keep and which ids were skipped.

    Returns ``(None, {})`` when there is no problem, so that the caller keeps its arrays (and
    memory maps) as they are.
    """
    if not problems:
        return None, {}
    rows = sorted(problems)
    n = len(ids)
    listed = "\n  ".join(problems[r] for r in rows[:_MAX_LISTED])
    more = f"\n  ... and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else ""
    if on_error == "raise":
        it = "it" if len(rows) == 1 else "them"
        fix = (
            f"Fix or remove {it}, or pass on_error='skip' to drop {it} (Spectra.skipped then "
            "lists each dropped id and why)."
        )
        if len(rows) == 1:
            what = problems[rows[0]]
        else:
            what = f"{len(rows)} of {n} spectra in {source} cannot be used:\n  {listed}{more}"
        advice = " ".join(part for part in (hint, fix) if part)
        error = FileNotFoundError if set(rows) <= set(missing) else ValueError
        raise error(f"{what}\n{advice}")
    keep = np.ones(n, dtype=bool)
    keep[rows] = False
    if not keep.any():
        raise ValueError(
            f"all {n} spectra in {source} were skipped, nothing is left:\n  {listed}{more}\n"
            + (hint or "Fix the source, or check that the right files are read.")
        )
    warnings.warn(
        f"skipped {len(rows)} of {n} spectra in {source} (listed in Spectra.skipped):\n"
        f"  {listed}{more}",
        SpectraReadWarning,
        stacklevel=3,
    )
    return keep, {str(ids[r]): problems[r] for r in rows}


def _finite_float32(
    values: np.ndarray, describe: Callable[[int], str]
) -> tuple[np.ndarray | None, str | None]:
    """Cast one spectrum to float32, or say which value is not finite there."""
    with np.errstate(over="ignore", invalid="ignore"):
        as32 = values.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(as32))
    if not bad.size:
        return as32, None
    j = int(bad[0])
    what = f"value {j + 1} of {len(values)} is {_shorten(describe(j))}"
    if np.isfinite(values[j]):
        return None, f"{what}, too large for float32"
    return None, f"{what}: spectra must be finite"


def _shorten(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _label_problems(
    y: np.ndarray | None,
    ids: np.ndarray,
    labels: Collection[str] | None,
    rows: Mapping[int, str],
    earlier: Mapping[int, str] | None = None,
) -> dict[int, str]:
    """Duplicated ids, empty labels and labels outside ``labels``; ``rows`` words a row, and
    ``earlier`` the first row of a repeated id (``rows`` when not given)."""
    earlier = rows if earlier is None else earlier
    problems: dict[int, str] = {}
    seen: dict[str, int] = {}
    for row in np.flatnonzero(pd.Series(ids).duplicated(keep=False).to_numpy()):
        first = seen.setdefault(ids[row], int(row))
        if first != row:
            problems[int(row)] = f"{rows[row]}: id {str(ids[row])!r} repeats {earlier[first]}"
    if y is None:
        return problems
    for row in np.flatnonzero(y == ""):
        problems.setdefault(int(row), f"{rows[row]}: id {str(ids[row])!r} has no label")
    if labels is not None:
        allowed = _check_labels(labels)
        for row in np.flatnonzero(~np.isin(y, list(allowed)) & (y != "")):
            problems.setdefault(
                int(row),
                f"{rows[row]}: id {str(ids[row])!r} has the label {str(y[row])!r}, not one of "
                f"{sorted(allowed)}",
            )
    return problems
