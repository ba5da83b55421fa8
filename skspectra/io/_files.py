"""Files on disk: atomic writes, and checks that a path names a file."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ._spectra import PathLike


def atomic_write(path: PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a new temporary file beside ``path``, flush it to disk, then
    rename it to ``path``.

    The rename is atomic, so readers see the old file or the complete new one, never a part;
    on any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # O_EXCL: never write through an existing file or link. Mode 0o666 is narrowed by the umask
    # as for any new file (mkstemp's 0o600 would survive the rename).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _existing_file(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a folder: pass the file itself")
    return path
