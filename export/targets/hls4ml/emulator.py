"""A numpy model of hls4ml's fixed-point types (``precision_check="emulate"`` of the precision
search): it must round and saturate exactly as ap_fixed does; the search checks it against the C
simulation at the baseline and C-simulates the choice."""

from __future__ import annotations

import numpy as np


class NotEmulated(Exception):
    """The converted graph has a layer the numpy emulation does not model (C-sim every step)."""


EMULATED = (
    "Input",
    "InputLayer",
    "Dense",
    "Activation",
    "ReLU",
    "Softmax",
    "Dropout",
    "Reshape",
    "Flatten",
)


def quantize_type(x: np.ndarray, t) -> np.ndarray:
    """``x`` cast to the hls4ml FixedPrecisionType ``t`` as ap_fixed does (rounding, overflow)."""
    if not hasattr(t, "fractional"):
        return x
    f = t.width - t.integer
    rnd, sat = str(t.rounding_mode).split(".")[-1], str(t.saturation_mode).split(".")[-1]
    v = np.asarray(x, dtype=np.float64) * 2.0**f
    if rnd in ("RND", "RND_INF", "RND_MIN_INF", "RND_ZERO", "RND_CONV"):
        if rnd == "RND_CONV":
            q = np.round(v)  # half to even
        elif rnd == "RND_ZERO":
            q = np.sign(v) * np.ceil(np.abs(v) - 0.5)
        elif rnd == "RND_INF":
            q = np.sign(v) * np.floor(np.abs(v) + 0.5)
        elif rnd == "RND_MIN_INF":
            q = np.ceil(v - 0.5)
        else:
            q = np.floor(v + 0.5)
    elif rnd == "TRN_ZERO":
        q = np.trunc(v)
    else:
        q = np.floor(v)
    lo, hi = (
        (-(2.0 ** (t.width - 1)), 2.0 ** (t.width - 1) - 1) if t.signed else (0.0, 2.0**t.width - 1)
    )
    if sat in ("SAT", "SAT_SYM", "SAT_ZERO"):
        if sat == "SAT_SYM" and t.signed:
            lo = -hi
        clipped = np.clip(q, lo, hi)
        q = np.where((q < lo) | (q > hi), 0.0, q) if sat == "SAT_ZERO" else clipped
    else:
        span = hi - lo + 1
        q = (q - lo) % span + lo
    return q / 2.0**f


def _weight(var) -> np.ndarray:
    """A weight as the C simulation holds it: hls4ml writes it as decimal text with as many digits as
    its type has fraction bits, and ap_fixed rounds that text to the type."""
    data = np.asarray(var.data, dtype=np.float64)
    fmt = getattr(var, "precision_fmt", None)
    if fmt:
        data = np.array([float(fmt.format(v)) for v in data.ravel()]).reshape(data.shape)
    return quantize_type(data, var.type.precision)


def emulate(graph, x: np.ndarray) -> np.ndarray:
    """The hls4ml graph's fixed-point function in numpy (float64 holds the exact sums of these
    widths): inputs, weights and results cast to their types, accumulators exact."""
    vals: dict[str, np.ndarray] = {}
    out = None
    for node in graph.get_layers():
        cls = node.class_name
        if cls not in EMULATED:
            raise NotEmulated(cls)
        t = node.get_output_variable().type.precision
        if cls in ("Input", "InputLayer"):
            v = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        else:
            v = vals[node.inputs[0]]
            if cls == "Dense":
                v = v @ _weight(node.weights["weight"]).reshape(v.shape[1], -1)
                if "bias" in node.weights:
                    v = v + _weight(node.weights["bias"]).reshape(-1)
                act = str(node.get_attr("activation", "linear")).lower()
                if act not in ("linear", "none"):
                    raise NotEmulated(f"Dense with fused {act}")
            elif cls in ("Activation", "ReLU"):
                act = str(node.get_attr("activation", "")).lower()
                if act == "relu" or cls == "ReLU":
                    v = np.maximum(v, 0.0)
                elif act not in ("linear",):
                    raise NotEmulated(f"activation {act}")
            elif cls == "Softmax":
                z = v - v.max(axis=1, keepdims=True)
                v = np.exp(z) / np.exp(z).sum(
                    axis=1, keepdims=True
                )  # tables in hardware: argmax only
                t = None
        vals[node.name] = v if t is None else quantize_type(v, t)
        out = vals[node.name]
    return out
