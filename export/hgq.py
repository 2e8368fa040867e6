"""Bit-exact FPGA export of an HGQ2 model (``compress`` step ``hgq``).

* RTL: da4ml's own HGQ2 tracer (``da4ml.converter.trace_model``) -> Verilog, simulated with
  Verilator (:mod:`export.rtl`'s helpers) on the whole test split and required to equal the
  Keras model's outputs exactly; latency from the pipeline, LUT/FF from da4ml's estimate and
  LUT/FF/DSP from ``yosys synth_xilinx``.
* hls4ml: its HGQ2 path (the precision of every tensor comes from the model), ``io_parallel``,
  the g++ C simulation required to equal the Keras model exactly on the whole test split.

Each mismatch count is recorded; a non-zero one fails the export (:class:`ExportError`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from export.errors import ExportError, ExportOptionsError


def is_hgq(model) -> bool:
    """Whether ``model`` holds HGQ2 layers."""
    return any(type(la).__module__.startswith("hgq.") for la in model._flatten_layers())


def _mismatch(y: np.ndarray, y_ref: np.ndarray) -> dict:
    y, y_ref = np.asarray(y, np.float64).reshape(y_ref.shape), np.asarray(y_ref, np.float64)
    mism = int(np.sum(np.any(y != y_ref, axis=1)))
    return {
        "n": int(len(y_ref)),
        "mismatched_samples": mism,
        "bit_exact": mism == 0,
        "max_abs_diff": float(np.max(np.abs(y - y_ref))) if len(y_ref) else 0.0,
        "against": "the Keras HGQ2 model's outputs",
    }


def keras_outputs(model, x) -> np.ndarray:
    y = np.asarray(model.predict(np.asarray(x, np.float32), batch_size=1024, verbose=0))
    return y.astype(np.float64).reshape(len(x), -1)


def export_hgq_rtl(
    model,
    out_dir,
    x_test,
    *,
    clock_period: float = 5.0,
    latency_cutoff: float = 5.0,
    yosys="auto",
    yosys_timeout: float = 1800.0,
    project_name: str = "model",
    progress=None,
) -> dict:
    """Verilog of an HGQ2 model by da4ml, Verilator-simulated against Keras, sized by yosys."""
    from da4ml.codegen import RTLModel
    from da4ml.converter import trace_model
    from da4ml.trace import comb_trace

    from export.rtl import SOURCE_DA4ML, _simulate, synth_yosys
    from zoo.core.transaction import replace_dir_atomically as replace_dir

    say = progress if callable(progress) else (lambda m: None)
    out_dir = Path(out_dir)
    x = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    y_keras = keras_outputs(model, x_test)
    t0 = time.perf_counter()
    comb = comb_trace(*trace_model(model))
    t_trace = time.perf_counter() - t0
    y_emu = np.asarray(comb.predict(x, n_threads=1), dtype=np.float64)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # a fresh scratch directory of this export's own (never a guessed name to clean first)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        rtl = RTLModel(
            comb,
            project_name,
            work,
            flavor="verilog",
            latency_cutoff=latency_cutoff,
            print_latency=False,
            part_name="xcvu13p-flga2577-2-e",
            clock_period=clock_period,
        )
        rtl.write()
        stages, reg_bits = len(rtl._pipe.solutions), int(rtl._pipe.reg_bits)
        sim = _simulate(rtl, x, y_emu, True, say)
        syn = synth_yosys(work, project_name, yosys, yosys_timeout, say)
        for so in (work / "sim").glob("*.so"):
            so.unlink()
        replace_dir(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    y_rtl = sim.pop("_outputs")
    vs_keras = _mismatch(y_rtl, y_keras)
    info = {
        "tool": "da4ml (HGQ2 tracer: da4ml.converter.trace_model)",
        "top": project_name,
        "trace_seconds": round(t_trace, 2),
        "emulation_vs_keras": _mismatch(y_emu, y_keras),
        "rtl_simulation": {**sim, "vs_keras": vs_keras},
        "latency": {
            "source": SOURCE_DA4ML,
            "cycles": stages,
            "clock_ns": clock_period,
            "ns": round(stages * clock_period, 3),
            "interval_cycles": 1,
        },
        "resources": [
            {"source": SOURCE_DA4ML, "LUT": int(round(comb.cost)), "FF": reg_bits, "DSP": 0}
        ]
        + ([syn["resources"]] if syn.get("run") else []),
        "yosys": syn,
        "accuracy_outputs": y_rtl,
    }
    if not vs_keras["bit_exact"]:
        raise ExportError(
            f"hgq rtl: {vs_keras['mismatched_samples']} of {vs_keras['n']} test samples differ "
            f"between the Verilator simulation and the Keras HGQ2 model "
            f"(max |diff| {vs_keras['max_abs_diff']:g})."
        )
    return info


def export_hgq_hls4ml(
    model, out_dir, x_test, *, strategy: str = "Latency", part: str | None = None
) -> dict:
    """hls4ml's HGQ2 conversion (precision from the model), g++ C simulation against Keras."""
    import hls4ml

    out_dir = Path(out_dir)
    y_keras = keras_outputs(model, x_test)
    t0 = time.perf_counter()
    kw = {"part": part} if part else {}
    hm = hls4ml.converters.convert_from_keras_model(
        model,
        output_dir=str(out_dir),
        backend="Vitis",
        io_type="io_parallel",
        hls_config={
            "Model": {"Precision": "ap_fixed<1,0>", "ReuseFactor": 1, "Strategy": strategy}
        },
        **kw,
    )
    hm.compile()
    t_build = time.perf_counter() - t0
    x = np.ascontiguousarray(np.asarray(x_test, np.float64))
    y = np.asarray(hm.predict(x), np.float64).reshape(y_keras.shape)
    parity = _mismatch(y, y_keras)
    info = {
        "tool": f"hls4ml {hls4ml.__version__} (HGQ2 path, io_parallel, {strategy})",
        "compile_seconds": round(t_build, 1),
        "csim": parity,
        "accuracy_outputs": y,
    }
    if not parity["bit_exact"]:
        raise ExportError(
            f"hgq hls4ml: {parity['mismatched_samples']} of {parity['n']} test samples differ "
            f"between the C simulation and the Keras HGQ2 model (max |diff| {parity['max_abs_diff']:g})."
        )
    return info


