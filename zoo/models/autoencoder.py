"""Autoencoders for anomaly detection (MLPerf Tiny style): the model maps x -> x and is
trained with MSE on normal data; the per-sample reconstruction error
``mean((x - model(x))**2)`` is the anomaly score (large = unlike the training data).

* ``dense_autoencoder`` -- the MLPerf Tiny anomaly-detection (ToyADMOS) autoencoder scaled to
  the 64 pixels of a digit: Dense 64-32 -> bottleneck 8 -> Dense 32-64 -> Dense 64 (linear),
  each hidden Dense followed by BatchNormalization and ReLU (MLPerf: 640-128x4-8-128x4-640).
* ``conv_autoencoder`` -- conv encoder (3x3 conv [-> BN] -> ReLU -> 2x2 max-pool per level),
  a 3x3 bottleneck conv, and a decoder of UpSampling2D (+ a shape-pinning no-op Reshape) and
  3x3 conv [-> BN] -> ReLU per level, ending in a 3x3 conv to the input's channels.
"""

from zoo.registry import ModelConfigError, register_model

_ANOMALY = (
    "reconstruction of the input; anomaly score = per-sample mean squared reconstruction error"
)


def _dense_bn_act(k, x, units, prefix, batchnorm, activation):
    x = k.layers.Dense(units, use_bias=not batchnorm, name=f"{prefix}_fc")(x)
    if batchnorm:
        x = k.layers.BatchNormalization(name=f"{prefix}_bn")(x)
    return k.layers.Activation(activation, name=f"{prefix}_{activation}")(x)


@register_model(
    family="autoencoder",
    task="reconstruction",
    input_shape=(64,),
    output=_ANOMALY,
    dataset="digits",
    lecture="MLPerf Tiny anomaly detection (dense autoencoder, ToyADMOS), scaled to 8x8 digits",
    params=13_664,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
    test_overrides={"widths": (16, 8), "latent": 4},
    notes="Bottleneck layer: 'latent_fc' (then latent_bn, latent_relu). batchnorm=False gives plain Dense+bias.",
)
def dense_autoencoder(
    k,
    *,
    name="dense_autoencoder",
    input_shape=(64,),
    widths=(64, 32),
    latent=8,
    batchnorm=True,
    activation="relu",
):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = k.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    size = int(x.shape[-1])
    for i, units in enumerate(widths, start=1):
        x = _dense_bn_act(k, x, units, f"enc{i}", batchnorm, activation)
    x = _dense_bn_act(k, x, latent, "latent", batchnorm, activation)
    for i, units in enumerate(reversed(widths), start=1):
        x = _dense_bn_act(k, x, units, f"dec{i}", batchnorm, activation)
    outputs = k.layers.Dense(size, name="output")(x)
    if len(input_shape) > 1:
        outputs = k.layers.Reshape(input_shape, name="reshape")(outputs)
    return k.Model(inputs, outputs, name=name)


@register_model(
    family="autoencoder",
    task="reconstruction",
    input_shape=(8, 8, 1),
    output=_ANOMALY,
    dataset="digits",
    lecture="convolutional autoencoder (conv encoder / UpSampling decoder), MLPerf Tiny anomaly detection idea",
    params=3_221,
    targets=("onnx", "tflite", "hls4ml"),
    test_overrides={"filters": (4, 4), "latent_filters": 2},
    notes=(
        "Default on native 8x8 digits: 8x8x1 -> 2x2x4 bottleneck ('bottleneck' layer, 16 values) -> 8x8x1. "
        "Height and width must be divisible by 2**len(filters)."
    ),
)
def conv_autoencoder(
    k,
    *,
    name="conv_autoencoder",
    input_shape=(8, 8, 1),
    filters=(16, 8),
    latent_filters=4,
    batchnorm=False,
    activation="relu",
    output_activation="linear",
):
    h, w = input_shape[0], input_shape[1]
    n = 2 ** len(filters)
    if h % n or w % n:
        raise ModelConfigError(
            f"conv_autoencoder: input height and width must be divisible by 2**len(filters)={n}. "
            f"Received: input_shape={input_shape}, filters={filters}"
        )

    def conv_block(x, f, prefix):
        x = k.layers.Conv2D(f, 3, padding="same", use_bias=not batchnorm, name=f"{prefix}_conv")(x)
        if batchnorm:
            x = k.layers.BatchNormalization(name=f"{prefix}_bn")(x)
        return k.layers.Activation(activation, name=f"{prefix}_{activation}")(x)

    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = conv_block(x, f, f"enc{i}")
        x = k.layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)
    x = k.layers.Conv2D(latent_filters, 3, padding="same", name="bottleneck_conv")(x)
    x = k.layers.Activation(activation, name="bottleneck")(x)
    for i, f in enumerate(reversed(filters), start=1):
        x = k.layers.UpSampling2D(2, name=f"dec{i}_up")(x)
        # A no-op Reshape pins the static shape: without it, Keras 3's UpSampling2D (tf.repeat)
        # after pooling leaves a Conv2D the TFLite converter cannot lower at a dynamic batch size.
        x = k.layers.Reshape(tuple(int(s) for s in x.shape[1:]), name=f"dec{i}_reshape")(x)
        x = conv_block(x, f, f"dec{i}")
    x = k.layers.Conv2D(input_shape[-1], 3, padding="same", name="output_conv")(x)
    outputs = k.layers.Activation(output_activation, name="output")(x)
    return k.Model(inputs, outputs, name=name)
