"""``config.json`` of a model directory, read once into a typed :class:`RunConfig`.

Every stage writes the same file (``training/train.py``, ``training/imports.py``, the compress
steps through ``training/model_dir.py``'s ``save_model_dir``) and every later stage reads it.
The keys, their types and the defaults an older file gets are stated here, once:

    model, dataset          str (required)
    card                    dict with at least "task" and "input_shape" (required)
    world                   "keras" | "tf_keras" (QKeras); older files have none: "keras"
    seed                    int, default 0
    limit                   int or null, default null
    overrides               dict of builder keyword arguments, default {}
    data, versions          dicts (what the run was trained on, the library versions), default {}
    imported                dict (``edgezoo import``: where the model came from), default null
    architecture            dict (an imported Keras 3 model's architecture), default null
    data_file               dict (an imported model's stored data), default null
    compression             list of the compression steps that made this model, default []
    hgq                     bool (an HGQ2 model, compress step hgq), default false
    input_noise             number (training's input noise), default 0.0 (older runs had none)

Any other key (epochs, batch_size, strategy, ...) is kept as written: ``cfg.to_dict()`` (the
file's keys, in their order) is what is written back, so a written file keeps its keys. A
:class:`RunConfig` is read through its typed attributes, never as a dict.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from zoo.core.errors import EdgezooError
from zoo.core.worlds import KERAS3, WORLDS

FILE = "config.json"
REQUIRED = ("model", "dataset", "card")
_REDO = (
    "it was not written by `edgezoo train` or was edited; re-train the model (or restore the file)."
)


class RunConfigError(EdgezooError, ValueError):
    """A run directory's config.json that lacks what the later stages read, or holds a value of
    the wrong type."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# key -> (default for a file without it, check, what it must be)
_TYPED: dict[str, tuple[Any, Any, str]] = {
    "world": (KERAS3, lambda v: v in WORLDS, f"one of {', '.join(map(repr, WORLDS))}"),
    "seed": (0, _is_int, "an integer"),
    "limit": (None, lambda v: v is None or _is_int(v), "an integer or null"),
    "overrides": ({}, lambda v: isinstance(v, dict), "an object"),
    "data": ({}, lambda v: isinstance(v, dict), "an object"),
    "versions": ({}, lambda v: isinstance(v, dict), "an object"),
    "imported": (None, lambda v: v is None or isinstance(v, dict), "an object or null"),
    "architecture": (None, lambda v: v is None or isinstance(v, dict), "an object or null"),
    "data_file": (None, lambda v: v is None or isinstance(v, dict), "an object or null"),
    "compression": ([], lambda v: isinstance(v, list), "a list"),
    "hgq": (False, lambda v: isinstance(v, bool), "true or false"),
    "input_noise": (0.0, lambda v: _is_int(v) or isinstance(v, float), "a number"),
}


@dataclass(frozen=True)
class RunConfig:
    """A model directory's ``config.json``, checked; attributes typed, defaults stated once."""

    model: str
    dataset: str
    card: dict
    world: str = KERAS3
    seed: int = 0
    limit: int | None = None
    overrides: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    imported: dict | None = None
    architecture: dict | None = None
    data_file: dict | None = None
    compression: tuple = ()
    hgq: bool = False
    input_noise: float = 0.0
    raw: Mapping = field(default_factory=dict, repr=False, compare=False)  # the file, as written
    source_dir: Path | None = field(default=None, compare=False)  # where it was read from

    def __post_init__(self):
        if not self.raw:  # built from its fields (a test, a new run): the file is the fields
            d = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
            d.pop("raw"), d.pop("source_dir")
            object.__setattr__(self, "raw", {**d, "compression": list(self.compression)})

    @classmethod
    def from_dict(cls, d, where: str = FILE, *, source_dir=None) -> RunConfig:
        """Check ``d`` (the parsed file) and type it; one :class:`RunConfigError` line naming
        ``where`` and the key otherwise."""
        if not isinstance(d, Mapping):
            raise RunConfigError(
                f"{where} is not a JSON object; the run directory is damaged: re-train it."
            )
        missing = [k for k in REQUIRED if k not in d]
        card = d.get("card")
        if not missing and (not isinstance(card, dict) or not {"task", "input_shape"} <= set(card)):
            missing = ["card.task/card.input_shape"]
        if missing:
            raise RunConfigError(f"{where} lacks {', '.join(repr(m) for m in missing)}: {_REDO}")
        for key in ("model", "dataset"):
            if not isinstance(d[key], str):
                raise RunConfigError(f"{where}: {key} is {d[key]!r}, not a name: {_REDO}")
        typed = {}
        for key, (default, ok, what) in _TYPED.items():
            value = d[key] if key in d else copy.copy(default)  # a default is never shared
            if key == "overrides" and value is None:  # "no overrides", as some writers put it
                value = {}
            if not ok(value):
                raise RunConfigError(f"{where}: {key} is {value!r}, it must be {what}: {_REDO}")
            typed[key] = value
        typed["compression"] = tuple(typed["compression"])
        src = None if source_dir is None else Path(source_dir)
        return cls(d["model"], d["dataset"], card, **typed, raw=dict(d), source_dir=src)

    @classmethod
    def read(cls, run_dir) -> RunConfig:
        """``RUN_DIR/config.json``, checked (a missing, unreadable or garbled file: one line)."""
        path = Path(run_dir) / FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{run_dir} is not an edgezoo model directory (needs config.json and "
                "model.keras). Create one with `edgezoo train MODEL`."
            )
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FileNotFoundError(
                f"{path} is not valid JSON ({exc}); the run directory is damaged."
            ) from exc
        return cls.from_dict(d, str(path), source_dir=run_dir)

    def replace(self, **changes) -> RunConfig:
        """A copy with config keys changed (typed ones checked again); the key order is kept and a
        new key goes last."""
        d = {**self.raw, **changes}
        return RunConfig.from_dict(d, "a changed config", source_dir=self.source_dir)

    def without(self, *keys: str) -> RunConfig:
        """A copy without ``keys`` (e.g. the compression history a fresh student does not have)."""
        d = {k: v for k, v in self.raw.items() if k not in keys}
        return RunConfig.from_dict(d, "a changed config", source_dir=self.source_dir)

    def to_dict(self) -> dict:
        """What ``config.json`` holds: the file's keys, in their order."""
        return dict(self.raw)

    @property
    def task(self) -> str:
        return self.card["task"]

    @property
    def input_shape(self) -> list:
        """The model's input shape: the overrides' when given, else the card's."""
        return self.overrides.get("input_shape") or self.card["input_shape"]

    @property
    def same_data_key(self) -> tuple:
        """What fixes a run's data: two runs with equal keys trained on the same samples."""
        return (self.dataset, self.seed, self.limit)
