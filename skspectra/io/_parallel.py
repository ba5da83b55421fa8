"""Reading many files in chunks, in worker processes when there are enough of them, with a
progress bar."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import joblib
from tqdm import tqdm

# Chunking of the contest reader: a chunk is the unit of work of one worker process. Big enough
# that process overhead is noise, small enough that the progress bar moves and memory stays low.
_MIN_CHUNK = 64
_MAX_CHUNK = 1000
# Below this many files, starting worker processes costs more than it saves.
_MIN_PARALLEL = 2000


def _chunk_size(n: int, workers: int) -> int:
    # About four chunks per worker balances the load when some files are slower than others.
    return max(_MIN_CHUNK, min(_MAX_CHUNK, math.ceil(n / (4 * workers))))


def _map_chunks(
    func: Callable[..., Any],
    chunks: list[tuple[Any, ...]],
    *,
    workers: int,
    progress: bool,
    total: int,
    desc: str,
) -> Iterator[Any]:
    """Yield ``func(*chunk)`` for each chunk, in order, updating a progress bar."""
    if not chunks:
        return
    with tqdm(total=total, desc=desc, unit=" files", disable=not progress, leave=False) as bar:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                result = func(*chunk)
                bar.update(len(chunk[0]))
                yield result
            return
        parallel = joblib.Parallel(n_jobs=workers, return_as="generator")
        results = parallel(joblib.delayed(func)(*chunk) for chunk in chunks)
        for chunk, result in zip(chunks, results, strict=True):
            bar.update(len(chunk[0]))
            yield result


def _want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()
