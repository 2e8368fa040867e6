"""What a card's task means for compiling, fitting and evaluating a model (every stage uses these)."""

from __future__ import annotations

import numpy as np

import zoo
from training.datasets.registry import Dataset
from training.errors import TrainingError
from zoo.core.introspect import predicted_class
from zoo.registry import ModelCard


def output_kind(model) -> str:
    """ "binary" for a single sigmoid unit, "softmax" for a distribution, else "other"."""
    units = model.outputs[0].shape[-1]
    return "binary" if units == 1 else "softmax"


def loss_for(model, card: ModelCard):
    if card.loss == "internal":
        return None
    if card.loss:
        return card.loss
    if card.task == "classification":
        return (
            "binary_crossentropy"
            if output_kind(model) == "binary"
            else "sparse_categorical_crossentropy"
        )
    return "mse"


def compile_for(
    model, card: ModelCard, *, learning_rate: float = 1e-3, optimizer=None, metrics=None
):
    """Compile ``model`` with the loss and metrics its card's task calls for, in its own world."""
    k = zoo.get_keras(zoo.world_of(model))
    optimizer = optimizer or k.optimizers.Adam(learning_rate=learning_rate)
    if metrics is None:
        metrics = ["accuracy"] if card.task == "classification" else []
    loss = loss_for(model, card)
    if loss is None:
        model.compile(optimizer=optimizer)
    else:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def targets(card: ModelCard, x, y):
    """What ``fit`` gets as the target for a card's task."""
    if card.task == "reconstruction":
        return x
    if card.task in ("generation", "density"):
        return None
    return y


def synthetic_batch(model, card: ModelCard, *, batch: int = 16, rng=None):
    """A random (x, y) batch of the right shapes for ``model`` (tests, smoke checks)."""
    rng = rng or np.random.default_rng(0)
    x = rng.standard_normal((batch, *model.inputs[0].shape[1:])).astype("float32")
    if card.task == "classification":
        n = 2 if output_kind(model) == "binary" else model.outputs[0].shape[-1]
        y = rng.integers(0, n, size=batch)
    elif card.task == "regression":
        y = rng.standard_normal((batch, *model.outputs[0].shape[1:])).astype("float32")
    else:
        y = None
    return x, targets(card, x, y)


def evaluate(model, card: ModelCard, ds: Dataset) -> dict:
    """Test-split metrics for a card's task."""
    x, y = ds.x_test, ds.y_test
    out: dict = {"n_test": int(len(x))}
    if card.task == "classification":
        prob = np.asarray(model.predict(x, verbose=0))
        out["accuracy"] = float((predicted_class(prob) == y).mean())
    elif card.task == "reconstruction":
        rec = np.asarray(model.predict(x, verbose=0))
        err = ((rec - x) ** 2).reshape(len(x), -1).mean(1)
        out["mse"] = float(err.mean())
        if y is not None and len(np.unique(y)) == 2:  # normal (0) / anomaly (1): error as the score
            from sklearn.metrics import roc_auc_score

            out["auc"] = float(roc_auc_score(y, err))
    if card.task != "generation":
        res = model.evaluate(x, targets(card, x, y), verbose=0, return_dict=True)
        out.update({f"test_{k}": float(v) for k, v in res.items()})
    return out


def check_labels(net, card: ModelCard, ds: Dataset, model: str):
    """Class labels must fit the model's outputs (else TensorFlow fails mid-fit with its own message)."""
    if card.task != "classification" or ds.y_train is None or not len(ds.y_train):
        return
    units = int(net.outputs[0].shape[-1])
    top = int(max(np.max(y) for y in (ds.y_train, ds.y_val, ds.y_test) if y is not None and len(y)))
    n = 2 if units == 1 else units
    if top >= n:
        raise TrainingError(
            f"{ds.name} has labels 0..{top} ({top + 1} classes) but {model} was built with {units} output"
            f"{'s' if units > 1 else ''}; drop the `classes` override or set classes={top + 1}."
        )
