"""Bit-exact Verilog of an HGQ2 model (``compress`` step ``hgq``): da4ml's own HGQ2 tracer
(``da4ml.converter.trace_model``) -> Verilog (:func:`export.targets.rtl.verilog.build_verilog`),
simulated with Verilator on the whole test split and required to equal the Keras model's outputs
exactly; latency from the pipeline, LUT/FF from da4ml's estimate and LUT/FF/DSP from
``yosys synth_xilinx``. A non-zero mismatch count fails the export (:class:`ExportError`)."""

from __future__ import annotations

import time

import numpy as np

from export.errors import ExportError
from export.targets.hls4ml.hgq import keras_outputs, mismatch
from export.targets.rtl.verilog import SOURCE_DA4ML, build_verilog


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
    from da4ml.converter import trace_model
    from da4ml.trace import comb_trace

    x = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    y_keras = keras_outputs(model, x_test)
    t0 = time.perf_counter()
    comb = comb_trace(*trace_model(model))
    t_trace = time.perf_counter() - t0
    y_emu = np.asarray(comb.predict(x, n_threads=1), dtype=np.float64)
    built = build_verilog(
        comb,
        out_dir,
        x,
        y_emu,
        project_name=project_name,
        clock_period=clock_period,
        latency_cutoff=latency_cutoff,
        simulate=True,
        yosys=yosys,
        yosys_timeout=yosys_timeout,
        say=progress,
    )
    sim, syn, stages = built["simulation"], built["yosys"], built["stages"]
    y_rtl = sim.pop("_outputs")
    vs_keras = mismatch(y_rtl, y_keras)
    info = {
        "tool": "da4ml (HGQ2 tracer: da4ml.converter.trace_model)",
        "top": project_name,
        "trace_seconds": round(t_trace, 2),
        "emulation_vs_keras": mismatch(y_emu, y_keras),
        "rtl_simulation": {**sim, "vs_keras": vs_keras},
        "latency": {
            "source": SOURCE_DA4ML,
            "cycles": stages,
            "clock_ns": clock_period,
            "ns": round(stages * clock_period, 3),
            "interval_cycles": 1,
        },
        "resources": [
            {
                "source": SOURCE_DA4ML,
                "LUT": int(round(comb.cost)),
                "FF": built["reg_bits"],
                "DSP": 0,
            }
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


def artifact(rec, model) -> dict:
    """The ``rtl`` artifact of an HGQ2 model (format hls4ml, variant rtl, folder ``rtl/``)."""
    o = rec.options
    info = export_hgq_rtl(
        model,
        rec.out / "rtl",
        rec.data.x_test,
        clock_period=o.hls4ml.clock_period,
        latency_cutoff=o.rtl_latency_cutoff,
        yosys=o.rtl_yosys,
        progress=rec.say,
    )
    y = info.pop("accuracy_outputs")
    parity = rec.parity("hls4ml", "rtl", y)
    return rec.entry(rec.out / "rtl", "hls4ml", "rtl", parity, rtl=info)
