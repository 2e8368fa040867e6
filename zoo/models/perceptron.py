"""Rosenblatt's perceptron (1957), lecture 001: one neuron, w.x + b, binary output.

The step activation is replaced by a sigmoid so the neuron trains by gradient
descent, as the lecture motivates ("step -> continuous function allows
calculation of the gradient").
"""

from zoo.registry import register_model


@register_model(
    family="perceptron",
    task="classification",
    input_shape=(4,),
    output="P(class 1), one sigmoid unit",
    dataset="iris_setosa",
    lecture="001 (Cooper, lecture 1: the neuron, build your own perceptron)",
    params=5,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
)
def perceptron(k, *, name="perceptron", input_shape=(4,), activation="sigmoid"):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    outputs = k.layers.Dense(1, activation=activation, name=f"{name}_neuron")(inputs)
    return k.Model(inputs, outputs, name=name)
