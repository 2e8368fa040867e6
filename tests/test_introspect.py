"""zoo.core.introspect: the one nested-layer walk, predicted class and versions every stage uses."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.core.introspect import all_layers, predicted_class, versions


@pytest.mark.parametrize("world", [zoo.KERAS3, zoo.TF_KERAS])
def test_all_layers_descends_into_every_nested_model(world):
    k = zoo.get_keras(world)
    inner = k.Sequential([k.layers.Flatten(name="flat")], name="no_weights")  # descended too
    head = k.Sequential([k.layers.Dense(3, name="d2")], name="head")
    x = k.Input(shape=(2, 2), name="inp")
    y = head(k.layers.Dense(4, name="d1")(inner(x)))
    outer = k.Model(x, y, name="outer")
    x2 = k.Input(shape=(2, 2), name="inp2")
    wrapper = k.Model(x2, outer(x2), name="wrapper")  # a model two levels deep
    assert [layer.name for layer in all_layers(outer)] == ["inp", "flat", "d1", "d2"]
    assert [layer.name for layer in all_layers(wrapper)] == ["inp2", "inp", "flat", "d1", "d2"]


def test_predicted_class_sigmoid_and_softmax():
    assert predicted_class(np.array([[0.2], [0.7], [0.5]])).tolist() == [0, 1, 0]
    assert predicted_class([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]).tolist() == [1, 0]


def test_versions_records_python_and_installed_packages():
    v = versions()
    assert v["python"].count(".") == 2
    assert v["tensorflow"] and v["keras"] and v["tf-keras"]
    assert versions(("no-such-distribution-edgezoo",))["no-such-distribution-edgezoo"] is None
