"""The schema a model file's description must fit before :func:`skspectra.load` builds
anything: the bounds of every field, the classes a parameter may name, and the checks of the
declared network and weights. Every refusal is an ``_Invalid`` naming the field, which ``load``
words with the file's name."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from numbers import Integral
from pathlib import Path

import numpy as np
import skorch
import torch
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from .augmentation import SpectrumAugmentation
from .classifier import SpectrumCNNClassifier
from .loss import SoftMacroF1Loss
from .network import NORMS, SpectrumResNet
from .resampling import SpectrumResampler
from .scaler import FluxScaler

__all__: list[str] = []  # private: used by skspectra.persistence

_DESCRIPTION = "skspectra.json"

# Classes that a parameter may name (criterion, optimizer, iterators, dataset). A class is
# stored as "namespace.Name" and found again by attribute look-up in one of these namespaces
# only, so a file can never make `load` import a module of its choosing.
_CLASS_NAMESPACES = ("torch.nn", "torch.optim", "torch.utils.data", "skorch.dataset", "skspectra")
# Parameter values that are objects, stored by class name and parameters (no other objects).
_OBJECT_CLASSES = {"SpectrumAugmentation": SpectrumAugmentation}

# Label dtypes restored exactly: strings, integers, booleans, floats, and object arrays of
# strings or integers (a pandas column of strings gives the latter).
_LABEL_KINDS = "UiubfO"

# ---------------------------------------------------------------------------- limits
# Far beyond any real model, far below what would exhaust a machine: together they bound what
# `load` allocates before it trusts the file (see the module docstring).
_MAX_DESCRIPTION_BYTES = 8 << 20  # the JSON description, inflated
_MAX_JSON_DEPTH = 32
_MAX_MEMBERS = 16  # entries in the archive's directory
_MAX_DIRECTORY_BYTES = 64 << 10
_MAX_PARAMETERS = 1 << 26  # weights of all networks together: 256 MB as float32
_MAX_NETWORKS = 64
_MAX_CLASSES = 100_000
_MAX_POINTS = 1 << 24
_MAX_LABEL_CHARS = 1024
_MAX_STEPS = 8  # transformers before the classifier
_MAX_TENSORS = 100_000
_MAX_TEXT = 10_000  # characters of a string parameter
# torch.save's framing around the tensor data: a pickle of names and shapes, zip headers and
# 64-byte alignment per tensor.
_WEIGHTS_SLACK = 1 << 20
_WEIGHTS_SLACK_PER_TENSOR = 1024


def _decode(value, where: str = "value"):
    """The value :func:`_encode` wrote; raises ``_Invalid`` naming ``where`` for anything else."""
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise _Invalid(where, f"unknown encoded value with keys {sorted(map(str, value))[:5]}")
    ((tag, content),) = value.items()
    if tag == "tuple" and isinstance(content, list):
        return tuple(_decode(v, where) for v in content)
    if tag == "dict" and isinstance(content, list):
        if not all(isinstance(p, list) and len(p) == 2 for p in content):
            raise _Invalid(where, "a dict is not stored as [key, value] pairs")
        keys = [_decode(k, where) for k, _ in content]
        if not all(k is None or isinstance(k, str | int | float | bool) for k in keys):
            raise _Invalid(where, "a dict key is not a string or a number")
        return {k: _decode(v, where) for k, (_, v) in zip(keys, content, strict=True)}
    if tag == "float":
        if content not in ("nan", "inf", "-inf"):
            raise _Invalid(where, f"unknown float {_show(content)}")
        return float(content)
    if tag == "object":
        if not (isinstance(content, list) and len(content) == 2 and isinstance(content[1], dict)):
            raise _Invalid(where, "an object is not stored as [class name, parameters]")
        name, params = content
        if not isinstance(name, str) or name not in _OBJECT_CLASSES:
            raise _Invalid(where, f"object {_show(name)} is not one a skspectra model may hold")
        kwargs = {
            k: _no_classes(_plain_value(_decode(v, where), where), where) for k, v in params.items()
        }
        try:
            return _OBJECT_CLASSES[name](**kwargs)
        except TypeError as exc:
            raise _Invalid(where, f"object {name}: {exc}") from None
    if tag == "class" and isinstance(content, str):
        namespace, _, name = content.rpartition(".")
        found = (
            getattr(import_module(namespace), name, None)
            if namespace in _CLASS_NAMESPACES
            else None
        )
        if not isinstance(found, type):
            raise _Invalid(where, f"class {_show(content)} is not one a skspectra model may name")
        return found
    raise _Invalid(where, f"unknown encoded value {_show(value)}")


# ---------------------------------------------------------------------------- the schema
class _Invalid(Exception):
    """A field of the description outside the schema; `load` words it with the file name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


