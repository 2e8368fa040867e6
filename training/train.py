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

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zoo
from training import batchnorm, distribute
from training.callbacks import (
    _read_csv_history,
    backup_callback,
    disk_full_is_clear,
    disk_space_callback,
    epoch_callback,
    plot_history,
    trim_history_callback,
)
from training.datasets.adapt import adapt, check_input_noise, noisy_batches
from training.datasets.registry import Dataset, load_dataset
from training.errors import TrainingError
from training.options import TrainOptions
from training.rebuild import checkpoint_to_keras3, to_keras3
from training.run_dir import TRAIN_WRITES, claim_run_dir, decide_resume
from training.tasks import (
    check_labels,
    compile_for,
    evaluate,
    targets,
)
from zoo.core.claim import own_dir
from zoo.core.introspect import versions
from zoo.core.io import atomic_save
from zoo.core.io import write_json_atomic as _write_json
from zoo.core.options import OptionError, record, validate
from zoo.core.paths import check_writable
from zoo.registry import ModelCard


@dataclass
class Run:
    """A finished training run."""

    dir: Path | None  # None on a non-chief worker of a multi-worker run (it writes nothing)
    model: object
    metrics: dict
    history: dict


def default_run_dir(model_name: str, dataset: str, root: str | os.PathLike = "runs") -> Path:
    return Path(root) / f"{model_name}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    model: str,
    dataset: str | None = None,
    *,
    out: str | os.PathLike | None = None,
    verbose: int = 1,
    force: bool = False,
    on_step=None,
    **options,
) -> Run:
    """Train zoo model ``model`` on ``dataset`` (default: the card's) and write a run directory.

    ``options`` are the fields of :class:`training.options.TrainOptions` (epochs, batch_size,
    learning_rate, patience, seed, limit, tensorboard, strategy, overrides), checked before any
    work; a bad one is a :class:`TrainingError` naming it.

    Re-running with the same ``out`` after an interruption resumes from the last epoch
    (Keras ``BackupAndRestore``), under the same data- and model-defining settings only (seed,
    data set, limit, input noise, overrides): other values are refused with one line naming
    them, or, with ``force``, the run starts afresh (:func:`training.run_dir.resume_conflicts`). A NaN loss stops training with :class:`TrainingError`.

    ``strategy`` is "default" (one device), "mirrored" (the devices of one host, Keras 3),
    "multiworker" (hosts of ``TF_CONFIG``; trained as the tf-keras twin, saved as Keras 3) or a
    ``tf.distribute.Strategy``; see :mod:`training.distribute`. ``batch_size`` is per replica
    (global batch = ``batch_size`` x replicas); only the chief writes the run directory.

    ``out`` is claimed and locked (:mod:`zoo.core`): a directory edgezoo did not write is
    refused, a finished run of another model or data set is replaced only with ``force``, and
    a second writer gets one clear error. Bad settings (e.g. a ``classes`` override smaller than
    the data set's) fail before anything is written.

    ``on_step(label, done, total, info)``, if given, is called as training starts and after each
    epoch (label "train"), e.g. to draw a progress bar.
    """
    card = zoo.get_card(model)  # unknown model -> clear error before any work
    dataset = dataset or card.dataset
    opts, strategy = train_options(options)
    identity = {"model": model, "dataset": dataset}
    if strategy == "multiworker" or not isinstance(
        strategy, str
    ):  # every worker runs this: the chief claims
        return _train(
            model,
            dataset,
            opts,
            strategy,
            out=out,
            verbose=verbose,
            force=force,
            identity=identity,
            on_step=on_step,
        )
    load_dataset_name_check(dataset)  # a bad name must not become a directory first
    run_dir = check_writable(Path(out) if out else default_run_dir(model, dataset))
    with own_dir(
        run_dir,
        "train",
        identity,
        force=force,
        command=f"train {model}",
        writes=TRAIN_WRITES,  # a user's file or a link there: refused before anything changes
    ):
        return _train(
            model,
            dataset,
            opts,
            strategy,
            out=run_dir,
            verbose=verbose,
            force=force,
            identity=identity,
            on_step=on_step,
        )


