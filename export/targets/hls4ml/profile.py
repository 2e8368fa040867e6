"""Profiling: the value range of every layer on calibration data, and the fixed-point type that
holds a range."""

from __future__ import annotations

import numpy as np

from export.common import keras_of
from zoo.core.fixed_point import integer_bits

# --------------------------------------------------------------------------- profiling


def _fused_activation(layer) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None or type(layer).__name__ in ("Activation", "QActivation"):
        return None
    name = getattr(act, "__name__", None) or str(act)
    return None if name == "linear" else name


def profile_ranges(
    model, world: str, x: np.ndarray, *, batch_size: int = 512
) -> dict[str, tuple[float, float]]:
    """(min, max) of every layer's output on ``x``; for layers with a fused activation also the
    pre-activation range, under the key ``"<layer>@pre"``."""
    k = keras_of(world)
    layers = [layer for layer in model.layers if not hasattr(layer, "layers") or not layer.weights]
    outs = [layer.output for layer in layers]
    inp = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = k.Model(inp, outs)
    ranges = _ranges_of(probe, [layer.name for layer in layers], x, batch_size)
    fused = [layer for layer in layers if _fused_activation(layer)]
    if fused:
        linear = k.activations.get("linear")
        saved = {layer.name: layer.activation for layer in fused}
        try:
            for layer in fused:
                layer.activation = linear
            probe = k.Model(inp, [layer.output for layer in fused])
            ranges.update(
                _ranges_of(probe, [f"{layer.name}@pre" for layer in fused], x, batch_size)
            )
        finally:
            for layer in fused:
                layer.activation = saved[layer.name]
    return ranges


def _ranges_of(
    probe, names: list[str], x: np.ndarray, batch_size: int
) -> dict[str, tuple[float, float]]:
    """(min, max) of each output of ``probe`` over ``x``, batch by batch."""
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        vals = probe(x[i : i + batch_size], training=False)
        for name, v in zip(names, vals if isinstance(vals, (list, tuple)) else [vals]):
            v = np.asarray(v)
            lo[name] = min(lo.get(name, np.inf), float(v.min()))
            hi[name] = max(hi.get(name, -np.inf), float(v.max()))
    return {n: (lo[n], hi[n]) for n in lo}


def fixed_for(
    lo: float, hi: float, width: int, *, extra: int = 0, rounding="RND", saturation="SAT"
) -> str:
    """An hls4ml precision string covering [lo, hi] in ``width`` bits (signed unless lo >= 0)."""
    signed = lo < 0
    i = integer_bits(max(abs(lo), abs(hi))) + extra + int(signed)
    width = max(width, i + 1)
    kind = "fixed" if signed else "ufixed"
    return f"{kind}<{width},{i},{rounding},{saturation}>"


def hls_name_range(name: str, model_layers: dict, ranges: dict):
    """The profiled range of the tensor hls4ml calls ``name`` (None when it has no Keras twin)."""
    layer = model_layers.get(name)
    if layer is not None:
        if _fused_activation(layer) and f"{name}@pre" in ranges:
            return ranges[f"{name}@pre"]
        return ranges.get(name)
    for kname, klayer in model_layers.items():  # "<layer>_<activation>" split off by hls4ml
        if name.startswith(kname + "_") and name in (
            f"{kname}_{_fused_activation(klayer)}",
            f"{kname}_linear",
        ):
            return ranges.get(kname)
    return None
