"""Plumbing shared by the export targets: files written atomically, hashes, the two Keras worlds,
the data an export is calibrated and verified on, and reference outputs of the source model."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export.errors import UnsupportedModelError
from zoo.core.introspect import all_layers

# Build products left out of a directory artifact's hash and size (machine-specific, rebuilt).
_TREE_SKIP_SUFFIXES = (".so", ".o", ".a", ".pyc", ".log")
_TREE_SKIP_DIRS = ("__pycache__",)


# --------------------------------------------------------------------------- files


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_files(root: str | os.PathLike) -> list[Path]:
    """The files of a directory artifact that count (sources, weights, scripts), sorted."""
    root = Path(root)
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or any(
            part in _TREE_SKIP_DIRS or part.endswith("_prj") for part in rel.parts[:-1]
        ):
            continue
        if p.suffix in _TREE_SKIP_SUFFIXES:
            continue
        out.append(p)
    return out


def tree_sha256(root: str | os.PathLike) -> tuple[str, int]:
    """(sha256 over ``relative path NUL file sha256 LF`` of every counted file, total bytes)."""
    root = Path(root)
    h = hashlib.sha256()
    total = 0
    for p in tree_files(root):
        h.update(f"{p.relative_to(root).as_posix()}\0{sha256_file(p)}\n".encode())
        total += p.stat().st_size
    return h.hexdigest(), total


# --------------------------------------------------------------------------- worlds


@contextlib.contextmanager
def keras_module_as(world: str):
    """Make ``import keras`` resolve to tf-keras for the duration of the block (``world="tf_keras"``).

    hls4ml 1.3 picks its parser with ``import keras; keras.__version__``: tf-keras and QKeras models
    must go through its Keras-2 path. The original module is restored in ``finally``.
    """
    if world != "tf_keras":
        yield
        return
    import tf_keras

    saved = sys.modules.get("keras")
    sys.modules["keras"] = tf_keras
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop("keras", None)
        else:
            sys.modules["keras"] = saved


def keras_of(world: str):
    from zoo.core.worlds import get_keras

    return get_keras(world)


def is_quantized(model) -> bool:
    """True for a model with QKeras layers (quantizers the hls4ml config reads)."""
    return any(type(layer).__module__.startswith("qkeras") for layer in all_layers(model))


def sparsity(model) -> float:
    """Fraction of exactly-zero kernel weights (pruned models keep their zeros)."""
    zeros = total = 0
    for layer in all_layers(model):
        for w in layer.weights:
            if "kernel" in w.name:
                v = np.asarray(w)
                zeros += int((v == 0).sum())
                total += v.size
    return zeros / total if total else 0.0


def check_single_io(model, target: str):
    """The export targets and their verification take one input tensor and give one output tensor."""
    n_in, n_out = len(model.inputs), len(model.outputs)
    if n_in != 1 or n_out != 1:
        raise UnsupportedModelError(
            target,
            model.name,
            why=f"export supports single-input, single-output models; this one has "
            f"{n_in} inputs and {n_out} outputs",
        )


def input_shape(model) -> tuple[int, ...]:
    """The input shape without the batch dimension (all of it must be known)."""
    shape = tuple(model.inputs[0].shape[1:])
    if any(s is None for s in shape):
        raise UnsupportedModelError(
            "export", model.name, why=f"input shape {shape} has unknown dimensions"
        )
    return tuple(int(s) for s in shape)


def predict(model, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """The source model's inference output (``training=False``), as float32 numpy."""
    outs = []
    for i in range(0, len(x), batch_size):
        y = model(x[i : i + batch_size], training=False)
        outs.append(np.asarray(y, dtype=np.float32))
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


# --------------------------------------------------------------------------- data


