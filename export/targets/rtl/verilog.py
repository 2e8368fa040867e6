"""Verilog from a traced fixed-point function (da4ml), simulated with Verilator, sized by da4ml's
estimate and yosys: :func:`export_rtl` for a QKeras model, :func:`build_verilog` for any traced
function (the HGQ2 path of :mod:`export.targets.rtl.hgq` uses it too)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.errors import ExportError
from export.targets.rtl.tools import verilator_env
from export.targets.rtl.trace import Traced, input_kif, quantize_inputs, trace
from export.targets.rtl.yosys import synth_yosys

SOURCE_DA4ML = "da4ml estimate"
DEFAULT_PART = "xcvu13p-flga2577-2-e"


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
    from da4ml.trace import comb_trace

    say = progress if callable(progress) else (lambda m: None)
    out_dir = Path(out_dir)
    x_prof = np.asarray(x_profile, dtype=np.float64).reshape(len(x_profile), -1)
    kif = input_kif(float(x_prof.min()), float(x_prof.max()), input_width)
    t0 = time.perf_counter()
    traced = trace(model, kif, solver_options={"hard_dc": 2})
    comb = comb_trace(traced.inputs, traced.outputs)
    t_trace = time.perf_counter() - t0
    x_q = quantize_inputs(np.asarray(x_test).reshape(len(x_test), -1), kif)
    y_emu = np.asarray(comb.predict(x_q, n_threads=1), dtype=np.float64)
    built = build_verilog(
        comb,
        out_dir,
        x_q,
        y_emu,
        project_name=project_name,
        clock_period=clock_period,
        latency_cutoff=latency_cutoff,
        part=part,
        simulate=simulate,
        yosys=yosys,
        yosys_timeout=yosys_timeout,
        say=say,
    )
    logits = built["simulation"].pop("_outputs", None)
    info = _info(traced, comb, built, out_dir, project_name, clock_period, round(t_trace, 2))
    return RtlResult(out_dir, y_emu if logits is None else logits, info)


def build_verilog(
    comb,
    out_dir: Path,
    x_q: np.ndarray,
    y_emu: np.ndarray,
    *,
    project_name: str,
    clock_period: float,
    latency_cutoff: float,
    part: str | None = None,
    simulate: str | bool = "auto",
    yosys: str | bool = "auto",
    yosys_timeout: float = 900.0,
    say=None,
) -> dict:
    """Write the traced function ``comb`` as pipelined Verilog into ``out_dir`` (built in a fresh
    temporary sibling, put in place when done), simulate it on ``x_q`` against ``y_emu`` and
    size it with yosys: {"stages", "reg_bits", "latency_cutoff", "simulation", "yosys"}."""
    from da4ml.codegen import RTLModel

    from zoo.core.transaction import replace_dir_atomically, scratch_beside

    say = say if callable(say) else (lambda m: None)
    out_dir = Path(out_dir)
    work = scratch_beside(out_dir, "partial")  # a fresh scratch directory, never guessed
    try:
        rtl = RTLModel(
            comb,
            project_name,
            work,
            flavor="verilog",
            latency_cutoff=latency_cutoff,
            print_latency=False,
            part_name=part or DEFAULT_PART,
            clock_period=clock_period,
        )
        rtl.write()
        built = {
            "stages": len(rtl._pipe.solutions),
            "reg_bits": int(rtl._pipe.reg_bits),
            "latency_cutoff": float(rtl._latency_cutoff),
            "simulation": simulate_rtl(rtl, x_q, y_emu, simulate, say),
            "yosys": synth_yosys(work, project_name, yosys, yosys_timeout, say),
        }
        for so in (work / "sim").glob("*.so"):
            so.unlink()  # build output (the simulation library is loaded already)
        replace_dir_atomically(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return built


def _info(
    traced: Traced, comb, built: dict, out_dir: Path, top: str, clock_ns: float, t_trace: float
) -> dict:
    """What the manifest records about the Verilog of a QKeras model."""
    kif, stages, syn = traced.input_kif, built["stages"], built["yosys"]
    estimate = {
        "source": SOURCE_DA4ML,
        "LUT": int(round(comb.cost)),
        "FF": built["reg_bits"],
        "DSP": 0,
        "BRAM_18K": 0,
        "note": "da4ml's cost model: adders as LUTs, pipeline registers as FFs; "
        "constant multiplications become shift-and-add (no DSP, no BRAM)",
    }
    return {
        "tool": "da4ml",
        "flavor": "verilog",
        "top": top,
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
        "trace_seconds": t_trace,
        "latency": {
            "source": SOURCE_DA4ML,
            "cycles": stages,
            "clock_ns": clock_ns,
            "ns": round(stages * clock_ns, 3),
            "interval_cycles": 1,
            "latency_cutoff": built["latency_cutoff"],
            "note": "pipeline depth of the generated Verilog (registers between stages)",
        },
        "resources": [estimate] + ([syn["resources"]] if syn.get("run") else []),
        "yosys": syn,
        "rtl_simulation": built["simulation"],
    }


def simulate_rtl(rtl, x_q: np.ndarray, y_emu: np.ndarray, simulate, say) -> dict:
    """Build the Verilog with Verilator and run it on ``x_q``; compared bit for bit with ``y_emu``
    (its outputs under ``"_outputs"``), or why it was not run."""
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
