"""The end-to-end pipeline: every stage's output, the report, resume, failure handling,
and the inference-benchmark harness on real artifacts."""

from __future__ import annotations

import json

import pytest

from edgezoo.pipeline import PipelineError, load_recipe, run_pipeline
from export.common import pareto_front

SMALL = {
    "train": {"epochs": 2, "limit": 400},
    "compress": {"prune": 0.5, "bits": 6, "epochs": 1},
    # int8 through TFLite only: ONNX int8 is exported and benched in tests/test_int8.py
    "export": {
        "to": ["onnx", "tflite"],
        "onnx_variants": ["fp32"],
        "tflite_variants": ["fp32", "int8"],
    },
    "bench": {"batches": [1], "threads": [1], "budget_s": 0.02, "runs": 20, "warmup": 2},
}


def test_pipeline_end_to_end(tmp_path):
    """One pipeline run (one test: pytest-xdist would build a shared fixture once per worker),
    checked stage by stage, then re-run to prove it resumes without redoing anything."""
    out = tmp_path / "mlp"
    log: list[str] = []
    report = run_pipeline("mlp", "digits", recipe=SMALL, out=out, progress=log.append)

    # every stage ran and wrote its outputs
    state = json.loads((out / "pipeline.json").read_text())
    assert [s for s, v in state["stages"].items() if v["status"] == "done"] == [
        "train",
        "compress",
        "export",
        "bench",
        "report",
    ]
    assert (out / "train" / "model.keras").exists()
    assert {p.name for p in (out / "compress").iterdir() if p.is_dir()} == {"2-prune", "3-qat"}
    for variant in ("float", "prune", "qat"):
        manifest = json.loads((out / "export" / variant / "manifest.json").read_text())
        assert manifest["passed"] and {a["format"] for a in manifest["artifacts"]} == {
            "onnx",
            "tflite",
        }
        bench = json.loads((out / "export" / variant / "bench.json").read_text())
        assert {"keras", "keras_predict", "onnxruntime", "litert"} <= {
            r["runtime"] for r in bench["results"]
        }
        assert not [r for r in bench["results"] if "error" in r]
        for r in bench["results"]:
            assert 0 < r["p50_us"] <= r["p90_us"] <= r["p99_us"] and r["peak_rss_mib"] > 0
        assert (out / "export" / variant / "latency.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / "export" / variant / "pareto.png").exists()
    assert any(line.startswith("[3/5] export") for line in log)

    # the benchmark's own accuracy per artifact equals what the exporter measured
    manifest = json.loads((out / "export" / "float" / "manifest.json").read_text())
    bench = json.loads((out / "export" / "float" / "bench.json").read_text())
    measured = {
        r["artifact"]: r["accuracy"] for r in bench["results"] if r.get("accuracy") is not None
    }
    for a in manifest["artifacts"]:
        assert measured[f"{a['format']}-{a['variant']}"] == pytest.approx(
            a["parity"]["accuracy"], abs=1e-9
        )

    # the report holds the measured figures, read back from the stages' files
    text = report.read_text()
    for heading in (
        "## Training",
        "## Compression",
        "## Export parity",
        "## Summary",
        "## Inference benchmarks",
    ):
        assert heading in text
    metrics = json.loads((out / "train" / "metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in text and "FAIL" not in text

    # a second run resumes: nothing is redone
    mtime = (out / "train" / "model.keras").stat().st_mtime_ns
    log = []
    run_pipeline("mlp", "digits", recipe=SMALL, out=out, progress=log.append)
    assert (
        sum("done earlier, skipped" in line for line in log) == 4
    )  # train, compress, export, bench
    assert (out / "train" / "model.keras").stat().st_mtime_ns == mtime


def test_failing_stage_keeps_earlier_outputs_and_resumes(tmp_path):
    out = tmp_path / "p"
    # an impossible parity bound passes the recipe check and fails in the export stage itself
    bad = {
        **SMALL,
        "compress": None,
        "export": {"to": ["onnx"], "thresholds": {"onnx/fp32": {"max_abs_diff": -1.0}}},
    }
    with pytest.raises(Exception, match="max_abs_diff"):
        run_pipeline("mlp", "digits", recipe=bad, out=out, progress=lambda m: None)
    state = json.loads((out / "pipeline.json").read_text())
    assert (
        state["stages"]["train"]["status"] == "done"
        and state["stages"]["export"]["status"] == "failed"
    )
    mtime = (out / "train" / "model.keras").stat().st_mtime_ns
    log: list[str] = []
    good = {**bad, "export": {"to": ["onnx"]}, "bench": {**SMALL["bench"], "batches": [1]}}
    run_pipeline("mlp", "digits", recipe=good, out=out, progress=log.append)
    assert "[1/5] train: done earlier, skipped" in log
    assert (out / "train" / "model.keras").stat().st_mtime_ns == mtime
    assert json.loads((out / "pipeline.json").read_text())["stages"]["export"]["status"] == "done"


def test_bad_recipes_are_rejected_before_work(tmp_path):
    with pytest.raises(PipelineError, match="Unknown recipe keys \\['trian'\\]"):
        load_recipe({"trian": {}})
    with pytest.raises(PipelineError, match="not found.*jet_tagger"):
        load_recipe(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(PipelineError, match="not valid YAML"):
        load_recipe(str(bad))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "pipeline.json").write_text(
        json.dumps({"identity": {"model": "lenet5", "dataset": "digits"}, "stages": {}})
    )
    from zoo.core.marker import adopt_dir
    from zoo.core.paths import RunDirError

    with pytest.raises(RunDirError, match="not written by edgezoo.*edgezoo adopt"):
        run_pipeline("mlp", "digits", recipe=SMALL, out=tmp_path / "x", progress=lambda m: None)
    adopt_dir(tmp_path / "x")  # an older edgezoo's pipeline, adopted: another model's
    with pytest.raises(RunDirError, match="holds a finished pipeline of model lenet5"):
        run_pipeline("mlp", "digits", recipe=SMALL, out=tmp_path / "x", progress=lambda m: None)


def test_shipped_recipes_load_with_their_stages():
    from edgezoo.names import recipes
    from edgezoo.pipeline import read_recipe

    assert {"jet_tagger", "demo", "demo_cnn", "float_only"} <= set(recipes())
    for name in recipes():  # every shipped recipe passes the schema (read once, typed)
        assert "export" in load_recipe(name) and read_recipe(name).export_to
    demo = read_recipe("demo")  # the dense model's demo goes to the FPGA: QKeras and HGQ2 RTL
    assert demo.export_models == ("float", "qat", "hgq") and "hgq" in demo.given("compress")
    assert demo.given("export")["rtl"] == "auto"
    tutorial = load_recipe("jet_tagger")
    assert tutorial["compress"] == {"prune": 0.75, "bits": 6, "epochs": 10}
    assert tutorial["export"]["to"] == ["onnx", "tflite", "hls4ml"]


def test_pareto_front_drops_bigger_and_less_accurate_points():
    # (size, accuracy): the 3rd point is dominated by the 2nd (bigger and less accurate)
    pts = [(100, 0.90), (50, 0.95), (80, 0.93), (10, 0.80)]
    assert pareto_front(pts) == [3, 1]


def test_damaged_state_and_failed_measurements_are_clear_errors(tmp_path):
    from export.runtime_bench import run_isolated

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pipeline.json").write_text("{not json")
    from zoo.core.marker import adopt_dir

    adopt_dir(tmp_path / "p", kind="pipeline")  # edgezoo's (a marker), its state damaged
    with pytest.raises(PipelineError, match="pipeline.json is damaged"):
        run_pipeline("mlp", "digits", recipe=SMALL, out=tmp_path / "p", progress=lambda m: None)
    # a measurement that cannot run reports its error instead of a figure
    [res] = run_isolated(
        [
            {
                "runtime": "onnxruntime",
                "path": str(tmp_path / "missing.onnx"),
                "inputs": str(tmp_path / "none.npy"),
                "batch": 1,
                "threads": 1,
                "budget_s": 0.01,
                "runs": 5,
                "warmup": 1,
            }
        ]
    )
    assert "error" in res and "p50_us" not in res


def test_cli_catches_error_types_added_by_commands(capsys, monkeypatch):
    """An error type a command registers while it runs still ends in one line and exit 2."""
    import argparse

    import edgezoo.cli as cli
    from edgezoo.commands import _common

    class Oops(Exception):
        pass

    def command(args):
        _common.add_user_errors(Oops)
        raise Oops("named thing: what to do")

    parsed = argparse.Namespace(func=command, command="x")
    monkeypatch.setattr(
        cli, "build_parser", lambda: argparse.Namespace(parse_args=lambda argv: parsed)
    )
    monkeypatch.setattr(_common, "USER_ERRORS", _common.USER_ERRORS)
    assert cli.main([]) == 2
    assert capsys.readouterr().err.strip() == "edgezoo x: error: named thing: what to do"
