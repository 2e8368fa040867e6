"""Size, sparsity and bit-operation accounting of a model in either Keras world.

Bits of a weight: its QKeras quantizer's ``bits`` (``kernel_quantizer``, ``bias_quantizer``);
every weight without a quantizer (float models, BatchNormalization in a QKeras model)
counts ``float_bits`` (32).

Bits of an activation tensor: the ``bits`` of the quantizer that produced it (``QActivation``
or a Q-layer's quantized ``activation``); layout-only layers (Flatten, Reshape, Dropout,
max-pooling, padding, Concatenate -- the widest input) keep their input's width; any other
tensor, the model input included, counts ``float_bits``.

BOPs (bit operations), as in the hls4ml / HGQ literature (Baskin et al. 2021; HGQ's EBOPs
without the accumulator terms): every multiply-accumulate with a non-zero weight costs
``b_weight * b_activation``, so for each Dense/Conv layer

    BOPs = nonzero(kernel) * positions * b_kernel * b_input

where ``positions`` is the number of output positions a kernel weight is applied at
(1 for Dense on a vector; H_out*W_out for Conv2D; H_in*W_in for Conv2DTranspose; border
effects of "same" padding ignored). Pruned weights cost nothing; the model total is the sum.

Sizes are weights only: ``size_bytes = sum(params * bits) / 8`` (dense storage at that
precision) and ``size_bytes_nonzero = sum(nonzero * bits) / 8`` (zeros dropped, as in a
fully unrolled hls4ml design; no index overhead counted).
"""

from __future__ import annotations

import math

import numpy as np

from compress import graph

FLOAT_BITS = 32
BOPS_FORMULA = "sum over Dense/Conv layers of nonzero(kernel) * positions * b_kernel * b_input"


def task_metric(card: dict | object) -> str:
    """The test metric reported for a card's task: accuracy, or reconstruction MSE."""
    task = card["task"] if isinstance(card, dict) else card.task
    return {"classification": "accuracy", "reconstruction": "mse"}.get(task, "test_loss")


def quantizer_bits(q) -> int | None:
    bits = getattr(q, "bits", None) if q is not None else None
    return int(bits) if bits is not None else None


def _output_quantizer_bits(layer) -> int | None:
    if type(layer).__name__ == "QActivation":
        return quantizer_bits(getattr(layer, "quantizer", None))
    if type(layer).__name__.startswith("Q"):
        return quantizer_bits(getattr(layer, "activation", None))
    return None


def tensor_bits(model, float_bits: int = FLOAT_BITS) -> dict[str, int]:
    """layer name -> bit width of the layer's output tensor (rules in the module docstring)."""
    bits: dict[str, int] = {}
    for layer in graph.layers(model):
        srcs = [bits[n] for n in graph.inbound(layer) if n in bits]
        q = _output_quantizer_bits(layer)
        if q is not None:
            bits[layer.name] = q
        elif graph.kind(layer) in graph.LAYOUT_KINDS and srcs:
            bits[layer.name] = max(srcs)
        else:
            bits[layer.name] = float_bits
    return bits


def _weight_bits(layer, w, float_bits: int) -> int:
    if w is getattr(layer, "kernel", None):
        b = quantizer_bits(getattr(layer, "kernel_quantizer_internal", None))
    elif w is getattr(layer, "bias", None):
        b = quantizer_bits(getattr(layer, "bias_quantizer_internal", None))
    else:
        b = None
    return b if b is not None else float_bits


def kernel_of(layer) -> np.ndarray:
    return np.asarray(layer.kernel.numpy() if hasattr(layer.kernel, "numpy") else layer.kernel)


def _positions(layer) -> int:
    k = graph.kind(layer)
    shape = layer.input.shape if k == "Conv2DTranspose" else layer.output.shape
    return int(math.prod(int(s) for s in shape[1:-1])) if len(shape) > 2 else 1


