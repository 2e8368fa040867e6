"""``bench.md``: the measurements of ``edgezoo bench`` as a markdown table, with the harness
overhead, the best artifact per question (:mod:`export.best`), the microcontroller and hls4ml
lines (targets without a CPU runtime)."""

from __future__ import annotations

import json

import numpy as np

from export import best
from export.targets.tflm import tables as tflm_tables
from zoo.core.tables import markdown_table

HEADERS = [
    "artifact",
    "runtime",
    "batch",
    "threads",
    "p50",
    "p90",
    "p99",
    "samples/s",
    "bytes",
    "peak RSS MiB",
    "accuracy",
    "vs bare loop",
    "GOP/s (of peak)",
]


def markdown(data: dict) -> str:
    rows = [
        _row({**r, "artifact": r["artifact"] + (f" ({r['note']})" if r.get("note") else "")})
        for r in data["results"]
    ]
    c = data["conditions"]
    text = [
        f"Measured on {c['cpu']} ({c['cores']} cores), {c['platform']}, {c['time']}; "
        f"{data['model']} on {data['dataset']} test split (n={data['n_test']}).",
        "",
        markdown_table(rows, HEADERS, "llrrrrrrrrrrr"),
    ]
    over = [
        r["harness_overhead"]
        for r in data["results"]
        if r.get("batch") == 1 and "harness_overhead" in r
    ]
    if over:
        text += [
            "",
            f"Harness overhead at batch 1 (median of 10 interleaved chunk means: each call timed vs. a bare loop over the same call): "
            f"max {max(over):+.1%}, median {float(np.median(over)):+.1%}.",
        ]
    text += ["", best.markdown(data)] + tflm_tables.bench_lines(data) + _hls_lines(data)
    return "\n".join(text)


def _row(r: dict) -> list:
    """One table row of a measurement (or of its error)."""
    head = [r["artifact"], r["runtime"], r["batch"], r["threads"]]
    if "error" in r:
        return head + ["error: " + r["error"][:60]] + [""] * 8
    acc = f"{r['accuracy']:.4f}" if r.get("accuracy") is not None else ""
    return head + [
        fmt_us(r["p50_us"]),
        fmt_us(r["p90_us"]),
        fmt_us(r["p99_us"]),
        f"{r['throughput_sps']:,.0f}",
        f"{r['bytes']:,}",
        f"{r['peak_rss_mib']:.0f}",
        acc,
        f"{r['harness_overhead']:+.1%}",
        _rate(r),
    ]


def _hls_lines(data: dict) -> list[str]:
    text = []
    for h in data["hls4ml"]:
        syn = h["synthesis"]
        acc = "n/a" if h["csim_accuracy"] is None else f"{h['csim_accuracy']:.4f}"
        text += [
            "",
            f"{h['artifact']}: C-simulation accuracy {acc}; "
            + (
                "synthesis: " + json.dumps(syn)
                if syn.get("run")
                else f"not synthesized ({syn.get('why', 'no vendor tool')})"
                + ("." if h.get("variant") == "rtl" else ": no latency or resource figures.")
            ),
        ]
    return text


def _rate(r) -> str:
    if r.get("gops") is None:
        return ""
    return f"{r['gops']:.2f}" + (
        f" ({r['peak_fraction']:.1%})" if r.get("peak_fraction") is not None else ""
    )


def fmt_us(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} us"
