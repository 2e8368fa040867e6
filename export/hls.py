"""hls4ml: a Keras 3 or QKeras model to an HLS project, C-simulated for parity, synthesized when
the vendor tool is present.

Conversion
    Keras 3 models go through hls4ml's Keras-3 parser; tf-keras and QKeras models through its
    Keras-2 parser, which hls4ml 1.3 picks only when ``import keras`` is Keras 2 -- so ``keras``
    is made to resolve to ``tf_keras`` for the duration of the conversion and restored after
    (:func:`export.common.keras_module_as`). hls4ml reserves the layer name ``input``: a model
    whose input layer is called so (every zoo model) is converted through a renamed copy.

Precision (what makes the firmware agree with Keras)
    ``ap_fixed<16,6>`` everywhere is not a parity strategy. Instead, per layer (``granularity="name"``):

    * QKeras models: the quantizers' types, as ``config_from_keras_model`` reads them; the
      outputs of quantized Dense/Conv layers stay ``auto`` (hls4ml infers an exact accumulator).
    * Everything else: ranges profiled on calibration data from the training split -- integer
      bits so that the largest magnitude seen fits (plus ``headroom_bits``), the rest of a
      ``width``-bit word fractional; weights and biases sized the same way from their values
      (after hls4ml's own rewrites, e.g. batch-norm folding); accumulators ``auto`` (exact).
    * Softmax: the ``stable`` implementation normalizes by ``x_max - x_i``, which needs one
      integer bit more than the logits, so the layer feeding a softmax gets one more; the exp
      table (values in (0, 1]) gets ``ufixed<18,1>``, the sum and its inverse types are sized
      for the number of classes, and the tables have ``softmax_table_size`` entries (4096), so
      probabilities agree to about 1e-3 and the argmax is kept.
    * tanh / sigmoid tables: ``table_size`` entries (4096) of ``fixed<18,2>``.

Synthesis
    ``build()`` runs only when the backend's tool (``vitis-run`` for Vitis, ``vivado_hls`` for
    Vivado) is on PATH; its report (latency, II, LUT/FF/DSP/BRAM) goes into the manifest. Without
    it the manifest says synthesis was not run, and why -- no figures are made up.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from export.common import all_layers, check_single_io, keras_module_as, keras_of, replace_dir
from export.errors import ExportError, ExportOptionsError, UnsupportedModelError
from zoo.fixed_point import integer_bits  # the one copy (QKeras quantizers use it too)

BACKENDS = ("Vitis", "Vivado")
STRATEGIES = ("Latency", "Resource")
IO_TYPES = ("io_parallel", "io_stream")
SOFTMAX_IMPLEMENTATIONS = ("stable", "latency", "argmax", "legacy")
PRECISION_MODES = ("profile", "default", "auto")  # auto: export/precision.py searches the widths
SYNTH_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls"}
RESERVED_NAMES = ("input",)
TABLE_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "selu", "elu", "softplus", "softsign")
DEFAULT_PRECISION = "fixed<16,6>"  # hls4ml's; used only with precision="default"
FALLBACK_PRECISION = "fixed<32,16>"  # for nodes hls4ml adds that no profile covers


@dataclass
class HlsOptions:
    """Everything that decides the HLS project. Validated by :meth:`check`."""

    backend: str = "Vitis"
    io_type: str | None = None  # None: io_parallel for dense models, io_stream for CNNs
    reuse_factor: int = 1
    strategy: str = "Latency"
    part: str | None = None  # None: the backend's default part
    clock_period: float = 5.0  # ns
    precision: str = "profile"  # or "default": hls4ml's ap_fixed<16,6> everywhere (for comparison)
    width: int = 16  # bits of activations
    weight_width: int | None = None  # bits of weights and biases (default: width)
    headroom_bits: int = 0  # integer bits added above the profiled range
    rounding: str = "RND"
    saturation: str = "SAT"
    softmax_implementation: str = "stable"
    softmax_table_size: int = 4096
    table_size: int = 4096
    table_width: int = 18
    profile_samples: int = 4096  # training samples profiled for ranges
    project_name: str = "myproject"
    synth: str | bool = "auto"  # "auto": build() when the vendor tool is on PATH
    # RTL via da4ml (export/rtl.py), the "hls4ml"/"rtl" artifact: False (default), "auto" (for
    # quantized models: QKeras twins) or True (required; an error for a float model)
    rtl: str | bool = False
    rtl_latency_cutoff: float = 5.0  # adder delays per pipeline stage of the generated Verilog
    yosys: str | bool = "auto"  # open synthesis of the RTL (yosys synth_xilinx) when yosys is on PATH
    accuracy_budget: float = 0.005  # precision="auto": the largest accuracy drop vs Keras allowed
    auto_max_steps: int = 24  # precision="auto": at most this many C-simulated candidates
    # per hls4ml layer: {"fc1": {"weight": 6, "bias": 6, "result": 10}} (widths in bits) over
    # weight_width / width; precision="auto" writes its choice here
    layer_widths: dict | None = None

    def check(self) -> HlsOptions:
        def bad(name, why):
            raise ExportOptionsError(f"hls4ml: {name} {why}. Received: {name}={getattr(self, name)!r}")

        if self.backend not in BACKENDS:
            bad("backend", f"must be one of {BACKENDS}")
        if self.io_type is not None and self.io_type not in IO_TYPES:
            bad("io_type", f"must be one of {IO_TYPES} (or None for automatic)")
        if self.strategy not in STRATEGIES:
            bad("strategy", f"must be one of {STRATEGIES}")
        if self.precision not in PRECISION_MODES:
            bad("precision", f"must be one of {PRECISION_MODES}")
        if self.softmax_implementation not in SOFTMAX_IMPLEMENTATIONS:
            bad("softmax_implementation", f"must be one of {SOFTMAX_IMPLEMENTATIONS}")
        for name, lo in (("reuse_factor", 1), ("width", 4), ("auto_max_steps", 1), ("table_width", 4), ("profile_samples", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                bad(name, f"must be an integer >= {lo}")
        if self.weight_width is not None and (not isinstance(self.weight_width, int) or self.weight_width < 2):
            bad("weight_width", "must be an integer >= 2 or None")
        if not isinstance(self.headroom_bits, int) or self.headroom_bits < 0:
            bad("headroom_bits", "must be an integer >= 0")
        for name in ("softmax_table_size", "table_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 2 or v & (v - 1):
                bad(name, "must be a power of two >= 2")
        if not isinstance(self.clock_period, (int, float)) or not self.clock_period > 0:
            bad("clock_period", "must be a positive number of nanoseconds")
        for name in ("synth", "rtl", "yosys"):
            if getattr(self, name) not in ("auto", True, False):
                bad(name, "must be 'auto', True or False")
        if not isinstance(self.rtl_latency_cutoff, (int, float)) or not self.rtl_latency_cutoff > 0:
            bad("rtl_latency_cutoff", "must be a positive number (adder delays per pipeline stage)")
        if self.layer_widths is not None and not (
                isinstance(self.layer_widths, dict) and all(
                    isinstance(v, dict) and all(k in ("weight", "bias", "result") and isinstance(b, int)
                                                and not isinstance(b, bool) and b >= 2 for k, b in v.items())
                    for v in self.layer_widths.values())):
            bad("layer_widths", 'must be {layer: {"weight"|"bias"|"result": bits >= 2}}')
        if not isinstance(self.accuracy_budget, (int, float)) or not 0 <= self.accuracy_budget < 1:
            bad("accuracy_budget", "must be a number in [0, 1) (an accuracy drop, e.g. 0.005)")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.project_name):
            bad("project_name", "must be a C identifier")
        return self


@dataclass
class HlsResult:
    project_dir: Path
    outputs: np.ndarray  # C-simulation outputs on the parity inputs
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- support


def supported_layer_classes() -> set[str]:
    import hls4ml
    from hls4ml.converters.keras_v3._base import registry

    return {k.rsplit(".", 1)[-1] for k in registry} | set(hls4ml.converters.get_supported_keras_layers())


def check_supported(model, world: str):
    """Raise :class:`UnsupportedModelError` naming every layer hls4ml cannot parse."""
    check_single_io(model, "hls4ml")
    shape = tuple(model.inputs[0].shape[1:])
    if None in shape:
        raise UnsupportedModelError(
            "hls4ml", model.name, why=f"its input shape {shape} has unknown dimensions, and FPGA firmware has "
            "fixed sizes: rebuild the model with a fixed keras.Input(shape=...) (same weights) and export that")
    supported = supported_layer_classes()
    nested = [(layer.name, type(layer).__name__) for layer in model.layers
              if hasattr(layer, "layers") and type(layer).__name__ in ("Functional", "Model", "Sequential")]
    if nested and world == "keras":
        raise UnsupportedModelError("hls4ml", model.name, nested, "nested Keras 3 models are not parsed by hls4ml 1.3")
    bad = [(layer.name, type(layer).__name__) for layer in all_layers(model)
           if type(layer).__name__ not in supported]
    if bad:
        raise UnsupportedModelError("hls4ml", model.name, bad, "hls4ml 1.3 has no converter for them")


# hls4ml 1.3's Keras 3 parser fails on these ("'SeparableConv2D' object has no attribute 'kernel'");
# its Keras 2 parser converts them, so a Keras 3 model holding one goes through its tf-keras twin.
KERAS2_PARSER_ONLY = ("SeparableConv1D", "SeparableConv2D")


def keras2_twin(model):
    """The tf-keras twin of a Keras 3 model (same architecture, weights moved by layer name),
    checked to compute the same outputs."""
    from zoo.imported import architecture, build_architecture
    from zoo.worlds import TF_KERAS, transfer_weights

    try:
        twin = build_architecture(architecture(model), TF_KERAS)
        transfer_weights(model, twin)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"hls4ml: {model.name!r} has layers only hls4ml's Keras 2 parser takes "
                          f"({', '.join(KERAS2_PARSER_ONLY)}), and its tf-keras twin cannot be built: "
                          f"{type(exc).__name__}: {exc}") from exc
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
    from zoo.io import custom_objects

    objs = custom_objects(world)
    if world == "tf_keras":
        from zoo.worlds import qkeras_custom_objects

        objs.update(qkeras_custom_objects())
    k = keras_of(world)
    cfg = _rename(model.get_config(), mapping)
    with k.utils.custom_object_scope(objs):
        twin = model.__class__.from_config(cfg)
    twin.set_weights(model.get_weights())
    return twin, mapping


# --------------------------------------------------------------------------- profiling


def _fused_activation(layer) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None or type(layer).__name__ in ("Activation", "QActivation"):
        return None
    name = getattr(act, "__name__", None) or str(act)
    return None if name == "linear" else name


def profile_ranges(model, world: str, x: np.ndarray, *, batch_size: int = 512) -> dict[str, tuple[float, float]]:
    """(min, max) of every layer's output on ``x``; for layers with a fused activation also the
    pre-activation range, under the key ``"<layer>@pre"``."""
    k = keras_of(world)
    layers = [layer for layer in model.layers if not hasattr(layer, "layers") or not layer.weights]
    outs = [layer.output for layer in layers]
    inp = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = k.Model(inp, outs)
    ranges: dict[str, list[float]] = {}

    def collect(names, values):
        for name, v in zip(names, values):
            v = np.asarray(v)
            lo, hi = float(v.min()), float(v.max())
            old = ranges.get(name)
            ranges[name] = [lo, hi] if old is None else [min(old[0], lo), max(old[1], hi)]

    names = [layer.name for layer in layers]
    for i in range(0, len(x), batch_size):
        vals = probe(x[i: i + batch_size], training=False)
        collect(names, vals if isinstance(vals, (list, tuple)) else [vals])
    fused = [layer for layer in layers if _fused_activation(layer)]
    if fused:
        linear = k.activations.get("linear")
        saved = {layer.name: layer.activation for layer in fused}
        try:
            for layer in fused:
                layer.activation = linear
            probe = k.Model(inp, [layer.output for layer in fused])
            for i in range(0, len(x), batch_size):
                vals = probe(x[i: i + batch_size], training=False)
                collect([f"{layer.name}@pre" for layer in fused], vals if isinstance(vals, (list, tuple)) else [vals])
        finally:
            for layer in fused:
                layer.activation = saved[layer.name]
    return {n: (lo, hi) for n, (lo, hi) in ranges.items()}


def fixed_for(lo: float, hi: float, width: int, *, extra: int = 0, rounding="RND", saturation="SAT") -> str:
    """An hls4ml precision string covering [lo, hi] in ``width`` bits (signed unless lo >= 0)."""
    signed = lo < 0
    i = integer_bits(max(abs(lo), abs(hi))) + extra + int(signed)
    width = max(width, i + 1)
    kind = "fixed" if signed else "ufixed"
    return f"{kind}<{width},{i},{rounding},{saturation}>"


def _hls_name_range(name: str, model_layers: dict, ranges: dict):
    """The profiled range of the tensor hls4ml calls ``name`` (None when it has no Keras twin)."""
    layer = model_layers.get(name)
    if layer is not None:
        if _fused_activation(layer) and f"{name}@pre" in ranges:
            return ranges[f"{name}@pre"]
        return ranges.get(name)
    for kname, klayer in model_layers.items():  # "<layer>_<activation>" split off by hls4ml
        if name.startswith(kname + "_") and name in (f"{kname}_{_fused_activation(klayer)}", f"{kname}_linear"):
            return ranges.get(kname)
    return None


# --------------------------------------------------------------------------- configuration


@contextlib.contextmanager
def _quiet():
    """hls4ml prints progress (and "da4ml missing" notes for its optional fallback) and warns a lot."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _convert(model, world: str, config: dict, out_dir: Path, opts: HlsOptions, io_type: str):
    import hls4ml

    kwargs = dict(hls_config=config, output_dir=str(out_dir), backend=opts.backend, io_type=io_type,
                  clock_period=opts.clock_period, project_name=opts.project_name)
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
        return UnsupportedModelError("hls4ml", model.name, named or [("?", cls)], "hls4ml 1.3 has no converter for it")
    return ExportError(f"hls4ml: conversion of {model.name!r} failed: {text[:500]}")


