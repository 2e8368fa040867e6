"""A user's own data: ``.npz`` arrays, a CSV table or a folder of images in class subfolders.

:func:`read_user_data` reads the file, splits it by the lectures' rules (shuffle once with a
seed, 80/10/10 -- or, when the file brings its own test split, train into train/val only) and
optionally normalizes with statistics fit on the training split (default: none -- a model the
user trained expects the data as they give it). :func:`store` writes the splits into a model
directory as ``data.npz``; later stages read that copy (:func:`load_stored`), never the user's
file, after checking its sha256. When the user's file still exists and has changed since the
import, one line says so.

Formats:

* ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (optionally ``x_val``,
  ``y_val``), or ``x`` and ``y``, or only ``x`` (reconstruction);
* CSV with a header: the feature columns and one label column (``label_column``, default the
  last); string labels become classes in sorted order;
* a folder with one subfolder per class (Keras' ``image_dataset_from_directory`` conventions:
  classes in alphanumeric order), images resized to the model's input.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from training.datasets.registry import SPLIT, Dataset, DatasetError, check_finite
from training.datasets.sources import check_csv_width, check_folder, check_regular
from zoo.core.io import atomic_path

STORED = "data.npz"
NORMALIZE = ("none", "scale", "standardize")
_WARNED: set = set()


def sha256_path(path) -> str:
    """sha256 of a file, or of a folder (relative path and sha256 of every file, sorted)."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(f"{p.relative_to(path).as_posix()}\0{_file_sha(p)}\n".encode())
        return h.hexdigest()
    return _file_sha(path)


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- reading