def train_options(options: dict) -> tuple[TrainOptions, object]:
    """(checked :class:`TrainOptions`, strategy): a ``tf.distribute.Strategy`` object is passed
    through as given, a name is checked."""
    options = dict(options)
    strategy = options.pop("strategy", "default")
    if isinstance(strategy, str):
        distribute.check_strategy_name(strategy)
        options["strategy"] = strategy
    try:
        return validate(TrainOptions, options, where="train"), strategy
    except OptionError as exc:
        raise TrainingError(str(exc)) from None


def load_dataset_name_check(dataset: str):
    """Raise the data set's own clear error for an unknown name, before any path is made of it."""
    from training.datasets.registry import DATASETS

    if dataset not in DATASETS:
        load_dataset(dataset)  # raises DatasetError naming the close matches


# --------------------------------------------------------------------------- the steps of a run


def _train(
    model, dataset, opts: TrainOptions, strategy, *, out, verbose, force, identity, on_step
) -> Run:
    """:func:`train` inside its claimed, locked run directory, step by step."""
    card = zoo.get_card(model)
    plan = distribute.plan(
        strategy, opts.batch_size
    )  # joins a multi-worker cluster before other TF work
    ds, overrides = _data(card, model, dataset, opts)
    check_input_noise(ds.x_train, opts.input_noise, f"{model} on {dataset}")
    run_dir = Path(out) if out else default_run_dir(model, dataset)
    net, k = _build(model, card, plan, overrides, opts)
    check_labels(net, card, ds, model)  # before anything is written
    config = _config(model, dataset, card, plan, ds, overrides, opts)
    if plan.is_chief:
        claim_run_dir(run_dir, identity, force)
        decide_resume(run_dir, config, force)
    scratch = (
        None if plan.is_chief else Path(distribute.scratch_dir(plan))
    )  # non-chief: never the run dir
    resumed = distribute.has_backup(run_dir / "backup")
    callbacks = _callbacks(
        k, plan, net, run_dir, scratch, opts, resumed=resumed, verbose=verbose, on_step=on_step
    )
    if plan.is_chief:
        _write_json(run_dir / "config.json", config)
    hist, wall = _fit(net, card, ds, plan, opts, callbacks, run_dir, verbose)
    if (
        plan.distributed
    ):  # a plain Keras 3 model (multiworker: from the tf-keras twin, by layer name)
        net = to_keras3(net, model, overrides, card=card, learning_rate=opts.learning_rate)
        if plan.is_chief and plan.world != zoo.KERAS3 and (run_dir / "checkpoint.keras").exists():
            checkpoint_to_keras3(run_dir / "checkpoint.keras", model, overrides)
    distribute.tidy_backup(plan, run_dir / "backup", scratch)
    history = _history(plan, run_dir, hist, model, dataset, opts)
    metrics = _metrics(net, card, ds, plan, history, wall, resumed)
    if plan.is_chief:
        _check_batchnorm(net, model, ds, opts, metrics)
    if not plan.is_chief:  # only the chief writes
        return Run(None, net, metrics, history)
    with disk_full_is_clear(run_dir):
        atomic_save(net, run_dir / "model.keras")
        plot_history(history, run_dir / "history.png", title=f"{model} on {dataset}")
        _write_json(run_dir / "metrics.json", metrics)
    return Run(run_dir, net, metrics, history)