def model_stats(model, *, float_bits: int = FLOAT_BITS) -> dict:
    """Parameters, non-zeros, bits, sizes and BOPs of ``model``, per layer and in total."""
    act_bits = tensor_bits(model, float_bits)
    per_layer: dict[str, dict] = {}
    tot = dict(
        params=0,
        nonzero_params=0,
        size_bits=0,
        size_bits_nonzero=0,
        mac_weights=0,
        mac_weights_nonzero=0,
        macs=0,
        macs_nonzero=0,
        bops=0,
    )
    for layer in graph.layers(model):
        if not layer.weights:
            continue
        entry: dict = {"class": type(layer).__name__, "params": 0, "nonzero": 0}
        for w in layer.weights:
            v = np.asarray(w.numpy())
            b = _weight_bits(layer, w, float_bits)
            n, nz = int(v.size), int(np.count_nonzero(v))
            entry["params"] += n
            entry["nonzero"] += nz
            tot["size_bits"] += n * b
            tot["size_bits_nonzero"] += nz * b
        if graph.is_mac(layer):
            kern = kernel_of(layer)
            kb = _weight_bits(layer, layer.kernel, float_bits)
            srcs = graph.inbound(layer)
            in_bits = max((act_bits.get(s, float_bits) for s in srcs), default=float_bits)
            pos = _positions(layer)
            nnz = int(np.count_nonzero(kern))
            bias = getattr(layer, "bias", None)
            entry.update(
                kernel_weights=int(kern.size),
                kernel_nonzero=nnz,
                sparsity=round(1 - nnz / kern.size, 6) if kern.size else 0.0,
                kernel_bits=kb,
                bias_bits=_weight_bits(layer, bias, float_bits) if bias is not None else None,
                input_bits=in_bits,
                positions=pos,
                macs=int(kern.size) * pos,
                bops=nnz * pos * kb * in_bits,
            )
            tot["mac_weights"] += int(kern.size)
            tot["mac_weights_nonzero"] += nnz
            tot["macs"] += int(kern.size) * pos
            tot["macs_nonzero"] += nnz * pos
            tot["bops"] += entry["bops"]
        tot["params"] += entry["params"]
        tot["nonzero_params"] += entry["nonzero"]
        per_layer[layer.name] = entry
    params = tot["params"] or 1
    return {
        "params": tot["params"],
        "nonzero_params": tot["nonzero_params"],
        "sparsity": round(1 - tot["mac_weights_nonzero"] / tot["mac_weights"], 6)
        if tot["mac_weights"]
        else 0.0,
        "bits_per_weight": round(tot["size_bits"] / params, 4),
        "size_bytes": math.ceil(tot["size_bits"] / 8),
        "size_bytes_nonzero": math.ceil(tot["size_bits_nonzero"] / 8),
        "mac_weights": tot["mac_weights"],
        "mac_weights_nonzero": tot["mac_weights_nonzero"],
        "macs": tot["macs"],
        "macs_nonzero": tot["macs_nonzero"],
        "bops": tot["bops"],
        "float_bits": float_bits,
        "bops_formula": BOPS_FORMULA,
        "layers": per_layer,
    }


def sparsity_report(model, pruned: list[str] | None = None) -> dict:
    """Achieved kernel sparsity per Dense/Conv layer, over the pruned layers, and over all kernels."""
    per, nz_p, n_p, nz_all, n_all = {}, 0, 0, 0, 0
    for layer in graph.layers(model):
        if not graph.is_mac(layer):
            continue
        kern = kernel_of(layer)
        nz = int(np.count_nonzero(kern))
        is_pruned = pruned is None or layer.name in pruned
        per[layer.name] = {
            "weights": int(kern.size),
            "nonzero": nz,
            "sparsity": round(1 - nz / kern.size, 6),
            "pruned": is_pruned,
        }
        nz_all += nz
        n_all += kern.size
        if is_pruned:
            nz_p += nz
            n_p += kern.size
    return {
        "pruned_layers": round(1 - nz_p / n_p, 6) if n_p else 0.0,
        "all_kernels": round(1 - nz_all / n_all, 6) if n_all else 0.0,
        "layers": per,
    }
