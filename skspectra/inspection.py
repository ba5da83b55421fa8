"""Which wavelengths decided: integrated-gradients attributions and a plot of them per class.

:func:`integrated_gradients` attributes a fitted :class:`~skspectra.SpectrumCNNClassifier`'s
prediction (or that of a ``Pipeline`` ending in one) to each point of the classifier's input;
:class:`SpectrumAttributionDisplay` draws, per class, the attribution averaged over that class's
spectra over the class's mean spectrum, with known lines marked when the wavelengths are known.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "KNOWN_LINES",
    "SpectrumAttributionDisplay",
    "classifier_input",
    "integrated_gradients",
]

#: Rest wavelengths in Angstrom (air for the optical lines) marked on attribution plots.
KNOWN_LINES: dict[str, float] = {
    "Ly$\\alpha$": 1215.67,
    "C IV": 1549.0,
    "Mg II": 2798.0,
    "Ca II K": 3933.7,
    "Ca II H": 3968.5,
    "H$\\beta$": 4861.3,
    "[O III]": 5006.8,
    "Na D": 5892.9,
    "H$\\alpha$": 6562.8,
}

# One Angstrom in other units of wavelength, to place the lines on grids in those units.
_ANGSTROM_IN = {"angstrom": 1.0, "aa": 1.0, "a": 1.0, "nm": 0.1, "um": 1e-4, "micron": 1e-4}
# How far (float32 probabilities) softmax(module(x)) may be from predict_proba for the contract.
_PROBE_ATOL = 1e-4
_PROBE_ROWS = 8


# --------------------------------------------------------------------------------------------
# From an estimator to its network and its input
# --------------------------------------------------------------------------------------------


def _split(estimator: Any) -> tuple[list[Any], Any]:
    """The steps before the classifier, and the classifier."""
    steps = getattr(estimator, "steps", None)
    if steps is not None:
        return [step for _, step in steps[:-1] if step not in (None, "passthrough")], steps[-1][1]
    return [], estimator


def _check_classifier(clf: Any) -> None:
    module = getattr(clf, "module_", None)
    if not isinstance(module, torch.nn.Module):
        raise ValueError(
            f"{type(clf).__name__} has no fitted torch module (module_): attributions need a "
            "fitted SpectrumCNNClassifier, or a Pipeline ending in one; call fit first"
        )


def classifier_input(estimator: Any, X: Any, *, wavelength: Any = None) -> np.ndarray:
    """The spectra as the classifier of ``estimator`` sees them: ``X`` after the steps before it.

    Parameters
    ----------
    estimator : SpectrumCNNClassifier or Pipeline ending in one
        Fitted.
    X : array-like of shape (n_spectra, n_points), or list of 1-D arrays
        Spectra as the estimator takes them.
    wavelength : array-like, default=None
        The spectra's own wavelengths, passed to every step whose ``transform`` takes a
        ``wavelength`` argument (a :class:`~skspectra.resampling.SpectrumResampler`), without
        needing scikit-learn's metadata routing switched on.

    Returns
    -------
    X_input : ndarray of shape (n_spectra, n_input_points), float32
    """
    steps, _ = _split(estimator)
    for step in steps:
        if wavelength is not None and "wavelength" in inspect.signature(step.transform).parameters:
            X = step.transform(X, wavelength=wavelength)
        else:
            X = step.transform(X)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3 and X.shape[1] == 1:
        X = X[:, 0, :]
    if X.ndim != 2:
        raise ValueError(f"the classifier's input must be 2-D (n_spectra, n_points), got {X.shape}")
    return X


def _members(module: torch.nn.Module) -> list[torch.nn.Module]:
    from .network import NetworkEnsemble

    network = getattr(module, "_orig_mod", module)  # torch.compile wraps the network
    if isinstance(network, NetworkEnsemble):
        return list(network.networks)
    return [module]


def _input_offset(clf: Any, X: np.ndarray) -> np.ndarray | None:
    """What to subtract from the classifier's input before its module, found by checking the
    module against ``predict_proba`` on a few spectra: nothing when the module centres by itself
    (or does not centre), else the classifier's ``input_mean_``."""
    probe = X[:_PROBE_ROWS]
    expected = np.asarray(clf.predict_proba(probe))
    module = clf.module_
    candidates = [None]
    if getattr(clf, "input_mean_", None) is not None:
        candidates.append(np.asarray(clf.input_mean_, dtype=np.float32).reshape(-1))
    device = next(module.parameters()).device
    for offset in candidates:
        x = probe if offset is None else probe - offset
        with torch.no_grad():
            logits = module(torch.as_tensor(x[:, None, :], device=device))
        proba = torch.softmax(logits.double(), dim=1).cpu().numpy()
        if proba.shape == expected.shape and np.allclose(proba, expected, atol=_PROBE_ATOL):
            return offset
    raise RuntimeError(
        "the classifier's module_ does not reproduce its predict_proba on the input "
        "(softmax(module_(X)) differs): attributions would describe another model. Is the "
        "module in a state the classifier does not use?"
    )


