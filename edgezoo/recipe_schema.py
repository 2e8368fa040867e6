"""The recipe of ``edgezoo run``, checked whole (keys, types, ranges, targets) before any stage runs.

Every section is its stage's options, declared once (:class:`training.options.TrainOptions`,
:class:`compress.options.CompressOptions`, :class:`export.api.ExportOptions` with each export
target's and hls4ml's options, :class:`export.bench.BenchOptions`) and checked by
:func:`zoo.core.options.validate`; ``export.to`` and ``export.models`` are the pipeline's own keys
(SCHEMA below), and ``export.api.check_targets`` checks the targets. Any problem is one
:class:`RecipeError` naming ``section.key``, what was received and what is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zoo.core.errors import EdgezooError

NONE = type(None)


class RecipeError(EdgezooError, ValueError):
    """A recipe that would fail (or do something else than meant) once its stage runs."""


@dataclass(frozen=True)
class Key:
    types: tuple
    check: Callable[[object], str | None] | None = None  # returns why the value is bad, or None


def _names(v):
    items = [v] if isinstance(v, str) else v
    if not items or any(not isinstance(i, str) for i in items):
        return "must be a name or a non-empty list of names"
    return None


def _targets(v):
    """``export.to``: "card" (the model card's targets) or a list of target names. A single
    name as a string would be read letter by letter when the export stage runs."""
    if isinstance(v, str):
        return (
            None
            if v == "card"
            else f"must be a list of targets, e.g. to: [{v}] (or 'card' for the model card's)"
        )
    return _names(v)


# Keys that are not a stage's options: the pipeline's own (which targets, which models).
SCHEMA: dict[str, dict[str, Key]] = {
    "export": {"to": Key((str, list), _targets), "models": Key((str, list), _names)},
}
TOP = {"model": Key((str, NONE)), "dataset": Key((str, NONE))}


def _declared():
    """The sections whose keys are declared once as options (:mod:`zoo.core.options`): section -> class."""
    from compress.options import CompressOptions
    from export.api import ExportOptions
    from export.bench import BenchOptions
    from training.options import TrainOptions

    return {
        "train": TrainOptions,
        "compress": CompressOptions,
        "export": ExportOptions,
        "bench": BenchOptions,
    }


def _check_options(section: str, data: dict):
    from compress.errors import CompressionError
    from export.errors import ExportError
    from training.errors import TrainingError
    from zoo.core.options import OptionError, declared, validate

    fields = [f.name for f in declared(_declared()[section])]
    accepted = sorted([*fields, *SCHEMA.get(section, {})])
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:  # the names of zoo.core.options.validate's message, plus the close matches
        raise RecipeError(
            f"recipe {section}: unknown option(s) {unknown}.{_close(unknown[0], accepted)} "
            f"Accepted: {', '.join(accepted)}."
        )
    try:
        if section == "export":  # with the export targets' own checks, as export_run does
            return _declared()[section].from_kwargs(**data)
        return validate(_declared()[section], data, where=section)
    except (OptionError, CompressionError, TrainingError, ExportError) as exc:
        raise RecipeError(
            f"recipe {exc}" if str(exc).startswith(f"{section}") else f"recipe {section}: {exc}"
        ) from None


def _close(value: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(value, list(known), n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _check_keys(where: str, data: dict, keys: dict[str, Key]):
    unknown = sorted(map(str, set(data) - set(keys)))
    if unknown:
        raise RecipeError(
            f"recipe {where}: unknown key(s) {unknown}.{_close(unknown[0], keys)} "
            f"Known: {', '.join(sorted(keys))}."
        )
    for name, value in data.items():
        key = keys[name]
        label = f"{where}.{name}" if where != "top level" else name
        if isinstance(value, bool) and bool not in key.types or not isinstance(value, key.types):
            accepted = " or ".join("null" if t is NONE else t.__name__ for t in key.types)
            raise RecipeError(f"recipe {label} must be {accepted}. Received: {label}={value!r}")
        why = key.check(value) if key.check else None
        if why:
            raise RecipeError(f"recipe {label} {why}. Received: {label}={value!r}")


SECTIONS = ("train", "compress", "export", "bench")


@dataclass(frozen=True)
class Recipe:
    """A recipe, checked once and typed: each section is its stage's options object (None when
    the recipe has no such section). ``sections`` keeps each section as written: ``pipeline.json``
    records it to notice a changed one, and a stage is given the keys the recipe set."""

    model: str | None = None
    dataset: str | None = None
    train: object | None = None  # training.options.TrainOptions
    compress: object | None = None  # compress.options.CompressOptions
    export: object | None = None  # export.api.ExportOptions (ExportOptions.from_kwargs)
    bench: object | None = None  # export.bench.BenchOptions
    export_to: str | tuple = "card"  # "card" (the model card's targets) or target names
    export_models: str | tuple = "all"  # "all", or names among float, final and the steps
    sections: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, rec: dict) -> Recipe:
        """Check every key of ``rec`` (a mapping of known sections, :func:`edgezoo.pipeline.
        load_recipe`) that does not depend on the model; one :class:`RecipeError` otherwise."""
        top = {k: v for k, v in rec.items() if k not in SCHEMA and k not in _declared()}
        _check_keys("top level", top, TOP)
        for section, keys in SCHEMA.items():  # the pipeline's own keys; the rest: stage options
            if rec.get(section) is not None:
                _check_keys(section, {k: v for k, v in rec[section].items() if k in keys}, keys)
        typed = {}
        for section in ("train", "export", "bench"):  # compress: in _check_compress
            if rec.get(section) is not None:
                own = SCHEMA.get(section, {})
                given = {k: v for k, v in rec[section].items() if k not in own}
                typed[section] = _check_options(section, given)
        if rec.get("compress"):
            typed["compress"] = _check_compress(dict(rec["compress"]))
        exp = rec.get("export") or {}
        return cls(
            rec.get("model"),
            rec.get("dataset"),
            **typed,
            export_to=_tuple(exp.get("to", "card")),
            export_models=_tuple(exp.get("models", "all")),
            sections={k: rec[k] for k in SECTIONS if rec.get(k) is not None},
        )

    def given(self, section: str) -> dict:
        """The options the recipe set in ``section``, as keyword arguments of its stage (typed
        values; export's as written, for ``ExportOptions.from_kwargs``)."""
        own = SCHEMA.get(section, {})
        keys = [k for k in self.sections.get(section) or {} if k not in own]
        if section == "export":
            return {k: self.sections[section][k] for k in keys}
        return {k: getattr(getattr(self, section), k) for k in keys}

    def check_for(self, model: str, *, imported: bool = False) -> Recipe:
        """The checks that need the model: ``export.to`` (an imported model's card claims every
        target) and ``export.models`` against the steps the recipe produces."""
        import zoo
        from export.api import check_targets
        from export.errors import ExportError
        from zoo.registry import TARGETS

        to = self.export_to
        if to == "card":
            to = list(TARGETS) if imported else list(zoo.get_card(model).targets)
        try:
            check_targets(list(to))
        except ExportError as exc:
            raise RecipeError(f"recipe export: {exc}") from None
        steps = ["float", *(self.compress.steps if self.compress is not None else ())]
        if self.export_models != "all":
            names = (
                [self.export_models] if isinstance(self.export_models, str) else self.export_models
            )
            bad = [n for n in names if n not in ("final", *steps)]
            if bad:
                raise RecipeError(
                    f"recipe export.models: {bad} will not be produced by this recipe; choose "
                    f"among {['all', 'final', *steps]}."
                )
        return self


def _tuple(v):
    return v if isinstance(v, str) else tuple(v)


def validate_recipe(rec: dict, model: str, *, imported: bool = False) -> Recipe:
    """Check every section of ``rec`` (already a mapping of known sections) for ``model``: the
    typed :class:`Recipe`."""
    return Recipe.from_dict(rec).check_for(model, imported=imported)


def _check_compress(opts: dict):
    teacher = opts.get("distill_from")
    if teacher is not None and not (Path(teacher) / "config.json").is_file():
        raise RecipeError(
            f"recipe compress.distill_from {teacher!r} is not a model directory "
            "(config.json + model.keras); train the teacher first."
        )
    return _check_options("compress", opts)
