"""The offline data sets scikit-learn ships or makes: digits, iris, iris_setosa, digits_points, moons."""

from __future__ import annotations

import numpy as np

from training.datasets.registry import register_dataset

ORDER = 0  # listed first: the offline defaults


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
