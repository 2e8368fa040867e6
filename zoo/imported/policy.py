"""What a model file may name: the classes, functions and modules of Keras 3, tf-keras, QKeras and
edgezoo (or what the user registered), and the plain data Keras writes. Anything that can carry
code -- a Lambda, a serialized Python function, a raw TensorFlow op, a wrapper of foreign code, a
class or module from elsewhere -- is refused with one :class:`~zoo.core.io.ModelFileError` naming
the file and the place (:func:`check_object`, :func:`check_string`)."""

from __future__ import annotations

import base64
import binascii
import functools
import re

from zoo.core.io import ModelFileError, custom_objects
from zoo.core.worlds import KERAS3, TF_KERAS, get_keras, qkeras_custom_objects

REGISTER_HOW = (
    "Decorate its class with @keras.saving.register_keras_serializable() and import that module "
    "before loading (Python: edgezoo's import_model(..., custom_objects={...})), or replace it by "
    "built-in layers and re-save the model."
)

# Classes that carry code: Python bytecode (Lambda), raw TensorFlow ops recorded by tf-keras, or
# wrappers of foreign code (a pickled torch module, JAX/Flax call functions, a SavedModel on disk).
_LAMBDA_CLASSES = ("Lambda",)
_TFOP_CLASSES = ("TFOpLambda", "SlicingOpLambda")
_FOREIGN_CLASSES = ("TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer")
CODE_CLASSES = _LAMBDA_CLASSES + _TFOP_CLASSES + _FOREIGN_CLASSES
# Plain data Keras 3 writes as special objects (deserialized without looking up any class).
_DATA_CLASSES = ("__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__")
_DATA_CLASSES += ("__slice__",)
_PUBLIC = (  # the modelling namespaces of both worlds (not keras.utils, keras.saving ...)
    "layers",
    "initializers",
    "regularizers",
    "constraints",
    "optimizers",
    "optimizers.schedules",
    "optimizers.legacy",
    "losses",
    "metrics",
    "activations",
    "dtype_policies",
    "mixed_precision",
    "quantizers",
    "models",
    "layers.experimental",
    "layers.experimental.preprocessing",
)
# Layers that only Keras Applications define, outside the public namespaces: code of the installed
# Keras (ConvNeXt's LayerScale and StochasticDepth, InceptionResNetV2's CustomScaleLayer), which a
# fine-tuned application model names; the file carries only their configs.
_APPLICATION_LAYERS = {
    "applications.convnext": ("LayerScale", "StochasticDepth"),
    "applications.inception_resnet_v2": ("CustomScaleLayer",),
}
_FUNCTION_MODULES = ("activations", "losses", "metrics")
_NOT_FUNCTIONS = {"get", "serialize", "deserialize"}  # look-up helpers, not modelling functions
_TRUSTED_PACKAGES = ("keras", "tf_keras", "qkeras")
# tf-keras writes an initializer that Keras Applications pass as a TensorFlow object (EfficientNetV2's
# `bias_initializer=tf.constant_initializer(0)`) under TensorFlow's module; only the class names
# Keras itself defines are taken from it (check_object's look-up in known_objects()).
_TF_INITIALIZER_MODULES = ("tensorflow.python.ops.init_ops_v2", "tensorflow.python.ops.init_ops")
# Raw TensorFlow ops tf-keras records (as TFOpLambda) when a model applies them to Keras tensors:
# Keras Applications' MobileNetV3 hard sigmoid `x + 3.0`, `x * (1 / 6)` and hard swish `x * y`,
# ConvNeXt's residual `a + b`. tf-keras looks the function up by this name in TensorFlow's API;
# these are elementwise arithmetic with no effect outside the graph, so a file naming only them
# loads (in the tf-keras world: Keras 3 has no TFOpLambda). Any other op is refused.
PURE_TF_OPS = frozenset(
    {
        "__operators__.add",
        "math.add",
        "math.subtract",
        "math.multiply",
        "math.truediv",
        "math.divide",
        "math.negative",
        "math.maximum",
        "math.minimum",
    }
)
_B64 = re.compile(r"[A-Za-z0-9+/=\s]+")


