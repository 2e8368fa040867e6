"""edgezoo: the command-line interface and the end-to-end pipeline (sits on top of every stage)."""

import zoo  # noqa: F401  (sets up the two Keras worlds before TensorFlow loads)

__version__ = "0.1.0"
