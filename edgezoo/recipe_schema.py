"""The recipe of ``edgezoo run``, checked whole (keys, types, ranges, targets) before any stage runs.

Each section's keys are declared once below, with their accepted types and a range check; the
stages' own validators (``compress.recipe.validate_request``, ``export.api.ExportOptions``,
``export.api.check_targets``) then check what only they know. Any problem is one
:class:`RecipeError` naming ``section.key``, what was received and what is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import EdgezooError

NUMBER = (int, float)
NONE = type(None)


class RecipeError(EdgezooError, ValueError):
    """A recipe that would fail (or do something else than meant) once its stage runs."""


@dataclass(frozen=True)
class Key:
    types: tuple
    check: Callable[[object], str | None] | None = None  # returns why the value is bad, or None


def _positive(v):
    return None if v is None or v > 0 else "must be > 0"


def _non_negative(v):
    return None if v is None or v >= 0 else "must be >= 0"


def _one_of(*choices):
    return lambda v: None if v in choices else f"must be one of {list(choices)}"


def _ints(minimum: int):
    def check(v):
        if not v or any(isinstance(i, bool) or not isinstance(i, int) or i < minimum for i in v):
            return f"must be a non-empty list of integers >= {minimum}"
        return None
    return check


def _names(v):
    items = [v] if isinstance(v, str) else v
    if not items or any(not isinstance(i, str) for i in items):
        return "must be a name or a non-empty list of names"
    return None


SCHEMA: dict[str, dict[str, Key]] = {
    "train": {
        "epochs": Key((int,), _positive), "batch_size": Key((int,), _positive),
        "learning_rate": Key(NUMBER, _positive), "patience": Key((int,), _non_negative), "seed": Key((int,)),
        "limit": Key((int, NONE), _positive), "overrides": Key((dict, NONE)), "tensorboard": Key((bool,)),
        "strategy": Key((str,), _one_of("default", "mirrored", "multiworker")),
    },
    "compress": {
        "distill_from": Key((str, NONE)), "student": Key((str, NONE)), "student_overrides": Key((dict, NONE)),
        "prune": Key(NUMBER + (NONE,)), "prune_layers": Key((str, list, NONE)), "prune_schedule": Key((str,)),
        "bits": Key((int, NONE)), "layer_bits": Key((dict, NONE)), "weight_integer": Key((int, str)),
        "act_integer": Key((int, str)), "epochs": Key((int,)), "distill_epochs": Key((int, NONE)),
        "batch_size": Key((int,)), "learning_rate": Key(NUMBER), "temperature": Key(NUMBER),
        "student_loss_weight": Key(NUMBER), "scratch_baseline": Key((bool,)), "seed": Key((int, NONE)),
    },
    "export": {
        "to": Key((str, list), _names), "models": Key((str, list), _names), "opset": Key((int,)),
        "onnx_variants": Key((list,), _names), "onnx_per_channel": Key((bool,)),
        "tflite_variants": Key((list,), _names), "calibration_samples": Key((int,)),
        "parity_samples": Key((int, NONE)), "dynamic_batch": Key((int,)), "thresholds": Key((dict,)),
        "fail_on_parity": Key((bool,)), "seed": Key((int, NONE)), "hls4ml": Key((dict,)),
    },
    "bench": {
        "batches": Key((list,), _ints(1)), "threads": Key((list,), _ints(0)),
        "budget_s": Key(NUMBER, _positive), "runs": Key((int,), _positive), "warmup": Key((int,), _non_negative),
    },
}
TOP = {"model": Key((str, NONE)), "dataset": Key((str, NONE))}


def _check_keys(where: str, data: dict, keys: dict[str, Key]):
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise RecipeError(f"recipe {where}: unknown key(s) {unknown}; known: {sorted(keys)}.")
    for name, value in data.items():
        key = keys[name]
        label = f"{where}.{name}" if where != "top level" else name
        if isinstance(value, bool) and bool not in key.types or not isinstance(value, key.types):
            accepted = " or ".join("null" if t is NONE else t.__name__ for t in key.types)
            raise RecipeError(f"recipe {label} must be {accepted}. Received: {label}={value!r}")
        why = key.check(value) if key.check else None
        if why:
            raise RecipeError(f"recipe {label} {why}. Received: {label}={value!r}")


def validate_recipe(rec: dict, model: str) -> dict:
    """Check every section of ``rec`` (already a mapping of known sections) for ``model``."""
    _check_keys("top level", {k: v for k, v in rec.items() if k not in SCHEMA}, TOP)
    for section, keys in SCHEMA.items():
        if rec.get(section) is not None:
            _check_keys(section, rec[section], keys)
    steps = ["float"]
    if rec.get("compress"):
        steps += _check_compress(dict(rec["compress"]))
    _check_export(dict(rec.get("export") or {}), model, steps)
    return rec


def _check_compress(opts: dict) -> list[str]:
    from compress.errors import CompressionError
    from compress.recipe import validate_request

    teacher = opts.get("distill_from")
    if teacher is not None and not (Path(teacher) / "config.json").is_file():
        raise RecipeError(f"recipe compress.distill_from {teacher!r} is not a model directory "
                          "(config.json + model.keras); train the teacher first.")
    request = {k: v for k, v in opts.items() if k not in ("weight_integer", "act_integer", "scratch_baseline",
                                                          "seed")}
    try:
        validate_request(**request)
    except CompressionError as exc:
        raise RecipeError(f"recipe compress: {exc}") from None
    steps = []
    if opts.get("distill_from") is not None or opts.get("student") is not None:
        steps.append("distill")
    if opts.get("prune") is not None:
        steps.append("prune")
    if opts.get("bits") is not None:
        steps.append("qat")
    return steps


def _check_export(opts: dict, model: str, steps: list[str]):
    import zoo
    from export.api import ExportOptions, check_targets
    from export.errors import ExportError

    to = opts.pop("to", "card")
    which = opts.pop("models", "all")
    try:
        check_targets(list(zoo.get_card(model).targets) if to == "card" else to)
        ExportOptions.from_kwargs(**opts)
    except ExportError as exc:
        raise RecipeError(f"recipe export: {exc}") from None
    if which != "all":
        names = [which] if isinstance(which, str) else which
        bad = [n for n in names if n not in ("final", *steps)]
        if bad:
            raise RecipeError(f"recipe export.models: {bad} will not be produced by this recipe; choose among "
                              f"{['all', 'final', *steps]}.")
