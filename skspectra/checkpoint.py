"""Checkpoints and interruptions of long fits.

A fit of :class:`~skspectra.SpectrumCNNClassifier` with ``checkpoint_dir`` set writes, after
every epoch, everything needed to go on from there: weights, optimizer state, the best weights
so far, the history and the states of the random generators. Calling ``fit`` again with the same
data and parameters resumes from the last completed epoch and ends with the same weights as an
uninterrupted fit. Each fit writes its own file, named by the digest of its data and parameters,
so fits sharing a folder never overwrite each other's. Files are written atomically and read
with ``torch.load(weights_only=True)``, which unpickles no code.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .io import atomic_write

__all__ = [
    "TrainingInterrupted",
    "TrainingInterruptedWarning",
    "checkpoint_path",
    "end_interrupted",
    "fingerprint",
    "interruptible",
    "read_checkpoint",
    "remove_checkpoint",
    "write_checkpoint",
]

FORMAT = 2
PREFIX = "skspectra-checkpoint-"
# Parameters that change how a fit is watched or where it is saved, not what it computes.
_IGNORED_PARAMS = {"callbacks", "verbose", "checkpoint_dir", "inference"}
# What a checkpoint holds, and the type of each entry: anything else is a damaged file.
_FIELDS = {
    "format": int,
    "fingerprint": str,
    "epochs_done": int,
    "module": dict,
    "optimizer": dict,
    "schedule": dict,
    "history": list,
    "torch_rng": torch.Tensor,
    "sampler_rng": dict,
}


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM arrived during a fit.

    A subclass of :class:`KeyboardInterrupt`, so that it is told apart from skorch's
    ``EarlyStopping``, which raises a plain ``KeyboardInterrupt`` to end training.
    """


class TrainingInterruptedWarning(UserWarning):
    """A fit was interrupted and returned with the best weights so far.

    Turn it into an error where a half-trained model must never be used:
    ``warnings.simplefilter("error", TrainingInterruptedWarning)``.
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


def end_interrupted(net) -> None:
    """Warn that ``net``'s fit was interrupted (``net.interrupted_``), naming the epoch whose
    weights it kept and how to resume; after SIGTERM, then end the process as the handler it had
    would: the last checkpoint is written by now."""
    resume = (
        "Call fit again with the same data to resume from the last checkpoint."
        if net.checkpoint_dir is not None
        else "Set checkpoint_dir to make an interrupted fit resumable."
    )
    kept = net.best_epoch_ or len(net.history) - 1
    warnings.warn(
        f"Training interrupted by {net.interrupted_} in epoch {len(net.history)}; kept the "
        f"weights of epoch {kept}. {resume}",
        TrainingInterruptedWarning,
        stacklevel=3,
    )
    if net.interrupted_ == "SIGTERM":
        signal.raise_signal(signal.SIGTERM)


def fingerprint(params: Mapping[str, Any], *arrays: np.ndarray) -> str:
    """A digest of what a fit computes: its parameters and its data (spectra, labels, weights).

    A checkpoint is resumed only by a fit with the same fingerprint. Parameters whose ``repr``
    holds a memory address (a ``RandomState`` instance, say) make every fingerprint new, so
    resuming needs an int ``random_state``.
    """
    digest = hashlib.blake2b(digest_size=20)
    kept = {k: repr(v) for k, v in sorted(params.items()) if k not in _IGNORED_PARAMS}
    digest.update(json.dumps(kept, sort_keys=True).encode())
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def plain(value: Any) -> Any:
    """History rows as plain Python values (numpy scalars become floats, ints and bools), which
    ``torch.load(weights_only=True)`` accepts."""
    return json.loads(
        json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    )


def checkpoint_path(directory: str | Path, key: str) -> Path:
    """The file of the fit with fingerprint ``key`` in ``directory``."""
    return Path(directory) / f"{PREFIX}{key}.pt"


def write_checkpoint(directory: str | Path, key: str, state: dict) -> Path:
    """Write ``state`` (tensors and plain values) for fit ``key``, atomically."""
    path = checkpoint_path(directory, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "fingerprint": key, **state}, buffer)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return path


def read_checkpoint(directory: str | Path, key: str, total_epochs: int) -> dict | None:
    """The checkpoint of the fit with fingerprint ``key``, or None when there is none.

    Every damaged or inconsistent file (unreadable, a missing or mistyped field, another fit's
    fingerprint under this name, ``epochs_done`` outside ``0..total_epochs`` or unequal to the
    history's length) raises a ValueError naming it.
    """
    path = checkpoint_path(directory, key)
    if not path.exists():
        return None

    def damaged(why: str) -> ValueError:
        return ValueError(f"{path} is not a usable skspectra checkpoint ({why}); delete it")

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise damaged(f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict):
        raise damaged(f"it holds a {type(state).__name__}, not a dict")
    for field, kind in _FIELDS.items():
        if not isinstance(state.get(field), kind) or isinstance(state.get(field), bool):
            raise damaged(f"field {field!r} is missing or not a {kind.__name__}")
    if state["format"] != FORMAT:
        raise damaged(f"format {state['format']}, this version reads {FORMAT}")
    if state["fingerprint"] != key:
        raise damaged("its fingerprint is not the one its name says")
    done = state["epochs_done"]
    if not 0 <= done <= total_epochs or done != len(state["history"]):
        raise damaged(
            f"epochs_done={done} with {len(state['history'])} history rows, for a fit of "
            f"{total_epochs} epochs"
        )
    return state


def remove_checkpoint(directory: str | Path, key: str) -> None:
    """Delete fit ``key``'s checkpoint (a finished fit needs it no more)."""
    try:
        checkpoint_path(directory, key).unlink(missing_ok=True)
    except OSError as exc:  # a read-only folder: the fit itself succeeded
        warnings.warn(f"could not remove the checkpoint: {exc}", RuntimeWarning, stacklevel=2)
