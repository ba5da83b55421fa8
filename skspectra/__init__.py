"""skspectra: deep-network classification of 1-D spectra, the scikit-learn way.

The public API: :class:`SpectrumCNNClassifier` (the two-phase residual CNN), :class:`FluxScaler`
(per-spectrum flux scaling), :data:`macro_f1_scorer`, the phase-2 loss :class:`SoftMacroF1Loss`,
the network :class:`SpectrumResNet`, the batch sampler :class:`ClassFractionSampler` and the
training-time :class:`SpectrumAugmentation`; :class:`SpectrumResampler` (a model that keeps its
wavelength grid) and :func:`resample_spectra`; :func:`integrated_gradients` and
:class:`SpectrumAttributionDisplay` (which wavelengths decided);
:func:`make_spectra` (a synthetic survey, from :mod:`skspectra.datasets`) and
:func:`read_spectra` (every reader of :mod:`skspectra.io` behind one call); :func:`save` and
:func:`load` (a model file that runs no code when loaded) and :func:`to_onnx`.
"""

from .augmentation import SpectrumAugmentation
from .classifier import SpectrumCNNClassifier
from .datasets import make_spectra
from .export import to_onnx
from .inspection import SpectrumAttributionDisplay, integrated_gradients
from .io import read_spectra
from .loss import SoftMacroF1Loss
from .metrics import macro_f1_scorer
from .network import SpectrumResNet
from .persistence import load, save
from .resampling import SpectrumResampler, resample_spectra
from .sampler import ClassFractionSampler
from .scaler import FluxScaler

__version__ = "0.1.0"

__all__ = [
    "ClassFractionSampler",
    "FluxScaler",
    "SoftMacroF1Loss",
    "SpectrumAttributionDisplay",
    "SpectrumAugmentation",
    "SpectrumCNNClassifier",
    "SpectrumResNet",
    "SpectrumResampler",
    "__version__",
    "integrated_gradients",
    "load",
    "macro_f1_scorer",
    "make_spectra",
    "read_spectra",
    "resample_spectra",
    "save",
    "to_onnx",
]
