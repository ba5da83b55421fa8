"""Argument types of the ``skspectra`` command line: each turns one option's text into a value
or raises ``argparse.ArgumentTypeError`` saying what is wrong, so that every number and output
path is checked when the command line is parsed, before any data is read."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np

__all__: list[str] = []  # private: used by skspectra.cli


def _wavelength(text: str) -> np.ndarray:
    """``--wavelength``: START:STOP:N[:log] or a file of wavelengths."""
    from .resampling import parse_grid

    try:
        return parse_grid(text)
    except (ValueError, OSError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parse_fractions(text: str | None):
    """``balanced`` or ``star=0.8,unknown=0.1,...`` -> the ``class_fractions`` parameter."""
    if text is None or text == "balanced":
        return text
    fractions = {}
    for part in text.split(","):
        label, _, value = part.partition("=")
        try:
            fractions[label.strip()] = float(value)
        except ValueError:
            raise SystemExit(
                f"error: --class-fractions {text!r}: write 'balanced' or label=fraction pairs "
                "separated by commas, e.g. star=0.8,unknown=0.1,galaxy=0.05,qso=0.05"
            ) from None
    return fractions


def _mixup(text: str):
    """``--mixup``: "auto", "off" (alpha 0) or a non-negative alpha."""
    if text in ("auto", "off"):
        return 0.0 if text == "off" else "auto"
    try:
        alpha = float(text)
    except ValueError:
        alpha = -1.0
    if not alpha >= 0:
        raise argparse.ArgumentTypeError(f"expected auto, off or an alpha >= 0, got {text!r}")
    return alpha


def _whole(low: int, high: int | None = None):
    """An argparse type: a whole number from ``low`` (to ``high``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bound}, got {text!r}")
        return value

    return parse


def _number(low: float, high: float = math.inf, *, low_open: bool = False, high_open=False):
    """An argparse type: a finite number in the interval (closed unless said open)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if not (math.isfinite(value) and above and below):
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(
                f"expected a number in {left}{low:g}, {high:g}{right}, got {text!r}"
            )
        return value

    return parse


def _filters(text: str) -> tuple[int, ...]:
    """``--filters 16,16,32``: channels per block, each a whole number >= 1."""
    try:
        filters = tuple(int(part) for part in text.split(","))
    except ValueError:
        filters = ()
    if not filters or min(filters) < 1:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers >= 1 separated by commas, e.g. 16,16,32,32, got {text!r}"
        )
    return filters


def _validation_split(text: str):
    """``--validation-split``: a fraction in (0, 1), a number of spectra >= 1, or 0 for none."""
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
    if value == 0:
        return None
    if (isinstance(value, int) and value >= 1) or (isinstance(value, float) and 0 < value < 1):
        return value
    raise argparse.ArgumentTypeError(
        f"expected a fraction in (0, 1), a number of spectra >= 1, or 0 for none, got {text!r}"
    )


def _output_folder(text: str) -> str:
    """An argparse type for a folder to write in: not a file, and creatable and writable."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file: name a folder")
    _output_file(str(path / "x"))  # the same checks on its (nearest existing) parent
    return text


# An option left out: the classifier's default applies (not passed on).
_UNSET = object()


def _output_file(text: str) -> str:
    """An argparse type for a file to write: not a folder, and in a folder that exists (or can
    be made) and is writable. Checked before any data is read or model trained."""
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder: name the file to write in it")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {str(parent)!r} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(
            f"cannot write {text!r}: the folder {str(parent)!r} is not writable"
        )
    if path.exists() and not os.access(path, os.W_OK) and not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot replace {text!r}: it is not writable")
    return text
