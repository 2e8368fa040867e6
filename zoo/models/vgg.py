"""VGG16 (Simonyan & Zisserman 2014), lecture 003 "Going deeper".

Equivalent to ``keras.applications.VGG16(include_top=True)``: the same layer names
(``block{b}_conv{i}``, ``block{b}_pool``, ``fc1``, ``fc2``, ``predictions``) and the same
138,357,544 parameters, so ImageNet weights transfer by layer name. Activations are
separate layers (``block{b}_conv{i}_relu``, ``fc1_relu``, ``softmax``).

The architecture is data: :data:`VGG16_STAGES` lists (filters, convolutions) per block.
"""

from zoo.registry import register_model

#: (filters, number of 3x3 convolutions) per block; each block ends in a 2x2 max-pool.
VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg_block(k, x, filters, convs, *, prefix):
    """``convs`` x (3x3 conv -> ReLU), then a 2x2/2 max-pool; names ``{prefix}_conv{i}``..."""
    for i in range(1, convs + 1):
        x = k.layers.Conv2D(filters, 3, padding="same", name=f"{prefix}_conv{i}")(x)
        x = k.layers.Activation("relu", name=f"{prefix}_conv{i}_relu")(x)
    return k.layers.MaxPooling2D(2, strides=2, name=f"{prefix}_pool")(x)


@register_model(
    family="cnn",
    task="classification",
    input_shape=(224, 224, 3),
    output="1000-class softmax (ImageNet classes)",
    dataset="cifar10",
    lecture="003 (Katzy, CNNs: VGG net, memory usage of VGG16; Simonyan & Zisserman 2014)",
    params=138_357_544,
    targets=("onnx", "tflite"),
    test_overrides={
        "input_shape": (32, 32, 3),
        "classes": 10,
        "stages": ((8, 2), (16, 2), (16, 3), (32, 3), (32, 3)),
        "fc_units": 64,
    },
    notes=(
        "Keras-Applications VGG16 layer names and parameter count (138,357,544 with biases). "
        "No hls4ml claim (138M parameters). On CIFAR-10 build it with input_shape=(32, 32, 3) "
        "and a small fc_units (5 pools leave 1x1x512)."
    ),
)
def vgg16(
    k,
    *,
    name="vgg16",
    input_shape=(224, 224, 3),
    classes=1000,
    stages=VGG16_STAGES,
    fc_units=4096,
    dropout=0.0,
):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for b, (filters, convs) in enumerate(stages, start=1):
        x = vgg_block(k, x, filters, convs, prefix=f"block{b}")
    x = k.layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = k.layers.Dense(fc_units, name=f"fc{i}")(x)
        x = k.layers.Activation("relu", name=f"fc{i}_relu")(x)
        if dropout:  # the paper trains with dropout 0.5 here; Keras Applications leaves it out
            x = k.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    x = k.layers.Dense(classes, name="predictions")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
