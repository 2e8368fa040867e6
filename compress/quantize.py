"""Quantization-aware training with an automatic QKeras twin of any zoo model.

The twin is made from the model's own zoo definition, not from a hand-written second model:
the architecture is built in the tf-keras world (QKeras only works there) and cloned with
``tf_keras.models.clone_model``, whose clone function swaps each layer for its QKeras
counterpart built from the layer's own ``get_config()`` plus quantizers:

=========================================  =================================================
float layer                                QKeras twin
=========================================  =================================================
Dense / Conv1D / Conv2D / Conv2DTranspose  QDense / QConv1D / QConv2D / QConv2DTranspose with
                                           ``quantized_bits(bits, i, alpha=1)`` kernel and bias
Activation / ReLU "relu"                   QActivation ``quantized_relu(bits, i)``
Activation "tanh" / "sigmoid" (hidden)     QActivation ``quantized_tanh(bits, use_real_tanh=True)``
                                           / ``quantized_sigmoid(bits, use_real_sigmoid=True)``
softmax, or sigmoid/tanh at the output     kept float (hls4ml implements them itself)
"linear" activations                       kept (identity)
BatchNormalization, Add, average pooling   kept float
layout layers (Flatten, pooling, Dropout,  kept
Concatenate, UpSampling, padding, ...)
=========================================  =================================================

Anything else (a custom layer, an unsupported activation) raises
:class:`~compress.errors.UnsupportedLayerError` naming the layer, before any training.

Integer bits ``i``: ``"auto"`` (the default) picks the smallest ``i >= 0`` with
``2**i`` above the largest magnitude seen -- the weights of the layer, or the activation on a
calibration batch of training data -- capped at ``bits - 1``; ``0`` everywhere reproduces the
hls4ml tutorial (``quantized_bits(6, 0, alpha=1)``, ``quantized_relu(6)``).

The twin gets the float (or pruned) weights, is fine-tuned, and then every kernel and bias
is snapped onto its quantizer's grid (``w = q(w)``), so the stored weights are exactly the
values the firmware uses. Pruned weights stay zero: a callback re-applies the mask after
every batch (``q(0) == 0``).
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from compress import graph
from compress.common import build, check_trainable, fit, quiet_qkeras, twin
from compress.errors import CompressionError, UnsupportedLayerError
from compress.quantizers import (
    activation_ranges,
    check_bits,
    plan,
)
from zoo.core.run_config import RunConfig
from zoo.core.worlds import TF_KERAS


def _q_objects():
    from zoo.core.worlds import qkeras_custom_objects

    return qkeras_custom_objects()


def qkeras_twin(
    model,
    cfg: RunConfig,
    *,
    bits: int = 6,
    layer_bits: dict | None = None,
    weight_integer="auto",
    act_integer="auto",
    calibration=None,
):
    """The QKeras (tf-keras) twin of Keras 3 ``model`` (zoo architecture ``cfg``), carrying its weights.

    Returns ``(qmodel, plan)``. ``calibration``: input samples for ``act_integer="auto"``.
    """
    import tf_keras

    t = twin(model, cfg, TF_KERAS, "qat")
    with _card_reason(cfg):
        plan(
            t, bits=bits, layer_bits=layer_bits
        )  # structure first: name the layer that cannot be quantized
    ranges = (
        activation_ranges(t, calibration)
        if (act_integer == "auto" and calibration is not None)
        else {}
    )
    the_plan = plan(
        t,
        bits=bits,
        layer_bits=layer_bits,
        weight_integer=weight_integer,
        act_integer=act_integer,
        act_ranges=ranges,
    )
    objs = _q_objects()

    def swap(layer):
        spec = the_plan.get(layer.name, {"kind": "keep"})
        cfg_l = layer.get_config()
        if spec["kind"] == "mac":
            cfg_l["kernel_quantizer"] = spec["kernel_quantizer"]
            cfg_l["bias_quantizer"] = spec.get("bias_quantizer")
            cfg_l["activation"] = spec["activation"]
            return objs[spec["class"]].from_config(cfg_l)
        if spec["kind"] == "act":
            return objs["QActivation"](spec["activation"], name=layer.name)
        return layer.__class__.from_config(cfg_l)

    with quiet_qkeras():
        try:
            q = tf_keras.models.clone_model(t, clone_function=swap)
        except Exception as exc:  # noqa: BLE001
            raise CompressionError(
                f"qat: cannot build the QKeras twin of {cfg.model!r}: {type(exc).__name__}: {exc}"
            ) from exc
    import zoo

    zoo.transfer_weights(t, q)
    return q, the_plan


def _check_card(cfg: RunConfig):
    from compress.common import card_of

    card = card_of(cfg)
    if not card.quantizable:
        raise CompressionError(
            f"qat: model {card.name!r} cannot be quantized: {card.not_quantizable_because} "
            "(model card)"
        )


@contextmanager
def _card_reason(cfg: RunConfig):
    """Append the model card's not_quantizable_because to a layer error; then apply the card's verdict."""
    from compress.common import card_of

    card = card_of(cfg)
    try:
        yield
    except UnsupportedLayerError as exc:
        if not card.quantizable:
            raise UnsupportedLayerError(
                exc.step,
                exc.layer,
                exc.cls,
                f"{exc.why} (model card: {card.not_quantizable_because})",
            ) from None
        raise
    _check_card(cfg)


def plan_qat(
    cfg: RunConfig, *, bits: int, layer_bits=None, act_integer="auto", weight_integer="auto"
) -> dict:
    """Validate a QAT request on a fresh build (no training): raises for unsupported layers/bad bits."""
    check_bits(bits)
    t = build(cfg, TF_KERAS, "qat")
    with _card_reason(cfg):
        the_plan = plan(
            t,
            bits=bits,
            layer_bits=layer_bits,
            act_integer=0 if act_integer == "auto" else act_integer,
            weight_integer=0 if weight_integer == "auto" else weight_integer,
        )
    check_trainable(cfg, "qat")
    return the_plan


def masks_of(model) -> dict[str, np.ndarray]:
    """Kernel masks (``kernel != 0``) of the Dense/Conv layers that contain zeros."""
    out = {}
    for layer in graph.layers(model):
        if graph.is_mac(layer):
            k = np.asarray(layer.kernel.numpy())
            if not k.all():
                out[layer.name] = (k != 0).astype(k.dtype)
    return out


def keep_mask_callback(masks: dict[str, np.ndarray]):
    """A tf-keras callback multiplying each masked kernel by its mask after every batch."""
    import tf_keras

    class KeepMask(tf_keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.apply()

        def on_train_begin(self, logs=None):
            self.apply()

        def apply(self):
            for name, m in masks.items():
                kern = self.model.get_layer(name).kernel
                kern.assign(kern * m)

    return KeepMask()


def snap_to_grid(qmodel) -> None:
    """Set every quantized kernel/bias to its quantized value (exactly on the grid)."""
    for layer in graph.layers(qmodel):
        for attr, qattr in (
            ("kernel", "kernel_quantizer_internal"),
            ("bias", "bias_quantizer_internal"),
        ):
            var, quant = getattr(layer, attr, None), getattr(layer, qattr, None)
            if var is None or quant is None:
                continue
            for _ in range(
                2
            ):  # the straight-through form x + (q(x) - x) can be 1 ulp off; twice is exact
                var.assign(np.asarray(quant(var.numpy())).astype(var.dtype.as_numpy_dtype))


def quantizers_of(qmodel) -> dict[str, dict]:
    """Layer -> its quantizer strings (what the hls4ml exporter reads as precision)."""
    out = {}
    for layer in graph.layers(qmodel):
        entry = {}
        for key, attr in (
            ("kernel", "kernel_quantizer_internal"),
            ("bias", "bias_quantizer_internal"),
        ):
            q = getattr(layer, attr, None)
            if q is not None:
                entry[key] = str(q)
        if type(layer).__name__ == "QActivation":
            entry["activation"] = str(layer.activation)
        elif (
            type(layer).__name__.startswith("Q") and getattr(layer, "activation", None) is not None
        ):
            name = getattr(layer.activation, "__name__", None) or str(layer.activation)
            if name not in ("linear",):
                entry["activation"] = name
        if entry:
            out[layer.name] = entry
    return out


def qat(
    model,
    cfg: RunConfig,
    ds,
    *,
    bits: int = 6,
    layer_bits: dict | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    weight_integer="auto",
    act_integer="auto",
    verbose: int = 0,
    on_step=None,
):
    """QKeras twin of Keras 3 ``model`` (float or pruned), fine-tuned on ``ds`` with pruning masks kept
    and weights snapped to the grid. Returns ``(qmodel, report)``."""
    card = check_trainable(cfg, "qat")
    q, the_plan = qkeras_twin(
        model,
        cfg,
        bits=bits,
        layer_bits=layer_bits,
        weight_integer=weight_integer,
        act_integer=act_integer,
        calibration=ds.x_train,
    )
    masks = masks_of(q)
    t0 = time.perf_counter()
    history = fit(
        q,
        card,
        ds,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        callbacks=[keep_mask_callback(masks)] if masks else [],
        verbose=verbose,
        on_step=on_step,
        label="qat",
    )
    seconds = time.perf_counter() - t0
    snap_to_grid(q)
    for name, m in masks.items():  # q(0) == 0, but keep the guarantee explicit
        kern = q.get_layer(name).kernel
        kern.assign(kern * m)
    report = {
        "bits": int(bits),
        "layer_bits": {k: int(v) for k, v in (layer_bits or {}).items()},
        "weight_integer": weight_integer,
        "act_integer": act_integer,
        "quantizers": quantizers_of(q),
        "masked_layers": sorted(masks),
        "epochs": epochs,
        "train_seconds": round(seconds, 2),
        "history": history,
    }
    return q, report
