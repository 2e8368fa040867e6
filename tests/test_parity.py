"""The parity table (export/parity.py) is the one source of every bound, merged with the user's
overrides by one rule; targets talk to an export only through the recorder's API
(export/recorder.py). Fast: nothing heavy is imported, nothing is exported."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from export import parity, targets
from export.errors import ExportOptionsError
from export.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [(t.name, v) for t in targets.all_targets() for v in t.variants]


def _resolved(overrides=None) -> dict:
    """Every artifact's bounds and dynamic-batch check, under ``overrides``."""
    out = {}
    for fmt, variant in PAIRS:
        out[fmt, variant] = parity.bounds(fmt, variant, overrides)
        if f"{fmt}/{variant}" in parity.dynamic_batch_table():
            out[fmt, variant, "dynamic"] = parity.dynamic_batch(fmt, variant, overrides)
    return out


def test_the_table_holds_every_target_row_and_the_generic_ones():
    table = parity.table()
    for t in targets.all_targets():
        for key, row in t.thresholds.items():
            assert table[key] == row, key
    for key, row in parity.GENERIC.items():
        assert table[key] == row
    # each declared dynamic-batch row names its reference and resolves to numbers (or None)
    for key, row in parity.dynamic_batch_table().items():
        assert row["reference"] in ("keras", "artifact"), key
        d = parity.dynamic_batch(*key.split("/"))
        assert d["atol"] is None or d["atol"] > 0, key


@pytest.mark.parametrize("fmt, variant", PAIRS)
def test_an_override_changes_exactly_the_named_entry(fmt, variant):
    before = _resolved()
    after = _resolved({f"{fmt}/{variant}": {"max_rel_error": 0.5, "max_abs_diff": 0.25}})
    changed = {k for k in before if before[k] != after[k]}
    assert (fmt, variant) in changed
    assert after[fmt, variant]["max_rel_error"] == 0.5
    # besides the artifact itself, at most its own dynamic-batch check (when it follows the bound)
    assert changed <= {(fmt, variant), (fmt, variant, "dynamic")}, changed
    if (fmt, variant, "dynamic") in changed:
        assert after[fmt, variant, "dynamic"]["atol"] == 0.25


def test_a_generic_override_changes_every_variant_of_that_kind_and_no_other():
    before = _resolved()
    after = _resolved({"*/int8": {"min_argmax_agreement": 0.5}})
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {(f, v) for f, v in PAIRS if v == "int8"}
    # a target's own row wins over a generic override of the same bound, the user's own row
    # over both
    assert (
        parity.bounds("onnx", "fp32", {"*/fp32": {"max_abs_diff": 1.0}})["max_abs_diff"]
        == (targets.get("onnx").thresholds["onnx/fp32"]["max_abs_diff"])
    )
    ov = {"*/fp32": {"max_abs_diff": 1.0}, "onnx/fp32": {"max_abs_diff": 2.0}}
    assert parity.bounds("onnx", "fp32", ov)["max_abs_diff"] == 2.0


def test_a_base_replaces_the_rows_and_the_user_still_wins():
    base = {"max_accuracy_drop": 0.03, "tie_tolerance": 0.01}
    assert parity.bounds("hls4ml", "fixed", base=base) == base
    ov = {"hls4ml/fixed": {"max_accuracy_drop": 0.1}}
    assert parity.bounds("hls4ml", "fixed", ov, base=base)["max_accuracy_drop"] == 0.1


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"onnx/int9": {"max_rel_error": 0.1}}, "unknown thresholds key 'onnx/int9'"),
        ({"onnx/int8": {"min_agreement": 0.5}}, "unknown threshold 'min_agreement'"),
        ({"onnx/int8": {"max_rel_error": "0.1"}}, "must be a number"),
        ([1], "must be a mapping"),
    ],
)
def test_a_bad_override_is_one_clear_line(overrides, match):
    with pytest.raises(ExportOptionsError, match=match):
        parity.validate(overrides)


