"""edgezoo's model zoo: Keras functional-API definitions of the lecture architectures.

Importing this package sets up the two Keras worlds (see :mod:`zoo.core.worlds`).
"""

from zoo.core import worlds  # noqa: F401  (must run before TensorFlow is imported)
from zoo.core.worlds import KERAS3, TF_KERAS, get_keras, transfer_weights, world_of
from zoo.registry import (
    ModelCard,
    UnknownModelError,
    builder_config,
    card_of_config,
    create_model,
    get_card,
    list_models,
    register_model,
)

__all__ = [
    "KERAS3",
    "TF_KERAS",
    "ModelCard",
    "UnknownModelError",
    "builder_config",
    "card_of_config",
    "create_model",
    "get_card",
    "get_keras",
    "list_models",
    "register_model",
    "transfer_weights",
    "world_of",
]
