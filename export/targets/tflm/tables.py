"""The "MCU figures" table: per TFLM artifact, the arena TFLM allocated, the flash the model
takes, the peak-activation lower bound, ops, MACs and which boards it fits -- read back from the
manifests (``report.md``, ``bench.md``, ``bench-mlperf``)."""

from __future__ import annotations

from pathlib import Path

from export.manifest import Manifest

HEADERS = [
    "model",
    "arena B (measured)",
    "arena to allocate B",
    "flash B (model)",
    "peak activation B (lower bound)",
    "ops",
    "MACs",
    "parity",
    "vs LiteRT within 1 LSB: reference / optimized kernels",
    "fits",
]
ALIGN = "lrrrrlrlll"
NOTE = (
    "Arena: TFLM's recording allocator after an invoke (host build, reference kernels); allocate "
    "it with the stated margin. Flash: the model flatbuffer only -- code size (TFLM kernels, "
    "application) is not included. Peak activation: a lower bound computed from the graph (max "
    "over op steps of live tensor bytes). vs LiteRT: the share of the TFLM file's outputs within 1 "
    "LSB of the same file in LiteRT's reference kernels (the arithmetic TFLM's kernels implement; "
    "the goal is >= 99%) and in its default optimized kernels with XNNPACK (what a phone runs), "
    "with the largest difference in LSB. No microcontroller latency: none was measured on one."
)


def _vs_litert(v: dict | None) -> str:
    """``100.0% / 99.6% (max 1 / 4 LSB)``; ``-`` for a figure the manifest does not have."""

    def pct(k):
        f = (v or {}).get(k) or {}
        if "within_1_lsb" not in f:
            return "-", "-"
        return f"{100 * f['within_1_lsb']:.1f}%", str(f["max_abs_diff_lsb"])

    (r, rm), (o, om) = pct("same_file_reference"), pct("same_file")
    return f"{r} / {o} (max {rm} / {om} LSB)"


def rows(manifest: Manifest, label: str) -> list[list]:
    """One row per TFLM artifact of ``manifest``."""
    out = []
    for a in manifest.artifacts:
        if a.get("format") != "tflm" or "tflm" not in a:
            continue
        m = a["tflm"]
        fits = [b for b, ok in m.get("fits", {}).items() if ok]
        out.append(
            [
                label,
                f"{m['arena_bytes']:,}",
                f"{m['arena_to_allocate_bytes']:,}",
                f"{m['flash_bytes']:,}",
                f"{m['peak_activation_bytes']:,}",
                f"{len(m['ops'])} ({', '.join(m['op_set'])})",
                f"{m['macs']:,}",
                "pass" if a.get("parity", {}).get("passed") else "FAIL",
                _vs_litert(a.get("vs_litert")),
                ", ".join(fits) or "none of the presets",
            ]
        )
    return out


def markdown(labelled: list[tuple[str, Manifest]]) -> list[str]:
    """The section's lines ([] when no manifest has a TFLM artifact)."""
    from zoo.core.tables import markdown_table

    body = [r for label, man in labelled for r in rows(man, label)]
    if not body:
        return []
    return ["## MCU figures (TFLM)", "", markdown_table(body, HEADERS, ALIGN), "", NOTE, ""]


def section(manifest_paths) -> list[str]:
    """:func:`markdown` of manifest files, each labelled by its export directory's name."""
    return markdown([(Path(p).parent.name, Manifest.read(p)) for p in manifest_paths])


def bench_lines(data: dict) -> list[str]:
    """The section for ``bench.md``, from the rows :func:`rows` put in bench.json's ``"mcu"``
    (a bench.json written before the vs-LiteRT column: ``-`` in it)."""
    from zoo.core.tables import markdown_table

    body = [r if len(r) == len(HEADERS) else [*r[:-1], "-", r[-1]] for r in data.get("mcu") or []]
    if not body:
        return []
    return ["", "MCU figures (TFLM):", "", markdown_table(body, HEADERS, ALIGN), "", NOTE]


def summary_line(artifact: dict) -> str | None:
    """One line for ``edgezoo export``: the memory figures of a TFLM artifact (None otherwise)."""
    m = artifact.get("tflm") if artifact.get("format") == "tflm" else None
    if not m:
        return None
    fits = [b for b, ok in m["fits"].items() if ok]
    return (
        f"tflm: arena {m['arena_bytes']:,} B measured (allocate {m['arena_to_allocate_bytes']:,} B), "
        f"flash {m['flash_bytes']:,} B (model only), peak activation >= "
        f"{m['peak_activation_bytes']:,} B; fits {', '.join(fits) or 'none of the boards'}"
    )