def _continuum(X: np.ndarray, window: int) -> np.ndarray:
    """A running median of each spectrum: the continuum under lines narrower than ``window``."""
    from scipy.ndimage import median_filter

    window = max(3, min(int(window), X.shape[1]) | 1)
    return median_filter(X, size=(1, window), mode="nearest")


def integrated_gradients(
    estimator: Any,
    X: Any,
    *,
    target: Any = None,
    baseline: str | np.ndarray = "continuum",
    n_steps: int = 32,
    continuum_window: int | None = None,
    wavelength: Any = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Attribute each prediction to the points of the classifier's input, by integrated gradients.

    The attribution of point ``j`` of spectrum ``x`` for class ``c`` is
    ``(x_j - b_j) * mean_alpha d log p_c(b + alpha (x - b)) / d x_j``: the gradient of the log
    probability of ``c``, averaged along the straight path from a baseline spectrum ``b`` to
    ``x``, times the change of the input (Sundararajan et al. 2017). The attributions of a
    spectrum sum to ``log p_c(x) - log p_c(b)`` (up to the error of the ``n_steps``-point
    rule): positive points pushed the prediction towards ``c``, negative ones away from it.

    Parameters
    ----------
    estimator : SpectrumCNNClassifier or Pipeline ending in one
        Fitted. For a pipeline, ``X`` goes through the steps before the classifier first and the
        attributions are over the classifier's input (e.g. the grid of a
        :class:`~skspectra.resampling.SpectrumResampler`).
    X : array-like of shape (n_spectra, n_points), or list of 1-D arrays
        Spectra as the estimator takes them.
    target : array-like of shape (n_spectra,) or label, default=None
        The class to explain per spectrum, as a label of ``classes_`` (e.g. the true labels).
        None explains the predicted class.
    baseline : {"continuum", "zero"} or array-like, default="continuum"
        The spectrum the path starts from, in the classifier's input space. ``"continuum"``: each
        spectrum's running median (window ``continuum_window``), so the attributions answer
        "which lines and features above or below the continuum decided" and the continuum's
        own shape contributes little. ``"zero"``: no flux, the usual image baseline; then the
        continuum counts as much as the lines. An array of shape (n_points,) or
        (n_spectra, n_points) is used as given.
    n_steps : int, default=32
        Points of the midpoint rule along the path.
    continuum_window : int, default=None
        Width in points of the running median of ``baseline="continuum"``; None takes a
        twentieth of the spectrum (at least 15 points): wider than a line, narrower than the
        continuum's bends.
    wavelength : array-like, default=None
        The spectra's own wavelengths, passed to a ``SpectrumResampler`` in the pipeline.
    batch_size : int, default=64
        Spectra per batch of the gradient computation (each makes ``n_steps`` inputs).

    Returns
    -------
    attributions : ndarray of shape (n_spectra, n_input_points), float64

    Raises
    ------
    ValueError
        If the estimator is not fitted or ends in something without a torch ``module_``, or a
        label of ``target`` is not one of ``classes_``.

    Notes
    -----
    For an ensemble (``n_networks`` > 1) the integrated gradients of every member, each of its
    own log probability, are averaged. Integrated gradients are linear in the function
    explained, so this is the attribution of the members' mean log probability; it is
    computed in one backward pass over all members.

    References
    ----------
    .. [1] Sundararajan, M., Taly, A. & Yan, Q. (2017). Axiomatic attribution for deep
       networks. ICML, PMLR 70, 3319-3328.

    Examples
    --------
    >>> import numpy as np
    >>> from skspectra import SpectrumCNNClassifier
    >>> from skspectra.inspection import integrated_gradients
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 64)).astype(np.float32)
    >>> y = np.repeat(["a", "b"], 20)
    >>> X[y == "b", 30:34] += 3.0  # class b has a line at points 30-33
    >>> clf = SpectrumCNNClassifier(
    ...     module__filters=(4, 4), max_epochs=2, f1_epochs=0, random_state=0
    ... ).fit(X, y)
    >>> integrated_gradients(clf, X[:3], n_steps=8).shape
    (3, 64)
    """
    if not (isinstance(n_steps, int | np.integer) and n_steps >= 1):
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    if not (isinstance(batch_size, int | np.integer) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    _, clf = _split(estimator)
    _check_classifier(clf)
    module = clf.module_
    was_training = module.training  # predict_proba below switches it to eval mode
    try:
        return _integrated_gradients(
            estimator, clf, X, target, baseline, n_steps, continuum_window, wavelength, batch_size
        )
    finally:
        module.train(was_training)


def _integrated_gradients(
    estimator, clf, X, target, baseline, n_steps, continuum_window, wavelength, batch_size
) -> np.ndarray:
    Xc = classifier_input(estimator, X, wavelength=wavelength)
    n, n_points = Xc.shape
    classes = np.asarray(clf.classes_)
    if target is None:
        index = np.asarray(clf.predict_proba(Xc)).argmax(axis=1)
    else:
        labels = np.broadcast_to(np.asarray(target), (n,))
        lookup = {label: i for i, label in enumerate(classes.tolist())}
        unknown = [t for t in labels.tolist() if t not in lookup]
        if unknown:
            raise ValueError(
                f"target {unknown[0]!r} is not a class of the classifier ({classes.tolist()})"
            )
        index = np.array([lookup[t] for t in labels.tolist()])
    base = _baseline(Xc, baseline, continuum_window)
    if n == 0:
        return np.zeros((0, n_points))
    offset = _input_offset(clf, Xc)
    if offset is not None:
        Xc, base = Xc - offset, base - offset

    module = clf.module_
    members = _members(module)
    device = next(module.parameters()).device
    alphas = (np.arange(n_steps) + 0.5) / n_steps  # midpoint rule
    module.eval()
    out = np.empty((n, n_points))
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        x = torch.as_tensor(Xc[start:stop], device=device)
        b = torch.as_tensor(base[start:stop], device=device)
        path = (
            b[None]
            + torch.as_tensor(alphas, dtype=x.dtype, device=device)[:, None, None] * (x - b)[None]
        )
        path = path.reshape(-1, 1, n_points).requires_grad_(True)
        cls = torch.as_tensor(np.tile(index[start:stop], n_steps), device=device)
        with torch.enable_grad():
            total = 0.0
            for net in members:
                log_p = torch.log_softmax(net(path).double(), dim=1)
                total = total + log_p.gather(1, cls[:, None]).sum()
            (grad,) = torch.autograd.grad(total / len(members), path)
        grad = grad.reshape(n_steps, stop - start, n_points).mean(dim=0)
        out[start:stop] = ((x - b).double() * grad.double()).cpu().numpy()
    return out


def _baseline(X: np.ndarray, baseline: Any, window: int | None) -> np.ndarray:
    if isinstance(baseline, str):
        if baseline == "zero":
            return np.zeros_like(X)
        if baseline == "continuum":
            if window is None:
                window = max(15, X.shape[1] // 20)
            return _continuum(X, window).astype(np.float32)
        raise ValueError(f"baseline must be 'continuum', 'zero' or an array, got {baseline!r}")
    base = np.asarray(baseline, dtype=np.float32)
    try:
        return np.broadcast_to(base, X.shape).copy()
    except ValueError:
        raise ValueError(
            f"baseline has shape {base.shape}, the classifier's input {X.shape}: pass one "
            "spectrum of (n_points,) or one per spectrum"
        ) from None


# --------------------------------------------------------------------------------------------
# The display
# --------------------------------------------------------------------------------------------


def _line_positions(unit: str | None, lines: Mapping[str, float] | None) -> dict[str, float]:
    if lines is None or unit is None:
        return {}
    factor = _ANGSTROM_IN.get(str(unit).lower())
    if factor is None:
        try:
            from astropy import units as u

            factor = (1 * u.AA).to(u.Unit(unit)).value
        except Exception:  # noqa: BLE001 - astropy is optional; any failure means "unknown unit"
            raise ValueError(
                f"unknown wavelength unit {unit!r}: use 'Angstrom', 'nm', 'micron' (or any "
                "astropy unit of length), or None for a grid that is not in wavelength"
            ) from None
    return {name: rest * factor for name, rest in lines.items()}


class SpectrumAttributionDisplay:
    """Per class, where the network looked: attributions over the class's mean spectrum.

    Build it with :meth:`from_estimator`; :meth:`plot` draws it. It follows scikit-learn's
    ``*Display`` classes: the computed values are attributes, the figure is in ``figure_`` and
    the axes in ``ax_``.

    Parameters
    ----------
    wavelength : ndarray of shape (n_points,) or None
        The x axis: the wavelengths of the classifier's input, or None for point indices.
    mean_spectra : ndarray of shape (n_classes, n_points)
        The mean spectrum of each class, as the classifier sees it.
    attributions : ndarray of shape (n_classes, n_points)
        The mean attribution of each class's spectra towards that class (from
        :meth:`from_estimator`, each spectrum's share: see its ``normalize``).
    classes : ndarray of shape (n_classes,)
        The class labels.
    counts : ndarray of shape (n_classes,), default=None
        Spectra averaged per class, shown in the titles.
    unit : str or None, default="Angstrom"
        The unit of ``wavelength``, used to place the known lines ("Angstrom", "nm", "micron",
        or an astropy unit). None marks no lines.
    lines : mapping of str to float or None, default=None
        Lines to mark, name to rest wavelength in Angstrom; None means :data:`KNOWN_LINES`.
        Lines outside the grid are left out. They are marked at rest: a redshifted class has
        its lines elsewhere.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure, after :meth:`plot`.
    ax_ : ndarray of matplotlib.axes.Axes
        One axes per class, after :meth:`plot`.
    lines_ : dict of str to float
        The lines marked (name to position in the grid's unit), after :meth:`plot`.

    See Also
    --------
    integrated_gradients : The attributions.

    Examples
    --------
    >>> import numpy as np
    >>> from skspectra.inspection import SpectrumAttributionDisplay
    >>> wl = np.linspace(6400.0, 6700.0, 61)
    >>> mean = np.vstack([np.ones(61), 1 + np.exp(-0.5 * ((wl - 6562.8) / 5) ** 2)])
    >>> display = SpectrumAttributionDisplay(
    ...     wavelength=wl, mean_spectra=mean, attributions=mean - 1, classes=np.array(["a", "b"])
    ... ).plot()
    >>> len(display.ax_), list(display.lines_)
    (2, ['H$\\\\alpha$'])
    """

    def __init__(
        self,
        *,
        wavelength: np.ndarray | None,
        mean_spectra: np.ndarray,
        attributions: np.ndarray,
        classes: np.ndarray,
        counts: np.ndarray | None = None,
        unit: str | None = "Angstrom",
        lines: Mapping[str, float] | None = None,
    ):
        self.wavelength = wavelength
        self.mean_spectra = mean_spectra
        self.attributions = attributions
        self.classes = classes
        self.counts = counts
        self.unit = unit
        self.lines = lines

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        X: Any,
        y: Any,
        *,
        wavelength: Any = None,
        unit: str | None = "Angstrom",
        lines: Mapping[str, float] | None = None,
        baseline: str | np.ndarray = "continuum",
        n_steps: int = 32,
        max_per_class: int | None = 200,
        normalize: bool = True,
        random_state: int | None = 0,
        ax: Any = None,
    ) -> SpectrumAttributionDisplay:
        """Compute each class's mean attribution on ``X`` and plot it.

        Parameters
        ----------
        estimator : SpectrumCNNClassifier or Pipeline ending in one
            Fitted.
        X : array-like of shape (n_spectra, n_points), or list of 1-D arrays
            Spectra as the estimator takes them.
        y : array-like of shape (n_spectra,)
            Their true labels: each spectrum is explained towards its own class.
        wavelength : array-like, default=None
            The wavelengths of ``X``'s spectra. With a ``SpectrumResampler`` in the pipeline
            they are passed to it, and the plot uses its grid (``wavelength_``); otherwise they
            are the grid of the classifier's input. None without a resampler plots against
            point indices and marks no lines.
        unit : str or None, default="Angstrom"
            The unit of the grid, to place the known lines; None marks none.
        lines : mapping of str to float, default=None
            Lines to mark (rest wavelength in Angstrom); None means :data:`KNOWN_LINES`.
        baseline : {"continuum", "zero"} or array-like, default="continuum"
            See :func:`integrated_gradients`.
        n_steps : int, default=32
            See :func:`integrated_gradients`.
        max_per_class : int or None, default=200
            At most this many spectra per class are explained (drawn at random), to bound the
            time; None explains all.
        normalize : bool, default=True
            Divide each spectrum's attributions by the sum of their absolute values before the
            class mean, so that every spectrum counts once: without it, the few spectra whose
            probability moved most along the path (bright ones, far from their baseline) can
            make up a class's whole mean.
        random_state : int or None, default=0
            Seeds that draw.
        ax : array-like of matplotlib Axes, default=None
            One axes per class (in ``classes_`` order of the classes present in ``y``); None
            makes a new figure.

        Returns
        -------
        display : SpectrumAttributionDisplay
        """
        _, clf = _split(estimator)
        _check_classifier(clf)
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} spectra but y has {len(y)} labels")
        rng = np.random.default_rng(random_state)
        present = [c for c in np.asarray(clf.classes_).tolist() if c in set(y.tolist())]
        if not present:
            raise ValueError("no label of y is a class of the classifier: nothing to explain")
        chosen = []
        for c in present:
            rows = np.flatnonzero(y == c)
            if max_per_class is not None and len(rows) > max_per_class:
                rows = np.sort(rng.choice(rows, max_per_class, replace=False))
            chosen.append(rows)
        order = np.concatenate(chosen)
        X_sel = [X[i] for i in order] if isinstance(X, Sequence) else np.asarray(X)[order]
        wl_sel = wavelength
        if wavelength is not None and np.ndim(wavelength[0]) == 1:  # one grid per spectrum
            wl_sel = [wavelength[i] for i in order]
        Xc = classifier_input(estimator, X_sel, wavelength=wl_sel)
        attributions = integrated_gradients(
            clf, Xc, target=y[order], baseline=baseline, n_steps=n_steps
        )
        grid = _plot_grid(estimator, wavelength, Xc.shape[1])
        bounds = np.cumsum([0] + [len(rows) for rows in chosen])
        spans = list(zip(bounds[:-1], bounds[1:], strict=True))
        means = np.vstack([Xc[a:b].mean(axis=0) for a, b in spans])
        if normalize:
            scale = np.abs(attributions).sum(axis=1, keepdims=True)
            attributions = attributions / np.where(scale > 0, scale, 1.0)
        attr = np.vstack([attributions[a:b].mean(axis=0) for a, b in spans])
        display = cls(
            wavelength=grid,
            mean_spectra=means,
            attributions=attr,
            classes=np.asarray(present),
            counts=np.diff(bounds),
            unit=unit if grid is not None else None,
            lines=lines,
        )
        return display.plot(ax=ax)

    def plot(self, ax: Any = None) -> SpectrumAttributionDisplay:
        """Draw every class: its mean spectrum (black), the mean attribution below it (red
        towards the class, blue against it), the known lines inside the grid (dotted).

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            One axes per class; None makes a new figure with ``plt.subplots``.

        Returns
        -------
        display : SpectrumAttributionDisplay
            With ``figure_``, ``ax_`` and ``lines_`` set.
        """
        classes = np.asarray(self.classes)
        means = np.atleast_2d(np.asarray(self.mean_spectra, dtype=float))
        attr = np.atleast_2d(np.asarray(self.attributions, dtype=float))
        x = (
            np.arange(means.shape[1])
            if self.wavelength is None
            else np.asarray(self.wavelength, dtype=float)
        )
        if ax is None:
            try:
                import matplotlib.pyplot as plt
            except ImportError:  # pragma: no cover - depends on the environment
                raise ImportError(
                    'Plots need matplotlib: pip install "skspectra[plot]" (or matplotlib)'
                ) from None
            fig, axes = plt.subplots(
                len(classes), 1, figsize=(10, 2.4 * len(classes) + 0.6), sharex=True, squeeze=False
            )
            axes = axes[:, 0]
        else:
            axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
            if len(axes) != len(classes):
                raise ValueError(f"ax holds {len(axes)} axes for {len(classes)} classes")
            fig = axes[0].figure
        source = KNOWN_LINES if self.lines is None else self.lines
        lines = {} if self.wavelength is None else _line_positions(self.unit, source)
        lines = {k: v for k, v in lines.items() if x.min() <= v <= x.max()}
        for k, axis in enumerate(axes):
            spectrum, a = means[k], attr[k]
            top, bottom = np.nanmax(spectrum), np.nanmin(spectrum)
            span = top - bottom if top > bottom else 1.0
            # The attribution is drawn in a band below the spectrum, scaled to a third of it.
            scale = 0.35 * span / (np.nanmax(np.abs(a)) or 1.0)
            zero = bottom - 0.45 * span
            axis.fill_between(x, zero, zero + scale * np.clip(a, 0, None), color="C3", lw=0)
            axis.fill_between(x, zero, zero + scale * np.clip(a, None, 0), color="C0", lw=0)
            axis.axhline(zero, color="0.6", lw=0.5)
            axis.plot(x, spectrum, color="k", lw=0.8)
            # Headroom above the spectrum for the lines' names.
            axis.set_ylim(zero - 0.4 * span, top + 0.55 * span)
            for position in lines.values():
                axis.axvline(position, color="0.4", lw=0.7, ls=":")
            for name, position in _labels(lines, x.max() - x.min()):
                axis.text(
                    position,
                    0.98,
                    f"{name} ",
                    transform=axis.get_xaxis_transform(),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize=7,
                    color="0.3",
                )
            count = "" if self.counts is None else f" ({int(self.counts[k])} spectra)"
            axis.set_title(f"{classes[k]}{count}", loc="left", fontsize=10)
            axis.set_yticks([])
        axes[-1].set_xlabel(
            "point" if self.wavelength is None else f"wavelength ({self.unit or 'grid unit'})"
        )
        fig.suptitle(
            "Integrated gradients towards each class (red: for, blue: against) under its "
            "mean spectrum",
            fontsize=10,
        )
        self.figure_, self.ax_, self.lines_ = fig, np.asarray(axes, dtype=object), lines
        return self


def _labels(lines: Mapping[str, float], width: float) -> list[tuple[str, float]]:
    """One label per group of lines closer than 1.5 % of the axis (Ca II K and H: "Ca II K/H")."""
    groups: list[tuple[list[str], float]] = []
    for name, position in sorted(lines.items(), key=lambda item: item[1]):
        if groups and position - groups[-1][1] < 0.015 * width:
            groups[-1][0].append(name.split()[-1] if name.startswith("Ca II") else name)
        else:
            groups.append(([name], position))
    return [("/".join(names), position) for names, position in groups]


def _plot_grid(estimator: Any, wavelength: Any, n_points: int) -> np.ndarray | None:
    """The wavelengths of the classifier's input: the last resampler's grid, else ``wavelength``
    when it is one grid of the right length, else None."""
    steps, _ = _split(estimator)
    for step in reversed(steps):
        grid = getattr(step, "wavelength_", None)
        if grid is not None and len(grid) == n_points:
            return np.asarray(grid, dtype=np.float64)
    if wavelength is not None and np.ndim(wavelength) == 1 and len(wavelength) == n_points:
        return np.asarray(wavelength, dtype=np.float64)
    return None
