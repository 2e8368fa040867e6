"""Model directories: ``config.json`` + ``model.keras``, the layout every stage reads and writes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import zoo
from training.datasets.adapt import adapt
from training.datasets.registry import Dataset, load_dataset
from training.errors import TrainingError
from zoo.core.io import atomic_save, load_model
from zoo.core.io import write_json_atomic as _write_json
from zoo.core.marker import claim_dir
from zoo.core.run_config import RunConfig


def load_run(run_dir: str | os.PathLike, *, world: str | None = None) -> tuple[object, RunConfig]:
    """(model, config) of a model directory: a training run or any later stage's output.

    Every stage writes the same layout -- ``config.json`` (model name, data set, seed, limit,
    overrides, card, and ``world``: "keras" or "tf_keras" for QKeras models; read into a
    :class:`~zoo.core.run_config.RunConfig`) plus ``model.keras`` -- so stages chain. A directory
    that is not one gets a clear error.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not (run_dir / "model.keras").exists():
        raise FileNotFoundError(
            f"{run_dir} is not an edgezoo model directory (needs config.json and model.keras). "
            "Create one with `edgezoo train MODEL`."
        )
    cfg = RunConfig.read(run_dir)  # source_dir: where stored data (imported models) is found
    return load_model(run_dir / "model.keras", world=world or cfg.world, hgq=cfg.hgq), cfg


def save_model_dir(
    model, out: str | os.PathLike, config: RunConfig | Mapping, **extra_json
) -> Path:
    """Write a model directory (``model.keras`` + ``config.json`` + any ``name=dict`` JSON files).

    ``config`` is the source run's config (a :class:`RunConfig`, or the dict of a new one);
    ``world`` is set from the model. Files are written to temporary names and renamed, so a
    failure leaves no half-written artifact.
    """
    src_dir = config.source_dir if isinstance(config, RunConfig) else None
    given = config.to_dict() if isinstance(config, RunConfig) else dict(config)
    cfg = RunConfig.from_dict({**given, "world": zoo.world_of(model)}, f"the config for {out}")
    out = claim_dir(out, "model", what="model directory")
    if cfg.data_file and src_dir:  # imported data travels with every model directory
        from training.datasets.userdata import copy_stored

        copy_stored(src_dir, out, cfg.data_file)
    atomic_save(model, out / "model.keras")
    for name, data in extra_json.items():
        _write_json(out / f"{name}.json", data)
    _write_json(out / "config.json", cfg.to_dict())
    return out


def run_dataset(cfg: RunConfig) -> Dataset:
    """The exact data (same seed, split and adaptation) a run was trained on.

    For an imported model (``edgezoo import``) that is the copy stored in the model directory
    (``config.json`` key ``data_file``), checked against its sha256."""
    if cfg.data_file:
        from training.datasets.userdata import load_stored

        if cfg.source_dir is None:
            raise TrainingError("This config reads stored data: load it with load_run(MODEL_DIR).")
        return load_stored(cfg.source_dir, cfg.data_file, name=cfg.dataset, seed=cfg.seed)
    ds = load_dataset(cfg.dataset, seed=cfg.seed, limit=cfg.limit)
    return adapt(ds, cfg.input_shape)
