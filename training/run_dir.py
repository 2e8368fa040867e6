"""A training run's directory: what training writes there, claiming it, and whether an
interrupted run (a backup) may be resumed under the settings given now."""

from __future__ import annotations

import json
from pathlib import Path

from training.distribute import has_backup
from training.errors import TrainingError
from zoo.core.claim import check_replace, check_writes, replace_with_empty
from zoo.core.marker import claim_dir, remove_ours
from zoo.core.marker import record as record_entries
from zoo.core.run_config import RunConfig

# What a training run writes in its run directory: recorded in the marker before it is written.
TRAIN_WRITES = (
    "config.json",
    "model.keras",
    "checkpoint.keras",
    "history.csv",
    "history.png",
    "metrics.json",
    "backup",
    "tensorboard",
)


def claim_run_dir(run_dir: Path, identity: dict, force: bool):
    """Claim ``run_dir`` (a run of another model or data set is replaced by an empty directory,
    the user's files kept: :func:`zoo.core.claim.own_dir` did it already under the lock); refuse,
    with one line, a user's file (or one the user changed since edgezoo wrote it) or a link
    where training writes; record what it will write (pending until the run ends)."""
    claim_dir(run_dir, "train", identity)
    if check_replace(run_dir, "train", identity, force=force):  # multiworker: no own_dir
        replace_with_empty(run_dir, "train", identity)
    check_writes(run_dir, TRAIN_WRITES)
    record_entries(run_dir, TRAIN_WRITES, pending=True)


# The settings that define a run's split and model: a backup trained under other values cannot
# be continued without training on another split (test samples among them) or another model.
RESUME_KEYS = ("model", "dataset", "seed", "limit", "input_noise", "overrides")
RESUME_DATA_KEYS = ("input_shape", "classes", "n_train", "n_val", "n_test")


def resume_conflicts(old: RunConfig | None, new: RunConfig) -> list[str]:
    """The data- and model-defining settings in which ``new`` (a run's config.json) differs from
    ``old`` (the interrupted run's), as "name old -> new"; every setting when ``old`` is unreadable.
    A key an older edgezoo did not record reads as its default then (:class:`RunConfig`)."""
    if old is None:
        return ["config.json (unreadable: the interrupted run's settings are unknown)"]
    out = []
    for key in RESUME_KEYS:
        was, now = getattr(old, key), getattr(new, key)
        if was != now:
            out.append(f"{key} {was!r} -> {now!r}")
    old_data, new_data = old.data, new.data
    out += [
        f"data.{key} {old_data.get(key)!r} -> {new_data.get(key)!r}"
        for key in RESUME_DATA_KEYS
        if key in old_data and old_data.get(key) != new_data.get(key)
    ]
    return out


def decide_resume(run_dir: Path, config: dict, force: bool):
    """An interrupted run (a backup) is resumed only under the settings it was trained with:
    otherwise refused with one line naming the differences, or, with ``force``, started afresh
    (backup and history go; config.json is then rewritten to describe the new run)."""
    if not has_backup(run_dir / "backup"):
        return
    try:
        old = RunConfig.read(run_dir)
    except (OSError, ValueError):  # unreadable, garbled (RunConfigError is a ValueError)
        old = None
    new = RunConfig.from_dict(json.loads(json.dumps(config, default=str)), "the new run's config")
    conflicts = resume_conflicts(old, new)
    if not conflicts:
        return
    if not force:
        raise TrainingError(
            f"{run_dir} holds an interrupted run trained with other settings "
            f"({'; '.join(conflicts)}): resuming would continue its weights on another split or "
            "model. Give the same settings to resume it, or --force to start afresh."
        )
    remove_ours(run_dir, ("backup", "history.csv"))
