"""C synthesis (only when the vendor tool is on PATH) and its report."""

from __future__ import annotations

import contextlib
import io
import shutil

from export.errors import ExportError
from export.targets.hls4ml.options import SYNTH_TOOLS, HlsOptions

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
            raise ExportError(
                f"hls4ml: synthesis requested but {tool} ({opts.backend} HLS) is not on PATH"
            )
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
        "available": {k[len("Available") :]: num(k) for k in syn if k.startswith("Available")},
    }
    best, target = out["latency_cycles"]["best"], out["clock_ns"]["target"]
    if isinstance(best, int) and isinstance(target, (int, float)):
        out["latency_ns"] = round(best * target, 3)
    vsyn = rep.get("VivadoSynthReport")
    if vsyn:  # post-synthesis utilization (vsynth=True): the figures an FPGA user quotes
        out["vivado_synth"] = {
            "source": "Vivado synthesis report (vivado_synth.rpt)",
            "resources": {("DSP" if k == "DSP48E" else k): _int_or(v) for k, v in vsyn.items()},
        }
    return out


def _int_or(v):
    try:
        return int(str(v).strip())
    except ValueError:
        return v
