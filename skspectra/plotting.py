"""Figures people would rather look at than read: learning curves, confusion matrices and
which wavelengths decided.

matplotlib is an optional dependency (``pip install "skspectra[plot]"``). Nothing here chooses
a backend: with a ``path`` a figure is built as a plain :class:`matplotlib.figure.Figure`
(which saves to PNG through Agg without pyplot, so scripts and servers need no display and
the process's backend is left as it was); without one it is made with ``pyplot.subplots``, so
it shows in notebooks and interactive sessions like any other figure. Both return the figure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_attributions", "plot_confusion_matrix", "plot_history"]


def _new_figure(path: str | Path | None, figsize: tuple[float, float]) -> Any:
    try:
        if path is None:
            import matplotlib.pyplot as plt

            return plt.figure(figsize=figsize)
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'Plots need matplotlib: pip install "skspectra[plot]" (or matplotlib itself)'
        ) from exc
    return Figure(figsize=figsize)


def _save(fig: Any, path: str | Path) -> None:
    from .io import atomic_write

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write(Path(path), lambda f: f.write(buffer.getvalue()))


def plot_history(history: Sequence[dict], path: str | Path | None = None) -> Any:
    """Learning curves of a two-phase fit: losses and validation macro-F1 per epoch.

    Parameters
    ----------
    history : sequence of dict
        ``SpectrumCNNClassifier.history`` (or its rows as plain dicts).
    path : str or Path, default=None
        PNG file to write (atomically). None only returns the figure, made with pyplot.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skspectra.plotting import plot_history
    >>> rows = [{"epoch": 1, "train_loss": 1.0, "valid_f1": 0.5},
    ...         {"epoch": 2, "train_loss": 0.6, "valid_f1": 0.7, "valid_f1_best": True}]
    >>> fig = plot_history(rows, Path(tempfile.mkdtemp()) / "history.png")
    >>> [ax.get_title() for ax in fig.axes][1]
    'Validation macro-F1'
    """
    fig = _new_figure(path, (10, 3.8))
    ax_loss, ax_f1 = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    phase = np.array([row.get("phase", 1) for row in history])
    for key, style in (("train_loss", "-"), ("valid_loss", "--")):
        values = [row.get(key, np.nan) for row in history]
        ax_loss.plot(epochs, values, style, label=key.replace("_", " "))
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss (cross-entropy, then soft macro-F1)")
    ax_loss.legend()
    f1 = [row.get("valid_f1", np.nan) for row in history]
    ax_f1.plot(epochs, f1, "o-", ms=3, label="validation macro-F1")
    best = [row["epoch"] for row in history if row.get("valid_f1_best")]
    if best and not np.all(np.isnan(f1)):
        kept = int(np.nanargmax(f1))
        ax_f1.plot(epochs[kept], f1[kept], "*", ms=14, color="C3", label="weights kept")
    ax_f1.set(xlabel="epoch", ylabel="macro-F1", title="Validation macro-F1")
    ax_f1.legend(loc="lower right")
    if (phase == 2).any() and (phase == 1).any():
        switch = epochs[int(np.argmax(phase == 2))] - 0.5
        for ax in (ax_loss, ax_f1):
            ax.axvline(switch, color="grey", lw=0.8, ls=":")
            ax.text(
                switch,
                1.0,
                " phase 2",
                transform=ax.get_xaxis_transform(),
                va="top",
                fontsize=8,
                color="grey",
            )
    if path is not None:
        _save(fig, path)
    return fig


def plot_confusion_matrix(
    matrix: np.ndarray, labels: Sequence[str], path: str | Path | None = None, title: str = ""
) -> Any:
    """A confusion matrix with counts, rows normalised to recall for the colour scale.

    Parameters
    ----------
    matrix : ndarray of shape (n_classes, n_classes)
        Counts, true classes in rows, predicted classes in columns.
    labels : sequence of str
        Class names in the matrix's order.
    path : str or Path, default=None
        PNG file to write (atomically). None only returns the figure, made with pyplot.
    title : str, default=""
        Figure title.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skspectra.plotting import plot_confusion_matrix
    >>> path = Path(tempfile.mkdtemp()) / "cm.png"
    >>> fig = plot_confusion_matrix(np.array([[5, 1], [0, 4]]), ["star", "qso"], path)
    >>> path.exists(), fig.axes[0].get_xlabel()
    (True, 'predicted')
    """
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    recall = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    size = 1.2 + 0.6 * len(labels)
    fig = _new_figure(path, (size + 1.5, size))
    ax = fig.subplots()
    image = ax.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    for i, j in np.ndindex(matrix.shape):
        ax.text(
            j,
            i,
            str(matrix[i, j]),
            ha="center",
            va="center",
            color="white" if recall[i, j] > 0.5 else "black",
        )
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, [str(c) for c in labels], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(c) for c in labels])
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    if path is not None:
        _save(fig, path)
    return fig


def plot_attributions(
    estimator: Any,
    X: Any,
    y: Any,
    path: str | Path | None = None,
    *,
    wavelength: Any = None,
    unit: str | None = "Angstrom",
    **kwargs: Any,
) -> Any:
    """Which wavelengths decided, per class, as a figure (no pyplot when saved to a path).

    Draws :class:`~skspectra.inspection.SpectrumAttributionDisplay` onto a figure made here,
    so that the command line can write it with no backend.

    Parameters
    ----------
    estimator : SpectrumCNNClassifier or Pipeline ending in one
        Fitted.
    X : array-like of shape (n_spectra, n_points), or list of 1-D arrays
        Spectra as the estimator takes them.
    y : array-like of shape (n_spectra,)
        Their true labels.
    path : str or Path, default=None
        PNG file to write (atomically). None only returns the figure, made with pyplot.
    wavelength : array-like, default=None
        The wavelengths of ``X`` (see ``SpectrumAttributionDisplay.from_estimator``).
    unit : str or None, default="Angstrom"
        The unit of the grid, to mark the known lines; None marks none.
    **kwargs
        Passed to ``SpectrumAttributionDisplay.from_estimator`` (``n_steps``,
        ``max_per_class``, ``baseline``...).

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from .inspection import SpectrumAttributionDisplay, _split

    _, clf = _split(estimator)
    present = set(np.asarray(y).tolist())
    n_classes = sum(c in present for c in np.asarray(getattr(clf, "classes_", [])).tolist())
    fig = _new_figure(path, (10, 2.4 * max(n_classes, 1) + 0.6))
    axes = fig.subplots(max(n_classes, 1), 1, sharex=True, squeeze=False)[:, 0]
    SpectrumAttributionDisplay.from_estimator(
        estimator, X, y, wavelength=wavelength, unit=unit, ax=axes, **kwargs
    )
    if path is not None:
        _save(fig, path)
    return fig
