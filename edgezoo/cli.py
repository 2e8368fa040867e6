"""The ``edgezoo`` command. Each stage's subcommands live in one module of
:mod:`edgezoo.commands` with a ``register(subparsers)`` function; this file only
assembles them and turns the user's errors (:mod:`zoo.core.errors`) into one clear line and exit code 2,
anything else (a bug) into its traceback, a line asking to report it, and exit code 1.

Names (models, data sets, targets, recipes) are checked while parsing, from
:mod:`edgezoo.names`, before anything imports TensorFlow; the command then runs inside an
:class:`edgezoo.ui.Session` (library logs to a file, edgezoo's progress on screen)."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class UsageError(Exception):
    """A command line argparse rejects; printed as one line."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, unless its help already speaks of it or there is none."""

    def __init__(self, prog, **kw):
        kw.setdefault("max_help_position", 32)
        super().__init__(prog, **kw)

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            (not action.option_strings and action.nargs not in ("?", "*"))
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or "(default" in text
        ):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``edgezoo CMD: error: ...``)."""

    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kw)

    def error(self, message):
        hint = (
            "" if "Unknown " in message else f" (see `{self.prog} --help`)"
        )  # a name error says what to do
        raise UsageError(f"{self.prog}: error: {message}{hint}")


def build_parser() -> argparse.ArgumentParser:
    import edgezoo.commands as commands

    parser = Parser(
        prog="edgezoo",
        description="A Keras model zoo with training, compression and verified edge export.\n"
        "Run `edgezoo COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"edgezoo {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"edgezoo.commands.{mod.name}").register(sub)
    sub._choices_actions.sort(key=_help_order)  # `edgezoo --help` in the order of the work
    for p in sub.choices.values():  # every command: --verbose shows the libraries' logs
        if "--verbose" not in p._option_string_actions:
            p.add_argument(
                "--verbose",
                action="store_true",
                help="show TensorFlow / converter logs and library warnings on screen "
                "instead of writing them to edgezoo.log",
            )
    return parser


ORDER = ("list", "info", "datasets", "train", "compress", "export", "bench", "run", "demo")


def _help_order(action) -> tuple:
    name = action.dest
    return name.startswith("bench-"), ORDER.index(name) if name in ORDER else len(ORDER), name


def _version():
    from edgezoo import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    from edgezoo import ui
    from edgezoo.commands import _common

    session = ui.Session(args.command, verbose=bool(getattr(args, "verbose", False)))
    try:
        with session:
            return int(args.func(args) or 0)
    except _common.USER_ERRORS as exc:  # read now: a command may have added its own types
        print(f"edgezoo {args.command}: error: {exc}{session.log_hint()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edgezoo {args.command}: interrupted{session.log_hint()}", file=sys.stderr)
        return 130
    except Exception as exc:  # not the user's to fix, unless the file system said no
        line = system_limit(exc)
        if line:
            print(f"edgezoo {args.command}: error: {line}{session.log_hint()}", file=sys.stderr)
            return 2
        # a bug in edgezoo (or a library): keep the traceback
        traceback.print_exc()
        print(
            f"edgezoo {args.command}: internal error: a bug in edgezoo, not in your input; please report it "
            f"with the traceback above{session.log_hint()}",
            file=sys.stderr,
        )
        return 1


# The file system's limits, not edgezoo's bugs: a full disk or quota, an over-long name. Any
# command can meet them (a library writing its own files included), so they are caught here.
_SPACE = (errno.ENOSPC, errno.EDQUOT)
_TEXTS = {"No space left on device": errno.ENOSPC, "File name too long": errno.ENAMETOOLONG}


def system_limit(exc: BaseException) -> str | None:
    """One line for a full disk (ENOSPC, EDQUOT) or an over-long path (ENAMETOOLONG) anywhere in
    ``exc``'s chain (libraries such as h5py or TensorFlow wrap the OSError), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = exc.errno if isinstance(exc, OSError) else None
        name = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
        if code not in (*_SPACE, errno.ENAMETOOLONG):
            code = next((c for t, c in _TEXTS.items() if t in str(exc)), None)
        if code in _SPACE:
            where = f" while writing {name}" if name else ""
            return (
                f"no space left on the device{where}; free some space or give an --out on "
                "another file system, then run the command again."
            )
        if code == errno.ENAMETOOLONG:
            where = f": {_shorten(str(name))}" if name else ""
            return (
                f"a path is too long for the file system{where} (at most 255 bytes per name, "
                f"{os.pathconf('/', 'PC_PATH_MAX')} per path); choose a shorter --out."
            )
        exc = exc.__cause__ or exc.__context__
    return None


def _shorten(path: str) -> str:
    return path if len(path) <= 120 else f"{path[:60]}...{path[-40:]} ({len(path)} characters)"


if __name__ == "__main__":
    sys.exit(main())