def _initial_config(model, world: str, opts: HlsOptions) -> dict:
    import hls4ml

    default = DEFAULT_PRECISION if opts.precision == "default" else FALLBACK_PRECISION
    with keras_module_as(world), _quiet():
        try:
            cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=opts.backend,
                                                       default_precision=default,
                                                       default_reuse_factor=opts.reuse_factor)
        except Exception as exc:  # noqa: BLE001
            raise _conversion_error(model, exc) from exc
    cfg["Model"]["Strategy"] = opts.strategy
    cfg["Model"]["ReuseFactor"] = opts.reuse_factor
    for lc in cfg.get("LayerName", {}).values():
        if "ReuseFactor" in lc:
            lc["ReuseFactor"] = opts.reuse_factor
    return cfg


def build_config(model, world: str, x_profile: np.ndarray, opts: HlsOptions, io_type: str, scratch: Path):
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
    rnd, sat = opts.rounding, opts.saturation
    layers = {layer.name: layer for layer in all_layers(model)}
    ranges = profile_ranges(model, world, x_profile)
    qlayer = {n for n, layer in layers.items() if type(layer).__module__.startswith("qkeras")}

    # Pass 1: activations from the profile (quantizer types kept).
    for name, lc in cfg.get("LayerName", {}).items():
        prec = lc.setdefault("Precision", {})
        src = sources.setdefault(name, {})
        for var, val in list(prec.items()):
            if var not in ("result", "weight", "bias") and val != "auto":
                continue
            if val != "auto":
                src[var] = "quantizer"
        res = prec.get("result", "auto")
        if res != "auto":
            continue
        base = name if name in layers else None
        if base in qlayer and layers[base].weights:
            src["result"] = "auto (exact accumulator of a quantized layer)"
            continue
        rng = _hls_name_range(name, layers, ranges)
        if rng is None:
            continue
        prec["result"] = fixed_for(*rng, _layer_width(opts, name, "result", opts.width), extra=opts.headroom_bits,
                                   rounding=rnd, saturation=sat)
        src["result"] = "profile"

    # Pass 2: convert once, then size what only the converted graph shows.
    graph = _convert(model, world, cfg, scratch, opts, io_type)
    lcfg = cfg.setdefault("LayerName", {})
    for node in graph.get_layers():
        lc = lcfg.setdefault(node.name, {"Precision": {}})
        prec = lc.setdefault("Precision", {})
        src = sources.setdefault(node.name, {})
        for var, w in node.weights.items():
            if src.get(var) == "quantizer" or node.get_attr(f"{var}_quantizer") is not None:
                src[var] = "quantizer"
                continue
            data = np.asarray(getattr(w, "data_unquantized", None) if getattr(w, "data_unquantized", None) is not None else w.data,
                              dtype=np.float64)
            lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
            prec[var] = fixed_for(lo, hi, _layer_width(opts, node.name, var, wbits), rounding="RND", saturation="SAT")
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
    return cfg, {"mode": "profile", "width": opts.width, "layer_widths": opts.layer_widths, "weight_width": wbits, "headroom_bits": opts.headroom_bits,
                 "rounding": rnd, "saturation": sat, "profile_samples": int(len(x_profile)), "sources": sources}


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
    if lc["Precision"].get("result", "auto") in ("auto",) or sources.get(node.name, {}).get("result") == "profile":
        lc["Precision"]["result"] = f"ufixed<{opts.width},1,RND,SAT>"
    sources.setdefault(node.name, {}).update({"result": "probabilities in [0, 1]", "tables": f"{opts.softmax_table_size} entries"})
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
    m = re.fullmatch(r"(u?fixed)<(\d+),(-?\d+)(.*)>", str(prev.get_output_variable().type.precision))
    if not m:
        return False
    kind, w, i, rest = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    pc = cfg.setdefault("LayerName", {}).setdefault(prev.name, {}).setdefault("Precision", {})
    pc["result"] = f"{kind}<{w + 1},{i + 1}{rest}>"
    src["softmax_bit"] = "+1 integer bit for the stable softmax"
    return True


