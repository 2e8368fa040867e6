"""``import_model``: a user's model file and data become an ordinary edgezoo model directory.

::

    OUT/
        config.json   model name, card (task, input shape, ...), world, the Keras 3 architecture,
                      the model file's path/sha256/route, data_file (stored copy + sha256s)
        model.keras   the model (Keras 3; QKeras models stay in the tf-keras world)
        data.npz      the seeded train/val/test splits of the user's data
        metrics.json  test-split metrics of the imported model

``compress``, ``export``, ``bench``, ``run`` and the report read it like a training run. Every
check (file safety, shapes, labels, task, equal outputs after a move between Keras worlds) runs
before anything is written; the directory is built beside ``OUT`` and swapped in
(:class:`zoo.core.transaction.Build`): the user's own files in ``OUT`` are carried over.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from training.datasets.registry import Dataset, DatasetError
from training.datasets.userdata import read_user_data, sha256_path, store
from training.model_dir import save_model_dir
from training.tasks import compile_for, evaluate
from zoo.core.claim import replacing
from zoo.core.errors import EdgezooError
from zoo.core.introspect import versions
from zoo.core.io import ModelFileError
from zoo.core.io import write_json_atomic as _write_json
from zoo.core.paths import check_writable
from zoo.core.run_config import RunConfig
from zoo.core.worlds import KERAS3
from zoo.imported import architecture
from zoo.imported.convert import max_output_diff
from zoo.imported.loaders import read_model_file
from zoo.registry import TARGETS, ModelCard

TASKS = ("classification", "regression", "reconstruction")
# A model moved between Keras worlds must compute the same function: numpy.allclose-style bound.
MOVE_ATOL, MOVE_RTOL = 1e-5, 1e-5


class ModelImportError(EdgezooError, ValueError):
    """A model/data pair that cannot be imported (wrong shapes, labels, task)."""


@dataclass
class Imported:
    dir: Path
    config: RunConfig  # config.json as written
    metrics: dict


def final_activation(model) -> str:
    """The activation of the output layer ("softmax", "sigmoid", "linear", ...)."""
    layer = model.layers[-1]
    cls = type(layer).__name__
    if cls in ("Softmax",):
        return "softmax"
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None) or (
        layer.get_config().get("activation") if hasattr(layer, "get_config") else None
    )
    name = str(name or "linear")
    for known in ("softmax", "sigmoid"):
        if known in name:
            return known
    return name


def _shape_ok(sample, model_shape) -> bool:
    return len(sample) == len(model_shape) and all(
        m is None or m == s for s, m in zip(sample, model_shape)
    )


def fit_inputs(ds: Dataset, model_shape, data_name: str, model_name: str) -> Dataset:
    """Data samples in the model's input shape (a reshape when only the layout differs)."""
    sample = tuple(ds.x_train.shape[1:])
    if _shape_ok(sample, model_shape):
        return ds
    if None not in model_shape and int(np.prod(sample)) == int(np.prod(model_shape)):
        shape = tuple(int(s) for s in model_shape)
        return replace(
            ds,
            x_train=ds.x_train.reshape((-1, *shape)),
            x_val=ds.x_val.reshape((-1, *shape)),
            x_test=ds.x_test.reshape((-1, *shape)),
        )
    raise DatasetError(
        f"{data_name} has samples of shape {sample}, but model {model_name!r} takes inputs of shape "
        f"{tuple(model_shape)}. Give data of the model's input shape (or of the same number of values)."
    )


def infer_task(model, ds: Dataset, task: str | None) -> str:
    """classification / regression / reconstruction from the output activation and the labels."""
    if task is not None and task not in TASKS:
        raise ModelImportError(f"task must be one of {TASKS}. Received: task={task!r}")
    y = ds.y_train
    out_shape = tuple(model.outputs[0].shape[1:])
    if task is None:
        if y is None or tuple(y.shape[1:]) == tuple(ds.x_train.shape[1:]):
            task = "reconstruction"
        elif final_activation(model) in ("softmax", "sigmoid") and _integer_like(y, out_shape):
            task = "classification"
        else:
            task = "regression"
    if task in ("classification", "regression") and y is None:
        raise ModelImportError(
            f"task {task!r} needs labels (y / y_train / a label column); the data has none."
        )
    if task == "reconstruction" and not _shape_ok(tuple(ds.x_train.shape[1:]), out_shape):
        raise ModelImportError(
            f"task 'reconstruction' compares the output with the input, but the model's output shape "
            f"{out_shape} differs from the input's {tuple(ds.x_train.shape[1:])}. Give labels, or --task."
        )
    return task


