"""MobileNetV1 (Howard et al. 2017) as MLPerf Tiny's visual-wake-words reference model.

Layer for layer mlcommons/tiny ``benchmark/training/visual_wake_words/vww_model.py`` (the EEMBC
variant from Silicon Labs): a 3x3 stride-2 Conv2D + BN + ReLU, thirteen depthwise-separable
blocks (DepthwiseConv2D 3x3 + BN + ReLU, Conv2D 1x1 + BN + ReLU; convolutions with biases,
plain ReLU rather than Keras Applications' ReLU6 and bias-free convs), AveragePooling2D over
the remaining map, Flatten, Dense softmax. The widths are MobileNetV1's
(32; 64, 128, 128, 256, 256, 512 x 6, 1024, 1024) times ``alpha``; MLPerf uses alpha 0.25
(8 base filters) on 96x96x3 with 2 classes: 221,794 parameters.

The block list is data (:data:`BLOCKS`): (pointwise filters at alpha 1, depthwise stride).
Layer names: ``conv1``/``conv1_bn``/``conv1_relu``, ``block{i}_dw``/``_dw_bn``/``_dw_relu``/
``_pw``/``_pw_bn``/``_pw_relu``, ``avg_pool``, ``flatten``, ``predictions``, ``softmax``.
"""

from zoo.registry import ModelConfigError, register_model

BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def _conv(k, filters, size, stride, name, l2):
    return k.layers.Conv2D(
        filters,
        size,
        strides=stride,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=k.regularizers.l2(l2) if l2 else None,
        name=name,
    )


def _bn_relu(k, x, prefix):
    x = k.layers.BatchNormalization(name=f"{prefix}_bn")(x)
    return k.layers.Activation("relu", name=f"{prefix}_relu")(x)


def separable_block(k, x, filters, stride, *, prefix, l2=1e-4):
    """DepthwiseConv2D 3x3 (stride) + BN + ReLU, pointwise Conv2D 1x1 + BN + ReLU."""
    # MLPerf passes kernel_initializer/kernel_regularizer to DepthwiseConv2D, which ignores them
    # for the depthwise kernel (depthwise_initializer/_regularizer): Keras' defaults it is.
    x = k.layers.DepthwiseConv2D(3, strides=stride, padding="same", name=f"{prefix}_dw")(x)
    x = _bn_relu(k, x, f"{prefix}_dw")
    x = _conv(k, filters, 1, 1, f"{prefix}_pw", l2)(x)
    return _bn_relu(k, x, f"{prefix}_pw")


@register_model(
    family="cnn",
    task="classification",
    input_shape=(96, 96, 3),
    output="2-class softmax (non_person, person)",
    dataset="vww",
    lecture="MLPerf Tiny visual wake words (MobileNetV1 alpha 0.25, vww_model.py; Howard et al. 2017)",
    params=221_794,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
    test_overrides={"input_shape": (16, 16, 3), "alpha": 0.125, "blocks": 2},
    quantizable=False,
    not_quantizable_because=(
        "DepthwiseConv2D: edgezoo's QKeras twin maps Dense/Conv1D/Conv2D/Conv2DTranspose only "
        "(QKeras' QDepthwiseConv2D is not wired in compress.quantize)"
    ),
    reference={
        "benchmark": "MLPerf Tiny visual wake words (VWW)",
        "dataset": "Visual Wake Words (COCO 2014 person / non-person), 96x96x3",
        "quality_target": "80% top-1 accuracy",
        "int8_tflite_bytes": 333_288,
    },
    notes=(
        "MLPerf's trained weights load with model.set_weights (same layer order and shapes). "
        "Other widths: alpha=0.5, 1.0; other inputs: input_shape=(128, 128, 3). "
        "hls4ml: DepthwiseConv2D converts with io_stream (chosen automatically for CNNs); the "
        "claim is checked on a small configuration (16x16, alpha 0.125, 2 blocks)."
    ),
)
def mobilenet_v1(
    k, *, name="mobilenet_v1", input_shape=(96, 96, 3), classes=2, alpha=0.25, blocks=13, l2=1e-4
):
    if not 0 < alpha <= 4 or not 1 <= blocks <= len(BLOCKS):
        raise ModelConfigError(
            f"{name}: alpha must be in (0, 4] and blocks in [1, {len(BLOCKS)}]. "
            f"Received: alpha={alpha}, blocks={blocks}"
        )
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = _conv(k, max(1, int(32 * alpha)), 3, 2, "conv1", l2)(inputs)
    x = _bn_relu(k, x, "conv1")
    for b, (filters, stride) in enumerate(BLOCKS[:blocks], start=1):
        x = separable_block(k, x, max(1, int(filters * alpha)), stride, prefix=f"block{b}", l2=l2)
    # MLPerf: AveragePooling2D(pool_size=x.shape[1:3]), the whole remaining map (3x3 at 96x96).
    x = k.layers.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])), name="avg_pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(classes, name="predictions")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
