"""The CSV of predictions that ``skspectra predict`` writes, on one machine or on Dask."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ._files import atomic_write
from ._spectra import PathLike


def write_predictions(
    out: PathLike,
    classes: np.ndarray,
    parts: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    *,
    proba: bool,
) -> int:
    """Write ``id,type[,p_<class>...]`` rows for each ``(ids, labels, probabilities)`` part.

    Rows go to a temporary file part by part, so memory stays bounded by one part, and the
    file is renamed over ``out`` only when every row is written (:func:`atomic_write`): an
    interrupted or failed run leaves any previous file as it was.

    Parameters
    ----------
    out : str or path-like
        The CSV to write; its folder is created if needed.
    classes : ndarray
        The model's ``classes_``: the names of the probability columns.
    parts : iterable of (ids, labels, probabilities or None)
        Consumed once, in order.
    proba : bool
        Write one probability column ``p_<class>`` per class (``probabilities`` must then be
        given with one column per class).

    Returns
    -------
    n : int
        The number of rows written.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from skspectra.io._predictions import write_predictions
    >>> out = Path(tempfile.mkdtemp()) / "pred.csv"
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> write_predictions(out, np.array(["qso", "star"]), [(["a", "b"], ["qso", "star"], p)],
    ...                   proba=True)
    2
    >>> print(out.read_text(), end="")
    id,type,p_qso,p_star
    a,qso,0.9,0.1
    b,star,0.2,0.8
    """
    count = 0

    def write_rows(handle: BinaryIO) -> None:
        nonlocal count
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["id", "type"] + ([f"p_{c}" for c in classes] if proba else []))
        for ids, labels, probabilities in parts:
            for i, (id_, label) in enumerate(zip(ids, labels, strict=True)):
                extra = [f"{v:.6g}" for v in probabilities[i]] if proba else []
                writer.writerow([id_, label, *extra])
            count += len(labels)
        text.flush()
        text.detach()

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, write_rows)
    return count