@functools.lru_cache(maxsize=1)
def known_objects() -> tuple[dict[str, type], set[str], set[str], set[str]]:
    """(class name -> class, function names, modules of edgezoo classes, registered names of
    edgezoo and QKeras objects): everything edgezoo loads without user code."""
    import importlib

    import keras
    import tf_keras

    classes: dict[str, type] = {}
    functions: set[str] = set()
    for pkg in (tf_keras, keras):
        for sub in _PUBLIC:
            try:
                mod = importlib.import_module(f"{pkg.__name__}.{sub}")
            except ImportError:
                continue
            for n in dir(mod):
                obj = getattr(mod, n, None)
                if isinstance(obj, type):
                    classes.setdefault(n, obj)
                elif callable(obj) and sub in _FUNCTION_MODULES and n not in _NOT_FUNCTIONS:
                    functions.add(n)
        for sub, names in _APPLICATION_LAYERS.items():
            try:
                mod = importlib.import_module(f"{pkg.__name__}.src.{sub}")
            except ImportError:
                continue
            for n in names:
                if isinstance(getattr(mod, n, None), type):
                    classes.setdefault(n, getattr(mod, n))
    from keras.src.models.functional import Functional

    classes["Functional"] = Functional
    edgezoo_modules: set[str] = set()
    registered: set[str] = set()
    for world in (KERAS3, TF_KERAS):
        for n, cls in custom_objects(world).items():
            classes[n] = cls
            edgezoo_modules.add(cls.__module__)
            registered.add(get_keras(world).saving.get_registered_name(cls))
    for n, obj in qkeras_custom_objects().items():
        if isinstance(obj, type):
            classes[n] = obj
        else:
            functions.add(n)
        registered.add(n)
    for n in _LAMBDA_CLASSES + _TFOP_CLASSES + _FOREIGN_CLASSES:
        classes.pop(n, None)
    return classes, functions, edgezoo_modules, registered


def application_objects(world: str) -> dict[str, type]:
    """Keras Applications' own layers (:data:`_APPLICATION_LAYERS`) in ``world``'s package: the
    loaders' ``custom_objects`` (tf-keras' ``.h5`` of ConvNeXt names ``LayerScale`` by class name
    only, which tf-keras did not find)."""
    import importlib

    pkg = "tf_keras" if world == TF_KERAS else "keras"
    out: dict[str, type] = {}
    for sub, names in _APPLICATION_LAYERS.items():
        try:
            mod = importlib.import_module(f"{pkg}.src.{sub}")
        except ImportError:
            continue
        out.update({n: getattr(mod, n) for n in names if isinstance(getattr(mod, n, None), type)})
    return out


def _registered(name) -> bool:
    """Whether ``name`` is registered (by code the user imported, edgezoo or QKeras) -- the
    loaders then take that class, whatever the file says about its module."""
    if not isinstance(name, str) or not name:
        return False
    import keras
    import tf_keras

    if name in known_objects()[3]:
        return True
    for k in (keras, tf_keras):
        try:
            if k.saving.get_registered_object(name) is not None:
                return True
        except Exception:  # noqa: BLE001
            pass
    return False


def _trusted_module(module) -> bool:
    if module is None:
        return True
    if not isinstance(module, str):
        return False
    return (
        module.split(".")[0] in _TRUSTED_PACKAGES
        or module in known_objects()[2]
        or module in _TF_INITIALIZER_MODULES
    )


def _is_bytecode(s: str) -> bool:
    """Whether ``s`` is a base64 marshalled Python code object (how Keras 2 stores a lambda)."""
    if len(s) < 40 or not _B64.fullmatch(s):
        return False
    try:
        raw = base64.b64decode("".join(s.split()), validate=True)
    except (ValueError, binascii.Error):
        return False
    # marshal's code type ('c', with or without FLAG_REF), then a small argument count
    return len(raw) > 16 and raw[:1] in (b"c", b"\xe3") and raw[2:5] == b"\0\0\0"


def _is_op_class(module, cls) -> bool:
    """A Keras 3 operation recorded in a functional graph (``keras.ops.add`` on a tensor)."""
    import importlib

    if not isinstance(module, str) or not module.startswith("keras.src.ops."):
        return False
    from keras.src.ops.operation import Operation

    try:
        obj = getattr(importlib.import_module(module), cls, None)
    except Exception:  # noqa: BLE001 - no such keras module
        return False
    return isinstance(obj, type) and issubclass(obj, Operation)


def place(layers: tuple, keys: tuple) -> str:
    """``layer 'outer/inner'``, ``layer 'd1' (kernel_initializer)`` or ``compile_config.loss``."""
    sub = ".".join(keys).replace(".[", "[")
    if layers:
        where = f"layer {'/'.join(layers)!r}"
        return f"{where} ({sub})" if sub else where
    return sub or "the model"


def refuse_function(path, where):
    raise ModelFileError(
        f"{path}: {where} is a serialized Python function (its bytecode is stored in the file and "
        "would run on loading), so edgezoo does not load the file. Replace it by a built-in "
        f"(a layer, activation, loss ... by name) or a registered one. {REGISTER_HOW}"
    )


