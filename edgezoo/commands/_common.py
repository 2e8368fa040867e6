"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import sys

from zoo.core.errors import EdgezooError
from zoo.core.options import OptionError

# Errors that are the user's to fix: printed as one line, exit code 2, no traceback. Every error
# class of edgezoo's own that the user can fix derives from EdgezooError. The OSErrors listed are
# about a path: the message names it (``[Errno 2] No such file or directory: 'x.npz'``), and edgezoo
# opens paths the user named (--data, --model-file, --out, recipes), so naming the path is the
# clear line. Anything else (a ValueError, TypeError, KeyError from edgezoo or a library) is a bug
# and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    EdgezooError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def add_user_errors(*errors):
    """Let a later stage add its own user-facing error types."""
    global USER_ERRORS
    USER_ERRORS = tuple(dict.fromkeys((*USER_ERRORS, *errors)))


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def parse_overrides(items: list[str] | None) -> dict:
    """``--set key=value`` pairs; values parsed as JSON when possible (``input_shape=[32,32,1]``)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise OptionError(f"--set expects key=value. Received: {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
