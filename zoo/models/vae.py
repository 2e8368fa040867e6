"""Variational autoencoder (Kingma & Welling 2014): lectures 002 (Nov 4: generative models) and 004.

``vae`` maps x -> reconstruction. Inside: an ``encoder`` sub-model (x -> z_mean, z_log_var),
a :func:`Sampling` layer (reparameterization trick, adds the KL term with ``add_loss``) and a
``decoder`` sub-model (z -> x). Get the generator with ``vae.get_layer("decoder")`` or
:func:`decoder_of`; :func:`generate` decodes draws from the prior.
"""

import numpy as np
import tensorflow as tf

from zoo.layers import per_world
from zoo.registry import register_model


@per_world
def Sampling(k):
    class Sampling(k.layers.Layer):
        """z = z_mean + exp(z_log_var / 2) * eps, eps ~ N(0, 1) -- in training only; the mean otherwise.

        Adds ``kl_weight * mean_batch(KL(q(z|x) || N(0, 1)))`` (KL summed over latent dims) as a loss.
        """

        def __init__(self, kl_weight=1.0, **kwargs):
            super().__init__(**kwargs)
            self.kl_weight = float(kl_weight)

        def call(self, inputs, training=None):
            z_mean, z_log_var = inputs
            kl = -0.5 * tf.reduce_sum(
                1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1
            )
            self.add_loss(self.kl_weight * tf.reduce_mean(kl))
            if training:
                eps = tf.random.normal(tf.shape(z_mean), dtype=z_mean.dtype)
                return z_mean + tf.exp(0.5 * z_log_var) * eps
            return z_mean

        def compute_output_shape(self, input_shape):
            return input_shape[0]

        def get_config(self):
            return {**super().get_config(), "kl_weight": self.kl_weight}

    return Sampling


@register_model(
    family="vae",
    task="reconstruction",
    input_shape=(8, 8, 1),
    output="reconstruction of the input (sigmoid, data in [0, 1]); decoder sub-model generates from z ~ N(0, 1)",
    dataset="digits",
    lecture="002 (Nov 4: generative models: GANs, VAEs), 004 ((conditional) (variational) autoencoders)",
    params=13_328,
    targets=("onnx", "tflite"),
    quantizable=False,
    not_quantizable_because="the Sampling layer (reparameterization + KL loss) and nested encoder/decoder models",
    test_overrides={"widths": (16,), "latent_dim": 2},
    notes="Loss = MSE (mean per value, from training) + beta * KL / n_inputs: the ELBO of a Gaussian "
    "decoder with variance beta / 2 (beta=1 is a unit variance, far too broad for pixels in [0, 1]: "
    "the posterior collapses to the prior; the default 0.05 keeps all 8 latent dims active on digits). "
    "In inference (training=False) the model is deterministic: z = z_mean.",
)
def vae(k, *, name="vae", input_shape=(8, 8, 1), widths=(64, 32), latent_dim=8, beta=0.05):
    n_in = int(np.prod(input_shape))
    # Encoder: x -> (z_mean, z_log_var)
    enc_in = k.Input(shape=input_shape, name="encoder_input")
    x = k.layers.Flatten(name="enc_flatten")(enc_in) if len(input_shape) > 1 else enc_in
    for i, w in enumerate(widths, start=1):
        x = k.layers.Dense(w, name=f"enc_fc{i}")(x)
        x = k.layers.Activation("relu", name=f"enc_relu{i}")(x)
    z_mean = k.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = k.layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = k.Model(enc_in, [z_mean, z_log_var], name="encoder")

    # Decoder: z -> x
    dec_in = k.Input(shape=(latent_dim,), name="decoder_input")
    y = dec_in
    for i, w in enumerate(reversed(widths), start=1):
        y = k.layers.Dense(w, name=f"dec_fc{i}")(y)
        y = k.layers.Activation("relu", name=f"dec_relu{i}")(y)
    y = k.layers.Dense(n_in, name="dec_output")(y)
    y = k.layers.Activation("sigmoid", name="dec_sigmoid")(y)
    if len(input_shape) > 1:
        y = k.layers.Reshape(tuple(input_shape), name="dec_reshape")(y)
    decoder = k.Model(dec_in, y, name="decoder")

    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    zm, zlv = encoder(inputs)
    z = Sampling(k)(kl_weight=beta / n_in, name="sampling")([zm, zlv])
    outputs = decoder(z)
    return k.Model(inputs, outputs, name=name)


def decoder_of(model):
    """The decoder sub-model (z -> x) of a zoo VAE."""
    return model.get_layer("decoder")


def encoder_of(model):
    """The encoder sub-model (x -> [z_mean, z_log_var]) of a zoo VAE."""
    return model.get_layer("encoder")


def generate(model, n, *, seed=None):
    """Decode ``n`` draws z ~ N(0, 1) with the VAE's decoder; returns a numpy array."""
    dec = decoder_of(model)
    z = np.random.default_rng(seed).standard_normal((n, *dec.inputs[0].shape[1:])).astype("float32")
    return np.asarray(dec(z, training=False))
