"""Shared plumbing: moving a model between worlds, fitting and evaluating in either world."""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager

import numpy as np

import zoo
from compress.errors import CompressionError
from training.callbacks import epoch_callback
from training.tasks import compile_for, evaluate, targets
from zoo.core.run_config import RunConfig


def card_of(cfg: RunConfig):
    """The :class:`zoo.ModelCard` of a model directory's config: the card stored in it (an
    imported model has no registry entry), else the registry's."""
    return zoo.card_of_config(cfg)


def check_trainable(cfg: RunConfig, step: str):
    card = card_of(cfg)
    if card.loss == "internal":
        raise CompressionError(
            f"{step}: model {card.name!r} brings its own training step (card loss='internal'); "
            "compression fine-tuning supports models trained with a plain loss only."
        )
    if card.task not in ("classification", "regression", "reconstruction"):
        raise CompressionError(
            f"{step}: model {card.name!r} has task {card.task!r}; compression supports "
            "classification, regression and reconstruction models."
        )
    return card


def build(cfg: RunConfig, world: str, step: str):
    """Build the zoo architecture of ``cfg`` (same overrides) in ``world``; clear error if impossible."""
    try:
        if cfg.architecture:  # an imported model: its stored Keras 3 architecture
            from zoo.imported import build_architecture

            return build_architecture(cfg.architecture, world)
        return zoo.create_model(cfg.model, world=world, **cfg.overrides)
    except Exception as exc:  # noqa: BLE001 - re-raised with the step named
        raise CompressionError(
            f"{step}: cannot build {cfg.model!r} in the {world} world ({type(exc).__name__}: {exc})."
        ) from exc


def twin(model, cfg: RunConfig, world: str, step: str):
    """``cfg``'s architecture built in ``world`` carrying ``model``'s weights (moved by layer name)."""
    other = build(cfg, world, step)
    try:
        zoo.transfer_weights(model, other)
    except (KeyError, ValueError) as exc:
        raise CompressionError(
            f"{step}: the weights of {model.name!r} do not fit the {world} build of {cfg.model!r} "
            f"with overrides {cfg.overrides}: {exc}"
        ) from exc
    return other


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def fit(
    model,
    card,
    ds,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    callbacks=(),
    verbose=0,
    compile_model: bool = True,
    on_step=None,
    label: str = "fit",
):
    """Fit ``model`` (either world) on a data set's train split, validating on its val split.
    ``on_step(label, done, epochs, info)`` is called after each epoch."""
    if compile_model:
        compile_for(model, card, learning_rate=learning_rate)
    y_tr = targets(card, ds.x_train, ds.y_train)
    y_va = targets(card, ds.x_val, ds.y_val)
    with quiet_qkeras():
        hist = model.fit(
            ds.x_train,
            y_tr,
            validation_data=(ds.x_val, y_va),
            epochs=epochs,
            batch_size=batch_size,
            callbacks=[*callbacks, *epoch_callbacks(model, on_step, label, epochs)],
            verbose=verbose,
            shuffle=True,
        )
    losses = hist.history.get("loss", [])
    if not losses or not all(np.isfinite(losses)):
        raise CompressionError(
            f"fine-tuning {model.name!r} produced a NaN/inf loss ({losses[-3:]}); lower the learning rate "
            f"(now {learning_rate})."
        )
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def epoch_callbacks(model, on_step, label: str, epochs: int) -> list:
    """``[callback]`` of ``model``'s world reporting each epoch to ``on_step``; ``[]`` without one."""
    if on_step is None:
        return []
    return [epoch_callback(zoo.get_keras(zoo.world_of(model)), on_step, label, epochs)]


def test_metrics(model, card, ds) -> dict:
    """Test-split metrics (``training.evaluate``); compiles ``model`` for its card's task first."""
    compile_for(model, card)
    with quiet_qkeras():
        return evaluate(model, card, ds)


@contextmanager
def quiet_qkeras():
    """QKeras serializes its quantizers through tf-keras' constraint API, which warns every time."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*keras.constraints.serialize.*")
        warnings.filterwarnings("ignore", message=".*kernel_range is deprecated.*")
        warnings.filterwarnings("ignore", message=".*bias_range is deprecated.*")
        yield


def uncompiled_copy(model):
    """A copy of ``model`` without optimizer state (what is saved: smaller files, clean reloads)."""
    from zoo.core.worlds import KERAS3, world_of

    if world_of(model) == KERAS3:
        import keras

        copy = keras.models.clone_model(model)
    else:
        import tf_keras

        with quiet_qkeras():
            copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy
