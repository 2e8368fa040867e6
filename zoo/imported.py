"""Models from outside the zoo: a user's ``.keras`` / ``.h5`` file, read safely, in the right world.

:func:`read_model_file` takes

* a Keras 3 ``.keras`` archive -- loaded by Keras 3 with ``safe_mode`` on;
* a Keras 2 ``.h5`` or ``.keras`` written by TensorFlow 2.x / tf-keras -- loaded by Keras 3 where
  it can; where it cannot (``DepthwiseConv2D`` with ``groups``, ``SeparableConv2D`` with
  ``kernel_initializer`` ...: keyword arguments Keras 3 refuses), loaded by tf-keras, its
  architecture rebuilt in Keras 3 from the tf-keras config with the refused keyword arguments
  dropped, and the weights moved over by layer name; the caller checks equal outputs on real
  inputs (:func:`max_output_diff`);
* a QKeras ``.h5`` / ``.keras`` -- stays a QKeras model in the tf-keras world, so its
  quantizers reach hls4ml.

Before anything is deserialized, :func:`check_model_file` -- the one gate of every loader,
:func:`zoo.core.io.load_model` included -- reads the file's configs as JSON and walks all of them
(:func:`scan_config`): a ``Lambda`` layer, a serialized Python function (bytecode that would run
on loading), a class or function neither Keras world, QKeras nor edgezoo defines (nor the user
registered), or a ``module`` outside them, anywhere, gets one :class:`~zoo.core.io.ModelFileError`
naming the file and the place -- no code from the file ever runs. Truncated, corrupt or foreign
files get one clear error too.

An imported model directory stores its Keras 3 architecture (``config.json`` key
``architecture``) so later stages can rebuild it in either world (:func:`build_architecture`),
as they rebuild a zoo model from its registry entry.
"""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from zoo.core.io import ModelFileError, custom_objects, read_member
from zoo.core.worlds import KERAS3, TF_KERAS, get_keras, qkeras_custom_objects, transfer_weights

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CONTAINERS = ("Functional", "Sequential", "Model")
# Keyword arguments every layer takes (handled by the base Layer through **kwargs).
_BASE_KWARGS = {
    "name",
    "trainable",
    "dtype",
    "autocast",
    "input_shape",
    "batch_input_shape",
    "batch_size",
    "input_dim",
    "activity_regularizer",
}
REGISTER_HOW = (
    "Decorate its class with @keras.saving.register_keras_serializable() and import that module "
    "before loading (Python: edgezoo's import_model(..., custom_objects={...})), or replace it by "
    "built-in layers and re-save the model."
)


@dataclass
class LoadedModel:
    """A model read from a user's file and how it was read."""

    model: object
    world: str  # "keras" (Keras 3) or "tf_keras" (QKeras)
    record: dict = field(
        default_factory=dict
    )  # format, keras_version, route, dropped keyword arguments
    original: object = (
        None  # the tf-keras model the Keras 3 model was rebuilt from (for the output check)
    )


# --------------------------------------------------------------------------- the file's config


def sniff(path: Path) -> str:
    """ "keras" (a zip archive) or "h5" (HDF5); a clear error for anything else."""
    if not path.exists():
        raise ModelFileError(f"Model file not found: {path}.")
    if path.is_dir():
        raise ModelFileError(
            f"{path} is a directory; give a model file (.keras or .h5). A TensorFlow SavedModel "
            "folder is not supported: load it in Python and save it with model.save('model.keras')."
        )
    with open(path, "rb") as f:
        head = f.read(8)
    if head == HDF5_SIGNATURE:
        return "h5"
    if head[:2] == b"PK":
        if not zipfile.is_zipfile(path):
            raise ModelFileError(
                f"{path} is a truncated or corrupt zip archive, not a readable .keras "
                "model. Copy or save the model again."
            )
        return "keras"
    raise ModelFileError(
        f"{path} is neither a Keras .keras archive (zip) nor a Keras .h5 (HDF5) file; it is corrupt "
        "or of another format (ONNX, TFLite, SavedModel ...). Save the model with model.save('m.keras')."
    )


