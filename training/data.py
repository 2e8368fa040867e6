"""Data sets: offline defaults (scikit-learn's digits and iris) and real loaders with a cache.

The lectures' rules, applied the same way to every data set:

* shuffle once with a seed, then split train/val/test (default 80/10/10) -- or, for
  data sets that come with a test set (MNIST, CIFAR-10), split only train into train/val;
* fit the normalization on the training split only (images: scale by the training
  maximum to [0, 1]; tabular features: standardize with the training mean/std);
* adapt the shapes to a model card (:func:`adapt`): flatten, reshape to a sequence,
  resize (8x8 digits -> 32x32 for LeNet-5) or tile channels.

Real loaders (``mnist``, ``fashion_mnist``, ``cifar10``, ``jets``) keep their files in
``$EDGEZOO_DATA`` (default ``~/.cache/edgezoo``). When a file is missing and cannot be
downloaded (offline, or ``EDGEZOO_OFFLINE=1``), :class:`DatasetUnavailableError` names the
data set, the path and what to put there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from zoo.core.errors import EdgezooError

SPLIT = (0.8, 0.1, 0.1)


class DatasetError(EdgezooError, ValueError):
    """A data set that cannot be loaded or does not fit a model."""


class DatasetUnavailableError(DatasetError):
    """A real data set that is neither cached nor downloadable here."""


@dataclass
class Dataset:
    """A split, normalized data set. ``y_*`` are integer class labels (or None)."""

    name: str
    kind: str  # "image", "tabular", "points"
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    class_names: list[str] = field(default_factory=list)
    normalization: dict = field(default_factory=dict)
    seed: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "classes": self.class_names,
            "n_train": len(self.x_train),
            "n_val": len(self.x_val),
            "n_test": len(self.x_test),
            "seed": self.seed,
            "normalization": self.normalization,
        }


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _DatasetSpec:
    loader: Callable  # (cache_dir) -> (x, y, class_names, kind, has_test_split_at or None)
    description: str
    offline: bool


DATASETS: dict[str, _DatasetSpec] = {}


def register_dataset(name: str, description: str, offline: bool):
    def deco(fn):
        DATASETS[name] = _DatasetSpec(fn, description, offline)
        return fn

    return deco


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEZOO_DATA", Path.home() / ".cache" / "edgezoo")).expanduser()


def list_datasets() -> dict[str, str]:
    return {n: s.description for n, s in DATASETS.items()}


def load_dataset(name: str, *, seed: int = 0, split=SPLIT, limit: int | None = None) -> Dataset:
    """Load, shuffle (seeded), split and normalize data set ``name``.

    ``limit`` keeps only the first ``limit`` shuffled samples (quick runs on large sets).
    """
    if name not in DATASETS:
        import difflib

        close = difflib.get_close_matches(name, DATASETS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise DatasetError(
            f"Unknown data set {name!r}.{hint} Known: {', '.join(sorted(DATASETS))}."
        )
    if len(split) != 3 or abs(sum(split) - 1) > 1e-6 or min(split) <= 0:
        raise DatasetError(
            f"split must be three positive fractions summing to 1. Received: split={split}"
        )
    x, y, class_names, kind, n_fixed_test = DATASETS[name].loader(cache_dir())
    x = np.asarray(x, dtype="float32")
    check_finite(
        x,
        f"data set {name!r}",
        "array x",
        f"delete its cached files in {cache_dir()} to fetch them again",
    )
    y = None if y is None else np.asarray(y, dtype="int64")
    rng = np.random.default_rng(seed)
    if n_fixed_test:  # the data set's own test split stays the test split
        x_tr, x_te = x[:-n_fixed_test], x[-n_fixed_test:]
        y_tr, y_te = (None, None) if y is None else (y[:-n_fixed_test], y[-n_fixed_test:])
        order = rng.permutation(len(x_tr))
        x_tr, y_tr = x_tr[order], (None if y is None else y_tr[order])
        if limit:
            x_tr, x_te = x_tr[:limit], x_te[: max(1, limit // 8)]
            y_tr, y_te = (None, None) if y is None else (y_tr[:limit], y_te[: max(1, limit // 8)])
        n_val = int(round(len(x_tr) * split[1] / (split[0] + split[1])))
        parts = (
            (x_tr[n_val:], x_tr[:n_val], x_te),
            ((None,) * 3 if y is None else (y_tr[n_val:], y_tr[:n_val], y_te)),
        )
    else:
        order = rng.permutation(len(x))
        if limit:
            order = order[:limit]
        x, y = x[order], (None if y is None else y[order])
        n_train = int(round(len(x) * split[0]))
        n_val = int(round(len(x) * split[1]))
        cuts = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None))
        parts = tuple(x[c] for c in cuts), tuple((None if y is None else y[c]) for c in cuts)
    (x_train, x_val, x_test), (y_train, y_val, y_test) = parts
    sizes = {"train": len(x_train), "validation": len(x_val), "test": len(x_test)}
    empty = [k for k, n in sizes.items() if n == 0]
    if empty:
        counts = "/".join(str(n) for n in sizes.values())
        cause = f"limit={limit} leaves" if limit else f"{len(x)} samples leave"
        raise DatasetError(
            f"data set {name!r}: {cause} the {' and '.join(empty)} split(s) empty "
            f"(train/validation/test {counts}); use a limit of at least 10."
        )
    x_train, x_val, x_test, norm = _normalize(kind, x_train, x_val, x_test)
    return Dataset(
        name, kind, x_train, y_train, x_val, y_val, x_test, y_test, list(class_names), norm, seed
    )


def check_finite(a, where: str, array: str, fix: str = "clean or drop those rows"):
    """Refuse an array holding NaN or Inf, naming where, the array, the row (sample) of the
    first one and how many: training on them gives NaN weights or a meaningless accuracy."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc" or not a.size:
        return
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    rows = bad.reshape(len(a), -1).any(axis=1) if a.ndim else bad.reshape(1)
    first = int(np.argmax(rows))
    raise DatasetError(
        f"{where}: {array} holds {int(bad.sum())} non-finite value(s) (NaN/Inf) in "
        f"{int(rows.sum())} row(s), the first in row {first}; {fix}."
    )


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


