"""Tracing a QKeras model onto da4ml's symbolic fixed-point arrays
(:class:`da4ml.trace.FixedVariableArray`): the input quantized to a fixed-point type sized from the
profiled training range, each QDense/QConv2D a constant matrix (shift-and-add logic), each
``quantized_relu(b, i)`` ReLU then ``ufixed<b,i>`` with round-half-up and saturation; a final
softmax is not built (the class is the argmax of the logits)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from export.errors import UnsupportedModelError


@dataclass
class Traced:
    inputs: object  # FixedVariableArray
    outputs: object
    input_kif: tuple[int, int, int]
    softmax_dropped: bool
    layers: list[dict] = field(default_factory=list)
    logits_layer: str | None = None  # the Keras layer whose output the RTL computes


def _quantizer(obj):
    """A QKeras quantizer object from a layer attribute (object, string or None)."""
    if obj is None or callable(obj) and not isinstance(obj, str):
        return obj
    from qkeras.quantizers import get_quantizer

    return get_quantizer(obj)


def _qname(q) -> str:
    return type(q).__name__ if q is not None else "None"


def _kif_of_quantizer(q, what: str, layer) -> tuple[int, int, int, str]:
    """(keep_negative, integer bits, fraction bits, overflow mode) of a QKeras quantizer."""
    name = _qname(q)
    if name == "quantized_relu":
        if q.negative_slope or q.use_sigmoid or getattr(q, "relu_upper_bound", None):
            raise UnsupportedModelError(
                "rtl",
                layer.name,
                [(layer.name, f"{name} with options")],
                "only plain quantized_relu(bits, integer) is built",
            )
        return 0, int(q.integer), int(q.bits) - int(q.integer), "SAT"
    if name == "quantized_bits":
        k = int(bool(q.keep_negative))
        i = int(q.integer)
        return k, i, int(q.bits) - k - i, "SAT"
    raise UnsupportedModelError(
        "rtl",
        layer.name,
        [(layer.name, f"{what} {name}")],
        "da4ml export builds quantized_relu / quantized_bits activations",
    )


def _weights(layer, which: str) -> np.ndarray | None:
    var = getattr(layer, which, None)
    if var is None:
        return None
    q = _quantizer(
        getattr(layer, f"{which}_quantizer_internal", None)
        or getattr(layer, f"{which}_quantizer", None)
    )
    w = np.asarray(var.numpy() if hasattr(var, "numpy") else var, dtype=np.float64)
    if q is not None:
        w = np.asarray(q(w.astype(np.float32)), dtype=np.float64)
    elif not _on_grid(w, 16):  # float weights: only when already fixed point
        raise UnsupportedModelError(
            "rtl",
            layer.name,
            [(layer.name, f"float {which}")],
            "RTL needs quantized weights (a QKeras model from `compress --bits`)",
        )
    return w


def _on_grid(w: np.ndarray, frac: int) -> bool:
    return bool(np.all(np.abs(w * 2.0**frac - np.round(w * 2.0**frac)) == 0))


def _activation_name(act) -> str:
    return getattr(act, "__name__", None) or type(act).__name__


def input_kif(lo: float, hi: float, width: int) -> tuple[int, int, int]:
    """The ``ap_fixed<width, I>`` of export.targets.hls4ml.profile.fixed_for as da4ml's (keep_negative, int, frac)."""
    from zoo.core.fixed_point import integer_bits

    k = int(lo < 0)
    i = integer_bits(max(abs(lo), abs(hi)))
    f = max(width - k - i, 0)
    return k, i, f


def quantize_inputs(x: np.ndarray, kif: tuple[int, int, int]) -> np.ndarray:
    """Round-half-up and saturate ``x`` onto the input grid (what the RTL's input port holds)."""
    k, i, f = kif
    lsb = 2.0**-f
    hi = 2.0**i - lsb
    lo = -(2.0**i) if k else 0.0
    return np.clip(np.floor(np.asarray(x, dtype=np.float64) / lsb + 0.5) * lsb, lo, hi)


