"""A timm-style model registry: ``@register_model``, ``create_model``, ``list_models``.

Each entry is a builder plus its :class:`ModelCard` -- what the model needs
(input shape, data set, task) and where it can go (claimed export targets).
Tests are parametrized over the registry, so every claim on a card is checked.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from zoo.core.errors import EdgezooError
from zoo.core.run_config import RunConfig
from zoo.core.worlds import KERAS3, get_keras

TASKS = ("classification", "regression", "reconstruction", "generation", "density")
# The export targets a card may name. zoo is the lowest layer and must not import export (whose
# registry, export/targets/, defines the targets), so this is a plain copy: tests/test_targets.py
# checks it equals the registry, which fails the moment a target is added without it here.
TARGETS = ("onnx", "tflite", "hls4ml", "rtl", "openvino", "tflm")


@dataclass(frozen=True)
class ModelCard:
    """What a zoo model is, needs and claims."""

    name: str
    family: str  # perceptron, dense, cnn, resnet, unet, autoencoder, vae, gan, gnn, transformer, flow, rnn
    task: str  # one of TASKS
    input_shape: tuple[int, ...]  # without the batch dimension
    output: (
        str  # human description of the output ("5-class softmax", "reconstruction of the input")
    )
    dataset: str  # default data set (training.datasets)
    lecture: str  # where it comes from (seed file / reference)
    params: int  # parameter count of the default configuration (verified by tests)
    targets: tuple[str, ...] = ()  # claimed export targets, verified by tests in the export stage
    # Loss for training.fit: "" = the task's default (sparse CE for softmax classifiers,
    # binary CE for one sigmoid unit, MSE for regression/reconstruction); "internal" = the
    # model brings its own (add_loss / custom train_step: VAE, GAN, flow).
    loss: str = ""
    quantizable: bool = True  # QKeras twin possible (Dense/Conv/Activation/BN/pooling only)
    not_quantizable_because: str = ""
    # Small overrides used by the test-suite for save/load and training steps of big models.
    test_overrides: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    # A published benchmark this model is the reference of (MLPerf Tiny): "benchmark",
    # "dataset", "quality_target", "int8_tflite_bytes" (the published int8 TFLite size).
    reference: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(
                f"Card {self.name!r}: task must be one of {TASKS}. Received: task={self.task!r}"
            )
        bad = [t for t in self.targets if t not in TARGETS]
        if bad:
            raise ValueError(f"Card {self.name!r}: unknown targets {bad}; known: {TARGETS}.")
        if not self.quantizable and not self.not_quantizable_because:
            raise ValueError(f"Card {self.name!r}: say why it is not quantizable.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["targets"] = list(self.targets)
        return d


@dataclass(frozen=True)
class _Entry:
    builder: Callable
    card: ModelCard


_REGISTRY: dict[str, _Entry] = {}


class UnknownModelError(EdgezooError, KeyError):
    """An unknown model name; the message lists close matches."""

    def __str__(self):  # KeyError quotes its message; keep it readable
        return self.args[0]


class ModelConfigError(EdgezooError, ValueError):
    """A builder setting (``--set``, a recipe's model overrides) a model cannot be built with."""


class UnknownOverrideError(ModelConfigError, TypeError):
    """An override the model's builder does not take (a ``TypeError``, like Python's own)."""


def register_model(card: ModelCard | None = None, **card_fields):
    """Register a builder under its function name with a model card.

    Use either ``@register_model(ModelCard(...))`` or ``@register_model(family=..., task=...)``;
    the card's ``name`` defaults to the function name. A builder has the signature
    ``builder(k, *, name, **config) -> model`` where ``k`` is the Keras module of the world
    (``keras`` or ``tf_keras``) and must use only the functional API they share. Layer names
    are stable and prefix-built; the input is ``f"{name}_input"`` (hls4ml reserves "input").
    """

    def deco(fn):
        nonlocal card
        name = fn.__name__
        if card is None:
            card = ModelCard(name=name, **card_fields)
        if card.name != name:
            raise ValueError(f"Card name {card.name!r} differs from builder name {name!r}.")
        if name in _REGISTRY:
            warnings.warn(
                f"Model {name!r} registered twice; the later definition wins.", stacklevel=2
            )
        _REGISTRY[name] = _Entry(fn, card)
        return fn

    return deco


def _entry(name: str) -> _Entry:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"Unknown model {name!r}.{hint} Run `edgezoo list` to see all {len(_REGISTRY)} models."
        ) from None


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style wildcard, sorted."""
    _ensure_loaded()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_card(name: str) -> ModelCard:
    return _entry(name).card


def card_of_config(cfg: RunConfig) -> ModelCard:
    """The card of a model directory's ``config.json``: the stored ``card`` (the only one an
    imported model has), else the registry's card of ``cfg.model``."""
    _ensure_loaded()
    if cfg.imported or cfg.model not in _REGISTRY:
        known = {f.name for f in fields(ModelCard)}
        d = {k: v for k, v in cfg.card.items() if k in known}
        d["input_shape"] = tuple(d.get("input_shape") or ())
        d["targets"] = tuple(d.get("targets") or ())
        return ModelCard(**d)
    return get_card(cfg.model)


def builder_config(name: str) -> dict[str, Any]:
    """The builder's keyword arguments and their defaults (the architecture config)."""
    sig = inspect.signature(_entry(name).builder)
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != "name"
    }


def create_model(name: str, *, world: str = KERAS3, **overrides):
    """Build zoo model ``name`` in ``world`` ("keras" = Keras 3, "tf_keras" = Keras 2).

    ``overrides`` replace builder defaults (``input_shape``, ``classes``, widths, ...);
    an override the builder does not take raises an error naming the accepted ones.
    """
    entry = _entry(name)
    accepted = builder_config(name)
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise UnknownOverrideError(
            f"Model {name!r} does not take {unknown}. Accepted overrides: {sorted(accepted)}."
        )
    if "input_shape" in overrides and overrides["input_shape"] is not None:
        shape = tuple(int(s) for s in overrides["input_shape"])
        if any(s <= 0 for s in shape):
            raise ModelConfigError(
                f"Model {name!r}: input_shape must be positive. Received: input_shape={shape}"
            )
        overrides["input_shape"] = shape
    k = get_keras(world)
    model = entry.builder(k, name=name, **overrides)
    return model


_loaded = False


def _ensure_loaded():
    global _loaded
    if not _loaded:
        _loaded = True
        import zoo.models  # noqa: F401  (registers every architecture)
