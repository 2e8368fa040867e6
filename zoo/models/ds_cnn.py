"""DS-CNN (Zhang et al. 2017, "Hello Edge"): MLPerf Tiny's keyword-spotting reference model.

Layer for layer the network of mlcommons/tiny ``benchmark/training/keyword_spotting/keras_model.py``
(``model_architecture == "ds_cnn"``): on a 49x10x1 MFCC map, a Conv2D 64 (10x4, stride 2, same)
+ BN + ReLU + Dropout 0.2; four depthwise-separable blocks (DepthwiseConv2D 3x3 + BN + ReLU,
Conv2D 64 1x1 + BN + ReLU); Dropout 0.4; AveragePooling2D; Flatten; Dense 12 softmax --
24,908 parameters. MLPerf's pool size is ``(input_h // 2, input_w // 2)`` = (24, 5) on the
25x5 map (the last row is not pooled); :func:`ds_cnn` keeps that rule so MLPerf's trained
weights give MLPerf's outputs.

Layer names: ``conv1``/``conv1_bn``/``conv1_relu``/``conv1_dropout``, ``block{i}_dw``/
``_dw_bn``/``_dw_relu``/``_pw``/``_pw_bn``/``_pw_relu``, ``dropout``, ``avg_pool``,
``flatten``, ``predictions``, ``softmax``.
"""

from zoo.registry import register_model


def _bn_relu(k, x, prefix):
    x = k.layers.BatchNormalization(name=f"{prefix}_bn")(x)
    return k.layers.Activation("relu", name=f"{prefix}_relu")(x)


def ds_block(k, x, filters, *, prefix, l2=1e-4):
    """DepthwiseConv2D 3x3 + BN + ReLU, then pointwise Conv2D 1x1 + BN + ReLU (with biases, as MLPerf)."""
    reg = k.regularizers.l2(l2) if l2 else None
    # MLPerf passes kernel_regularizer to DepthwiseConv2D, which does not apply it to the
    # depthwise kernel (that is depthwise_regularizer): its depthwise kernels are not regularized.
    x = k.layers.DepthwiseConv2D(3, padding="same", name=f"{prefix}_dw")(x)
    x = _bn_relu(k, x, f"{prefix}_dw")
    x = k.layers.Conv2D(filters, 1, padding="same", kernel_regularizer=reg, name=f"{prefix}_pw")(x)
    return _bn_relu(k, x, f"{prefix}_pw")


@register_model(
    family="cnn",
    task="classification",
    input_shape=(49, 10, 1),
    output="12-class softmax (down, go, left, no, off, on, right, stop, up, yes, _silence_, _unknown_)",
    dataset="speech_commands",
    lecture="MLPerf Tiny keyword spotting (DS-CNN, keyword_spotting/keras_model.py; Zhang et al. 2017)",
    params=24_908,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
    test_overrides={"input_shape": (17, 10, 1), "filters": 4, "blocks": 1},
    quantizable=False,
    not_quantizable_because=(
        "DepthwiseConv2D: edgezoo's QKeras twin maps Dense/Conv1D/Conv2D/Conv2DTranspose only "
        "(QKeras' QDepthwiseConv2D is not wired in compress.quantize)"
    ),
    reference={
        "benchmark": "MLPerf Tiny keyword spotting (KWS)",
        "dataset": "Google Speech Commands v2, 12 classes, 49x10 MFCC",
        "quality_target": "90% top-1 accuracy",
        "int8_tflite_bytes": 53_936,
    },
    notes=(
        "MLPerf's trained weights load with model.set_weights (same layer order and shapes). "
        "hls4ml: DepthwiseConv2D converts with io_stream (chosen automatically for CNNs), "
        "including MLPerf's (24, 5) pool on the 25x5 map."
    ),
)
def ds_cnn(k, *, name="ds_cnn", input_shape=(49, 10, 1), classes=12, filters=64, blocks=4, l2=1e-4):
    reg = k.regularizers.l2(l2) if l2 else None
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = k.layers.Conv2D(
        filters, (10, 4), strides=2, padding="same", kernel_regularizer=reg, name="conv1"
    )(inputs)
    x = _bn_relu(k, x, "conv1")
    x = k.layers.Dropout(0.2, name="conv1_dropout")(x)
    for b in range(1, blocks + 1):
        x = ds_block(k, x, filters, prefix=f"block{b}", l2=l2)
    x = k.layers.Dropout(0.4, name="dropout")(x)
    # MLPerf: AveragePooling2D(pool_size=(int(input_h / 2), int(input_w / 2))).
    x = k.layers.AveragePooling2D(
        pool_size=(input_shape[0] // 2, input_shape[1] // 2), name="avg_pool"
    )(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(classes, name="predictions")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
