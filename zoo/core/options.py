"""Options declared once.

An option is a dataclass field made with :func:`option`: its default, its type (the field's
annotation), a help text and, where it has them, choices and a range. From that one declaration
edgezoo derives

* the command-line flag, its help text with the default, and its parsing (:func:`add_arguments`,
  :func:`from_args`);
* the recipe key and its validation: unknown keys, types, choices, ranges (:func:`validate`);
* what a manifest or config records (:func:`record`).

A class of options may define ``check(self)`` for rules between fields; :func:`validate` calls it.
Errors are :class:`OptionError`: one line naming ``where.key``, what was received and what is
accepted.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import types
import typing
from typing import Any

from zoo.core.errors import EdgezooError


class OptionError(EdgezooError, ValueError):
    """An option value of the wrong name, type or range."""


def option(
    default,
    help: str,
    *,
    choices=None,
    min=None,
    max=None,
    cli: bool = True,
    flag: str | None = None,
    metavar: str | None = None,
):
    """A dataclass field that carries everything the CLI and the recipe need to know.

    ``choices`` bound a scalar or every item of a sequence; ``min``/``max`` bound numbers (or
    every item of a sequence of numbers); ``cli=False`` keeps an option out of the command line
    (recipe and Python only); ``flag`` overrides the derived flag name.
    """
    meta = {
        "help": help,
        "choices": tuple(choices) if choices is not None else None,
        "min": min,
        "max": max,
        "cli": cli,
        "flag": flag,
        "metavar": metavar,
    }
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: copy.deepcopy(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def declared(cls) -> list[dataclasses.Field]:
    """The fields of ``cls`` declared with :func:`option`."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_none(tp):
    """(inner type, optional?) of ``X | None``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), optional  # noqa: UP007 - built at run time
    return tp, False


def _type_name(tp) -> str:
    tp, optional = _strip_none(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        name = " or ".join(_type_name(a) for a in typing.get_args(tp))
    elif origin in (tuple, list):
        name = f"a list of {_type_name(typing.get_args(tp)[0])}"
    elif tp is Any:
        name = "any value"
    else:
        name = getattr(tp, "__name__", str(tp))
    return name + (" or null" if optional else "")


def _is(value, tp) -> bool:
    """``value`` fits the annotation ``tp`` (bool is not an int; an int is a float)."""
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is(value, a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return isinstance(value, (list, tuple)) and all(
            _is(v, typing.get_args(tp)[0]) for v in value
        )
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _why(value, f: dataclasses.Field, tp) -> str | None:
    """Why ``value`` is not acceptable for field ``f``, or None."""
    if not _is(value, tp):
        return f"must be {_type_name(tp)}"
    items = value if isinstance(value, (list, tuple)) else [value]
    m = f.metadata
    if m.get("choices") is not None and value is not None:
        bad = [v for v in items if v not in m["choices"]]
        if bad:
            return f"must be {'among' if isinstance(value, (list, tuple)) else 'one of'} {list(m['choices'])}"
    numbers = [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if m.get("min") is not None and any(v < m["min"] for v in numbers):
        return f"must be >= {m['min']}"
    if m.get("max") is not None and any(v > m["max"] for v in numbers):
        return f"must be <= {m['max']}"
    return None


def validate(cls, values: dict | None = None, *, where: str = "options", **kw):
    """An instance of ``cls`` from ``values`` (recipe section, keyword arguments), every key
    checked; lists become tuples where the field is a tuple. Raises :class:`OptionError`."""
    values = {**(values or {}), **kw}
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise OptionError(f"{where}: unknown option(s) {unknown}. Accepted: {sorted(fields)}.")
    hints = _hints(cls)
    out = {}
    for name, value in values.items():
        f, tp = fields[name], hints.get(name, Any)
        if "help" in f.metadata:
            why = _why(value, f, tp)
            if why:
                raise OptionError(f"{where}.{name} {why}. Received: {name}={value!r}")
        inner, _ = _strip_none(tp)
        if typing.get_origin(inner) is tuple and isinstance(value, list):
            value = tuple(value)
        out[name] = value
    obj = cls(**out)
    check = getattr(obj, "check", None)
    if callable(check):
        check()
    return obj


def record(obj) -> dict:
    """The declared options of ``obj`` as plain JSON-able data (a value with a ``record()``
    method, a sub-object of options, as what that returns)."""
    out = {}
    for f in declared(type(obj)):
        v = getattr(obj, f.name)
        v = v.record() if callable(getattr(v, "record", None)) else v
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


# --------------------------------------------------------------------------- command line


def _parser_for(tp):
    """The argparse ``type`` for one command-line word of annotation ``tp``."""
    tp, _ = _strip_none(tp)
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        item = _parser_for(typing.get_args(tp)[0])
        return lambda s: tuple(item(p.strip()) for p in s.split(",") if p.strip())
    if origin is dict or tp is dict:
        return _json_object
    if tp in (int, float, str):
        return tp
    if origin in (typing.Union, types.UnionType):  # e.g. int | str: try each in order
        parsers = [_parser_for(a) for a in typing.get_args(tp)]

        def parse(s):
            for p in parsers:
                try:
                    return p(s)
                except (TypeError, ValueError):
                    continue
            raise argparse.ArgumentTypeError(f"cannot read {s!r}")

        return parse
    return str


def _json_object(s: str) -> dict:
    try:
        value = json.loads(s)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"expects a JSON object, e.g. '{{\"key\": 1}}' ({exc})"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expects a JSON object")
    return value


def flag_name(f: dataclasses.Field, prefix: str = "") -> str:
    return f.metadata.get("flag") or f"--{prefix}{f.name}".replace("_", "-")


def _default_text(v) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(str(i) for i in v) or "none"
    if isinstance(v, dict):
        return json.dumps(v) if v else "{}"
    return str(v)


def add_arguments(
    parser,
    cls,
    *,
    prefix: str = "",
    skip=(),
    only=None,
    defaults: dict | None = None,
    group: str | None = None,
) -> None:
    """Add one flag per declared command-line option of ``cls`` (``--{prefix}{name}``).

    Flags not given on the command line are absent from the namespace (``argparse.SUPPRESS``),
    so :func:`from_args` returns only what the user said and the declaration's default holds.
    ``only`` limits the flags to these field names. ``defaults`` (field name -> value) is how a
    caller that needs other defaults (an experiment) overrides them, in one place: the help text
    shows them and :func:`from_args` returns them when the flag is not given.
    """
    target = parser.add_argument_group(group) if group else parser
    hints = _hints(cls)
    defaults = defaults or {}
    unknown = set(defaults) - {f.name for f in declared(cls)}
    if unknown:
        raise ValueError(f"defaults for undeclared options of {cls.__name__}: {sorted(unknown)}")
    for f in declared(cls):
        if not f.metadata.get("cli", True) or f.name in skip:
            continue
        if only is not None and f.name not in only:
            continue
        tp = hints.get(f.name, str)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        default = defaults.get(f.name, default)
        help_text = f"{f.metadata['help']} (default: {_default_text(default)})"
        dest = f"{prefix}{f.name}".replace("-", "_")
        kw: dict[str, Any] = {
            "dest": dest,
            "default": defaults.get(f.name, argparse.SUPPRESS),
            "help": help_text,
        }
        inner, _ = _strip_none(tp)
        if inner is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = _parser_for(tp)
            choices = f.metadata.get("choices")
            if choices and typing.get_origin(inner) not in (tuple, list):
                kw["choices"] = choices
            kw["metavar"] = f.metadata.get("metavar") or (
                ",".join(map(str, choices))
                if choices and typing.get_origin(inner) in (tuple, list)
                else f.name.upper()
            )
        target.add_argument(flag_name(f, prefix), **kw)


def from_args(cls, args: argparse.Namespace, *, prefix: str = "") -> dict:
    """The options of ``cls`` the user gave on the command line, by field name."""
    out = {}
    for f in declared(cls):
        dest = f"{prefix}{f.name}".replace("-", "_")
        if hasattr(args, dest):
            out[f.name] = getattr(args, dest)
    return out
