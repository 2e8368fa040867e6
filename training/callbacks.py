"""The callbacks and files of a training run beyond the stock Keras ones: progress, disk-space
guard, history trimming on resume, the history plot."""

from __future__ import annotations

import contextlib
import errno
import shutil
from pathlib import Path

import numpy as np

from training.errors import TrainingError
from zoo.core.io import atomic_path


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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
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
        shown = {
            n: v
            for n, v in (logs or {}).items()
            if n in ("loss", "val_loss", "accuracy", "val_accuracy")
        }
        on_step(label, epoch + 1, epochs, " ".join(f"{n} {float(v):.4f}" for n, v in shown.items()))

    return k.callbacks.LambdaCallback(
        on_train_begin=lambda logs: on_step(label, 0, epochs, ""), on_epoch_end=end
    )


@contextlib.contextmanager
def disk_full_is_clear(run_dir: Path):
    """A full disk while writing ``run_dir`` becomes one :class:`TrainingError` saying what to do."""
    try:
        yield
    except Exception as exc:
        full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
        if not (full or "No space left on device" in str(exc)):
            raise
        raise TrainingError(
            f"The disk holding {run_dir} is full (No space left on device). Free some space and run the "
            "same command again: training resumes from its last complete backup."
        ) from exc


def disk_space_callback(run_dir: Path, params: int):
    """A Keras 3 callback that, at each epoch's end and before the checkpoint and backup are
    written, checks that the disk holding ``run_dir`` has room for them; else one
    :class:`TrainingError`; a checkpoint, history or backup path that became a symbolic link
    is refused (:func:`zoo.core.paths.check_path`). (h5py 3 / HDF5 crash the process on ENOSPC during a save, so the
    disk must be checked before, not after.)"""
    import keras

    def size(paths, estimate):
        sizes = [p.stat().st_size for p in paths if p.is_file()]
        return max(sizes) if sizes else estimate

    class DiskSpace(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            from zoo.core.paths import check_path

            for name in ("checkpoint.keras", "history.csv", "backup"):
                check_path(run_dir / name)  # never write through a link that leaves the run
            estimate = params * 12 + (
                64 << 10
            )  # weights + two optimizer slots, float32, + container
            need = (
                size([run_dir / "checkpoint.keras"], estimate)
                + 2 * size(list((run_dir / "backup").glob("*.h5")), estimate)
                + (64 << 10)
            )
            free = shutil.disk_usage(run_dir).free
            if free < need:
                raise TrainingError(
                    f"The disk holding {run_dir} is full ({free >> 10} KiB free, the epoch-{epoch + 1} checkpoint "
                    f"and backup need about {need >> 10} KiB). Free some space and run the same command again: "
                    "training resumes from its last complete backup."
                )

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


def backup_callback(k, backup_dir: str, **kw):
    """Keras' ``BackupAndRestore``; in Keras 3, a metadata file a kill cut mid-write (Keras writes
    ``training_metadata.json`` in place: empty or half a JSON) falls back to the previous backup
    (``double_checkpoint``) as an unreadable weights file already does, instead of ending the
    resumed run in a ``JSONDecodeError``."""
    import json

    base = k.callbacks.BackupAndRestore
    if not hasattr(base, "_load_model"):  # tf-keras: its own backup scheme
        return base(backup_dir, **kw)

    class _Backup(base):
        def _load_model(self):
            try:
                super()._load_model()
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise OSError(f"backup metadata unreadable ({type(exc).__name__})") from exc

    return _Backup(backup_dir, **kw)
