"""Fixed-point sizing shared by the stages that pick fixed-point types (QKeras quantizers in
compress, hls4ml precisions in export): one copy, importable without TensorFlow."""

from __future__ import annotations

import math


def integer_bits(max_abs: float) -> int:
    """The integer bits (sign not counted) a fixed-point type needs to hold ``max_abs``: the
    smallest ``i >= 0`` with ``2**i > max_abs``, since a type with ``i`` integer bits holds
    ``[-2**i, 2**i)``. At a power of two ``2**k`` that is ``k + 1`` (``ceil(log2)`` would give
    ``k`` and clip the value itself)."""
    if not max_abs > 0 or not math.isfinite(max_abs):
        return 0
    return max(0, math.floor(math.log2(max_abs)) + 1)
