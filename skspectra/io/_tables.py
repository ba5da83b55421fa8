"""NumPy files (``.npy``, ``.npz``) and CSV tables with one spectrum per row."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._files import _existing_file
from ._problems import (
    _LABEL_HINT,
    _MAX_LISTED,
    _check_on_error,
    _finite_float32,
    _handle_problems,
    _label_problems,
    _shorten,
    _take,
)
from ._spectra import OnError, PathLike, Spectra

# Column names taken for the label, in this order of preference, by the CSV readers.
_LABEL_COLUMNS = ("type", "label", "y", "class")
# An .npz array may inflate to more than _MAX_INFLATED bytes only if its compressed member is at
# least 1/_MAX_INFLATION of that: real spectra compress a few times, a bomb of zeros 1000 times.
_MAX_INFLATED = 1 << 30
_MAX_INFLATION = 100


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
            _check_npz_member(archive, name, path)
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


def _check_npz_member(archive: Any, name: str, path: Path) -> None:
    """Refuse an array whose header declares more than its member can hold, or that inflates
    from a few bytes to gigabytes (a zip bomb): NumPy allocates the declared size first."""
    try:
        info = archive.zip.getinfo(f"{name}.npy")
        with archive.zip.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile):
        return  # np.load reports what is wrong with it
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        raise ValueError(
            f"{path}: the array {name!r} declares {declared} bytes but its member holds "
            f"{info.file_size}: the file is corrupted or crafted"
        )
    if declared > _MAX_INFLATED and declared > _MAX_INFLATION * max(info.compress_size, 1):
        raise ValueError(
            f"{path}: the array {name!r} inflates from {info.compress_size} to {declared} "
            f"bytes, more than {_MAX_INFLATION} times: refused as a zip bomb. If the data is "
            "genuine, save it with np.savez (uncompressed)"
        )


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
