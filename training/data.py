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

import gzip
import os
import pickle
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from zoo.errors import EdgezooError

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
        raise DatasetError(f"Unknown data set {name!r}.{hint} Known: {', '.join(sorted(DATASETS))}.")
    if len(split) != 3 or abs(sum(split) - 1) > 1e-6 or min(split) <= 0:
        raise DatasetError(f"split must be three positive fractions summing to 1. Received: split={split}")
    x, y, class_names, kind, n_fixed_test = DATASETS[name].loader(cache_dir())
    x = np.asarray(x, dtype="float32")
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
        parts = (x_tr[n_val:], x_tr[:n_val], x_te), (
            (None,) * 3 if y is None else (y_tr[n_val:], y_tr[:n_val], y_te)
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
    x_train, x_val, x_test, norm = _normalize(kind, x_train, x_val, x_test)
    return Dataset(name, kind, x_train, y_train, x_val, y_val, x_test, y_test,
                   list(class_names), norm, seed)


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

@register_dataset("digits", "scikit-learn's 1,797 handwritten digits, 8x8x1, 10 classes (offline)", True)
def _digits(_cache):
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images[..., None], d.target, [str(i) for i in range(10)], "image", None


@register_dataset("iris", "Fisher's iris: 150 flowers, 4 features, 3 classes (offline)", True)
def _iris(_cache):
    from sklearn.datasets import load_iris

    d = load_iris()
    return d.data, d.target, list(d.target_names), "tabular", None


@register_dataset("iris_setosa", "iris as a binary task: setosa (1) vs. the others (0) (offline)", True)
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
        [np.broadcast_to(coords, (len(d.images), 64, 2)), d.images.reshape(-1, 64, 1) / 16.0], axis=-1
    )
    rng = np.random.default_rng(1234)  # fixed: the point order carries no information
    pts = np.stack([p[rng.permutation(64)] for p in pts])
    return pts, d.target, [str(i) for i in range(10)], "points", None


@register_dataset("moons", "two interleaving half-moons, 2,000 2-D points (scikit-learn, offline)", True)
def _moons(_cache):
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=2000, noise=0.05, random_state=0)
    return x, y, ["upper", "lower"], "tabular", None


# --------------------------------------------------------------------------- real loaders

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _fetch(dataset: str, fname: str, origin: str, how: str) -> Path:
    """Return the cached file, downloading it once if allowed; else a clear error."""
    path = cache_dir() / dataset / fname
    if path.exists():
        return path
    if os.environ.get("EDGEZOO_OFFLINE", "") not in ("", "0"):
        reason = "EDGEZOO_OFFLINE is set"
    else:
        try:
            import keras

            path.parent.mkdir(parents=True, exist_ok=True)
            got = keras.utils.get_file(fname, origin, cache_dir=str(path.parent), cache_subdir=".")
            return Path(got)
        except Exception as exc:  # noqa: BLE001 - any download failure means "not available here"
            reason = f"download failed ({type(exc).__name__}: {exc})"
    raise DatasetUnavailableError(
        f"Data set {dataset!r} is not cached and cannot be downloaded: {reason}. "
        f"Put {fname} at {path} ({how}), or set EDGEZOO_DATA to a folder that has it."
    )


@register_dataset("mnist", "MNIST, 70,000 handwritten digits, 28x28x1 (downloads once, cached)", False)
def _mnist(_cache):
    path = _fetch("mnist", "mnist.npz", KERAS_ORIGIN + "mnist.npz", f"from {KERAS_ORIGIN}mnist.npz")
    with np.load(path) as f:
        x = np.concatenate([f["x_train"], f["x_test"]])[..., None]
        y = np.concatenate([f["y_train"], f["y_test"]])
        n_test = len(f["x_test"])
    return x, y, [str(i) for i in range(10)], "image", n_test


FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST / Fashion-MNIST format)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: header says {dims} but holds {arr.size} values (truncated?).")
    return arr.reshape(dims)


@register_dataset("fashion_mnist", "Fashion-MNIST, 70,000 clothing images, 28x28x1 (downloads once, cached)", False)
def _fashion(_cache):
    origin = KERAS_ORIGIN + "fashion-mnist/"
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    xtr, ytr, xte, yte = (read_idx(_fetch("fashion_mnist", n, origin + n, f"from {origin}{n}")) for n in names)
    return np.concatenate([xtr, xte])[..., None], np.concatenate([ytr, yte]), FASHION, "image", len(xte)


CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@register_dataset("cifar10", "CIFAR-10, 60,000 colour images, 32x32x3 (downloads once, cached)", False)
def _cifar10(_cache):
    path = _fetch("cifar10", "cifar-10-python.tar.gz", CIFAR_ORIGIN, f"from {CIFAR_ORIGIN}")
    train, test = [], []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                base = Path(member.name).name
                if base.startswith("data_batch_") or base == "test_batch":
                    batch = pickle.load(tar.extractfile(member), encoding="bytes")
                    (test if base == "test_batch" else train).append((base, batch))
    except (tarfile.TarError, OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable CIFAR-10 archive ({exc}). Delete it and download again.") from exc
    if not train or not test:
        raise DatasetError(f"{path} has no data_batch_*/test_batch members: not the CIFAR-10 python archive.")
    batches = [b for _, b in sorted(train)] + [b for _, b in test]
    x = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    y = np.concatenate([b[b"labels"] for b in batches])
    return x, y, CIFAR10, "image", len(test[0][1][b"labels"])


JETS = ["g", "q", "t", "w", "z"]
JETS_ARFF = "hls4ml_lhc_jets_hlf.arff"


@register_dataset("jets", "LHC jets, 830,000 x 16 high-level features, 5 classes (OpenML hls4ml_lhc_jets_hlf)", False)
def _jets(_cache):
    folder = cache_dir() / "jets"
    npz = folder / "jets.npz"
    if not npz.exists():
        arff = folder / JETS_ARFF
        if arff.exists():
            x, y = read_jets_arff(arff)
        else:
            x, y = _fetch_jets_openml(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".jets.tmp.npz"
        np.savez(tmp, x=x, y=y)
        os.replace(tmp, npz)
    with np.load(npz) as f:
        return f["x"], f["y"], JETS, "tabular", None


def read_jets_arff(path: Path):
    """Parse the OpenML ARFF of ``hls4ml_lhc_jets_hlf``: 16 numeric features and a nominal class."""
    from scipy.io import arff

    try:
        data, meta = arff.loadarff(str(path))
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path} is not a readable ARFF file ({exc}).") from exc
    names = meta.names()
    if "class" not in names:
        raise DatasetError(f"{path} has no 'class' attribute: not the hls4ml_lhc_jets_hlf data set.")
    feats = [n for n in names if n != "class"]
    x = np.stack([data[n].astype("float32") for n in feats], axis=1)
    labels = [v.decode() if isinstance(v, bytes) else str(v) for v in data["class"]]
    unknown = sorted(set(labels) - set(JETS))
    if unknown:
        raise DatasetError(f"{path}: unexpected classes {unknown}; expected {JETS}.")
    y = np.array([JETS.index(v) for v in labels], dtype="int64")
    return x, y


def _fetch_jets_openml(folder: Path):
    how = (
        f"download the ARFF of OpenML data set 'hls4ml_lhc_jets_hlf' (id 42468) and save it as "
        f"{folder / JETS_ARFF}"
    )
    if os.environ.get("EDGEZOO_OFFLINE", "") not in ("", "0"):
        raise DatasetUnavailableError(
            f"Data set 'jets' is not cached and EDGEZOO_OFFLINE is set: {how}, or set EDGEZOO_DATA."
        )
    try:
        from sklearn.datasets import fetch_openml

        bunch = fetch_openml("hls4ml_lhc_jets_hlf", version=1, data_home=str(folder / "openml"),
                             as_frame=False, parser="liac-arff")
    except Exception as exc:  # noqa: BLE001
        raise DatasetUnavailableError(
            f"Data set 'jets' is not cached and could not be fetched from OpenML "
            f"({type(exc).__name__}: {exc}): {how}, or set EDGEZOO_DATA."
        ) from exc
    y = np.array([JETS.index(str(v)) for v in bunch.target], dtype="int64")
    return np.asarray(bunch.data, dtype="float32"), y


# Data sets registered by their own modules (MLPerf Tiny audio, VWW, mnist5k).
from training import audio, image_sets  # noqa: E402,F401