def read_config(path: Path, kind: str) -> tuple[dict, str, object]:
    """(model config, keras_version that wrote it, the .h5 training config or None) -- read as
    JSON, nothing deserialized. A .keras archive keeps its compile config inside the model
    config."""
    try:
        if kind == "keras":
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "config.json" not in names:
                    raise ModelFileError(
                        f"{path} is a zip archive without config.json: not a .keras model."
                    )
                config = json.loads(read_member(z, "config.json", path))
                meta = json.loads(read_member(z, "metadata.json", path, absent=b"{}"))
                z.testzip()  # a damaged member shows here, not half-way through loading
            return config, str(meta.get("keras_version", "")), None
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            training = f.attrs.get("training_config")
            version = f.attrs.get("keras_version", b"")
            if raw is None:
                raise ModelFileError(
                    f"{path} holds no model config (a weights-only .h5, from save_weights?). Save the "
                    "whole model (model.save('m.h5') or model.save('m.keras')) and import that file."
                )
            if "model_weights" not in f and "layer_names" not in f.attrs:
                raise ModelFileError(f"{path} holds a model config but no weights (model_weights).")
        raw = raw.decode() if isinstance(raw, bytes) else raw
        version = version.decode() if isinstance(version, bytes) else str(version)
        if training is not None:
            training = json.loads(training.decode() if isinstance(training, bytes) else training)
        return json.loads(raw), version, training
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated HDF5, bad zip member, bad JSON
        raise ModelFileError(
            f"{path} cannot be read as a Keras model ({type(exc).__name__}: {exc}); the file is "
            "truncated or corrupt. Copy or save the model again."
        ) from exc


def layer_entries(config: dict, prefix: str = ""):
    """(path, class_name, layer config entry) of every layer, descending into nested models."""
    inner = config.get("config", {}) if isinstance(config, dict) else {}
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        return
    for entry in layers:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name") or (entry.get("config") or {}).get("name", "?")
        cls = entry.get("class_name", "?")
        yield f"{prefix}{name}", cls, entry
        if cls in _CONTAINERS:
            yield from layer_entries(entry, prefix=f"{prefix}{name}/")


# --------------------------------------------------------------------------- the gate

# Classes that carry code: Python bytecode (Lambda), raw TensorFlow ops recorded by tf-keras, or
# wrappers of foreign code (a pickled torch module, JAX/Flax call functions, a SavedModel on disk).
_LAMBDA_CLASSES = ("Lambda",)
_TFOP_CLASSES = ("TFOpLambda", "SlicingOpLambda")
_FOREIGN_CLASSES = ("TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer")
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
_FUNCTION_MODULES = ("activations", "losses", "metrics")
_NOT_FUNCTIONS = {"get", "serialize", "deserialize"}  # look-up helpers, not modelling functions
_TRUSTED_PACKAGES = ("keras", "tf_keras", "qkeras")
_B64 = re.compile(r"[A-Za-z0-9+/=\s]+")


@functools.lru_cache(maxsize=1)
def _known() -> tuple[dict[str, type], set[str], set[str], set[str]]:
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


def _registered(name) -> bool:
    """Whether ``name`` is registered (by code the user imported, edgezoo or QKeras) -- the
    loaders then take that class, whatever the file says about its module."""
    if not isinstance(name, str) or not name:
        return False
    import keras
    import tf_keras

    if name in _known()[3]:
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
    return module.split(".")[0] in _TRUSTED_PACKAGES or module in _known()[2]


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


def _loc(layers: tuple, keys: tuple) -> str:
    """``layer 'outer/inner'``, ``layer 'd1' (kernel_initializer)`` or ``compile_config.loss``."""
    sub = ".".join(keys).replace(".[", "[")
    if layers:
        where = f"layer {'/'.join(layers)!r}"
        return f"{where} ({sub})" if sub else where
    return sub or "the model"


