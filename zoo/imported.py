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

Before anything is deserialized, the file's model config (JSON) is read and every layer class
checked: a ``Lambda`` layer (Python bytecode that would run when the model is built) or a class
neither Keras world, QKeras nor edgezoo defines gets one :class:`~zoo.io.ModelFileError` naming
the layer and how to register it -- no code from the file ever runs. Truncated, corrupt or
foreign files get one clear error too.

An imported model directory stores its Keras 3 architecture (``config.json`` key
``architecture``) so later stages can rebuild it in either world (:func:`build_architecture`),
as they rebuild a zoo model from its registry entry.
"""

from __future__ import annotations

import inspect
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from zoo.io import ModelFileError, custom_objects
from zoo.worlds import KERAS3, TF_KERAS, get_keras, qkeras_custom_objects, transfer_weights

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


def read_config(path: Path, kind: str) -> tuple[dict, str]:
    """(model config as a dict, keras_version that wrote it) -- read as JSON, nothing deserialized."""
    try:
        if kind == "keras":
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "config.json" not in names:
                    raise ModelFileError(
                        f"{path} is a zip archive without config.json: not a .keras model."
                    )
                config = json.loads(z.read("config.json"))
                meta = json.loads(z.read("metadata.json")) if "metadata.json" in names else {}
                z.testzip()  # a damaged member shows here, not half-way through loading
            return config, str(meta.get("keras_version", ""))
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
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
        return json.loads(raw), version
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


def _known_classes() -> dict[str, str]:
    """class name -> where it comes from, for every class edgezoo can load without user code."""
    import keras
    import tf_keras

    known: dict[str, str] = {}
    for mod, where in ((tf_keras.layers, "tf_keras"), (keras.layers, "keras")):
        for n in dir(mod):
            if isinstance(getattr(mod, n, None), type):
                known[n] = where
    for n in _CONTAINERS:
        known[n] = "keras"
    for n in qkeras_custom_objects():
        known[n] = "qkeras"
    for world in (KERAS3, TF_KERAS):
        for n in custom_objects(world):
            known[n] = "edgezoo"
    for n in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
        known.pop(n, None)
    return known


def check_safe(config: dict, path: Path) -> dict[str, str]:
    """Refuse a model whose config needs code from outside Keras/QKeras/edgezoo; returns
    layer path -> class name for the layers that come from QKeras."""
    known = _known_classes()
    qkeras_layers = {}
    for where, cls, entry in layer_entries(config):
        short = cls.split(">")[-1]  # "edgezoo>ChannelShuffle" style registered names
        if cls == "Lambda":
            raise ModelFileError(
                f"{path}: layer {where!r} is a Lambda layer: its Python code is stored in the file and "
                "would run on loading, so edgezoo does not load it (safe_mode). Replace the Lambda by a "
                f"built-in layer or a registered custom layer class. {REGISTER_HOW}"
            )
        if cls in ("TFOpLambda", "SlicingOpLambda"):
            raise ModelFileError(
                f"{path}: layer {where!r} ({cls}) is a raw TensorFlow op recorded by tf-keras; Keras 3 "
                "cannot rebuild it. Wrap the op in a Keras layer (built-in, or a custom layer class). "
                f"{REGISTER_HOW}"
            )
        if short not in known:
            registered = entry.get("registered_name") or cls
            if _registered(registered):
                continue
            raise ModelFileError(
                f"{path}: layer {where!r} has class {cls!r}, which neither Keras, QKeras nor edgezoo "
                f"defines (custom code). {REGISTER_HOW}"
            )
        if known[short] == "qkeras":
            qkeras_layers[where] = cls
    return qkeras_layers


def _registered(name: str) -> bool:
    import keras

    try:
        return keras.saving.get_registered_object(name) is not None
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------- loading


def read_model_file(path, *, custom: dict | None = None) -> LoadedModel:
    """Load a user's model file safely (see the module docstring). ``custom``: extra classes
    (name -> class) the caller registers, as Keras' ``custom_objects``."""
    path = Path(path)
    kind = sniff(path)
    config, version = read_config(path, kind)
    if custom:
        import keras

        for name, obj in custom.items():
            keras.saving.get_custom_objects()[name] = obj
    qlayers = check_safe(config, path)
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
    kw = {"safe_mode": True} if path.suffix == ".keras" else {}
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
