"""The export target registry (export/targets/): what every other place reads agrees with it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from export import targets


def test_every_target_module_registers_one_complete_target():
    assert set(targets.names()) >= {"onnx", "tflite", "openvino", "hls4ml", "tflm"}
    for t in targets.all_targets():
        assert t.variants and callable(t.export), t.name
        assert set(t.default_variants or t.variants) <= set(t.variants)
        assert all(
            k.split("/")[0] == t.format and k.split("/")[1] in t.variants for k in t.thresholds
        ), t.name
        assert (t.runtime is None) == (t.make_call is None) == (t.settings is None), t.name
        # a target with a CPU runtime proves each artifact's batch dimension dynamic: every
        # variant has its dynamic-batch row in the parity table
        if t.runtime:
            assert set(t.dynamic_batch) == {f"{t.name}/{v}" for v in t.variants}, t.name


def test_static_copies_equal_the_registry():
    from edgezoo import names
    from export.api import DEFAULT_TARGETS, TARGETS
    from export.bench import RUNTIME_OF
    from zoo.registry import TARGETS as CARD_TARGETS

    assert names.targets() == targets.names() == TARGETS
    assert names.default_targets() == targets.default_names() == DEFAULT_TARGETS
    assert set(CARD_TARGETS) == set(targets.names())  # zoo may not import export: a checked copy
    assert RUNTIME_OF == {t.name: t.runtime for t in targets.all_targets() if t.runtime}


def test_reading_the_registry_imports_no_heavy_library():
    code = (
        "import sys; from export import targets; from edgezoo import names; names.targets(); "
        "from edgezoo.cli import build_parser; build_parser(); "  # every flag derived from the declarations
        "from export.api import ExportOptions; ExportOptions.from_kwargs(hls4ml={'width': 8}); "
        "print(sorted(m for m in ('tensorflow', 'onnxruntime', 'openvino', 'hls4ml', 'tflite_micro') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_thresholds_come_from_the_target_modules():
    from export import parity

    assert (
        parity.bounds("onnx", "fp32")["max_abs_diff"]
        == targets.get("onnx").thresholds["onnx/fp32"]["max_abs_diff"]
    )
    assert parity.bounds("tflite", "fp16")["rtol"] == 5e-3
    assert parity.bounds("openvino", "int8") == parity.GENERIC["*/int8"]


def test_cli_to_choices_and_runtimes_read_the_registry():
    from edgezoo.cli import build_parser
    from export.runtime_bench import make_call

    for name in targets.names():
        assert build_parser().parse_args(["export", "RUN", "--to", name]).to == name
    with pytest.raises(Exception, match="Unknown export target 'qonnx'"):
        build_parser().parse_args(["export", "RUN", "--to", "qonnx"])
    with pytest.raises(ValueError, match="onnxruntime"):
        make_call("no-such-runtime", "x", None, 1)


def test_an_unknown_target_is_one_clear_error():
    with pytest.raises(KeyError, match="unknown export target 'qonnx'"):
        targets.get("qonnx")


def test_every_declared_option_is_reachable_from_the_cli_and_the_recipe():
    """ExportOptions (each target's included), HlsOptions (behind --hls-) and BenchOptions: one flag
    per option, parsed into the value the recipe key takes."""
    import dataclasses

    from edgezoo.cli import build_parser
    from edgezoo.commands.export_cmds import options_from_args
    from edgezoo.recipe_schema import validate_recipe
    from export.api import ExportOptions
    from export.bench import BenchOptions
    from export.targets.hls4ml.options import HlsOptions
    from zoo.core.options import declared

    export_flags = (
        build_parser()._subparsers._group_actions[0].choices["export"]._option_string_actions
    )
    bench_flags = (
        build_parser()._subparsers._group_actions[0].choices["bench"]._option_string_actions
    )
    via_other_flags = {"fail_on_parity": "--allow-parity-failures", "hls4ml": "--hls-backend"}
    for f in declared(ExportOptions):
        assert via_other_flags.get(f.name, "--" + f.name.replace("_", "-")) in export_flags, f.name
    assert {f.name for f in dataclasses.fields(HlsOptions)} == {
        f.name for f in declared(HlsOptions)
    }
    for f in declared(HlsOptions):
        assert "--hls-" + f.name.replace("_", "-") in export_flags, f.name
    for f in declared(BenchOptions):
        assert (f.metadata.get("flag") or "--" + f.name.replace("_", "-")) in bench_flags, f.name

    argv = [
        "export",
        "RUN",
        "--hls-synth",
        "no",
        "--hls-rounding",
        "TRN",
        "--hls-layer-widths",
        '{"fc1": {"weight": 6}}',
        "--onnx-variants",
        "int8",
        "--thresholds",
        '{"onnx/int8": {"min_argmax_agreement": 0.9}}',
    ]
    opts = options_from_args(build_parser().parse_args(argv))
    recipe = {"export": {k: v for k, v in opts.items()}}
    validate_recipe(recipe, "mlp")  # what the CLI says, the recipe accepts
    assert HlsOptions(**opts["hls4ml"]).synth is False and opts["onnx_variants"] == ("int8",)
    built = ExportOptions.from_kwargs(**opts)
    assert built.hls4ml.layer_widths == {"fc1": {"weight": 6}} and built.hls4ml.synth is False


# --------------------------------------------------------------------------- every target, exported
# Parametrized over the registry, as tests/test_zoo.py is over list_models(): a target module
# added to export/targets/ is exported, verified and run by its bench runtime here without a
# new test. Default targets are read from the session's shared export (tests/conftest.py);
# the others export the shared dense run themselves.


def _artifacts_of(target, mlp_digits_run, mlp_digits_export, tmp_path):
    import json

    from export import export_run

    if target.default:
        man = json.loads((mlp_digits_export / "manifest.json").read_text())
        out = mlp_digits_export
    else:
        out = tmp_path / "exp"
        man = export_run(mlp_digits_run, to=(target.name,), out=out)
    assert man["passed"], man["failures"]
    arts = [a for a in man["artifacts"] if a["format"] == target.format]
    return [a for a in arts if a["variant"] in target.variants], out, man


# Targets whose artifact needs a quantized model (the shared run is a float MLP): exported and
# checked against the same registry bounds by their own module fixture, which keeps the
# Verilator and yosys builds small (tests/test_fpga.py::rtl_export).
QUANTIZED_ONLY = {
    "rtl": "tests/test_fpga.py::test_rtl_verilog_is_simulated_bit_exactly_with_sourced_figures"
}


def test_every_target_is_exported_by_a_test():
    import pathlib

    assert set(QUANTIZED_ONLY) <= set(targets.names())
    here = pathlib.Path(__file__).parent
    for name, where in QUANTIZED_ONLY.items():
        path, test = where.split("::")
        assert f"def {test}(" in (here.parent / path).read_text(), (name, where)


@pytest.mark.parametrize("name", [n for n in targets.names() if n not in QUANTIZED_ONLY])
def test_each_target_exports_its_default_variants_within_its_thresholds(
    name, mlp_digits_run, mlp_digits_export, tmp_path
):
    import json

    from export import parity, verify

    target = targets.get(name)
    arts, out, man = _artifacts_of(target, mlp_digits_run, mlp_digits_export, tmp_path)
    # the default variants, in the registry's order
    assert [a["variant"] for a in arts] == [
        v for v in target.variants if v in (target.default_variants or target.variants)
    ]
    for a in arts:
        assert "error" not in a, a
        assert (out / a["path"]).exists(), a["path"]
        p = a["parity"]
        assert p["passed"] and p["n"] == man["data"]["n_parity"]
        # the bounds the parity was checked against are the parity table's, and only those
        bounds = parity.bounds(target.format, a["variant"])
        assert p["thresholds"] == bounds, a["variant"]
        assert verify.check(p, bounds, task="classification") == [], (a["variant"], bounds)
        if "dynamic_batch" in p:  # its tolerance too is the table's
            d = parity.dynamic_batch(name, a["variant"])
            assert (p["dynamic_batch"]["atol"], p["dynamic_batch"]["rtol"]) == (
                d["atol"],
                d["rtol"],
            ), a["variant"]
    assert json.loads((out / "manifest.json").read_text())["artifacts"] == man["artifacts"]


@pytest.mark.parametrize("name", [t.name for t in targets.all_targets() if t.runtime])
def test_each_bench_runtime_runs_its_targets_artifacts_like_keras(
    name, mlp_digits_run, mlp_digits_export, tmp_path
):
    """``edgezoo bench``'s call for every artifact of a target with a CPU runtime: the float
    artifacts give Keras' outputs, the quantized ones its argmax on most samples."""
    import numpy as np

    from export.runtime_bench import make_call
    from training.model_dir import load_run, run_dataset

    target = targets.get(name)
    arts, out, _ = _artifacts_of(target, mlp_digits_run, mlp_digits_export, tmp_path)
    model, cfg = load_run(mlp_digits_run)
    x = run_dataset(cfg).x_test[:64].astype("float32")
    ref = model.predict(x, verbose=0)
    for a in arts:
        call, predict_all = make_call(target.runtime, str(out / a["path"]), x[:1], 1)
        call()
        got = predict_all(x)
        assert got.shape == ref.shape, a["variant"]
        if a["variant"] == "fp32":
            np.testing.assert_allclose(got, ref, atol=1e-4)
        else:
            assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.9, a["variant"]