def scan_config(config, path, *, prefix: tuple = ()) -> dict[str, str]:
    """Walk the WHOLE serialized config -- every dict and list: layers, wrapped layers, cells,
    nested models, activations, initializers, regularizers, constraints, dtype policies,
    build and compile configs -- and refuse anything that can carry code: a ``Lambda`` /
    ``TFOpLambda``, a serialized Python function (Keras 3 ``__lambda__``, Keras 2 marshalled
    bytecode), a class or function neither Keras, QKeras nor edgezoo defines (nor the user
    registered), or a ``module`` outside them. One :class:`ModelFileError` names the file and the
    place. Returns layer path -> class name for the layers that come from QKeras."""
    classes, functions, _, _ = _known()
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
            _check_string(node, parent_key, path, layers, keys)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("function_type") == "lambda" or node.get("output_shape_type") == "lambda":
            _refuse_function(path, _loc(layers, keys))
        cls = node.get("class_name")
        inner_keys = keys
        if cls is not None:
            if not isinstance(cls, str):
                raise ModelFileError(
                    f"{path}: {_loc(layers, keys)} has a class_name that is not a name "
                    f"({type(cls).__name__}); the file is corrupt or forged. Save the model again."
                )
            short = cls.split(">")[-1]
            known = classes.get(short)
            is_layer = (
                parent_key == "layers"
                or short in _LAMBDA_CLASSES + _TFOP_CLASSES + _FOREIGN_CLASSES
                or (known is not None and issubclass(known, layer_bases))
            )
            inner = node.get("config")
            name = node.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
            if is_layer and name and (layers or keys[len(prefix) :]):  # not the model itself
                layers, inner_keys = layers + (str(name),), ()
            _check_object(node, cls, short, path, _loc(layers, inner_keys))
            if is_layer and short in qkeras_classes:
                qkeras_layers["/".join(layers)] = cls
        for k, v in node.items():
            if k == "config" and cls is not None:
                stack.append((v, layers, inner_keys, k))
            else:
                stack.append((v, layers, inner_keys + (str(k),), k))


def _refuse_function(path, where):
    raise ModelFileError(
        f"{path}: {where} is a serialized Python function (its bytecode is stored in the file and "
        "would run on loading), so edgezoo does not load the file. Replace it by a built-in "
        f"(a layer, activation, loss ... by name) or a registered one. {REGISTER_HOW}"
    )


def _check_string(s, key, path, layers, keys):
    if _is_bytecode(s):
        # name the function, not its code: "activation", not "activation.value[0]"
        if keys and keys[-1] == "[0]":
            keys = keys[:-1]
            if keys and keys[-1] == "value":
                keys = keys[:-1]
        _refuse_function(path, _loc(layers, keys))
    # QKeras reads "quantized_bits(6,0,1)"-style strings by calling the named object
    if "(" in s and isinstance(key, str) and ("quantizer" in key or key.endswith("activation")):
        head = s.split("(")[0].strip()
        if head not in qkeras_custom_objects():
            raise ModelFileError(
                f"{path}: {_loc(layers, keys)} is {s[:60]!r}, a call of {head!r}, which is not a "
                f"QKeras quantizer. Use a QKeras quantizer or a built-in activation by name."
            )


def _check_object(node, cls, short, path, where):
    """Refuse one serialized object (a dict with class_name) that can carry code."""
    classes, functions, _, _ = _known()
    module = node.get("module")
    registered_name = node.get("registered_name")
    if short in _LAMBDA_CLASSES:
        raise ModelFileError(
            f"{path}: {where} is a Lambda layer: its Python code is stored in the file and "
            "would run on loading, so edgezoo does not load it (safe_mode). Replace the Lambda by a "
            f"built-in layer or a registered custom layer class. {REGISTER_HOW}"
        )
    if short in _TFOP_CLASSES:
        raise ModelFileError(
            f"{path}: {where} ({cls}) is a raw TensorFlow op recorded by tf-keras; Keras 3 "
            "cannot rebuild it. Wrap the op in a Keras layer (built-in, or a custom layer class). "
            f"{REGISTER_HOW}"
        )
    if short in _FOREIGN_CLASSES:
        raise ModelFileError(
            f"{path}: {where} is a {cls}, which runs code kept outside Keras (a pickled module, "
            "call functions or a SavedModel), so edgezoo does not load it. Replace it by Keras "
            f"layers. {REGISTER_HOW}"
        )
    if cls == "__lambda__":
        _refuse_function(path, where)
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


# --------------------------------------------------------------------------- loading


