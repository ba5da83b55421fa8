"""Read spectra from disk into arrays: the LAMOST contest layout, NumPy files, CSV tables and FITS.

Every reader returns a :class:`Spectra` tuple ``(X, y, ids, wavelength)`` with ``X`` as float32 of
shape ``(n_spectra, n_points)``, ready for the estimators of skspectra. :func:`read_spectra` picks
the reader from what its argument is.

Bad input never turns into a silently wrong array: a missing file, a value that is not a number, a
spectrum of the wrong length, a NaN or an infinity, an unknown label, a duplicated id or an empty
index raise an error that names the file and the line or position. With ``on_error="skip"`` the bad
spectra are dropped instead, a :class:`SpectraReadWarning` says how many and why, and
``Spectra.skipped`` maps each dropped id to the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

import joblib
import numpy as np
import pandas as pd
from tqdm import tqdm

__all__ = [
    "CONTEST_LABELS",
    "Spectra",
    "SpectraReadWarning",
    "read_contest",
    "read_csv",
    "read_fits",
    "read_npy",
    "read_npz",
    "read_spectra",
]

PathLike = str | os.PathLike
OnError = Literal["raise", "skip"]

#: The four classes of the LAMOST spectrum classification contest.
CONTEST_LABELS: tuple[str, ...] = ("star", "galaxy", "qso", "unknown")

# Column names taken for the label, in this order of preference, by the CSV readers.
_LABEL_COLUMNS = ("type", "label", "y", "class")
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")

# Chunking of the contest reader: a chunk is the unit of work of one worker process. Big enough
# that process overhead is noise, small enough that the progress bar moves and memory stays low.
_MIN_CHUNK = 64
_MAX_CHUNK = 1000
# Below this many files, starting worker processes costs more than it saves.
_MIN_PARALLEL = 2000
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
# How many problems an error message or warning lists before "... and N more".
_MAX_LISTED = 5


class SpectraReadWarning(UserWarning):
    """Warning issued when spectra are skipped (``on_error="skip"``) or a cache cannot be written.

    Examples
    --------
    >>> import warnings
    >>> from skspectra.io import SpectraReadWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", SpectraReadWarning)
    """


class _SpectraFields(NamedTuple):
    X: np.ndarray
    y: np.ndarray | None
    ids: np.ndarray
    wavelength: np.ndarray | None


class Spectra(_SpectraFields):
    """Spectra read from disk: a named tuple ``(X, y, ids, wavelength)``.

    Attributes
    ----------
    X : ndarray of shape (n_spectra, n_points), float32
        The fluxes, one spectrum per row. A cache hit of :func:`read_contest` returns a read-only
        memory map; ``np.array(X)`` makes a writable copy.
    y : ndarray of str, shape (n_spectra,), or None
        The labels, or None for unlabelled data.
    ids : ndarray of str, shape (n_spectra,)
        The identifier of each spectrum, in the order of the source.
    wavelength : ndarray of float64, shape (n_points,), or None
        The common wavelength (or wavenumber) grid, or None when the source has none.
    skipped : dict of str to str
        With ``on_error="skip"``: the id of each spectrum that was dropped, and why. Empty
        otherwise. It is an attribute, not a fifth field, so that ``X, y, ids, wl = spectra``
        keeps working.

    Examples
    --------
    >>> import numpy as np
    >>> from skspectra.io import Spectra
    >>> spectra = Spectra(np.zeros((2, 3), np.float32), None, np.array(["a", "b"]), None)
    >>> X, y, ids, wavelength = spectra
    >>> X.shape, spectra.skipped
    ((2, 3), {})
    """

    # No __slots__ here on purpose: instances get a __dict__ that holds `skipped`.
    skipped: dict[str, str]

    def __new__(
        cls,
        X: np.ndarray,
        y: np.ndarray | None,
        ids: np.ndarray,
        wavelength: np.ndarray | None,
        skipped: Mapping[str, str] | None = None,
    ) -> Spectra:
        self = super().__new__(cls, X, y, ids, wavelength)
        self.skipped = dict(skipped or {})
        return self

    def __getattr__(self, name: str) -> Any:
        # `_make` and `_replace` build instances without calling __new__: nothing was skipped.
        if name == "skipped":
            return {}
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        n, p = self.X.shape if self.X.ndim == 2 else (len(self.X), "?")
        labels = "None" if self.y is None else f"{len(np.unique(self.y))} classes"
        grid = "None"
        if self.wavelength is not None and len(self.wavelength):
            grid = f"{self.wavelength[0]:.6g}..{self.wavelength[-1]:.6g}"
        return (
            f"Spectra(X: {n} x {p} {self.X.dtype}, y: {labels}, wavelength: {grid}, "
            f"skipped: {len(self.skipped)})"
        )


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

    index = _read_index(index_path, labels)
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


def _read_index(path: Path, labels: Collection[str] | None) -> _Index:
    """Read a contest index; each problem is keyed by its row and names the line."""
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
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            first_problem = first_problem or f"{path} does not exist"
            continue
        except OSError as exc:
            first_problem = first_problem or f"{path} cannot be read ({exc.strerror or exc})"
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
            with open(path, "rb") as handle:
                # The stat of the open file describes exactly the bytes read below.
                stat = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            problems[i] = ("missing", "")
            continue
        except OSError as exc:
            problems[i] = ("file", f"{path} cannot be read ({exc.strerror or exc})")
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
    with warnings.catch_warnings():
        # Overflow to inf is reported by the finiteness check, not by a warning.
        warnings.simplefilter("ignore")
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
            return None, f"value {j + 1} of {n} is {_shorten(text)!r}, not a number"
    if n_points is not None and n != n_points:
        return None, f"has {n} values, expected {n_points}"
    return _finite_float32(values, lambda j: tokens[j].strip())


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


# --------------------------------------------------------------------------------------------
# NumPy and CSV files
# --------------------------------------------------------------------------------------------


def read_npy(path: PathLike, *, on_error: OnError = "raise") -> Spectra:
    """Read spectra from a ``.npy`` file holding X alone.

    Parameters
    ----------
    path : str or path-like
        A file written by ``np.save`` with a numeric array of shape (n_spectra, n_points).
    on_error : {"raise", "skip"}, default="raise"
        What to do with a spectrum holding NaN, an infinity or a value beyond float32: raise a
        ValueError naming its row and position, or drop it with a warning.

    Returns
    -------
    Spectra
        ``X`` as float32 (a read-only memory map when the file is float32 already), ``y`` None,
        ``ids`` the row numbers as strings ("0", "1", ...) and ``wavelength`` None.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from skspectra.io import read_npy
    >>> path = Path(tempfile.mkdtemp()) / "X.npy"
    >>> np.save(path, np.arange(6.0).reshape(2, 3))
    >>> X, y, ids, wavelength = read_npy(path)
    >>> X.dtype, X.shape, ids.tolist(), y
    (dtype('float32'), (2, 3), ['0', '1'], None)
    """
    _check_on_error(on_error)
    path = _existing_file(path, ".npy file")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ValueError(
            f"{path} cannot be read as a numeric array ({exc}); save spectra with "
            "np.save(path, np.asarray(X, dtype=np.float32))"
        ) from None
    X, problems = _spectra_array(X, str(path))
    ids = np.arange(len(X)).astype(str)
    keep, skipped = _handle_problems(problems, ids, on_error, source=str(path))
    return Spectra(_take(X, keep), None, _take(ids, keep), None, skipped)


def read_npz(
    path: PathLike,
    *,
    split: str | None = None,
    labels: Collection[str] | None = None,
    on_error: OnError = "raise",
) -> Spectra:
    """Read spectra from a ``.npz`` archive.

    The arrays are found by name. With ``split=None``: ``X`` (required), ``y``, ``ids`` (or
    ``id``). With ``split="train"`` (any name): ``X_train``, ``y_train``, ``ids_train``, so that
    one archive can hold ``X_train, y_train, X_test, ...``. The grid is ``wavelength_<split>``,
    ``wavelength``, ``wavenumber_<split>`` or ``wavenumber``, the first present.

    Parameters
    ----------
    path : str or path-like
        An archive written by ``np.savez`` or ``np.savez_compressed``.
    split : str, default=None
        Which split to read, see above.
    labels : collection of str, default=None
        The allowed labels; any other label is an error. None accepts any non-empty label.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a spectrum that cannot be used (NaN or infinite value, empty or unknown
        label, duplicated id): raise a ValueError naming it, or drop it with a warning.

    Returns
    -------
    Spectra
        ``X`` as float32, ``y`` as str (numeric labels become strings) or None, ``ids`` as str
        (the row numbers when absent) and ``wavelength`` as float64 or None.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from skspectra.io import read_npz
    >>> path = Path(tempfile.mkdtemp()) / "data.npz"
    >>> np.savez(path, X_train=np.ones((2, 3)), y_train=np.array(["star", "qso"]),
    ...          X_test=np.zeros((1, 3)), wavelength=np.array([4000.0, 5000.0, 6000.0]))
    >>> X, y, ids, wavelength = read_npz(path, split="train")
    >>> X.shape, y.tolist(), wavelength.tolist()
    ((2, 3), ['star', 'qso'], [4000.0, 5000.0, 6000.0])
    >>> read_npz(path, split="test").y is None
    True
    """
    _check_on_error(on_error)
    path = _existing_file(path, ".npz file")
    end = "" if split is None else f"_{split}"
    with np.load(path, allow_pickle=False) as archive:
        names = set(archive.files)
        x_name = f"X{end}"
        if x_name not in names:
            splits = sorted(name[2:] for name in names if name.startswith("X_"))
            if split is None and splits:
                fix = f"it holds the splits {splits}: pass split={splits[0]!r}"
            elif splits:
                fix = f"its splits are {splits}"
            else:
                fix = "save the spectra as 'X' (or 'X_train', 'X_test', ... with split=)"
            raise ValueError(f"{path} has no array {x_name!r} (it has {sorted(names)}): {fix}")

        def get(*candidates: str) -> np.ndarray | None:
            name = next((c for c in candidates if c in names), None)
            if name is None:
                return None
            try:
                return archive[name]
            except ValueError:
                raise ValueError(
                    f"{path}: the array {name!r} holds Python objects, which skspectra does not "
                    "unpickle; save it as a string or numeric array, e.g. "
                    "np.asarray(y, dtype=str)"
                ) from None

        X = get(x_name)
        y = get(f"y{end}")
        ids = get(f"ids{end}", f"id{end}")
        wavelength = get(f"wavelength{end}", "wavelength", f"wavenumber{end}", "wavenumber")

    source = str(path)
    X, problems = _spectra_array(X, f"{source} {x_name}")
    n = len(X)
    ids = np.arange(n).astype(str) if ids is None else np.asarray(ids).astype(str)
    if y is not None:
        y = np.asarray(y).astype(str)
    for name, array in (("y", y), ("ids", ids)):
        if array is not None and array.shape != (n,):
            raise ValueError(
                f"{path}: {name}{end} has shape {array.shape} but X{end} has {n} spectra: save "
                f"one {name[:-1] if name == 'ids' else 'label'} per spectrum"
            )
    wavelength = _check_grid(wavelength, X.shape[1], source)
    rows = {i: f"{source} row {i}" for i in range(n)}
    problems.update(_label_problems(y, ids, labels, rows))
    keep, skipped = _handle_problems(
        problems, ids, on_error, source=source, hint=_LABEL_HINT if labels is not None else ""
    )
    return Spectra(_take(X, keep), _take(y, keep), _take(ids, keep), wavelength, skipped)


def read_csv(
    path: PathLike,
    *,
    label_column: str | None = None,
    id_column: str | None = "id",
    labels: Collection[str] | None = None,
    on_error: OnError = "raise",
) -> Spectra:
    """Read a CSV table with one spectrum per row.

    The first line is the header. The label column is ``label_column``, or else the first of
    ``type``, ``label``, ``y`` and ``class`` that exists (none: unlabelled); the id column is
    ``id_column`` when present. Every other column holds fluxes. If all their names are numbers,
    they are the wavelength grid.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    label_column : str, default=None
        The column of labels; None looks for the usual names above.
    id_column : str or None, default="id"
        The column of ids; when the table has none, the ids are the row numbers ("0", "1", ...).
    labels : collection of str, default=None
        The allowed labels; any other label is an error. None accepts any non-empty label.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a row that cannot be used (empty, non-numeric or non-finite flux, empty
        or unknown label, duplicated id): raise a ValueError naming its line and column, or
        drop it with a warning.

    Returns
    -------
    Spectra
        ``X`` float32, ``y`` str or None, ``ids`` str and ``wavelength`` float64 or None.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skspectra.io import read_csv
    >>> path = Path(tempfile.mkdtemp()) / "spectra.csv"
    >>> _ = path.write_text("id,type,4000,4500,5000\\na1,star,1.0,2.0,3.0\\na2,qso,4.0,5.0,6.0\\n")
    >>> X, y, ids, wavelength = read_csv(path)
    >>> X.tolist(), y.tolist(), ids.tolist(), wavelength.tolist()
    ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], ['star', 'qso'], ['a1', 'a2'], [4000.0, 4500.0, 5000.0])
    """
    _check_on_error(on_error)
    path = _existing_file(path, "CSV file")
    try:
        header = [str(c).strip() for c in pd.read_csv(path, nrows=0).columns]
        lower = {c.lower(): c for c in header}
        if label_column is not None and label_column not in header:
            raise ValueError(
                f"{path} has no column {label_column!r} (it has {header[:8]}...): pass "
                "label_column= one of its columns, or None to look for type/label/y/class"
            )
        if label_column is None:
            label_column = next((lower[c] for c in _LABEL_COLUMNS if c in lower), None)
        id_name = lower.get(id_column.lower()) if id_column is not None else None
        # Ids and labels stay text ("007" keeps its zeros). Only an empty cell is missing:
        # "NA" or "null" in a flux column is reported as text that is not a number.
        frame = pd.read_csv(
            path,
            keep_default_na=False,
            na_values=[""],
            dtype={i: str for i, c in enumerate(header) if c in (label_column, id_name)},
        )
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: write a header line and one spectrum per row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from None
    frame.columns = header
    flux_columns = [c for c in frame.columns if c not in (label_column, id_name)]
    if not flux_columns:
        raise ValueError(
            f"{path} has no flux columns (only {list(frame.columns)}): if it is a contest index, "
            "pass spectra_dir= the folder of <id>.txt files"
        )
    if len(frame) == 0:
        raise ValueError(f"{path} holds no spectra: add one row per spectrum after the header")

    grid = [_as_float(c) for c in flux_columns]
    wavelength = None
    if all(v is not None for v in grid):
        wavelength = _check_grid(np.array(grid, dtype=np.float64), len(grid), str(path))
    elif any(v is not None for v in grid):
        odd = [c for c, v in zip(flux_columns, grid, strict=True) if v is None]
        raise ValueError(
            f"{path}: the columns {odd[:_MAX_LISTED]} are not numbers while other column names "
            "are wavelengths: name the id column 'id' and the label column 'type' (or pass "
            "id_column=/label_column=), or drop the extra columns"
        )

    block = frame[flux_columns]
    numeric = (
        block.apply(pd.to_numeric, errors="coerce")
        if any(not pd.api.types.is_numeric_dtype(block[c]) for c in flux_columns)
        else block
    )
    values = numeric.to_numpy(dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        X = values.astype(np.float32)
    problems: dict[int, str] = {}
    n_values = len(flux_columns)
    for row in np.flatnonzero(~np.isfinite(X).all(axis=1)):
        j = int(np.flatnonzero(~np.isfinite(X[row]))[0])
        raw = block.iat[row, j]
        where = f"{path} line {row + 2}: value {j + 1} of {n_values} (column {flux_columns[j]!r})"
        if isinstance(raw, str) and _as_float(raw) is None:
            problems[int(row)] = f"{where} is {_shorten(raw)!r}, not a number"
        elif pd.isna(raw) and not isinstance(raw, str):
            problems[int(row)] = f"{where} is empty or NaN"
        elif np.isfinite(values[row, j]):
            problems[int(row)] = f"{where} is {raw}, too large for float32"
        else:
            problems[int(row)] = f"{where} is {raw}: spectra must be finite"

    n = len(frame)
    ids = (
        frame[id_name].astype(str).str.strip().to_numpy(dtype=str)
        if id_name is not None
        else np.arange(n).astype(str)
    )
    y = None
    if label_column is not None:
        y = frame[label_column].astype(str).str.strip().to_numpy(dtype=str)
        y[frame[label_column].isna().to_numpy()] = ""
    rows = {i: f"{path} line {i + 2}" for i in range(n)}
    for row, message in _label_problems(y, ids, labels, rows).items():
        problems.setdefault(row, message)
    keep, skipped = _handle_problems(
        problems, ids, on_error, source=str(path), hint=_LABEL_HINT if labels is not None else ""
    )
    return Spectra(_take(X, keep), _take(y, keep), _take(ids, keep), wavelength, skipped)


def _spectra_array(X: np.ndarray, source: str) -> tuple[np.ndarray, dict[int, str]]:
    """Check that X is a 2-D numeric array; cast it to float32; list its non-finite rows."""
    if X.ndim != 2:
        raise ValueError(
            f"{source} holds an array of shape {X.shape}: expected 2-D (n_spectra, n_points); "
            "save one spectrum per row, e.g. X.reshape(1, -1) for a single spectrum"
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"{source} holds {X.dtype} values: expected numbers; save np.asarray(X, "
            "dtype=np.float32)"
        )
    if len(X) == 0:
        raise ValueError(f"{source} holds no spectra (shape {X.shape})")
    with np.errstate(over="ignore", invalid="ignore"):
        X32 = np.asarray(X, dtype=np.float32)
    problems = {}
    for row in np.flatnonzero(~np.isfinite(X32).all(axis=1)):
        original = np.asarray(X[row], dtype=np.float64)
        message = _finite_float32(original, lambda j, v=original: repr(float(v[j])))[1]
        problems[int(row)] = f"{source} row {row}: {message}"
    return X32, problems


def _check_grid(grid: np.ndarray | None, n_points: int, source: str) -> np.ndarray | None:
    if grid is None:
        return None
    grid = np.asarray(grid, dtype=np.float64)
    if grid.shape != (n_points,):
        raise ValueError(
            f"{source}: the wavelength grid has shape {grid.shape} but the spectra have "
            f"{n_points} points: save one wavelength per flux value"
        )
    if not np.isfinite(grid).all():
        raise ValueError(f"{source}: the wavelength grid holds NaN or infinite values")
    return grid


def _as_float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


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


# --------------------------------------------------------------------------------------------
# FITS files
# --------------------------------------------------------------------------------------------


def read_fits(
    source: PathLike | Sequence[PathLike],
    *,
    wavelength: np.ndarray | None = None,
    fill_value: float = np.nan,
    label_key: str | None = None,
    labels: Collection[str] | None = None,
    n_jobs: int | None = None,
    progress: bool | None = None,
    on_error: OnError = "raise",
) -> Spectra:
    """Read one-spectrum-per-file FITS files and put them on one wavelength grid.

    Needs astropy (``pip install "skspectra[fits]"``). Two layouts are understood:

    - **LAMOST DR** (low resolution): the primary HDU is an image whose first row is the flux.
      The wavelength comes from the header: ``COEFF0``/``COEFF1`` (log10 of the wavelength is
      ``COEFF0 + COEFF1 * i`` for pixel ``i`` from 0), or else ``CRVAL1`` with ``CDELT1`` (or
      ``CD1_1``) and ``CRPIX1`` (default 1), linear, or log10 when ``DC-FLAG`` is 1 (IRAF's
      convention, which LAMOST follows).
    - **Tables** such as SDSS ``spec-*.fits``: the HDU named ``COADD``, else the first binary
      table, with a ``flux`` column and a ``loglam`` (log10 wavelength) or ``wavelength``
      column (names in any case). A table of one row whose cells are arrays (LAMOST DR8 and
      later) is read too.

    Parameters
    ----------
    source : str, path-like or sequence of them
        A FITS file, a folder (every ``*.fits``, ``*.fit``, ``*.fts``, optionally ``.gz``,
        sorted by name) or a list of files.
    wavelength : array-like of shape (n_points,), default=None
        The grid to resample every spectrum onto, increasing, in the unit of the files
        (Angstrom for LAMOST and SDSS). None keeps the grid of the files, which must then all
        be the same (a ValueError says when they differ).
    fill_value : float, default=np.nan
        The flux given to grid points outside the wavelength range of a spectrum. NaN marks them
        plainly; the classifiers need finite input, so either pick a grid that every spectrum
        covers or pass e.g. ``fill_value=0.0``.
    label_key : str, default=None
        Read a label per file: the primary header keyword of this name (LAMOST: ``"CLASS"``), or
        else the column of this name in a one-row table (SDSS: ``"CLASS"`` in ``SPECOBJ``).
        None returns ``y=None``. Labels are returned as written (e.g. "STAR", not "star").
    labels : collection of str, default=None
        The allowed labels when ``label_key`` is given; any other label is an error.
    n_jobs : int, default=None
        Worker processes, as in :func:`read_contest`.
    progress : bool, default=None
        Show a progress bar; None shows it when stderr is a terminal.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a file that cannot be used (unreadable, no flux or wavelength found,
        non-finite flux, wavelengths not monotonic, missing or unknown label, duplicated id).

    Returns
    -------
    Spectra
        ``X`` float32 of shape (n_files, n_points), ``y`` the labels or None, ``ids`` the file
        names without their FITS suffix and ``wavelength`` the grid (float64).

    Raises
    ------
    ImportError
        If astropy is not installed.

    Notes
    -----
    Resampling is linear interpolation (``np.interp``) of the flux at each grid wavelength.
    Flux densities (per Angstrom, as LAMOST and SDSS store them) are kept as they are: there is
    no rescaling for the change of pixel width, and no flux conservation. That is right when
    the new grid is about as fine as the old one; on a much coarser grid, narrow lines are
    sampled rather than averaged, so smooth or rebin first. Flux values are never
    extrapolated: grid points beyond either end of a spectrum get ``fill_value``.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from astropy.io import fits
    >>> from skspectra.io import read_fits
    >>> folder = Path(tempfile.mkdtemp())
    >>> flux = np.ones((3, 100), dtype=np.float32)  # flux, ivar, wavelength as in LAMOST
    >>> header = fits.Header({"COEFF0": 3.6, "COEFF1": 1e-4})  # 3981 to 4070 Angstrom
    >>> fits.PrimaryHDU(flux, header).writeto(folder / "spec-1.fits")
    >>> X, y, ids, wl = read_fits(folder, wavelength=[3900.0, 4000.0, 4050.0])
    >>> X, ids.tolist()
    (array([[nan,  1.,  1.]], dtype=float32), ['spec-1'])
    """
    fits = _import_fits()
    _check_on_error(on_error)
    paths = _fits_paths(source)
    grid = None
    if wavelength is not None:
        grid = np.asarray(wavelength, dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all():
            raise ValueError(
                f"wavelength must be a 1-D array of finite values, got shape {grid.shape}"
            )
        if grid.size > 1 and not (np.diff(grid) > 0).all():
            raise ValueError("wavelength must be strictly increasing: sort it, e.g. np.sort(wl)")
    del fits  # imported only to fail early and clearly; the workers import it again

    ids = np.array([_fits_id(p) for p in paths], dtype=str)
    workers = joblib.effective_n_jobs(-1 if n_jobs is None else n_jobs)
    if len(paths) < _MIN_PARALLEL // 10:  # a FITS file takes ~10 times longer than a text file
        workers = 1
    step = _chunk_size(len(paths), workers) if workers > 1 else _MAX_CHUNK
    starts = range(0, len(paths), step)
    chunks = [([os.fspath(p) for p in paths[s : s + step]], label_key) for s in starts]
    read = []
    for part in _map_chunks(
        _read_fits_chunk,
        chunks,
        workers=workers,
        progress=_want_progress(progress),
        total=len(paths),
        desc="reading FITS",
    ):
        read.extend(part)

    problems = {i: item for i, item in enumerate(read) if isinstance(item, str)}
    good = [i for i in range(len(read)) if i not in problems]
    if grid is None and good:
        first = good[0]
        grid = read[first][0]
        for i in good[1:]:
            other = read[i][0]
            if other.shape != grid.shape or not np.allclose(other, grid, rtol=1e-7, atol=0):
                raise ValueError(
                    f"{paths[first]} and {paths[i]} have different wavelength grids "
                    f"({_describe_grid(grid)} vs {_describe_grid(other)}): pass wavelength= the "
                    "grid to resample onto, e.g. np.linspace(3700, 9100, 2600)"
                )
    n_points = 0 if grid is None else len(grid)
    X = np.zeros((len(paths), n_points), dtype=np.float32)
    for i in good:
        wl, flux, _ = read[i]
        if wavelength is None:
            X[i] = flux
        else:
            X[i] = np.interp(grid, wl, flux, left=fill_value, right=fill_value)
    y = None
    if label_key is not None:
        y = np.array(["" if i in problems else str(read[i][2]) for i in range(len(read))])
    rows = {i: str(paths[i]) for i in range(len(paths))}
    for row, message in _label_problems(y, ids, labels, rows).items():
        problems.setdefault(row, message)
    hint = _LABEL_HINT if labels is not None else ""
    keep, skipped = _handle_problems(problems, ids, on_error, source="FITS files", hint=hint)
    return Spectra(_take(X, keep), _take(y, keep), _take(ids, keep), grid, skipped)


def _import_fits() -> Any:
    try:
        from astropy.io import fits
    except ImportError:
        raise ImportError(
            "reading FITS files needs astropy, which is not installed: "
            'pip install "skspectra[fits]" (or pip install astropy)'
        ) from None
    return fits


def _fits_paths(source: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            paths = sorted(p for p in path.iterdir() if p.name.lower().endswith(_FITS_SUFFIXES))
            if not paths:
                raise FileNotFoundError(
                    f"{path} holds no FITS files (*.fits, *.fit, *.fts, optionally .gz): pass "
                    "the folder that holds them, or a list of files"
                )
            return paths
        return [_existing_file(path, "FITS file")]
    paths = [Path(p) for p in source]
    if not paths:
        raise ValueError("no FITS files given: pass a file, a folder or a non-empty list")
    for path in paths:
        _existing_file(path, "FITS file")
    return paths


def _fits_id(path: Path) -> str:
    name = path.name
    for suffix in sorted(_FITS_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _describe_grid(grid: np.ndarray) -> str:
    return f"{len(grid)} points from {grid[0]:.6g} to {grid[-1]:.6g}"


class _BadSpectrum(Exception):
    """A FITS file that holds no usable spectrum; the message says why."""


def _read_fits_chunk(
    paths: Sequence[str], label_key: str | None
) -> list[tuple[np.ndarray, np.ndarray, str | None] | str]:
    """Read some FITS files (runs in a worker): (wavelength, flux, label) or a problem each."""
    fits = _import_fits()
    out: list[tuple[np.ndarray, np.ndarray, str | None] | str] = []
    for path in paths:
        try:
            with fits.open(path, memmap=False) as hdus:
                wl, flux = _fits_spectrum(hdus, fits)
                label = _fits_label(hdus, label_key, fits) if label_key is not None else None
            out.append((*_check_spectrum(wl, flux), label))
        except _BadSpectrum as exc:
            out.append(f"{path}: {exc}")
        except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
            # astropy raises all of these on truncated or malformed files.
            out.append(f"{path}: not a readable FITS file ({type(exc).__name__}: {exc})")
    return out


def _fits_spectrum(hdus: Any, fits: Any) -> tuple[np.ndarray, np.ndarray]:
    primary = hdus[0]
    if primary.data is not None and primary.data.size:
        data = np.asarray(primary.data, dtype=np.float64)
        flux = data.reshape(-1, data.shape[-1])[0]
        return _header_wavelength(primary.header, len(flux)), flux
    table = next(
        (h for h in hdus if h.name.upper() == "COADD"),
        next((h for h in hdus if isinstance(h, fits.BinTableHDU)), None),
    )
    if table is None:
        raise _BadSpectrum(
            "no spectrum found: expected a primary image (LAMOST) or a binary table with flux "
            "and loglam/wavelength columns (SDSS COADD)"
        )
    columns = {name.lower(): name for name in table.columns.names}
    if "flux" not in columns:
        raise _BadSpectrum(f"the table {table.name!r} has no 'flux' column ({table.columns.names})")
    flux = np.asarray(table.data[columns["flux"]], dtype=np.float64)
    if "loglam" in columns:
        wl = 10.0 ** np.asarray(table.data[columns["loglam"]], dtype=np.float64)
    else:
        name = next((columns[c] for c in ("wavelength", "lambda", "wave") if c in columns), None)
        if name is None:
            raise _BadSpectrum(
                f"the table {table.name!r} has no 'loglam' or 'wavelength' column "
                f"({table.columns.names})"
            )
        wl = np.asarray(table.data[name], dtype=np.float64)
    if flux.ndim == 2 and len(flux) == 1:  # one row of array cells (LAMOST DR8 and later)
        flux, wl = flux[0], wl[0] if wl.ndim == 2 else wl
    return wl, flux


def _header_wavelength(header: Any, n: int) -> np.ndarray:
    pixel = np.arange(n, dtype=np.float64)
    if "COEFF0" in header and "COEFF1" in header:
        return 10.0 ** (float(header["COEFF0"]) + float(header["COEFF1"]) * pixel)
    step = header.get("CDELT1", header.get("CD1_1"))
    if "CRVAL1" in header and step is not None:
        value = float(header["CRVAL1"]) + (pixel + 1 - float(header.get("CRPIX1", 1.0))) * step
        return 10.0**value if header.get("DC-FLAG") == 1 else value
    raise _BadSpectrum(
        "the primary image has no wavelength keywords: expected COEFF0/COEFF1 or CRVAL1 with "
        "CDELT1 (or CD1_1)"
    )


def _fits_label(hdus: Any, key: str, fits: Any) -> str:
    if key in hdus[0].header:
        return str(hdus[0].header[key]).strip()
    for hdu in hdus[1:]:
        if isinstance(hdu, fits.BinTableHDU) and len(hdu.data) == 1:
            names = {n.lower(): n for n in hdu.columns.names}
            if key.lower() in names:
                value = hdu.data[names[key.lower()]][0]
                return (value.decode() if isinstance(value, bytes) else str(value)).strip()
    raise _BadSpectrum(f"has no {key!r} header keyword nor one-row table column for the label")


def _check_spectrum(wl: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if wl.shape != flux.shape or flux.ndim != 1:
        raise _BadSpectrum(f"{wl.shape} wavelengths for {flux.shape} flux values")
    if len(flux) < 2:
        raise _BadSpectrum(f"holds {len(flux)} flux values, too few for a spectrum")
    if wl[0] > wl[-1]:
        wl, flux = wl[::-1], flux[::-1]
    if not (np.diff(wl) > 0).all():
        raise _BadSpectrum("its wavelengths are not strictly monotonic")
    flux32, message = _finite_float32(flux, lambda j: f"{flux[j]} (at {wl[j]:.6g})")
    if message is not None:
        raise _BadSpectrum(f"flux {message}")
    return wl, flux32


# --------------------------------------------------------------------------------------------
# One entry point
# --------------------------------------------------------------------------------------------


def read_spectra(
    path: PathLike | Sequence[PathLike], *, spectra_dir: PathLike | None = None, **kwargs: Any
) -> Spectra:
    """Read spectra from any supported source, chosen by what ``path`` is.

    ==========================================  ==================================
    ``path``                                    reader
    ==========================================  ==================================
    an index CSV, with ``spectra_dir=``         :func:`read_contest`
    ``*.npy``                                   :func:`read_npy`
    ``*.npz``                                   :func:`read_npz`
    ``*.csv`` (without ``spectra_dir``)         :func:`read_csv`
    ``*.fits`` (``.fit``, ``.fts``, ``.gz``),   :func:`read_fits`
    a folder of them, or a list of files
    ==========================================  ==================================

    Parameters
    ----------
    path : str, path-like or sequence of them
        What to read, see above.
    spectra_dir : str or path-like, default=None
        The folder of ``<id>.txt`` files of the contest layout; when given, ``path`` is the
        index CSV.
    **kwargs
        Passed on to the reader (e.g. ``on_error``, ``split``, ``wavelength``, ``n_jobs``).

    Returns
    -------
    Spectra
        The named tuple ``(X, y, ids, wavelength)``.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from skspectra.io import read_spectra
    >>> path = Path(tempfile.mkdtemp()) / "data.npz"
    >>> np.savez(path, X=np.ones((4, 8)), y=np.array(["star", "star", "qso", "galaxy"]))
    >>> spectra = read_spectra(path)
    >>> spectra
    Spectra(X: 4 x 8 float32, y: 3 classes, wavelength: None, skipped: 0)
    """
    if spectra_dir is not None:
        return read_contest(path, spectra_dir, **kwargs)
    if not isinstance(path, str | os.PathLike):
        return read_fits(path, **kwargs)
    target = Path(path)
    name = target.name.lower()
    if target.is_dir():
        return read_fits(target, **kwargs)
    if name.endswith(".npy"):
        return read_npy(target, **kwargs)
    if name.endswith(".npz"):
        return read_npz(target, **kwargs)
    if name.endswith(_FITS_SUFFIXES):
        return read_fits(target, **kwargs)
    if name.endswith(".csv"):
        return read_csv(target, **kwargs)
    _existing_file(target, "file")
    raise ValueError(
        f"cannot tell the format of {target} from its name: expected .npy, .npz, .csv, .fits or "
        "a folder of FITS files; for the contest layout pass the index CSV with spectra_dir="
    )


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------

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


def _existing_file(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a folder: pass the file itself")
    return path


def _want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


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
