"""Custom layers, defined once for both Keras worlds.

A custom layer is written as a factory ``fn(k) -> class`` decorated with
:func:`per_world`; calling ``LayerFactory(k)`` returns the class for the world
of ``k`` (memoized, and registered as serializable under ``edgezoo>Name`` so
``.keras`` files load). Inside ``call`` use TensorFlow ops (``tf.*``): both
worlds run on the TensorFlow backend, so one body serves both.

Loading a saved model needs every class registered first:
:func:`materialize_all` does that for a world (``zoo.core.io.load_model`` calls it).
"""

from __future__ import annotations

from collections.abc import Callable

_FACTORIES: list[Callable] = []
_CACHE: dict[tuple[str, str], type] = {}


def per_world(factory: Callable) -> Callable:
    """Turn ``factory(k) -> class`` into a memoized, serializable per-world class getter."""

    def get(k):
        key = (factory.__qualname__, k.__name__)
        if key not in _CACHE:
            cls = factory(k)
            cls = k.saving.register_keras_serializable(package="edgezoo")(cls)
            _CACHE[key] = cls
        return _CACHE[key]

    get.__name__ = factory.__name__
    get.__qualname__ = factory.__qualname__
    get.__doc__ = factory.__doc__
    _FACTORIES.append(get)
    return get


def materialize_all(k) -> dict[str, type]:
    """Create (and register) every custom class of world ``k``; returns name -> class."""
    from zoo.registry import _ensure_loaded

    _ensure_loaded()  # model modules define their factories at import time
    classes = {}
    for get in _FACTORIES:
        cls = get(k)
        classes[cls.__name__] = cls
    return classes