def check_model_file(path) -> tuple[str, dict, str, dict[str, str]]:
    """The one gate every loader passes first: the file's configs (model config, and the compile
    or training config) read as JSON and scanned whole (:func:`scan_config`). Returns (kind
    "keras"/"h5", model config, keras_version, QKeras layer path -> class)."""
    path = Path(path)
    kind = sniff(path)
    # the loaders choose a format by name and content: make them read what was scanned
    if kind == "h5" and zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is both an HDF5 file and a zip archive (a forged file: a loader could read "
            "the part this check did not). Save the model again with model.save('m.keras')."
        )
    if kind == "keras" and path.suffix != ".keras":
        raise ModelFileError(
            f"{path} is a .keras archive (zip) under another name; loaders would read it as "
            "another format. Rename it to end in .keras."
        )
    config, version, training = read_config(path, kind)
    qlayers = scan_config(config, path)
    if training is not None:
        scan_config(training, path, prefix=("training_config",))
    return kind, config, version, qlayers


def read_model_file(path, *, custom: dict | None = None) -> LoadedModel:
    """Load a user's model file safely (see the module docstring). ``custom``: extra classes
    (name -> class) the caller registers, as Keras' ``custom_objects``."""
    path = Path(path)
    if custom:
        import keras

        for name, obj in custom.items():
            keras.saving.get_custom_objects()[name] = obj
    kind, config, version, qlayers = check_model_file(path)
    record = {
        "format": "keras" if kind == "keras" else "h5",
        "keras_version": version,
        "layers": sum(1 for _ in layer_entries(config)),
    }
    if qlayers:
        model = _load_tf_keras(path, qkeras=True)
        return LoadedModel(
            model,
            TF_KERAS,
            {**record, "route": "qkeras (tf-keras world)", "qkeras_layers": len(qlayers)},
        )
    if kind == "keras" and version.startswith("3"):
        return LoadedModel(_load_keras3(path, custom), KERAS3, {**record, "route": "keras 3"})
    # Keras 2 (TF 2.x / tf-keras) file: Keras 3 where it can, else through tf-keras.
    original = _load_tf_keras(path, qkeras=False)
    try:
        model = _load_keras3(path, custom)
        return LoadedModel(model, KERAS3, {**record, "route": "keras 3 (Keras 2 file)"}, original)
    except ModelFileError as exc:
        refused = str(exc.__cause__ or exc)
    model, dropped = rebuild_in_keras3(original)
    return LoadedModel(
        model,
        KERAS3,
        {
            **record,
            "route": "tf-keras -> keras 3 (rebuilt, weights by name)",
            "keras3_refused": refused[:300],
            "dropped_kwargs": dropped,
        },
        original,
    )


def _load_keras3(path: Path, custom=None):
    import keras

    try:
        return keras.saving.load_model(
            path,
            custom_objects={**custom_objects(KERAS3), **(custom or {})},
            compile=False,
            safe_mode=True,
        )
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"Keras 3 cannot load {path}: {type(exc).__name__}: {exc}") from exc


def _load_tf_keras(path: Path, *, qkeras: bool):
    import tf_keras

    objs = {**custom_objects(TF_KERAS), **(qkeras_custom_objects() if qkeras else {})}
    kw = {"safe_mode": True} if path.suffix == ".keras" else {}  # .h5 has no safe mode
    try:
        return tf_keras.models.load_model(path, custom_objects=objs, compile=False, **kw)
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(
            f"Neither Keras 3 nor tf-keras can load {path}: {type(exc).__name__}: {exc}. The file is "
            "corrupt or from a Keras version edgezoo does not read."
        ) from exc


# --------------------------------------------------------------------------- moving between worlds


def _accepted(cls) -> set[str]:
    out = set(_BASE_KWARGS)
    for c in cls.__mro__:
        if "__init__" in vars(c):
            try:
                params = inspect.signature(c.__init__).parameters.values()
            except (TypeError, ValueError):
                continue
            out |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return out


def _tensor_history(arg, out: list) -> list:
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        out.append(arg["config"]["keras_history"])
    elif isinstance(arg, (list, tuple)):
        for a in arg:
            _tensor_history(a, out)
    return out


