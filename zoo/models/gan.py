"""DCGAN (Radford, Metz & Chintala 2016; Goodfellow et al. 2014): lectures 002 (Nov 4) and 004.

``dcgan`` returns a trainable :func:`GAN` model: calling it on latent vectors z returns generated
images (its ``.inputs`` is the latent input); ``fit(x)`` on real images runs the standard
alternating updates -- the discriminator on real vs. generated images, then the generator
(non-saturating loss) -- with two optimizers (``compile(optimizer=...)`` clones the one given for
the generator unless ``g_optimizer`` is passed). Parts: ``model.generator``, ``model.discriminator``.
"""

import numpy as np
import tensorflow as tf

from zoo.layers import per_world
from zoo.registry import ModelConfigError, register_model


def _bce_logits(label, logits):
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.fill(tf.shape(logits), label), logits=logits
        )
    )


class _Trackers:
    """Plain holder of the GAN's loss trackers (not tracked as model weights)."""

    def __init__(self, d_loss, g_loss):
        self.d_loss, self.g_loss = d_loss, g_loss


class _GANMethods:
    """Generator + discriminator; ``call(z)`` = generator(z); ``train_step`` = one D and one G update.

    Real images may come with ``image_shape`` or flattened (same number of values; the zoo
    training stage adapts data to the card's input_shape). ``rescale=True`` maps real data
    from [0, 1] (training.datasets images) to [-1, 1], the range of the tanh generator.
    """

    def __init__(self, generator, discriminator, rescale=True, **kwargs):
        latent = self._k.Input(shape=tuple(generator.inputs[0].shape[1:]), name="latent")
        super().__init__(inputs=latent, outputs=generator(latent), **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.rescale = bool(rescale)
        self.latent_shape = tuple(int(s) for s in generator.inputs[0].shape[1:])
        self.image_shape = tuple(int(s) for s in discriminator.inputs[0].shape[1:])
        # Kept in a plain holder: tracked as attributes, tf-keras would count the trackers'
        # variables as model weights (count_params would differ between the worlds).
        self._trackers = _Trackers(
            self._k.metrics.Mean(name="d_loss"), self._k.metrics.Mean(name="g_loss")
        )

    def compile(self, optimizer="adam", g_optimizer=None, **kwargs):
        """``optimizer`` trains the discriminator; ``g_optimizer`` (default: a clone) the generator."""
        super().compile(optimizer=optimizer, **kwargs)
        if g_optimizer is None:
            g_optimizer = self.optimizer.__class__.from_config(self.optimizer.get_config())
        self.g_optimizer = self._k.optimizers.get(g_optimizer)
        # Create the generator optimizer's variables now, outside any distributed step:
        # under MirroredStrategy they cannot be created inside the replicated train_step.
        if not getattr(self.g_optimizer, "built", False):
            self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        if getattr(self, "optimizer", None) is None or not hasattr(self, "g_optimizer"):
            return None
        return {
            "optimizer": self._k.saving.serialize_keras_object(self.optimizer),
            "g_optimizer": self._k.saving.serialize_keras_object(self.g_optimizer),
        }

    def compile_from_config(self, config):
        config = dict(config or {})
        self.compile(
            optimizer=self._k.saving.deserialize_keras_object(config.get("optimizer", "adam")),
            g_optimizer=(
                self._k.saving.deserialize_keras_object(config["g_optimizer"])
                if config.get("g_optimizer")
                else None
            ),
        )
        # Build the optimizers on their variables (as training does) so saved slots load.
        if not getattr(self.optimizer, "built", False):
            self.optimizer.build(self.discriminator.trainable_variables)
        if not getattr(self.g_optimizer, "built", False):
            self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def layers(self):
        # The functional graph holds only the generator; list the discriminator too, in both
        # worlds alike (tf-keras adds tracked attributes, Keras 3 does not), so weights move
        # between worlds by layer name and get_layer("discriminator") works.
        layers = list(super().layers)
        disc = getattr(self, "discriminator", None)
        if disc is not None and all(layer is not disc for layer in layers):
            layers.append(disc)
        return layers

    @property
    def d_optimizer(self):
        return self.optimizer

    @property
    def metrics(self):
        return [self._trackers.d_loss, self._trackers.g_loss]

    def _real_images(self, data):
        x, _, _ = self._k.utils.unpack_x_y_sample_weight(data)
        x = tf.cast(tf.convert_to_tensor(x), self.compute_dtype)
        size = int(np.prod(self.image_shape))
        msg = (
            f"GAN: real data cannot be images of shape {self.image_shape} ({size} values per "
            "sample). Adapt the data set to the image shape (or flatten it)."
        )
        if x.shape.rank is not None and x.shape[1:].is_fully_defined():
            if int(np.prod(x.shape[1:])) != size:
                # a builtin type on purpose: this runs while tf.function traces train_step, and
                # tf-keras' autograph re-raises only builtin exception types unchanged (a subclass
                # such as ModelConfigError would surface as a StagingError)
                raise ValueError(f"{msg} Received samples of shape {tuple(x.shape[1:])}.")
        else:  # traced with relaxed shapes: check when it runs
            check = tf.debugging.assert_equal(tf.size(x), tf.shape(x)[0] * size, message=msg)
            with tf.control_dependencies([check]):
                x = tf.identity(x)
        x = tf.reshape(x, (-1, *self.image_shape))
        return x * 2.0 - 1.0 if self.rescale else x

    def _latents(self, n):
        return tf.random.normal((n, *self.latent_shape))

    def _gan_losses(self, real, training):
        n = tf.shape(real)[0]
        fake = self.generator(self._latents(n), training=training)
        real_logits = self.discriminator(real, training=training)
        fake_logits = self.discriminator(fake, training=training)
        d_loss = _bce_logits(1.0, real_logits) + _bce_logits(0.0, fake_logits)
        g_loss = _bce_logits(1.0, fake_logits)
        return d_loss, g_loss

    def _logs(self, d_loss, g_loss):
        self._trackers.d_loss.update_state(d_loss)
        self._trackers.g_loss.update_state(g_loss)
        d = self._trackers.d_loss.result()
        # "loss" (what Keras callbacks monitor) is the discriminator loss.
        return {"loss": d, "d_loss": d, "g_loss": self._trackers.g_loss.result()}

    def train_step(self, data):
        real = self._real_images(data)
        n = tf.shape(real)[0]
        d_vars = self.discriminator.trainable_weights
        g_vars = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            fake = self.generator(self._latents(n), training=True)
            d_loss = _bce_logits(1.0, self.discriminator(real, training=True)) + _bce_logits(
                0.0, self.discriminator(fake, training=True)
            )
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        with tf.GradientTape() as tape:
            fake = self.generator(self._latents(n), training=True)
            g_loss = _bce_logits(1.0, self.discriminator(fake, training=True))
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        return self._logs(d_loss, g_loss)

    def test_step(self, data):
        return self._logs(*self._gan_losses(self._real_images(data), training=False))

    def generate(self, n, seed=None):
        """``n`` generated images (numpy) from z ~ N(0, I)."""
        z = np.random.default_rng(seed).standard_normal((n, *self.latent_shape)).astype("float32")
        return np.asarray(self.generator(z, training=False))

    def get_config(self):
        return {
            "name": self.name,
            "generator": self._k.saving.serialize_keras_object(self.generator),
            "discriminator": self._k.saving.serialize_keras_object(self.discriminator),
            "rescale": self.rescale,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        generator = cls._k.saving.deserialize_keras_object(
            config.pop("generator"), custom_objects=custom_objects
        )
        discriminator = cls._k.saving.deserialize_keras_object(
            config.pop("discriminator"), custom_objects=custom_objects
        )
        return cls(generator, discriminator, **config)


@per_world
def GAN(k):
    """The :class:`_GANMethods` model class of world ``k`` (Keras 3 or tf-keras)."""

    class GAN(_GANMethods, k.Model):
        __doc__ = _GANMethods.__doc__
        _k = k  # the world's keras module, read by the methods

    return GAN


def build_generator(k, *, image_shape, latent_dim, base, filters, name="generator"):
    """z -> Dense -> Reshape -> [Conv2DTranspose(stride 2), BN, LeakyReLU] x len(filters) -> Conv2D, tanh."""
    h, w, c = image_shape
    up = 2 ** len(filters)
    if h % up or w % up:
        raise ModelConfigError(
            f"dcgan: image size {(h, w)} must be divisible by 2**len(gen_filters) = {up}. "
            f"Received: gen_filters={tuple(filters)}"
        )
    z = k.Input(shape=(latent_dim,), name="gen_input")
    x = k.layers.Dense((h // up) * (w // up) * base, use_bias=False, name="gen_fc")(z)
    x = k.layers.BatchNormalization(name="gen_fc_bn")(x)
    x = k.layers.LeakyReLU(0.2, name="gen_fc_lrelu")(x)
    x = k.layers.Reshape((h // up, w // up, base), name="gen_reshape")(x)
    for i, f in enumerate(filters, start=1):
        x = k.layers.Conv2DTranspose(
            f, 4, strides=2, padding="same", use_bias=False, name=f"gen_deconv{i}"
        )(x)
        x = k.layers.BatchNormalization(name=f"gen_bn{i}")(x)
        x = k.layers.LeakyReLU(0.2, name=f"gen_lrelu{i}")(x)
    x = k.layers.Conv2D(c, 3, padding="same", name="gen_out_conv")(x)
    out = k.layers.Activation("tanh", name="gen_tanh")(x)
    return k.Model(z, out, name=name)


def build_discriminator(k, *, image_shape, filters, dropout=0.0, name="discriminator"):
    """image -> [Conv2D(stride 2), LeakyReLU] x len(filters) -> Flatten -> Dense(1) logit."""
    img = k.Input(shape=tuple(image_shape), name="disc_input")
    x = img
    for i, f in enumerate(filters, start=1):
        x = k.layers.Conv2D(f, 3, strides=2, padding="same", name=f"disc_conv{i}")(x)
        x = k.layers.LeakyReLU(0.2, name=f"disc_lrelu{i}")(x)
    x = k.layers.Flatten(name="disc_flatten")(x)
    if dropout:
        x = k.layers.Dropout(dropout, name="disc_dropout")(x)
    logit = k.layers.Dense(1, name="disc_logit")(x)
    return k.Model(img, logit, name=name)


@register_model(
    family="gan",
    task="generation",
    input_shape=(64,),
    output="generated 8x8x1 images in [-1, 1] (tanh) from latent z ~ N(0, I)",
    dataset="digits",
    lecture="002 (Nov 4: generative models: GANs), 004 (GAN: generator vs. discriminator; Goodfellow 2014)",
    params=77_778,
    targets=("onnx", "tflite"),
    loss="internal",
    quantizable=False,
    not_quantizable_because="a GAN model class (two sub-models, custom train_step) rather than one Dense/Conv graph",
    test_overrides={"base": 8, "gen_filters": (8, 4), "disc_filters": (4, 8)},
    notes="The model's input is the latent z; fit(x) takes real images (image_shape or flattened to the "
    "same size: the default latent_dim = 64 = 8*8*1, so the training stage's flattened digits "
    "reshape back). Real data in [0, 1] are mapped to [-1, 1] (rescale). Logs: loss (= d_loss), "
    "d_loss, g_loss. Targets cover the generator (the model's inference graph).",
)
def dcgan(
    k,
    *,
    name="dcgan",
    input_shape=(64,),
    image_shape=(8, 8, 1),
    base=64,
    gen_filters=(32, 16),
    disc_filters=(32, 64),
    dropout=0.0,
    rescale=True,
):
    if len(input_shape) != 1:
        raise ModelConfigError(
            f"dcgan: input_shape is the latent (latent_dim,). Received: input_shape={input_shape}"
        )
    image_shape = tuple(int(s) for s in image_shape)
    generator = build_generator(
        k, image_shape=image_shape, latent_dim=int(input_shape[0]), base=base, filters=gen_filters
    )
    discriminator = build_discriminator(
        k, image_shape=image_shape, filters=disc_filters, dropout=dropout
    )
    return GAN(k)(generator, discriminator, rescale=rescale, name=name)


def generate(model, n, *, seed=None):
    """``n`` generated images (numpy) of a zoo GAN."""
    return model.generate(n, seed=seed)
