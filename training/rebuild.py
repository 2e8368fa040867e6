"""A plain Keras 3 model from one trained under a ``tf.distribute`` strategy.

Used by :func:`training.train.train` after a distributed ``fit`` (it lives here, not in
:mod:`training.distribute`, so that training.train -> training.distribute has no way back).
"""

from __future__ import annotations

import numpy as np

import zoo
from training.tasks import compile_for
from zoo.core.io import atomic_save, load_model


def to_keras3(net, model: str, overrides: dict, *, card=None, learning_rate: float = 1e-3):
    """A plain (not distributed) Keras 3 copy of a model trained under a strategy.

    Weights move by layer name (:func:`zoo.transfer_weights`), from the tf-keras twin of a
    multi-worker run or from the mirrored variables of a Keras 3 one. With ``card`` the copy is
    compiled as :func:`training.train.compile_for` does; a Keras 3 source's optimizer state
    comes along, a tf-keras one's does not (a later fine-tuning starts with fresh Adam moments).
    """
    twin = zoo.create_model(model, world=zoo.KERAS3, **overrides)
    zoo.transfer_weights(net, twin)
    if card is not None:
        compile_for(twin, card, learning_rate=learning_rate)
        if getattr(twin, "optimizer", None) is not None:
            twin.optimizer.build(twin.trainable_variables)
            src = list(getattr(getattr(net, "optimizer", None), "variables", []) or [])
            dst = list(twin.optimizer.variables)
            if (
                zoo.world_of(net) == zoo.KERAS3
                and len(src) == len(dst)
                and all(tuple(a.shape) == tuple(b.shape) for a, b in zip(src, dst))
            ):
                for a, b in zip(src, dst):
                    b.assign(np.asarray(a))
    return twin


def checkpoint_to_keras3(path, model: str, overrides: dict):
    """Rewrite the chief's tf-keras best-model checkpoint as a Keras 3 ``.keras`` file."""
    atomic_save(
        to_keras3(load_model(path, world=zoo.TF_KERAS, compile=False), model, overrides), path
    )
