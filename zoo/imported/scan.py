"""The walk over a model file's WHOLE serialized config (:func:`scan_config`): every dict and list,
each object and string checked by :mod:`zoo.imported.policy`."""

from __future__ import annotations

from zoo.core.io import ModelFileError
from zoo.core.worlds import qkeras_custom_objects
from zoo.imported.policy import (
    CODE_CLASSES,
    check_object,
    check_string,
    known_objects,
    place,
    refuse_function,
)


def scan_config(config, path, *, prefix: tuple = ()) -> dict[str, str]:
    """Walk the WHOLE serialized config -- every dict and list: layers, wrapped layers, cells,
    nested models, activations, initializers, regularizers, constraints, dtype policies,
    build and compile configs -- and refuse anything that can carry code: a ``Lambda`` /
    ``TFOpLambda``, a serialized Python function (Keras 3 ``__lambda__``, Keras 2 marshalled
    bytecode), a class or function neither Keras, QKeras nor edgezoo defines (nor the user
    registered), or a ``module`` outside them. One :class:`ModelFileError` names the file and the
    place. Returns layer path -> class name for the layers that come from QKeras."""
    classes, functions, _, _ = known_objects()
    qkeras_classes = set(qkeras_custom_objects())
    import keras
    import tf_keras

    layer_bases = (keras.layers.Layer, tf_keras.layers.Layer)
    qkeras_layers: dict[str, str] = {}
    stack = [(config, (), tuple(prefix), None)]
    at: list = [((), ())]  # (layers, keys) of the node being checked
    try:
        _walk(stack, at, path, prefix, classes, qkeras_classes, layer_bases, qkeras_layers)
    except ModelFileError as exc:
        layers, keys = at[0]
        if exc.args and not layers and keys[:1] and keys[0] in _COMPILE_KEYS:
            exc.args = (
                f"{exc.args[0]} edgezoo does not use a file's compile settings: re-saving the "
                "model without them (load it with compile=False, then save) also works.",
            )
        raise
    return qkeras_layers


_COMPILE_KEYS = {"compile_config", "training_config"}


def _walk(stack, at, path, prefix, classes, qkeras_classes, layer_bases, qkeras_layers):
    while stack:
        node, layers, keys, parent_key = stack.pop()
        at[0] = (layers, keys)
        if isinstance(node, list):
            for i, v in enumerate(node):
                stack.append((v, layers, keys + (f"[{i}]",), parent_key))
            continue
        if isinstance(node, str):
            check_string(node, parent_key, path, layers, keys)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("function_type") == "lambda" or node.get("output_shape_type") == "lambda":
            refuse_function(path, place(layers, keys))
        cls = node.get("class_name")
        inner_keys = keys
        if cls is not None:
            if not isinstance(cls, str):
                raise ModelFileError(
                    f"{path}: {place(layers, keys)} has a class_name that is not a name "
                    f"({type(cls).__name__}); the file is corrupt or forged. Save the model again."
                )
            short = cls.split(">")[-1]
            known = classes.get(short)
            is_layer = (
                parent_key == "layers"
                or short in CODE_CLASSES
                or (known is not None and issubclass(known, layer_bases))
            )
            inner = node.get("config")
            name = node.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
            if is_layer and name and (layers or keys[len(prefix) :]):  # not the model itself
                layers, inner_keys = layers + (str(name),), ()
            check_object(node, cls, short, path, place(layers, inner_keys))
            if is_layer and short in qkeras_classes:
                qkeras_layers["/".join(layers)] = cls
        for k, v in node.items():
            if k == "config" and cls is not None:
                stack.append((v, layers, inner_keys, k))
            else:
                stack.append((v, layers, inner_keys + (str(k),), k))
