"""HGQ2 (learned per-weight precision) beside QKeras: install, compression step, bit-exact export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_qkeras_and_hgq_import_in_one_process():
    """`make install` puts hgq2 in .venv/hgq, appended to sys.path after site-packages by a .pth
    line: one process of the venv's python imports QKeras 0.9.0 (not hgq2's `qkeras` layer) and
    `hgq` together."""
    code = (
        "import json, importlib.metadata as m, qkeras.utils, qkeras, hgq;"
        "print(json.dumps({'qkeras': qkeras.__file__, 'hgq': hgq.__file__,"
        " 'qkeras_version': m.version('qkeras'), 'hgq2_version': m.version('hgq2')}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["qkeras_version"] == "0.9.0" and info["hgq2_version"] == "0.2.0"
    assert "site-packages/qkeras/" in info["qkeras"], info
    assert "site-packages" not in info["hgq"], info  # from the appended directory


@pytest.fixture(scope="session")
def hgq_chain(shared_dir):
    """A small float mlp (64-16-10) on digits and its HGQ2 step (a few epochs): built once per
    session under a lock (tests/conftest.py's build_once), so that an xdist worker that steals
    some of this file's tests reads it instead of training it again."""
    from conftest import build_once, load_compression

    def build(folder):
        from compress import compress
        from training import train

        run = train(
            "mlp", "digits", epochs=10, overrides={"widths": [16]}, out=folder / "run", verbose=0
        )
        compress(
            run.dir,
            hgq={"epochs": 4, "beta0": 1e-6, "beta1": 1e-4, "accuracy_budget": 0.02},
            out=folder / "c",
        )

    return load_compression(build_once(shared_dir, "mlp16-digits-hgq", build) / "c")


def test_hgq_step_is_recorded(hgq_chain):
    step = hgq_chain["hgq"]
    assert step.dir.name == "4-hgq" and (step.dir / "weight_bits.png").is_file()
    rep = json.loads((step.dir / "compression.json").read_text())
    assert rep["step"] == "hgq" and rep["after"]["accuracy"] > 0.8
    assert rep["ebops"] > 0 and 0 < rep["bits_per_weight_mean"] < 16
    assert 0 <= rep["pruned_fraction"] < 1
    assert set(rep["weight_bits"]) == {"fc1", "output"}
    assert sum(rep["weight_bits"]["fc1"]["histogram"].values()) == 64 * 16
    front = rep["pareto_front"]
    assert front and rep["chosen"] in front and len(rep["epochs"]) == 4
    ebops = [p["ebops"] for p in front]
    accs = [p["val_accuracy"] for p in front]
    assert ebops == sorted(ebops) and accs == sorted(accs)  # a front: more cost, more accuracy
    summary = json.loads((hgq_chain.out / "compression.json").read_text())
    assert summary["final"] == "4-hgq" and summary["request"]["hgq"]["epochs"] == 4
    # the summary row gives the learned bits per weight, not the float32 of the variables
    row = summary["rows"][-1]
    assert row["stage"] == "hgq" and row["bits_per_weight"] == round(rep["bits_per_weight_mean"], 4)
    assert rep["model"]["bits_per_weight"] == row["bits_per_weight"] < 16
    total = sum(e["total_bits"] for e in rep["weight_bits"].values())
    n = sum(e["weights"] for e in rep["weight_bits"].values())
    assert abs(row["bits_per_weight"] - total / n) < 1e-3
    assert row["sparsity"] == round(rep["pruned_fraction"], 6) == rep["model"]["sparsity"]


def test_hgq_rtl_and_hls4ml_are_bit_exact_to_keras(hgq_chain, tmp_path):
    """`--to hls4ml` of an HGQ2 model: the hls4ml target's project and, as before RTL became a
    target of its own, the rtl target's Verilog (format hls4ml, variant rtl), both bit-exact."""
    from export import export_run
    from training.model_dir import load_run, run_dataset

    _, cfg = load_run(hgq_chain["hgq"].dir)
    x = run_dataset(cfg).x_test
    man = export_run(hgq_chain["hgq"].dir, to=("hls4ml",), out=tmp_path / "exp", rtl_yosys=False)
    assert man["passed"], man["failures"]
    arts = {(a["format"], a["variant"]): a for a in man["artifacts"]}
    assert sorted(arts) == [("hls4ml", "fixed"), ("hls4ml", "rtl")]
    rtl = arts["hls4ml", "rtl"]["rtl"]
    assert arts["hls4ml", "rtl"]["path"] == "rtl"  # the layout of earlier exports
    sim = rtl["rtl_simulation"]
    assert sim["run"] and sim["n"] == len(x) and sim["vs_keras"]["mismatched_samples"] == 0
    assert rtl["emulation_vs_keras"]["bit_exact"] and rtl["latency"]["cycles"] >= 1
    assert rtl["resources"][0]["LUT"] > 0 and rtl["yosys"]["run"] is False
    hls = arts["hls4ml", "fixed"]["hls4ml"]
    assert hls["csim"]["n"] == len(x) and hls["csim"]["mismatched_samples"] == 0


def test_hgq_model_refuses_onnx_in_one_line(hgq_chain, tmp_path):
    from export import export_run
    from zoo.core.errors import EdgezooError

    with pytest.raises(EdgezooError, match="HGQ2 model exports to FPGA only"):
        export_run(hgq_chain["hgq"].dir, to=("onnx",), out=tmp_path / "x")


def test_the_pipeline_exports_an_hgq_model_to_its_fpga_targets_only(hgq_chain):
    """A recipe's ``export.to`` for every model: the HGQ2 step gets the FPGA targets among them
    (none: not exported, said), the other models all of them."""
    from edgezoo.pipeline import _targets_of

    to = ("onnx", "tflite", "hls4ml", "rtl", "tflm")
    assert _targets_of(hgq_chain["hgq"].dir, to) == ("hls4ml", "rtl")
    assert _targets_of(hgq_chain["hgq"].dir, ("onnx", "tflite")) == ()
    float_run = Path(hgq_chain.summary["source"])  # the chain's float model
    assert float_run.name == "run" and _targets_of(float_run, to) == to


def test_hgq_settings_are_checked_before_training():
    from compress.options import compress_options
    from zoo.core.errors import EdgezooError

    with pytest.raises(EdgezooError, match="unknown settings"):
        compress_options(hgq={"beta": 1e-4})
    with pytest.raises(EdgezooError, match="beta1 must be a number"):
        compress_options(hgq={"beta1": -1})
    with pytest.raises(EdgezooError, match="beta_end must be a number"):
        compress_options(hgq={"beta_end": "low"})
    for key, bad in (("weight_bits0", 0), ("act_f0", -1), ("batch_size", 2.5), ("epochs", True)):
        with pytest.raises(EdgezooError, match=f"{key} must be an integer"):
            compress_options(hgq={key: bad})


def test_yosys_result_is_reused_only_for_byte_identical_rtl(tmp_path):
    """bench-fpga's yosys cache: keyed by the sha256 of every file under src/ (names and
    bytes); any changed byte or renamed file is a different RTL and is not served."""
    from edgezoo.experiments.fpga import rtl_sha256, synth_cached

    rtl, cache = tmp_path / "rtl", tmp_path / "cache"
    (rtl / "src" / "static").mkdir(parents=True)
    (rtl / "src" / "model.v").write_text("module model(); endmodule\n")
    (rtl / "src" / "static" / "lib.v").write_text("module lib(); endmodule\n")
    sha = rtl_sha256(rtl)
    from export.targets.rtl.tools import yosys_version

    entry = {"run": True, "resources": {"source": "yosys synth_xilinx", "LUT": 7}}
    cache.mkdir()
    (cache / f"{sha}-yosys-{yosys_version()}.json".replace(" ", "_")).write_text(json.dumps(entry))
    got = synth_cached(rtl, cache, False, lambda m: None)
    assert got["run"] and got["resources"]["LUT"] == 7 and got["reused"]
    for change in (
        lambda: (rtl / "src" / "model.v").write_text("module model(); endmodule \n"),
        lambda: (rtl / "src" / "static" / "lib.v").rename(rtl / "src" / "static" / "lib2.v"),
    ):
        change()
        assert rtl_sha256(rtl) != sha
        miss = synth_cached(rtl, cache, False, lambda m: None)  # yosys not requested: not run
        assert miss["run"] is False and "reused" not in miss


def test_beta_schedule_tail():
    """beta_end: the last 30% of the epochs at beta_end (and lr/10), the pick among them; none
    when the run is too short for a tail after the rise."""
    from compress.hgq import beta_schedule

    assert beta_schedule(60, 1e-6, 2e-5) == ([(0, 1e-6, "log"), (30, 2e-5, "constant")], 0)
    points, tail = beta_schedule(60, 1e-6, 2e-5, 2e-6)
    assert tail == 42 and points[-1] == (42, 2e-6, "constant") and len(points) == 3
    assert beta_schedule(4, 1e-6, 2e-5, 2e-6)[1] == 0  # 0.7 x 4 = 2 is not after the rise


def test_pareto_front_and_budget_pick():
    from compress.hgq import pareto_front, pick

    pts = [
        {"epoch": 1, "ebops": 100, "val_accuracy": 0.99},
        {"epoch": 2, "ebops": 60, "val_accuracy": 0.98},
        {"epoch": 3, "ebops": 70, "val_accuracy": 0.97},  # dominated by epoch 2
        {"epoch": 4, "ebops": 30, "val_accuracy": 0.90},
    ]
    front = pareto_front(pts)
    assert [p["epoch"] for p in front] == [4, 2, 1]
    assert pick(front, 0.99, 0.01)["epoch"] == 2
    assert pick(front, 0.99, 0.0)["epoch"] == 1
    assert pick(front, 0.99, 0.2)["epoch"] == 4
