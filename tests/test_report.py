"""edgezoo/report.py: report.md is built from the files the stages wrote -- every figure read
back, none re-typed. A pipeline directory is assembled from the session's shared runs
(tests/conftest.py: train, compress, export) and hand-written bench.json files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgezoo.report import bench_table, fpga_rows, fpga_section, write_report


def result(artifact, runtime, batch, threads, **kw):
    row = {
        "artifact": artifact,
        "runtime": runtime,
        "batch": batch,
        "threads": threads,
        "bytes": 1000,
        "p50_us": 10.0,
        "throughput_sps": 100.0,
    }
    return {**row, **kw}


def write_bench(folder: Path, results, hls4ml=()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.json"
    path.write_text(json.dumps({"results": list(results), "hls4ml": list(hls4ml)}))
    return path


def rows_of(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def table_after(text: str, heading: str) -> list[list[str]]:
    """The rows of the first markdown table after ``heading``."""
    lines = text.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)
    return rows_of("\n".join(block))


def test_summary_table_takes_batch_1_at_the_fewest_threads_and_the_best_batch_throughput(tmp_path):
    bench = write_bench(
        tmp_path / "float",
        [
            result("model.onnx", "onnxruntime", 1, 2, p50_us=5.0),
            result("model.onnx", "onnxruntime", 1, 1, p50_us=1500.0, accuracy=0.95),
            result("model.onnx", "onnxruntime", 32, 1, throughput_sps=4000.0),
            result("model.onnx", "onnxruntime", 64, 1, throughput_sps=9000.4),
            result(
                "model.onnx", "keras_predict", 64, 1, throughput_sps=99999.0
            ),  # not a runtime row
            result("model.tflite", "litert", 1, 1, error="boom"),  # failed: no row
        ],
    )
    (row,) = rows_of(bench_table([bench]))
    assert row == ["float", "model.onnx", "1,000", "0.9500", "1.50 ms", "9,000"]


def test_summary_table_marks_unverified_and_failed_parity_artifacts(tmp_path):
    bench = write_bench(
        tmp_path / "qat",
        [
            result("a.onnx", "onnxruntime", 1, 1, changed=True),
            result("b.onnx", "onnxruntime", 1, 1, verified=False),
            result("c.onnx", "onnxruntime", 8, 1),
        ],
        hls4ml=[
            {
                "artifact": "hls4ml",
                "variant": "fixed",
                "weight_storage": {"nonzero_bits": 8 * 1234},
                "csim_accuracy": 0.9,
                "synthesis": {"run": False},
            }
        ],
    )
    rows = rows_of(bench_table([bench]))
    assert [r[1] for r in rows] == [
        "a.onnx (changed since export: unverified)",
        "b.onnx (parity not passed)",
        "c.onnx",
        "hls4ml",
    ]
    assert rows[2][4] == "-" and rows[2][5] == "100"  # no batch-1 row; its only batch > 1
    assert rows[3][2:5] == ["1,234 (weights)", "0.9000", "not synthesized"]


def test_fpga_rows_say_where_each_figure_comes_from(tmp_path):
    man = tmp_path / "qat" / "manifest.json"
    man.parent.mkdir()
    rtl = {
        "rtl_simulation": {"run": True, "bit_exact": False, "n": 10, "mismatched_samples": 1},
        "latency": {"cycles": 7, "ns": 35.0, "interval_cycles": 1},
        "resources": [
            {"source": "da4ml estimate", "LUT": 1200, "FF": 300, "DSP": 0, "BRAM_18K": 0},
            {"source": "yosys synth_xilinx", "LUT": 1100},
        ],
    }
    arts = [
        {"format": "onnx", "variant": "fp32"},
        {"format": "hls4ml", "variant": "fixed", "error": "failed"},  # no figures: no row
        {
            "format": "hls4ml",
            "variant": "fixed",
            "parity": {"accuracy": 0.9},
            "synthesis": {"run": False, "why": "vitis-run (Vitis HLS) not on PATH"},
        },
        {"format": "hls4ml", "variant": "rtl", "parity": {"accuracy": 0.8}, "rtl": rtl},
    ]
    man.write_text(json.dumps({"source": {}, "artifacts": arts}))  # a manifest has a source
    rows = fpga_rows([man], tmp_path)
    assert [r[-1] for r in rows] == [
        "not synthesized: vitis-run (Vitis HLS) not on PATH",
        "da4ml estimate (latency too)",
        "yosys synth_xilinx",
    ]
    assert rows[1][:8] == [
        "qat",
        "hls4ml rtl (Verilog)",
        "0.8000 (RTL sim)",
        "9/10 equal",
        "7",
        "35.0",
        "1",
        "1,200",
    ]
    section = fpga_section([man], tmp_path)
    assert section[0] == "## FPGA figures" and "yosys synth_xilinx" in section[2]
    assert fpga_section([], tmp_path) == []


@pytest.fixture
def pipeline_dir(tmp_path, mlp_digits_run, mlp_digits_compressed, mlp_digits_export):
    """A pipeline output directory as run_pipeline leaves it before the bench: train/, compress/
    (the chain's summary) and export/float/ -- copies of the shared runs."""
    out = tmp_path / "mlp"
    shutil.copytree(mlp_digits_run, out / "train")
    (out / "compress").mkdir()
    shutil.copy(mlp_digits_compressed.out / "compression.json", out / "compress")
    shutil.copytree(mlp_digits_export, out / "export" / "float")
    return out


def test_write_report_reads_every_stage_from_its_files(pipeline_dir):
    state = {
        "identity": {"model": "mlp", "dataset": "digits"},
        "stages": {"train": {"status": "done", "seconds": 12.345}, "bench": {"status": "pending"}},
    }
    path = write_report(pipeline_dir, state)
    text = path.read_text()
    assert path == pipeline_dir / "report.md" and text.startswith("# edgezoo report: mlp on digits")
    metrics = json.loads((pipeline_dir / "train" / "metrics.json").read_text())
    cfg = json.loads((pipeline_dir / "train" / "config.json").read_text())
    assert f"mlp ({metrics['params']:,} parameters) on digits" in text
    assert f"{cfg['data']['n_train']} train / {cfg['data']['n_val']} val" in text
    assert ["accuracy", f"{metrics['accuracy']:.4f}"] in table_after(text, "## Training")
    assert table_after(text, "## Stages") == [["train", "done", "12.3"], ["bench", "pending", "-"]]
    assert "![training history](train/history.png)" in text
    # compression: one row per step, with the chain's own figures
    comp = json.loads((pipeline_dir / "compress" / "compression.json").read_text())
    steps = table_after(text, "## Compression")
    assert [r[0] for r in steps] == [row["stage"] for row in comp["rows"]]
    assert [r[1] for r in steps] == [f"{row['accuracy']:.4f}" for row in comp["rows"]]
    # export parity: every artifact of the manifest, each "pass"
    man = json.loads((pipeline_dir / "export" / "float" / "manifest.json").read_text())
    parity = table_after(text, "## Export parity")
    assert [r[:3] for r in parity] == [
        ["float", a["format"], a["variant"]] for a in man["artifacts"]
    ]
    assert [r[-1] for r in parity] == ["pass"] * len(man["artifacts"])
    assert "## FPGA figures" in text and "not synthesized" in text  # the hls4ml artifact
    assert "## Summary" not in text  # no bench.json yet: no summary, no plots


def test_a_failed_parity_is_shown_as_fail(pipeline_dir):
    mpath = pipeline_dir / "export" / "float" / "manifest.json"
    man = json.loads(mpath.read_text())
    man["artifacts"][0]["parity"]["passed"] = False
    mpath.write_text(json.dumps(man))
    text = write_report(
        pipeline_dir, {"identity": {"model": "m", "dataset": "d"}, "stages": {}}
    ).read_text()
    verdicts = [r[-1] for r in table_after(text, "## Export parity")]
    assert verdicts[0] == "FAIL" and verdicts[1:] == ["pass"] * (len(verdicts) - 1)