@dataclass
class ExportData:
    """What an export is calibrated and verified on.

    ``x_calib`` comes from the training split (``calib_indices`` into it, saved next to every
    artifact that used it); parity is measured on ``x_test`` (and ``y_test`` when labelled).
    """

    x_calib: np.ndarray
    calib_indices: list[int]
    x_test: np.ndarray
    y_test: np.ndarray | None
    info: dict = field(default_factory=dict)
    x_train: np.ndarray | None = None  # the whole training split (range profiling for fixed point)

    def profile_set(self, n: int) -> np.ndarray:
        """Up to ``n`` training samples (drawn with the calibration seed) for range profiling."""
        if self.x_train is None:
            return self.x_calib
        idx = calibration_indices(len(self.x_train), n, int(self.info.get("calibration_seed", 0)))
        return self.x_train[idx]

    @classmethod
    def from_arrays(
        cls,
        x_train,
        x_test,
        y_test=None,
        *,
        calibration_samples: int = 256,
        seed: int = 0,
        parity_samples: int | None = None,
        info: dict | None = None,
    ) -> ExportData:
        x_train = np.asarray(x_train, dtype=np.float32)
        idx = calibration_indices(len(x_train), calibration_samples, seed)
        x_test = np.asarray(x_test, dtype=np.float32)
        y = None if y_test is None else np.asarray(y_test)
        if parity_samples is not None and parity_samples < len(x_test):
            x_test, y = x_test[:parity_samples], (None if y is None else y[:parity_samples])
        meta = {
            "calibration_split": "train",
            "n_train": int(len(x_train)),
            "calibration_seed": int(seed),
            "n_calibration": len(idx),
            "parity_split": "test",
            "n_parity": int(len(x_test)),
            "labelled": y is not None,
        }
        meta.update(info or {})
        return cls(x_train[idx], idx, x_test, y, meta, x_train)

    @classmethod
    def from_dataset(cls, ds, **kw) -> ExportData:
        info = {"dataset": ds.name, **kw.pop("info", {})}
        return cls.from_arrays(ds.x_train, ds.x_test, ds.y_test, info=info, **kw)

    def calibration_record(self) -> dict:
        """The JSON written next to an artifact calibrated on this data (reproducible int8 models)."""
        keys = ("dataset", "calibration_split", "n_train", "calibration_seed", "n_calibration")
        return {
            **{k: self.info[k] for k in keys if k in self.info},
            "indices": list(self.calib_indices),
        }


def calibration_indices(n_train: int, n: int, seed: int) -> list[int]:
    """``n`` distinct indices into the training split, drawn with ``seed``, sorted."""
    if n_train < 1:
        from training.datasets.registry import DatasetError

        raise DatasetError("the training split is empty: nothing to calibrate on")
    n = min(int(n), n_train)
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n_train, size=n, replace=False))


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, accuracy) points no other point beats -- fewer or equal cost
    (bytes, bits) and higher or equal accuracy --, by increasing cost; of equal points the first."""
    idx = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in idx:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def check_batches(
    run, x: np.ndarray, ref: np.ndarray, *, batch: int, atol, rtol, info: dict, dynamic: bool
) -> dict:
    """The dynamic-batch check of every runtime: batch 1 and batch ``batch`` through ``run(x_n)``,
    each compared with ``ref`` on the same rows (every ``|diff| <= atol + rtol * |ref|``; ``atol``
    None: it only has to run). ``info`` names the artifact's batch dimension (first in the
    record); ``dynamic``: whether that dimension is dynamic (the check fails otherwise)."""
    sizes = sorted({1, max(2, min(batch, len(x)))})
    result = {**info, "batches": sizes, "max_abs_diff": {}}
    ok = dynamic
    for n in sizes:
        try:
            diff = np.abs(np.asarray(run(x[:n])).reshape(ref[:n].shape) - ref[:n])
        except Exception as exc:  # noqa: BLE001 - a failing batch size is the finding
            result["max_abs_diff"][str(n)] = None
            result["error"] = f"batch {n}: {type(exc).__name__}: {exc}"
            ok = False
            continue
        result["max_abs_diff"][str(n)] = float(diff.max())
        ok = ok and (atol is None or bool(np.all(diff <= atol + rtol * np.abs(ref[:n]))))
    result["ok"] = bool(ok)
    result["atol"], result["rtol"] = atol, rtol
    return result