def _softmax_inputs_widened(graph, cfg: dict, sources: dict) -> bool:
    """Check the converted graph (hls4ml may merge or keep linear activations in front of a
    softmax depending on the precisions set); True if the config had to change."""
    changed = False
    for node in graph.get_layers():
        if node.class_name == "Softmax" and str(node.get_attr("implementation", "stable")) == "stable":
            changed |= _widen_softmax_input(node, cfg, sources)
    return changed


# --------------------------------------------------------------------------- export


def export_hls(model, out_dir, *, world: str, x_profile: np.ndarray, x_test: np.ndarray,
               opts: HlsOptions | None = None, optimize: str = "-O3") -> HlsResult:
    """Convert, write and compile ``model`` into ``out_dir``; C-simulate it on ``x_test``.

    The project is built in a temporary directory next to ``out_dir`` and renamed when done.
    ``optimize``: g++'s optimization flag for the C simulation library (hls4ml's is -O3; the
    precision search compiles its candidates with -O0, several times faster to build and the
    same integer arithmetic).
    """
    opts = (opts or HlsOptions()).check()
    check_supported(model, world)
    parser = "keras 3" if world == "keras" else "keras 2"
    if world == "keras" and any(type(la).__name__ in KERAS2_PARSER_ONLY for la in all_layers(model)):
        model, world, parser = keras2_twin(model), "tf_keras", "keras 2 (tf-keras twin, weights by name)"
    conv_model, renamed = without_reserved_names(model, world)
    io_type = opts.io_type or io_type_for(model)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    scratch = out_dir.with_name(f".{out_dir.name}.scratch-{os.getpid()}")
    for d in (work, scratch):
        shutil.rmtree(d, ignore_errors=True)
    try:
        x_prof = np.ascontiguousarray(x_profile[: opts.profile_samples], dtype=np.float32)
        cfg, precision = build_config(conv_model, world, x_prof, opts, io_type, scratch)
        hls_model = _convert(conv_model, world, cfg, work, opts, io_type)
        for _ in range(3):  # the final graph decides which tensor feeds each softmax
            if opts.precision == "default" or not _softmax_inputs_widened(hls_model, cfg, precision["sources"]):
                break
            shutil.rmtree(work, ignore_errors=True)
            hls_model = _convert(conv_model, world, cfg, work, opts, io_type)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hls_model.write()
            if optimize != "-O3":
                script = work / "build_lib.sh"
                script.write_text(script.read_text().replace('CFLAGS="-O3 ', f'CFLAGS="{optimize} '))
            try:
                hls_model.compile()
            except Exception as exc:  # noqa: BLE001
                raise ExportError(f"hls4ml: C simulation build (g++) of {model.name!r} failed: {exc}") from exc
            y = hls_model.predict(np.ascontiguousarray(x_test, dtype=np.float32))
        y = np.asarray(y, dtype=np.float32).reshape(len(x_test), -1)
        synthesis = synthesize(hls_model, opts)
        info = {
            "backend": opts.backend,
            "io_type": io_type,
            "strategy": opts.strategy,
            "reuse_factor": opts.reuse_factor,
            "part": hls_model.config.get_config_value("Part"),
            "clock_period_ns": opts.clock_period,
            "project_name": opts.project_name,
            "renamed_layers": renamed,
            "parser": parser,
            "precision": precision,
            "layer_types": layer_types(hls_model),
            "weight_storage": weight_storage(hls_model),
            "c_simulation": "compiled with g++ and run on the parity inputs",
            "synthesis": synthesis,
            "options": asdict(opts),
        }
        _write_config_record(work, cfg)
        replace_dir(work, out_dir)
        _fix_output_dir(out_dir, work)
        return HlsResult(out_dir, y, info)
    finally:
        for d in (work, scratch):
            shutil.rmtree(d, ignore_errors=True)


