"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import sys

from training.data import DatasetError
from training.train import TrainingError
from zoo.io import ModelFileError
from zoo.registry import UnknownModelError

# Errors that are the user's to fix: printed as one line, exit code 2, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UnknownModelError,
    DatasetError,
    TrainingError,
    ModelFileError,
    FileNotFoundError,
    ValueError,
    TypeError,
)


def add_user_errors(*errors):
    """Let a later stage add its own user-facing error types."""
    global USER_ERRORS
    USER_ERRORS = tuple(dict.fromkeys((*USER_ERRORS, *errors)))


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def table(rows: list[list], headers: list[str], align: str | None = None) -> str:
    from zoo.tables import markdown_table

    return markdown_table(rows, headers, align)


def parse_overrides(items: list[str] | None) -> dict:
    """``--set key=value`` pairs; values parsed as JSON when possible (``input_shape=[32,32,1]``)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value. Received: {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
