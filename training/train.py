"""Training with the standard Keras callbacks, one entry point for every zoo model.

``train("lenet5", "digits")`` builds the model, adapts the data to its card, fits with
EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, a best-model checkpoint, CSVLogger,
BackupAndRestore (resume) and optional TensorBoard, evaluates on the test split and
writes a run directory::

    runs/<model>-<dataset>-<time>/
        model.keras  history.csv  history.png  metrics.json  config.json

Models that bring their own loss or step (VAE, GAN, flow; card ``loss="internal"``)
train through the same entry point.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zoo
from training.data import Dataset, adapt, load_dataset
from zoo.errors import EdgezooError
from zoo.introspect import predicted_class, versions
from zoo.io import atomic_save, load_model
from zoo.io import write_json_atomic as _write_json
from zoo.registry import ModelCard
from zoo.rundir import check_writable, claim_dir, held_identity, own_dir

DIR_KEY = "_dir"  # added by load_run to a config it returns: the model directory it came from


class TrainingError(EdgezooError, RuntimeError):
    """Training stopped for a reason the user must act on (NaN loss, bad settings)."""


def output_kind(model) -> str:
    """"binary" for a single sigmoid unit, "softmax" for a distribution, else "other"."""
    units = model.outputs[0].shape[-1]
    return "binary" if units == 1 else "softmax"


def loss_for(model, card: ModelCard):
    if card.loss == "internal":
        return None
    if card.loss:
        return card.loss
    if card.task == "classification":
        return "binary_crossentropy" if output_kind(model) == "binary" else "sparse_categorical_crossentropy"
    return "mse"


def compile_for(model, card: ModelCard, *, learning_rate: float = 1e-3, optimizer=None, metrics=None):
    """Compile ``model`` with the loss and metrics its card's task calls for, in its own world."""
    k = zoo.get_keras(zoo.world_of(model))
    optimizer = optimizer or k.optimizers.Adam(learning_rate=learning_rate)
    if metrics is None:
        metrics = ["accuracy"] if card.task == "classification" else []
    loss = loss_for(model, card)
    if loss is None:
        model.compile(optimizer=optimizer)
    else:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def targets(card: ModelCard, x, y):
    """What ``fit`` gets as the target for a card's task."""
    if card.task == "reconstruction":
        return x
    if card.task in ("generation", "density"):
        return None
    return y


def synthetic_batch(model, card: ModelCard, *, batch: int = 16, rng=None):
    """A random (x, y) batch of the right shapes for ``model`` (tests, smoke checks)."""
    rng = rng or np.random.default_rng(0)
    x = rng.standard_normal((batch, *model.inputs[0].shape[1:])).astype("float32")
    if card.task == "classification":
        n = 2 if output_kind(model) == "binary" else model.outputs[0].shape[-1]
        y = rng.integers(0, n, size=batch)
    elif card.task == "regression":
        y = rng.standard_normal((batch, *model.outputs[0].shape[1:])).astype("float32")
    else:
        y = None
    return x, targets(card, x, y)


@dataclass
class Run:
    """A finished training run."""

    dir: Path | None  # None on a non-chief worker of a multi-worker run (it writes nothing)
    model: object
    metrics: dict
    history: dict


def default_run_dir(model_name: str, dataset: str, root: str | os.PathLike = "runs") -> Path:
    return Path(root) / f"{model_name}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def evaluate(model, card: ModelCard, ds: Dataset) -> dict:
    """Test-split metrics for a card's task."""
    x, y = ds.x_test, ds.y_test
    out: dict = {"n_test": int(len(x))}
    if card.task == "classification":
        prob = np.asarray(model.predict(x, verbose=0))
        out["accuracy"] = float((predicted_class(prob) == y).mean())
    elif card.task == "reconstruction":
        rec = np.asarray(model.predict(x, verbose=0))
        err = ((rec - x) ** 2).reshape(len(x), -1).mean(1)
        out["mse"] = float(err.mean())
        if y is not None and len(np.unique(y)) == 2:  # normal (0) / anomaly (1): error as the score
            from sklearn.metrics import roc_auc_score

            out["auc"] = float(roc_auc_score(y, err))
    if card.task != "generation":
        res = model.evaluate(x, targets(card, x, y), verbose=0, return_dict=True)
        out.update({f"test_{k}": float(v) for k, v in res.items()})
    return out