# A check takes a decoded value and the field it comes from, and returns the value to use or
# raises _Invalid. The schema tables below are made of them.
Check = Callable[[object, str], object]


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _integer(low: int, high: int) -> Check:
    def check(value, where):
        if not _is_int(value) or not low <= value <= high:
            raise _Invalid(where, f"{_show(value)} is not an integer from {low} to {high}")
        return int(value)

    return check


def _real(low: float, high: float) -> Check:
    def check(value, where):
        if _is_int(value) or isinstance(value, float):
            if math.isfinite(value) and low <= value <= high:
                return float(value)
        raise _Invalid(where, f"{_show(value)} is not a finite number from {low} to {high}")

    return check


def _boolean(value, where):
    if not isinstance(value, bool):
        raise _Invalid(where, f"{_show(value)} is not true or false")
    return value


def _one_of(*choices) -> Check:
    def check(value, where):
        # `is` for True/False/None: 1 == True must not pass for a boolean choice.
        if not any(value is c or (isinstance(c, str) and value == c) for c in choices):
            raise _Invalid(where, f"{_show(value)} is not one of {list(choices)}")
        return value

    return check


def _optional(check: Check) -> Check:
    def optional(value, where):
        return None if value is None else check(value, where)

    return optional


def _integers(max_len: int, low: int, high: int) -> Check:
    """A non-empty list or tuple of at most ``max_len`` integers from ``low`` to ``high``."""

    def check(value, where):
        if not isinstance(value, list | tuple) or not 1 <= len(value) <= max_len:
            raise _Invalid(where, f"{_show(value)} is not a list of 1 to {max_len} integers")
        for item in value:
            if not _is_int(item) or not low <= item <= high:
                raise _Invalid(where, f"holds {_show(item)}, not an integer from {low} to {high}")
        return value

    return check


def _floats(length_of: Callable[[], int]) -> Check:
    """A list of ``length_of()`` finite numbers, returned as float64."""

    def check(value, where):
        n = length_of()
        if not isinstance(value, list) or len(value) != n:
            raise _Invalid(where, f"is not a list of {n} numbers (one per point)")
        if not all(_is_int(v) or isinstance(v, float) for v in value):
            raise _Invalid(where, "holds something other than numbers")
        array = np.asarray(value, dtype=np.float64)
        if not np.isfinite(array).all():
            raise _Invalid(where, "holds NaN or infinite values")
        return array

    return check


def _feature_names(length_of: Callable[[], int]) -> Check:
    def check(value, where):
        n = length_of()
        if not isinstance(value, list) or len(value) != n:
            raise _Invalid(where, f"is not a list of {n} names (one per point)")
        if not all(isinstance(v, str) and len(v) <= _MAX_TEXT for v in value):
            raise _Invalid(where, f"holds something other than names of at most {_MAX_TEXT} chars")
        return np.asarray(value, dtype=object)

    return check


