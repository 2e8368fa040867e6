"""The hls4ml configuration: hls4ml's initial per-layer config, then the profiled (or QKeras)
precisions, softmax and table types; conversion with clear errors."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import numpy as np

from export.common import keras_module_as
from export.errors import ExportError, UnsupportedModelError
from export.targets.hls4ml.options import (
    DEFAULT_PRECISION,
    FALLBACK_PRECISION,
    TABLE_ACTIVATIONS,
    HlsOptions,
)
from export.targets.hls4ml.profile import fixed_for, hls_name_range, profile_ranges
from zoo.core.fixed_point import integer_bits
from zoo.core.introspect import all_layers

# --------------------------------------------------------------------------- configuration


@contextlib.contextmanager
def _quiet():
    """hls4ml prints progress (and "da4ml missing" notes for its optional fallback) and warns a lot."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def convert(model, world: str, config: dict, out_dir: Path, opts: HlsOptions, io_type: str):
    import hls4ml

    kwargs = dict(
        hls_config=config,
        output_dir=str(out_dir),
        backend=opts.backend,
        io_type=io_type,
        clock_period=opts.clock_period,
        project_name=opts.project_name,
    )
    if opts.part:
        kwargs["part"] = opts.part
    if world == "keras":
        kwargs["allow_da_fallback"] = False
    with keras_module_as(world), _quiet():
        try:
            return hls4ml.converters.convert_from_keras_model(model, **kwargs)
        except Exception as exc:  # noqa: BLE001 - turned into a clear error naming the layer
            raise _conversion_error(model, exc) from exc


def _conversion_error(model, exc) -> Exception:
    text = f"{type(exc).__name__}: {exc}"
    m = re.search(r"Layer <class '([\w.]+)'> not found|Unsupported layer type: (\w+)", text)
    if m:
        cls = (m.group(1) or m.group(2)).rsplit(".", 1)[-1]
        named = [(layer.name, cls) for layer in all_layers(model) if type(layer).__name__ == cls]
        return UnsupportedModelError(
            "hls4ml", model.name, named or [("?", cls)], "hls4ml 1.3 has no converter for it"
        )
    return ExportError(f"hls4ml: conversion of {model.name!r} failed: {text[:500]}")


def _initial_config(model, world: str, opts: HlsOptions) -> dict:
    import hls4ml

    default = DEFAULT_PRECISION if opts.precision == "default" else FALLBACK_PRECISION
    with keras_module_as(world), _quiet():
        try:
            cfg = hls4ml.utils.config_from_keras_model(
                model,
                granularity="name",
                backend=opts.backend,
                default_precision=default,
                default_reuse_factor=opts.reuse_factor,
            )
        except Exception as exc:  # noqa: BLE001
            raise _conversion_error(model, exc) from exc
    cfg["Model"]["Strategy"] = opts.strategy
    cfg["Model"]["ReuseFactor"] = opts.reuse_factor
    for lc in cfg.get("LayerName", {}).values():
        if "ReuseFactor" in lc:
            lc["ReuseFactor"] = opts.reuse_factor
    return cfg


def build_config(
    model, world: str, x_profile: np.ndarray, opts: HlsOptions, io_type: str, scratch: Path
):
    """The per-layer hls4ml config and a record of where every precision came from."""
    cfg = _initial_config(model, world, opts)
    sources: dict[str, dict[str, str]] = {}
    if opts.precision == "default":
        for lc in cfg.get("LayerName", {}).values():
            for var, val in lc.get("Precision", {}).items():
                if val == "auto" and var != "accum":
                    lc["Precision"][var] = DEFAULT_PRECISION
        return cfg, {"mode": "default", "default": DEFAULT_PRECISION}

    wbits = opts.weight_width or opts.width
    layers = {layer.name: layer for layer in all_layers(model)}
    _profiled_results(cfg, sources, layers, profile_ranges(model, world, x_profile), opts)
    # Pass 2: convert once, then size what only the converted graph shows.
    graph = convert(model, world, cfg, scratch, opts, io_type)
    for node in graph.get_layers():
        _size_node(node, cfg, sources, opts, wbits)
    return cfg, {
        "mode": "profile",
        "width": opts.width,
        "layer_widths": opts.layer_widths,
        "weight_width": wbits,
        "headroom_bits": opts.headroom_bits,
        "rounding": opts.rounding,
        "saturation": opts.saturation,
        "profile_samples": int(len(x_profile)),
        "sources": sources,
    }


def _profiled_results(cfg: dict, sources: dict, layers: dict, ranges: dict, opts: HlsOptions):
    """Pass 1: every layer's result type from the profiled range (quantizer types kept)."""
    qlayer = {n for n, layer in layers.items() if type(layer).__module__.startswith("qkeras")}
    for name, lc in cfg.get("LayerName", {}).items():
        prec = lc.setdefault("Precision", {})
        src = sources.setdefault(name, {})
        for var, val in list(prec.items()):
            if var in ("result", "weight", "bias") and val != "auto":
                src[var] = "quantizer"
        if prec.get("result", "auto") != "auto":
            continue
        if name in qlayer and layers[name].weights:
            src["result"] = "auto (exact accumulator of a quantized layer)"
            continue
        rng = hls_name_range(name, layers, ranges)
        if rng is None:
            continue
        prec["result"] = fixed_for(
            *rng,
            _layer_width(opts, name, "result", opts.width),
            extra=opts.headroom_bits,
            rounding=opts.rounding,
            saturation=opts.saturation,
        )
        src["result"] = "profile"


