"""LeNet-5 (LeCun et al. 1998), lecture 003, and the small MNIST CNN of the lecture tutorials."""

from zoo.registry import register_model


@register_model(
    family="cnn",
    task="classification",
    input_shape=(32, 32, 1),
    output="10-class softmax",
    dataset="digits",
    lecture="003 (Katzy, CNNs: LeNet-5, LeCun 1998)",
    params=61_706,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
    notes=(
        "C5 is a Dense(120) on the flattened 5x5x16 maps, equivalent to the 5x5 convolution. "
        "Default data: digits (fast); on MNIST (--dataset mnist5k or mnist) the 28x28 digits are "
        "zero-padded to 32x32 as in the lecture."
    ),
)
def lenet5(k, *, name="lenet5", input_shape=(32, 32, 1), classes=10, activation="tanh"):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = k.layers.Conv2D(6, 5, name="c1_conv")(inputs)
    x = k.layers.Activation(activation, name="c1_act")(x)
    x = k.layers.AveragePooling2D(2, name="s2_pool")(x)
    x = k.layers.Conv2D(16, 5, name="c3_conv")(x)
    x = k.layers.Activation(activation, name="c3_act")(x)
    x = k.layers.AveragePooling2D(2, name="s4_pool")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(120, name="c5_fc")(x)
    x = k.layers.Activation(activation, name="c5_act")(x)
    x = k.layers.Dense(84, name="f6_fc")(x)
    x = k.layers.Activation(activation, name="f6_act")(x)
    x = k.layers.Dense(classes, name="output")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)


@register_model(
    family="cnn",
    task="classification",
    input_shape=(28, 28, 1),
    output="10-class softmax",
    dataset="mnist5k",
    lecture="002 (Sep 30 tutorial: convolutional NNs with MNIST), 003",
    params=26_698,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
)
def mnist_cnn(
    k, *, name="mnist_cnn", input_shape=(28, 28, 1), classes=10, filters=(8, 16), dense=32
):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = k.layers.Conv2D(f, 3, padding="same", name=f"conv{i}")(x)
        x = k.layers.Activation("relu", name=f"relu{i}")(x)
        x = k.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = k.layers.Flatten(name="flatten")(x)
    x = k.layers.Dense(dense, name="fc1")(x)
    x = k.layers.Activation("relu", name="fc1_relu")(x)
    x = k.layers.Dense(classes, name="output")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