def adopt(res: HlsResult, out_dir, opts: HlsOptions) -> HlsResult:
    """Move a finished project (the precision search's confirmed choice) to ``out_dir``."""
    out_dir = Path(out_dir)
    old = res.project_dir
    replace_dir(old, out_dir)
    _fix_output_dir(out_dir, old)
    tool = SYNTH_TOOLS[opts.backend]
    if opts.synth is True:
        raise ExportError(f"hls4ml: synthesis requested but {tool} ({opts.backend} HLS) is not on PATH")
    why = "synthesis not requested (synth=False)" if opts.synth is False else f"{tool} ({opts.backend} HLS) not on PATH"
    info = {**res.info, "options": asdict(opts), "synthesis": {"run": False, "why": why},
            "c_simulation": "compiled with g++ (-O0) and run on the parity inputs by the precision search"}
    return HlsResult(out_dir, res.outputs, info)


def layer_types(hls_model) -> list[dict]:
    """Per hls4ml layer: class, output type and weight types (what the firmware computes in)."""
    rows = []
    for node in hls_model.get_layers():
        row = {"name": node.name, "class": node.class_name,
               "result": str(node.get_output_variable().type.precision)}
        for var, w in node.weights.items():
            row[var] = str(w.type.precision)
            if var == "weight":
                row["nonzero_weights"] = int(np.count_nonzero(np.asarray(w.data)))
        if node.get_attr("accum_t") is not None:
            row["accum"] = str(node.get_attr("accum_t").precision)
        rows.append(row)
    return rows


