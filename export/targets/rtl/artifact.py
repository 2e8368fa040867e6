"""The ``rtl`` artifact in the export's manifest: made or not, its parity against Keras, its
agreement with the hls4ml C simulation of the same export, and its one-line summary."""

from __future__ import annotations

import numpy as np

from export.targets.rtl.verilog import export_rtl


def wanted(model, mode) -> bool:
    """Whether the RTL artifact is made: ``mode`` True, or "auto" and a quantized model."""
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


def artifact(rec, model) -> dict:
    """The manifest entry of the RTL artifact of a QKeras model: format ``hls4ml``, variant
    ``rtl``, folder ``rtl/`` (the names it had when it was an hls4ml variant: manifests and
    run directories stay as they were). The FPGA settings (input width, clock, part, profiled
    samples) are the export's hls4ml options; the rtl target's own are its ``rtl_*`` options."""
    o, hls = rec.options, rec.options.hls4ml
    x_prof = rec.data.profile_set(hls.profile_samples)
    res = export_rtl(
        model,
        rec.out / "rtl",
        x_profile=x_prof,
        x_test=rec.data.x_test,
        input_width=hls.width,
        clock_period=hls.clock_period,
        latency_cutoff=o.rtl_latency_cutoff,
        part=hls.part,
        yosys=o.rtl_yosys,
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
    vs_keras = _vs_keras_logits(model, rec.data.x_test, res.logits, info["logits_layer"])
    if vs_keras is not None:
        info["vs_keras_logits"] = vs_keras
    csim = rec.earlier("hls4ml", "fixed")  # this export's C simulation, when it made one
    if csim is not None:
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


def _vs_keras_logits(model, x, logits: np.ndarray, layer: str | None) -> dict | None:
    """The same function computed by Keras (float arithmetic on the quantized values), before
    softmax, against the RTL's logits."""
    from export.common import keras_of
    from zoo.core.worlds import world_of

    if not layer:
        return None
    k = keras_of(world_of(model))
    sub = k.Model(model.inputs, model.get_layer(layer).output)
    ref = np.asarray(sub.predict(x, verbose=0), dtype=np.float64).reshape(len(logits), -1)
    diff = np.abs(ref - logits)
    return {
        "max_abs_diff": float(diff.max()),
        "identical_samples": int(np.sum(diff.max(axis=1) == 0)),
        "n": int(len(diff)),
        "layer": layer,
        "note": "ties: QKeras rounds half to even, the RTL half up",
    }


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