def trace(model, kif: tuple[int, int, int], *, solver_options: dict | None = None) -> Traced:
    """Replay ``model`` (a single-input chain of QKeras/Keras layers) on da4ml fixed-point arrays."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig
    from da4ml.trace.ops import quantize, relu

    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    inp = FixedVariableArrayInput(
        int(np.prod(shape)), hwconf=HWConfig(1, -1, -1), solver_options=solver_options
    )
    x = quantize(inp, *kif, overflow_mode="WRAP", round_mode="TRN").reshape(*shape)
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    for layer in layers:
        if len(getattr(layer, "_inbound_nodes", [])) > 1 or _n_inputs(layer) != 1:
            raise UnsupportedModelError(
                "rtl",
                model.name,
                [(layer.name, type(layer).__name__)],
                "the RTL export builds single-input chains of layers",
            )
    out_info: list[dict] = []
    softmax_dropped, logits_layer = False, None
    for n, layer in enumerate(layers):
        cls = type(layer).__name__
        last = n == len(layers) - 1
        row = {"name": layer.name, "class": cls}
        if cls in ("QDense", "Dense"):
            w, b = _weights(layer, "kernel"), _weights(layer, "bias") if layer.use_bias else None
            x = x @ w
            if b is not None:
                x = x + b
            row["weights"] = int(w.size + (0 if b is None else b.size))
            row["nonzero_weights"] = int(
                np.count_nonzero(w) + (0 if b is None else np.count_nonzero(b))
            )
            x, softmax_dropped = _activation(layer, x, last, row, relu, quantize)
        elif cls in ("QConv2D", "Conv2D"):
            w, b = _weights(layer, "kernel"), _weights(layer, "bias") if layer.use_bias else None
            x = _conv2d(x, w, b, layer)
            row["weights"] = int(w.size + (0 if b is None else b.size))
            row["nonzero_weights"] = int(
                np.count_nonzero(w) + (0 if b is None else np.count_nonzero(b))
            )
            x, softmax_dropped = _activation(layer, x, last, row, relu, quantize)
        elif cls == "MaxPooling2D":
            x = _maxpool2d(x, layer)
        elif cls in ("QActivation", "Activation", "ReLU"):
            x, softmax_dropped = _activation(layer, x, last, row, relu, quantize)
        elif cls in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise"):
            row["note"] = "identity at inference"
        elif cls in ("Flatten", "Reshape"):
            target = tuple(int(d) for d in layer.output.shape[1:])
            x = x.reshape(*target)
        else:
            raise UnsupportedModelError(
                "rtl",
                model.name,
                [(layer.name, cls)],
                "the da4ml RTL export builds QDense, QConv2D, MaxPooling2D, QActivation, "
                "ReLU, Flatten and Dropout layers (and a final softmax, in software)",
            )
        if not softmax_dropped:
            logits_layer = layer.name
        if "kif" not in row and hasattr(x, "kif"):
            kifs = np.asarray(x.kif).reshape(3, -1)
            row["max_bits"] = int((kifs.sum(axis=0)).max())
        out_info.append(row)
    return Traced(inp, x.ravel(), kif, softmax_dropped, out_info, logits_layer)


def _same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    total = max((-(-n // s) - 1) * s + k - n, 0)  # TensorFlow's "same": the extra pixel at the end
    return total // 2, total - total // 2


def _windows(layer, x, size, strides, padding):
    """Object array (Ho, Wo, kh*kw*C) of the windows of ``x`` (H, W, C); zeros where padded."""
    from da4ml.trace import FixedVariableArray

    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise UnsupportedModelError(
            "rtl", layer.name, [(layer.name, "channels_first")], "channels_last only"
        )
    if any(d != 1 for d in getattr(layer, "dilation_rate", (1, 1))):
        raise UnsupportedModelError(
            "rtl", layer.name, [(layer.name, "dilation")], "dilation_rate 1 only"
        )
    v = x._vars
    (kh, kw), (sh, sw) = size, strides
    h, w, c = v.shape
    if padding == "same":
        (t, bt), (lf, r) = _same_pads(h, kh, sh), _same_pads(w, kw, sw)
        pv = np.full((h + t + bt, w + lf + r, c), 0.0, dtype=object)
        pv[t : t + h, lf : lf + w] = v
        v = pv
    ho, wo = (v.shape[0] - kh) // sh + 1, (v.shape[1] - kw) // sw + 1
    out = np.empty((ho, wo, kh * kw * c), dtype=object)
    for i in range(ho):
        for j in range(wo):
            out[i, j] = v[i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(-1)
    return FixedVariableArray(out, x.solver_options)


def _conv2d(x, kernel, bias, layer):
    """Convolution as one constant matrix-vector product per output pixel (da4ml's CMVM)."""
    kh, kw, cin, cout = kernel.shape
    win = _windows(layer, x, (kh, kw), tuple(layer.strides), layer.padding)
    ho, wo, k = win.shape
    y = win.reshape(ho * wo, k) @ kernel.reshape(k, cout)
    if bias is not None:
        y = y + bias
    return y.reshape(ho, wo, cout)


def _maxpool2d(x, layer):
    from functools import reduce

    from da4ml.trace import FixedVariableArray

    kh, kw = layer.pool_size
    c = x.shape[-1]
    win = _windows(layer, x, (kh, kw), tuple(layer.strides), layer.padding)._vars
    ho, wo, _ = win.shape
    win = win.reshape(ho, wo, kh * kw, c)
    out = np.empty((ho, wo, c), dtype=object)
    for i in range(ho):
        for j in range(wo):
            for ch in range(c):
                out[i, j, ch] = reduce(lambda a, b: a.max_of(b), win[i, j, :, ch])
    return FixedVariableArray(out, x.solver_options)


def _n_inputs(layer) -> int:
    inp = layer.input
    return len(inp) if isinstance(inp, (list, tuple)) else 1


def _activation(layer, x, last: bool, row: dict, relu, quantize):
    """Apply ``layer``'s activation; returns (x, softmax_dropped)."""
    cls = type(layer).__name__
    if cls == "QActivation":
        q = _quantizer(layer.quantizer if hasattr(layer, "quantizer") else layer.activation)
    elif cls == "ReLU":
        q = "relu"
    else:
        act = getattr(layer, "activation", None)
        q = _quantizer(act) if type(act).__module__.startswith("qkeras") else _activation_name(act)
    if q in (None, "linear"):
        return x, False
    if q == "relu":
        row["activation"] = "relu (exact)"
        return relu(x), False
    if q == "softmax":
        if not last:
            raise UnsupportedModelError(
                "rtl",
                layer.name,
                [(layer.name, "softmax")],
                "softmax is built only as the last layer (applied in software)",
            )
        row["activation"] = "softmax (not built: argmax of the logits; applied in software)"
        return x, True
    if isinstance(q, str):
        raise UnsupportedModelError(
            "rtl",
            layer.name,
            [(layer.name, f"activation {q}")],
            "the da4ml RTL export builds relu and quantized_relu/quantized_bits",
        )
    k, i, f, ovf = _kif_of_quantizer(q, "activation", layer)
    row["activation"] = f"{_qname(q)} -> {'' if k else 'u'}fixed<{k + i + f},{k + i},RND,SAT>"
    if _qname(q) == "quantized_relu":
        x = relu(x)
    return quantize(x, k, i, f, overflow_mode=ovf, round_mode="RND"), False
