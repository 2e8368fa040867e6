"""The export stage: ONNX / TFLite / hls4ml artifacts of model directories, verified against Keras.

Real libraries throughout (tf2onnx, onnxruntime, the TFLite converter and LiteRT interpreter,
hls4ml with g++); only synthesis needs a vendor tool and is skipped, saying so, without one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from export import (
    ExportData,
    ExportFailed,
    ExportOptionsError,
    UnsupportedModelError,
    export_model,
    export_run,
    parity,
    targets,
    verify,
)
from export.common import keras_module_as, sha256_file, tree_sha256

pytestmark = pytest.mark.xdist_group("export")


# --------------------------------------------------------------------------- fixtures
# The model directories are the session's shared ones (tests/conftest.py): mlp_digits_run (the
# dense model), qkeras_digits_run (its prune + 6-bit QAT chain) and mlp_digits_export (the dense
# model exported to every default target). Every test here writes its exports to tmp_path.


def expected_default_artifacts() -> set[tuple[str, str]]:
    """(format, variant) of every artifact a plain export writes, read from the target registry."""
    return {
        (t.name, v)
        for t in targets.all_targets()
        if t.default
        for v in (t.default_variants or t.variants)
    }


# --------------------------------------------------------------------------- full export


def _check_manifest(man: dict, out: Path, src_dir: Path):
    assert man["schema"] == "edgezoo.export/1"
    assert man["passed"] and man["failures"] == []
    src = man["source"]
    assert src["sha256"] == sha256_file(src_dir / "model.keras")
    assert (out / src["dir"]).resolve() == src_dir.resolve()
    for a in man["artifacts"]:
        assert "error" not in a, a
        path = out / a["path"]
        assert path.exists()
        if path.is_dir():
            assert (a["sha256"], a["bytes"]) == tree_sha256(path)
        else:
            assert a["sha256"] == sha256_file(path) and a["bytes"] == path.stat().st_size
        assert a["source_sha256"] == src["sha256"]
        p = a["parity"]
        assert p["passed"] and p["n"] == man["data"]["n_parity"]
        if "calibration" in a and "path" in a["calibration"]:
            cal = json.loads((out / a["calibration"]["path"]).read_text())
            idx = cal["indices"]
            assert len(idx) == len(set(idx)) == man["data"]["n_calibration"]
            assert (
                cal["calibration_split"] == "train" and 0 <= min(idx) and max(idx) < cal["n_train"]
            )
    # nothing half-written is left behind, in the directory or beside it (the build directory)
    assert not [
        p
        for p in out.rglob("*")
        if ".tmp" in p.name or ".partial" in p.name or ".scratch" in p.name
    ]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert f".{out.name}.export-" not in json.dumps(man)
    # paths recorded by hls4ml name the final directory, not the one it was built in
    yml = out / "hls4ml" / "hls4ml_config.yml"
    if yml.exists():
        assert f"OutputDir: {out.resolve() / 'hls4ml'}" in yml.read_text().replace(
            str(out), str(out.resolve())
        )


def test_default_export_verifies_every_default_target_and_swaps_in_like_the_pipeline(
    mlp_digits_run, mlp_digits_export
):
    """The shared export (tests/conftest.py) was built in ``.export.new/exp`` and swapped to
    ``export/exp`` by retarget_exports + rename, as the pipeline does."""
    out = mlp_digits_export
    man = json.loads((out / "manifest.json").read_text())
    _check_manifest(man, out, mlp_digits_run)
    arts = {(a["format"], a["variant"]): a for a in man["artifacts"]}
    assert set(arts) == expected_default_artifacts()
    assert {"onnx", "tflite", "hls4ml"} <= {fmt for fmt, _ in arts}  # the registry's defaults
    # the float bounds of the issue, and the dynamic batch dimension proven at batch 1 and N
    assert arts["onnx", "fp32"]["parity"]["max_abs_diff"] <= 1e-5
    assert arts["tflite", "fp32"]["parity"]["max_abs_diff"] <= 1e-4
    assert arts["tflite", "fp16"]["parity"]["max_abs_diff"] <= 1e-2
    # every artifact whose target declares a dynamic-batch check (the parity table) ran it
    checked = [k for k in arts if "/".join(k) in parity.dynamic_batch_table()]
    assert {("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")} <= set(
        checked
    )
    for key in checked:
        dyn = arts[key]["parity"]["dynamic_batch"]
        assert dyn["ok"] and dyn["batches"] == [1, 16], (key, dyn)
    assert isinstance(arts["onnx", "fp32"]["parity"]["dynamic_batch"]["input_batch_dim"], str)
    # int8 TFLite: int8 tensors with the interpreter's own quantization parameters
    io = arts["tflite", "int8"]["io"]
    assert io["input"]["dtype"] == io["output"]["dtype"] == "int8" and io["input"]["scale"] > 0
    for key in [("onnx", "int8"), ("tflite", "int8"), ("hls4ml", "fixed")]:
        p = arts[key]["parity"]
        assert p["argmax_agreement_tol"] >= 0.95 and p["accuracy_drop_tol"] <= 0.02
    # hls4ml: profiled precision (not ap_fixed<16,6>), C simulation, synthesis only with the tool
    hls = arts["hls4ml", "fixed"]
    assert hls["hls4ml"]["io_type"] == "io_parallel" and hls["hls4ml"]["backend"] == "Vitis"
    assert hls["hls4ml"]["precision"]["mode"] == "profile"
    types = {row["name"]: row for row in hls["hls4ml"]["layer_types"]}
    assert types["fc1"]["weight"].startswith("fixed<16,")
    assert all("<16,6>" not in row["result"] for row in types.values())
    assert (out / "hls4ml" / "firmware" / "myproject.cpp").exists()
    import shutil

    if shutil.which("vitis-run") is None:
        assert hls["synthesis"] == {"run": False, "why": "vitis-run (Vitis HLS) not on PATH"}
    # the pipeline's swap of .export.new/ to export/: hls4ml's recorded paths and the sha256
    # of the manifest follow
    from export.manifest import load_manifest

    assert out.parent.name == "export" and not (out.parent.parent / ".export.new").exists()
    yml = (out / "hls4ml" / "hls4ml_config.yml").read_text()
    assert ".export.new" not in yml and f"OutputDir: {out / 'hls4ml'}" in yml
    assert load_manifest(out)[2] == {}  # bench's sha256 and size checks pass


def test_compressed_qkeras_run_exports_through_keras2_paths_with_its_quantizers(
    qkeras_digits_run, tmp_path
):
    """The chain the pipeline runs: compress (prune 75% + 6-bit QAT, the shared chain) writes a
    QKeras model directory; export takes it to every default target, hls4ml reading the
    quantizers for its types."""
    import keras

    qat = json.loads((qkeras_digits_run / "compression.json").read_text())
    out = tmp_path / "exp"
    man = export_run(qkeras_digits_run, out=out)
    _check_manifest(man, out, qkeras_digits_run)
    src = man["source"]
    assert src["world"] == "tf_keras" and src["quantized"] is True and src["sparsity"] >= 0.7
    arts = {(a["format"], a["variant"]): a for a in man["artifacts"]}
    assert set(arts) == expected_default_artifacts()
    assert (
        arts["onnx", "fp32"]["parity"]["max_abs_diff"] <= 1e-5
    )  # tf2onnx with an explicit signature
    hls = arts["hls4ml", "fixed"]["hls4ml"]
    sources = hls["precision"]["sources"]
    assert sources["fc1"]["weight"] == "quantizer" and sources["relu1"]["result"] == "quantizer"
    store = hls["weight_storage"]
    assert store["weights"] == qat["model"]["params"] and store["bits"] == 6 * store["weights"]
    types = {row["name"]: row for row in hls["layer_types"]}
    assert qat["quantizers"]["fc1"]["kernel"] == "quantized_bits(6,0,0,alpha=1)"
    assert types["fc1"]["weight"].startswith("fixed<6,1")  # sign + 0 integer bits
    relu = qat["quantizers"]["relu1"]["activation"]  # quantized_relu(6,I)
    integer = int(relu.removeprefix("quantized_relu(6,").rstrip(")"))
    assert types["relu1"]["result"].startswith(f"ufixed<6,{integer}")
    assert arts["hls4ml", "fixed"]["parity"]["argmax_agreement_tol"] >= 0.98
    assert sys.modules["keras"] is keras and keras.__version__.startswith("3.")  # world restored


def test_hls4ml_backend_strategy_reuse_part_and_clock_are_configurable(mlp_digits_run, tmp_path):
    opts = {
        "backend": "Vivado",
        "strategy": "Resource",
        "reuse_factor": 4,
        "part": "xc7z020clg400-1",
        "clock_period": 10.0,
        "io_type": "io_parallel",
    }
    man = export_run(mlp_digits_run, to="hls4ml", out=tmp_path, hls4ml=opts)
    info = man["artifacts"][0]["hls4ml"]
    assert {k: info[k] for k in ("backend", "strategy", "reuse_factor", "part", "io_type")} == {
        "backend": "Vivado",
        "strategy": "Resource",
        "reuse_factor": 4,
        "part": "xc7z020clg400-1",
        "io_type": "io_parallel",
    }
    assert info["clock_period_ns"] == 10.0 and man["passed"]
    tcl = (tmp_path / "hls4ml" / "project.tcl").read_text()
    assert "xc7z020clg400-1" in tcl and "10" in tcl
    import shutil

    if shutil.which("vivado_hls") is None:
        assert man["artifacts"][0]["synthesis"]["why"] == "vivado_hls (Vivado HLS) not on PATH"


def test_export_model_from_memory_with_standard_normal_inputs(tmp_path):
    """Data sets that are not offline: an in-memory model, standard-normal inputs, no labels."""
    rng = np.random.default_rng(0)
    model = zoo.create_model("jet_tagger")
    data = ExportData.from_arrays(
        rng.standard_normal((300, 16)).astype("f4"),
        rng.standard_normal((64, 16)).astype("f4"),
        None,
        calibration_samples=100,
        info={"dataset": "standard-normal"},
    )
    man = export_model(model, tmp_path, data=data, to=("onnx",))
    assert man["source"]["sha256_of"] == "weights" and man["data"]["labelled"] is False
    assert [a["variant"] for a in man["artifacts"]] == ["fp32", "int8"]
    assert "accuracy" not in man["artifacts"][0]["parity"]


def test_tflite_int8_shares_the_float_savedmodel_when_nothing_is_rewritten(
    mlp_digits_run, tmp_path, monkeypatch
):
    """The SavedModel the converter reads is written once for fp32 and int8 when the int8
    rewrites change nothing (a second one took DenseNet121 18 s); both pass parity."""
    import keras

    formats = []
    real = keras.Model.export

    def counted(self, filepath, *args, **kwargs):
        formats.append(kwargs.get("format"))
        return real(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "export", counted)
    man = export_run(mlp_digits_run, to="tflite", out=tmp_path, tflite_variants=("fp32", "int8"))
    assert [(a["variant"], a["parity"]["passed"]) for a in man["artifacts"]] == [
        ("fp32", True),
        ("int8", True),
    ]
    assert man["artifacts"][1]["quantization"]["rewrites"] == []
    assert formats == ["tf_saved_model"], formats


# --------------------------------------------------------------------------- failures are loud


def test_failed_parity_threshold_fails_the_export_and_is_recorded(mlp_digits_run, tmp_path):
    strict = {"tflite/int8": {"min_argmax_agreement": 1.01}}
    with pytest.raises(ExportFailed, match=r"tflite int8: parity: argmax_agreement") as info:
        export_run(
            mlp_digits_run, to="tflite", out=tmp_path, tflite_variants=("int8",), thresholds=strict
        )
    man = json.loads(Path(info.value.manifest).read_text())
    assert man["passed"] is False and man["artifacts"][0]["parity"]["passed"] is False
    # configurable: recorded, not raised
    man = export_run(
        mlp_digits_run,
        to="tflite",
        out=tmp_path,
        tflite_variants=("int8",),
        thresholds=strict,
        fail_on_parity=False,
    )
    assert man["passed"] is False and "argmax_agreement" in man["failures"][0]


def test_hls4ml_unsupported_layer_is_named(tmp_path):
    import keras

    inp = keras.Input((4, 4, 1), name="input")
    x = keras.layers.Conv2DTranspose(2, 2, strides=2, name="upconv")(inp)
    x = keras.layers.Flatten(name="flatten")(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(x))
    rng = np.random.default_rng(0)
    data = ExportData.from_arrays(rng.random((40, 4, 4, 1), "f4"), rng.random((8, 4, 4, 1), "f4"))
    with pytest.raises(
        ExportFailed, match=r"unsupported layer 'upconv' \(Conv2DTranspose\)"
    ) as info:
        export_model(model, tmp_path, data=data, to=("hls4ml",))
    assert isinstance(info.value.errors[0], UnsupportedModelError)
    assert info.value.errors[0].layers == [("upconv", "Conv2DTranspose")]
    assert not (tmp_path / "hls4ml").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"to": ("onnx", "coreml")}, "targets must be"),
        ({"opset": 7}, "opset must be >= 13"),
        ({"tflite_variants": ("int4",)}, "variants must be"),
        ({"colour": "red"}, r"export: unknown option\(s\) \['colour'\]"),
        ({"hls4ml": {"backend": "Quartus"}}, "backend must be one of"),
        ({"hls4ml": {"reuse": 2}}, r"hls4ml: unknown option\(s\) \['reuse'\]"),
        ({"hls4ml": {"softmax_table_size": 1000}}, "power of two"),
        ({"thresholds": {"tflite/int8": {"min_agreement": 0.5}}}, "unknown threshold"),
    ],
)
def test_bad_options_are_value_errors_quoting_the_value(mlp_digits_run, tmp_path, kwargs, match):
    with pytest.raises(ExportOptionsError, match=match) as info:
        export_run(mlp_digits_run, out=tmp_path, **kwargs)
    assert isinstance(info.value, ValueError)


def test_export_of_a_missing_directory_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an edgezoo model directory"):
        export_run(tmp_path / "nothing")


# --------------------------------------------------------------------------- pieces


def test_tflite_quantization_uses_the_interpreters_scale_and_zero_point():
    from export.targets.tflite.convert import dequantize_output, quantize_input

    detail = {"name": "x", "dtype": np.int8, "quantization": (0.5, -3)}
    q = quantize_input(np.array([[0.0, 1.0, 100.0, -100.0]], "f4"), detail)
    assert q.dtype == np.int8 and q.tolist() == [[-3, -1, 127, -128]]
    assert dequantize_output(np.array([-3, -1], np.int8), detail).tolist() == [0.0, 1.0]
    assert (
        quantize_input(np.ones((1, 2), "f4"), {"dtype": np.float32, "quantization": (0.0, 0)}).dtype
        == np.float32
    )


def test_parity_figures_near_ties_and_bounds_per_task():
    ref = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    out = np.array([[0.85, 0.15], [0.3, 0.7], [0.45, 0.55]])
    fig = verify.compare(ref, out, task="classification", y=np.array([0, 1, 0]))
    assert fig["argmax_agreement"] == pytest.approx(2 / 3) and fig[
        "accuracy_drop"
    ] == pytest.approx(1 / 3)
    assert fig["accuracy_drop_tol"] == fig["accuracy_drop"]  # no near-ties at tolerance 0
    assert fig["max_abs_diff"] == pytest.approx(0.15)
    fails = verify.check(fig, parity.bounds("tflite", "int8"), task="classification")
    assert any("argmax_agreement" in f for f in fails) and any("rel_error" in f for f in fails)
    # a flip between classes Keras itself rates within tie_tolerance is a near-tie, not an error
    tie = verify.compare(
        np.array([[0.51, 0.49], [0.9, 0.1]]),
        np.array([[0.49, 0.51], [0.9, 0.1]]),
        task="classification",
        tie_tolerance=0.05,
    )
    assert (
        tie["argmax_agreement"] == 0.5
        and tie["argmax_agreement_tol"] == 1.0
        and tie["near_ties"] == 1
    )
    assert (
        verify.check(
            tie, {"min_argmax_agreement": 0.95, "tie_tolerance": 0.05}, task="classification"
        )
        == []
    )
    far = verify.compare(
        np.array([[0.8, 0.2]]), np.array([[0.4, 0.6]]), task="classification", tie_tolerance=0.05
    )
    assert far["argmax_agreement_tol"] == 0.0 and far["near_ties"] == 0
    x = np.zeros((3, 2))
    rec = verify.compare(ref, ref * 1.01, task="reconstruction", x=x)
    assert rec["rel_error"] == pytest.approx(0.01) and rec["metric_increase"] == pytest.approx(
        0.0201
    )
    assert verify.check(rec, {"max_rel_error": 0.02}, task="reconstruction") == []
    assert verify.check(rec, {"max_rel_error": 0.005}, task="reconstruction")
    binary = verify.compare(
        np.array([[0.7], [0.2]]), np.array([[0.4], [0.1]]), task="classification", tie_tolerance=0.5
    )
    assert (
        binary["argmax_agreement"] == 0.5 and binary["near_ties"] == 1
    )  # |2 * 0.7 - 1| = 0.4 <= 0.5


def test_keras_module_swap_is_restored_even_on_error():
    import keras
    import tf_keras

    with pytest.raises(RuntimeError):
        with keras_module_as("tf_keras"):
            import keras as inner

            assert inner is tf_keras
            raise RuntimeError("boom")
    assert sys.modules["keras"] is keras


def test_fixed_for_takes_sign_and_integer_bits_from_the_range():
    from export.targets.hls4ml.profile import fixed_for
    from zoo.core.fixed_point import integer_bits

    assert (
        integer_bits(0.0) == 0
        and integer_bits(0.99) == 0
        and integer_bits(1.0) == 1
        and integer_bits(5.0) == 3
    )
    assert fixed_for(-5.0, 3.0, 16) == "fixed<16,4,RND,SAT>"  # sign + 3 integer bits hold -5
    assert fixed_for(0.0, 0.7, 16) == "ufixed<16,0,RND,SAT>"
    assert fixed_for(-1.5, 1.5, 16, extra=1) == "fixed<16,3,RND,SAT>"


def test_integer_bits_hold_powers_of_two_and_are_one_function():
    """A fixed-point type with i integer bits holds [-2**i, 2**i): 4.0 needs 3, not ceil(log2 4) = 2."""
    from compress import quantizers
    from export.targets.hls4ml import profile
    from zoo.core.fixed_point import integer_bits

    for k in range(-2, 8):
        p = 2.0**k
        i = integer_bits(p)
        assert 2.0**i > p and (i == 0 or 2.0 ** (i - 1) <= p), (p, i)
        assert integer_bits(p * 0.999) == max(0, k)
    assert (
        quantizers._integer_for(4.0, 8, signed=True) == 3
        and quantizers._integer_for(2.0**20, 8, True) == 7
    )
    assert (
        profile.integer_bits is quantizers.integer_bits is integer_bits
    )  # one function for QKeras and hls4ml


def test_synthesis_report_is_parsed_into_figures(tmp_path):
    """The C-synthesis report layout hls4ml reads (``<prj>/<solution>/syn/report/<top>_csynth.xml``)."""
    from export.targets.hls4ml.synth import parse_report

    (tmp_path / "project.tcl").write_text('set project_name "myproject"\nset backend "vitis"\n')
    prj = tmp_path / "myproject_prj"
    (prj / "solution1" / "syn" / "report").mkdir(parents=True)
    (prj / "hls.app").write_text(
        '<project><solutions><solution name="solution1"/></solutions></project>'
    )
    (prj / "solution1" / "syn" / "report" / "myproject_csynth.xml").write_text(
        "<profile><UserAssignments><TargetClockPeriod>5.00</TargetClockPeriod></UserAssignments>"
        "<PerformanceEstimates><SummaryOfTimingAnalysis><EstimatedClockPeriod>4.1</EstimatedClockPeriod>"
        "</SummaryOfTimingAnalysis><SummaryOfOverallLatency><Best-caseLatency>12</Best-caseLatency>"
        "<Worst-caseLatency>12</Worst-caseLatency><Interval-min>1</Interval-min><Interval-max>1</Interval-max>"
        "</SummaryOfOverallLatency></PerformanceEstimates><AreaEstimates><Resources><BRAM_18K>0</BRAM_18K>"
        "<DSP>34</DSP><FF>4000</FF><LUT>42160</LUT><URAM>0</URAM></Resources><AvailableResources>"
        "<BRAM_18K>5376</BRAM_18K><DSP>12288</DSP><FF>3456000</FF><LUT>1728000</LUT><URAM>1280</URAM>"
        "</AvailableResources></AreaEstimates></profile>"
    )
    rep = parse_report(tmp_path)
    assert rep["latency_cycles"] == {"best": 12, "worst": 12} and rep["interval_cycles"] == {
        "min": 1,
        "max": 1,
    }
    assert rep["resources"] == {"LUT": 42160, "FF": 4000, "DSP": 34, "BRAM_18K": 0, "URAM": 0}
    assert parse_report(tmp_path / "missing").get("report") is None


@pytest.mark.vendor
def test_vendor_synthesis_fills_the_manifest(mlp_digits_run, tmp_path):
    import shutil

    if shutil.which("vitis-run") is None:
        pytest.skip("needs Vitis HLS (vitis-run) on PATH for C synthesis; not installed here")
    man = export_run(mlp_digits_run, to="hls4ml", out=tmp_path, hls4ml={"synth": True})
    syn = man["artifacts"][0]["synthesis"]
    assert syn["run"] and syn["latency_cycles"]["worst"] > 0 and "LUT" in syn["resources"]


# --------------------------------------------------------------------------- CLI


def test_cli_export_writes_a_manifest_and_errors_are_one_line(mlp_digits_run, tmp_path, capsys):
    from edgezoo.cli import main

    rc = main(["export", str(mlp_digits_run), "--to", "onnx", "--out", str(tmp_path / "cli")])
    out = capsys.readouterr().out
    assert rc == 0 and "onnx fp32" in out and "onnx int8" in out and "manifest:" in out
    assert json.loads((tmp_path / "cli" / "manifest.json").read_text())["passed"]

    assert main(["export", str(tmp_path / "nope"), "--to", "onnx"]) == 2
    err = capsys.readouterr().err
    assert (
        "error:" in err
        and "not an edgezoo model directory" in err
        and len(err.strip().splitlines()) == 1
    )
    assert (
        main(["export", str(mlp_digits_run), "--to", "onnx,coreml", "--out", str(tmp_path / "x")])
        == 2
    )
    assert "targets must be" in capsys.readouterr().err