def _size_node(node, cfg: dict, sources: dict, opts: HlsOptions, wbits: int):
    """Pass 2, one converted node: weight and bias types from their values, softmax and table
    types."""
    lc = cfg.setdefault("LayerName", {}).setdefault(node.name, {"Precision": {}})
    prec = lc.setdefault("Precision", {})
    src = sources.setdefault(node.name, {})
    for var, w in node.weights.items():
        if src.get(var) == "quantizer" or node.get_attr(f"{var}_quantizer") is not None:
            src[var] = "quantizer"
            continue
        raw = getattr(w, "data_unquantized", None)
        data = np.asarray(raw if raw is not None else w.data, dtype=np.float64)
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
        prec[var] = fixed_for(
            lo, hi, _layer_width(opts, node.name, var, wbits), rounding="RND", saturation="SAT"
        )
        src[var] = "weights"
    cls = node.class_name
    act = str(node.get_attr("activation", "")).lower()
    # Only the softmax node itself: hls4ml's Keras 2 parser also leaves activation="softmax" on a
    # Dense whose softmax it split into a node of its own (its output is logits, not [0, 1]).
    if cls == "Softmax" or (cls == "Activation" and act == "softmax"):
        _configure_softmax(node, lc, cfg, sources, opts)
    elif act in TABLE_ACTIVATIONS:
        lc["TableSize"] = opts.table_size
        lc["table_t"] = f"fixed<{opts.table_width},2,RND,SAT>"
        src["table"] = f"{opts.table_size} entries"


def _layer_width(opts: HlsOptions, name: str, var: str, default: int) -> int:
    return int((opts.layer_widths or {}).get(name, {}).get(var, default))


def _configure_softmax(node, lc: dict, cfg: dict, sources: dict, opts: HlsOptions):
    n = int(node.get_attr("n_in") or np.prod(node.get_input_variable().shape))
    n_slice = max(1, n // int(node.get_attr("n_inner") or 1) // int(node.get_attr("n_outer") or 1))
    tw = opts.table_width
    kbits = integer_bits(n_slice)  # the sum of n_slice terms in (0, 1] is below 2**kbits
    lc["Implementation"] = opts.softmax_implementation
    lc["TableSize"] = opts.softmax_table_size
    lc["exp_table_t"] = f"ufixed<{tw},1,RND,SAT>"
    lc["inv_table_t"] = f"ufixed<{tw},1,RND,SAT>"
    lc["inv_inp_t"] = f"ufixed<{tw},{kbits + 1},RND,SAT>"
    lc.setdefault("Precision", {})["accum"] = f"ufixed<{tw + kbits},{kbits + 1},RND,SAT>"
    if (
        lc["Precision"].get("result", "auto") in ("auto",)
        or sources.get(node.name, {}).get("result") == "profile"
    ):
        lc["Precision"]["result"] = f"ufixed<{opts.width},1,RND,SAT>"
    sources.setdefault(node.name, {}).update(
        {"result": "probabilities in [0, 1]", "tables": f"{opts.softmax_table_size} entries"}
    )
    _widen_softmax_input(node, cfg, sources)


def _widen_softmax_input(node, cfg: dict, sources: dict) -> bool:
    """Give the tensor feeding a stable softmax one integer bit more; True if the config changed.

    ``x_max - x_i`` is computed in the input's type with one bit less (unsigned): without the
    extra bit it wraps for logits far apart, and exp(-d) of a far class comes out near 1.
    """
    prev = node.get_input_node()
    if prev is None:
        return False
    src = sources.setdefault(prev.name, {})
    if src.get("result") == "quantizer" or src.get("softmax_bit"):
        return False
    m = re.fullmatch(
        r"(u?fixed)<(\d+),(-?\d+)(.*)>", str(prev.get_output_variable().type.precision)
    )
    if not m:
        return False
    kind, w, i, rest = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    pc = cfg.setdefault("LayerName", {}).setdefault(prev.name, {}).setdefault("Precision", {})
    pc["result"] = f"{kind}<{w + 1},{i + 1}{rest}>"
    src["softmax_bit"] = "+1 integer bit for the stable softmax"
    return True


def softmax_inputs_widened(graph, cfg: dict, sources: dict) -> bool:
    """Check the converted graph (hls4ml may merge or keep linear activations in front of a
    softmax depending on the precisions set); True if the config had to change."""
    changed = False
    for node in graph.get_layers():
        if (
            node.class_name == "Softmax"
            and str(node.get_attr("implementation", "stable")) == "stable"
        ):
            changed |= _widen_softmax_input(node, cfg, sources)
    return changed
