"""Regenerate the README's zoo table from the registry: ``python -m edgezoo.readme``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import zoo
from zoo.core.tables import markdown_table

MARK = re.compile(r"(<!-- zoo-table:[^\n]*-->\n).*?(<!-- /zoo-table -->)", re.S)


def zoo_table() -> str:
    rows = []
    for name in zoo.list_models():
        c = zoo.get_card(name)
        rows.append(
            [
                f"`{name}`",
                c.family,
                c.task,
                "x".join(map(str, c.input_shape)),
                f"{c.params:,}",
                c.dataset,
                ", ".join(c.targets) or "-",
                "yes" if c.quantizable else "no",
                c.lecture,
            ]
        )
    return markdown_table(
        rows,
        [
            "model",
            "family",
            "task",
            "input",
            "parameters",
            "data",
            "claimed targets",
            "QKeras twin",
            "from",
        ],
        "llllrllll",
    )


def main(path: str = "README.md") -> int:
    readme = Path(path)
    text = readme.read_text()
    new = MARK.sub(lambda m: m.group(1) + zoo_table() + "\n" + m.group(2), text)
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
