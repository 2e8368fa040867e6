"""A model config moved between the worlds (:func:`convert_config`, :func:`rebuild_in_keras3`)
and the check of a moved model (:func:`max_output_diff`)."""

from __future__ import annotations

import inspect
import json

from zoo.core.io import ModelFileError, custom_objects
from zoo.core.worlds import KERAS3, TF_KERAS, get_keras, transfer_weights
from zoo.imported.files import CONTAINERS, layer_entries

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
            if cls_name in CONTAINERS:
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


def slash_free_names(config: dict) -> tuple[dict, dict[str, str]]:
    """Keras 3 refuses a layer name with ``/``, which tf-keras allows (its DenseNet121 names
    ``conv1/conv``): such a name becomes ``conv1_conv`` (made unique) everywhere the config names
    it. Returns (config, old name -> new name)."""
    names = [e.get("config", {}).get("name", e.get("name")) for _, _, e in layer_entries(config)]
    taken = {n for n in names if isinstance(n, str)}
    rename: dict[str, str] = {}
    for n in names:
        if isinstance(n, str) and "/" in n and n not in rename:
            new = base = n.replace("/", "_")
            i = 1
            while new in taken:
                new, i = f"{base}_{i}", i + 1
            taken.add(new)
            rename[n] = new

    def walk(node):
        if isinstance(node, str):
            return rename.get(node, node)
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return (walk(config), rename) if rename else (config, {})


def rebuild_in_keras3(original) -> tuple[object, dict, dict]:
    """The Keras 3 model of a tf-keras model's architecture, carrying its weights (by layer name).
    Returns (model, dropped keyword arguments, renamed layers: :func:`slash_free_names`)."""
    from keras.src.legacy.saving import saving_utils  # Keras 3's own reader of Keras 2 configs

    from zoo.imported.policy import application_objects

    cfg = {"class_name": original.__class__.__name__, "config": original.get_config()}
    if cfg["class_name"] not in CONTAINERS:
        cfg["class_name"] = "Functional"
    cfg, dropped = convert_config(cfg, KERAS3)
    cfg, renamed = slash_free_names(cfg)
    try:
        objs = {**application_objects(KERAS3), **custom_objects(KERAS3)}
        model = saving_utils.model_from_config(cfg, custom_objects=objs)
        transfer_weights(original, model, rename=renamed)
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(
            f"The Keras 2 model {original.name!r} cannot be rebuilt in Keras 3 "
            f"({type(exc).__name__}: {exc}). Load it with tf_keras, rebuild it with keras layers and "
            "save it as .keras."
        ) from exc
    return model, dropped, renamed


def max_output_diff(a, b, x) -> float:
    """max|a(x) - b(x)| on real inputs (the check of a model moved between worlds)."""
    import numpy as np

    ya = np.asarray(a(x, training=False))
    yb = np.asarray(b(x, training=False))
    return float(np.abs(ya - yb).max())
