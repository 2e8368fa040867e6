"""The export target registry (export/targets/): what every other place reads agrees with it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from export import targets


def test_every_target_module_registers_one_complete_target():
    assert set(targets.names()) >= {"onnx", "tflite", "openvino", "hls4ml"}
    for t in targets.all_targets():
        assert t.variants and callable(t.export), t.name
        assert set(t.default_variants or t.variants) <= set(t.variants)
        assert all(k.split("/")[0] == t.name and k.split("/")[1] in t.variants for k in t.thresholds), t.name
        assert (t.runtime is None) == (t.make_call is None) == (t.settings is None), t.name


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
    code = ("import sys; from export import targets; from edgezoo import names; names.targets(); "
            "print(sorted(m for m in ('tensorflow', 'onnxruntime', 'openvino', 'hls4ml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_thresholds_come_from_the_target_modules():
    from export import verify

    assert verify.thresholds_for("onnx", "fp32")["max_abs_diff"] == targets.get("onnx").thresholds["onnx/fp32"]["max_abs_diff"]
    assert verify.thresholds_for("tflite", "fp16")["rtol"] == 5e-3
    assert verify.thresholds_for("openvino", "int8") == verify.GENERIC_THRESHOLDS["*/int8"]


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
