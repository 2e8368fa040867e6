"""RealNVP normalizing flow (Dinh, Sohl-Dickstein & Bengio 2017): lecture 002 (Nov 4: normalizing flows).

The model maps data x to latent z = f(x) through affine coupling layers with alternating
masks and is trained by maximum likelihood: the :func:`FlowNLL` layer adds
``-mean(log N(z; 0, 1) + log|det df/dx|)`` with ``add_loss`` (card ``loss="internal"``).
:func:`log_prob`, :func:`inverse` and :func:`sample` use the coupling layers directly.
"""

import math

import numpy as np
import tensorflow as tf

from zoo.layers import per_world
from zoo.registry import ModelConfigError, register_model


@per_world
def AffineCoupling(k):
    class AffineCoupling(k.layers.Layer):
        """y = m*x + (1-m)*(x*exp(s(m*x)) + t(m*x)); returns [y, log|det J|] (log-det per sample).

        ``mask`` (0/1 per feature) keeps the m=1 features; s (tanh-bounded) and t come from one
        MLP with ``hidden`` ReLU layers on the kept features. :meth:`inverse` undoes it exactly.
        """

        def __init__(self, mask, hidden=(32, 32), **kwargs):
            super().__init__(**kwargs)
            self.mask = [float(m) for m in mask]
            self.hidden = tuple(int(h) for h in hidden)

        def build(self, input_shape):
            d = int(input_shape[-1])
            if d != len(self.mask):
                raise ValueError(
                    f"AffineCoupling: mask has {len(self.mask)} entries, the input {d} features."
                )
            glorot = k.initializers.GlorotUniform
            self.kernels, self.biases = [], []
            width = d
            for i, h in enumerate(self.hidden, start=1):
                self.kernels.append(
                    self.add_weight(
                        name=f"w{i}", shape=(width, h), initializer=glorot(), trainable=True
                    )
                )
                self.biases.append(
                    self.add_weight(name=f"b{i}", shape=(h,), initializer="zeros", trainable=True)
                )
                width = h
            self.w_s = self.add_weight(
                name="w_s", shape=(width, d), initializer=glorot(), trainable=True
            )
            self.b_s = self.add_weight(name="b_s", shape=(d,), initializer="zeros", trainable=True)
            self.w_t = self.add_weight(
                name="w_t", shape=(width, d), initializer=glorot(), trainable=True
            )
            self.b_t = self.add_weight(name="b_t", shape=(d,), initializer="zeros", trainable=True)
            super().build(input_shape)

        def _mask(self, dtype):
            return tf.constant(self.mask, dtype=dtype)

        def _scale_shift(self, kept):
            h = kept
            for w, b in zip(self.kernels, self.biases):
                h = tf.nn.relu(tf.matmul(h, tf.convert_to_tensor(w)) + tf.convert_to_tensor(b))
            s = tf.tanh(
                tf.matmul(h, tf.convert_to_tensor(self.w_s)) + tf.convert_to_tensor(self.b_s)
            )
            t = tf.matmul(h, tf.convert_to_tensor(self.w_t)) + tf.convert_to_tensor(self.b_t)
            return s, t

        def call(self, inputs):
            m = self._mask(inputs.dtype)
            kept = inputs * m
            s, t = self._scale_shift(kept)
            s = s * (1.0 - m)
            y = kept + (1.0 - m) * (inputs * tf.exp(s) + t)
            return [y, tf.reduce_sum(s, axis=-1)]

        def inverse(self, outputs):
            """x with call(x)[0] == outputs."""
            outputs = tf.convert_to_tensor(outputs)
            m = self._mask(outputs.dtype)
            kept = outputs * m
            s, t = self._scale_shift(kept)
            s = s * (1.0 - m)
            return kept + (1.0 - m) * ((outputs - t) * tf.exp(-s))

        def compute_output_shape(self, input_shape):
            return [tuple(input_shape), tuple(input_shape)[:-1]]

        def get_config(self):
            return {**super().get_config(), "mask": list(self.mask), "hidden": list(self.hidden)}

    return AffineCoupling


def _log_normal(z):
    """log N(z; 0, I) per sample."""
    d = tf.cast(tf.shape(z)[-1], z.dtype)
    return -0.5 * tf.reduce_sum(tf.square(z), axis=-1) - 0.5 * d * math.log(2.0 * math.pi)


@per_world
def FlowNLL(k):
    class FlowNLL(k.layers.Layer):
        """Takes [z, log_det]; adds the mean negative log-likelihood as a loss and returns z."""

        def call(self, inputs):
            z, log_det = inputs
            self.add_loss(-tf.reduce_mean(_log_normal(z) + log_det))
            return tf.identity(z)

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[0])

    return FlowNLL


@register_model(
    family="flow",
    task="density",
    input_shape=(2,),
    output="latent z = f(x), standard normal under the model; log p(x) via zoo.models.flow.log_prob",
    dataset="moons",
    lecture="002 (Nov 4: generative models, normalizing flows tutorial; Prince, Understanding Deep Learning ch. 16)",
    params=7_704,
    targets=("onnx", "tflite"),
    loss="internal",
    quantizable=False,
    not_quantizable_because="affine coupling layers (exp/tanh of a learned scale, custom layer)",
    test_overrides={"couplings": 2, "hidden": (8,)},
    notes="Masks alternate over the features (even/odd, then odd/even). Training minimizes "
    "-log N(z) - sum log|det J| (FlowNLL add_loss). Sample with zoo.models.flow.sample(model, n).",
)
def realnvp(k, *, name="realnvp", input_shape=(2,), couplings=6, hidden=(32, 32)):
    if len(input_shape) != 1 or input_shape[0] < 2:
        raise ModelConfigError(
            f"realnvp: input_shape must be (d,) with d >= 2. Received: input_shape={input_shape}"
        )
    if couplings < 1:
        raise ModelConfigError(f"realnvp: couplings must be >= 1. Received: couplings={couplings}")
    d = int(input_shape[0])
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x, log_dets = inputs, []
    for i in range(couplings):
        mask = [float((j + i) % 2 == 0) for j in range(d)]
        x, ld = AffineCoupling(k)(mask, hidden=hidden, name=f"coupling{i + 1}")(x)
        log_dets.append(ld)
    log_det = log_dets[0] if len(log_dets) == 1 else k.layers.Add(name="log_det")(log_dets)
    z = FlowNLL(k)(name="nll")([x, log_det])
    return k.Model(inputs, z, name=name)


def couplings_of(model):
    """The model's coupling layers, data -> latent order."""
    return [layer for layer in model.layers if type(layer).__name__ == "AffineCoupling"]


def forward(model, x):
    """(z, log|det df/dx|) for data ``x``."""
    z = tf.convert_to_tensor(np.asarray(x, dtype="float32"))
    log_det = tf.zeros(tf.shape(z)[:-1], z.dtype)
    for layer in couplings_of(model):
        z, ld = layer(z)
        log_det = log_det + ld
    return z, log_det


def log_prob(model, x):
    """log p(x) per sample (numpy), by the change of variables formula."""
    z, log_det = forward(model, x)
    return np.asarray(_log_normal(z) + log_det)


def inverse(model, z):
    """x = f^{-1}(z) (numpy): the coupling layers undone in reverse order."""
    x = tf.convert_to_tensor(np.asarray(z, dtype="float32"))
    for layer in reversed(couplings_of(model)):
        x = layer.inverse(x)
    return np.asarray(x)


def sample(model, n, *, seed=None):
    """``n`` samples x = f^{-1}(z), z ~ N(0, I) (numpy array of shape (n, *input_shape))."""
    shape = tuple(model.inputs[0].shape[1:])
    z = np.random.default_rng(seed).standard_normal((n, *shape)).astype("float32")
    return inverse(model, z)
