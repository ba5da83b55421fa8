"""Save and load fitted models in a file that runs no code when it is read.

``joblib.dump`` pickles the whole estimator, and unpickling a file can run any code its author
chose. :func:`save` writes a ``.skspectra`` file instead: a zip archive of two members,

- ``skspectra.json``: what the model is (a bare :class:`~skspectra.SpectrumCNNClassifier`, or a
  :class:`~sklearn.pipeline.Pipeline` of a :class:`~skspectra.FluxScaler` and one), its
  parameters, ``classes_`` with their dtype, ``n_features_in_``, ``feature_names_in_``,
  ``best_epoch_``, the training history and the library versions that wrote it;
- ``weights.pt``: the network's ``state_dict``, written by ``torch.save``.

:func:`load` builds the estimator from the description and reads the weights with
``torch.load(..., weights_only=True)``: torch's restricted unpickler, which rebuilds tensors and
plain containers and refuses every other object the stream names, so no code chosen by the
file's author runs. (safetensors would avoid pickle opcodes altogether, at the cost of a new
dependency; the restricted loader is part of torch and has been the default of ``torch.load``
since torch 2.6.)
"""

from __future__ import annotations

import io
import json
import math
import pickle  # only for its exception class: nothing is unpickled with it
import re
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

from .augmentation import SpectrumAugmentation
from .classifier import SpectrumCNNClassifier
from .io import atomic_write
from .network import NetworkEnsemble, SpectrumResNet
from .scaler import FluxScaler

__all__ = ["FORMAT_VERSION", "load", "save"]

#: Version of the file layout written by :func:`save`; :func:`load` reads this one and older.
FORMAT_VERSION = 1

_FORMAT = "skspectra-model"
_DESCRIPTION = "skspectra.json"
_WEIGHTS = "weights.pt"

# Classes that a parameter may name (criterion, optimizer, iterators, dataset). A class is
# stored as "namespace.Name" and found again by attribute look-up in one of these namespaces
# only, so a file can never make `load` import a module of its choosing.
_CLASS_NAMESPACES = ("torch.nn", "torch.optim", "torch.utils.data", "skorch.dataset", "skspectra")
# Parameter values that are objects, stored by class name and parameters (no other objects).
_OBJECT_CLASSES = {"SpectrumAugmentation": SpectrumAugmentation}

# Label dtypes restored exactly: strings, integers, booleans, floats, and object arrays of
# strings or integers (a pandas column of strings gives the latter).
_LABEL_KINDS = "UiubfO"