def _data(card: ModelCard, model: str, dataset: str, opts: TrainOptions) -> tuple[Dataset, dict]:
    """The data set adapted to the model's input, and the builder overrides (``classes`` from the data)."""
    ds = load_dataset(dataset, seed=opts.seed, limit=opts.limit)
    overrides = dict(opts.overrides or {})
    config = zoo.builder_config(model)
    if card.task == "classification" and "classes" in config and "classes" not in overrides:
        overrides["classes"] = ds.num_classes
    if (
        len(card.input_shape) == 1
        and "input_shape" in config
        and "input_shape" not in overrides
        and int(np.prod(ds.input_shape)) != card.input_shape[0]
    ):
        # a dense network on a flat feature vector takes the data set's feature count (the
        # jet tagger's 16 inputs become the 64 pixels of the digits when the jets are absent)
        overrides["input_shape"] = (int(np.prod(ds.input_shape)),)
    return adapt(ds, overrides.get("input_shape", card.input_shape)), overrides


def _build(model: str, card: ModelCard, plan, overrides: dict, opts: TrainOptions):
    """(compiled model, its Keras module): built in the strategy's scope and world, seeded."""
    import keras

    keras.utils.set_random_seed(opts.seed)
    k = zoo.get_keras(
        plan.world
    )  # multiworker: tf-keras (Keras 3 fit fails there, keras-team/keras#20585)
    if plan.world != zoo.KERAS3:
        k.utils.set_random_seed(opts.seed)
    with plan.scope():
        net = zoo.create_model(model, world=plan.world, **overrides)
        compile_for(net, card, learning_rate=opts.learning_rate)
    return net, k


