"""The ``edgezoo`` command. Each stage's subcommands live in one module of
:mod:`edgezoo.commands` with a ``register(subparsers)`` function; this file only
assembles them and turns known errors into one clear message and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_parser() -> argparse.ArgumentParser:
    import edgezoo.commands as commands

    parser = argparse.ArgumentParser(
        prog="edgezoo",
        description="A Keras model zoo with training, compression and verified edge export.",
    )
    parser.add_argument("--version", action="version", version=f"edgezoo {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"edgezoo.commands.{mod.name}").register(sub)
    return parser


def _version():
    from edgezoo import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from edgezoo.commands import _common

    try:
        return int(args.func(args) or 0)
    except _common.USER_ERRORS as exc:  # read now: a command may have added its own types
        print(f"edgezoo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edgezoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