def convert_config(config: dict, world: str) -> tuple[dict, dict]:
    """A model config made loadable in ``world``: keyword arguments the target layer class does not
    take are dropped (initializers too: weights are moved afterwards), dtype policies become names,
    Keras 3 node records become the Keras 2 form for tf-keras. Returns (config, dropped: class ->
    {key: value})."""
    k = get_keras(world)
    config = json.loads(json.dumps(config))
    dropped: dict = {}

    def fix(model_cfg):
        inner = model_cfg.get("config", {})
        for key in (
            "input_layers",
            "output_layers",
        ):  # one tensor, not a list of one (Keras 3 warns)
            v = inner.get(key)
            if world == KERAS3 and isinstance(v, list) and len(v) == 1 and isinstance(v[0], list):
                inner[key] = v[0]
        for entry in inner.get("layers", []):
            cls_name = entry.get("class_name")
            lc = entry.get("config", {})
            if isinstance(lc.get("dtype"), dict):  # Keras 3 DTypePolicy
                lc["dtype"] = (lc["dtype"].get("config") or {}).get("name", "float32")
            if world == TF_KERAS:
                entry.pop("module", None)
                if cls_name in dir(k.layers):
                    entry.pop("registered_name", None)
                nodes = []
                for node in entry.get("inbound_nodes", []):
                    if isinstance(node, dict):
                        hist = _tensor_history(node.get("args", []), [])
                        nodes.append([[h[0], h[1], h[2], node.get("kwargs", {})] for h in hist])
                    else:
                        nodes.append(node)
                if "inbound_nodes" in entry:
                    entry["inbound_nodes"] = nodes
            if cls_name in _CONTAINERS:
                fix(entry)
                continue
            if cls_name == "InputLayer":
                if world == TF_KERAS and "batch_shape" in lc:
                    lc["batch_input_shape"] = lc.pop("batch_shape")
                continue
            cls = getattr(k.layers, cls_name, None)
            if cls is None:
                continue
            if (
                world == KERAS3
                and cls_name == "BatchNormalization"
                and isinstance(lc.get("axis"), list)
            ):
                if len(lc["axis"]) == 1:  # tf-keras stores [3]; Keras 3 takes 3
                    lc["axis"] = lc["axis"][0]
            ok = _accepted(cls)
            for key in [key for key in lc if key not in ok or key.endswith("_initializer")]:
                value = lc.pop(key)
                if not key.endswith("_initializer"):
                    dropped.setdefault(cls_name, {})[key] = value

    fix(config)
    return config, dropped


def rebuild_in_keras3(original) -> tuple[object, dict]:
    """The Keras 3 model of a tf-keras model's architecture, carrying its weights (by layer name)."""
    from keras.src.legacy.saving import saving_utils  # Keras 3's own reader of Keras 2 configs

    cfg = {"class_name": original.__class__.__name__, "config": original.get_config()}
    if cfg["class_name"] not in _CONTAINERS:
        cfg["class_name"] = "Functional"
    cfg, dropped = convert_config(cfg, KERAS3)
    try:
        model = saving_utils.model_from_config(cfg, custom_objects=custom_objects(KERAS3))
        transfer_weights(original, model)
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(
            f"The Keras 2 model {original.name!r} cannot be rebuilt in Keras 3 "
            f"({type(exc).__name__}: {exc}). Load it with tf_keras, rebuild it with keras layers and "
            "save it as .keras."
        ) from exc
    return model, dropped


def architecture(model) -> dict:
    """The Keras 3 architecture of ``model`` (what :func:`build_architecture` rebuilds)."""
    return json.loads(model.to_json())


def build_architecture(arch: dict, world: str = KERAS3):
    """A fresh model of a stored Keras 3 architecture, in ``world`` (weights initialized anew)."""
    import keras

    scan_config(arch, "the stored architecture (config.json)")
    if world == KERAS3:
        return keras.models.model_from_json(json.dumps(arch), custom_objects=custom_objects(KERAS3))
    k = get_keras(world)
    cfg, _ = convert_config(arch, world)
    objs = {**custom_objects(world), **qkeras_custom_objects()}
    return k.models.model_from_json(json.dumps(cfg), custom_objects=objs)


def max_output_diff(a, b, x) -> float:
    """max|a(x) - b(x)| on real inputs (the check of a model moved between worlds)."""
    import numpy as np

    ya = np.asarray(a(x, training=False))
    yb = np.asarray(b(x, training=False))
    return float(np.abs(ya - yb).max())