# ---------------------------------------------------------------------------- public API
def save(model, path) -> Path:
    """Write a fitted model to a ``.skspectra`` file that :func:`load` reads without pickle.

    Parameters
    ----------
    model : SpectrumCNNClassifier or Pipeline
        A fitted :class:`~skspectra.SpectrumCNNClassifier` with ``module=SpectrumResNet``, or a
        fitted :class:`~sklearn.pipeline.Pipeline` of an optional
        :class:`~skspectra.FluxScaler` followed by one.
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
    non-finite numbers written as ``null``.

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
    scaler, clf, names = _split_model(model)
    description = {
        "format": _FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "pipeline": None if names is None else {"steps": names},
        "scaler": None if scaler is None else _describe_scaler(scaler),
        "classifier": _describe_classifier(clf),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in clf.module_.state_dict().items()}
    description["classifier"]["weights"] = {
        "member": _WEIGHTS,
        "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in state.items()},
    }
    text = json.dumps(description, indent=1, allow_nan=False)
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
        written by a newer format version, or its weights hold anything but tensors.

    Warns
    -----
    UserWarning
        If the file was written with another version of skspectra or torch (the model still
        loads); if it was saved with a CUDA device and CUDA is unavailable (it loads on the
        CPU); with torch older than 2.6, whose ``weights_only`` loader had a known bypass.

    See Also
    --------
    save : write the file.

    Notes
    -----
    Nothing in the file is executed: the description is JSON, and the classes it names
    (``SpectrumCNNClassifier``, ``SpectrumResNet``, ``FluxScaler``, and torch criteria,
    optimizers and data loaders) are looked up in a fixed list of namespaces. The weights are
    read by torch's restricted unpickler, which rebuilds tensors and plain containers only and
    refuses any other object a pickle names.
    Loading does not touch the global torch random state.

    Examples
    --------
    See :func:`save`.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                text = archive.read(_DESCRIPTION)
            except KeyError:
                raise ValueError(
                    f"{path} is not a skspectra model file: it has no member '{_DESCRIPTION}'."
                ) from None
            description = json.loads(text.decode("utf-8"))
            _check_format(description, path)
            member = description["classifier"]["weights"]["member"]
            try:
                weights = archive.read(member)
            except KeyError:
                raise ValueError(
                    f"{path} is incomplete: its weights member {member!r} is missing."
                ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path} is not a readable skspectra model file (truncated or corrupted?): {exc}"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} has a description that is not valid JSON: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} has a malformed description: missing or bad {exc}") from exc

    versions = description.get("versions")
    _warn_versions(versions if isinstance(versions, dict) else {}, path)
    try:
        pipeline, scaler = description["pipeline"], description["scaler"]
        steps = None if pipeline is None else list(pipeline["steps"])
        scaler = None if scaler is None else _build_scaler(scaler)
        clf_desc = description["classifier"]
        manifest = clf_desc["weights"]["tensors"]
        clf = _build_classifier(clf_desc, path)
        if (steps is None and scaler is not None) or (
            steps is not None and len(steps) != 1 + (scaler is not None)
        ):
            raise ValueError(f"pipeline steps {steps} do not match the estimators described")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path} has a malformed description: {exc!r}") from exc
    _restore_weights(clf, _read_weights(weights, path), manifest, path)
    if steps is None:
        return clf
    return Pipeline(list(zip(steps, [e for e in (scaler, clf) if e is not None], strict=True)))


# ---------------------------------------------------------------------------- structure
def _split_model(model):
    """The parts of a supported model: ``(scaler or None, classifier, step names or None)``.

    A bare classifier gives step names ``None``. Raises ``TypeError`` naming any other step,
    and ``NotFittedError`` if the model is not fitted.
    """
    if isinstance(model, Pipeline):
        steps = list(model.steps)
        for i, (name, step) in enumerate(steps):
            if i == len(steps) - 1:
                supported = type(step) is SpectrumCNNClassifier
            else:
                supported = i == 0 and len(steps) == 2 and type(step) is FluxScaler
            if not supported:
                raise TypeError(
                    f"Unsupported pipeline step {name!r} ({type(step).__name__}, step {i + 1} "
                    f"of {len(steps)}): only a SpectrumCNNClassifier, optionally preceded by a "
                    "FluxScaler, is supported. Save the classifier alone, or pickle the "
                    "pipeline with joblib (trusted files only)."
                )
        check_is_fitted(model)
        scaler = steps[0][1] if len(steps) == 2 else None
        if scaler is not None:
            check_is_fitted(scaler)
        return scaler, steps[-1][1], [name for name, _ in steps]
    if type(model) is not SpectrumCNNClassifier:
        raise TypeError(
            f"Expected a SpectrumCNNClassifier or a Pipeline ending in one, got "
            f"{type(model).__name__}."
        )
    check_is_fitted(model)
    return None, model, None


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


def _describe_scaler(scaler: FluxScaler) -> dict:
    return {
        "class": "FluxScaler",
        "params": {k: _encode(v) for k, v in scaler.get_params(deep=False).items()},
        "n_features_in_": int(scaler.n_features_in_),
        "feature_names_in_": _names(scaler),
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
    for name, value in clf.get_params(deep=False).items():
        if name == "module":
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


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ValueError(f"unknown encoded value {value!r}")
    ((tag, content),) = value.items()
    if tag == "tuple":
        return tuple(_decode(v) for v in content)
    if tag == "dict":
        return {_decode(k): _decode(v) for k, v in content}
    if tag == "float":
        if content not in ("nan", "inf", "-inf"):
            raise ValueError(f"unknown float {content!r}")
        return float(content)
    if tag == "object":
        name, params = content
        if name not in _OBJECT_CLASSES:
            raise ValueError(f"object {name!r} is not one a skspectra model may hold")
        return _OBJECT_CLASSES[name](**{k: _decode(v) for k, v in params.items()})
    if tag == "class":
        namespace, _, name = content.rpartition(".")
        found = (
            getattr(import_module(namespace), name, None)
            if namespace in _CLASS_NAMESPACES
            else None
        )
        if not isinstance(found, type):
            raise ValueError(f"class {content!r} is not one a skspectra model may name")
        return found
    raise ValueError(f"unknown encoded value {value!r}")


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


def _decode_labels(stored: dict) -> np.ndarray:
    dtype = np.dtype(stored["dtype"])
    if dtype.kind not in _LABEL_KINDS:
        raise ValueError(f"unsupported label dtype {dtype}")
    values = [_decode(v) for v in stored["values"]]
    if dtype.kind == "O":
        classes = np.empty(len(values), dtype=object)
        classes[:] = values
        return classes
    return np.array(values, dtype=dtype)


# ---------------------------------------------------------------------------- loading
def _check_format(description, path: Path):
    if not isinstance(description, dict) or description.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a skspectra model file (no '{_FORMAT}' description).")
    version = description.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{path} has a malformed format version {version!r}.")
    if version > FORMAT_VERSION:
        from . import __version__

        writer = description.get("versions", {}).get("skspectra", "a newer version")
        raise ValueError(
            f"{path} was written by skspectra {writer} in model format version {version}; "
            f"this skspectra ({__version__}) reads format versions up to {FORMAT_VERSION}. "
            "Upgrade skspectra to load it."
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


def _build_scaler(desc: dict) -> FluxScaler:
    if desc["class"] != "FluxScaler":
        raise ValueError(f"unsupported scaler {desc['class']!r}")
    scaler = FluxScaler(**{k: _decode(v) for k, v in desc["params"].items()})
    scaler.n_features_in_ = int(desc["n_features_in_"])
    if desc.get("feature_names_in_") is not None:
        scaler.feature_names_in_ = np.asarray(desc["feature_names_in_"], dtype=object)
    return scaler


def _build_classifier(desc: dict, path: Path) -> SpectrumCNNClassifier:
    if desc["class"] != "SpectrumCNNClassifier" or desc["module"] != "SpectrumResNet":
        raise ValueError(f"unsupported model {desc['class']!r} with module {desc['module']!r}")
    params = {k: _decode(v) for k, v in desc["params"].items()}
    device = params.get("device")
    if isinstance(device, str) and device.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"{path} was saved with device={device!r}, but CUDA is not available here: the "
            "model is loaded on the CPU (device='cpu').",
            UserWarning,
            stacklevel=3,
        )
        params["device"] = "cpu"
    clf = SpectrumCNNClassifier(module=SpectrumResNet, **params)
    classes = _decode_labels(desc["classes_"])
    if len(classes) != desc["n_classes"] or desc["n_features_in_"] != desc["n_points"]:
        raise ValueError("classes_ or n_features_in_ contradict n_classes or n_points")
    # `initialize_module` builds the network(s) from these three; files written before
    # `n_networks` existed hold one network.
    clf.classes_ = classes
    clf.n_features_in_ = int(desc["n_features_in_"])
    n_networks = desc.get("n_networks_", 1)
    if not isinstance(n_networks, int) or isinstance(n_networks, bool) or n_networks < 1:
        raise ValueError(f"n_networks_ in {path} is {n_networks!r}, not a positive integer")
    clf.n_networks_ = n_networks
    if desc.get("feature_names_in_") is not None:
        clf.feature_names_in_ = np.asarray(desc["feature_names_in_"], dtype=object)
    # Building the network draws its initial weights; keep the caller's random state as it was.
    with torch.random.fork_rng(devices=[]):
        clf.initialize()
    clf.history_ = History(desc.get("history") or [])
    clf.best_epoch_ = desc.get("best_epoch_")
    # Files written before `center` existed hold neither: those models never centred.
    mean = _decode(desc.get("input_mean_"))
    if mean is not None:
        mean = np.asarray(mean, dtype=np.float32)
        if mean.shape != (clf.n_features_in_,) or not np.isfinite(mean).all():
            raise ValueError(
                f"input_mean_ in {path} has shape {mean.shape} or non-finite values; the "
                f"network takes {clf.n_features_in_} points"
            )
    clf.input_mean_ = mean
    spread = _decode(desc.get("input_spread_"))
    if spread is not None:
        clf.input_spread_ = float(spread)
    return clf


def _read_weights(data: bytes, path: Path) -> dict:
    try:
        with warnings.catch_warnings():
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
