"""Fitting a data set to a model: its shapes (:func:`adapt`: flatten, reshape to a sequence, pad
or resize, tile channels) and the training input with optional input noise
(:func:`noisy_batches`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from training.datasets.registry import Dataset, DatasetError


def adapt(ds: Dataset, input_shape) -> Dataset:
    """Return ``ds`` with x reshaped/resized to a model's ``input_shape`` (no batch dim)."""
    target = tuple(int(s) for s in input_shape)
    src = ds.input_shape
    if src == target:
        return ds
    fn = _adapter(ds.name, src, target)
    return replace(ds, x_train=fn(ds.x_train), x_val=fn(ds.x_val), x_test=fn(ds.x_test))


def _adapter(name, src, target):
    size = int(np.prod(src))
    if int(np.prod(target)) == size:  # flatten, or reshape into a sequence
        return lambda x: x.reshape((len(x), *target))
    if _zero_pad(src, target):  # MNIST 28x28 -> LeNet-5's 32x32: the lecture pads by 2 pixels
        (ph, pw) = ((target[0] - src[0]) // 2, (target[1] - src[1]) // 2)
        return lambda x: np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    if len(src) == 3 and len(target) == 3:
        h, w, c = target
        if src[2] not in (c, 1):
            raise DatasetError(
                f"Data set {name!r} has {src[2]} channels; the model wants {c}. Choose a data set "
                f"with {c} channel(s) or build the model with input_shape={(*target[:2], src[2])}."
            )

        def resize(x):
            import tensorflow as tf

            out = tf.image.resize(x, (h, w), method="bilinear").numpy()
            return np.repeat(out, c, axis=-1) if src[2] == 1 and c > 1 else out

        return resize
    raise DatasetError(
        f"Data set {name!r} with samples of shape {src} cannot feed a model with input_shape={target}. "
        f"Pick a data set that matches, or override the model's input_shape={src}."
    )


def _zero_pad(src, target) -> bool:
    """A border of at most 2 pixels each side, same channels: pad with zeros instead of resizing."""
    if len(src) != 3 or len(target) != 3 or src[2] != target[2]:
        return False
    dh, dw = target[0] - src[0], target[1] - src[1]
    return 0 < dh <= 4 and 0 < dw <= 4 and dh % 2 == 0 and dw % 2 == 0


def with_input_noise(batches, sigma: float, seed: int = 0):
    """``batches`` (a ``tf.data`` pipeline of ``(x,)`` or ``(x, y)`` batches) with
    N(0, sigma^2) noise added to ``x`` only: targets (an autoencoder's clean input
    included) stay as they are. A fresh draw for every batch; ``sigma == 0`` returns ``batches``."""
    if not sigma:
        return batches
    import tensorflow as tf

    def add(x, *rest):
        return (x + tf.random.normal(tf.shape(x), stddev=sigma, dtype=x.dtype, seed=seed), *rest)

    return batches.map(add, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def noisy_batches(x, y, batch_size: int, sigma: float, *, seed: int = 0):
    """The training input of ``fit`` with :func:`with_input_noise`: ``x`` (and ``y``) shuffled
    with ``seed`` (a new order every epoch, as ``fit(shuffle=True)``), cut into ``batch_size``
    batches, noise added to the inputs."""
    import tensorflow as tf

    data = (x,) if y is None else (x, y)
    ds = tf.data.Dataset.from_tensor_slices(data)
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return with_input_noise(ds, sigma, seed).prefetch(tf.data.AUTOTUNE)


def check_input_noise(x, sigma: float, what: str):
    """A clear error before any work when ``input_noise`` cannot apply to the inputs ``x``."""
    if sigma and not (isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)):
        kind = type(x).__name__ if not isinstance(x, np.ndarray) else f"{x.dtype} array"
        raise DatasetError(
            f"input_noise={sigma} needs one floating-point input array; {what} has {kind} "
            "inputs. Train it with input_noise=0."
        )
