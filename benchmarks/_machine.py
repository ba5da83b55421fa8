"""The machine a benchmark ran on, for its results file: CPU, cores, load and library versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata

# Distributions whose versions every benchmark records (their pip names).
DEFAULT_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "torch", "skorch", "skspectra")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what :mod:`platform` knows elsewhere."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(packages: tuple[str, ...] | list[str] = DEFAULT_PACKAGES) -> dict:
    """Installed version of each distribution; None for one that is not installed."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_info(extra_packages: tuple[str, ...] | list[str] = ()) -> dict:
    """CPU model, cores, Python, platform, load average and the versions of the libraries.

    ``extra_packages`` adds distributions to :data:`DEFAULT_PACKAGES` (e.g. ``("sktime",)``).
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on a shared machine slows every timing: keep it on record.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "versions": package_versions(list(DEFAULT_PACKAGES) + list(extra_packages)),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info
