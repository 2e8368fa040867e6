"""The two Keras worlds, decided once, here.

TensorFlow 2.21 ships Keras 3, but QKeras and tensorflow-model-optimization
(tfmot) only work on tf-keras (Keras 2). edgezoo keeps both in one process:

* ``TF_USE_LEGACY_KERAS=1`` is set *before TensorFlow is first imported*
  (importing :mod:`zoo` does it), so ``tf.keras`` -- which QKeras and tfmot use
  internally -- resolves to tf-keras;
* ``import keras`` stays Keras 3, the world every user-facing model lives in.

A zoo builder receives the Keras module of the world it is built in
(``keras`` or ``tf_keras``) and uses only the functional API shared by both,
so one definition yields both a Keras 3 model and a tf-keras twin; weights
move between them by layer name (:func:`transfer_weights`).
"""

from __future__ import annotations

import os
import sys
import warnings

KERAS3 = "keras"
TF_KERAS = "tf_keras"
WORLDS = (KERAS3, TF_KERAS)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    warnings.warn(
        "TensorFlow was imported before edgezoo set TF_USE_LEGACY_KERAS=1: tf.keras is Keras 3 "
        "in this process, so QKeras and tfmot (compression) will not work. Import zoo (or edgezoo) "
        "before tensorflow, or export TF_USE_LEGACY_KERAS=1.",
        RuntimeWarning,
        stacklevel=2,
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"


def get_keras(world: str = KERAS3):
    """Return the Keras module of ``world`` ("keras" for Keras 3, "tf_keras" for Keras 2)."""
    if world == KERAS3:
        import keras

        return keras
    if world == TF_KERAS:
        import tf_keras

        return tf_keras
    raise ValueError(f"Unknown Keras world {world!r}; expected one of {WORLDS}.")


def world_of(model) -> str:
    """Which world a model object belongs to."""
    import keras

    if isinstance(model, keras.Model):
        return KERAS3
    import tf_keras

    if isinstance(model, tf_keras.Model):
        return TF_KERAS
    raise TypeError(f"Not a Keras model: {type(model).__name__}")


def transfer_weights(src, dst, *, strict: bool = True, rename=None) -> list[str]:
    """Copy weights from ``src`` to ``dst`` layer by layer, matched by layer name (a ``src``
    name in ``rename`` by its new name).

    Works across worlds (Keras 3 <-> tf-keras, QKeras). Returns the names of the
    layers that received weights. With ``strict``, a ``dst`` layer with weights
    that has no same-named ``src`` layer, or a shape mismatch, raises.
    """
    from zoo.core.introspect import all_layers

    rename = rename or {}
    src_layers = {rename.get(layer.name, layer.name): layer for layer in all_layers(src)}
    moved = []
    for layer in all_layers(dst):
        if not layer.weights:
            continue
        other = src_layers.get(layer.name)
        if other is None:
            if strict:
                raise KeyError(
                    f"Layer {layer.name!r} of {dst.name!r} has no counterpart in {src.name!r}."
                )
            continue
        values = other.get_weights()
        targets = layer.get_weights()
        if len(values) != len(targets) or any(v.shape != t.shape for v, t in zip(values, targets)):
            # QKeras layers may hold extra non-trainable state; match the leading kernel/bias.
            if len(values) < len(targets) and all(
                v.shape == t.shape for v, t in zip(values, targets[: len(values)])
            ):
                values = values + targets[len(values) :]
            else:
                raise ValueError(
                    f"Layer {layer.name!r}: weight shapes differ "
                    f"({[v.shape for v in values]} vs {[t.shape for t in targets]})."
                )
        layer.set_weights(values)
        moved.append(layer.name)
    return moved


def qkeras_custom_objects() -> dict:
    """QKeras layers and quantizers, for loading QKeras models in the tf-keras world."""
    try:
        from qkeras.utils import _add_supported_quantized_objects
    except ImportError:  # pragma: no cover - qkeras is a hard dependency
        return {}
    objs: dict = {}
    _add_supported_quantized_objects(objs)
    return objs