def plot_history(history: dict, path: Path, title: str = "Training History") -> Path:
    """Loss and val-loss on a log scale, as in lecture 002 (plus accuracy when present)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history if k.endswith("loss") and not k.startswith("val_")]
    acc = "accuracy" in history
    fig, axes = plt.subplots(1, 2 if acc else 1, figsize=(10 if acc else 6, 4), squeeze=False)
    ax = axes[0][0]
    for k in keys:
        vals = np.asarray(history[k], dtype=float)
        ax.plot(vals, label=f"training {k}" if k != "loss" else "training")
        if f"val_{k}" in history:
            ax.plot(history[f"val_{k}"], label="validation" if k == "loss" else f"validation {k}")
    if all(np.all(np.asarray(history[k], dtype=float) > 0) for k in keys):
        ax.set_yscale("log")
    ax.set(title=title, xlabel="epoch", ylabel="loss")
    ax.legend(loc="upper right")
    if acc:
        ax2 = axes[0][1]
        ax2.plot(history["accuracy"], label="training")
        if "val_accuracy" in history:
            ax2.plot(history["val_accuracy"], label="validation")
        ax2.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
        ax2.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _read_csv_history(path: Path) -> dict:
    import csv

    if not path.exists():
        return {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    hist: dict = {}
    for row in rows:
        for k, v in row.items():
            if k != "epoch":
                hist.setdefault(k, []).append(float(v))
    return hist


def epoch_callback(k, on_step, label: str, epochs: int):
    """A Keras callback (of module ``k``'s world) reporting ``on_step(label, done, epochs, info)``."""

    def end(epoch, logs):
        shown = {n: v for n, v in (logs or {}).items() if n in ("loss", "val_loss", "accuracy", "val_accuracy")}
        on_step(label, epoch + 1, epochs, " ".join(f"{n} {float(v):.4f}" for n, v in shown.items()))

    return k.callbacks.LambdaCallback(on_train_begin=lambda logs: on_step(label, 0, epochs, ""), on_epoch_end=end)


def train(
    model: str,
    dataset: str | None = None,
    *,
    epochs: int = 50,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    overrides: dict | None = None,
    patience: int = 10,
    tensorboard: bool = False,
    limit: int | None = None,
    verbose: int = 1,
    strategy: str = "default",
    force: bool = False,
    on_step=None,
) -> Run:
    """Train zoo model ``model`` on ``dataset`` (default: the card's) and write a run directory.

    Re-running with the same ``out`` after an interruption resumes from the last epoch
    (Keras ``BackupAndRestore``). A NaN loss stops training with :class:`TrainingError`.

    ``strategy`` is "default" (one device), "mirrored" (the devices of one host, Keras 3),
    "multiworker" (hosts of ``TF_CONFIG``; trained as the tf-keras twin, saved as Keras 3) or a
    ``tf.distribute.Strategy``; see :mod:`training.distribute`. ``batch_size`` is per replica
    (global batch = ``batch_size`` x replicas); only the chief writes the run directory.

    ``out`` is claimed and locked (:mod:`zoo.rundir`): a directory edgezoo did not write is
    refused, a finished run of another model or data set is replaced only with ``force``, and
    a second writer gets one clear error. Bad settings (e.g. a ``classes`` override smaller than
    the data set's) fail before anything is written.

    ``on_step(label, done, total, info)``, if given, is called as training starts and after each
    epoch (label "train"), e.g. to draw a progress bar.
    """
    card = zoo.get_card(model)  # unknown model -> clear error before any work
    dataset = dataset or card.dataset
    if strategy == "multiworker" or not isinstance(strategy, str):  # every worker runs this: the chief claims
        return _train(model, dataset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, out=out,
                      seed=seed, overrides=overrides, patience=patience, tensorboard=tensorboard, limit=limit,
                      verbose=verbose, strategy=strategy, force=force, on_step=on_step)
    load_dataset_name_check(dataset)  # a bad name must not become a directory first
    run_dir = check_writable(Path(out) if out else default_run_dir(model, dataset))
    identity = {"model": model, "dataset": dataset}
    with own_dir(run_dir, "train", identity, force=force, finished="model.keras", command=f"train {model}"):
        return _train(model, dataset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                      out=run_dir, seed=seed, overrides=overrides, patience=patience, tensorboard=tensorboard,
                      limit=limit, verbose=verbose, strategy=strategy, force=force, identity=identity,
                      on_step=on_step)


def load_dataset_name_check(dataset: str):
    """Raise the data set's own clear error for an unknown name, before any path is made of it."""
    from training.data import DATASETS

    if dataset not in DATASETS:
        load_dataset(dataset)  # raises DatasetError naming the close matches


def _train(model, dataset, *, epochs, batch_size, learning_rate, out, seed, overrides, patience, tensorboard,
           limit, verbose, strategy, force, identity=None, on_step=None) -> Run:
    """:func:`train` inside its claimed, locked run directory."""
    import keras

    card = zoo.get_card(model)  # unknown model -> clear error before any work
    dataset = dataset or card.dataset
    if epochs < 1 or batch_size < 1 or not learning_rate > 0:
        raise TrainingError(
            f"epochs, batch_size and learning_rate must be positive. Received: epochs={epochs}, "
            f"batch_size={batch_size}, learning_rate={learning_rate}"
        )
    from training import distribute

    plan = distribute.plan(strategy, batch_size)  # joins a multi-worker cluster before other TF work
    ds = load_dataset(dataset, seed=seed, limit=limit)
    overrides = dict(overrides or {})
    config = zoo.builder_config(model)
    if card.task == "classification" and "classes" in config and "classes" not in overrides:
        overrides["classes"] = ds.num_classes
    if (len(card.input_shape) == 1 and "input_shape" in config and "input_shape" not in overrides
            and int(np.prod(ds.input_shape)) != card.input_shape[0]):
        # a dense network on a flat feature vector takes the data set's feature count (the
        # jet tagger's 16 inputs become the 64 pixels of the digits when the jets are absent)
        overrides["input_shape"] = (int(np.prod(ds.input_shape)),)
    ds = adapt(ds, overrides.get("input_shape", card.input_shape))

    run_dir = Path(out) if out else default_run_dir(model, dataset)
    keras.utils.set_random_seed(seed)
    k = zoo.get_keras(plan.world)  # multiworker: tf-keras (Keras 3 fit fails there, keras-team/keras#20585)
    if plan.world != zoo.KERAS3:
        k.utils.set_random_seed(seed)

    with plan.scope():
        net = zoo.create_model(model, world=plan.world, **overrides)
        compile_for(net, card, learning_rate=learning_rate)
    check_labels(net, card, ds, model)  # before anything is written
    identity = identity or {"model": model, "dataset": dataset}
    if plan.is_chief:
        held = held_identity(run_dir)
        claim_dir(run_dir, "train", identity, force=force, finished="model.keras")
        if held is not None and held != identity:  # another model's backup and history cannot be resumed
            shutil.rmtree(run_dir / "backup", ignore_errors=True)
            (run_dir / "history.csv").unlink(missing_ok=True)
    scratch = None if plan.is_chief else Path(distribute.scratch_dir(plan))  # non-chief: never the run dir

    backup = run_dir / "backup"
    resumed = distribute.has_backup(backup)
    monitor = "val_loss"
    # BackupAndRestore goes last: a backup then means every other callback finished that epoch.
    callbacks = [
        k.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True, verbose=verbose),
        k.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.1, patience=max(2, patience // 3), verbose=verbose),
        k.callbacks.TerminateOnNaN(),
        k.callbacks.ModelCheckpoint(str((scratch or run_dir) / "checkpoint.keras"), monitor=monitor,
                                    save_best_only=True),
    ]
    if plan.is_chief:
        callbacks.append(k.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resumed))
    if tensorboard and plan.is_chief:
        callbacks.append(k.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    # Every worker takes part in a backup (tf-keras writes a non-chief's to a temporary folder).
    # Distributed Keras 3 runs keep the previous backup too: a kill during a save must not end the run.
    # double_checkpoint: a kill during the backup save leaves the previous backup usable.
    backup_kw = {"double_checkpoint": True} if plan.world == zoo.KERAS3 else {}
    if on_step is not None:
        callbacks.append(epoch_callback(k, on_step, "train", epochs))
    callbacks.append(k.callbacks.BackupAndRestore(str(backup), **backup_kw))
    if plan.is_chief and plan.world == zoo.KERAS3:  # after the restore: history.csv = the epochs restored
        callbacks.append(trim_history_callback(run_dir / "history.csv"))
        # first: a full disk stops the epoch before any callback writes (h5py crashes on ENOSPC)
        callbacks.insert(0, disk_space_callback(run_dir, int(net.count_params())))

    cfg = {
        "model": model,
        "dataset": dataset,
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "patience": patience,
        "limit": limit,
        "strategy": plan.name,
        "distribute": plan.summary(),
        "world": "keras",
        "card": card.to_dict(),
        "data": ds.summary(),
        "versions": versions(),
    }
    if plan.is_chief:
        _write_json(run_dir / "config.json", cfg)

    y_tr, y_va = targets(card, ds.x_train, ds.y_train), targets(card, ds.x_val, ds.y_val)
    val = (ds.x_val,) if y_va is None else (ds.x_val, y_va)
    t0 = time.perf_counter()
    with disk_full_is_clear(run_dir):
        if plan.distributed:  # tf.data pipelines, sharded per worker, per-replica batches
            train_in, steps = distribute.sharded_dataset(plan, ds.x_train, y_tr, seed=seed)
            with distribute.peer_errors(plan):
                hist = net.fit(train_in, validation_data=distribute.validation_dataset(plan, *val), epochs=epochs,
                               steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False)
        else:
            hist = net.fit(ds.x_train, y_tr, validation_data=val, epochs=epochs, batch_size=batch_size,
                           callbacks=callbacks, verbose=verbose, shuffle=True)
    wall = time.perf_counter() - t0
    if plan.distributed:  # a plain Keras 3 model (multiworker: from the tf-keras twin, by layer name)
        net = distribute.to_keras3(net, model, overrides, card=card, learning_rate=learning_rate)
        if plan.is_chief and plan.world != zoo.KERAS3 and (run_dir / "checkpoint.keras").exists():
            distribute.checkpoint_to_keras3(run_dir / "checkpoint.keras", model, overrides)
    distribute.tidy_backup(plan, backup, scratch)
    history = (plan.is_chief and _read_csv_history(run_dir / "history.csv")) or {
        key: list(map(float, v)) for key, v in hist.history.items()}
    losses = history.get("loss", [])
    if not losses or any(not math.isfinite(v) for v in losses) or not np.isfinite(
        hist.history.get("loss", [0.0])[-1]
    ):
        raise TrainingError(
            f"Training {model} on {dataset} produced a NaN/inf loss (TerminateOnNaN stopped it at epoch "
            f"{len(losses)}). Lower the learning rate (now {learning_rate}) or check the data; "
            f"the partial history is in {run_dir / 'history.csv'}."
        )

    metrics = evaluate(net, card, ds) if plan.is_chief else {}
    metrics.update({"epochs_run": len(losses), "train_seconds": round(wall, 2), "resumed": resumed,
                    "params": int(net.count_params())})
    if plan.distributed:
        metrics.update({"replicas": plan.replicas, "global_batch_size": plan.global_batch,
                        "num_workers": plan.num_workers, "chief": plan.is_chief})
    if not plan.is_chief:  # only the chief writes
        return Run(None, net, metrics, history)
    with disk_full_is_clear(run_dir):
        atomic_save(net, run_dir / "model.keras")
        plot_history(history, run_dir / "history.png", title=f"{model} on {dataset}")
        _write_json(run_dir / "metrics.json", metrics)
    return Run(run_dir, net, metrics, history)


def check_labels(net, card: ModelCard, ds: Dataset, model: str):
    """Class labels must fit the model's outputs (else TensorFlow fails mid-fit with its own message)."""
    if card.task != "classification" or ds.y_train is None or not len(ds.y_train):
        return
    units = int(net.outputs[0].shape[-1])
    top = int(max(np.max(y) for y in (ds.y_train, ds.y_val, ds.y_test) if y is not None and len(y)))
    n = 2 if units == 1 else units
    if top >= n:
        raise TrainingError(
            f"{ds.name} has labels 0..{top} ({top + 1} classes) but {model} was built with {units} output"
            f"{'s' if units > 1 else ''}; drop the `classes` override or set classes={top + 1}.")


def disk_full_is_clear(run_dir: Path):
    """A full disk while writing ``run_dir`` becomes one :class:`TrainingError` saying what to do."""
    import contextlib

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except Exception as exc:
            full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
            if not (full or "No space left on device" in str(exc)):
                raise
            raise TrainingError(
                f"The disk holding {run_dir} is full (No space left on device). Free some space and run the "
                "same command again: training resumes from its last complete backup.") from exc

    return guard()


def disk_space_callback(run_dir: Path, params: int):
    """A Keras 3 callback that, at each epoch's end and before the checkpoint and backup are
    written, checks that the disk holding ``run_dir`` has room for them; else one
    :class:`TrainingError`. (h5py 3 / HDF5 crash the process on ENOSPC during a save, so the
    disk must be checked before, not after.)"""
    import keras

    def size(paths, estimate):
        sizes = [p.stat().st_size for p in paths if p.is_file()]
        return max(sizes) if sizes else estimate

    class DiskSpace(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            estimate = params * 12 + (64 << 10)  # weights + two optimizer slots, float32, + container
            need = (size([run_dir / "checkpoint.keras"], estimate)
                    + 2 * size(list((run_dir / "backup").glob("*.h5")), estimate) + (64 << 10))
            free = shutil.disk_usage(run_dir).free
            if free < need:
                raise TrainingError(
                    f"The disk holding {run_dir} is full ({free >> 10} KiB free, the epoch-{epoch + 1} checkpoint "
                    f"and backup need about {need >> 10} KiB). Free some space and run the same command again: "
                    "training resumes from its last complete backup.")

    return DiskSpace()


def trim_history_callback(path):
    """A Keras 3 callback that, after ``BackupAndRestore`` restored a run, cuts ``history.csv``
    to the epochs the backup holds: a kill between the CSV row and the backup save must not
    repeat an epoch in the history."""
    import csv

    import keras

    class TrimHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            start = int(getattr(self.model, "_initial_epoch", None) or 0)
            if not path.exists():
                return
            with open(path, newline="") as f:
                rows = list(csv.reader(f))
            if len(rows) < 2:
                return
            head, body = rows[0], rows[1:]
            col = head.index("epoch") if "epoch" in head else 0
            kept = [r for r in body if r and int(float(r[col])) < start]
            if len(kept) != len(body):
                with open(path, "r+", newline="") as f:  # CSVLogger holds it open in append mode
                    f.truncate(0)
                    csv.writer(f).writerows([head, *kept])

    return TrimHistory()


def load_run(run_dir: str | os.PathLike, *, world: str | None = None):
    """(model, config) of a model directory: a training run or any later stage's output.

    Every stage writes the same layout -- ``config.json`` (model name, data set, seed, limit,
    overrides, card, and ``world``: "keras" or "tf_keras" for QKeras models) plus
    ``model.keras`` -- so stages chain. A directory that is not one gets a clear error.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not run_dir.is_dir() or not cfg_path.exists() or not (run_dir / "model.keras").exists():
        raise FileNotFoundError(
            f"{run_dir} is not an edgezoo model directory (needs config.json and model.keras). "
            "Create one with `edgezoo train MODEL`."
        )
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise FileNotFoundError(f"{cfg_path} is not valid JSON ({exc}); the run directory is damaged.") from exc
    check_config(cfg, cfg_path)
    world = world or cfg.get("world", "keras")
    cfg[DIR_KEY] = str(run_dir)  # where stored data (imported models) is found; never written back
    return load_model(run_dir / "model.keras", world=world), cfg


class RunConfigError(EdgezooError, ValueError):
    """A run directory's config.json that lacks what the later stages read."""


def check_config(cfg, path) -> dict:
    """The keys every stage reads from ``config.json``; one clear error naming what is missing."""
    if not isinstance(cfg, dict):
        raise RunConfigError(f"{path} is not a JSON object; the run directory is damaged: re-train it.")
    missing = [k for k in ("model", "dataset", "card") if k not in cfg]
    card = cfg.get("card")
    if not missing and (not isinstance(card, dict) or not {"task", "input_shape"} <= set(card)):
        missing = ["card.task/card.input_shape"]
    if missing:
        raise RunConfigError(f"{path} lacks {', '.join(repr(m) for m in missing)}: it was not written by "
                             "`edgezoo train` or was edited; re-train the model (or restore the file).")
    return cfg


def save_model_dir(model, out: str | os.PathLike, config: dict, **extra_json) -> Path:
    """Write a model directory (``model.keras`` + ``config.json`` + any ``name=dict`` JSON files).

    ``config`` is the source run's config; ``world`` is set from the model. Files are written
    to temporary names and renamed, so a failure leaves no half-written artifact.
    """
    out = claim_dir(out, "model", what="model directory")
    cfg = dict(config)
    src_dir = cfg.pop(DIR_KEY, None)
    cfg["world"] = zoo.world_of(model)
    if cfg.get("data_file") and src_dir:  # imported data travels with every model directory
        from training.userdata import copy_stored

        copy_stored(src_dir, out, cfg["data_file"])
    atomic_save(model, out / "model.keras")
    for name, data in extra_json.items():
        _write_json(out / f"{name}.json", data)
    _write_json(out / "config.json", cfg)
    return out


def run_dataset(cfg: dict) -> Dataset:
    """The exact data (same seed, split and adaptation) a run was trained on.

    For an imported model (``edgezoo import``) that is the copy stored in the model directory
    (``config.json`` key ``data_file``), checked against its sha256."""
    if cfg.get("data_file"):
        from training.userdata import load_stored

        if not cfg.get(DIR_KEY):
            raise TrainingError("This config reads stored data: load it with load_run(MODEL_DIR).")
        return load_stored(cfg[DIR_KEY], cfg["data_file"], name=cfg.get("dataset", ""), seed=cfg.get("seed", 0))
    ds = load_dataset(cfg["dataset"], seed=cfg.get("seed", 0), limit=cfg.get("limit"))
    shape = cfg.get("overrides", {}).get("input_shape") or cfg["card"]["input_shape"]
    return adapt(ds, shape)


