"""What makes a skorch net follow scikit-learn's rules for parameters and fitted state."""

from __future__ import annotations

__all__ = ["SkorchParamsMixin"]


def _stored(key: str, factory=None, message: str = ""):
    """A property over ``__dict__[key]``; when unset, ``factory()`` (kept unless None), or an
    AttributeError without a factory."""

    def get(self):
        if key not in self.__dict__:
            if factory is None:
                raise AttributeError(f"{type(self).__name__} {message}" if message else key)
            value = factory()
            return value if value is None else self.__dict__.setdefault(key, value)
        return self.__dict__[key]

    return property(get, lambda self, value: self.__dict__.__setitem__(key, value))


class SkorchParamsMixin:
    """Mix into a skorch net (before it) so that ``__init__`` sets nothing but parameters.

    skorch sets ``history_``, ``initialized_`` and ``virtual_params_`` in ``__init__``, where
    scikit-learn allows only parameters: these properties keep skorch's names on private
    storage. skorch tells its first ``__init__`` from later ones by ``initialized_``'s
    absence, and its ``classes_`` is a property over a parameter; here it is a fitted attribute.
    """

    history_ = _stored("_history_", lambda: None)
    virtual_params_ = _stored("_virtual_params_", dict)
    initialized_ = _stored("_initialized_")
    classes_ = _stored("classes_", message="is not fitted: call fit first")

    def _get_param_names(self):
        # skorch lists its private `_params_to_validate` too; it must not travel through clone.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def __sklearn_is_fitted__(self) -> bool:
        return "classes_" in self.__dict__ and self.initialized_
