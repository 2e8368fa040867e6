"""Can hls4ml take a model? Decided from its layers and size before anything is built.

hls4ml writes a dataflow design whose layers are all on the chip at once; with ``io_parallel``
every multiplication is a multiplier, with ``io_stream`` and ``Resource`` strategy the weights
still sit in on-chip memory. edgezoo refuses a model over :data:`MAX_PARAMS` parameters: at 8
bits that is 100 KB of weights, already the BRAM of a small FPGA (an Artix-7 100T holds 607 KB),
and hls4ml's C synthesis time grows with the unrolled layers far beyond a useful build above
it. A layer hls4ml has no converter for is named with the reason.
"""

from __future__ import annotations

MAX_PARAMS = 100_000
# Keras layers that carry no computation hls4ml needs to see
_TRANSPARENT = {"InputLayer", "Dropout"}


def supported_layers() -> set[str]:
    """Keras class names hls4ml 1.3 converts: its Keras 3 handlers and its Keras 2 ones (which
    its Keras 3 parser falls back to)."""
    import hls4ml.converters.keras_v3 as v3
    from hls4ml.converters.keras_v2_to_hls import get_supported_keras_layers

    names = set(get_supported_keras_layers())
    for mod in vars(v3).values():
        for obj in vars(mod).values() if hasattr(mod, "__dict__") else ():
            for h in getattr(obj, "handles", ()) or ():
                names.add(h.rsplit(".", 1)[-1])
    return names


def verdict(model, supported: set[str] | None = None) -> dict:
    """``{"accepted": bool, "reason": one line}`` for ``model`` under hls4ml."""
    supported = supported_layers() if supported is None else supported
    classes = {type(layer).__name__ for layer in model.layers} - _TRANSPARENT
    missing = sorted(classes - supported)
    params = int(model.count_params())
    reasons = []
    if params > MAX_PARAMS:
        reasons.append(f"{params:,} parameters > {MAX_PARAMS:,} (an FPGA-sized dataflow design)")
    if missing:
        reasons.append("no hls4ml converter for " + ", ".join(missing))
    return {"accepted": not reasons, "reason": "; ".join(reasons) or "supported layers, small"}
