"""What hls4ml can take: supported layers, the tf-keras twin for layers only its Keras-2 parser
reads, the io type, and the renamed copy for the layer name hls4ml reserves."""

from __future__ import annotations

from export.common import check_single_io, keras_of
from export.errors import ExportError, UnsupportedModelError
from export.targets.hls4ml.options import RESERVED_NAMES
from zoo.core.introspect import all_layers

# --------------------------------------------------------------------------- support


def supported_layer_classes() -> set[str]:
    import hls4ml
    from hls4ml.converters.keras_v3._base import registry

    return {k.rsplit(".", 1)[-1] for k in registry} | set(
        hls4ml.converters.get_supported_keras_layers()
    )


def check_supported(model, world: str):
    """Raise :class:`UnsupportedModelError` naming every layer hls4ml cannot parse."""
    check_single_io(model, "hls4ml")
    shape = tuple(model.inputs[0].shape[1:])
    if None in shape:
        raise UnsupportedModelError(
            "hls4ml",
            model.name,
            why=f"its input shape {shape} has unknown dimensions, and FPGA firmware has "
            "fixed sizes: rebuild the model with a fixed keras.Input(shape=...) (same weights) and export that",
        )
    supported = supported_layer_classes()
    nested = [
        (layer.name, type(layer).__name__)
        for layer in model.layers
        if hasattr(layer, "layers")
        and type(layer).__name__ in ("Functional", "Model", "Sequential")
    ]
    if nested and world == "keras":
        raise UnsupportedModelError(
            "hls4ml", model.name, nested, "nested Keras 3 models are not parsed by hls4ml 1.3"
        )
    bad = [
        (layer.name, type(layer).__name__)
        for layer in all_layers(model)
        if type(layer).__name__ not in supported
    ]
    if bad:
        raise UnsupportedModelError(
            "hls4ml", model.name, bad, "hls4ml 1.3 has no converter for them"
        )


# hls4ml 1.3's Keras 3 parser fails on these ("'SeparableConv2D' object has no attribute 'kernel'");
# its Keras 2 parser converts them, so a Keras 3 model holding one goes through its tf-keras twin.
KERAS2_PARSER_ONLY = ("SeparableConv1D", "SeparableConv2D")


def keras2_twin(model):
    """The tf-keras twin of a Keras 3 model (same architecture, weights moved by layer name),
    checked to compute the same outputs."""
    from zoo.core.worlds import TF_KERAS, transfer_weights
    from zoo.imported import architecture, build_architecture

    try:
        twin = build_architecture(architecture(model), TF_KERAS)
        transfer_weights(model, twin)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(
            f"hls4ml: {model.name!r} has layers only hls4ml's Keras 2 parser takes "
            f"({', '.join(KERAS2_PARSER_ONLY)}), and its tf-keras twin cannot be built: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return twin


def io_type_for(model) -> str:
    """io_stream when any tensor is an image/sequence (CNNs), io_parallel for flat dense models."""
    for layer in all_layers(model):
        out = getattr(layer, "output", None)
        shape = getattr(out, "shape", None)
        if shape is not None and len(shape) > 2:
            return "io_stream"
    return "io_parallel"


# --------------------------------------------------------------------------- model preparation


def _rename(obj, mapping):
    if isinstance(obj, dict):
        return {k: _rename(v, mapping) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rename(v, mapping) for v in obj)
    return mapping.get(obj, obj) if isinstance(obj, str) else obj


def without_reserved_names(model, world: str):
    """``model``, or a same-weights copy whose layers avoid hls4ml's reserved names."""
    names = {layer.name for layer in model.layers}
    mapping = {}
    for n in RESERVED_NAMES:
        if n in names:
            new, i = f"{n}_layer", 0
            while new in names:
                i += 1
                new = f"{n}_layer{i}"
            mapping[n] = new
    if not mapping:
        return model, {}
    from zoo.core.io import custom_objects

    objs = custom_objects(world)
    if world == "tf_keras":
        from zoo.core.worlds import qkeras_custom_objects

        objs.update(qkeras_custom_objects())
    k = keras_of(world)
    cfg = _rename(model.get_config(), mapping)
    with k.utils.custom_object_scope(objs):
        twin = model.__class__.from_config(cfg)
    twin.set_weights(model.get_weights())
    return twin, mapping
