"""Checkpoints and interruptions of long fits.

A fit of :class:`~skspectra.SpectrumCNNClassifier` with ``checkpoint_dir`` set writes, after
every epoch, everything needed to go on from there: weights, optimizer state, the best weights
so far, the history and the states of the random generators. Calling ``fit`` again with the same
data and parameters resumes from the last completed epoch and ends with the same weights as an
uninterrupted fit. Files are written atomically and read with ``torch.load(weights_only=True)``,
which unpickles no code.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .io import atomic_write

__all__ = ["TrainingInterrupted", "fingerprint", "interruptible", "read_checkpoint"]

FORMAT = 1
FILENAME = "skspectra-checkpoint.pt"
# Parameters that change how a fit is watched or where it is saved, not what it computes.
_IGNORED_PARAMS = {"callbacks", "verbose", "checkpoint_dir", "inference"}


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM arrived during a fit.

    A subclass of :class:`KeyboardInterrupt`, so that it is told apart from skorch's
    ``EarlyStopping``, which raises a plain ``KeyboardInterrupt`` to end a phase.
    """


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`TrainingInterrupted`.

    Signal handlers can only be set from the main thread; elsewhere the block runs unchanged.
    A signal the process ignores stays ignored (a shell starts background jobs with SIGINT
    ignored, so that Ctrl-C in the terminal leaves them alone). The previous handlers are
    restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise TrainingInterrupted(signal.Signals(signum).name)

    previous = {
        sig: signal.signal(sig, handler)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def fingerprint(params: Mapping[str, Any], X: np.ndarray, y: np.ndarray) -> str:
    """A digest of what a fit computes: its parameters and its data.

    A checkpoint is resumed only by a fit with the same fingerprint. Parameters whose ``repr``
    holds a memory address (a ``RandomState`` instance, say) make every fingerprint new, so
    resuming needs an int ``random_state``.
    """
    digest = hashlib.blake2b(digest_size=20)
    kept = {k: repr(v) for k, v in sorted(params.items()) if k not in _IGNORED_PARAMS}
    digest.update(json.dumps(kept, sort_keys=True).encode())
    for array in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def plain(value: Any) -> Any:
    """History rows as plain Python values (numpy scalars become floats, ints and bools), which
    ``torch.load(weights_only=True)`` accepts."""
    return json.loads(
        json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    )


def write_checkpoint(directory: str | Path, state: dict) -> Path:
    """Write ``state`` (tensors and plain values) to ``directory``, atomically."""
    path = Path(directory) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return path


def read_checkpoint(directory: str | Path, expected: str) -> dict | None:
    """The checkpoint in ``directory`` if it belongs to the fit with fingerprint ``expected``.

    Returns None when there is none, or when it belongs to another fit (other data or
    parameters); a damaged file raises a ValueError naming it.
    """
    path = Path(directory) / FILENAME
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path} is not a readable skspectra checkpoint ({exc}); delete it to start afresh"
        ) from exc
    if state.get("format") != FORMAT or state.get("fingerprint") != expected:
        return None
    return state


def remove_checkpoint(directory: str | Path) -> None:
    (Path(directory) / FILENAME).unlink(missing_ok=True)
