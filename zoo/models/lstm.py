"""LSTM sequence classifier (lectures 002/004: recurrent networks for sequence modelling)."""

from zoo.registry import ModelConfigError, register_model


@register_model(
    family="rnn",
    task="classification",
    input_shape=(8, 8),
    output="10-class softmax",
    dataset="digits",
    lecture="004 (RNNs: sequence modeling), 002 (Goodfellow ch. 10: sequence modeling, recurrent nets)",
    params=5_578,
    targets=("onnx", "tflite"),
    quantizable=False,
    not_quantizable_because="LSTM layer (QKeras QLSTM is not part of the Dense/Conv twin set)",
    test_overrides={"units": (8, 8)},
    notes="digits are read row by row: 8 timesteps of 8 pixels. `units` is a tuple; more than one "
    "entry stacks LSTMs (all but the last return sequences). unroll=True (default; short sequences) "
    "gives a static graph that TFLite converts without TensorList ops.",
)
def lstm(k, *, name="lstm", input_shape=(8, 8), classes=10, units=(32,), dropout=0.0, unroll=True):
    units = tuple(int(u) for u in (units if isinstance(units, (tuple, list)) else (units,)))
    if not units or min(units) < 1:
        raise ModelConfigError(
            f"lstm: units must be one or more positive widths. Received: units={units}"
        )
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, u in enumerate(units, start=1):
        x = k.layers.LSTM(u, return_sequences=i < len(units), unroll=unroll, name=f"lstm{i}")(x)
        if dropout:
            x = k.layers.Dropout(dropout, name=f"dropout{i}")(x)
    x = k.layers.Dense(classes, name="output")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