def weight_storage(hls_model) -> dict:
    """Weights and biases as the firmware holds them: counts and bits (total and non-zero)."""
    n = nz = bits = nz_bits = 0
    for node in hls_model.get_layers():
        for w in node.weights.values():
            data = np.asarray(w.data)
            width = getattr(w.type.precision, "width", 32)
            k = int(data.size)
            z = int(np.count_nonzero(data))
            n, nz, bits, nz_bits = n + k, nz + z, bits + k * width, nz_bits + z * width
    return {"weights": n, "nonzero_weights": nz, "bits": bits, "nonzero_bits": nz_bits}


def _write_config_record(project: Path, cfg: dict):
    import json

    from zoo.io import _json_default

    (project / "edgezoo_hls_config.json").write_text(json.dumps(cfg, indent=2, default=_json_default) + "\n")


def _fix_output_dir(project: Path, old: Path):
    """hls4ml records its output directory in hls4ml_config.yml; point it at the final place."""
    yml = project / "hls4ml_config.yml"
    if yml.exists():
        yml.write_text(yml.read_text().replace(str(old), str(project)))


# --------------------------------------------------------------------------- synthesis


def synth_tool(backend: str) -> str | None:
    return shutil.which(SYNTH_TOOLS[backend])


def synthesize(hls_model, opts: HlsOptions) -> dict:
    """Run C synthesis when asked for and possible; else say why not. Never invents figures."""
    tool = SYNTH_TOOLS[opts.backend]
    if opts.synth is False:
        return {"run": False, "why": "synthesis not requested (synth=False)"}
    if synth_tool(opts.backend) is None:
        if opts.synth is True:
            raise ExportError(f"hls4ml: synthesis requested but {tool} ({opts.backend} HLS) is not on PATH")
        return {"run": False, "why": f"{tool} ({opts.backend} HLS) not on PATH"}
    with contextlib.redirect_stdout(io.StringIO()):
        hls_model.build(csim=False, synth=True, cosim=False, export=False, vsynth=False)
    return {"run": True, "tool": tool, **parse_report(hls_model.config.get_output_dir())}


