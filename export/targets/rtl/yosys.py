"""Open-source synthesis of the generated Verilog (``yosys synth_xilinx``) and its cell counts."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from export.errors import ExportError
from export.targets.rtl.tools import yosys_path, yosys_version

SOURCE_YOSYS = "yosys synth_xilinx"

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
