"""zoo.core.options: one declaration gives the flag, the recipe key and the validation."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from zoo.core.options import OptionError, add_arguments, from_args, option, record, validate


@dataclass
class Opts:
    epochs: int = option(10, "training epochs", min=1)
    rate: float = option(1e-3, "learning rate", min=0.0)
    variants: tuple[str, ...] = option(
        ("fp32", "int8"), "variants", choices=("fp32", "fp16", "int8")
    )
    limit: int | None = option(None, "at most this many samples", min=1)
    strict: bool = option(True, "fail on a miss")
    bounds: dict = option({}, "per-variant bounds (JSON)")
    hidden: str = option("x", "recipe only", cli=False)

    def check(self):
        if self.epochs > 1000:
            raise OptionError("epochs: too many")


def test_validate_types_choices_ranges_and_tuples():
    o = validate(Opts, {"epochs": 3, "variants": ["fp32"], "rate": 1, "limit": None}, where="train")
    assert (o.epochs, o.variants, o.rate, o.limit) == (3, ("fp32",), 1, None)
    with pytest.raises(OptionError, match=r"train\.epochs must be int\. Received: epochs='3'"):
        validate(Opts, {"epochs": "3"}, where="train")
    with pytest.raises(OptionError, match=r"must be int"):
        validate(Opts, {"epochs": True})
    with pytest.raises(OptionError, match=r"variants must be among \['fp32', 'fp16', 'int8'\]"):
        validate(Opts, {"variants": ["fp32", "int4"]})
    with pytest.raises(OptionError, match=r"epochs must be >= 1"):
        validate(Opts, {"epochs": 0})
    with pytest.raises(OptionError, match=r"unknown option\(s\) \['epoch'\]"):
        validate(Opts, {"epoch": 3})
    with pytest.raises(OptionError, match="too many"):
        validate(Opts, {"epochs": 5000})
    assert record(validate(Opts))["variants"] == ["fp32", "int8"]


def test_flags_are_derived_with_defaults_and_only_given_values_come_back():
    p = argparse.ArgumentParser()
    add_arguments(p, Opts)
    text = p.format_help()
    assert "--epochs" in text and "(default: 10)" in text and "(default: fp32,int8)" in text
    assert "--no-strict" in text and "--hidden" not in text
    args = p.parse_args(
        ["--epochs", "4", "--variants", "fp16,int8", "--no-strict", "--bounds", '{"a": 1}']
    )
    given = from_args(Opts, args)
    assert given == {"epochs": 4, "variants": ("fp16", "int8"), "strict": False, "bounds": {"a": 1}}
    assert validate(Opts, given).variants == ("fp16", "int8")
    assert from_args(Opts, p.parse_args([])) == {}


def test_an_experiment_takes_some_flags_with_its_own_defaults():
    """``only`` picks the flags; ``defaults`` overrides the declaration's defaults in one place:
    shown in the help and returned when the flag is not given."""
    p = argparse.ArgumentParser()
    add_arguments(p, Opts, only=("epochs", "limit"), defaults={"epochs": 3})
    text = " ".join(p.format_help().split())
    assert "--epochs" in text and "(default: 3)" in text and "--rate" not in text
    assert from_args(Opts, p.parse_args([])) == {"epochs": 3}  # limit: not given, not returned
    assert from_args(Opts, p.parse_args(["--epochs", "7", "--limit", "5"])) == {
        "epochs": 7,
        "limit": 5,
    }
    with pytest.raises(ValueError, match=r"undeclared options of Opts: \['epoch'\]"):
        add_arguments(argparse.ArgumentParser(), Opts, defaults={"epoch": 3})


def test_the_experiments_declare_no_training_flag_again():
    """bench-train, bench-distribute and the training worker take TrainOptions' flags; only their
    named defaults differ."""
    from edgezoo.cli import build_parser
    from edgezoo.experiments import distribute
    from edgezoo.experiments import train as bench_train
    from training import _worker
    from training.options import TrainOptions

    cmds = build_parser()._subparsers._group_actions[0].choices
    help_of = {f: TrainOptions.__dataclass_fields__[f].metadata["help"] for f in ("epochs",)}
    for name, defaults in (
        ("bench-train", bench_train.BENCH_DEFAULTS),
        ("bench-distribute", distribute.BENCH_DEFAULTS),
    ):
        flags = cmds[name]._option_string_actions
        assert flags["--epochs"].help.startswith(help_of["epochs"]), name
        assert flags["--epochs"].default == defaults["epochs"], name
    assert build_parser().parse_args(["bench-distribute"]).batch_size == 32
    worker = _worker._parser().parse_args(["train", "mlp"])
    assert (
        from_args(TrainOptions, worker)
        == _worker.WORKER_DEFAULTS
        == {"epochs": 3, "batch_size": 32}
    )
