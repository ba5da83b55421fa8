"""Save and load fitted models in a file that runs no code when it is read.

``joblib.dump`` pickles the whole estimator, and unpickling a file can run any code its author
chose. :func:`save` writes a ``.skspectra`` file instead: a zip archive of two members,

- ``skspectra.json``: what the model is (a bare :class:`~skspectra.SpectrumCNNClassifier`, or a
  :class:`~sklearn.pipeline.Pipeline` of transformers such as :class:`~skspectra.FluxScaler` and
  one), its parameters, ``classes_`` with their dtype, ``n_features_in_``,
  ``feature_names_in_``, ``best_epoch_``, the training history and the library versions that
  wrote it;
- ``weights.pt``: the network's ``state_dict``, written by ``torch.save``.

:func:`load` builds the estimator from the description and reads the weights with
``torch.load(..., weights_only=True)``: torch's restricted unpickler, which rebuilds tensors and
plain containers and refuses every other object the stream names, so no code chosen by the
file's author runs. (safetensors would avoid pickle opcodes altogether, at the cost of a new
dependency; the restricted loader is part of torch and has been the default of ``torch.load``
since torch 2.6.)

A crafted file can at worst fail to load: before anything is allocated, the description is
checked against a schema with bounds (``skspectra/_schema.py``: the tables ``_NETWORK_SCHEMA``,
``_TRANSFORMERS``, ``_CLASS_PARAMETERS`` and the estimators' own ``_parameter_constraints``),
the network it declares is built on PyTorch's ``meta`` device (shapes, no memory) and its size
checked, and every member of the archive is read with a cap derived from what it declares.
Every refusal is a ``ValueError`` that names the file and the field.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import pickle  # only for its exception class: nothing is unpickled with it
import re
import struct
import threading
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._schema import (
    _CLASS_NAMESPACES,
    _DESCRIPTION,
    _LABEL_KINDS,
    _MAX_DESCRIPTION_BYTES,
    _MAX_DIRECTORY_BYTES,
    _MAX_JSON_DEPTH,
    _MAX_MEMBERS,
    _MAX_STEPS,
    _OBJECT_CLASSES,
    _TRANSFORMERS,
    _WEIGHTS_SLACK,
    _WEIGHTS_SLACK_PER_TENSOR,
    _check_manifest,
    _declared_weights,
    _Invalid,
    _is_int,
    _Plan,
    _show,
    _validate,
)
from ._torch_rng import torch_rng
from .classifier import SpectrumCNNClassifier
from .io import atomic_write
from .io._files import open_regular
from .network import NetworkEnsemble, SpectrumResNet

__all__ = ["FORMAT_VERSION", "load", "save"]

# What a network saved without naming max_points was built with, if it names max_points_.
_DEFAULT_MAX_POINTS = inspect.signature(SpectrumResNet).parameters["max_points"].default

#: Version of the file layout written by :func:`save`; :func:`load` reads this one and older.
#: Version 2 stores a list of transformers (``"transformers"``) where version 1 had one
#: optional ``"scaler"``.
FORMAT_VERSION = 2

_FORMAT = "skspectra-model"
_WEIGHTS = "weights.pt"
# warnings.catch_warnings swaps process-wide filters: two loads in threads that overlapped
# would restore each other's copies and leave the filter below behind.
_SILENCING = threading.Lock()


# ---------------------------------------------------------------------------- public API
def save(model, path) -> Path:
    """Write a fitted model to a ``.skspectra`` file that :func:`load` reads without pickle.

    Parameters
    ----------
    model : SpectrumCNNClassifier or Pipeline
        A fitted :class:`~skspectra.SpectrumCNNClassifier` with ``module=SpectrumResNet``, or a
        fitted :class:`~sklearn.pipeline.Pipeline` of transformers that the format knows (a
        :class:`~skspectra.FluxScaler`) followed by one.
    path : str or path-like
        The file to write (``.skspectra`` by convention). It is written to a temporary file in
        the same folder and renamed over ``path`` at the end, so a failed save leaves any
        previous file intact.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    TypeError
        If the model, a pipeline step or the network is of an unsupported kind.
    ValueError
        If a parameter the network is built from, or a label, cannot be stored as JSON.

    See Also
    --------
    load : read the file back.
    skspectra.export.to_onnx : export for serving without torch.

    Notes
    -----
    The network's weights are moved to the CPU before they are written. Parameters that only
    matter for training and cannot be written as JSON (callbacks, a CV splitter as
    ``validation_split``, a ``RandomState``, custom classes) are left out and listed under
    ``"dropped_params"`` in the description: the loaded model predicts exactly as the saved
    one, but refitting it uses the defaults for those. The training history is kept, with
    non-finite numbers written as ``null``; when it would make the description larger than
    :func:`load` accepts (8 MB: a history of about 80 000 batches), its per-batch rows are left
    out and the epoch rows kept.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from skspectra import FluxScaler, SpectrumCNNClassifier
    >>> from skspectra.persistence import load, save
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 32)).astype(np.float32)
    >>> y = np.where(np.arange(40) % 2 == 0, "star", "qso")
    >>> clf = SpectrumCNNClassifier(max_epochs=1, f1_epochs=0, random_state=0,
    ...                             module__filters=(4, 4), module__hidden_units=8)
    >>> pipe = make_pipeline(FluxScaler(), clf).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     file = save(pipe, Path(folder) / "model.skspectra")
    ...     loaded = load(file)
    >>> bool(np.array_equal(loaded.predict_proba(X), pipe.predict_proba(X)))
    True
    >>> loaded.classes_
    array(['qso', 'star'], dtype='<U4')
    """
    transformers, clf, names = _split_model(model)
    description = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "pipeline": None if names is None else {"steps": names},
        "transformers": [_describe_transformer(t) for t in transformers],
        "classifier": _describe_classifier(clf),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in clf.module_.state_dict().items()}
    description["classifier"]["weights"] = {
        "member": _WEIGHTS,
        "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in state.items()},
    }
    text = json.dumps(description, indent=1, allow_nan=False)
    if len(text.encode()) > _MAX_DESCRIPTION_BYTES:
        # Only the per-batch rows grow with the data; predictions never need them.
        history = description["classifier"]["history"]
        description["classifier"]["history"] = [
            {k: v for k, v in row.items() if k != "batches"} for row in history
        ]
        text = json.dumps(description, indent=1, allow_nan=False)
    if len(text.encode()) > _MAX_DESCRIPTION_BYTES:
        raise ValueError(
            f"The description of this model takes {len(text.encode())} bytes, more than the "
            f"{_MAX_DESCRIPTION_BYTES} that load accepts: fewer epochs, or shorter feature names."
        )
    weights = io.BytesIO()
    torch.save(state, weights)

    def write(file):
        with zipfile.ZipFile(file, "w") as archive:
            archive.writestr(_DESCRIPTION, text, compress_type=zipfile.ZIP_DEFLATED)
            # Weights hardly compress: stored, they are written and read faster.
            archive.writestr(_WEIGHTS, weights.getvalue(), compress_type=zipfile.ZIP_STORED)

    return atomic_write(path, write)


def load(path):
    """Read a model written by :func:`save`, fitted and ready to predict, without pickle.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    model : SpectrumCNNClassifier or Pipeline
        The model as it was saved: it passes ``check_is_fitted`` and gives the same
        ``predict_proba`` (to the bit on the CPU). Its network is in evaluation mode.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a skspectra model, is truncated or corrupted, lacks a member, was
        written by a newer format version, declares anything outside the schema or its bounds,
        or its weights hold anything but the tensors declared. The message names the file and
        the field.

    Warns
    -----
    UserWarning
        If the file was written with another version of skspectra or torch (the model still
        loads); if it was saved with a CUDA device and CUDA is unavailable (it loads on the
        CPU); if it holds a parameter this version's estimators no longer have (it is left
        out); with torch older than 2.6, whose ``weights_only`` loader had a known bypass.

    See Also
    --------
    save : write the file.

    Notes
    -----
    Nothing in the file is executed: the description is JSON, and the classes it names
    (``SpectrumCNNClassifier``, ``SpectrumResNet``, the transformers of ``_TRANSFORMERS``,
    torch losses, optimizers and data loaders) are looked up in fixed tables, each parameter
    that names a class among the subclasses it may be. The weights are read by torch's
    restricted unpickler, which rebuilds tensors and plain containers only and refuses any
    other object a pickle names.

    Memory is bounded by the declaration: the description is at most 8 MB and 32 levels deep;
    the network's size is computed from its declared parameters (at most 2**26 weights over
    at most 64 networks) before it is built; the weights member may be at most that size plus
    torch's framing, and is inflated with that cap whatever the archive's directory claims.
    Loading does not touch the global torch random state.

    Examples
    --------
    See :func:`save`.
    """
    path = Path(path)
    with open_regular(path, "model file") as handle:
        try:
            _check_zip_directory(handle, path)
            with zipfile.ZipFile(handle) as archive:
                if len(archive.infolist()) > _MAX_MEMBERS:
                    raise _Invalid("archive", f"holds more than {_MAX_MEMBERS} members")
                text = _read_member(archive, _DESCRIPTION, _MAX_DESCRIPTION_BYTES, path)
                if text is None:
                    raise ValueError(
                        f"{path} is not a skspectra model file: it has no member '{_DESCRIPTION}'."
                    )
                description = _parse_json(text, path)
                _check_format(description, path)
                plan = _validate(description, path)
                expected = _declared_weights(plan)
                _check_manifest(plan.manifest, expected, plan.compile)
                limit = (
                    sum(math.prod(shape) * dtype.itemsize for dtype, shape in expected.values())
                    + _WEIGHTS_SLACK
                    + _WEIGHTS_SLACK_PER_TENSOR * len(expected)
                )
                weights = _read_member(archive, plan.member, limit, path)
                if weights is None:
                    raise ValueError(
                        f"{path} is incomplete: its weights member {plan.member!r} is missing."
                    )
        except _Invalid as exc:
            raise ValueError(f"{path}: {exc.field}: {exc.problem}") from None
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            NotImplementedError,  # a compression method zipfile lacks
            RuntimeError,  # an encrypted member
            OSError,  # a seek before the start of the file
            OverflowError,
            struct.error,
        ) as exc:
            raise ValueError(
                f"{path} is not a readable skspectra model file (truncated or corrupted?): {exc}"
            ) from exc
    _warn_versions(plan.versions, path)
    try:
        model = _build(plan, path)
    except _Invalid as exc:
        raise ValueError(f"{path}: {exc.field}: {exc.problem}") from None
    clf = model[-1] if isinstance(model, Pipeline) else model
    _restore_weights(clf, _read_weights(weights, path), plan.manifest, path)
    return model


# ---------------------------------------------------------------------------- structure
def _split_model(model):
    """The parts of a supported model: ``(transformers, classifier, step names or None)``.

    A bare classifier gives step names ``None``. Raises ``TypeError`` naming any other step,
    and ``NotFittedError`` if the model is not fitted.
    """
    if isinstance(model, Pipeline):
        steps = list(model.steps)
        for i, (name, step) in enumerate(steps):
            if i == len(steps) - 1:  # a subclass (the Accelerate one) is saved as the plain one
                supported = isinstance(step, SpectrumCNNClassifier)
            else:
                entry = _TRANSFORMERS.get(type(step).__name__)
                supported = (
                    entry is not None and type(step) is entry.cls and len(steps) <= _MAX_STEPS + 1
                )
            if not supported:
                known = ", ".join(_TRANSFORMERS)
                raise TypeError(
                    f"Unsupported pipeline step {name!r} ({type(step).__name__}, step {i + 1} "
                    f"of {len(steps)}): only a SpectrumCNNClassifier, optionally preceded by "
                    f"transformers of skspectra ({known}), is supported. Save the classifier "
                    "alone, or pickle the pipeline with joblib (trusted files only)."
                )
        check_is_fitted(model)
        transformers = [step for _, step in steps[:-1]]
        for transformer in transformers:
            check_is_fitted(transformer)
        return transformers, steps[-1][1], [name for name, _ in steps]
    if not isinstance(model, SpectrumCNNClassifier):
        raise TypeError(
            f"Expected a SpectrumCNNClassifier or a Pipeline ending in one, got "
            f"{type(model).__name__}."
        )
    check_is_fitted(model)
    return [], model, None


# ---------------------------------------------------------------------------- describing
def _versions() -> dict:
    from . import __version__

    return {
        "skspectra": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "numpy": np.__version__,
    }


def _describe_transformer(transformer) -> dict:
    entry = _TRANSFORMERS[type(transformer).__name__]
    return {
        "class": type(transformer).__name__,
        "params": {k: _encode(v) for k, v in transformer.get_params(deep=False).items()},
        **{name: _encode(getattr(transformer, name, None)) for name in entry.fitted},
    }


def _describe_classifier(clf: SpectrumCNNClassifier) -> dict:
    # With compile=True, skorch's module_ wraps the network (and prefixes its state_dict keys;
    # the loaded model compiles as well, so they match).
    network = getattr(clf.module_, "_orig_mod", clf.module_)
    networks = network.networks if isinstance(network, NetworkEnsemble) else [network]
    if clf.module is not SpectrumResNet or any(type(n) is not SpectrumResNet for n in networks):
        module = clf.module if isinstance(clf.module, type) else type(clf.module)
        raise TypeError(
            f"save supports module=SpectrumResNet (the class) only; this classifier's module is "
            f"{getattr(module, '__qualname__', module)!r}. Pickle it with joblib instead "
            "(trusted files only), or export it with skspectra.export.to_onnx."
        )
    params, dropped = {}, []
    # A subclass (the Accelerate one) is stored as the plain classifier: its own parameters
    # (the accelerator, what it set on the callbacks) stay behind.
    plain = set(SpectrumCNNClassifier().get_params(deep=False))
    routed = ("module__", "optimizer__", "criterion__", "iterator_train__", "iterator_valid__")
    for name, value in clf.get_params(deep=False).items():
        if name == "module":
            continue
        if name not in plain and not name.startswith(routed):
            dropped.append(name)
            continue
        if name == "device" and value is not None:
            value = str(value)
        try:
            params[name] = _encode(value)
        except _NotJSON:
            if name.startswith("module__"):
                raise ValueError(
                    f"Parameter {name}={value!r} cannot be stored as JSON, and the network is "
                    "built from it: use plain numbers, strings, lists or tuples."
                ) from None
            dropped.append(name)
    # Sub-parameters of a dropped parameter (optimizer__momentum of a custom optimizer) would
    # be handed to the default that replaces it: drop them too.
    for name in list(params):
        if any(name.startswith(f"{d}__") for d in dropped):
            del params[name]
            dropped.append(name)
    classes = np.asarray(clf.classes_)
    return {
        "class": "SpectrumCNNClassifier",
        "module": "SpectrumResNet",
        "params": params,
        "dropped_params": sorted(dropped),
        "n_classes": len(classes),
        "n_points": int(clf.n_features_in_),
        "classes_": _encode_labels(classes),
        "n_features_in_": int(clf.n_features_in_),
        "feature_names_in_": _names(clf),
        "best_epoch_": _plain(getattr(clf, "best_epoch_", None)),
        "n_networks_": len(networks),
        "max_points_": networks[0].max_points,  # a file without it is from before it existed
        # float32 values written as their exact float64 decimal: read back bit for bit.
        "input_mean_": _encode(getattr(clf, "input_mean_", None)),
        "input_spread_": _encode(getattr(clf, "input_spread_", None)),
        "history": _history_rows(clf.history_ or []),
    }


def _names(estimator):
    names = getattr(estimator, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


class _NotJSON(Exception):
    """A value with no faithful JSON form."""


def _encode(value):
    """A JSON form of a parameter that :func:`_decode` turns back into an equal value.

    Tuples, dicts, non-finite floats and classes are wrapped in one-key objects
    (``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}``, ``{"float": "nan"}``,
    ``{"class": "torch.optim.Adam"}``) and so are the parameter objects of ``_OBJECT_CLASSES``
    (``{"object": ["SpectrumAugmentation", {...params}]}``); JSON objects appear nowhere else,
    so this is unambiguous.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, (list, np.ndarray)) and np.ndim(value) <= 1:
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {"dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if type(value) in _OBJECT_CLASSES.values():
        params = value.get_params(deep=False)
        return {"object": [type(value).__name__, {k: _encode(v) for k, v in params.items()}]}
    if isinstance(value, type):
        for namespace in _CLASS_NAMESPACES:
            if getattr(import_module(namespace), value.__name__, None) is value:
                return {"class": f"{namespace}.{value.__name__}"}
    raise _NotJSON(value)


def _plain(value):
    """A JSON value for a history entry: numbers, strings, lists and string-keyed dicts; a
    non-finite float becomes ``None``. Raises ``_NotJSON`` for anything else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return _plain(value.item())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise _NotJSON(value)


def _history_rows(history) -> list:
    rows = []
    for row in history:
        kept = {}
        for key, value in row.items():
            try:
                kept[str(key)] = _plain(value)
            except _NotJSON:
                pass  # whatever a callback recorded that JSON cannot hold
        rows.append(kept)
    return rows


def _encode_labels(classes: np.ndarray) -> dict:
    values = classes.tolist()
    if classes.dtype.kind == "O":
        if all(isinstance(v, str) for v in values):
            pass
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            values = [int(v) for v in values]
        else:
            values = None
    elif classes.dtype.kind not in _LABEL_KINDS:
        values = None
    if values is None:
        raise ValueError(
            f"Class labels of dtype {classes.dtype} ({classes[:3].tolist()}...) cannot be "
            "stored: use strings, integers, booleans or floats as labels."
        )
    return {"dtype": classes.dtype.str, "values": [_encode(v) for v in values]}


# ---------------------------------------------------------------------------- reading
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
# An unrolled JSON string literal: no backtracking, linear in its length.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def _check_zip_directory(handle, path: Path) -> None:
    """Refuse an archive whose directory is large or zip64 before zipfile parses it: zipfile
    builds an object per entry, so a directory of millions of entries would cost gigabytes."""
    size = handle.seek(0, os.SEEK_END)
    tail_len = min(size, 22 + 0xFFFF + 20)
    handle.seek(size - tail_len)
    tail = handle.read(tail_len)
    # The record zipfile takes: the last 22 bytes when they are one, else the last signature.
    at = len(tail) - 22 if tail[-22:-18] == _EOCD else tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise zipfile.BadZipFile("no zip directory found")
    entries, directory = struct.unpack("<HI", tail[at + 10 : at + 16])
    if tail[max(0, at - 20) : max(0, at - 16)] == _ZIP64_LOCATOR or entries == 0xFFFF:
        raise _Invalid("archive", "is a zip64 archive, which model files never are")
    if entries > _MAX_MEMBERS or directory > _MAX_DIRECTORY_BYTES:
        raise _Invalid(
            "archive",
            f"lists {entries} members in a directory of {directory} bytes; a model file has 2",
        )
    handle.seek(0)


def _read_member(archive: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes | None:
    """A member's bytes, inflated with a cap whatever the directory claims; None if absent."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        raise _Invalid(name, f"declares {info.file_size} bytes, more than the {limit} it may hold")
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise _Invalid(name, f"inflates to more than the {limit} bytes it may hold")
    return data


def _parse_json(raw: bytes, path: Path):
    bare = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    step = np.isin(bare, (ord("["), ord("{"))).astype(np.int8)
    step -= np.isin(bare, (ord("]"), ord("}"))).astype(np.int8)
    depth = int(np.cumsum(step, dtype=np.int32).max(initial=0))
    if depth > _MAX_JSON_DEPTH:
        raise _Invalid(_DESCRIPTION, f"nests {depth} levels deep, more than {_MAX_JSON_DEPTH}")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} has a description that is not valid JSON (UTF-8): {exc}"
        ) from None
    except RecursionError:
        raise _Invalid(_DESCRIPTION, "nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers of more than 4300 digits
        raise ValueError(f"{path} has a description that is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------- loading
def _check_format(description, path: Path):
    if not isinstance(description, dict) or description.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a skspectra model file (no '{_FORMAT}' description).")
    version = description.get("format_version")
    if not _is_int(version) or version < 1:
        raise ValueError(f"{path} has a malformed format version {_show(version)}.")
    if version > FORMAT_VERSION:
        from . import __version__

        versions = description.get("versions")
        writer = versions.get("skspectra") if isinstance(versions, dict) else None
        writer = writer if isinstance(writer, str) else "a newer version"
        raise ValueError(
            f"{path} was written by skspectra {_show(writer)[1:-1]} in model format version "
            f"{version}; this skspectra ({__version__}) reads format versions up to "
            f"{FORMAT_VERSION}. Upgrade skspectra to load it."
        )


def _release(version: str) -> str:
    """A version without its local label: '2.13.0+cpu' and '2.13.0+cu126' are one release."""
    return str(version).split("+", 1)[0]


def _warn_versions(written: dict, path: Path):
    here = _versions()
    differ = [
        f"{lib} {written.get(lib)} (this is {here[lib]})"
        for lib in ("skspectra", "torch")
        if _release(written.get(lib)) != _release(here[lib])
    ]
    if differ:
        warnings.warn(
            f"{path} was written with {' and '.join(differ)}. It loads, but its predictions may "
            "differ slightly from the original's; save it again to record this version.",
            UserWarning,
            stacklevel=3,
        )
    if tuple(int(p) for p in _release(torch.__version__).split(".")[:2]) < (2, 6):
        warnings.warn(
            f"torch {torch.__version__} is older than 2.6, whose weights_only loader closed a "
            "known bypass (CVE-2025-32434): load model files from trusted sources only, or "
            "upgrade torch.",
            UserWarning,
            stacklevel=3,
        )


def _build(plan: _Plan, path: Path):
    """The estimator(s) of a checked plan, the network built and still holding its initial
    weights (`load` restores the saved ones next)."""
    if plan.ignored:
        warnings.warn(
            f"{path} sets parameters that this version of skspectra no longer has or no longer "
            f"accepts: {plan.ignored}. They are left out (the defaults replace them); the "
            "network and its weights load as saved. Save the model again to drop them.",
            UserWarning,
            stacklevel=3,
        )
    params = dict(plan.params)
    # A network built with the default max_points of its day: name it where today's differs
    # (files written before max_points existed hold networks that saw every point).
    if "module__max_points" not in params and plan.max_points != _DEFAULT_MAX_POINTS:
        params["module__max_points"] = plan.max_points
    device = params.get("device")
    if isinstance(device, str) and device.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"{path} was saved with device={device!r}, but CUDA is not available here: the "
            "model is loaded on the CPU (device='cpu').",
            UserWarning,
            stacklevel=3,
        )
        params["device"] = "cpu"
    try:
        clf = SpectrumCNNClassifier(module=SpectrumResNet, **params)
        # `initialize_module` builds the network(s) from these three; files written before
        # `n_networks` existed hold one network.
        clf.classes_ = plan.classes
        clf.n_features_in_ = plan.n_points
        clf.n_networks_ = plan.n_networks
        # Building the network draws its initial weights; keep the caller's random state.
        with torch_rng():
            clf.initialize()
    except (TypeError, ValueError, AttributeError, KeyError, RuntimeError) as exc:
        raise _Invalid(
            "classifier.params", f"cannot build the classifier ({type(exc).__name__}: {exc})"
        ) from None
    if plan.feature_names is not None:  # set after initialize, which may reset fitted state
        clf.feature_names_in_ = plan.feature_names
    clf.history_ = History(plan.history)
    clf.best_epoch_ = plan.best_epoch
    # Files written before `center` existed hold neither: those models never centred.
    clf.input_mean_ = plan.input_mean
    if plan.input_spread is not None:
        clf.input_spread_ = plan.input_spread
    if plan.steps is None:
        return clf
    return Pipeline(list(zip(plan.steps, [*plan.transformers, clf], strict=True)))


def _read_weights(data: bytes, path: Path) -> dict:
    try:
        with _SILENCING, warnings.catch_warnings():
            # Torch's remark on the pickle protocol of a file that is refused anyway.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            # weights_only: torch's restricted unpickler, which rebuilds tensors and plain
            # containers and refuses any other object, so nothing in the file can run.
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # Torch's own message suggests weights_only=False: not advice to pass on here.
        text = str(exc)
        found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\s*\n|$)", text, re.S)
        reason = (found.group(1) if found else text).strip().split(". ")[0].rstrip(".")
        raise ValueError(
            f"The weights in {path} could not be read safely: they hold something other than "
            f"tensors ({reason}). The file is corrupted or was crafted; do not load it by other "
            "means unless you trust its source."
        ) from exc
    except Exception as exc:
        raise ValueError(
            f"The weights in {path} could not be read safely (corrupted, or not written by "
            f"skspectra.persistence.save): {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"The weights in {path} are not a mapping of names to tensors.")
    return dict(state)


def _restore_weights(clf, state: dict, manifest: dict, path: Path):
    expected = clf.module_.state_dict()
    if set(state) != set(expected) or set(manifest) != set(expected):
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        raise ValueError(
            f"The weights in {path} do not fit the network described: missing {missing}, "
            f"unexpected {extra}."
        )
    for name, tensor in state.items():
        # load_state_dict would cast a tensor of another dtype silently.
        if tensor.dtype != expected[name].dtype or list(tensor.shape) != list(expected[name].shape):
            raise ValueError(
                f"The weights in {path} do not fit the network described: {name} is "
                f"{tensor.dtype} {tuple(tensor.shape)}, the network has "
                f"{expected[name].dtype} {tuple(expected[name].shape)}."
            )
    clf.module_.load_state_dict(state)
    clf.module_.eval()
