"""Random, label-preserving changes to training spectra (data augmentation)."""

from __future__ import annotations

from numbers import Real

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, validate_parameter_constraints

__all__ = ["SpectrumAugmentation", "mixup"]


class SpectrumAugmentation(BaseEstimator):
    """Perturb a batch of training spectra the way repeated measurements differ.

    Every spectrum of a batch gets its own draw of six changes, applied in this order:

    1. flux scaling: multiplied by ``1 + scale * z`` (a calibration or distance difference);
    2. offset: ``offset * z * s`` added to every point (a baseline or sky-level difference);
    3. slope: ``slope * z * s * t`` added, ``t`` running linearly from -1 at the first point
       to 1 at the last (a tilted baseline: scatter in NIR, fluorescence in Raman, flux
       calibration across a band). Off by default;
    4. noise: ``noise * z * s`` added to each point independently (photon and read noise);
    5. shift: moved along the wavelength axis by a whole number of points, at most
       ``shift * n_points`` either way, the edge values repeated into the gap (a wavelength
       calibration or redshift difference);
    6. mask: a window of at most ``mask * n_points`` points, at a random place, replaced by
       the straight line between the points either side of it (a bad-pixel, cosmic-ray or
       telluric region that a reduction pipeline interpolated over). Off by default.

    ``z`` are standard normal draws and ``s`` the spectrum's own standard deviation over its
    points, so the changes mean the same whatever flux scaling came before. Randomness comes
    from torch's global generator, which :class:`~skspectra.SpectrumCNNClassifier` seeds from
    its ``random_state``: a seeded fit stays reproducible. Set a parameter to 0 to turn its
    change off.

    Parameters
    ----------
    shift : float, default=0.01
        Largest shift, as a fraction of the spectrum's length (0.01 of 2600 points: 26).
    scale : float, default=0.1
        Standard deviation of the relative flux scaling.
    offset : float, default=0.1
        Standard deviation of the constant offset, in units of the spectrum's standard
        deviation.
    noise : float, default=0.02
        Standard deviation of the added white noise, in units of the spectrum's standard
        deviation.
    slope : float, default=0.0
        Standard deviation of the tilt's amplitude at either end, in units of the spectrum's
        standard deviation. Offset, multiplication and slope are the three augmentations of
        Bjerrum, Glahder & Skov (2017, arXiv:1710.01927) for NIR spectra. 0, the default: by
        inner cross-validation ``slope=0.2`` scored below none on five of the six UCR training
        splits, mean macro-F1 0.794 against 0.849 (``benchmarks/results/screens.md``).
    mask : float, default=0.0
        Largest masked window, as a fraction of the spectrum's length (each spectrum draws a
        width from 0 to that many points). 0, the default: by inner cross-validation
        ``mask=0.05`` scored below no masking (``benchmarks/results/screens.md``).

    See Also
    --------
    SpectrumCNNClassifier : applies it to every training batch (its ``augment`` parameter).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> X = torch.linspace(0, 1, 50).repeat(4, 1, 1)
    >>> out = SpectrumAugmentation()(X)
    >>> out.shape, bool((out != X).any())
    (torch.Size([4, 1, 50]), True)
    >>> bool(torch.equal(SpectrumAugmentation(shift=0, scale=0, offset=0, noise=0)(X), X))
    True
    """

    _parameter_constraints: dict = {
        "shift": [Interval(Real, 0, 0.5, closed="both")],
        "scale": [Interval(Real, 0, None, closed="left")],
        "offset": [Interval(Real, 0, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "slope": [Interval(Real, 0, None, closed="left")],
        "mask": [Interval(Real, 0, 0.5, closed="both")],
    }

    def __init__(self, shift=0.01, scale=0.1, offset=0.1, noise=0.02, mask=0.0, slope=0.0):
        self.shift = shift
        self.scale = scale
        self.offset = offset
        self.noise = noise
        self.mask = mask
        self.slope = slope

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Return a perturbed copy of ``X``, a batch of shape ``(n, channels, n_points)``."""
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), type(self).__name__
        )
        n, _, n_points = X.shape
        out = X
        if self.scale:
            out = out * (1 + self.scale * torch.randn(n, 1, 1, dtype=X.dtype, device=X.device))
        if self.offset or self.slope or self.noise:
            spread = X.std(dim=(1, 2), keepdim=True).nan_to_num(0.0)
            if self.offset:
                out = out + self.offset * spread * torch.randn(
                    n, 1, 1, dtype=X.dtype, device=X.device
                )
            if self.slope:
                tilt = torch.linspace(-1, 1, n_points, dtype=X.dtype, device=X.device)
                amplitude = (
                    self.slope * spread * torch.randn(n, 1, 1, dtype=X.dtype, device=X.device)
                )
                out = out + amplitude * tilt
            if self.noise:
                out = out + self.noise * spread * torch.randn_like(X)
        most = int(round(self.shift * n_points))
        if most:
            moves = torch.randint(-most, most + 1, (n, 1, 1), device=X.device)
            source = (torch.arange(n_points, device=X.device) - moves).clamp(0, n_points - 1)
            out = out.gather(2, source.expand(-1, out.shape[1], -1))
        widest = int(round(self.mask * n_points))
        if widest:
            out = _mask_windows(out, widest)
        return out


def _mask_windows(X: torch.Tensor, widest: int) -> torch.Tensor:
    """``X`` with one window of 0 to ``widest`` points per spectrum (``widest`` at most half
    the length) replaced by the line between its neighbours; a window at an edge takes the
    one neighbour's value."""
    n, channels, n_points = X.shape
    device = X.device
    width = torch.randint(0, widest + 1, (n, 1, 1), device=device)
    start = (torch.rand(n, 1, 1, device=device) * (n_points - width + 1)).long()
    start = torch.minimum(start, n_points - width)
    end = start + width  # first point after the window
    left = X.gather(2, (start - 1).clamp(min=0).expand(-1, channels, -1))
    right = X.gather(2, end.clamp(max=n_points - 1).expand(-1, channels, -1))
    left = torch.where(start == 0, right, left)
    right = torch.where(end >= n_points, left, right)
    pos = torch.arange(n_points, device=device).view(1, 1, -1)
    inside = (pos >= start) & (pos < end)
    t = (pos - start + 1).to(X.dtype) / (width + 1).to(X.dtype)
    return torch.where(inside, left + (right - left) * t, X)


def mixup(X: torch.Tensor, alpha: float) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Mixup (Zhang et al. 2018): ``lam * X + (1 - lam) * X[perm]`` with ``lam ~ Beta(alpha,
    alpha)`` and a random pairing ``perm``, returned with ``(lam, perm)`` for the loss
    (:func:`~skspectra.loss.weighted_loss`'s ``mix``).

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> X = torch.stack([torch.zeros(1, 4), torch.ones(1, 4)])
    >>> mixed, (lam, perm) = mixup(X, 0.4)
    >>> bool(torch.allclose(mixed, lam * X + (1 - lam) * X[perm]))
    True
    """
    lam = torch.distributions.Beta(alpha, alpha).sample()
    perm = torch.randperm(len(X))
    return lam * X + (1 - lam) * X[perm.to(X.device)], (lam, perm)
