"""The data set registry: :func:`register_dataset` stores a loader under its name,
:func:`load_dataset` loads, splits and normalizes it, :func:`list_datasets` lists them.

The loaders live in the other modules of :mod:`training.datasets`, one per family (offline
scikit-learn sets, downloads, audio, image folders); importing the package registers them all.

The lectures' rules, applied the same way to every data set:

* shuffle once with a seed, then split train/val/test (default 80/10/10) -- or, for
  data sets that come with a test set (MNIST, CIFAR-10), split only train into train/val;
* fit the normalization on the training split only (images: scale by the training
  maximum to [0, 1]; tabular features: standardize with the training mean/std);
* adapt the shapes to a model card (:func:`training.datasets.adapt.adapt`): flatten, reshape to a sequence,
  resize (8x8 digits -> 32x32 for LeNet-5) or tile channels.

Real loaders (``mnist``, ``fashion_mnist``, ``cifar10``, ``jets``) keep their files in
``$EDGEZOO_DATA`` (default ``~/.cache/edgezoo``). When a file is missing and cannot be
downloaded (offline, or ``EDGEZOO_OFFLINE=1``), :class:`DatasetUnavailableError` names the
data set, the path and what to put there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from training.datasets.cache import cache_dir
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
    module: str = ""  # the module that registered it (its ``ORDER`` places it in the listing)


DATASETS: dict[str, _DatasetSpec] = {}


def register_dataset(name: str, description: str, offline: bool):
    def deco(fn):
        DATASETS[name] = _DatasetSpec(fn, description, offline, fn.__module__)
        return fn

    return deco


def order_listing() -> None:
    """Order :data:`DATASETS` by the ``ORDER`` of the module that registered each data set
    (the offline defaults first), then by registration order within a module."""
    rank = {name: i for i, name in enumerate(DATASETS)}
    ordered = sorted(
        DATASETS.items(),
        key=lambda kv: (getattr(sys.modules.get(kv[1].module), "ORDER", 99), rank[kv[0]]),
    )
    DATASETS.clear()
    DATASETS.update(ordered)


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
    x_train, x_val, x_test, norm = normalize(kind, x_train, x_val, x_test)
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


def normalize(kind, x_train, *others):
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
