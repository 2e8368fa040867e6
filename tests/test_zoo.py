"""Every registered model, in both Keras worlds: builds, forward shape, card consistency,
.keras save/load parity and one training step that lowers the loss (timm-style, automatic
for every new ``@register_model``)."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.core.io import ModelFileError, atomic_save, load_model
from zoo.registry import TARGETS, TASKS

MODELS = zoo.list_models()
WORLDS = ["keras", "tf_keras"]


def _small(name):
    """The card's small test configuration (big models get smaller inputs for fast checks)."""
    return dict(zoo.get_card(name).test_overrides)


def _inputs(model, batch, rng):
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    xs = [rng.standard_normal((batch, *s)).astype("float32") for s in shapes]
    return xs[0] if len(xs) == 1 else xs


def _outputs(model, x):
    out = model(x, training=False)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o) for o in out]


def test_registry_is_populated():
    assert len(MODELS) >= 5
    assert zoo.list_models("jet_*") == ["jet_dnn", "jet_tagger"]


@pytest.mark.parametrize("name", MODELS)
def test_card_is_consistent(name):
    card = zoo.get_card(name)
    assert card.name == name
    assert card.task in TASKS
    assert set(card.targets) <= set(TARGETS)
    assert card.lecture and card.dataset and card.output
    from training.datasets.registry import DATASETS

    assert card.dataset in DATASETS, f"{name}: default data set {card.dataset!r} is not registered"
    assert set(card.test_overrides) <= set(zoo.builder_config(name))


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("name", MODELS)
def test_default_build_matches_card(name, world):
    """The default configuration builds in both worlds with the card's parameter count and input."""
    card = zoo.get_card(name)
    model = zoo.create_model(name, world=world)
    assert model.count_params() == card.params
    assert tuple(model.inputs[0].shape[1:]) == card.input_shape
    assert zoo.world_of(model) == world


@pytest.mark.parametrize("world", WORLDS)
@pytest.mark.parametrize("name", MODELS)
def test_forward_and_save_load(name, world, tmp_path, rng):
    model = zoo.create_model(name, world=world, **_small(name))
    x = _inputs(model, 3, rng)
    before = _outputs(model, x)
    for o in before:
        assert o.shape[0] == 3 and np.all(np.isfinite(o))
    path = atomic_save(model, tmp_path / f"{name}.keras")
    again = load_model(path, world=world)
    after = _outputs(again, x)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", MODELS)
def test_weights_move_between_worlds(name, rng):
    """One definition, two worlds: weights transferred by layer name give the same function."""
    k3 = zoo.create_model(name, world="keras", **_small(name))
    k2 = zoo.create_model(name, world="tf_keras", **_small(name))
    moved = zoo.transfer_weights(k3, k2)
    assert moved or not k3.weights
    x = _inputs(k3, 4, rng)
    for a, b in zip(_outputs(k3, x), _outputs(k2, x)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_one_training_step_lowers_loss(name, rng):
    """A few training steps on one fixed batch lower the loss evaluated on that batch
    (inference mode, same random seed for both evaluations: dropout and sampling noise cancel).
    GANs report the discriminator loss as "loss"."""
    import keras

    from training.tasks import compile_for, synthetic_batch

    model = zoo.create_model(name, **_small(name))
    compile_for(model, zoo.get_card(name), learning_rate=1e-3)
    # eager steps: 6 steps and 2 evaluations cost less than tracing a train and a test function
    model.run_eagerly = True
    x, y = synthetic_batch(model, zoo.get_card(name), batch=16, rng=rng)

    def evaluated():
        keras.utils.set_random_seed(1)
        return model.test_on_batch(x, y, return_dict=True)["loss"]

    before = evaluated()
    for _ in range(6):
        model.train_on_batch(x, y)
    after = evaluated()
    assert np.isfinite(before) and np.isfinite(after)
    assert after < before, f"{name}: loss did not decrease ({before} -> {after})"


@pytest.mark.parametrize(
    "name,params",
    [("jet_dnn", 1_795), ("lenet5", 61_706), ("alexnet", 62_378_344), ("vgg16", 138_357_544)],
)
def test_parameter_counts_match_the_lectures(name, params):
    if name not in MODELS:
        pytest.fail(f"{name} is not registered")
    assert zoo.create_model(name).count_params() == params


def test_unknown_model_names_close_matches():
    with pytest.raises(zoo.UnknownModelError, match=r"Unknown model 'lenet'.*lenet5"):
        zoo.create_model("lenet")


def test_unknown_override_is_rejected():
    with pytest.raises(TypeError, match="does not take"):
        zoo.create_model("mlp", kernel_size=3)


def test_wrong_input_shape_is_a_clear_error():
    model = zoo.create_model("mlp")
    with pytest.raises(ValueError, match="shape|incompatible|expected"):
        model(np.zeros((2, 7), "float32"))
    with pytest.raises(ValueError, match="input_shape must be positive"):
        zoo.create_model("mlp", input_shape=(0,))


def test_corrupt_keras_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(ModelFileError, match="broken.keras.*not a Keras model archive"):
        load_model(bad)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.keras")


@pytest.mark.parametrize("name", MODELS)
def test_no_layer_uses_a_reserved_name(name):
    """hls4ml 1.3 rejects a layer named 'input'; the zoo names inputs '<model>_input'."""
    model = zoo.create_model(name, **_small(name))
    names = [layer.name for layer in model.layers]
    assert "input" not in names
    assert len(names) == len(set(names))