def data_format(path: Path) -> str:
    if not path.exists():
        raise DatasetError(
            f"Data not found: {path}. Give a .npz file, a .csv file or a folder of images."
        )
    if path.is_dir():
        check_folder(path)
        return "images"
    check_regular(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    raise DatasetError(
        f"{path}: unknown data format {suffix!r}. Give a .npz (x_train, y_train, x_test, y_test or x, y), "
        "a .csv (feature columns + a label column) or a folder with one subfolder of images per class."
    )


def read_npz(path: Path):
    """(parts, class_names): parts is {"x": ..., "y": ...} or the split arrays."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise DatasetError(
            f"{path} is not a readable .npz file ({type(exc).__name__}: {exc})."
        ) from exc
    keys = set(arrays)
    if {"x_train", "x_test"} <= keys:
        parts = {
            k: arrays[k]
            for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
            if k in keys
        }
        if ("y_train" in parts) != ("y_test" in parts):
            raise DatasetError(
                f"{path}: give both y_train and y_test, or neither (reconstruction)."
            )
    elif "x" in keys:
        parts = {k: arrays[k] for k in ("x", "y") if k in keys}
    else:
        raise DatasetError(
            f"{path} holds arrays {sorted(keys)}; edgezoo reads x_train, y_train, x_test, y_test "
            "(optionally x_val, y_val), or x and y (split 80/10/10 with the seed), or x alone."
        )
    for key, a in parts.items():
        if a.dtype.kind in "USO":
            sample = a.reshape(-1)[0] if a.size else ""
            what = "labels are" if key.startswith("y") else "inputs are"
            raise DatasetError(
                f"{path}: array {key} holds text ({what} text, e.g. {str(sample)!r}); store "
                "numbers: integer class indices with the names in a 'class_names' array (or a CSV, "
                "whose text labels become classes)."
            )
        if a.dtype.kind not in "biuf":
            raise DatasetError(
                f"{path}: array {key} has dtype {a.dtype}; edgezoo reads numeric arrays."
            )
        check_finite(a, str(path), f"array {key}")
    for xk in [k for k in parts if k.startswith("x")]:
        yk = "y" + xk[1:]
        if yk in parts and len(parts[yk]) != len(parts[xk]):
            raise DatasetError(
                f"{path}: {xk} has {len(parts[xk])} samples but {yk} has {len(parts[yk])}."
            )
    return parts, list(arrays["class_names"].astype(str)) if "class_names" in keys else []


def read_csv(path: Path, label_column: str | None):
    import pandas as pd

    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    check_csv_width(path, sep)
    try:
        frame = pd.read_csv(path, sep=sep)
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(
            f"{path} is not a readable CSV table ({type(exc).__name__}: {exc})."
        ) from exc
    if len(frame) == 0:
        raise DatasetError(
            f"{path} has no data rows (only a header: {list(map(str, frame.columns))}); give one "
            "row per sample."
        )
    if frame.shape[1] < 2:
        raise DatasetError(
            f"{path}: a CSV needs feature columns and a label column; it has {list(frame.columns)}."
        )
    label = label_column if label_column is not None else frame.columns[-1]
    if label not in frame.columns:
        raise DatasetError(
            f"{path} has no column {label!r} (--label-column). Columns: {list(map(str, frame.columns))}."
        )
    features = frame.drop(columns=[label])
    bad = [str(c) for c, t in features.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
    if bad:
        raise DatasetError(
            f"{path}: feature column(s) {bad} are not numeric; encode them as numbers first."
        )
    x = features.to_numpy(dtype="float32")
    missing = np.isnan(x).any(axis=0)  # one array, not a pass per column (wide tables)
    if missing.any():
        raise DatasetError(
            f"{path}: missing values in column(s) "
            f"{[str(c) for c in features.columns[missing]]}; fill or drop them."
        )
    check_finite(
        x, str(path), "the feature columns", "clean or drop those rows (row 0 = first data row)"
    )
    y = frame[label]
    if y.isna().any():
        raise DatasetError(
            f"{path}: label column {label!r} is empty in {int(y.isna().sum())} row(s), the first in "
            f"data row {int(np.argmax(y.isna().to_numpy()))}; fill or drop them."
        )
    names: list[str] = []
    if not pd.api.types.is_numeric_dtype(y):
        names = sorted(map(str, y.unique()))
        y = y.astype(str).map({n: i for i, n in enumerate(names)})
    y = y.to_numpy()
    check_finite(y, str(path), f"label column {label!r}")
    return {"x": x, "y": y}, names, str(label)


def read_images(path: Path, input_shape):
    import keras

    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(
            f"{path}: a folder of images needs one subfolder per class (at least 2); "
            f"found {classes}."
        )
    if len(input_shape) != 3 or input_shape[0] is None or input_shape[1] is None:
        raise DatasetError(
            f"A folder of images needs a model with a fixed (height, width, channels) "
            f"input; this model takes {tuple(input_shape)}."
        )
    h, w, c = input_shape
    mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(c)
    if mode is None:
        raise DatasetError(
            f"The model takes {c} channels; images come as 1 (grayscale), 3 (rgb) or 4 (rgba)."
        )
    try:
        ds = keras.utils.image_dataset_from_directory(
            path,
            labels="inferred",
            label_mode="int",
            class_names=classes,
            color_mode=mode,
            batch_size=None,
            image_size=(h, w),
            shuffle=False,
            verbose=False,
        )
        xs, ys = [], []
        for x, y in ds.as_numpy_iterator():
            xs.append(x)
            ys.append(y)
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(
            f"{path}: cannot read the images ({type(exc).__name__}: {exc})."
        ) from exc
    if not xs:
        raise DatasetError(
            f"{path}: no images found (jpeg, png, bmp, gif) in the class subfolders {classes}."
        )
    return {"x": np.stack(xs).astype("float32"), "y": np.asarray(ys)}, classes


def split(parts: dict, seed: int, split_=SPLIT) -> dict:
    """The lectures' rules: seeded shuffle; 80/10/10, or train -> train/val when a test split is given."""
    rng = np.random.default_rng(seed)
    if "x" in parts:
        x, y = parts["x"], parts.get("y")
        order = rng.permutation(len(x))
        n_train, n_val = int(round(len(x) * split_[0])), int(round(len(x) * split_[1]))
        cuts = {
            "train": slice(0, n_train),
            "val": slice(n_train, n_train + n_val),
            "test": slice(n_train + n_val, None),
        }
        out = {f"x_{k}": x[order][c] for k, c in cuts.items()}
        out.update({f"y_{k}": (None if y is None else y[order][c]) for k, c in cuts.items()})
    else:
        out = dict(parts)
        out.setdefault("y_train", None)
        out.setdefault("y_test", None)
        order = rng.permutation(len(out["x_train"]))
        x_tr = out["x_train"][order]
        y_tr = None if out["y_train"] is None else out["y_train"][order]
        if "x_val" not in out:
            n_val = int(round(len(x_tr) * split_[1] / (split_[0] + split_[1])))
            out["x_val"], out["x_train"] = x_tr[:n_val], x_tr[n_val:]
            out["y_val"], out["y_train"] = (
                (None, None) if y_tr is None else (y_tr[:n_val], y_tr[n_val:])
            )
        else:
            out["x_train"], out["y_train"] = x_tr, y_tr
            out.setdefault("y_val", None)
    for k in ("train", "val", "test"):
        if len(out[f"x_{k}"]) == 0:
            raise DatasetError(
                f"The {k} split is empty: give more samples (at least 10 for an 80/10/10 split)."
            )
    return out


def read_user_data(
    path, *, input_shape, seed: int = 0, label_column: str | None = None, normalize: str = "none"
) -> tuple[Dataset, dict]:
    """The user's data as a split :class:`~training.datasets.registry.Dataset` plus a record of what was read."""
    path = Path(path)
    fmt = data_format(path)
    if normalize not in NORMALIZE:
        raise DatasetError(
            f"normalize must be one of {NORMALIZE}. Received: normalize={normalize!r}"
        )
    record = {"format": fmt, "source": str(path.resolve()), "source_sha256": sha256_path(path)}
    if fmt == "npz":
        parts, names = read_npz(path)
        kind = "image" if parts[next(iter(parts))].ndim >= 3 else "tabular"
    elif fmt == "csv":
        parts, names, label = read_csv(path, label_column)
        record["label_column"] = label
        kind = "tabular"
    else:
        parts, names = read_images(path, input_shape)
        kind = "image"
    if fmt != "csv" and label_column is not None:
        raise DatasetError(f"--label-column applies to CSV data only; {path} is {fmt}.")
    s = split({k: np.asarray(v) for k, v in parts.items()}, seed)
    xs = [
        s["x_train"].astype("float32"),
        s["x_val"].astype("float32"),
        s["x_test"].astype("float32"),
    ]
    norm: dict = {"method": "none"}
    if normalize != "none":
        xs[0], xs[1], xs[2], norm = normalize("image" if normalize == "scale" else "tabular", *xs)
    ds = Dataset(
        path.name,
        kind,
        xs[0],
        s["y_train"],
        xs[1],
        s["y_val"],
        xs[2],
        s["y_test"],
        names,
        norm,
        seed,
    )
    record["normalize"] = normalize
    return ds, record


# --------------------------------------------------------------------------- stored copy


def store(ds: Dataset, directory) -> tuple[str, str]:
    """Write ``ds`` as ``directory/data.npz`` (temp file, then rename); returns (name, sha256)."""
    directory = Path(directory)
    arrays = {
        "x_train": ds.x_train,
        "x_val": ds.x_val,
        "x_test": ds.x_test,
        "class_names": np.asarray(ds.class_names, dtype=str),
    }
    for k in ("train", "val", "test"):
        y = getattr(ds, f"y_{k}")
        if y is not None:
            arrays[f"y_{k}"] = y
    with atomic_path(directory / STORED) as tmp:
        np.savez_compressed(tmp, **arrays)
    return STORED, _file_sha(directory / STORED)


def copy_stored(src_dir, dst_dir, record: dict) -> None:
    """Give a new model directory its own copy of the stored data (hard link where possible)."""
    from zoo.core.paths import inside

    src = inside(src_dir, record["path"], "config.json: data_file.path")
    dst = inside(dst_dir, record["path"], "config.json: data_file.path")
    if src.resolve() == dst.resolve():
        return
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            import shutil

            shutil.copyfile(src, tmp)


def load_stored(model_dir, record: dict, *, name: str = "", seed: int = 0) -> Dataset:
    """The data stored in a model directory, after checking it is the copy the import wrote."""
    from zoo.core.paths import inside

    model_dir = Path(model_dir)
    path = inside(model_dir, record["path"], f"config.json of {model_dir}: data_file.path")
    if not path.exists():
        raise DatasetError(
            f"{path} is missing: the model directory lost its data. Re-run `edgezoo import`."
        )
    sha = _file_sha(path)
    if sha != record["sha256"]:
        raise DatasetError(
            f"{path} was modified after import (sha256 {sha[:12]}..., expected {record['sha256'][:12]}...). "
            "Re-run `edgezoo import` to store the data again."
        )
    _note_source_change(record)
    with np.load(path, allow_pickle=False) as f:
        a = {k: f[k] for k in f.files}
    for key in ("x_train", "x_val", "x_test", "y_train", "y_val", "y_test"):
        if key in a:  # stored by an edgezoo that did not check: refuse before any figure
            check_finite(
                a[key], str(path), f"array {key}", "re-run `edgezoo import` with clean data"
            )
    return Dataset(
        name or Path(record.get("source", "data")).name,
        record.get("kind", "tabular"),
        a["x_train"],
        a.get("y_train"),
        a["x_val"],
        a.get("y_val"),
        a["x_test"],
        a.get("y_test"),
        [str(c) for c in a.get("class_names", [])],
        record.get("normalization", {}),
        seed,
    )


def source_changed(record: dict) -> bool:
    src = record.get("source")
    return bool(src) and Path(src).exists() and sha256_path(src) != record.get("source_sha256")


def _note_source_change(record: dict) -> None:
    src = record.get("source")
    key = (src, record.get("source_sha256"))
    if key in _WARNED or not source_changed(record):
        return
    _WARNED.add(key)
    warnings.warn(
        f"{src} changed since import; re-run `edgezoo import` to use the new data "
        "(this stage uses the copy stored at import).",
        DataChangedWarning,
        stacklevel=1,
    )


class DataChangedWarning(UserWarning):
    """The user's data file differs from the one imported (the stored copy is used)."""
