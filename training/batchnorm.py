"""Has BatchNormalization settled? The check that a trained model in inference mode is the one
training measured.

BatchNormalization normalizes with the batch's statistics while training and with its moving
averages (momentum 0.99) in inference. The moving variance starts at 1 and needs ~500 steps to
forget it: on a small data set at a large batch (ds_cnn on the 1,437 training digits at batch 64,
23 steps an epoch) a model can reach 95% training accuracy while the saved model, in inference
mode, is at chance (moving variance 0.61 against 0.005 measured). :func:`unsettled` finds such
layers so that ``train`` can say so, instead of leaving a user to wonder why the exported model
is wrong.
"""

from __future__ import annotations

import numpy as np

FACTOR = 4.0  # moving variance more than 4x off (either way) in the median channel


def unsettled(model, x: np.ndarray, *, factor: float = FACTOR) -> list[dict]:
    """The BatchNormalization layers of ``model`` (Keras 3, functional, top level) whose moving
    variance is more than ``factor`` times off, either way, from the variance of the layer's input
    on ``x`` (median over channels): ``[{"layer", "moving_variance", "measured_variance"}]``.
    A model without such layers, or one whose layers cannot be probed (nested, shared), gives []."""
    import keras

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return []
    try:
        probe = keras.Model(model.inputs, [layer.input for layer in bns])
    except (ValueError, AttributeError, TypeError):  # a layer used twice, or not in this graph
        return []
    outs = probe.predict(x, verbose=0, batch_size=64)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    found = []
    for layer, h in zip(bns, outs):
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
        axis %= h.ndim
        measured = np.var(h, axis=tuple(i for i in range(h.ndim) if i != axis))
        moving = np.asarray(layer.moving_variance)
        ratio = (moving + layer.epsilon) / (measured + layer.epsilon)
        r = float(np.median(ratio))
        if r > factor or r < 1 / factor:
            found.append(
                {
                    "layer": layer.name,
                    "moving_variance": float(np.median(moving)),
                    "measured_variance": float(np.median(measured)),
                }
            )
    return found


def advice(model_name: str, found: list[dict], n_layers: int, batch_size: int) -> str:
    """One message: which layers, how far off, and what to do."""
    first = found[0]
    return (
        f"{model_name}: BatchNormalization's moving statistics have not settled in {len(found)} "
        f"of {n_layers} layer(s) (e.g. {first['layer']}: moving variance "
        f"{first['moving_variance']:.3g} against {first['measured_variance']:.3g} measured on "
        "training data), so the saved model in inference mode -- the one evaluated and exported "
        "-- is not the one training measured. Train more steps: a smaller --batch-size (now "
        f"{batch_size}) or more --epochs (the moving averages need ~500 steps)."
    )