def _bound_literals(source: str, where: str) -> list[str]:
    """The literals 1e-4, 1e-5, 1e-6 (the tolerances of the float and dynamic-batch checks) in
    ``source`` outside a ``Target(thresholds=..., dynamic_batch=...)`` declaration."""
    tree = ast.parse(source, where)
    declared = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Target":
            for kw in node.keywords:
                if kw.arg in ("thresholds", "dynamic_batch"):
                    declared.update(id(n) for n in ast.walk(kw.value))
    return [
        f"{where}:{node.lineno} {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, float)
        and node.value in (1e-4, 1e-5, 1e-6)
        and id(node) not in declared
    ]


def test_no_bound_is_written_outside_the_table_and_the_target_declarations():
    files = [p for p in sorted((ROOT / "export").rglob("*.py")) if p.name != "parity.py"]
    found = [
        line for p in files for line in _bound_literals(p.read_text(), str(p.relative_to(ROOT)))
    ]
    assert not found, "parity bounds written outside export/parity.py's table:\n" + "\n".join(found)
    # the scan can fail: a literal tolerance in a check call is found, a declared one is not
    probe = "check(path, x, out, atol=1e-6)\nTarget(dynamic_batch={'a/b': {'atol': 1e-5}})\n"
    assert _bound_literals(probe, "probe.py") == ["probe.py:1 1e-06"]


def test_verify_and_the_targets_do_not_import_each_other():
    def imports(path):
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module:
                yield n.module, [a.name for a in n.names]
            elif isinstance(n, ast.Import):
                for a in n.names:
                    yield a.name, []

    verify_imports = {m for m, _ in imports(ROOT / "export" / "verify.py")}
    assert not any(m.startswith("export.targets") or m == "export.parity" for m in verify_imports)
    for path in (ROOT / "export" / "targets").rglob("*.py"):
        for module, names in imports(path):
            assert module not in ("export.verify", "export.parity"), path
            assert not (module == "export" and {"verify", "parity"} & set(names)), path


# --------------------------------------------------------------------------- the recorder API


def _recorder(tmp_path) -> Recorder:
    from export.api import ExportOptions

    return Recorder(tmp_path, "classification", np.zeros((4, 2)), None, ExportOptions(), "0" * 64)


def test_a_target_cannot_reach_the_recorders_lists(tmp_path):
    rec = _recorder(tmp_path)
    for name in ("artifacts", "failures", "errors"):
        assert not hasattr(rec, name), name
    rec.skip("onnx", "int8", "no fp32 ONNX model to quantize")
    artifacts, failures, _ = rec.outcome()
    artifacts.append({"format": "forged"})  # a copy: the recorder's own list is untouched
    failures.clear()
    assert rec.outcome()[:2] == (
        [
            {
                "format": "onnx",
                "variant": "int8",
                "error": "no fp32 ONNX model to quantize",
                "parity": {"passed": False, "failures": ["no fp32 ONNX model to quantize"]},
            }
        ],
        ["onnx int8: no fp32 ONNX model to quantize"],
    )
    found = rec.find("onnx", "int8")
    found["error"] = "edited"  # a copy too
    assert rec.find("onnx", "int8")["error"] == "no fp32 ONNX model to quantize"


def test_record_find_drop_and_fail(tmp_path):
    rec = _recorder(tmp_path)
    ok = {"format": "onnx", "variant": "fp32", "path": "model.onnx", "parity": {"passed": True}}
    bad = {
        "format": "tflite",
        "variant": "int8",
        "path": "model.int8.tflite",
        "parity": {"passed": False, "failures": ["rel_error 0.5 (needs <= 0.1)"]},
    }
    rec.record(ok)
    rec.record(bad)
    assert rec.find("onnx", "fp32") == ok and rec.find("openvino", "fp32") is None
    assert rec.outcome()[1] == ["tflite int8: parity: rel_error 0.5 (needs <= 0.1)"]
    rec.drop("onnx", "fp32")
    assert rec.find("onnx", "fp32") is None and rec.find("tflite", "int8") == bad
    rec.fail("tflm int8: over budget")
    assert rec.outcome()[1][-1] == "tflm int8: over budget"


def test_the_targets_use_only_the_recorders_api():
    """No module of export/targets/ touches a recorder's lists (``rec.artifacts``, ``rec._...``)."""
    wrong = []
    for path in sorted((ROOT / "export" / "targets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "rec"
                and (node.attr.startswith("_") or node.attr in ("artifacts", "failures", "errors"))
            ):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} rec.{node.attr}")
    assert not wrong, "\n".join(wrong)
