"""The LAMOST contest layout (an index CSV and a folder of ``<id>.txt`` files), and its cache."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import time
import uuid
import warnings
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import joblib
import numpy as np
import pandas as pd

from ._files import ConfinedFolder, _existing_file, atomic_write, read_capped
from ._parallel import _MAX_CHUNK, _MIN_PARALLEL, _chunk_size, _map_chunks, _want_progress
from ._problems import (
    _LABEL_HINT,
    _check_on_error,
    _finite_float32,
    _handle_problems,
    _label_problems,
    _shorten,
    _take,
)
from ._spectra import OnError, PathLike, Spectra, SpectraReadWarning
from ._tables import _LABEL_COLUMNS

#: The four classes of the LAMOST spectrum classification contest.
CONTEST_LABELS: tuple[str, ...] = ("star", "galaxy", "qso", "unknown")

# Files per thread when the cache checks the size and mtime of every file.
_STAT_CHUNK = 20000
# How many files are tried to learn the spectrum length before giving up.
_MAX_PROBE = 100

_CACHE_FORMAT = 1
# A file modified within this window before a read may be modified again within the same
# timestamp tick without its mtime changing (git calls this "racy"). Its entry is stored as
# untrusted so that the next read parses it again. 2 s covers FAT's timestamp resolution.
_RACY_NS = 2_000_000_000
_UNTRUSTED = np.iinfo(np.int64).min
_COMMA = ord(",")
# A spectrum file may hold at most this many bytes per value it should have (a float written
# with 17 digits, an exponent, a comma and spaces takes about 30), plus _FILE_SLACK: a file of
# the wrong length is refused by its size, without reading it.
_BYTES_PER_VALUE = 64
_FILE_SLACK = 4096
# The file that teaches the spectrum length (n_points=None) is read only if it is at most this
# large (about 500 000 values).
_MAX_PROBE_BYTES = 16 << 20


# --------------------------------------------------------------------------------------------
# The contest layout: an index CSV and a folder of <id>.txt files
# --------------------------------------------------------------------------------------------


def read_contest(
    index_csv: PathLike,
    spectra_dir: PathLike,
    *,
    labels: Collection[str] | None = None,
    n_points: int | None = None,
    suffix: str = ".txt",
    n_jobs: int | None = None,
    cache: bool = True,
    cache_dir: PathLike | None = None,
    progress: bool | None = None,
    on_error: OnError = "raise",
) -> Spectra:
    """Read spectra stored in the layout of the LAMOST contest.

    The layout is an index CSV with the columns ``id,type`` (labelled) or ``id`` alone
    (unlabelled), and a folder holding one text file ``<id>.txt`` per spectrum with its fluxes
    separated by commas (whitespace around values, a trailing newline and one trailing comma are
    accepted).

    Parameters
    ----------
    index_csv : str or path-like
        The index. Its first line is the header; blank lines are ignored. The label column may
        also be called ``label``, ``y`` or ``class``; other columns are ignored.
    spectra_dir : str or path-like
        The folder of spectrum files.
    labels : collection of str, default=None
        The allowed labels, e.g. :data:`CONTEST_LABELS`; any other label is an error. None
        accepts every non-empty label, so that the reader serves other label sets too.
    n_points : int, default=None
        The number of values of every spectrum. None takes the length of the first readable
        file; a file of another length is an error.
    suffix : str, default=".txt"
        The file name of a spectrum is its id followed by this suffix.
    n_jobs : int, default=None
        Number of worker processes that parse files, as in joblib. None uses all cores (or what
        an enclosing ``joblib.parallel_config`` says). Fewer than 2000 files are read in this
        process, where starting workers would cost more than it saves.
    cache : bool, default=True
        Keep the parsed spectra in a cache so that the next read costs almost nothing (see
        Notes). False neither reads nor writes one.
    cache_dir : str or path-like, default=None
        Where the cache lives; None means a ``.skspectra_cache`` folder beside the index.
    progress : bool, default=None
        Show a progress bar while parsing. None shows it when stderr is a terminal.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a spectrum that cannot be used (missing or unreadable file, a value that
        is not a number, wrong length, NaN or infinity, empty or unknown label, duplicated id).
        "raise" raises once every file was parsed (and cached), listing the first problems;
        problems in the index raise before any file is read. "skip" drops those spectra, warns
        with a :class:`SpectraReadWarning` and lists them in ``Spectra.skipped``.

    Returns
    -------
    Spectra
        ``X`` float32 of shape (n_spectra, n_points) in the order of the index, ``y`` the labels
        (None without a label column), ``ids`` the ids and ``wavelength`` None (the layout holds
        no wavelengths).

    Raises
    ------
    FileNotFoundError
        If the index or the folder does not exist, or if the only problems are missing files.
    ValueError
        If the index is empty or lacks an ``id`` column, or (with ``on_error="raise"``) any
        spectrum cannot be used. The message names the file and the line or value position.

    See Also
    --------
    read_spectra : Read any supported format.

    Notes
    -----
    Parsing. Each worker reads a chunk of files, counts the commas of each to check its length,
    and parses the whole chunk in one call of pandas' C parser (about twice as fast per core as
    ``json.loads`` of each file). If that call fails, the chunk is parsed again file by file with
    Python's ``float``, which finds and describes the bad value. Values are rounded to float32.

    Cache. The parsed spectra go to ``<index name>-<key>.<token>.X.npy`` (memory-mapped when read
    back), the id, size and ``mtime_ns`` of each file to ``...<token>.files.npz`` and a small JSON
    manifest that names both (and the problems found) to ``<index name>-<key>.json``; ``key``
    hashes the absolute paths of the index and the folder and the suffix. Each file is written to a
    temporary name and moved into place with ``os.replace``, the manifest last, so that a crash or
    a concurrent reader never sees a half-written cache; a damaged cache is simply rebuilt.

    On every read the index is read again (it is small), so an edited index (labels, order, ids
    added or removed) is always taken as it is now. Each listed file is then compared with the
    cache by size and ``mtime_ns``: only files that changed, appeared or disappeared are parsed
    again, unless the file that fixed ``n_points`` changed, which re-parses all. A file modified
    less than 2 s before it was read is not trusted and is parsed again on the next read, because
    a second modification within the same timestamp tick would not change its mtime. A change
    that keeps both size and mtime (e.g. copying with preserved times) cannot be seen; delete the
    cache folder or pass ``cache=False`` then. If the cache cannot be written (read-only folder)
    a warning says so and the spectra are returned anyway.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skspectra.io import read_contest
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "train").mkdir()
    >>> _ = (root / "train" / "7.txt").write_text("1.5,2.0,3.25\\n")
    >>> _ = (root / "train" / "3.txt").write_text("4.0, 5.0, 6.0\\n")
    >>> _ = (root / "index.csv").write_text("id,type\\n7,star\\n3,qso\\n")
    >>> X, y, ids, wavelength = read_contest(root / "index.csv", root / "train")
    >>> X
    array([[1.5 , 2.  , 3.25],
           [4.  , 5.  , 6.  ]], dtype=float32)
    >>> y.tolist(), ids.tolist(), wavelength
    (['star', 'qso'], ['7', '3'], None)
    """
    _check_on_error(on_error)
    index_path = _existing_file(index_csv, "index CSV")
    folder = os.fspath(spectra_dir)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"spectra_dir {folder!r} is not a directory: pass the folder that holds the "
            f"<id>{suffix} files listed in {index_path}"
        )
    if n_points is not None and (not isinstance(n_points, int | np.integer) or n_points < 1):
        raise ValueError(f"n_points must be a positive integer or None, got {n_points!r}")
    _confined.cache_clear()  # the folder is resolved afresh on every read
    confined = _confined(folder)
    if not isinstance(suffix, str) or confined.problem_with_name(f"x{suffix}") is not None:
        raise ValueError(
            f"suffix must be the end of a file name, like '.txt', got {suffix!r}: spectrum files "
            "are read from spectra_dir itself, never from another folder"
        )

    index = _read_index(index_path, labels, confined, suffix)
    n = len(index.ids)
    problems = dict(index.problems)
    hint = _LABEL_HINT if labels is not None else ""
    if problems and on_error == "raise":
        # Problems in the index are cheap to find and to fix: report them before parsing.
        _handle_problems(problems, index.ids, on_error, source=str(index_path), hint=hint)

    rows = np.flatnonzero(~np.isin(np.arange(n), list(problems)))
    if not len(rows):  # skip mode, and no line of the index is usable: this raises
        _handle_problems(problems, index.ids, on_error, source=str(index_path), hint=hint)
    file_ids = index.ids[rows]
    prefix = os.path.join(folder, "")  # joined once: os.path.join per file costs more than a stat
    paths = [f"{prefix}{i}{suffix}" for i in file_ids.tolist()]
    store = None
    if cache:
        where = Path(cache_dir) if cache_dir is not None else index_path.parent / ".skspectra_cache"
        store = _CacheStore(where, index_path, folder, suffix)
    X_files, file_problems = _load_spectrum_files(
        paths,
        file_ids,
        store=store,
        n_points=n_points,
        n_jobs=n_jobs,
        progress=_want_progress(progress),
        desc=f"reading {folder}",
    )

    missing = set()
    for file_row, (kind, message) in file_problems.items():
        row = int(rows[file_row])
        if kind == "missing":
            message = (
                f"{index_path} line {index.lines[row]}: id {str(index.ids[row])!r} has no file "
                f"{paths[file_row]}"
            )
            missing.add(row)
        problems[row] = message
    if missing and len(missing) == len(rows):
        hint = f"No listed file exists: check spectra_dir ({folder!r}) and suffix ({suffix!r})."
    keep, skipped = _handle_problems(
        problems, index.ids, on_error, source=str(index_path), hint=hint, missing=missing
    )
    X = X_files
    if keep is not None:
        X = np.ascontiguousarray(X_files[keep[rows]])
    return Spectra(X, _take(index.y, keep), _take(index.ids, keep), None, skipped)


class _Index(NamedTuple):
    ids: np.ndarray
    y: np.ndarray | None
    lines: np.ndarray
    problems: dict[int, str]


def _read_index(
    path: Path, labels: Collection[str] | None, confined: ConfinedFolder, suffix: str
) -> _Index:
    """Read a contest index; each problem is keyed by its row and names the line.

    An id that is not a plain file name (``../x``, ``/etc/passwd``, ``a/b``) is a problem of its
    line: the reader never opens a file outside ``spectra_dir``.
    """
    try:
        # Everything as text: ids like "007" must keep their zeros, "nan" is a valid id. Blank
        # lines are kept (and dropped below) so that row i is on line i + 2.
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False
        )
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{path} is empty: an index needs the header 'id,type' (or 'id') and one line per "
            "spectrum"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from None
    columns = {str(c).strip().lower(): c for c in frame.columns}
    if "id" not in columns:
        raise ValueError(
            f"{path} has the columns {list(frame.columns)} but no 'id' column: the first line of a "
            "contest index is the header 'id,type' (labelled) or 'id' (unlabelled)"
        )
    # np.char.strip is one C loop on NumPy 2, several times faster than pandas' .str.strip.
    ids = np.char.strip(frame[columns["id"]].to_numpy(dtype=str))
    label_column = next((columns[c] for c in _LABEL_COLUMNS if c in columns), None)
    y = None if label_column is None else np.char.strip(frame[label_column].to_numpy(dtype=str))
    lines = np.arange(len(frame)) + 2

    blank = (ids == "") & (y == "" if y is not None else True)
    for column in frame.columns:
        if column not in (columns["id"], label_column):
            blank &= np.char.strip(frame[column].to_numpy(dtype=str)) == ""
    if blank.all():
        raise ValueError(f"{path} lists no spectra: add one line per spectrum after the header")
    ids, lines = ids[~blank], lines[~blank]
    if y is not None:
        y = y[~blank]

    problems = {
        int(row): f"{path} line {lines[row]}: the id is empty" for row in np.flatnonzero(ids == "")
    }
    # A vectorised screen first: almost every index holds plain names only.
    suspect = np.isin(ids, [".", ".."])
    for sep in ("/", "\\", "\0"):
        suspect |= np.char.find(ids, sep) >= 0
    for row in np.flatnonzero(suspect):
        if confined.problem_with_name(f"{ids[row]}{suffix}") is not None:
            problems.setdefault(
                int(row),
                f"{path} line {lines[row]}: the id {_shorten(str(ids[row]), 60)!r} is not a plain "
                "file name: ids name files inside spectra_dir, without a folder",
            )
    rows = {i: f"{path} line {line}" for i, line in enumerate(lines)}
    earlier = {i: f"line {line}" for i, line in enumerate(lines)}
    for row, message in _label_problems(y, ids, labels, rows, earlier).items():
        problems.setdefault(row, message)
    return _Index(ids, y, lines, problems)


def _load_spectrum_files(
    paths: list[str],
    ids: np.ndarray,
    *,
    store: _CacheStore | None,
    n_points: int | None,
    n_jobs: int | None,
    progress: bool,
    desc: str,
) -> tuple[np.ndarray, dict[int, tuple[str, str]]]:
    """Parse (or take from the cache) the files; return X and problems keyed by row."""
    n = len(paths)
    start_ns = time.time_ns()
    cached = store.load() if store is not None else None
    if cached is not None and n_points is not None and cached.n_points != n_points:
        cached = None
    hit = np.zeros(n, dtype=bool)
    where = np.full(n, -1)
    if cached is not None:
        where = pd.Index(cached.ids).get_indexer(ids)
        size, mtime = _stat_all(paths)
        found = np.flatnonzero(where >= 0)
        w = where[found]
        hit[found] = (cached.size[w] == size[found]) & (cached.mtime[w] == mtime[found])
        ref = np.flatnonzero(ids == cached.ref_id) if cached.ref_id is not None else []
        if len(ref) and not hit[ref[0]]:
            # The file that fixed n_points changed: it may have a new length, learn it again.
            cached, hit[:] = None, False

    problems: dict[int, tuple[str, str]] = {}
    if cached is not None:
        rows = pd.Index(ids).get_indexer(list(cached.problems))
        for row, key in zip(rows, cached.problems, strict=True):
            if row >= 0 and hit[row]:
                problems[int(row)] = cached.problems[key]
        if hit.all() and len(cached.ids) == n and np.array_equal(where, np.arange(n)):
            return cached.X, problems

    todo = np.flatnonzero(~hit)
    ref_id = cached.ref_id if cached is not None else None
    if cached is not None:
        n_points = cached.n_points
    elif n_points is None:
        n_points, ref_row = _probe_length([paths[i] for i in todo])
        ref_id = str(ids[todo[ref_row]])
    new_X, new_size, new_mtime, new_problems = _parse_files(
        [paths[i] for i in todo], n_points, n_jobs=n_jobs, progress=progress, desc=desc
    )
    for row, problem in new_problems.items():
        problems[int(todo[row])] = problem
    new_mtime[new_mtime >= start_ns - _RACY_NS] = _UNTRUSTED

    if cached is None:
        X, size, mtime = new_X, new_size, new_mtime
    else:
        X = np.empty((n, n_points), dtype=np.float32)
        size = np.empty(n, dtype=np.int64)
        mtime = np.empty(n, dtype=np.int64)
        X[hit] = cached.X[where[hit]]
        size[hit], mtime[hit] = cached.size[where[hit]], cached.mtime[where[hit]]
        X[todo], size[todo], mtime[todo] = new_X, new_size, new_mtime
    if store is not None:
        by_id = {str(ids[row]): problem for row, problem in problems.items()}
        store.save(ids, X, size, mtime, by_id, n_points, ref_id)
    return X, problems


def _probe_length(paths: Sequence[str]) -> tuple[int, int]:
    """Return the number of values of the first readable file and its position."""
    first_problem = None
    for position, path in enumerate(paths[:_MAX_PROBE]):
        try:
            data, _ = _read_spectrum_file(path, None)
        except FileNotFoundError:
            first_problem = first_problem or f"{path} does not exist"
            continue
        except OSError as exc:
            first_problem = first_problem or f"{path} cannot be read ({exc.strerror or exc})"
            continue
        except ValueError as exc:
            first_problem = first_problem or str(exc)
            continue
        values, message = _parse_exact(_trim(data), None)
        if values is not None:
            return len(values), position
        first_problem = first_problem or f"{path}: {message}"
    raise ValueError(
        f"none of the first {min(len(paths), _MAX_PROBE)} spectrum files could be read, so their "
        f"length is unknown (first: {first_problem}). Check spectra_dir and suffix, or pass "
        "n_points"
    )


def _parse_files(
    paths: list[str], n_points: int, *, n_jobs: int | None, progress: bool, desc: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, tuple[str, str]]]:
    """Parse files in chunks, in parallel when there are enough of them."""
    n = len(paths)
    X = np.empty((n, n_points), dtype=np.float32)
    size = np.empty(n, dtype=np.int64)
    mtime = np.empty(n, dtype=np.int64)
    problems: dict[int, tuple[str, str]] = {}
    workers = joblib.effective_n_jobs(-1 if n_jobs is None else n_jobs)
    if n < _MIN_PARALLEL:
        workers = 1
    step = _MAX_CHUNK if workers == 1 else _chunk_size(n, workers)
    starts = range(0, n, step)
    results = _map_chunks(
        _parse_chunk,
        [(paths[s : s + step], n_points) for s in starts],
        workers=workers,
        progress=progress,
        total=n,
        desc=desc,
    )
    for start, (chunk_X, chunk_size, chunk_mtime, chunk_problems) in zip(
        starts, results, strict=True
    ):
        stop = start + len(chunk_X)
        X[start:stop], size[start:stop], mtime[start:stop] = chunk_X, chunk_size, chunk_mtime
        for row, problem in chunk_problems.items():
            problems[start + row] = problem
    return X, size, mtime, problems


def _parse_chunk(
    paths: Sequence[str], n_points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, tuple[str, str]]]:
    """Read and parse some files (runs in a worker process).

    Returns the spectra (rows of bad files are zero), the size and mtime_ns of each file at the
    time it was read (-1 when it is missing) and the problems: ``{row: (kind, message)}`` with
    kind "missing" (the caller words that message, it knows the index line) or "file".
    """
    k = len(paths)
    X = np.zeros((k, n_points), dtype=np.float32)
    size = np.full(k, -1, dtype=np.int64)
    mtime = np.full(k, -1, dtype=np.int64)
    problems: dict[int, tuple[str, str]] = {}
    blobs: list[bytes] = []
    rows: list[int] = []
    for i, path in enumerate(paths):
        try:
            data, stat = _read_spectrum_file(path, n_points)
        except FileNotFoundError:
            problems[i] = ("missing", "")
            continue
        except OSError as exc:
            problems[i] = ("file", f"{path} cannot be read ({exc.strerror or exc})")
            continue
        except ValueError as exc:  # outside the folder, not a regular file, or too large
            problems[i] = ("file", str(exc))
            continue
        size[i], mtime[i] = stat.st_size, stat.st_mtime_ns
        data = _trim(data)
        # NumPy counts the commas about six times faster than bytes.count.
        if not data or np.count_nonzero(np.frombuffer(data, np.uint8) == _COMMA) + 1 != n_points:
            problems[i] = ("file", f"{path}: {_parse_exact(data, n_points)[1]}")
            continue
        blobs.append(data)
        rows.append(i)
    if not blobs:
        return X, size, mtime, problems

    values = _parse_joined(blobs, n_points)
    if values is None:
        # Something in this chunk is not a plain number: go file by file to find and name it.
        for blob, i in zip(blobs, rows, strict=True):
            parsed, message = _parse_exact(blob, n_points)
            if parsed is None:
                problems[i] = ("file", f"{paths[i]}: {message}")
            else:
                X[i] = parsed
        return X, size, mtime, problems
    X[rows] = values
    for j in np.flatnonzero(~np.isfinite(values).all(axis=1)):
        i = rows[j]
        X[i] = 0.0
        problems[i] = ("file", f"{paths[i]}: {_parse_exact(blobs[j], n_points)[1]}")
    return X, size, mtime, problems


def _read_spectrum_file(path: str, n_points: int | None) -> tuple[bytes, os.stat_result]:
    """The bytes of one spectrum file and the stat of the open file, read only from its folder,
    only if it is a regular file, and only up to the size a spectrum of ``n_points`` values
    takes (``_MAX_PROBE_BYTES`` when the length is not known yet).

    Raises FileNotFoundError, OSError, or ValueError with a message that names the file and
    never shows its content.
    """
    folder, name = os.path.split(path)
    if n_points is None:
        limit, why = _MAX_PROBE_BYTES, "the first file read, whose length fixes n_points"
    else:
        limit, why = n_points * _BYTES_PER_VALUE + _FILE_SLACK, f"a spectrum of {n_points} values"
    with _confined(folder).open(name) as handle:
        # The stat of the open file describes exactly the bytes read below.
        stat = os.fstat(handle.fileno())
        data = read_capped(handle, limit, lambda: f"{path} is too large for {why}")
    return data, stat


@functools.lru_cache(maxsize=8)
def _confined(folder: str) -> ConfinedFolder:
    # Resolving the folder costs a few system calls: once per folder and process, not per file.
    return ConfinedFolder(folder, "spectrum file")


def _trim(data: bytes) -> bytes:
    # Writers often end a file with a newline, some with a comma after the last value.
    data = data.strip()
    if data.endswith(b","):
        data = data[:-1].rstrip()
    return data


def _parse_joined(blobs: list[bytes], n_points: int) -> np.ndarray | None:
    """Parse many comma-separated files at once, or return None if anything looks wrong.

    The files are joined by commas and read as one column with the comma as line terminator;
    pandas' C parser is about twice as fast per value as ``json.loads`` or ``np.fromstring``.
    It refuses anything that is not a number (an empty value is dropped, which the length check
    catches), and reads "nan", "inf" and "NA" as non-finite, which the caller catches.
    """
    # Overflow to inf is reported by the finiteness check, not by numpy's warning. np.errstate,
    # not warnings.catch_warnings: this runs in threads, and catch_warnings swaps the
    # process-wide filters, so threads that overlap restore each other's and leave them changed.
    with np.errstate(over="ignore"):
        try:
            frame = pd.read_csv(
                io.BytesIO(b",".join(blobs)),
                header=None,
                names=["value"],
                dtype=np.float32,
                engine="c",
                lineterminator=",",
            )
        except (ValueError, pd.errors.ParserError):
            return None
    values = frame["value"].to_numpy()
    if values.size != len(blobs) * n_points:
        return None
    return values.reshape(len(blobs), n_points)


def _parse_exact(data: bytes, n_points: int | None) -> tuple[np.ndarray | None, str | None]:
    """Parse one trimmed file value by value; return (values, None) or (None, what is wrong).

    Slow but exact: it is the reference for what a valid file is, and it names the first bad
    value.
    """
    if not data:
        return None, "is empty (no values)"
    tokens = data.decode("latin-1").split(",")
    n = len(tokens)
    values = np.empty(n, dtype=np.float64)
    for j, token in enumerate(tokens):
        text = token.strip()
        if not text:
            return None, f"value {j + 1} of {n} is empty"
        try:
            values[j] = float(text)
        except ValueError:
            # The text itself is not shown: the file may hold anything (it is not echoed).
            return None, f"value {j + 1} of {n} is not a number ({len(text)} characters of text)"
    if n_points is not None and n != n_points:
        return None, f"has {n} values, expected {n_points}"
    return _finite_float32(values, lambda j: tokens[j].strip())


def _stat_all(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Size and mtime_ns of each file, -1 for both when it does not exist."""
    if len(paths) <= _STAT_CHUNK:
        return _stat_some(paths)
    # os.stat releases the GIL: threads hide its latency, which is large on network file systems.
    parts = [paths[s : s + _STAT_CHUNK] for s in range(0, len(paths), _STAT_CHUNK)]
    with ThreadPoolExecutor(max_workers=min(8, len(parts))) as pool:
        sizes, mtimes = zip(*pool.map(_stat_some, parts), strict=True)
    return np.concatenate(sizes), np.concatenate(mtimes)