def _integer_like(y, out_shape) -> bool:
    y = np.asarray(y)
    if y.ndim == 2 and len(out_shape) == 1 and y.shape[1] == out_shape[0] and out_shape[0] > 1:
        return bool(np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all())  # one-hot
    return y.ndim == 1 and np.issubdtype(y.dtype, np.number) and bool(np.all(np.mod(y, 1) == 0))


def fit_labels(model, ds: Dataset, task: str, data_name: str) -> Dataset:
    """Labels the task's loss and metrics take; a clear error for labels the model cannot produce."""
    if task == "reconstruction":
        return replace(ds, y_train=None, y_val=None, y_test=None)
    out_shape = tuple(model.outputs[0].shape[1:])
    ys = [ds.y_train, ds.y_val, ds.y_test]
    if task == "classification":
        if len(out_shape) != 1:
            raise ModelImportError(
                f"classification needs a model with one output vector; this one outputs {out_shape}."
            )
        units = out_shape[0]
        if ys[0].ndim == 2 and ys[0].shape[1] == units and units > 1:  # one-hot -> class indices
            ys = [y.argmax(-1) for y in ys]
        if not all(_integer_like(y, out_shape) for y in ys if len(y)):
            raise ModelImportError(
                f"{data_name}: classification labels must be integer class indices (or one-hot)."
            )
        ys = [np.asarray(y).astype("int64").reshape(-1) for y in ys]
        n = 2 if units == 1 else units
        lo, hi = min(int(y.min()) for y in ys if len(y)), max(int(y.max()) for y in ys if len(y))
        if lo < 0 or hi >= n:
            raise ModelImportError(
                f"{data_name}: labels run from {lo} to {hi}, but model {model.name!r} has "
                f"{'one sigmoid unit (classes 0 and 1)' if units == 1 else f'{units} output classes (0..{units - 1})'}. "
                "Give labels in range or a model with as many outputs as classes."
            )
        names = ds.class_names if len(ds.class_names) == n else [str(i) for i in range(n)]
        return replace(ds, y_train=ys[0], y_val=ys[1], y_test=ys[2], class_names=names)
    fixed = []
    for y in ys:
        y = np.asarray(y, dtype="float32")
        if y.ndim == 1:
            y = y[:, None]
        if tuple(y.shape[1:]) != out_shape:
            if None in out_shape or int(np.prod(y.shape[1:])) != int(np.prod(out_shape)):
                raise ModelImportError(
                    f"{data_name}: regression targets of shape {tuple(y.shape[1:])} do not match "
                    f"the model's output shape {out_shape}."
                )
            y = y.reshape((-1, *out_shape))
        fixed.append(y)
    return replace(ds, y_train=fixed[0], y_val=fixed[1], y_test=fixed[2], class_names=[])


def _output_text(model, task: str) -> str:
    shape = tuple(model.outputs[0].shape[1:])
    if task == "classification":
        units = shape[0]
        return (
            "one sigmoid unit (2 classes)"
            if units == 1
            else f"{units}-class {final_activation(model)}"
        )
    if task == "reconstruction":
        return "reconstruction of the input"
    return f"regression output of shape {shape}"


