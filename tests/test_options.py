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
