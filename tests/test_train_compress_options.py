"""The train and compress options are declared once (training.options, compress.options): the
CLI flags, their defaults and the recipe sections all come from the declaration."""

from __future__ import annotations

import dataclasses

import pytest

from compress.errors import CompressionError
from compress.options import CompressOptions, compress_options
from edgezoo.cli import build_parser
from edgezoo.recipe_schema import RecipeError, validate_recipe
from training.options import TrainOptions
from zoo.core.options import declared, from_args

# Options whose command-line spelling is KEY=VALUE items rather than one derived flag.
HAND_FLAGS = {
    "overrides": "--set",
    "student_overrides": "--student-set",
    "layer_bits": "--layer-bits",
}


def _sub(name):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices[name]


@pytest.mark.parametrize(
    ("command", "cls"), [("train", TrainOptions), ("compress", CompressOptions)]
)
def test_every_option_has_a_flag_and_the_declared_default(command, cls):
    p = _sub(command)
    flags = p._option_string_actions
    for f in declared(cls):
        flag = HAND_FLAGS.get(f.name) or f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        assert flag in flags, f"{command}: option {f.name} has no flag {flag}"
    args = p.parse_args(["mlp"])  # a model (train) or a run directory (compress)
    assert from_args(cls, args) == {}  # nothing given: the declaration's defaults hold
    defaults = cls()
    for f in declared(cls):
        if f.name not in HAND_FLAGS:
            help_text = flags[f.metadata.get("flag") or "--" + f.name.replace("_", "-")].help
            assert "(default: " in help_text
    assert defaults.epochs == (50 if cls is TrainOptions else 10)


def test_compress_flags_keep_their_spellings():
    args = _sub("compress").parse_args(
        [
            "RUN",
            "--prune",
            "0.5",
            "--schedule",
            "constant",
            "--bits",
            "6",
            "--lr",
            "0.01",
            "--no-scratch",
            "--act-integer",
            "2",
            "--weight-integer",
            "auto",
            "--prune-layers",
            "fc1,fc2",
        ]
    )
    opts = compress_options(from_args(CompressOptions, args))
    assert (opts.prune, opts.prune_schedule, opts.bits, opts.learning_rate) == (
        0.5,
        "constant",
        6,
        0.01,
    )
    assert (
        opts.scratch_baseline is False and opts.act_integer == 2 and opts.weight_integer == "auto"
    )
    assert opts.prune_layers == "fc1,fc2" and opts.steps == ["prune", "qat"]


def test_recipe_sections_are_the_options():
    every = {
        f.name: getattr(CompressOptions(), f.name) for f in dataclasses.fields(CompressOptions)
    }
    every.update(prune=0.5, bits=6)
    every.pop("student_overrides")  # needs a student
    assert validate_recipe({"train": dataclasses.asdict(TrainOptions()), "compress": every}, "mlp")
    with pytest.raises(
        RecipeError, match=r"recipe train.patience must be >= 0. Received: patience=-1"
    ):
        validate_recipe({"train": {"patience": -1}}, "mlp")
    with pytest.raises(RecipeError, match=r"recipe compress: weight_integer must be 'auto'"):
        validate_recipe({"compress": {"bits": 6, "weight_integer": "big"}}, "mlp")
    with pytest.raises(CompressionError, match="compress.epochs must be >= 1"):
        compress_options(prune=0.5, epochs=0)