def _stat_some(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    size = np.full(len(paths), -1, dtype=np.int64)
    mtime = np.full(len(paths), -1, dtype=np.int64)
    stat = os.stat
    for i, path in enumerate(paths):
        try:
            st = stat(path)
        except OSError:
            continue
        size[i], mtime[i] = st.st_size, st.st_mtime_ns
    return size, mtime


# --------------------------------------------------------------------------------------------
# The cache of the contest reader
# --------------------------------------------------------------------------------------------


class _Cached(NamedTuple):
    ids: np.ndarray
    X: np.ndarray
    size: np.ndarray
    mtime: np.ndarray
    problems: dict[str, tuple[str, str]]
    n_points: int
    ref_id: str | None


class _CacheStore:
    """The files of one cache: a manifest, the spectra and the file stats (see read_contest)."""

    def __init__(self, directory: Path, index: Path, spectra_dir: str, suffix: str) -> None:
        self.directory = directory
        self.key = {
            "format": _CACHE_FORMAT,
            "index": str(index.resolve()),
            "spectra_dir": str(Path(spectra_dir).resolve()),
            "suffix": suffix,
        }
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()
        self.stem = f"{index.name}-{digest[:12]}"
        self.manifest = directory / f"{self.stem}.json"

    def load(self) -> _Cached | None:
        try:
            manifest = json.loads(self.manifest.read_text(encoding="utf-8"))
            if manifest["key"] != self.key:
                return None
            # The manifest names its files: plain names of this cache only, never a path.
            for name in (manifest["X"], manifest["files"]):
                if not isinstance(name, str) or not name.startswith(f"{self.stem}."):
                    return None
                if ConfinedFolder.problem_with_name(name) is not None:
                    return None
            X = np.load(self.directory / manifest["X"], mmap_mode="r", allow_pickle=False)
            with np.load(self.directory / manifest["files"], allow_pickle=False) as files:
                ids, size, mtime = files["ids"], files["size"], files["mtime"]
            n, n_points = len(ids), int(manifest["n_points"])
            if X.shape != (n, n_points) or X.dtype != np.float32:
                return None
            if size.shape != (n,) or mtime.shape != (n,):
                return None
            problems = {str(k): (str(v[0]), str(v[1])) for k, v in manifest["problems"].items()}
            return _Cached(ids, X, size, mtime, problems, n_points, manifest["ref_id"])
        except Exception:  # any damage to a cache is a cache miss, never an error
            return None

    def save(
        self,
        ids: np.ndarray,
        X: np.ndarray,
        size: np.ndarray,
        mtime: np.ndarray,
        problems: dict[str, tuple[str, str]],
        n_points: int,
        ref_id: str | None,
    ) -> None:
        # A fresh token per write: a reader that memory-maps the previous X keeps a valid file.
        token = uuid.uuid4().hex[:12]
        x_name = f"{self.stem}.{token}.X.npy"
        files_name = f"{self.stem}.{token}.files.npz"
        manifest = {
            "key": self.key,
            "X": x_name,
            "files": files_name,
            "n_points": int(n_points),
            "n_spectra": len(ids),
            "ref_id": ref_id,
            "problems": problems,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write(self.directory / x_name, lambda f: np.save(f, X))
            atomic_write(
                self.directory / files_name,
                lambda f: np.savez(f, ids=np.asarray(ids, dtype=str), size=size, mtime=mtime),
            )
            # The manifest goes last: until it is replaced, readers use the previous cache.
            atomic_write(self.manifest, lambda f: f.write(json.dumps(manifest).encode()))
        except OSError as exc:
            warnings.warn(
                f"cannot write the spectra cache in {self.directory} ({exc}); the spectra were "
                "read without it. Pass cache_dir= a writable folder to keep a cache, or "
                "cache=False to silence this warning",
                SpectraReadWarning,
                stacklevel=4,
            )
            return
        day_ago = time.time() - 86400
        with os.scandir(self.directory) as entries:
            for entry in entries:
                name = entry.name
                if not name.startswith(f"{self.stem}.") or f".{token}." in name:
                    continue
                # Earlier generations go; so do temporary files a crash left over a day ago (a
                # younger one may belong to a concurrent writer). Errors are ignored: Windows
                # refuses to delete a file that another reader maps, it goes next time.
                with contextlib.suppress(OSError):
                    if name.endswith((".X.npy", ".files.npz")) or (
                        name.endswith(".tmp") and entry.stat().st_mtime < day_ago
                    ):
                        os.unlink(entry.path)
