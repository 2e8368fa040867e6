"""The recipe of ``edgezoo run``: read once per command (edgezoo/commands/pipeline_cmds.py), checked
once into a typed :class:`edgezoo.recipe_schema.Recipe` whose sections are the stages' option
objects, and handed to the pipeline, which does not read it again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from compress.options import CompressOptions
from edgezoo.cli import main
from edgezoo.pipeline import read_recipe
from edgezoo.recipe_schema import Recipe, RecipeError, validate_recipe
from export.api import ExportOptions
from export.bench import BenchOptions
from training.options import TrainOptions

OPENED: list[str] = []  # every file path opened while recording, from the interpreter's audit hook
_RECORDING: list[bool] = []


def _audit(event, args):
    if _RECORDING and event == "open" and isinstance(args[0], (str, Path)):
        OPENED.append(str(args[0]))


sys.addaudithook(_audit)  # cannot be removed: it records only while a test sets _RECORDING


def _opens_of(path: Path, *argv) -> tuple[int, int]:
    """(exit status of ``edgezoo ARGV``, how many times it opened ``path``)."""
    OPENED.clear()
    _RECORDING.append(True)
    try:
        rc = main([str(a) for a in argv])
    finally:
        _RECORDING.clear()
    return rc, sum(Path(p).resolve() == path.resolve() for p in OPENED)


RECIPE = """
train: {epochs: 1, limit: 200}
export: {to: [onnx], models: [float]}
bench: {batches: [1], threads: [1], budget_s: 0.01}
"""


def test_the_run_command_reads_its_recipe_once(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE)
    (tmp_path / "a-file").write_text("not a directory")
    out = tmp_path / "a-file" / "out"  # refused after the recipe is checked, before any stage
    rc, opens = _opens_of(
        recipe, "run", "mlp", "--dataset", "digits", "--recipe", recipe, "--out", out
    )
    err = capsys.readouterr().err
    assert rc == 2 and "a-file" in err, err
    assert opens == 1


def test_a_recipe_error_is_reported_once_before_any_stage(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(RECIPE.replace("budget_s: 0.01", "budget_s: 0.01, treads: [2]"))
    out = tmp_path / "out"
    rc, opens = _opens_of(
        recipe, "run", "mlp", "--dataset", "digits", "--recipe", recipe, "--out", out
    )
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "bench" in lines[0] and "treads" in lines[0], err
    assert opens == 1 and not out.exists()


def test_the_sections_are_the_stages_option_objects():
    rec = validate_recipe(
        {
            "train": {"epochs": 2, "overrides": {"widths": [8]}},
            "compress": {"bits": 6},
            "export": {"to": ["onnx"], "models": "final", "calibration_samples": 16},
            "bench": {"batches": [1, 4]},
        },
        "mlp",
    )
    assert isinstance(rec.train, TrainOptions) and rec.train.epochs == 2
    assert isinstance(rec.compress, CompressOptions) and rec.compress.bits == 6
    assert isinstance(rec.export, ExportOptions) and isinstance(rec.bench, BenchOptions)
    assert rec.export_to == ("onnx",) and rec.export_models == "final"
    # a stage gets the keys the recipe set, typed (a list field is a tuple), nothing else
    assert rec.given("train") == {"epochs": 2, "overrides": {"widths": [8]}}
    assert rec.given("bench") == {"batches": (1, 4)}
    assert rec.given("export") == {"calibration_samples": 16}  # to/models are the pipeline's
    assert rec.sections["export"]["to"] == ["onnx"]  # as written: pipeline.json compares it


def test_a_recipe_object_is_not_read_again_and_an_empty_one_has_no_sections():
    rec = read_recipe(None)
    assert read_recipe(rec) is rec and rec.sections == {} and rec.train is None
    assert rec.export_to == "card" and rec.export_models == "all"


def test_model_dependent_checks_name_the_key():
    rec = Recipe.from_dict({"export": {"models": ["qat"]}})  # no compress section: no qat step
    with pytest.raises(RecipeError, match=r"recipe export.models: \['qat'\] will not be produced"):
        rec.check_for("mlp")
    with pytest.raises(RecipeError, match="recipe export"):
        Recipe.from_dict({"export": {"to": ["onnxx"]}}).check_for("mlp")
