"""Architecture-specific checks of the CNN families: AlexNet and VGG16 against the lecture-003
tables, ResNet stage lists, U-Net skips and the autoencoders' bottlenecks and anomaly scores."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.models.alexnet import LocalResponseNormalization
from zoo.models.resnet import residual_stack

WORLDS = ["keras", "tf_keras"]


def _params(model, prefix):
    return {
        layer.name: layer.count_params() for layer in model.layers if layer.name.startswith(prefix)
    }


def _shape(model, layer):
    return tuple(model.get_layer(layer).output.shape[1:])


# --------------------------------------------------------------------------- AlexNet


@pytest.fixture(scope="module")
def alexnet():
    return zoo.create_model("alexnet")


def test_alexnet_matches_the_lecture_table(alexnet):
    convs = _params(alexnet, "conv")
    assert convs == {
        "conv1": 34_944,
        "conv2": 614_656,
        "conv3": 885_120,
        "conv4": 1_327_488,
        "conv5": 884_992,
    }
    assert sum(convs.values()) == 3_747_200
    fc = {n: alexnet.get_layer(n).kernel.shape for n in ("fc6", "fc7", "fc8")}
    assert fc == {"fc6": (9216, 4096), "fc7": (4096, 4096), "fc8": (4096, 1000)}
    weights_only = sum(int(np.prod(s)) for s in fc.values())
    assert weights_only == 37_748_736 + 16_777_216 + 4_096_000
    # The lecture's "Overall 62369152": conv parameters plus the dense weights (no dense biases).
    assert sum(convs.values()) + weights_only == 62_369_152
    assert alexnet.count_params() == 62_369_152 + 4096 + 4096 + 1000 == 62_378_344


def test_alexnet_feature_map_sizes(alexnet):
    assert tuple(alexnet.inputs[0].shape[1:]) == (227, 227, 3)
    expected = {
        "conv1": (55, 55, 96),
        "pool1": (27, 27, 96),
        "norm1": (27, 27, 96),
        "conv2": (27, 27, 256),
        "pool2": (13, 13, 256),
        "conv3": (13, 13, 384),
        "conv4": (13, 13, 384),
        "conv5": (13, 13, 256),
        "pool5": (6, 6, 256),
        "flatten": (9216,),
        "softmax": (1000,),
    }
    assert {n: _shape(alexnet, n) for n in expected} == expected
    assert [layer.rate for layer in alexnet.layers if "dropout" in layer.name] == [0.5, 0.5]
    order = [layer.name for layer in alexnet.layers]
    assert order.index("pool1") < order.index("norm1") < order.index("conv2")  # pool, then Norm


@pytest.mark.parametrize("world", WORLDS)
def test_lrn_is_parameter_free_and_follows_the_formula(world):
    k = zoo.get_keras(world)
    layer = LocalResponseNormalization(k)(name="norm")
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 7)).astype("float32") * 10
    got = np.asarray(layer(x))
    assert layer.count_params() == 0
    # b_c = a_c / (k + alpha * sum_{|c'-c| <= 2} a_c'^2) ** beta, k=2, alpha=1e-4, beta=0.75
    sq = np.pad(x**2, ((0, 0), (0, 0), (0, 0), (2, 2)))
    window = sum(sq[..., i : i + 7] for i in range(5))
    np.testing.assert_allclose(got, x / (2.0 + 1e-4 * window) ** 0.75, rtol=1e-5)
    config = layer.get_config()
    assert (config["depth_radius"], config["bias"], config["alpha"], config["beta"]) == (
        2,
        2.0,
        1e-4,
        0.75,
    )


def test_alexnet_without_lrn_has_the_same_parameters():
    small = dict(zoo.get_card("alexnet").test_overrides)
    with_lrn = zoo.create_model("alexnet", **small)
    without = zoo.create_model("alexnet", lrn=False, **small)
    assert without.count_params() == with_lrn.count_params()
    assert not [layer for layer in without.layers if layer.name.startswith("norm")]
    assert [layer.name for layer in with_lrn.layers if layer.name.startswith("norm")] == [
        "norm1",
        "norm2",
    ]


# --------------------------------------------------------------------------- VGG16

# The lecture's "memory usage of VGG" table: conv weights without biases, block by block.
VGG16_CONV_WEIGHTS = [
    1_728,
    36_864,
    73_728,
    147_456,
    294_912,
    589_824,
    589_824,
    1_179_648,
    2_359_296,
    2_359_296,
    2_359_296,
    2_359_296,
    2_359_296,
]


def test_vgg16_matches_the_lecture_and_keras_applications():
    model = zoo.create_model("vgg16")
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [int(np.prod(c.kernel.shape)) for c in convs] == VGG16_CONV_WEIGHTS
    assert [c.name for c in convs] == [
        f"block{b}_conv{i}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for i in range(1, n + 1)
    ]
    dense = {
        layer.name: tuple(layer.kernel.shape)
        for layer in model.layers
        if layer.__class__.__name__ == "Dense"
    }
    assert dense == {"fc1": (25088, 4096), "fc2": (4096, 4096), "predictions": (4096, 1000)}
    assert _shape(model, "block5_pool") == (7, 7, 512)
    assert model.count_params() == 138_357_544
    # Same layer names and weight shapes as Keras Applications, so ImageNet weights load by name.
    import keras

    reference = keras.applications.VGG16(weights=None)

    def shapes(m):
        return {
            layer.name: [tuple(w.shape) for w in layer.weights]
            for layer in m.layers
            if layer.weights
        }

    assert shapes(model) == shapes(reference)


def test_vgg16_stages_are_data():
    model = zoo.create_model(
        "vgg16", input_shape=(32, 32, 3), classes=10, fc_units=16, stages=((4, 1), (8, 2))
    )
    assert [layer.name for layer in model.layers if layer.name.endswith("_pool")] == [
        "block1_pool",
        "block2_pool",
    ]
    assert _shape(model, "block2_pool") == (8, 8, 8)
    assert _shape(model, "softmax") == (10,)


# --------------------------------------------------------------------------- ResNet


def _adds(model):
    return [layer.name for layer in model.layers if layer.__class__.__name__ == "Add"]


def test_resnet8_is_the_mlperf_tiny_model():
    model = zoo.create_model("resnet8")
    assert model.count_params() == 78_666
    assert _adds(model) == ["stack1_block1_add", "stack2_block1_add", "stack3_block1_add"]
    assert {
        n: _shape(model, n)
        for n in ("conv1_relu", "stack1_block1_out", "stack2_block1_out", "stack3_block1_out")
    } == {
        "conv1_relu": (32, 32, 16),
        "stack1_block1_out": (32, 32, 16),
        "stack2_block1_out": (16, 16, 32),
        "stack3_block1_out": (8, 8, 64),
    }
    # Projection shortcuts (1x1 conv, no BN) only where stride or width change.
    shortcuts = [layer.name for layer in model.layers if layer.name.endswith("_0_conv")]
    assert shortcuts == ["stack2_block1_0_conv", "stack3_block1_0_conv"]
    assert model.get_layer("avg_pool").pool_size == (8, 8)
    assert _shape(model, "softmax") == (10,)


def test_resnet20_is_a_config_line_of_resnet8():
    deep = zoo.create_model("resnet8", stage_blocks=(3, 3, 3))
    assert deep.count_params() == zoo.get_card("resnet20").params == 274_442
    r20 = zoo.create_model("resnet20")
    assert len(_adds(r20)) == 9
    # same layers, same names -- but the input, which carries the model's name
    assert [layer.name for layer in r20.layers[1:]] == [layer.name for layer in deep.layers[1:]]
    assert (r20.layers[0].name, deep.layers[0].name) == ("resnet20_input", "resnet8_input")
    conv = [
        layer
        for layer in r20.layers
        if layer.__class__.__name__ == "Conv2D" and not layer.name.endswith("_0_conv")
    ]
    assert len(conv) + 1 == 20  # 19 convs + the Dense layer


@pytest.mark.parametrize("world", WORLDS)
def test_residual_stack_is_generic(world):
    k = zoo.get_keras(world)
    inputs = k.Input(shape=(16, 16, 8))
    out = residual_stack(k, inputs, 12, 2, 2, "s")
    model = k.Model(inputs, out)
    assert tuple(out.shape[1:]) == (8, 8, 12)
    assert _adds(model) == ["s_block1_add", "s_block2_add"]
    assert [layer.name for layer in model.layers if layer.name.endswith("_0_conv")] == [
        "s_block1_0_conv"
    ]


def test_resnet_config_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="one entry per stage"):
        zoo.create_model("resnet8", filters=(16, 32))


# --------------------------------------------------------------------------- U-Net


def _concat_inputs(model, name):
    return [tuple(t.shape[1:]) for t in model.get_layer(name).input]


def test_unet_skip_shapes():
    model = zoo.create_model("unet")
    assert tuple(model.inputs[0].shape[1:]) == tuple(model.outputs[0].shape[1:]) == (16, 16, 1)
    assert _concat_inputs(model, "dec1_concat") == [(16, 16, 8), (16, 16, 8)]
    assert _concat_inputs(model, "dec2_concat") == [(8, 8, 16), (8, 8, 16)]
    assert _shape(model, "bottleneck_relu2") == (4, 4, 32)
    assert model.get_layer("output").get_config()["activation"] == "linear"


@pytest.mark.parametrize("upsampling", ["nearest", "transpose"])
def test_unet_depth_and_upsampling_are_parameters(upsampling):
    model = zoo.create_model(
        "unet", input_shape=(32, 32, 3), depth=3, base_filters=4, upsampling=upsampling
    )
    assert _concat_inputs(model, "dec3_concat") == [(8, 8, 16), (8, 8, 16)]
    assert _shape(model, "bottleneck_relu2") == (4, 4, 32)
    assert tuple(model.outputs[0].shape[1:]) == (32, 32, 3)


def test_unet_bad_shape_and_noise():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth=4"):
        zoo.create_model("unet", input_shape=(10, 10, 1))
    model = zoo.create_model("unet", noise_stddev=0.1, base_filters=2)
    x = np.random.default_rng(0).random((2, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(
        np.asarray(model(x, training=False)), np.asarray(model(x, training=False))
    )
    assert model.get_layer("noise").__class__.__name__ == "GaussianNoise"


# --------------------------------------------------------------------------- autoencoders


def test_dense_autoencoder_bottleneck():
    model = zoo.create_model("dense_autoencoder")
    widths = [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert widths == [64, 32, 8, 32, 64, 64]
    assert _shape(model, "latent_relu") == (8,)
    assert tuple(model.outputs[0].shape[1:]) == (64,)
    image = zoo.create_model("dense_autoencoder", input_shape=(8, 8, 1))
    assert tuple(image.outputs[0].shape[1:]) == (8, 8, 1)


def test_conv_autoencoder_bottleneck():
    model = zoo.create_model("conv_autoencoder")
    assert _shape(model, "bottleneck") == (2, 2, 4)  # 16 values for 64 pixels
    assert tuple(model.outputs[0].shape[1:]) == (8, 8, 1)
    with pytest.raises(ValueError, match="divisible"):
        zoo.create_model("conv_autoencoder", input_shape=(6, 6, 1))


@pytest.mark.parametrize("name", ["dense_autoencoder", "conv_autoencoder", "unet"])
def test_reconstruction_cards(name):
    card = zoo.get_card(name)
    assert card.task == "reconstruction" and card.dataset == "digits"
    if name != "unet":
        assert "anomaly score" in card.output


def test_reconstruction_error_is_an_anomaly_score():
    """Trained briefly on digits, the autoencoder reconstructs digits better than noise."""
    from sklearn.datasets import load_digits

    from training.tasks import compile_for

    x = (load_digits().images.reshape(-1, 64) / 16.0).astype("float32")
    model = zoo.create_model("dense_autoencoder")
    compile_for(model, zoo.get_card("dense_autoencoder"), learning_rate=3e-3)
    model.fit(x, x, epochs=15, batch_size=64, verbose=0)
    noise = np.random.default_rng(0).random((200, 64)).astype("float32")

    def score(data):
        return ((np.asarray(model.predict(data, verbose=0)) - data) ** 2).mean(axis=1)

    assert np.median(score(noise)) > 2 * np.median(score(x[:200]))
