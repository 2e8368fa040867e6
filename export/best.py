"""Which artifact and runtime settings to deploy: the "best" table of ``edgezoo bench``.

For every batch size the fastest *verified* artifact (its manifest parity passed; the Keras
source counts as verified) is named with the settings it ran with, and every other
artifact/runtime is listed at its own best thread count with why it loses: how many times slower
it is, and how much of the machine's measured GEMM peak (fp32 for float artifacts, int8 for
int8 ones; :mod:`export.peak`) it reaches -- a small model's layers rarely keep the matrix units
busy, and per-op overhead (quantize/dequantize, layout changes, non-fused activations) is the
usual reason an int8 artifact is not faster. Unverified artifacts, and artifacts (or a source
model) changed since the export (``bench --allow-changed``), are never "best".

Rates: achieved GOP/s = 2 x MACs per sample x samples/s (MACs of the Keras model's Conv/Dense
layers, :func:`compress.metrics.model_stats`).
"""

from __future__ import annotations

INT8 = ("int8",)


def add_rates(data: dict, macs: int | None) -> None:
    """Set ``gops`` (and ``peak_fraction`` where a peak was probed) on every result of ``data``."""
    data["macs_per_sample"] = macs
    peaks = (data.get("conditions") or {}).get("gemm_peak") or {}
    for r in data["results"]:
        if "throughput_sps" not in r or not macs:
            continue
        r["gops"] = 2.0 * macs * r["throughput_sps"] / 1e9
        peak = peaks.get(str(r["threads"]))
        if peak:
            key = "ort_int8_gops" if r["variant"] in INT8 else "ort_fp32_gflops"
            r["peak_gops"] = peak[key]
            r["peak_fraction"] = r["gops"] / peak[key]


def best_rows(data: dict) -> list[dict]:
    """One dict per (batch, artifact, runtime) at its fastest thread count, sorted by batch and
    speed; ``best`` marks the fastest verified one of each batch, ``why`` says why others lose."""
    out = []
    ok = [r for r in data["results"] if "throughput_sps" in r and r["runtime"] != "keras_predict"]
    for batch in sorted({r["batch"] for r in ok}):
        per: dict = {}
        for r in (r for r in ok if r["batch"] == batch):
            key = (r["artifact"], r["runtime"])
            if key not in per or r["throughput_sps"] > per[key]["throughput_sps"]:
                per[key] = r
        rows = sorted(per.values(), key=lambda r: -r["throughput_sps"])
        best = next((r for r in rows if r.get("verified", True) and not r.get("changed")), None)
        for r in rows:
            row = {
                "batch": batch,
                "artifact": r["artifact"],
                "runtime": r["runtime"],
                "threads": r["threads"],
                "samples_s": r["throughput_sps"],
                "p50_us": r["p50_us"],
                "gops": r.get("gops"),
                "peak_fraction": r.get("peak_fraction"),
                "settings": r.get("settings", {}),
                "verified": r.get("verified", True) and not r.get("changed"),
                "changed": bool(r.get("changed")),
                "best": r is best,
            }
            row["why"] = "fastest verified" if r is best else _why(r, best)
            out.append(row)
    return out


def _why(r: dict, best: dict | None) -> str:
    if r.get("changed"):
        return "changed since export (not the file parity verified): never chosen"
    if not r.get("verified", True):
        return "parity not passed: never chosen"
    if best is None:
        return ""
    ratio = best["throughput_sps"] / r["throughput_sps"]
    why = [f"{ratio:.2f}x fewer samples/s than {best['artifact']} ({best['runtime']})"]
    if r.get("peak_fraction") is not None:
        kind = "int8" if r["variant"] in INT8 else "fp32"
        why.append(f"{r['peak_fraction']:.0%} of the {kind} GEMM peak")
    if r["variant"] in INT8 and best["variant"] not in INT8:
        why.append(
            "int8 yet slower than fp32: time goes to work other than its integer GEMMs "
            "(quantize/dequantize, layout changes, float activations)"
        )
    return "; ".join(why)


def markdown(data: dict) -> str:
    """The "best" table and the GEMM-peak line for bench.md."""
    from zoo.core.tables import markdown_table

    rows = []
    for r in best_rows(data):
        rate = "-" if r["gops"] is None else f"{r['gops']:.2f}"
        frac = "-" if r["peak_fraction"] is None else f"{r['peak_fraction']:.1%}"
        name = f"**{r['artifact']}**" if r["best"] else r["artifact"]
        name += " (changed since export)" if r["changed"] else ""
        sets = ", ".join(f"{k}={v}" for k, v in r["settings"].items() if k not in ("provider",))
        rows.append(
            [
                r["batch"],
                name,
                r["runtime"],
                r["threads"],
                f"{r['samples_s']:,.0f}",
                f"{r['p50_us']:.1f}",
                rate,
                frac,
                r["why"],
                sets if r["best"] else "",
            ]
        )
    lines = [
        "### Best per batch size",
        "",
        markdown_table(
            rows,
            [
                "batch",
                "artifact",
                "runtime",
                "threads",
                "samples/s",
                "p50 us",
                "GOP/s",
                "of peak",
                "why",
                "settings (best)",
            ],
            "rllrrrrrll",
        ),
    ]
    peaks = (data.get("conditions") or {}).get("gemm_peak") or {}
    for th, p in sorted(peaks.items(), key=lambda kv: int(kv[0])):
        lines += [
            "",
            f"GEMM peak, {th} thread(s), {'x'.join(map(str, p['shape']))} (best of {p['repeats']}): "
            f"onnxruntime fp32 {p['ort_fp32_gflops']:.1f} GFLOP/s, int8 (MatMulInteger u8s8) "
            f"{p['ort_int8_gops']:.1f} GOP/s ({p['int8_over_fp32']:.1f}x), numpy fp32 "
            + ("-" if p.get("numpy_fp32_gflops") is None else f"{p['numpy_fp32_gflops']:.1f}")
            + " GFLOP/s.",
        ]
    if data.get("macs_per_sample"):
        lines += [
            "",
            f"MACs per sample (Keras Conv/Dense layers): {data['macs_per_sample']:,}; "
            "GOP/s = 2 x MACs x samples/s.",
        ]
    return "\n".join(lines)
