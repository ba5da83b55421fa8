"""Torch's process-wide random generator, used by one thread at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

# Dropout, augmentation and weight initialisation draw from torch's one generator per device.
# Two seeded fits in threads of one process would interleave their draws (neither then matches
# its serial fit), and each fork_rng's restore would rewind the other's stream.
_LOCK = threading.RLock()


@contextmanager
def torch_rng(seed: int | None = None, devices: Sequence[int] = ()) -> Iterator[None]:
    """Hold torch's generators for this thread, seeded with ``seed`` unless it is None; on
    leaving, they are as the caller had them. Other threads that enter wait their turn."""
    with _LOCK, torch.random.fork_rng(devices=list(devices)):
        if seed is not None:
            torch.manual_seed(seed)
        yield