def model_name_of(path: Path) -> str:
    """The model name an imported file gives: its stem, anything but ``[A-Za-z0-9_.-]`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem) or "model"


def _check_single_io(model, model_file: Path) -> None:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelFileError(
            f"{model_file}: model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "edgezoo import takes single-input, single-output models (the export targets and the data "
            "files hold one input array and one label array). Split it into single-output models."
        )


def _check_move(loaded, ds: Dataset, model_file: Path, say) -> None:
    """A model moved from tf-keras to Keras 3 computes the same function on real inputs; the
    check is recorded in ``loaded.record["output_check"]``."""
    model = loaded.model
    x = ds.x_test[:64]
    ref = np.asarray(loaded.original(x, training=False))
    diff = max_output_diff(loaded.original, model, x)
    bound = float((MOVE_ATOL + MOVE_RTOL * np.abs(ref)).min())
    ok = bool(
        np.allclose(np.asarray(model(x, training=False)), ref, atol=MOVE_ATOL, rtol=MOVE_RTOL)
    )
    loaded.record["output_check"] = {
        "against": "tf-keras load of the same file",
        "n": int(len(x)),
        "max_abs_diff": diff,
        "atol": MOVE_ATOL,
        "rtol": MOVE_RTOL,
        "passed": ok,
    }
    if not ok:
        raise ModelFileError(
            f"{model_file}: the Keras 3 model rebuilt from the Keras 2 file computes different outputs "
            f"(max|diff| {diff:.3g} on {len(x)} test samples; bound {bound:.1g} + rel). Re-save the model "
            "with Keras 3 (keras.models.load_model ... model.save('m.keras'))."
        )
    say(f"  Keras 3 and tf-keras outputs agree: max|diff| {diff:.2e} on {len(x)} test samples")


def _card(name: str, model, task: str, in_shape, model_file: Path, data: Path) -> ModelCard:
    return ModelCard(
        name=name,
        family="imported",
        task=task,
        input_shape=tuple(int(s or -1) for s in in_shape),
        output=_output_text(model, task),
        dataset=data.name,
        lecture=f"imported from {model_file.name}",
        params=int(model.count_params()),
        targets=TARGETS,
        notes=f"edgezoo import of {model_file.resolve()}",
    )


def _config(name, loaded, card, ds: Dataset, task, model_file: Path, data: Path, seed) -> dict:
    """config.json of the model directory (without ``data_file``, known once the data is stored)."""
    cfg = {
        "model": name,
        "dataset": data.name,
        "imported": {
            "file": str(model_file.resolve()),
            "sha256": sha256_path(model_file),
            "bytes": model_file.stat().st_size,
            **loaded.record,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "overrides": {},
        "seed": seed,
        "limit": None,
        "world": loaded.world,
        "card": card.to_dict(),
        "data": {**ds.summary(), "task": task},
        "versions": versions(),
    }
    if loaded.world == KERAS3:
        cfg["architecture"] = architecture(loaded.model)
    return cfg


def _write(out: Path, model, card, cfg: dict, ds: Dataset, data_rec: dict, sources, force):
    """The model directory, replaced as a whole (never someone else's folder; the user's files
    in it are carried over): data.npz, config.json, model.keras, metrics.json. Returns metrics."""
    model_file, data = sources
    identity = {"model": cfg["model"], "dataset": data.name}
    with replacing(
        out,
        "import",
        identity,
        force=force,
        command=f"import {model_file.name}",
        sources=(model_file, data),
    ) as build:
        tmp = build.tmp
        stored, sha = store(ds, tmp)
        cfg["data_file"] = {
            "path": stored,
            "sha256": sha,
            "kind": ds.kind,
            "normalization": ds.normalization,
            **data_rec,
        }
        save_model_dir(model, tmp, cfg)  # uncompiled: no optimizer state in model.keras
        compile_for(model, card)
        metrics = evaluate(model, card, ds)
        metrics["params"] = int(model.count_params())
        _write_json(tmp / "metrics.json", metrics)
        build.commit()
    return metrics


def import_model(
    model_file,
    data,
    *,
    out=None,
    task: str | None = None,
    label_column: str | None = None,
    seed: int = 0,
    normalize: str = "none",
    custom_objects: dict | None = None,
    force: bool = False,
    progress=None,
) -> Imported:
    """Import ``model_file`` (.keras / .h5) with ``data`` (.npz / .csv / image folder) into ``out``
    (default ``runs/<model>-import``); see the module docstring. Nothing is written on error.

    ``out`` is claimed like every run directory (:mod:`zoo.core`): a folder edgezoo did not
    write is refused; an earlier import of the same model and data file is replaced (re-import
    when the data changes), of another one or a result of another command only with ``force``;
    files in ``out`` that edgezoo did not write are kept, ``force`` or not."""
    say = progress or (lambda _m: None)
    model_file, data = Path(model_file), Path(data)
    loaded = read_model_file(model_file, custom=custom_objects)
    model = loaded.model
    name = model_name_of(model_file)
    _check_single_io(model, model_file)
    in_shape = tuple(model.inputs[0].shape[1:])
    ds, data_rec = read_user_data(
        data, input_shape=in_shape, seed=seed, label_column=label_column, normalize=normalize
    )
    ds = fit_inputs(ds, in_shape, data.name, model.name)
    task = infer_task(model, ds, task)
    ds = fit_labels(model, ds, task, data.name)
    if loaded.original is not None:  # moved from tf-keras to Keras 3: same function on real inputs?
        _check_move(loaded, ds, model_file, say)
    if task in ("classification", "regression", "reconstruction") and in_shape and None in in_shape:
        say(
            f"  note: the model's input shape {in_shape} has unknown dimensions; hls4ml will need fixed ones"
        )
    card = _card(name, model, task, in_shape, model_file, data)
    out = check_writable(Path(out) if out else Path("runs") / f"{name}-import")
    cfg = _config(name, loaded, card, ds, task, model_file, data, seed)
    metrics = _write(out, model, card, cfg, ds, data_rec, (model_file, data), force)
    return Imported(out, RunConfig.read(out), metrics)
