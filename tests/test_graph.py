"""compress/graph.py: layer kinds, edges, heads and final layers of functional models, the same
in Keras 3, tf-keras and QKeras."""

from __future__ import annotations

import keras
import pytest

from compress import graph


def branchy_keras3():
    """input -> conv -> bn -> (relu | pool) -> add -> flatten -> dense -> softmax."""
    inp = keras.Input((8, 8, 1), name="input")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    a = keras.layers.Activation("relu", name="relu")(x)
    b = keras.layers.MaxPooling2D(1, name="pool")(x)
    x = keras.layers.Add(name="add")([a, b])
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(3, name="dense")(x)
    out = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inp, out)


def test_kinds_follow_the_class_hierarchy_across_worlds():
    import tf_keras
    from qkeras import QActivation, QDense

    inp = tf_keras.Input((4,), name="input")
    x = QDense(3, kernel_quantizer="quantized_bits(4,0)", name="qfc")(inp)
    x = QActivation("quantized_relu(4)", name="qrelu")(x)
    out = tf_keras.layers.Dense(2, name="fc")(x)
    qmodel = tf_keras.Model(inp, out)
    by_name = {layer.name: layer for layer in graph.layers(qmodel)}
    assert graph.kind(by_name["qfc"]) == "Dense" and graph.is_mac(
        by_name["qfc"]
    )  # QDense is a Dense
    assert graph.kind(by_name["fc"]) == "Dense" and graph.kind(by_name["input"]) == "InputLayer"
    assert graph.kind(by_name["qrelu"]) == "QActivation" and not graph.is_mac(by_name["qrelu"])
    assert graph.inbound(by_name["fc"]) == ["qrelu"] and graph.inbound(by_name["input"]) == []
    assert graph.head_layers(qmodel) == {"fc"} and graph.final_layers(qmodel) == {"fc"}


def test_layers_edges_and_consumers_of_a_branching_keras3_model():
    model = branchy_keras3()
    names = [layer.name for layer in graph.layers(model)]
    assert names[0] == "input" and names[-1] == "softmax" and len(names) == 9
    by_name = {layer.name: layer for layer in graph.layers(model)}
    assert [graph.kind(by_name[n]) for n in ("conv", "bn", "pool", "add")] == [
        "Conv2D",
        "BatchNormalization",
        "MaxPooling2D",
        "Add",
    ]
    assert sorted(graph.inbound(by_name["add"])) == ["pool", "relu"]
    cons = graph.consumers(model)
    assert sorted(cons["bn"]) == ["pool", "relu"] and cons["softmax"] == []
    assert graph.output_layer_names(model) == {"softmax"}


def test_heads_are_mac_layers_with_no_mac_downstream():
    model = branchy_keras3()
    assert graph.head_layers(model) == {"dense"}  # conv reaches dense through add and flatten
    # only layout layers lead to the output from softmax itself; dense is followed by an activation
    assert graph.final_layers(model) == {"softmax"}


def test_a_layout_layer_after_the_output_activation_keeps_it_final():
    inp = keras.Input((4,), name="input")
    x = keras.layers.Dense(6, name="fc")(inp)
    x = keras.layers.Activation("softmax", name="softmax")(x)
    out = keras.layers.Reshape((2, 3), name="reshape")(x)
    model = keras.Model(inp, out)
    assert graph.final_layers(model) == {"softmax", "reshape"}
    assert graph.head_layers(model) == {"fc"}


@pytest.mark.parametrize(
    "layer, expected",
    [
        (keras.layers.Conv1D(2, 3), "Conv1D"),
        (keras.layers.Conv2DTranspose(2, 3), "Conv2DTranspose"),
        (keras.layers.DepthwiseConv2D(3), "DepthwiseConv2D"),
        (keras.layers.GlobalAveragePooling2D(), "GlobalAveragePooling2D"),
        (keras.layers.LayerNormalization(), "LayerNormalization"),  # unknown: its own class name
    ],
)
def test_kind_of_single_layers(layer, expected):
    assert graph.kind(layer) == expected
    assert graph.is_mac(layer) == (expected in graph.MAC_KINDS)
