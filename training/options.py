"""The options of ``train()``, declared once (:mod:`zoo.core.options`).

``edgezoo train`` derives its flags from :class:`TrainOptions`, the recipe's ``train:`` section
is validated by it, and :func:`training.train.train` accepts its fields as keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.core.options import option

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclass
class TrainOptions:
    epochs: int = option(50, "at most this many epochs (EarlyStopping may stop sooner)", min=1)
    batch_size: int = option(64, "training batch size (per replica with --strategy)", min=1)
    learning_rate: float = option(1e-3, "learning rate", min=0.0, flag="--lr", metavar="LR")
    patience: int = option(10, "EarlyStopping patience (epochs)", min=0)
    seed: int = option(0, "seed of the data split, initialization and shuffling")
    limit: int | None = option(None, "use only this many samples (quick runs)", min=1)
    tensorboard: bool = option(False, "also write TensorBoard logs")
    input_noise: float = option(
        0.0,
        "std of Gaussian noise added to the training inputs, batch by batch (not to targets or "
        "validation data; the saved model is unchanged): a model trained on clean, low-noise "
        "data (the digits upsampled) otherwise learns features that int8's input rounding "
        "breaks; e.g. 0.05 for inputs in [0, 1]",
        min=0.0,
        metavar="STD",
    )
    strategy: str = option(
        "default",
        "tf.distribute: mirrored = the GPUs of this host, multiworker = the hosts of "
        "TF_CONFIG (see docs/scaling.md); --batch-size is then per replica",
        choices=STRATEGIES,
        metavar="{" + ",".join(STRATEGIES) + "}",
    )
    overrides: dict | None = option(
        None, "builder overrides, e.g. {classes: 5} (command line: --set KEY=VALUE)", cli=False
    )

    def check(self):
        if not self.learning_rate > 0:
            from zoo.core.options import OptionError

            raise OptionError(
                f"train.learning_rate must be > 0. Received: learning_rate={self.learning_rate!r}"
            )
