"""Data sets: the lecture rules (seeded shuffle, 80/10/10, train-only normalization), shape
adaptation, and the real loaders' parsing paths on small files written in the real formats."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest

from training.datasets.adapt import adapt
from training.datasets.downloads import read_idx
from training.datasets.registry import DatasetError, DatasetUnavailableError, load_dataset


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEZOO_DATA", str(tmp_path))
    monkeypatch.setenv("EDGEZOO_OFFLINE", "1")
    return tmp_path


def test_digits_split_is_80_10_10_and_seeded():
    a, b, c = (
        load_dataset("digits", seed=1),
        load_dataset("digits", seed=1),
        load_dataset("digits", seed=2),
    )
    n = len(a.x_train) + len(a.x_val) + len(a.x_test)
    assert n == 1797
    assert abs(len(a.x_train) / n - 0.8) < 0.01 and abs(len(a.x_test) / n - 0.1) < 0.01
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.y_train, c.y_train)
    assert a.input_shape == (8, 8, 1) and a.num_classes == 10


def test_normalization_is_fit_on_train_only():
    ds = load_dataset("iris")
    # standardized with train statistics: train is exactly centred, val/test are not
    np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(0), 1, atol=1e-4)
    assert np.abs(ds.x_test.mean(0)).max() > 1e-3
    img = load_dataset("digits")
    assert img.x_train.max() == 1.0 and img.normalization == {"method": "scale", "scale": 16.0}


def test_binary_points_and_moons_sets():
    s = load_dataset("iris_setosa")
    assert set(np.unique(s.y_train)) == {0, 1} and s.class_names == ["other", "setosa"]
    p = load_dataset("digits_points")
    assert p.input_shape == (64, 3) and p.num_classes == 10
    m = load_dataset("moons")
    assert m.input_shape == (2,)


def test_adapt_resizes_flattens_and_reshapes():
    ds = load_dataset("digits")
    assert adapt(ds, (32, 32, 1)).x_train.shape[1:] == (32, 32, 1)
    assert adapt(ds, (64,)).x_train.shape[1:] == (64,)
    assert adapt(ds, (8, 8)).x_train.shape[1:] == (8, 8)
    rgb = adapt(ds, (16, 16, 3))
    assert rgb.x_train.shape[1:] == (16, 16, 3)
    np.testing.assert_array_equal(rgb.x_train[..., 0], rgb.x_train[..., 2])
    with pytest.raises(DatasetError, match="cannot feed a model with input_shape=\\(16,\\)"):
        adapt(ds, (16,))


def test_unknown_dataset_and_bad_split():
    with pytest.raises(DatasetError, match="Unknown data set 'digit'.*digits"):
        load_dataset("digit")
    with pytest.raises(DatasetError, match="split"):
        load_dataset("digits", split=(0.5, 0.5, 0.5))


@pytest.mark.parametrize(
    "name,fname",
    [
        ("mnist", "mnist.npz"),
        ("cifar10", "cifar-10-python.tar.gz"),
        ("fashion_mnist", "train-images-idx3-ubyte.gz"),
        ("jets", "hls4ml_lhc_jets_hlf.arff"),
    ],
)
def test_missing_offline_dataset_names_the_path(cache, name, fname):
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset(name)
    msg = str(err.value)
    assert repr(name) in msg and str(cache) in msg and fname in msg


def test_mnist_npz_parsing_and_fixed_test_split(cache, rng):
    (cache / "mnist").mkdir()
    xtr = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    xte = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    np.savez(
        cache / "mnist" / "mnist.npz",
        x_train=xtr,
        y_train=np.arange(50) % 10,
        x_test=xte,
        y_test=np.arange(10) % 10,
    )
    ds = load_dataset("mnist")
    assert ds.input_shape == (28, 28, 1)
    assert len(ds.x_test) == 10 and len(ds.x_train) + len(ds.x_val) == 50
    np.testing.assert_allclose(
        ds.x_test[..., 0] * ds.normalization["scale"], xte
    )  # MNIST's own test split


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_parsing(cache, rng):
    folder = cache / "fashion_mnist"
    folder.mkdir()
    imgs = {"train": rng.integers(0, 256, (30, 28, 28)), "t10k": rng.integers(0, 256, (6, 28, 28))}
    for part, x in imgs.items():
        (folder / f"{part}-images-idx3-ubyte.gz").write_bytes(_idx(x))
        (folder / f"{part}-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(len(x)) % 10))
    ds = load_dataset("fashion_mnist")
    assert len(ds.x_test) == 6 and ds.class_names[9] == "Ankle boot"
    bad = folder / "broken.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") * 3 + b"\x01"))
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(bad)


def test_cifar10_archive_parsing(cache, rng):
    folder = cache / "cifar10"
    folder.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, n in [("data_batch_1", 8), ("data_batch_2", 8), ("test_batch", 4)]:
            payload = pickle.dumps(
                {
                    b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                    b"labels": list(range(n)),
                }
            )
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    (folder / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    ds = load_dataset("cifar10")
    assert ds.input_shape == (32, 32, 3) and len(ds.x_test) == 4 and ds.class_names[0] == "airplane"
    (folder / "cifar-10-python.tar.gz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="not a readable CIFAR-10 archive"):
        load_dataset("cifar10")


def test_jets_arff_parsing_and_cache(cache, rng):
    folder = cache / "jets"
    folder.mkdir()
    feats = [f"f{i}" for i in range(16)]
    lines = ["@RELATION hls4ml_lhc_jets_hlf", ""] + [f"@ATTRIBUTE {f} NUMERIC" for f in feats]
    lines += ["@ATTRIBUTE class {g,q,t,w,z}", "", "@DATA"]
    labels = ["g", "q", "t", "w", "z"] * 8
    for lab in labels:
        lines.append(",".join(f"{v:.4f}" for v in rng.standard_normal(16)) + f",{lab}")
    (folder / "hls4ml_lhc_jets_hlf.arff").write_text("\n".join(lines) + "\n")
    ds = load_dataset("jets")
    assert ds.input_shape == (16,) and ds.class_names == ["g", "q", "t", "w", "z"]
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 40
    assert (folder / "jets.npz").exists()  # parsed once, cached
    (folder / "hls4ml_lhc_jets_hlf.arff").unlink()
    assert len(load_dataset("jets").x_train) == len(ds.x_train)
