"""Graph neural network on particle sets (lecture 002, Oct 21: graph NNs; 004: GNNs).

Each sample is a set of particles (points) seen as a fully connected graph. An EdgeConv-style
message-passing layer (Wang et al. 2019, "Dynamic Graph CNN"; ParticleNet, Qu & Gouskos 2020)
computes for every ordered pair (i, j) the message ``MLP([x_i, x_j - x_i])`` and aggregates the
messages arriving at i (max by default, as in DGCNN; mean or sum): permutation-equivariant over
particles. Global mean pooling then makes the classifier permutation-invariant.
"""

import tensorflow as tf

from zoo.layers import per_world
from zoo.registry import ModelConfigError, register_model

_ACTIVATIONS = {
    "relu": tf.nn.relu,
    "elu": tf.nn.elu,
    "tanh": tf.tanh,
    "gelu": tf.nn.gelu,
    "leaky_relu": tf.nn.leaky_relu,
    "linear": tf.identity,
}


@per_world
def EdgeConv(k):
    class EdgeConv(k.layers.Layer):
        """Dense message passing over the fully connected graph of a (batch, n, features) point set.

        m_ij = act(W2 act(Wc x_i + Wd (x_j - x_i) + b1) + b2);  out_i = max_j m_ij (or mean_j, sum_j).
        The first linear map is computed per node and broadcast to pairs, so memory is
        O(n^2 * hidden) and the cost O(n^2 * hidden * units).
        """

        def __init__(self, units, hidden=None, activation="relu", aggregation="max", **kwargs):
            super().__init__(**kwargs)
            if activation not in _ACTIVATIONS:
                raise ModelConfigError(
                    f"EdgeConv: activation must be one of {sorted(_ACTIVATIONS)}. Received: {activation!r}"
                )
            if aggregation not in ("mean", "sum", "max"):
                raise ModelConfigError(
                    f"EdgeConv: aggregation must be mean, sum or max. Received: {aggregation!r}"
                )
            self.units = int(units)
            self.hidden = int(hidden or units)
            self.activation = activation
            self.aggregation = aggregation

        def build(self, input_shape):
            f = int(input_shape[-1])
            glorot = k.initializers.GlorotUniform
            self.w_center = self.add_weight(
                name="w_center", shape=(f, self.hidden), initializer=glorot(), trainable=True
            )
            self.w_diff = self.add_weight(
                name="w_diff", shape=(f, self.hidden), initializer=glorot(), trainable=True
            )
            self.b1 = self.add_weight(
                name="b1", shape=(self.hidden,), initializer="zeros", trainable=True
            )
            self.w2 = self.add_weight(
                name="w2", shape=(self.hidden, self.units), initializer=glorot(), trainable=True
            )
            self.b2 = self.add_weight(
                name="b2", shape=(self.units,), initializer="zeros", trainable=True
            )
            super().build(input_shape)

        def call(self, inputs):
            act = _ACTIVATIONS[self.activation]
            x = inputs
            c = tf.tensordot(x, tf.convert_to_tensor(self.w_center), axes=1)  # (b, n, h)
            d = tf.tensordot(x, tf.convert_to_tensor(self.w_diff), axes=1)  # (b, n, h)
            # Wc x_i + Wd (x_j - x_i) + b1 = (c_i - d_i + b1) + d_j
            pre = tf.expand_dims(c - d + tf.convert_to_tensor(self.b1), 2) + tf.expand_dims(
                d, 1
            )  # (b, n, n, h)
            m = act(
                tf.tensordot(act(pre), tf.convert_to_tensor(self.w2), axes=1)
                + tf.convert_to_tensor(self.b2)
            )
            if self.aggregation == "sum":
                return tf.reduce_sum(m, axis=2)
            if self.aggregation == "max":
                return tf.reduce_max(m, axis=2)
            return tf.reduce_mean(m, axis=2)

        def compute_output_shape(self, input_shape):
            return (*tuple(input_shape)[:-1], self.units)

        def get_config(self):
            return {
                **super().get_config(),
                "units": self.units,
                "hidden": self.hidden,
                "activation": self.activation,
                "aggregation": self.aggregation,
            }

    return EdgeConv


@register_model(
    family="gnn",
    task="classification",
    input_shape=(64, 3),
    output="10-class softmax",
    dataset="digits_points",
    lecture="002 (Oct 21: graph NNs tutorial; review 'Graph Neural Networks in Particle Physics'), 004 (GNNs)",
    params=5_802,
    targets=("onnx", "tflite"),
    quantizable=False,
    not_quantizable_because="EdgeConv message passing is a custom layer (pairwise tensor ops)",
    test_overrides={"input_shape": (12, 3), "widths": (8,), "head": 8},
    notes="A (n_particles, n_features) input is a fully connected graph; EdgeConv layers aggregate "
    "messages MLP([x_i, x_j - x_i]) over all j (max; `aggregation` mean/sum also; max learned "
    "digits_points fastest); global mean pooling makes the output invariant to the order of the "
    "particles. Cost and memory grow as n_particles^2.",
)
def gnn(
    k,
    *,
    name="gnn",
    input_shape=(64, 3),
    classes=10,
    widths=(32, 32),
    head=32,
    activation="relu",
    aggregation="max",
):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, w in enumerate(widths, start=1):
        x = EdgeConv(k)(w, activation=activation, aggregation=aggregation, name=f"edgeconv{i}")(x)
    x = k.layers.GlobalAveragePooling1D(name="pool")(x)
    x = k.layers.Dense(head, name="head_fc")(x)
    x = k.layers.Activation("relu", name="head_relu")(x)
    x = k.layers.Dense(classes, name="output")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