def _normalize(kind, x_train, *others):
    """Fit on train only; apply to every split."""
    if kind == "image":
        scale = float(x_train.max()) or 1.0
        out = [x_train / scale] + [o / scale for o in others]
        norm = {"method": "scale", "scale": scale}
    else:
        axes = tuple(range(x_train.ndim - 1))  # per feature (last axis)
        mean = x_train.mean(axis=axes, keepdims=True)
        std = x_train.std(axis=axes, keepdims=True)
        std[std == 0] = 1.0
        out = [(x_train - mean) / std] + [(o - mean) / std for o in others]
        norm = {"method": "standardize", "mean": mean.ravel().tolist(), "std": std.ravel().tolist()}
    return (*[o.astype("float32") for o in out], norm)


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


# --------------------------------------------------------------------------- offline sets


@register_dataset(
    "digits", "scikit-learn's 1,797 handwritten digits, 8x8x1, 10 classes (offline)", True
)
def _digits(_cache):
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images[..., None], d.target, [str(i) for i in range(10)], "image", None


@register_dataset("iris", "Fisher's iris: 150 flowers, 4 features, 3 classes (offline)", True)
def _iris(_cache):
    from sklearn.datasets import load_iris

    d = load_iris()
    return d.data, d.target, list(d.target_names), "tabular", None


@register_dataset(
    "iris_setosa", "iris as a binary task: setosa (1) vs. the others (0) (offline)", True
)
def _iris_setosa(_cache):
    from sklearn.datasets import load_iris

    d = load_iris()
    return d.data, (d.target == 0).astype(int), ["other", "setosa"], "tabular", None


@register_dataset(
    "digits_points",
    "digits as point sets: 64 points (x, y, intensity) per digit, order shuffled, 10 classes (offline)",
    True,
)
def _digits_points(_cache):
    from sklearn.datasets import load_digits

    d = load_digits()
    yy, xx = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    coords = np.stack([xx.ravel(), yy.ravel()], axis=-1) / 7.0  # (64, 2)
    pts = np.concatenate(
        [np.broadcast_to(coords, (len(d.images), 64, 2)), d.images.reshape(-1, 64, 1) / 16.0],
        axis=-1,
    )
    rng = np.random.default_rng(1234)  # fixed: the point order carries no information
    pts = np.stack([p[rng.permutation(64)] for p in pts])
    return pts, d.target, [str(i) for i in range(10)], "points", None


@register_dataset(
    "moons", "two interleaving half-moons, 2,000 2-D points (scikit-learn, offline)", True
)
def _moons(_cache):
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=2000, noise=0.05, random_state=0)
    return x, y, ["upper", "lower"], "tabular", None


# Data sets registered by their own modules, in this order: the downloads (MNIST, Fashion-MNIST,
# CIFAR-10, jets), MLPerf Tiny audio, VWW, mnist5k.
from training import downloads  # noqa: E402,F401,I001 - registration order is the listing order
from training import audio, image_sets  # noqa: E402,F401
