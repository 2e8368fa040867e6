"""CIFAR ResNets (He et al. 2016, v1 basic blocks): MLPerf Tiny's ResNet-8 and ResNet-20.

ResNet-8 is the MLPerf Tiny image-classification reference (``resnet_v1_eembc``):
a 3x3/16 stem conv + BN + ReLU, three residual stacks of one basic block with
filters (16, 32, 64) and strides (1, 2, 2), an 8x8 average pool, Flatten and a
Dense softmax -- 78,666 parameters. A basic block is conv-BN-ReLU-conv-BN plus a
shortcut (identity, or a 1x1 conv without BN where stride or width change),
Add, ReLU. Deeper nets are a different ``stage_blocks``: ResNet-20 is (3, 3, 3)
(the Keras CIFAR-10 example's ``resnet_v1(depth=20)``).

Layer names follow Keras Applications: ``stack{s}_block{b}_{1,2}_conv``/``_bn``/``_relu``,
``stack{s}_block{b}_0_conv`` (projection shortcut), ``stack{s}_block{b}_add``/``_out``.
"""

from zoo.registry import ModelConfigError, register_model


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


def basic_block(k, x, filters, stride, *, prefix, l2=1e-4):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN + shortcut -> Add -> ReLU (ResNet v1)."""
    y = _conv(k, filters, 3, stride, f"{prefix}_1_conv", l2)(x)
    y = k.layers.BatchNormalization(name=f"{prefix}_1_bn")(y)
    y = k.layers.Activation("relu", name=f"{prefix}_1_relu")(y)
    y = _conv(k, filters, 3, 1, f"{prefix}_2_conv", l2)(y)
    y = k.layers.BatchNormalization(name=f"{prefix}_2_bn")(y)
    if stride != 1 or x.shape[-1] != filters:
        x = _conv(k, filters, 1, stride, f"{prefix}_0_conv", l2)(x)
    x = k.layers.Add(name=f"{prefix}_add")([x, y])
    return k.layers.Activation("relu", name=f"{prefix}_out")(x)


def residual_stack(k, x, filters, blocks, stride, prefix, *, l2=1e-4):
    """``blocks`` basic blocks of width ``filters``; the first one has stride ``stride``."""
    for b in range(1, blocks + 1):
        x = basic_block(k, x, filters, stride if b == 1 else 1, prefix=f"{prefix}_block{b}", l2=l2)
    return x


def cifar_resnet(k, *, name, input_shape, classes, filters, stage_blocks, strides, l2):
    """Stem, one :func:`residual_stack` per stage, global average pool (as AveragePooling2D), softmax."""
    if not (len(filters) == len(stage_blocks) == len(strides)):
        raise ModelConfigError(
            f"{name}: filters, stage_blocks and strides need one entry per stage. "
            f"Received: filters={filters}, stage_blocks={stage_blocks}, strides={strides}"
        )
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = _conv(k, filters[0], 3, 1, "conv1_conv", l2)(inputs)
    x = k.layers.BatchNormalization(name="conv1_bn")(x)
    x = k.layers.Activation("relu", name="conv1_relu")(x)
    for s, (f, blocks, stride) in enumerate(zip(filters, stage_blocks, strides), start=1):
        x = residual_stack(k, x, f, blocks, stride, f"stack{s}", l2=l2)
    # MLPerf Tiny: AveragePooling2D(pool_size=8) on the 8x8 maps == global average pooling.
    pool = (int(x.shape[1]), int(x.shape[2]))
    x = k.layers.AveragePooling2D(pool_size=pool, name="avg_pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(classes, kernel_initializer="he_normal", name="predictions")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)


_CARD = dict(
    family="resnet",
    task="classification",
    input_shape=(32, 32, 3),
    output="10-class softmax (CIFAR-10 classes)",
    dataset="cifar10",
)


@register_model(
    **_CARD,
    lecture="MLPerf Tiny image classification (ResNet-8, resnet_v1_eembc); He et al. 2016",
    params=78_666,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
    test_overrides={"filters": (4, 8, 8)},
    reference={
        "benchmark": "MLPerf Tiny image classification (IC)",
        "dataset": "CIFAR-10, 32x32x3, 10 classes",
        "quality_target": "85% top-1 accuracy",
        "int8_tflite_bytes": 98_496,
    },
    notes=(
        "MLPerf Tiny's ResNet-8 (resnet_v1_eembc with 16 filters, the v0.5/v1.0 reference; the "
        "current script's default is 26): same layers, order and shapes, 1x1 projection shortcuts "
        "without BN, so MLPerf's trained weights load with model.set_weights (tests/test_mlperf.py)."
    ),
)
def resnet8(
    k,
    *,
    name="resnet8",
    input_shape=(32, 32, 3),
    classes=10,
    filters=(16, 32, 64),
    stage_blocks=(1, 1, 1),
    strides=(1, 2, 2),
    l2=1e-4,
):
    return cifar_resnet(
        k,
        name=name,
        input_shape=input_shape,
        classes=classes,
        filters=filters,
        stage_blocks=stage_blocks,
        strides=strides,
        l2=l2,
    )


@register_model(
    **_CARD,
    lecture="He et al. 2016 CIFAR ResNet-20 (Keras CIFAR-10 example resnet_v1, depth 20); config of resnet8",
    params=274_442,
    targets=("onnx", "tflite"),
    test_overrides={"filters": (4, 8, 8), "stage_blocks": (2, 1, 1)},
    notes=(
        "ResNet-8 with stage_blocks=(3, 3, 3); 1x1 projection shortcuts (the paper's option B). "
        "No hls4ml claim: same layer types as resnet8 (a small config converts with io_stream), "
        "but 274k parameters is beyond what the test-suite can compile and check."
    ),
)
def resnet20(
    k,
    *,
    name="resnet20",
    input_shape=(32, 32, 3),
    classes=10,
    filters=(16, 32, 64),
    stage_blocks=(3, 3, 3),
    strides=(1, 2, 2),
    l2=1e-4,
):
    return cifar_resnet(
        k,
        name=name,
        input_shape=input_shape,
        classes=classes,
        filters=filters,
        stage_blocks=stage_blocks,
        strides=strides,
        l2=l2,
    )