def _plain_value(value, where: str, depth: int = 0):
    """A parameter value made of numbers, short strings, lists and dicts only (no classes)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise _Invalid(where, f"is a string of {len(value)} characters, more than {_MAX_TEXT}")
        return value
    if depth < 4 and isinstance(value, list | tuple):
        for item in value:
            _plain_value(item, where, depth + 1)
        return value
    if depth < 4 and isinstance(value, dict):
        for key, item in value.items():
            _plain_value(key, where, depth + 1)
            _plain_value(item, where, depth + 1)
        return value
    if isinstance(value, SpectrumAugmentation):
        return value
    raise _Invalid(where, f"{_show(value)} is not a value a model file may hold here")


def _device(value, where):
    if value is None or (
        isinstance(value, str) and re.fullmatch(r"cpu|cuda(:\d{1,3})?|mps", value)
    ):
        return value
    raise _Invalid(where, f"{_show(value)} is not a device ('cpu', 'cuda', 'cuda:N' or 'mps')")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# The parameters of the network (module__*): every one a saved classifier may set, with bounds
# that keep any declared network buildable. A parameter missing here is refused: add it (with
# its bounds) when SpectrumResNet gains one.
_NETWORK_SCHEMA: dict[str, Check] = {
    "filters": _integers(32, 1, 4096),
    "dilations": _integers(16, 1, 1 << 16),
    "kernel_size": _integer(1, 1023),
    "n_pools": _optional(_integer(0, 32)),
    "dropout": _real(0.0, 1.0),
    "spatial_dropout": _boolean,
    "hidden_units": _optional(_integer(0, 1 << 16)),
    "norm": _one_of(*NORMS),
    "in_channels": _integer(1, 64),
    "max_points": _optional(_integer(1, _MAX_POINTS)),
    "n_classes": _integer(1, _MAX_CLASSES),
    "n_points": _integer(1, _MAX_POINTS),
}

# Parameters whose value is a class, and the classes each may name: a criterion must be a loss
# (not `torch.nn.Linear`, which would be built with any size the file declares).
_CLASS_PARAMETERS: dict[str, tuple[type, ...]] = {
    "criterion": (torch.nn.modules.loss._Loss, SoftMacroF1Loss),
    "optimizer": (torch.optim.Optimizer,),
    "iterator_train": (torch.utils.data.DataLoader,),
    "iterator_valid": (torch.utils.data.DataLoader,),
    "dataset": (skorch.dataset.Dataset,),
}

# Checks for the classifier's parameters that its `_parameter_constraints` do not cover (the
# ones skorch defines). Other parameters are checked against `_parameter_constraints`, so that
# the schema follows the classifier as it changes.
_CLASSIFIER_SCHEMA: dict[str, Check] = {
    "device": _device,
    "compile": _boolean,
    "verbose": _integer(0, 100),
    "warm_start": _boolean,
    "predict_nonlinearity": _one_of("auto", None),
    "use_caching": _one_of("auto", True, False),
    "torch_load_kwargs": _one_of(None),
    "train_split": _one_of(None),
    "callbacks": _one_of(None, "disable"),
}

# Upper bounds on integer parameters that size an allocation (a batch, a number of networks or
# workers). They apply whatever the constraints accept; sub-parameters by their last name.
_CLASSIFIER_LIMITS = {
    "batch_size": 1 << 20,
    "n_networks": _MAX_NETWORKS,
    "max_epochs": 1 << 20,
    "f1_epochs": 1 << 20,
    "batches_per_epoch": 1 << 24,
}
_SUB_LIMITS = {"num_workers": 64, "batch_size": 1 << 20, "prefetch_factor": 1024}


@dataclass(frozen=True)
class _Transformer:
    """How a pipeline step before the classifier is stored.

    Its parameters are checked against the class's ``_parameter_constraints``; each fitted
    attribute named in ``fitted`` is stored beside them and checked on loading. Registering a
    new transformer is one entry of ``_TRANSFORMERS``, e.g. for a resampler with a grid::

        "SpectrumResampler": _Transformer(
            SpectrumResampler,
            {"n_features_in_": _POINTS, "wavelength_": _float_grid(), ...},
        )
    """

    cls: type
    fitted: Mapping[str, Check] = field(default_factory=dict)
    # Parameters added after files were written without them: their value in such a file.
    before: Mapping[str, object] = field(default_factory=dict)


_POINTS = _integer(1, _MAX_POINTS)


def _float_grid(max_len: int = _MAX_POINTS) -> Check:
    """A fitted 1-D float64 array of at most ``max_len`` finite values (e.g. a wavelength
    grid); JSON holds each float64 exactly."""

    def check(value, where):
        if not isinstance(value, list) or not 1 <= len(value) <= max_len:
            raise _Invalid(where, f"is not a list of 1 to {max_len} numbers")
        return _floats(lambda: len(value))(value, where)

    return check


def _any_feature_names(value, where):
    return _feature_names(lambda: len(value) if isinstance(value, list) else -1)(value, where)


_TRANSFORMERS: dict[str, _Transformer] = {
    "FluxScaler": _Transformer(
        FluxScaler,
        {"n_features_in_": _POINTS, "feature_names_in_": _optional(_any_feature_names)},
        before={"clip": None},  # files before FluxScaler's clip scaled without clipping
    ),
    "SpectrumResampler": _Transformer(
        SpectrumResampler,
        {
            "wavelength_": _float_grid(),
            "n_features_in_": _optional(_POINTS),
            "feature_names_in_": _optional(_any_feature_names),
        },
    ),
}


def _class_of(value, bases: tuple[type, ...], where: str) -> type:
    if isinstance(value, type) and issubclass(value, bases):
        return value
    names = " or ".join(b.__name__.lstrip("_") for b in bases)
    raise _Invalid(
        where, f"{_show(value)} is not a {names} class, the only kind a model file may name here"
    )


def _no_classes(value, where: str):
    if isinstance(value, type):
        raise _Invalid(where, f"{_show(value)}: a class is not a value a model file may set here")
    if isinstance(value, list | tuple):
        for item in value:
            _no_classes(item, where)
    elif isinstance(value, dict):
        for item in value.values():
            _no_classes(item, where)
    return value


def _check_params(
    stored, where: str, estimator: type, extra: Mapping[str, Check], *, lenient: bool
) -> tuple[dict, list[str]]:
    """Decode and check an estimator's stored parameters.

    Returns the parameters to pass and those left out: names ``estimator`` no longer has, and
    with ``lenient``, values its ``_parameter_constraints`` no longer accept (a file written by
    another version; the default replaces them). Refuses anything else outside the schema.
    ``lenient`` suits training-only parameters; a transformer's shape its output, so a value
    it does not accept is refused.
    """
    if not isinstance(stored, dict):
        raise _Invalid(where, "is not a mapping of parameter names to values")
    defaults = estimator().get_params(deep=False)
    constraints = getattr(estimator, "_parameter_constraints", {})
    params, ignored = {}, []
    for name, raw in stored.items():
        field_ = f"{where}.{name}"
        value = _decode(raw, field_)
        prefix, _, sub = name.partition("__")
        if name in _CLASS_PARAMETERS and name in defaults:
            params[name] = _class_of(value, _CLASS_PARAMETERS[name], field_)
            continue
        _no_classes(value, field_)
        if sub and prefix == "module" and estimator is SpectrumCNNClassifier:
            check = _NETWORK_SCHEMA.get(sub)
            if check is None:
                raise _Invalid(field_, "is not a network parameter a model file may set")
            value = check(value, field_)
        elif sub and prefix in _CLASS_PARAMETERS and prefix in defaults:
            value = _plain_value(value, field_)
            limit = _SUB_LIMITS.get(sub)
            if limit is not None and _is_int(value) and value > limit:
                raise _Invalid(field_, f"is {value}, more than {limit}")
        elif sub or name == "module":
            raise _Invalid(field_, "is not a parameter a model file may set")
        elif name not in defaults:
            ignored.append(name)
            continue
        else:
            limit = _CLASSIFIER_LIMITS.get(name)
            if limit is not None and _is_int(value) and value > limit:
                raise _Invalid(field_, f"is {value}, more than {limit}")
            if name in extra:
                value = extra[name](value, field_)
            elif name in constraints:
                try:
                    validate_parameter_constraints(
                        {name: constraints[name]}, {name: value}, caller_name=estimator.__name__
                    )
                except InvalidParameterError as exc:
                    if not lenient:
                        raise _Invalid(field_, str(exc)) from None
                    # A value an older version accepted ("auto" before it was removed): the
                    # default replaces it, as for a parameter that no longer exists.
                    ignored.append(f"{name}={_show(value)}")
                    continue
            else:
                value = _plain_value(value, field_)
        params[name] = value
    return params, ignored


def _labels(stored, where: str) -> np.ndarray:
    """``classes_``: a bounded dtype, one value per class, unique and sorted."""
    if not isinstance(stored, dict) or not isinstance(stored.get("values"), list):
        raise _Invalid(where, "is not a {'dtype': ..., 'values': [...]} mapping")
    text = stored.get("dtype")
    try:
        if not isinstance(text, str) or len(text) > 16:
            raise TypeError
        dtype = np.dtype(text)
    except TypeError:
        raise _Invalid(f"{where}.dtype", f"{_show(text)} is not a NumPy dtype") from None
    if dtype.kind not in _LABEL_KINDS or dtype.str != text and dtype.kind != "O":
        raise _Invalid(f"{where}.dtype", f"{text!r} is not a label dtype a model file may hold")
    if dtype.kind == "U" and dtype.itemsize // 4 > _MAX_LABEL_CHARS:
        raise _Invalid(
            f"{where}.dtype", f"{text!r}: labels of more than {_MAX_LABEL_CHARS} characters"
        )
    raw = stored["values"]
    if not 1 <= len(raw) <= _MAX_CLASSES:
        raise _Invalid(f"{where}.values", f"holds {len(raw)} classes, not 1 to {_MAX_CLASSES}")
    values = [_decode(v, f"{where}.values") for v in raw]
    kinds = {
        "U": lambda v: isinstance(v, str) and len(v) <= dtype.itemsize // 4,
        "i": _is_int,
        "u": lambda v: _is_int(v) and v >= 0,
        "b": lambda v: isinstance(v, bool),
        "f": lambda v: (_is_int(v) or isinstance(v, float)) and math.isfinite(v),
        "O": lambda v: isinstance(v, str) and len(v) <= _MAX_LABEL_CHARS or _is_int(v),
    }
    if not all(kinds[dtype.kind](v) for v in values) or (
        dtype.kind == "O" and len({type(v) is str for v in values}) > 1
    ):
        raise _Invalid(f"{where}.values", f"hold values that are not labels of dtype {text!r}")
    if any(not a < b for a, b in zip(values, values[1:], strict=False)):
        raise _Invalid(
            f"{where}.values", "are not sorted and unique, as a fitted classifier's classes_ are"
        )
    if dtype.kind == "O":
        classes = np.empty(len(values), dtype=object)
        classes[:] = values
        return classes
    try:
        return np.array(values, dtype=dtype)
    except OverflowError:
        raise _Invalid(f"{where}.values", f"do not fit the dtype {text!r}") from None


@dataclass
class _Plan:
    """Everything `load` builds, checked: nothing here was allocated from unchecked sizes."""

    steps: list[str] | None
    transformers: list
    params: dict
    ignored: list[str]
    classes: np.ndarray
    n_points: int
    n_networks: int
    max_points: int | None
    feature_names: np.ndarray | None
    best_epoch: int | None
    history: list
    input_mean: np.ndarray | None
    input_spread: float | None
    manifest: dict
    member: str
    versions: dict
    compile: bool


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(where, f"{_show(value)} is not a mapping")
    return value


def _validate(description: dict, path: Path) -> _Plan:
    """Check the whole description against the schema; return what `_build` needs."""
    versions = description.get("versions")
    versions = (
        {k: v for k, v in versions.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(versions, dict)
        else {}
    )
    if "transformers" in description:
        stored = description["transformers"]
        if not isinstance(stored, list) or len(stored) > _MAX_STEPS:
            raise _Invalid("transformers", f"is not a list of at most {_MAX_STEPS} steps")
    else:  # format version 1: one optional scaler
        stored = [] if description.get("scaler") is None else [description["scaler"]]
    transformers, ignored = [], []
    for i, step in enumerate(stored):
        transformer, left_out = _transformer(step, f"transformers[{i}]")
        transformers.append(transformer)
        ignored += left_out
    pipeline = description.get("pipeline")
    steps = None
    if pipeline is not None:
        steps = _mapping(pipeline, "pipeline").get("steps")
        if (
            not isinstance(steps, list)
            or len(steps) != len(transformers) + 1
            or not all(isinstance(s, str) and 0 < len(s) <= 100 and "__" not in s for s in steps)
            or len(set(steps)) != len(steps)
        ):
            raise _Invalid(
                "pipeline.steps",
                f"{_show(steps)} is not one unique name per estimator described "
                f"({len(transformers) + 1})",
            )
    elif transformers:
        raise _Invalid("pipeline", "is null, but transformers are described")

    c = _mapping(description.get("classifier"), "classifier")
    if c.get("class") != "SpectrumCNNClassifier" or c.get("module") != "SpectrumResNet":
        raise _Invalid(
            "classifier.class",
            f"unsupported model {_show(c.get('class'))} with module {_show(c.get('module'))}",
        )
    params, left_out = _check_params(
        c.get("params"),
        "classifier.params",
        SpectrumCNNClassifier,
        _CLASSIFIER_SCHEMA,
        lenient=True,
    )
    ignored += left_out
    n_points = _POINTS(c.get("n_features_in_"), "classifier.n_features_in_")
    if c.get("n_points", n_points) != n_points:
        raise _Invalid("classifier.n_points", "contradicts n_features_in_")
    classes = _labels(c.get("classes_"), "classifier.classes_")
    if c.get("n_classes", len(classes)) != len(classes):
        raise _Invalid("classifier.n_classes", f"contradicts the {len(classes)} classes_")
    n_networks = _integer(1, _MAX_NETWORKS)(c.get("n_networks_", 1), "classifier.n_networks_")
    max_points = _optional(_integer(1, _MAX_POINTS))(c.get("max_points_"), "classifier.max_points_")
    history = c.get("history") or []
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise _Invalid("classifier.history", "is not a list of mappings, one per epoch")
    mean = _optional(_floats(lambda: n_points))(
        _decode(c.get("input_mean_"), "classifier.input_mean_"), "classifier.input_mean_"
    )
    spread = _optional(_real(0.0, math.inf))(
        _decode(c.get("input_spread_"), "classifier.input_spread_"), "classifier.input_spread_"
    )
    weights = _mapping(c.get("weights"), "classifier.weights")
    member = weights.get("member")
    if not isinstance(member, str) or not 0 < len(member) <= 255 or member == _DESCRIPTION:
        raise _Invalid("classifier.weights.member", f"{_show(member)} is not a member name")
    return _Plan(
        steps=steps,
        transformers=transformers,
        params=params,
        ignored=ignored,
        classes=classes,
        n_points=n_points,
        n_networks=n_networks,
        max_points=max_points,
        feature_names=_optional(_feature_names(lambda: n_points))(
            c.get("feature_names_in_"), "classifier.feature_names_in_"
        ),
        best_epoch=_optional(_integer(0, 1 << 30))(c.get("best_epoch_"), "classifier.best_epoch_"),
        history=history,
        input_mean=None if mean is None else mean.astype(np.float32),
        input_spread=spread,
        manifest=_tensors(weights.get("tensors"), "classifier.weights.tensors"),
        member=member,
        versions=versions,
        compile=bool(params.get("compile", False)),
    )


def _transformer(stored, where: str):
    stored = _mapping(stored, where)
    name = stored.get("class")
    entry = _TRANSFORMERS.get(name) if isinstance(name, str) else None
    if entry is None:
        raise _Invalid(
            f"{where}.class",
            f"{_show(name)} is not a transformer a model file may hold: {', '.join(_TRANSFORMERS)}",
        )
    params, ignored = _check_params(
        stored.get("params"), f"{where}.params", entry.cls, {}, lenient=False
    )
    transformer = entry.cls(**{**entry.before, **params})
    try:
        transformer._validate_params()
    except InvalidParameterError as exc:  # constraints that involve several parameters
        raise _Invalid(f"{where}.params", str(exc)) from None
    for attribute, check in entry.fitted.items():
        value = _decode(stored.get(attribute), f"{where}.{attribute}")
        if value is not None:
            setattr(transformer, attribute, check(value, f"{where}.{attribute}"))
    return transformer, [f"{name}.{p}" for p in ignored]


def _tensors(stored, where: str) -> dict:
    """The declared weights: name -> (torch dtype, shape)."""
    if not isinstance(stored, dict) or not 0 < len(stored) <= _MAX_TENSORS:
        raise _Invalid(where, f"is not a mapping of 1 to {_MAX_TENSORS} tensor names")
    declared = {}
    for name, spec in stored.items():
        spec = _mapping(spec, f"{where}.{name}")
        text, shape = spec.get("dtype"), spec.get("shape")
        dtype = getattr(torch, text[6:], None) if isinstance(text, str) else None
        if not (isinstance(text, str) and text.startswith("torch.")) or not isinstance(
            dtype, torch.dtype
        ):
            raise _Invalid(f"{where}.{name}.dtype", f"{_show(text)} is not a torch dtype")
        if not isinstance(shape, list) or len(shape) > 8:
            raise _Invalid(f"{where}.{name}.shape", f"{_show(shape)} is not a shape")
        if not all(_is_int(n) and 0 <= n <= _MAX_PARAMETERS for n in shape):
            raise _Invalid(f"{where}.{name}.shape", f"{_show(shape)} is not a shape")
        declared[name] = (dtype, tuple(shape))
    return declared


def _declared_weights(plan: _Plan) -> dict:
    """The weights of the declared network(s), computed on the ``meta`` device: shapes and
    dtypes without memory. Refuses a declaration of more than ``_MAX_PARAMETERS`` weights."""
    kwargs = {k[8:]: v for k, v in plan.params.items() if k.startswith("module__")}
    kwargs.update(n_classes=len(plan.classes), n_points=plan.n_points)
    try:
        with torch.device("meta"):
            network = SpectrumResNet(**kwargs)
    except (TypeError, ValueError) as exc:
        raise _Invalid("classifier.params", f"do not describe a network: {exc}") from None
    one = {k: (v.dtype, tuple(v.shape)) for k, v in network.state_dict().items()}
    total = plan.n_networks * sum(math.prod(shape) for _, shape in one.values())
    if total > _MAX_PARAMETERS:
        raise _Invalid(
            "classifier.params",
            f"declare {plan.n_networks} network(s) of {total} weights in all, more than the "
            f"{_MAX_PARAMETERS} a model file may hold",
        )
    if plan.n_networks == 1:
        return one
    return {f"networks.{i}.{k}": spec for i in range(plan.n_networks) for k, spec in one.items()}


def _check_manifest(manifest: dict, expected: dict, compiled: bool) -> None:
    # A compiled network's state_dict names carry torch.compile's prefix; the shapes do not.
    declared = {k.removeprefix("_orig_mod.") if compiled else k: v for k, v in manifest.items()}
    if set(declared) != set(expected):
        missing = sorted(set(expected) - set(declared))[:5]
        extra = sorted(set(declared) - set(expected))[:5]
        raise _Invalid(
            "classifier.weights.tensors",
            f"do not fit the network described: missing {missing}, unexpected {extra}",
        )
    for name, (dtype, shape) in expected.items():
        if declared[name] != (dtype, shape):
            raise _Invalid(
                f"classifier.weights.tensors.{name}",
                f"do not fit the network described: {declared[name][0]} "
                f"{declared[name][1]}, the network has {dtype} {shape}",
            )