def parse_report(project_dir) -> dict:
    """Latency (cycles), initiation interval and resources from the C-synthesis report."""
    from hls4ml.report import parse_vivado_report

    with contextlib.redirect_stdout(io.StringIO()):
        rep = parse_vivado_report(str(project_dir)) or {}
    syn = rep.get("CSynthesisReport")
    if not syn:
        return {"report": None, "why": "no C-synthesis report found in the project"}

    def num(key):
        v = syn.get(key)
        try:
            return int(v)
        except (TypeError, ValueError):
            try:
                return float(v)
            except (TypeError, ValueError):
                return v

    out = {
        "source": "Vivado/Vitis HLS C-synthesis report",
        "latency_cycles": {"best": num("BestLatency"), "worst": num("WorstLatency")},
        "interval_cycles": {"min": num("IntervalMin"), "max": num("IntervalMax")},
        "clock_ns": {"target": num("TargetClockPeriod"), "estimated": num("EstimatedClockPeriod")},
        "resources": {k: num(k) for k in ("LUT", "FF", "DSP", "BRAM_18K", "URAM") if k in syn},
        "available": {k[len("Available"):]: num(k) for k in syn if k.startswith("Available")},
    }
    best, target = out["latency_cycles"]["best"], out["clock_ns"]["target"]
    if isinstance(best, int) and isinstance(target, (int, float)):
        out["latency_ns"] = round(best * target, 3)
    vsyn = rep.get("VivadoSynthReport")
    if vsyn:  # post-synthesis utilization (vsynth=True): the figures an FPGA user quotes
        out["vivado_synth"] = {"source": "Vivado synthesis report (vivado_synth.rpt)",
                               "resources": {("DSP" if k == "DSP48E" else k): _int_or(v) for k, v in vsyn.items()}}
    return out


def _int_or(v):
    try:
        return int(str(v).strip())
    except ValueError:
        return v
