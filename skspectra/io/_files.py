"""Files on disk: atomic writes, and reads that stay in their folder and within a size.

Everything here treats a path as possibly hostile: a name from an index may try to leave its
folder (``../``, an absolute path, a symlink pointing elsewhere), and a "file" may be a FIFO that
never ends or ``/dev/zero`` that never stops. The readers open files through these helpers only.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ._spectra import PathLike

# A temporary file of atomic_write: "<target name>.<pid>.<8 hex>.tmp" (the pid tells whether its
# writer still runs); "<target name>.<12 hex>.tmp" is the older name, without the pid.
_TMP_PATTERN = r"\.(?:(?P<pid>\d+)\.[0-9a-f]{8}|[0-9a-f]{12})\.tmp"
# A temporary file whose writer is gone is removed once it is this old: a writer on another host
# (a shared folder) has another pid namespace, and one still writing keeps its file's mtime fresh.
_STALE_TMP_S = 60.0
# A temporary file of the older name (no pid) is removed after a day, as the reader's cache does.
_STALE_OLD_TMP_S = 86400.0
# O_NONBLOCK: opening a FIFO must not wait for a writer (fstat then refuses it).
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a new temporary file beside ``path``, flush it to disk, then
    rename it to ``path``.

    The rename is atomic, so readers see the old file or the complete new one, never a part;
    on any error the temporary file is removed and ``path`` is left as it was. A process killed
    mid-write (``kill -9``) cannot remove its temporary file: the next write to the same target
    removes the temporary files of writers that no longer run.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    write : callable
        Called with the open binary file; what it writes becomes the content of ``path``.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skspectra.io import atomic_write
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> atomic_write(target, lambda f: f.write(b"done")).read_text()
    'done'
    """
    path = Path(path)
    # The pid in the name lets a later write tell a dead writer's leftover from a live write.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    # O_EXCL: never write through an existing file or link. Mode 0o666 is narrowed by the umask
    # as for any new file (mkstemp's 0o600 would survive the rename).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
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
    remove_stale_temporaries(path)
    return path


def remove_stale_temporaries(path: PathLike) -> list[Path]:
    """Remove the temporary files that interrupted :func:`atomic_write` calls left beside
    ``path``, and return them.

    A temporary file is removed when the process that wrote it no longer runs on this machine
    and it was last modified over a minute ago (or, for the older names without a pid, over a
    day ago). Errors are ignored: a file that cannot be removed now goes next time.
    """
    path = Path(path)
    pattern = re.compile(re.escape(path.name) + _TMP_PATTERN + r"\Z")
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(path.parent or "."))
    except OSError:
        return removed
    for entry in entries:
        found = pattern.match(entry.name)
        if found is None:
            continue
        pid = found.group("pid")
        with contextlib.suppress(OSError):
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if pid is None:
                stale = age > _STALE_OLD_TMP_S
            else:
                stale = age > _STALE_TMP_S and int(pid) != os.getpid() and not _running(int(pid))
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process (or a pid we cannot ask about): leave its file
    return True


def open_regular(path: PathLike, what: str, *, dir_fd: int | None = None) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file; never block on a FIFO or a device.

    Parameters
    ----------
    path : str or path-like
        The file.
    what : str
        What the file is, for the error messages ("model file", "spectrum file").
    dir_fd : int, default=None
        Open ``path`` relative to this open folder, as :func:`os.open` does.

    Returns
    -------
    file : binary file object
        Open for reading; the caller closes it.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    IsADirectoryError
        If ``path`` is a folder.
    ValueError
        If ``path`` is a FIFO, a socket or a device: the message says which, never its content.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{what} {os.fspath(path)!r} does not exist: check the path"
        ) from None
    handle = _checked_regular(fd, path, what)
    return handle


def _checked_regular(fd: int, path: PathLike, what: str) -> BinaryIO:
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{what} {os.fspath(path)!r} is a folder: pass the file itself")
        if not stat.S_ISREG(mode):
            raise ValueError(
                f"{what} {os.fspath(path)!r} is not a regular file but {_kind(mode)}: only "
                "regular files are read"
            )
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_capped(handle: BinaryIO, limit: int, describe: Callable[[], str]) -> bytes:
    """Read all of ``handle`` if it holds at most ``limit`` bytes, else raise a ValueError.

    At most ``limit + 1`` bytes are read whatever the file claims, so a file that grows while it
    is read, or lies about its size, costs no more memory. ``describe()`` words the error: what
    the file is and why it may not be larger.
    """
    size = os.fstat(handle.fileno()).st_size
    if size > limit:
        raise ValueError(f"{describe()}: it holds {size} bytes, more than the {limit} allowed")
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{describe()}: it holds more than the {limit} bytes allowed")
    return data


class ConfinedFolder:
    """A folder whose files are opened by plain name only, and never outside it.

    A name is refused when it is empty, ``.`` or ``..``, or holds a path separator or a NUL; a
    name that is a symlink is followed only when its target lies inside the folder; only regular
    files are opened. Each check raises an error that names the file, never its content.

    Parameters
    ----------
    folder : str or path-like
        The folder.
    what : str
        What its files are, for the error messages.
    """

    def __init__(self, folder: PathLike, what: str) -> None:
        self.folder = os.fspath(folder)
        self.real = os.path.realpath(self.folder)
        self.what = what

    @staticmethod
    def problem_with_name(name: str) -> str | None:
        """Why ``name`` is not a plain file name, or None when it is one."""
        if name in ("", ".", ".."):
            return f"{name!r} is not a file name"
        # A backslash is refused on every system, so that an index means the same everywhere.
        if any(sep in name for sep in ("/", "\\", "\0", os.sep)):
            return f"{name!r} is not a plain file name (it holds a path separator or NUL)"
        return None

    def open(self, name: str) -> BinaryIO:
        """Open the file ``name`` of the folder for reading.

        Raises FileNotFoundError when it does not exist, ValueError when the name is not plain,
        the file is a symlink leading out of the folder, or is not a regular file.
        """
        problem = self.problem_with_name(name)
        path = os.path.join(self.folder, name)
        if problem is not None:
            raise ValueError(f"{self.what} {path!r}: {problem}")
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, _OPEN_FLAGS | nofollow)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.what} {path!r} does not exist") from None
        except OSError:
            # ELOOP (or EMLINK on some BSDs): the name is a symlink. Follow it only inside.
            if not nofollow or not os.path.islink(path):
                raise
            target = os.path.realpath(path)
            if os.path.commonpath([self.real, target]) != self.real:
                raise ValueError(
                    f"{self.what} {path!r} is a symlink to a file outside {self.folder!r}: "
                    "only files inside the folder are read"
                ) from None
            try:
                fd = os.open(target, _OPEN_FLAGS | nofollow)
            except FileNotFoundError:
                raise FileNotFoundError(f"{self.what} {path!r} does not exist") from None
        return _checked_regular(fd, path, self.what)


def _existing_file(path: PathLike, what: str) -> Path:
    """``path`` as a Path if it is an existing regular file (a symlink to one included); a
    folder, a FIFO or a device is refused before anything opens it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a folder: pass the file itself")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ValueError(
            f"{what} {str(path)!r} is not a regular file but {_kind(mode)}: only regular files "
            "are read"
        )
    return path
