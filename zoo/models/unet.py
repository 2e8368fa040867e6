"""A small U-Net (Ronneberger et al. 2015) for image-to-image reconstruction / denoising.

Contracting path: ``depth`` levels of double conv (3x3 conv [-> BN] -> ReLU, twice) and a
2x2 max-pool, doubling the filters each level from ``base_filters``; a double conv at the
bottom; expanding path: 2x upsampling + a 2x2 "up-conv" halving the filters, Concatenate
with the skip of the same resolution ("copy"), double conv; a final 1x1 conv back to the
input's channels. The output has the input's shape.

Denoising is a training choice: feed noisy inputs and clean targets, or build with
``noise_stddev > 0`` (a GaussianNoise layer, active only while training).
"""

from zoo.registry import ModelConfigError, register_model


def double_conv(k, x, filters, *, prefix, batchnorm=True, activation="relu"):
    """(3x3 conv [-> BN] -> activation) x 2, names ``{prefix}_conv{i}``, ``_bn{i}``, ``_relu{i}``."""
    for i in (1, 2):
        x = k.layers.Conv2D(
            filters, 3, padding="same", use_bias=not batchnorm, name=f"{prefix}_conv{i}"
        )(x)
        if batchnorm:
            x = k.layers.BatchNormalization(name=f"{prefix}_bn{i}")(x)
        x = k.layers.Activation(activation, name=f"{prefix}_{activation}{i}")(x)
    return x


@register_model(
    family="unet",
    task="reconstruction",
    input_shape=(16, 16, 1),
    output="image of the input's shape (reconstruction; denoised image when trained on noisy inputs)",
    dataset="digits",
    lecture="U-Net (Ronneberger 2015), encoder-decoder with skip connections; lecture 003 CNN building blocks",
    params=29_801,
    targets=("onnx", "tflite", "hls4ml"),
    test_overrides={"base_filters": 4},
    notes=(
        "Digits (8x8) are resized to 16x16 for the default two poolings. input_shape height and "
        "width must be divisible by 2**depth. The default up path is UpSampling2D(nearest) + a 2x2 conv, "
        "which hls4ml supports; upsampling='transpose' (Conv2DTranspose) or 'bilinear' are not "
        "covered by the hls4ml claim."
    ),
)
def unet(
    k,
    *,
    name="unet",
    input_shape=(16, 16, 1),
    depth=2,
    base_filters=8,
    batchnorm=True,
    upsampling="nearest",
    output_activation="linear",
    noise_stddev=0.0,
):
    h, w = input_shape[0], input_shape[1]
    if h % 2**depth or w % 2**depth:
        raise ModelConfigError(
            f"unet: input height and width must be divisible by 2**depth={2**depth}. "
            f"Received: input_shape={input_shape}, depth={depth}"
        )
    if upsampling not in ("nearest", "bilinear", "transpose"):
        raise ModelConfigError(
            f"unet: upsampling must be 'nearest', 'bilinear' or 'transpose'. Received: {upsampling!r}"
        )
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    if noise_stddev:
        x = k.layers.GaussianNoise(noise_stddev, name="noise")(x)
    skips = []
    for level in range(1, depth + 1):
        x = double_conv(
            k, x, base_filters * 2 ** (level - 1), prefix=f"enc{level}", batchnorm=batchnorm
        )
        skips.append(x)
        x = k.layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = double_conv(k, x, base_filters * 2**depth, prefix="bottleneck", batchnorm=batchnorm)
    for level in range(depth, 0, -1):
        filters = base_filters * 2 ** (level - 1)
        if upsampling == "transpose":
            x = k.layers.Conv2DTranspose(filters, 2, strides=2, name=f"dec{level}_upconv")(x)
        else:
            x = k.layers.UpSampling2D(2, interpolation=upsampling, name=f"dec{level}_up")(x)
            x = k.layers.Conv2D(filters, 2, padding="same", name=f"dec{level}_upconv")(x)
        x = k.layers.Concatenate(name=f"dec{level}_concat")([skips[level - 1], x])
        x = double_conv(k, x, filters, prefix=f"dec{level}", batchnorm=batchnorm)
    x = k.layers.Conv2D(input_shape[-1], 1, name="output_conv")(x)
    outputs = k.layers.Activation(output_activation, name="output")(x)
    return k.Model(inputs, outputs, name=name)
