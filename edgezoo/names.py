"""The names the command line accepts (models, data sets, export targets, recipes), known
without importing TensorFlow, so a wrong name is reported before any heavy import.

Models and data sets are read from the source (the ``@register_model`` function names in
``zoo/models/*.py``, the ``@register_dataset("name", ...)`` calls in ``training/datasets/*.py``,
the ``Target(name=...)`` registrations in ``export/targets/*.py`` and ``*/__init__.py``);
``tests/test_cli_ux.py`` checks that they equal the real registries. Each ``*_name`` function
is an argparse ``type=``: it returns its argument unchanged or raises one clear error with
close matches.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import functools
import importlib.util
from pathlib import Path

RECIPES_DIR = Path(__file__).parent / "recipes"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # a top-level spec: the package itself is not executed
    return Path(next(iter(spec.submodule_search_locations)))


def _decorated(path: Path, decorator: str):
    """(function name, first positional argument of the decorator call or None) per decorated def."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call else deco
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
            if name == decorator:
                first = call.args[0] if call and call.args else None
                yield node.name, first.value if isinstance(first, ast.Constant) else None


@functools.cache
def models() -> tuple[str, ...]:
    """Every ``@register_model`` builder in ``zoo/models/`` (the registry's names), sorted."""
    folder = _package_dir("zoo") / "models"
    return tuple(
        sorted(
            {fn for path in folder.glob("[!_]*.py") for fn, _ in _decorated(path, "register_model")}
        )
    )


@functools.cache
def datasets() -> tuple[str, ...]:
    """Every ``@register_dataset("name", ...)`` in ``training/datasets/*.py``, sorted."""
    folder = _package_dir("training") / "datasets"
    return tuple(
        sorted(
            {
                arg
                for path in folder.glob("*.py")
                for _, arg in _decorated(path, "register_dataset")
                if arg
            }
        )
    )


def _registered_targets(path: Path):
    """(order, name, default) of each ``Target(name=..., order=..., default=...)`` call in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Target":
            kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
            if "name" in kw:
                yield kw.get("order", 0), kw["name"], kw.get("default", True)


@functools.cache
def _targets() -> tuple[tuple, ...]:
    folder = _package_dir("export") / "targets"
    paths = [*folder.glob("[!_]*.py"), *folder.glob("[!_]*/__init__.py")]  # a module or a folder
    return tuple(sorted(t for path in paths for t in _registered_targets(path)))


def targets() -> tuple[str, ...]:
    """Every export target registered in ``export/targets/*.py``, in the registry's order."""
    return tuple(name for _, name, _ in _targets())


def default_targets() -> tuple[str, ...]:
    """The targets exported when none are named."""
    return tuple(name for _, name, default in _targets() if default)


def recipes() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))


def _unknown(kind: str, value: str, known, see: str) -> argparse.ArgumentTypeError:
    close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return argparse.ArgumentTypeError(f"Unknown {kind} {value!r}.{hint} {see}")


def model_name(value: str) -> str:
    if value not in models():
        raise _unknown(
            "model", value, models(), f"Run `edgezoo list` to see all {len(models())} models."
        )
    return value


def dataset_name(value: str) -> str:
    if value not in datasets():
        raise _unknown("data set", value, datasets(), f"Known: {', '.join(datasets())}.")
    return value


def recipe_name(value: str) -> str:
    """A YAML path or a shipped recipe name."""
    if not Path(value).exists() and value not in recipes():
        raise _unknown(
            "recipe", value, recipes(), f"Give a YAML path or one of: {', '.join(recipes())}."
        )
    return value


def _csv_of(check):
    def parse(value: str) -> str:
        items = [x.strip() for x in value.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list. Received: {value!r}"
            )
        for item in items:
            check(item)
        return value

    parse.__name__ = f"{check.__name__}s"
    return parse


model_names = _csv_of(model_name)


def _target(value: str) -> str:
    if value not in targets():
        raise _unknown(
            "export target",
            value,
            targets(),
            f"Export targets must be among: {', '.join(targets())}.",
        )
    return value


target_names = _csv_of(_target)
