"""Model directories: ``config.json`` + ``model.keras``, the layout every stage reads and writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import zoo
from training.datasets.adapt import adapt
from training.datasets.registry import Dataset, load_dataset
from training.errors import TrainingError
from zoo.core.errors import EdgezooError
from zoo.core.io import atomic_save, load_model
from zoo.core.io import write_json_atomic as _write_json
from zoo.core.marker import claim_dir

DIR_KEY = "_dir"  # added by load_run to a config it returns: the model directory it came from


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
        raise FileNotFoundError(
            f"{cfg_path} is not valid JSON ({exc}); the run directory is damaged."
        ) from exc
    check_config(cfg, cfg_path)
    world = world or cfg.get("world", "keras")
    cfg[DIR_KEY] = str(run_dir)  # where stored data (imported models) is found; never written back
    return load_model(run_dir / "model.keras", world=world), cfg


class RunConfigError(EdgezooError, ValueError):
    """A run directory's config.json that lacks what the later stages read."""


def check_config(cfg, path) -> dict:
    """The keys every stage reads from ``config.json``; one clear error naming what is missing."""
    if not isinstance(cfg, dict):
        raise RunConfigError(
            f"{path} is not a JSON object; the run directory is damaged: re-train it."
        )
    missing = [k for k in ("model", "dataset", "card") if k not in cfg]
    card = cfg.get("card")
    if not missing and (not isinstance(card, dict) or not {"task", "input_shape"} <= set(card)):
        missing = ["card.task/card.input_shape"]
    if missing:
        raise RunConfigError(
            f"{path} lacks {', '.join(repr(m) for m in missing)}: it was not written by "
            "`edgezoo train` or was edited; re-train the model (or restore the file)."
        )
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
        from training.datasets.userdata import copy_stored

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
        from training.datasets.userdata import load_stored

        if not cfg.get(DIR_KEY):
            raise TrainingError("This config reads stored data: load it with load_run(MODEL_DIR).")
        return load_stored(
            cfg[DIR_KEY], cfg["data_file"], name=cfg.get("dataset", ""), seed=cfg.get("seed", 0)
        )
    ds = load_dataset(cfg["dataset"], seed=cfg.get("seed", 0), limit=cfg.get("limit"))
    shape = cfg.get("overrides", {}).get("input_shape") or cfg["card"]["input_shape"]
    return adapt(ds, shape)
