"""The layout's rules, read from the source with ``ast`` (fast; nothing of the project is imported).

* the stage order: zoo <- training <- compress <- export <- edgezoo; a stage imports only the
  stages before it (imports inside functions count too), and nothing imports the CLI;
* no import cycle between project modules (module-level imports);
* no re-export: every ``from PROJECT.MODULE import NAME`` names NAME's real home, the module that
  defines it (a def, a class or an assignment), a submodule, or a package's declared public API
  (its ``__all__``); a name a module merely imported is not importable from it;
* no module over 450 lines and no function over 80 lines, except the allowlist below, whose
  sizes may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("zoo", "training", "compress", "export", "edgezoo")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80

# Exceptions to the limits: none now. An entry may only shrink (lower the number), never grow,
# and nothing may be added.
BIG_MODULES: dict[str, int] = {}
BIG_FUNCTIONS: dict[str, int] = {}


def _modules() -> dict[str, Path]:
    """Every project module by dotted name (``pkg/__init__.py`` is ``pkg``)."""
    found = {}
    for stage in STAGES:
        for path in sorted((ROOT / stage).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, *, top_level_only: bool):
    """(line, imported project module, names) for each import of ``module``; ``names`` is None
    for ``import X``."""
    tree = TREES[module]
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in _flatten(nodes) if top_level_only else nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in STAGES:
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, node)
            if target.split(".")[0] in STAGES:
                yield node.lineno, target, [a.name for a in node.names]


def _flatten(body):
    """Module-level statements, looking into ``if``/``try``/``with`` blocks (not functions)."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody"):
                yield from _flatten(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                yield from _flatten(handler.body)


def _owner(target: str) -> str:
    """The project module an imported dotted name lives in (the longest known prefix)."""
    parts = target.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts)


def test_stage_order():
    """A stage imports only the stages before it; nothing but the CLI imports the CLI."""
    wrong = []
    for module in MODULES:
        rank = STAGES.index(module.split(".")[0])
        for line, target, _ in _imports(module, top_level_only=False):
            stage = target.split(".")[0]
            if STAGES.index(stage) > rank:
                wrong.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "imports against the stage order:\n" + "\n".join(wrong)


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module in MODULES:
        edges = set()
        for _, target, names in _imports(module, top_level_only=True):
            subs = [f"{target}.{n}" for n in names or () if f"{target}.{n}" in MODULES]
            edges.update(subs)  # `from pkg import submodule` depends on the submodule
            if len(subs) < len(names or [None]):  # (as import-linter/grimp count it)
                edges.add(_owner(target))
        edges.discard(module)
        graph[module] = {e for e in edges if e}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (a list of modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_cycles():
    cycle = _cycle(_graph())
    assert cycle is None, "an import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    """The cycle test can fail: a made-up circle through three modules is reported."""
    graph = {"zoo.a": {"zoo.b"}, "zoo.b": {"zoo.c"}, "zoo.c": {"zoo.a"}}
    assert _cycle(graph) == ["zoo.a", "zoo.b", "zoo.c", "zoo.a"]


def _defined(tree: ast.Module) -> set[str]:
    """The names a module binds itself at module level (not by importing them)."""
    names = set()
    for node in _flatten(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _public_api(tree: ast.Module) -> set[str]:
    """The names a package's ``__init__`` declares public in ``__all__``."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return {ast.literal_eval(e) for e in node.value.elts}
    return set()


def _reexports() -> list[str]:
    wrong = []
    for module in MODULES:
        for line, target, names in _imports(module, top_level_only=False):
            if names is None or target not in MODULES:
                continue
            tree = TREES[target]
            home = _defined(tree) | (_public_api(tree) if _is_package(target) else set())
            for name in names:
                if name != "*" and name not in home and f"{target}.{name}" not in MODULES:
                    wrong.append(
                        f"{MODULES[module].relative_to(ROOT)}:{line} imports {name} from "
                        f"{target}, which does not define it"
                    )
            if "*" in names:
                wrong.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports * from {target}")
    return wrong


def test_every_import_names_the_real_home():
    wrong = _reexports()
    assert not wrong, "imports through a module that is not the name's home:\n" + "\n".join(wrong)


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules, functions = {}, {}
    for module, path in MODULES.items():
        rel = str(path.relative_to(ROOT))
        modules[rel] = len(path.read_text().splitlines())
        for node in ast.walk(TREES[module]):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                functions[f"{rel}::{node.name}"] = max(
                    functions.get(f"{rel}::{node.name}", 0), node.end_lineno - start + 1
                )
    return modules, functions


@pytest.mark.parametrize(
    "kind, limit, allowed",
    [("module", MAX_MODULE_LINES, BIG_MODULES), ("function", MAX_FUNCTION_LINES, BIG_FUNCTIONS)],
)
def test_sizes(kind, limit, allowed):
    """Nothing new over the limit; an allowlisted item may shrink, never grow."""
    sizes = _sizes()[0 if kind == "module" else 1]
    wrong = []
    for name, size in sorted(sizes.items()):
        if size > limit and name not in allowed:
            wrong.append(f"{name}: {size} lines (the limit for a {kind} is {limit}); split it")
        elif name in allowed and size > allowed[name]:
            wrong.append(f"{name}: {size} lines, grown past its allowlisted {allowed[name]}")
    gone = [name for name in allowed if name not in sizes]
    assert not wrong and not gone, "\n".join(wrong + [f"{n}: allowlisted, gone" for n in gone])


def test_the_tests_import_names_from_their_real_homes():
    """The tests too name each project module and name where it is defined (a moved module or a
    removed re-export fails here at once, not in the one test that imports it lazily)."""
    wrong = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module.split(".")[0] not in STAGES:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if node.module not in MODULES:
                wrong.append(f"{where} imports from {node.module}, which does not exist")
                continue
            tree = TREES[node.module]
            home = _defined(tree) | (_public_api(tree) if _is_package(node.module) else set())
            for alias in node.names:
                if alias.name not in home and f"{node.module}.{alias.name}" not in MODULES:
                    wrong.append(f"{where} imports {alias.name} from {node.module}, not its home")
    assert not wrong, "\n".join(wrong)