def check_targets(to) -> None:
    """ONNX/TFLite/OpenVINO of an HGQ2 model: refused in one line (its quantizers are custom
    Keras 3 layers those converters do not know; the float model it came from exports)."""
    other = [t for t in to if t != "hls4ml"]
    if other:
        raise ExportOptionsError(
            f"{', '.join(other)}: an HGQ2 model exports to FPGA only (--to hls4ml: hls4ml project "
            "and RTL, both bit-exact); export the float model it came from for the other formats."
        )


def target_export(rec, model) -> None:
    """The ``hls4ml`` target for an HGQ2 model: variant ``fixed`` is hls4ml's HGQ2 project
    (C simulation bit-exact to Keras), variant ``rtl`` da4ml's Verilog (Verilator bit-exact)."""
    x = rec.data.x_test

    def fixed():
        info = export_hgq_hls4ml(model, rec.out / "hls4ml", x)
        y = info.pop("accuracy_outputs")
        rec.csim_outputs = y
        parity = rec.parity("hls4ml", "fixed", y)
        return rec.entry(rec.out / "hls4ml", "hls4ml", "fixed", parity, hls4ml=info)

    def rtl():
        info = export_hgq_rtl(model, rec.out / "rtl", x)
        y = info.pop("accuracy_outputs")
        parity = rec.parity("hls4ml", "rtl", y)
        return rec.entry(rec.out / "rtl", "hls4ml", "rtl", parity, rtl=info)

    rec.attempt("hls4ml", "fixed", fixed)
    rec.attempt("hls4ml", "rtl", rtl)
