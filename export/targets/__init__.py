"""Export targets as plug-ins: one folder (or module) per target here, each registering one
:class:`Target` in its ``__init__.py``.

A target's folder owns everything about it: its name, its variants, which of them are on by
default, its options, its parity rows (bounds and dynamic-batch check, read into
:mod:`export.parity`'s table), its converter (``convert.py``), how it exports and verifies a
model (``export(rec, model, world)``: converts, runs the artifact for parity and checks the
dynamic batch dimension, one :meth:`export.recorder.Recorder.attempt` per variant, talking to
the export only through the recorder's API), and, for targets with a CPU runtime, how
``edgezoo bench`` builds a call for an artifact (``runtime.py``). The export API loops over
:func:`all_targets`, :mod:`export.parity` reads the rows, the bench reads the runtimes, the CLI
and the static name index (``edgezoo/names.py``) read the names.

Importing this package imports every module in it (the way ``zoo.models`` registers the
architectures); a target imports its heavy libraries inside its functions, so the registry is
cheap to read. Adding a target is one folder here plus its tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

# The file name of every artifact; variants add a suffix (model.int8.onnx, model.fp16.tflite).
STEM = "model"


@dataclass(frozen=True)
class Target:
    """One export target.

    ``export(rec, model, world)`` attempts each requested variant through ``rec`` (the export's
    recorder: options, data, Keras reference, parity, manifest entries). ``count(options)`` is
    how many artifacts it will attempt (for progress). ``thresholds`` are the default parity
    bounds keyed ``"name/variant"``; the generic ``"*/int8"``, ``"*/dynamic"``, ``"*/fixed"``
    rows of :mod:`export.parity` apply under them. ``dynamic_batch``: per ``"name/variant"``,
    the dynamic-batch check (``{"reference": "keras" | "artifact", "atol": ...}``, no ``atol``:
    the row's own ``max_abs_diff``/``rtol``; see :func:`export.parity.dynamic_batch`). ``order`` sorts the targets (a target that
    reuses another's artifact comes after it). ``runtime``/``make_call``/``settings``: the CPU
    runtime ``edgezoo bench`` measures the artifacts with (``make_call(path, x, threads) ->
    (call, predict_all)``), None for targets without one (hls4ml: C simulation only).
    """

    name: str
    variants: tuple[str, ...]
    export: Callable
    order: int
    default_variants: tuple[str, ...] | None = None  # None: every variant
    default: bool = True  # exported when no targets are named
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    dynamic_batch: dict[str, dict] = field(default_factory=dict)
    count: Callable | None = None  # (ExportOptions) -> int; None: one artifact
    runtime: str | None = None
    make_call: Callable | None = None
    settings: Callable | None = None
    options: type | None = None  # a dataclass of zoo.core.options fields; part of ExportOptions
    description: str = ""
    fmt: str | None = None
    requested: Callable | None = None

    @property
    def format(self) -> str:
        return self.fmt or self.name

    def runs(self, to, options, model) -> bool:
        """Whether an export to ``to`` with ``options`` runs this target for ``model``."""
        return self.requested(to, options, model) if self.requested else self.name in to


_REGISTRY: dict[str, Target] = {}


def register(target: Target) -> Target:
    """Add ``target`` to the registry (a second registration of a name replaces it, with a warning)."""
    if target.name in _REGISTRY and _REGISTRY[target.name] is not target:
        warnings.warn(
            f"export target {target.name!r} registered twice; the later one wins", stacklevel=2
        )
    for what in ("thresholds", "dynamic_batch"):
        bad = [k for k in getattr(target, what) if k.split("/")[0] != target.format]
        if bad:
            raise ValueError(
                f"target {target.name!r}: {what} must be keyed '{target.format}/variant'. Received: {bad}"
            )
    _REGISTRY[target.name] = target
    return target


def all_targets() -> tuple[Target, ...]:
    """Every registered target, in export order."""
    return tuple(sorted(_REGISTRY.values(), key=lambda t: (t.order, t.name)))


def names() -> tuple[str, ...]:
    return tuple(t.name for t in all_targets())


def default_names() -> tuple[str, ...]:
    return tuple(t.name for t in all_targets() if t.default)


def get(name: str) -> Target:
    if name not in _REGISTRY:
        raise KeyError(f"unknown export target {name!r}; known: {', '.join(names())}")
    return _REGISTRY[name]


def by_runtime(runtime: str) -> Target | None:
    return next((t for t in all_targets() if t.runtime == runtime), None)


def runtimes() -> dict[str, str]:
    """{target name: bench runtime} of the targets that have a CPU runtime."""
    return {t.name: t.runtime for t in all_targets() if t.runtime}


for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
