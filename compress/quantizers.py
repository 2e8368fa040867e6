"""Which QKeras quantizer each layer of a model gets (the plan of :func:`compress.quantize.qkeras_twin`;
the table of layers and quantizers is in :mod:`compress.quantize`): bit-width checks, integer-bit
sizing from weight and activation ranges, the per-layer plan."""

from __future__ import annotations

import numpy as np

from compress import graph
from compress.errors import CompressionError, UnsupportedLayerError
from zoo.core.fixed_point import integer_bits

Q_CLASSES = {
    "Dense": "QDense",
    "Conv1D": "QConv1D",
    "Conv2D": "QConv2D",
    "Conv2DTranspose": "QConv2DTranspose",
}
KEEP_FLOAT = ("softmax", "log_softmax")
FINAL_FLOAT = ("sigmoid", "tanh", "softmax", "log_softmax")
IDENTITY = ("linear", None)
UPSAMPLING = ("UpSampling1D", "UpSampling2D")


def check_bits(bits, what: str = "bits") -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 2:
        raise CompressionError(
            f"qat: the bit width must be an integer >= 2. Received: {what}={bits!r}"
        )
    if bits > 32:
        raise CompressionError(f"qat: the bit width must be at most 32. Received: {what}={bits!r}")
    return int(bits)


def _integer_for(max_abs: float, bits: int, signed: bool) -> int:
    """:func:`zoo.core.fixed_point.integer_bits` of ``max_abs`` (``2**i > max_abs``: a power of two
    itself fits), capped by the width."""
    cap = bits - 1 if signed else bits
    return int(min(cap, integer_bits(max_abs)))


def weight_quantizer(bits: int, integer: int = 0) -> str:
    return f"quantized_bits({bits},{integer},alpha=1)"


def _activation_name(layer) -> str | None:
    act = layer.get_config().get("activation")
    if isinstance(act, dict):
        act = act.get("config", {}).get("name") or act.get("class_name")
    return act


def _act_quantizer(act: str, bits: int, integer: int) -> str:
    if act == "relu":
        return f"quantized_relu({bits},{integer})"
    if act == "tanh":
        return f"quantized_tanh({bits},use_real_tanh=True)"
    if act == "sigmoid":
        return f"quantized_sigmoid({bits},use_real_sigmoid=True)"
    raise KeyError(act)


def plan(
    model,
    *,
    bits: int,
    layer_bits: dict | None = None,
    weight_integer="auto",
    act_integer="auto",
    act_ranges: dict | None = None,
) -> dict:
    """What each layer of ``model`` (either world) becomes in the QKeras twin.

    Returns ``{layer: {"kind": "mac"|"act"|"keep", ...quantizer strings}}``. Raises
    :class:`UnsupportedLayerError` for a layer with no QKeras counterpart, and a clear error for
    a ``layer_bits`` entry naming an unknown layer or one that gets no quantizer.
    """
    bits = check_bits(bits)
    layer_bits = dict(layer_bits or {})
    for name, b in layer_bits.items():
        check_bits(b, f"layer_bits[{name!r}]")
    finals = graph.final_layers(model)
    acts = (act_integer, act_ranges or {}, finals)
    out: dict[str, dict] = {}
    for layer in graph.layers(model):
        k, name, cls = graph.kind(layer), layer.name, type(layer).__name__
        b = int(layer_bits.get(name, bits))
        if k in Q_CLASSES:
            out[name] = _mac_spec(layer, k, b, weight_integer, acts)
        elif k in ("Activation", "ReLU"):
            out[name] = _activation_spec(layer, k, b, acts)
        elif k in graph.LAYOUT_KINDS or k in graph.FLOAT_KINDS or k in UPSAMPLING:
            out[name] = {"kind": "keep"}
        else:
            why = (
                "it holds weights but is not Dense/Conv1D/Conv2D/Conv2DTranspose/BatchNormalization"
                if layer.weights
                else "it is not a layer QKeras or hls4ml's QKeras path supports"
            )
            raise UnsupportedLayerError("qat", name, cls, why)
    _check_layer_bits(layer_bits, out)
    return out


