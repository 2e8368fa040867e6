"""Dense networks: the lecture-002 jet DNN, the hls4ml-tutorial jet tagger, and a configurable MLP."""

from zoo.registry import register_model


def dense_stack(k, x, widths, *, prefix, activation="relu", dropout=0.0, **dense_kw):
    """Dense -> activation (-> Dropout) blocks with names ``{prefix}{i}`` (``fc1``, ``relu1``, ...)."""
    for i, width in enumerate(widths, start=1):
        x = k.layers.Dense(width, name=f"{prefix}fc{i}", **dense_kw)(x)
        x = k.layers.Activation(activation, name=f"{prefix}{activation}{i}")(x)
        if dropout:
            x = k.layers.Dropout(dropout, name=f"{prefix}dropout{i}")(x)
    return x


@register_model(
    family="dense",
    task="classification",
    input_shape=(16,),
    output="5-class softmax (g, q, t, w, z jets)",
    dataset="jets",
    lecture="002 (DNN model building: Dense 40-20-10-5, ReLU, Dropout 0.25, softmax 5)",
    params=1_795,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
)
def jet_dnn(
    k, *, name="jet_dnn", input_shape=(16,), classes=5, widths=(40, 20, 10, 5), dropout=0.25
):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    # The lecture: Dropout after every hidden layer but the last (Dense(5, relu) feeds the output).
    x = dense_stack(k, inputs, widths[:-1], prefix="", dropout=dropout)
    x = k.layers.Dense(widths[-1], name=f"fc{len(widths)}")(x)
    x = k.layers.Activation("relu", name=f"relu{len(widths)}")(x)
    x = k.layers.Dense(classes, name="output")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)


@register_model(
    family="dense",
    task="classification",
    input_shape=(16,),
    output="5-class softmax (g, q, t, w, z jets)",
    dataset="jets",
    lecture="hls4ml tutorial part 1 (the jet-tagging MLP 64-32-32-5), lecture 002 Nov 25",
    params=4_389,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
)
def jet_tagger(k, *, name="jet_tagger", input_shape=(16,), classes=5, widths=(64, 32, 32), l1=1e-4):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = dense_stack(
        k,
        inputs,
        widths,
        prefix="",
        kernel_initializer="lecun_uniform",
        kernel_regularizer=k.regularizers.l1(l1) if l1 else None,
    )
    x = k.layers.Dense(
        classes,
        name="output",
        kernel_initializer="lecun_uniform",
        kernel_regularizer=k.regularizers.l1(l1) if l1 else None,
    )(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)


@register_model(
    family="dense",
    task="classification",
    input_shape=(64,),
    output="10-class softmax",
    dataset="digits",
    lecture="002 (DNN on MNIST tutorial), 004 (hands-on: build an MLP)",
    params=6_570,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
)
def mlp(
    k, *, name="mlp", input_shape=(64,), classes=10, widths=(64, 32), dropout=0.0, activation="relu"
):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = k.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    x = dense_stack(k, x, widths, prefix="", activation=activation, dropout=dropout)
    x = k.layers.Dense(classes, name="output")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
