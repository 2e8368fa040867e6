"""Plain Markdown tables (readable in a terminal and in report.md); used by every stage's output."""

from __future__ import annotations


def markdown_table(rows: list[list], headers: list[str], align: str | None = None) -> str:
    """``align``: one letter per column, "l" or "r"."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    align = align or "l" * len(headers)

    def fmt(r):
        return (
            "| "
            + " | ".join(
                c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)
            )
            + " |"
        )

    sep = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)
        )
        + "|"
    )
    return "\n".join([fmt(headers), sep, *[fmt(r) for r in cells]])
