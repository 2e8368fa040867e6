"""FPGA figures without vendor tools: the synthesis-report parser, RTL via da4ml simulated with
Verilator, resources from yosys, and the automatic precision search."""

from __future__ import annotations

import shutil
from pathlib import Path

DATA = Path(__file__).parent / "data"


def test_parse_report_reads_a_vitis_project(tmp_path):
    """A Vitis HLS project laid out as hls4ml's report reader expects (project.tcl, hls.app,
    solution1/syn/report/myproject_csynth.xml, vivado_synth.rpt), in the real formats."""
    from export.hls import parse_report

    prj = shutil.copytree(DATA / "vitis_project", tmp_path / "prj")
    rep = parse_report(prj)
    assert rep["source"].startswith("Vivado/Vitis HLS")
    assert rep["latency_cycles"] == {"best": 12, "worst": 13}
    assert rep["interval_cycles"] == {"min": 1, "max": 1}
    assert rep["clock_ns"] == {"target": 5.0, "estimated": 3.468}
    assert rep["latency_ns"] == 60.0
    assert rep["resources"] == {"LUT": 42160, "FF": 6824, "DSP": 34, "BRAM_18K": 0, "URAM": 0}
    assert rep["available"]["LUT"] == 1728000 and rep["available"]["DSP"] == 12288
    assert rep["vivado_synth"]["resources"] == {"LUT": 36015, "FF": 5120, "BRAM_18K": 0, "URAM": 0, "DSP": 30}


def test_parse_report_without_a_report_says_so(tmp_path):
    from export.hls import parse_report

    prj = shutil.copytree(DATA / "vitis_project", tmp_path / "prj")
    (prj / "myproject_prj/solution1/syn/report/myproject_csynth.xml").unlink()
    rep = parse_report(prj)
    assert rep["report"] is None and "no C-synthesis report" in rep["why"]
