"""Data sets and training (stage 2: imports only zoo)."""

from training.datasets.adapt import adapt
from training.datasets.registry import (
    DATASETS,
    Dataset,
    DatasetError,
    DatasetUnavailableError,
    list_datasets,
    load_dataset,
)
from training.errors import TrainingError
from training.model_dir import load_run, run_dataset, save_model_dir
from training.options import TrainOptions
from training.tasks import compile_for, evaluate
from training.train import Run, train

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "DatasetUnavailableError",
    "Run",
    "TrainOptions",
    "TrainingError",
    "adapt",
    "compile_for",
    "evaluate",
    "list_datasets",
    "load_dataset",
    "load_run",
    "run_dataset",
    "save_model_dir",
    "train",
]