def _mac_spec(layer, k: str, b: int, weight_integer, acts: tuple) -> dict:
    """A MAC layer's QKeras class, kernel/bias quantizers (integer bits from the largest weight
    when "auto") and quantized activation."""
    spec = {"kind": "mac", "class": Q_CLASSES[k], "bits": b}
    w = layer.get_weights()
    ki = (
        _integer_for(float(np.abs(w[0]).max()) if w else 0.0, b, True)
        if weight_integer == "auto"
        else int(weight_integer)
    )
    spec["kernel_quantizer"] = weight_quantizer(b, ki)
    if layer.get_config().get("use_bias", False):
        bi = (
            _integer_for(float(np.abs(w[1]).max()) if len(w) > 1 else 0.0, b, True)
            if weight_integer == "auto"
            else int(weight_integer)
        )
        spec["bias_quantizer"] = weight_quantizer(b, bi)
    spec["activation"] = _quantize_activation(layer, _activation_name(layer), b, *acts)
    return spec


def _activation_spec(layer, k: str, b: int, acts: tuple) -> dict:
    """An Activation/ReLU layer: a quantized activation, or kept where it stays float."""
    act = "relu" if k == "ReLU" else _activation_name(layer)
    if k == "ReLU" and any(
        layer.get_config().get(a) for a in ("max_value", "negative_slope", "threshold")
    ):
        raise UnsupportedLayerError(
            "qat",
            layer.name,
            type(layer).__name__,
            "a ReLU with max_value/negative_slope/threshold has no QKeras counterpart here",
        )
    q = _quantize_activation(layer, act, b, *acts)
    return {"kind": "act", "activation": q, "bits": b} if q != act else {"kind": "keep"}


def _check_layer_bits(layer_bits: dict, out: dict):
    """A ``layer_bits`` entry must name a layer that gets a quantizer."""
    quantizable = [n for n, s in out.items() if s["kind"] != "keep"]
    unknown = [n for n in layer_bits if n not in out]
    if unknown:
        raise CompressionError(
            f"qat: layer_bits names unknown layer(s) {unknown}. Quantizable layers: {quantizable}"
        )
    unquantized = [n for n in layer_bits if out[n]["kind"] == "keep"]
    if unquantized:
        raise CompressionError(
            f"qat: layer_bits names layer(s) {unquantized} that get no quantizer (layout, "
            f"float or output layers). Quantizable layers: {quantizable}"
        )


def _quantize_activation(layer, act, bits, act_integer, act_ranges, finals):
    """The QKeras activation string for ``act`` (or ``act`` unchanged where it stays float)."""
    if act in IDENTITY:
        return act
    if act in KEEP_FLOAT or (act in FINAL_FLOAT and layer.name in finals):
        return act
    try:
        if act == "relu":
            if act_integer != "auto":
                integer = int(act_integer)
            elif layer.name in act_ranges:
                integer = _integer_for(act_ranges[layer.name], bits, False)
            else:
                integer = 0  # no range measured: [0, 1)
            integer = min(integer, bits)
        else:
            integer = 0
        return _act_quantizer(act, bits, integer)
    except KeyError:
        raise UnsupportedLayerError(
            "qat",
            layer.name,
            type(layer).__name__,
            f"activation {act!r} has no QKeras quantizer (supported: relu, tanh, sigmoid; softmax stays float)",
        ) from None


def activation_ranges(model, x, *, samples: int = 1024) -> dict[str, float]:
    """Largest activation value of every relu-carrying layer of ``model`` on a calibration batch."""
    names = [
        layer.name
        for layer in graph.layers(model)
        if graph.kind(layer) in ("Activation", "ReLU", *Q_CLASSES)
        and (graph.kind(layer) == "ReLU" or _activation_name(layer) == "relu")
    ]
    if not names:
        return {}
    k = model.__class__.__module__.split(".")[0]
    import importlib

    keras_mod = importlib.import_module("keras" if k == "keras" else "tf_keras")
    probe = keras_mod.Model(model.inputs, [model.get_layer(n).output for n in names])
    outs = probe.predict(x[:samples], verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    return {n: float(np.max(o)) for n, o in zip(names, outs)}
