"""Magnitude pruning with tensorflow-model-optimization, for any zoo model of Dense/Conv layers.

tfmot only works on tf-keras, so the Keras 3 model is rebuilt in that world from the same
zoo definition (``zoo.create_model(name, world="tf_keras", **overrides)``), its weights moved
over by layer name, the chosen layers wrapped with ``prune_low_magnitude`` (a
``PolynomialDecay`` schedule from 0 to the target, or ``ConstantSparsity``), fine-tuned with
``UpdatePruningStep``, stripped with ``strip_pruning``, and the weights moved back into a
fresh Keras 3 build. The result is an ordinary Keras 3 model whose pruned weights are exact
zeros; QAT (:mod:`compress.quantize`) keeps them zero.
"""

from __future__ import annotations

import fnmatch
import time

from compress import graph
from compress.common import build, check_trainable, fit, steps_per_epoch, twin
from compress.errors import CompressionError, UnsupportedLayerError
from compress.metrics import sparsity_report
from zoo.core.run_config import RunConfig
from zoo.core.worlds import KERAS3, TF_KERAS

SCHEDULES = ("polynomial", "constant")


def check_sparsity(target) -> float:
    """A target sparsity must lie in [0, 1)."""
    try:
        value = float(target)
    except (TypeError, ValueError):
        raise CompressionError(
            f"prune: the target sparsity must be a number in [0, 1). Received: {target!r}"
        ) from None
    if not 0.0 <= value < 1.0:
        raise CompressionError(
            f"prune: the target sparsity must lie in [0, 1). Received: prune={target!r}"
        )
    return value


def prunable_layers(model) -> list[str]:
    """Names of the Dense/Conv1D/Conv2D/Conv2DTranspose layers (the kernels pruning can zero)."""
    return [layer.name for layer in graph.layers(model) if graph.is_mac(layer)]


def select_layers(model, layers=None) -> list[str]:
    """The layers to prune: ``layers`` (names or shell patterns), or every Dense/Conv layer but
    the output layer(s). Raises a clear error for an unknown or unprunable layer."""
    every = {layer.name: layer for layer in graph.layers(model)}
    macs = prunable_layers(model)
    if layers is None:
        heads = graph.head_layers(model)
        chosen = [n for n in macs if n not in heads]
        if not chosen:
            raise CompressionError(
                f"prune: {model.name!r} has no Dense/Conv layer to prune besides its output layer(s) "
                f"{sorted(heads)}; pass layers=[...] (--prune-layers) to prune those."
            )
        return chosen
    if isinstance(layers, str):
        layers = [s for s in layers.split(",") if s]
    chosen = []
    for pattern in layers:
        hits = [n for n in every if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise CompressionError(
                f"prune: no layer of {model.name!r} matches {pattern!r}. Prunable layers: {macs}"
            )
        for name in hits:
            layer = every[name]
            if not graph.is_mac(layer):
                if pattern == name:  # named explicitly: it must be prunable
                    raise UnsupportedLayerError(
                        "prune",
                        name,
                        type(layer).__name__,
                        f"only Dense/Conv1D/Conv2D/Conv2DTranspose kernels are pruned. Prunable layers: {macs}",
                    )
                continue
            if name not in chosen:
                chosen.append(name)
    if not chosen:
        raise CompressionError(
            f"prune: {layers} selects no Dense/Conv layer. Prunable layers: {macs}"
        )
    return chosen


def make_schedule(kind: str, target: float, total_steps: int, per_epoch: int):
    """A tfmot schedule reaching ``target`` at the latest after ~70% of the fine-tuning steps."""
    import tensorflow_model_optimization as tfmot

    if kind not in SCHEDULES:
        raise CompressionError(
            f"prune: schedule must be one of {SCHEDULES}. Received: schedule={kind!r}"
        )
    freq = max(1, min(100, per_epoch // 2))
    last = max(0, total_steps - 1)  # steps run 0 .. total_steps-1
    if kind == "constant":
        return tfmot.sparsity.keras.ConstantSparsity(target, begin_step=0, frequency=freq)
    end = (int(0.7 * last) // freq) * freq
    if end < freq:  # too few steps for a ramp: prune once at the last step
        return tfmot.sparsity.keras.ConstantSparsity(target, begin_step=0, frequency=1)
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=target, begin_step=0, end_step=end, frequency=freq
    )


def plan_pruning(model, cfg: RunConfig, layers=None) -> list[str]:
    """Validate a pruning request on the tf-keras build (no training): the layers that will be pruned."""
    check_trainable(cfg, "prune")
    t = build(cfg, TF_KERAS, "prune")
    chosen = select_layers(t, layers)
    _check_tfmot_support(t, chosen)
    return chosen


def _check_tfmot_support(t, chosen):
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (
        PruneRegistry,
    )

    for layer in graph.layers(t):
        if layer.name in chosen and not PruneRegistry.supports(layer):
            raise UnsupportedLayerError(
                "prune",
                layer.name,
                type(layer).__name__,
                "tensorflow-model-optimization cannot prune it",
            )


def prune(
    model,
    cfg: RunConfig,
    ds,
    *,
    target: float,
    layers=None,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    schedule: str = "polynomial",
    verbose: int = 0,
    on_step=None,
):
    """Prune Keras 3 ``model`` (architecture ``cfg``) to ``target`` sparsity on ``ds``; returns
    ``(pruned Keras 3 model, report)``. ``report`` has the per-layer and overall achieved sparsity."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    target = check_sparsity(target)
    card = check_trainable(cfg, "prune")
    t = twin(model, cfg, TF_KERAS, "prune")
    chosen = select_layers(t, layers)
    _check_tfmot_support(t, chosen)
    per_epoch = steps_per_epoch(len(ds.x_train), batch_size)
    sched = make_schedule(schedule, target, per_epoch * epochs, per_epoch)

    def wrap(layer):
        if layer.name in chosen:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=sched)
        return layer

    try:
        wrapped = tf_keras.models.clone_model(t, clone_function=wrap)
    except Exception as exc:  # noqa: BLE001
        raise CompressionError(
            f"prune: tfmot cannot wrap {cfg.model!r}: {type(exc).__name__}: {exc}"
        ) from exc
    t0 = time.perf_counter()
    history = fit(
        wrapped,
        card,
        ds,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        verbose=verbose,
        on_step=on_step,
        label="prune",
    )
    seconds = time.perf_counter() - t0
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    out = twin(stripped, cfg, KERAS3, "prune")
    report = {
        "target_sparsity": target,
        "schedule": schedule,
        "schedule_config": sched.get_config(),
        "pruned_layers": chosen,
        "achieved_sparsity": sparsity_report(out, chosen),
        "epochs": epochs,
        "train_seconds": round(seconds, 2),
        "history": history,
    }
    return out, report
