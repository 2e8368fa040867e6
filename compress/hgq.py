"""HGQ2: learned per-weight and per-activation precision (arXiv 2405.00645, ``hgq2`` for Keras 3).

``hgq_twin(model)`` rebuilds a float Keras 3 model (Dense, Conv1D/Conv2D, pooling, Flatten,
ReLU/linear activations, Dropout dropped, a final softmax dropped: the twin outputs logits, the
argmax is the same) as an HGQ2 model with the float weights. ``hgq_finetune`` trains it with the
EBOPs cost term under a beta schedule, keeps every epoch's weights, computes the accuracy-vs-EBOPs
Pareto front, picks the checkpoint with the fewest EBOPs whose validation accuracy is within the
accuracy budget of the best one, and calibrates the activation ranges (``trace_minmax``).

hgq2 lives beside QKeras (``make install``: ``.venv/hgq`` appended to ``sys.path``); importing it
is :func:`import_hgq`, which says in one line how to install it when it is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from compress.errors import CompressionError, UnsupportedLayerError

SUPPORTED_ACTIVATIONS = ("relu", "linear")


def import_hgq():
    """``hgq`` (appending ``<venv>/hgq`` after site-packages if no .pth did it)."""
    extra = Path(sys.prefix) / "hgq"
    if extra.is_dir() and str(extra) not in sys.path:
        sys.path.append(str(extra))
    try:
        import hgq
    except ImportError:
        raise CompressionError(
            "hgq: hgq2 is not installed; run `make install` (it installs hgq2 into .venv/hgq, "
            "beside QKeras)."
        ) from None
    return hgq


def _act_name(act) -> str:
    name = getattr(act, "__name__", str(act))
    return "linear" if name in ("linear", "None") else name


def _twin_layer(layer, last: bool):
    """The HGQ2 replacement of ``layer``: a layer, None (dropped) or 'fuse' (ReLU into the
    previous layer)."""
    import keras
    from hgq import layers as hl

    kind = type(layer).__name__
    if kind in ("Dropout", "InputLayer"):
        return None
    if kind in ("Activation", "ReLU"):
        act = "relu" if kind == "ReLU" else _act_name(layer.activation)
        if act == "softmax" and last:
            return None
        if act == "relu":
            return "fuse"
        if act == "linear":
            return None
    if kind == "Flatten":
        return keras.layers.Flatten(name=layer.name)
    if kind in ("Dense", "Conv1D", "Conv2D"):
        act = _act_name(layer.activation)
        if act not in SUPPORTED_ACTIVATIONS:
            raise UnsupportedLayerError(
                f"hgq: layer {layer.name!r} has activation {act!r}; HGQ2 twins take relu or linear."
            )
        if kind == "Dense":
            return hl.QDense(layer.units, activation=act, name=layer.name)
        cls = hl.QConv1D if kind == "Conv1D" else hl.QConv2D
        return cls(
            layer.filters,
            layer.kernel_size,
            strides=layer.strides,
            padding=layer.padding,
            activation=act,
            name=layer.name,
        )
    pools = {"MaxPooling1D": "QMaxPool1D", "MaxPooling2D": "QMaxPool2D"}
    pools.update({"AveragePooling1D": "QAvgPool1D", "AveragePooling2D": "QAvgPool2D"})
    if kind in pools:
        return getattr(hl, pools[kind])(
            pool_size=layer.pool_size, strides=layer.strides, padding=layer.padding, name=layer.name
        )
    why = (
        "fold it into the previous layer or train without it"
        if kind == "BatchNormalization"
        else "supported: Dense, Conv1D/2D, pooling, Flatten, ReLU, Dropout, final softmax"
    )
    raise UnsupportedLayerError(f"hgq: layer {layer.name!r} ({kind}) has no HGQ2 twin here; {why}.")


def hgq_twin(model, *, beta0: float = 0.0, weight_bits0: int = 8, act_f0: int = 6):
    """The HGQ2 twin of a single-chain float Keras 3 model, initialized from its weights; its
    weights start at ``weight_bits0`` bits, its activations at ``act_f0`` fractional bits."""
    import keras

    import_hgq()
    from hgq.config import LayerConfigScope, QuantizerConfigScope

    layers = [la for la in model.layers if type(la).__name__ != "InputLayer"]
    for la in layers:
        if len(la._inbound_nodes) != 1:
            raise UnsupportedLayerError(f"hgq: layer {la.name!r} is shared; not supported.")
    inp = keras.Input(model.inputs[0].shape[1:], name=model.inputs[0].name.split(":")[0])
    x, prev, pairs = inp, None, []
    with (
        QuantizerConfigScope(place="all", default_q_type="kbi", overflow_mode="SAT_SYM"),
        QuantizerConfigScope(place="weight", default_q_type="kbi", b0=weight_bits0),
        QuantizerConfigScope(
            place="datalane", default_q_type="kif", overflow_mode="WRAP", f0=act_f0
        ),
        LayerConfigScope(enable_ebops=True, beta0=beta0),
    ):
        pending = []
        for i, la in enumerate(layers):
            new = _twin_layer(la, last=i == len(layers) - 1)
            if new is None:
                continue
            if new == "fuse":
                if prev is None or prev.activation.__name__ != "linear":
                    raise UnsupportedLayerError(
                        f"hgq: ReLU layer {la.name!r} does not follow a Dense/Conv layer."
                    )
                prev.activation = keras.activations.get("relu")
                continue
            pending.append((new, la))
            x = new(x)
            prev = new if hasattr(new, "kernel") else None
        twin = keras.Model(inp, x, name=f"{model.name}_hgq")
    for new, la in pending:
        if la.weights:
            new.kernel.assign(la.kernel.numpy())
            if la.use_bias:
                new.bias.assign(la.bias.numpy())
            pairs.append(la.name)
    return twin


def q_layers(model):
    from hgq.layers import QLayerBase

    return [la for la in model._flatten_layers() if isinstance(la, QLayerBase)]


def total_ebops(model) -> int:
    return int(sum(int(np.asarray(la.ebops)) for la in q_layers(model) if la.enable_ebops))


def weight_bits(model) -> dict:
    """Per-layer bits of every kernel element (0 = pruned): mean, pruned fraction, histogram."""
    out, all_bits = {}, []
    for la in q_layers(model):
        if not hasattr(la, "kq") or getattr(la, "kernel", None) is None:
            continue
        k = np.asarray(la.kernel)
        kq = np.asarray(la.kq(k, training=False))
        bits = np.asarray(la.kq.bits_(k.shape)).astype(np.int64)
        bits = np.where(kq == 0, 0, bits)
        all_bits.append(bits.ravel())
        hist = np.bincount(bits.ravel(), minlength=int(bits.max()) + 1)
        out[la.name] = {
            "weights": int(bits.size),
            "mean_bits": float(bits.mean()),
            "pruned_fraction": float((bits == 0).mean()),
            "total_bits": int(bits.sum()),
            "histogram": {str(b): int(n) for b, n in enumerate(hist) if n},
        }
    flat = np.concatenate(all_bits) if all_bits else np.zeros(0)
    return {
        "mean_bits": float(flat.mean()) if flat.size else 0.0,
        "total_bits": int(flat.sum()),
        "pruned_fraction": float((flat == 0).mean()) if flat.size else 0.0,
        "layers": out,
    }


def pareto_front(points: list[dict]) -> list[dict]:
    """The checkpoints no other beats on both validation accuracy (higher) and EBOPs (lower)."""
    front = []
    for p in points:
        dominated = any(
            q["val_accuracy"] >= p["val_accuracy"]
            and q["ebops"] <= p["ebops"]
            and (q["val_accuracy"] > p["val_accuracy"] or q["ebops"] < p["ebops"])
            for q in points
        )
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p["ebops"])


def pick(front: list[dict], reference: float, budget: float) -> dict:
    """Fewest EBOPs with validation accuracy >= reference - budget; else the most accurate."""
    ok = [p for p in front if p["val_accuracy"] >= reference - budget]
    return min(ok, key=lambda p: p["ebops"]) if ok else max(front, key=lambda p: p["val_accuracy"])


def _calibrated(twin, ds, batch_size: int) -> tuple[int, float]:
    """Calibrate the activation ranges on the training split (``trace_minmax``); returns the
    exact EBOPs and the validation accuracy of the calibrated model."""
    from hgq.utils import trace_minmax

    ebops = int(trace_minmax(twin, ds.x_train, batch_size=max(batch_size, 256), verbose=0))
    logits = np.asarray(twin.predict(ds.x_val, batch_size=1024, verbose=0))
    return ebops, float((logits.argmax(-1) == np.asarray(ds.y_val).reshape(-1)).mean())


def beta_schedule(epochs: int, beta0: float, beta1: float, beta_end: float | None = None):
    """(points of hgq's ``PieceWiseSchedule``, first epoch of the tail): beta rises log-linearly
    from ``beta0`` to ``beta1`` over the first half and is held; with ``beta_end``, the last
    30% of the epochs (the tail) run at ``beta_end`` (and a tenth of the learning rate), so the
    bits stop shrinking and accuracy recovers at the cost reached. Tail 0: no tail."""
    half = max(1, epochs // 2)
    points = [(0, beta0, "log"), (half, beta1, "constant")]
    tail = int(0.7 * epochs) if beta_end is not None else 0
    if tail <= half:
        return points, 0
    return [*points, (tail, beta_end, "constant")], tail


def hgq_finetune(
    twin,
    ds,
    *,
    epochs,
    beta0,
    beta1,
    batch_size,
    learning_rate,
    accuracy_budget,
    beta_end=None,
    verbose=0,
) -> dict:
    """Fine-tune ``twin`` with the EBOPs term under :func:`beta_schedule`; keep every epoch,
    calibrate the Pareto front's checkpoints (with a tail: the tail's only), restore the one
    the budget picks (relative to the best calibrated validation accuracy). Returns the record."""
    import keras
    from hgq.utils.sugar import BetaScheduler, FreeEBOPs, PieceWiseSchedule

    points_, tail = beta_schedule(epochs, beta0, beta1, beta_end)
    sched = PieceWiseSchedule(points_)
    _calibrated(twin, ds, batch_size)  # the float weights' ranges before the first step
    twin.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    points, saved = [], []

    class Keep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            points.append(
                {
                    "epoch": epoch + 1,
                    "beta": float(logs["beta"]),
                    "ebops_training": int(logs["ebops"]),
                    "accuracy_train": float(logs["accuracy"]),
                    "val_accuracy_training": float(logs["val_accuracy"]),
                }
            )
            saved.append([np.array(w) for w in self.model.get_weights()])

    callbacks = [BetaScheduler(sched), FreeEBOPs(), Keep()]
    if tail:  # the tail at a tenth of the learning rate
        lr = lambda e, _: learning_rate / 10 if e >= tail else learning_rate  # noqa: E731
        callbacks.append(keras.callbacks.LearningRateScheduler(lr))
    y_train, y_val = (np.asarray(y).reshape(-1) for y in (ds.y_train, ds.y_val))
    twin.fit(
        ds.x_train,
        y_train,
        validation_data=(ds.x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
        callbacks=callbacks,
    )
    rough = pareto_front(
        [
            {**p, "ebops": p["ebops_training"], "val_accuracy": p["val_accuracy_training"]}
            for p in points
            if p["epoch"] > tail  # with a tail, only its epochs (before it, bits still shrink)
        ]
    )
    for p in rough:  # exact figures for the front: calibrated ranges
        twin.set_weights(saved[p["epoch"] - 1])
        p["ebops"], p["val_accuracy"] = _calibrated(twin, ds, batch_size)
    front = pareto_front(rough)
    best = max(p["val_accuracy"] for p in front)
    chosen = pick(front, best, accuracy_budget)
    twin.set_weights(saved[chosen["epoch"] - 1])
    ebops, _ = _calibrated(twin, ds, batch_size)
    return {"epochs": points, "pareto_front": front, "chosen": chosen, "ebops": ebops}
