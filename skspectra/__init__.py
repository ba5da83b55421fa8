"""skspectra: deep-network classification of 1-D spectra, the scikit-learn way."""

__version__ = "0.1.0"

__all__ = ["__version__"]