def _callbacks(
    k, plan, net, run_dir: Path, scratch, opts: TrainOptions, *, resumed, verbose, on_step
) -> list:
    """The Keras callbacks of a run, in the order that makes a backup mean "the epoch is complete"."""
    monitor, patience = "val_loss", opts.patience
    callbacks = [
        k.callbacks.EarlyStopping(
            monitor=monitor, patience=patience, restore_best_weights=True, verbose=verbose
        ),
        k.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=0.1, patience=max(2, patience // 3), verbose=verbose
        ),
        k.callbacks.TerminateOnNaN(),
        k.callbacks.ModelCheckpoint(
            str((scratch or run_dir) / "checkpoint.keras"), monitor=monitor, save_best_only=True
        ),
    ]
    if plan.is_chief:
        callbacks.append(k.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resumed))
    if opts.tensorboard and plan.is_chief:
        callbacks.append(k.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    # Every worker takes part in a backup (tf-keras writes a non-chief's to a temporary folder).
    # Distributed Keras 3 runs keep the previous backup too: a kill during a save must not end the run.
    # double_checkpoint: a kill during the backup save leaves the previous backup usable.
    backup_kw = {"double_checkpoint": True} if plan.world == zoo.KERAS3 else {}
    if on_step is not None:
        callbacks.append(epoch_callback(k, on_step, "train", opts.epochs))
    # BackupAndRestore goes last: a backup then means every other callback finished that epoch.
    callbacks.append(backup_callback(k, str(run_dir / "backup"), **backup_kw))
    if (
        plan.is_chief and plan.world == zoo.KERAS3
    ):  # after the restore: history.csv = the epochs restored
        callbacks.append(trim_history_callback(run_dir / "history.csv"))
        # first: a full disk stops the epoch before any callback writes (h5py crashes on ENOSPC)
        callbacks.insert(0, disk_space_callback(run_dir, int(net.count_params())))
    return callbacks


def _config(
    model, dataset, card: ModelCard, plan, ds: Dataset, overrides: dict, opts: TrainOptions
) -> dict:
    """The run's ``config.json``: what later stages need to rebuild the model and its data."""
    recorded = record(opts)
    return {
        "model": model,
        "dataset": dataset,
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        **{
            k: recorded[k]
            for k in (
                "epochs",
                "batch_size",
                "learning_rate",
                "seed",
                "patience",
                "limit",
                "input_noise",
            )
        },
        "strategy": plan.name,
        "distribute": plan.summary(),
        "world": "keras",
        "card": card.to_dict(),
        "data": ds.summary(),
        "versions": versions(),
    }


def _fit(
    net, card: ModelCard, ds: Dataset, plan, opts: TrainOptions, callbacks, run_dir: Path, verbose
):
    """(Keras history, wall seconds) of ``fit``: numpy arrays, or sharded tf.data when distributed."""
    y_tr, y_va = targets(card, ds.x_train, ds.y_train), targets(card, ds.x_val, ds.y_val)
    val = (ds.x_val,) if y_va is None else (ds.x_val, y_va)
    t0 = time.perf_counter()
    with disk_full_is_clear(run_dir):
        if plan.distributed:  # tf.data pipelines, sharded per worker, per-replica batches
            train_in, steps = distribute.sharded_dataset(
                plan, ds.x_train, y_tr, seed=opts.seed, input_noise=opts.input_noise
            )
            with distribute.peer_errors(plan):
                hist = net.fit(
                    train_in,
                    validation_data=distribute.validation_dataset(plan, *val),
                    epochs=opts.epochs,
                    steps_per_epoch=steps,
                    callbacks=callbacks,
                    verbose=verbose,
                    shuffle=False,
                )
        elif opts.input_noise:  # tf.data: fresh noise on every batch's inputs
            hist = net.fit(
                noisy_batches(ds.x_train, y_tr, opts.batch_size, opts.input_noise, seed=opts.seed),
                validation_data=val,
                epochs=opts.epochs,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,  # the pipeline shuffles, with the run's seed
            )
        else:
            hist = net.fit(
                ds.x_train,
                y_tr,
                validation_data=val,
                epochs=opts.epochs,
                batch_size=opts.batch_size,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=True,
            )
    return hist, time.perf_counter() - t0


def _history(plan, run_dir: Path, hist, model: str, dataset: str, opts: TrainOptions) -> dict:
    """The whole history (history.csv holds the epochs before a resume too); a NaN loss is an error."""
    history = (plan.is_chief and _read_csv_history(run_dir / "history.csv")) or {
        key: list(map(float, v)) for key, v in hist.history.items()
    }
    losses = history.get("loss", [])
    if (
        not losses
        or any(not math.isfinite(v) for v in losses)
        or not np.isfinite(hist.history.get("loss", [0.0])[-1])
    ):
        raise TrainingError(
            f"Training {model} on {dataset} produced a NaN/inf loss (TerminateOnNaN stopped it at epoch "
            f"{len(losses)}). Lower the learning rate (now {opts.learning_rate}) or check the data; "
            f"the partial history is in {run_dir / 'history.csv'}."
        )
    return history


def _check_batchnorm(net, model: str, ds: Dataset, opts: TrainOptions, metrics: dict):
    """Warn (and record in metrics.json) when BatchNormalization's moving statistics have not
    settled: the saved model would not be the one training measured."""
    import keras

    n = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in net.layers)
    if not n or not isinstance(ds.x_train, np.ndarray):
        return
    found = batchnorm.unsettled(net, ds.x_train[:256])
    metrics["batchnorm_unsettled_layers"] = len(found)
    if found:
        warnings.warn(batchnorm.advice(model, found, n, opts.batch_size), stacklevel=2)


def _metrics(
    net, card: ModelCard, ds: Dataset, plan, history: dict, wall: float, resumed: bool
) -> dict:
    metrics = evaluate(net, card, ds) if plan.is_chief else {}
    metrics.update(
        {
            "epochs_run": len(history.get("loss", [])),
            "train_seconds": round(wall, 2),
            "resumed": resumed,
            "params": int(net.count_params()),
        }
    )
    if plan.distributed:
        metrics.update(
            {
                "replicas": plan.replicas,
                "global_batch_size": plan.global_batch,
                "num_workers": plan.num_workers,
                "chief": plan.is_chief,
            }
        )
    return metrics