def check_string(s, key, path, layers, keys):
    if _is_bytecode(s):
        # name the function, not its code: "activation", not "activation.value[0]"
        if keys and keys[-1] == "[0]":
            keys = keys[:-1]
            if keys and keys[-1] == "value":
                keys = keys[:-1]
        refuse_function(path, place(layers, keys))
    # QKeras reads "quantized_bits(6,0,1)"-style strings by calling the named object
    if "(" in s and isinstance(key, str) and ("quantizer" in key or key.endswith("activation")):
        head = s.split("(")[0].strip()
        if head not in qkeras_custom_objects():
            raise ModelFileError(
                f"{path}: {place(layers, keys)} is {s[:60]!r}, a call of {head!r}, which is not a "
                f"QKeras quantizer. Use a QKeras quantizer or a built-in activation by name."
            )


def check_object(node, cls, short, path, where):
    """Refuse one serialized object (a dict with class_name) that can carry code."""
    classes, functions, _, _ = known_objects()
    module = node.get("module")
    registered_name = node.get("registered_name")
    if short in _LAMBDA_CLASSES:
        raise ModelFileError(
            f"{path}: {where} is a Lambda layer: its Python code is stored in the file and "
            "would run on loading, so edgezoo does not load it (safe_mode). Replace the Lambda by a "
            f"built-in layer or a registered custom layer class. {REGISTER_HOW}"
        )
    if short in _TFOP_CLASSES:
        fn = (node.get("config") or {}).get("function")
        if short == "TFOpLambda" and fn in PURE_TF_OPS and _trusted_module(module):
            return  # elementwise arithmetic, loaded by tf-keras (PURE_TF_OPS)
        raise ModelFileError(
            f"{path}: {where} ({cls} {fn!r}) is a raw TensorFlow op recorded by tf-keras that "
            f"edgezoo does not load (it loads only {', '.join(sorted(PURE_TF_OPS))}). Wrap the "
            f"op in a Keras layer (built-in, or a custom layer class). {REGISTER_HOW}"
        )
    if short in _FOREIGN_CLASSES:
        raise ModelFileError(
            f"{path}: {where} is a {cls}, which runs code kept outside Keras (a pickled module, "
            "call functions or a SavedModel), so edgezoo does not load it. Replace it by Keras "
            f"layers. {REGISTER_HOW}"
        )
    if cls == "__lambda__":
        refuse_function(path, where)
    if cls in _DATA_CLASSES:
        inner = node.get("config")
        dtype = inner.get("dtype") if isinstance(inner, dict) else None
        if cls in ("__numpy__", "__tensor__") and not _plain_dtype(dtype):
            raise ModelFileError(
                f"{path}: {where} is an array of dtype {dtype!r}, not plain numbers; edgezoo does "
                "not load Python objects from a model file. Save the model again."
            )
        return
    if cls == "__typespec__":  # a tf.TypeSpec: its class is looked up by module and name
        spec = node.get("spec_name")
        tf_module = isinstance(module, str) and module.split(".")[0] == "tensorflow"
        if tf_module and isinstance(spec, str) and spec.endswith("Spec"):
            return
        _refuse_module(path, where, spec, module)
    if cls == "function":
        fn = node.get("config")
        if _registered(fn) or (
            isinstance(fn, str)
            and fn in functions
            and (module in (None, "builtins") or _trusted_module(module))
        ):
            return
        if not _trusted_module(module) and module != "builtins":
            _refuse_module(path, where, fn, module)
        raise ModelFileError(
            f"{path}: {where} names the function {fn!r}, which neither Keras, QKeras nor edgezoo "
            f"defines (custom code). {REGISTER_HOW}"
        )
    if _registered(registered_name) or _registered(cls):
        return  # the loaders take the registered class (code the user or edgezoo imported)
    if not _trusted_module(module):
        _refuse_module(path, where, cls, module)
    plain = ">" not in cls or cls.startswith("Custom>")  # "Custom>Adam": tf-keras' optimizers
    if (short in classes and plain) or _is_op_class(module, cls):
        return
    raise ModelFileError(
        f"{path}: {where} has class {cls!r}, which neither Keras, QKeras nor edgezoo "
        f"defines (custom code). {REGISTER_HOW}"
    )


def _refuse_module(path, where, name, module):
    raise ModelFileError(
        f"{path}: {where} names {name!r} from module {module!r}, which is neither Keras, QKeras "
        f"nor edgezoo: loading it would import and run that code. {REGISTER_HOW}"
    )


def _plain_dtype(dtype) -> bool:
    import numpy as np

    try:
        return np.dtype(dtype).kind in "biufc"
    except TypeError:
        return dtype in ("bfloat16", "string")
