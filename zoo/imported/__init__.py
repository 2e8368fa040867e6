"""Models from outside the zoo: a user's ``.keras`` / ``.h5`` file, read safely, in the right world.

:func:`~zoo.imported.loaders.read_model_file` takes

* a Keras 3 ``.keras`` archive -- loaded by Keras 3 with ``safe_mode`` on;
* a Keras 2 ``.h5`` or ``.keras`` written by TensorFlow 2.x / tf-keras -- loaded by Keras 3 where
  it can; where it cannot (``DepthwiseConv2D`` with ``groups``, ``SeparableConv2D`` with
  ``kernel_initializer`` ...: keyword arguments Keras 3 refuses), loaded by tf-keras, its
  architecture rebuilt in Keras 3 from the tf-keras config with the refused keyword arguments
  dropped, and the weights moved over by layer name; the caller checks equal outputs on real
  inputs (:func:`~zoo.imported.convert.max_output_diff`);
* a QKeras ``.h5`` / ``.keras`` -- stays a QKeras model in the tf-keras world, so its
  quantizers reach hls4ml.

Before anything is deserialized, :func:`~zoo.imported.files.check_model_file` -- the one gate of every loader,
:func:`zoo.core.io.load_model` included -- reads the file's configs as JSON and walks all of them
(:func:`~zoo.imported.scan.scan_config`): a ``Lambda`` layer, a serialized Python function (bytecode that would run
on loading), a class or function neither Keras world, QKeras nor edgezoo defines (nor the user
registered), or a ``module`` outside them, anywhere, gets one :class:`~zoo.core.io.ModelFileError`
naming the file and the place -- no code from the file ever runs. Truncated, corrupt or foreign
files get one clear error too.

The package: :mod:`zoo.imported.files` (what a file is, its configs read as JSON, the gate
:func:`~zoo.imported.files.check_model_file`), :mod:`zoo.imported.scan` (the walk over a whole
config), :mod:`zoo.imported.policy` (which classes, functions and modules are allowed),
:mod:`zoo.imported.loaders` (:func:`~zoo.imported.loaders.read_model_file`: the routes into a
world), :mod:`zoo.imported.convert` (a config moved between the worlds).

An imported model directory stores its Keras 3 architecture (``config.json`` key
``architecture``) so later stages can rebuild it in either world (:func:`build_architecture`),
as they rebuild a zoo model from its registry entry.
"""

from __future__ import annotations

import json

from zoo.core.io import custom_objects
from zoo.core.worlds import KERAS3, get_keras, qkeras_custom_objects
from zoo.imported.convert import convert_config
from zoo.imported.scan import scan_config


def architecture(model) -> dict:
    """The Keras 3 architecture of ``model`` (what :func:`build_architecture` rebuilds)."""
    return json.loads(model.to_json())


def build_architecture(arch: dict, world: str = KERAS3):
    """A fresh model of a stored Keras 3 architecture, in ``world`` (weights initialized anew)."""
    import keras

    scan_config(arch, "the stored architecture (config.json)")
    if world == KERAS3:
        return keras.models.model_from_json(json.dumps(arch), custom_objects=custom_objects(KERAS3))
    k = get_keras(world)
    cfg, _ = convert_config(arch, world)
    objs = {**custom_objects(world), **qkeras_custom_objects()}
    return k.models.model_from_json(json.dumps(cfg), custom_objects=objs)
