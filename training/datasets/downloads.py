"""The real data sets that download once into the cache (``$EDGEZOO_DATA``): MNIST,
Fashion-MNIST, CIFAR-10 and the LHC jets. Offline, a missing file is one
:class:`~training.datasets.registry.DatasetUnavailableError` naming the path and what to put there.

The files are read here rather than through ``keras.datasets``: those loaders download to their
own cache with no offline mode and no clear error, and their parsing helpers (``cifar.load_batch``)
read extracted files only, so using them would not make this module shorter.
"""

from __future__ import annotations

import gzip
import pickle
import tarfile
from pathlib import Path

import numpy as np

from training.datasets.cache import cache_dir, offline
from training.datasets.registry import DatasetError, DatasetUnavailableError, register_dataset
from zoo.core.io import atomic_path

ORDER = 1  # in the listing: after the offline sets


KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _fetch(dataset: str, fname: str, origin: str, how: str) -> Path:
    """Return the cached file, downloading it once if allowed; else a clear error."""
    path = cache_dir() / dataset / fname
    if path.exists():
        return path
    if offline():
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


@register_dataset(
    "mnist", "MNIST, 70,000 handwritten digits, 28x28x1 (downloads once, cached)", False
)
def _mnist(_cache):
    path = _fetch("mnist", "mnist.npz", KERAS_ORIGIN + "mnist.npz", f"from {KERAS_ORIGIN}mnist.npz")
    with np.load(path) as f:
        x = np.concatenate([f["x_train"], f["x_test"]])[..., None]
        y = np.concatenate([f["y_train"], f["y_test"]])
        n_test = len(f["x_test"])
    return x, y, [str(i) for i in range(10)], "image", n_test


FASHION = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST / Fashion-MNIST format)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: header says {dims} but holds {arr.size} values (truncated?).")
    return arr.reshape(dims)


@register_dataset(
    "fashion_mnist",
    "Fashion-MNIST, 70,000 clothing images, 28x28x1 (downloads once, cached)",
    False,
)
def _fashion(_cache):
    origin = KERAS_ORIGIN + "fashion-mnist/"
    names = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    xtr, ytr, xte, yte = (
        read_idx(_fetch("fashion_mnist", n, origin + n, f"from {origin}{n}")) for n in names
    )
    return (
        np.concatenate([xtr, xte])[..., None],
        np.concatenate([ytr, yte]),
        FASHION,
        "image",
        len(xte),
    )


CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@register_dataset(
    "cifar10", "CIFAR-10, 60,000 colour images, 32x32x3 (downloads once, cached)", False
)
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
        raise DatasetError(
            f"{path} is not a readable CIFAR-10 archive ({exc}). Delete it and download again."
        ) from exc
    if not train or not test:
        raise DatasetError(
            f"{path} has no data_batch_*/test_batch members: not the CIFAR-10 python archive."
        )
    batches = [b for _, b in sorted(train)] + [b for _, b in test]
    x = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    y = np.concatenate([b[b"labels"] for b in batches])
    return x, y, CIFAR10, "image", len(test[0][1][b"labels"])


JETS = ["g", "q", "t", "w", "z"]
JETS_ARFF = "hls4ml_lhc_jets_hlf.arff"


@register_dataset(
    "jets",
    "LHC jets, 830,000 x 16 high-level features, 5 classes (OpenML hls4ml_lhc_jets_hlf)",
    False,
)
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
        with atomic_path(npz) as tmp:
            np.savez(tmp, x=x, y=y)
    with np.load(npz) as f:
        return f["x"], f["y"], JETS, "tabular", None


def jets_available() -> bool:
    """Whether the jets data set is on disk (never triggers a download)."""
    folder = cache_dir() / "jets"
    return (folder / "jets.npz").exists() or (folder / JETS_ARFF).exists()


def read_jets_arff(path: Path):
    """Parse the OpenML ARFF of ``hls4ml_lhc_jets_hlf``: 16 numeric features and a nominal class."""
    from scipy.io import arff

    try:
        data, meta = arff.loadarff(str(path))
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path} is not a readable ARFF file ({exc}).") from exc
    names = meta.names()
    if "class" not in names:
        raise DatasetError(
            f"{path} has no 'class' attribute: not the hls4ml_lhc_jets_hlf data set."
        )
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
    if offline():
        raise DatasetUnavailableError(
            f"Data set 'jets' is not cached and EDGEZOO_OFFLINE is set: {how}, or set EDGEZOO_DATA."
        )
    try:
        from sklearn.datasets import fetch_openml

        bunch = fetch_openml(
            "hls4ml_lhc_jets_hlf",
            version=1,
            data_home=str(folder / "openml"),
            as_frame=False,
            parser="liac-arff",
        )
    except Exception as exc:  # noqa: BLE001
        raise DatasetUnavailableError(
            f"Data set 'jets' is not cached and could not be fetched from OpenML "
            f"({type(exc).__name__}: {exc}): {how}, or set EDGEZOO_DATA."
        ) from exc
    y = np.array([JETS.index(str(v)) for v in bunch.target], dtype="int64")
    return np.asarray(bunch.data, dtype="float32"), y
