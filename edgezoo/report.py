"""report.md for a pipeline run: every stage's figures, read back from the files the stages
wrote (metrics.json, compression.json, manifest.json, bench.json) -- nothing is re-typed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from export.manifest import Manifest, uninformative
from export.targets.tflm.tables import section as mcu_section
from zoo.core.io import write_text_atomic
from zoo.core.run_config import RunConfig
from zoo.core.tables import markdown_table


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _f(v, spec=".4f"):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return format(v, spec)
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _rel(path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


def bench_table(bench_paths) -> str:
    """One row per (model variant, artifact): size, test accuracy, batch-1 single-thread p50
    and the best batch throughput -- the figures a deployment decision needs."""
    rows = []
    for bpath in bench_paths:
        b = json.loads(Path(bpath).read_text())
        by_art: dict = {}
        for r in b["results"]:
            if "error" not in r:
                by_art.setdefault(r["artifact"], []).append(r)
        for art, rs in by_art.items():
            one = [r for r in rs if r["batch"] == 1 and r["runtime"] != "keras_predict"]
            best1 = min(one, key=lambda r: r["threads"]) if one else None
            big = [r for r in rs if r["batch"] > 1 and r["runtime"] != "keras_predict"]
            tput = max((r["throughput_sps"] for r in big), default=None)
            acc = next((r["accuracy"] for r in rs if r.get("accuracy") is not None), None)
            if any(r.get("changed") or r.get("note") for r in rs):  # not the verified file
                art = f"{art} (changed since export: unverified)"
            elif not all(r.get("verified", True) for r in rs):
                art = f"{art} (parity not passed)"
            rows.append(
                [
                    Path(bpath).parent.name,
                    art,
                    _f(rs[0]["bytes"]),
                    _f(acc),
                    "-" if best1 is None else _us(best1["p50_us"]),
                    "-" if tput is None else f"{tput:,.0f}",
                ]
            )
        for h in b.get("hls4ml", []):
            ws = h.get("weight_storage") or {}
            size = f"{ws['nonzero_bits'] // 8:,} (weights)" if ws.get("nonzero_bits") else "-"
            fpga = "see FPGA figures" if h.get("variant") == "rtl" else "not synthesized"
            rows.append(
                [
                    Path(bpath).parent.name,
                    h["artifact"],
                    size,
                    _f(h["csim_accuracy"]),
                    fpga if not h["synthesis"].get("run") else "see synthesis",
                    "-",
                ]
            )
    return markdown_table(
        rows,
        [
            "model",
            "artifact",
            "bytes",
            "test accuracy",
            "p50 batch 1, 1 thread",
            "best samples/s (batch > 1)",
        ],
        "llrrrr",
    )


def fpga_rows(exports, root: Path) -> list[list]:
    """Per FPGA artifact and figure source: simulation accuracy, RTL-simulation agreement, latency
    (cycles, ns), II, LUT/FF/DSP/BRAM -- each row says where its figures come from."""
    rows = []
    for mpath in exports:
        for a in Manifest.read(mpath).artifacts:
            if a.get("format") != "hls4ml" or "error" in a:
                continue
            model, p = Path(mpath).parent.name, a.get("parity", {})
            if a.get("variant") == "rtl":
                rtl = a["rtl"]
                sim, lat = rtl.get("rtl_simulation", {}), rtl["latency"]
                agree = (
                    (
                        f"bit-exact ({sim['n']}/{sim['n']})"
                        if sim.get("bit_exact")
                        else f"{sim['n'] - sim['mismatched_samples']}/{sim['n']} equal"
                    )
                    if sim.get("run")
                    else "not simulated"
                )
                for i, r in enumerate(rtl["resources"]):
                    src = r["source"] if i else f"{r['source']} (latency too)"
                    rows.append(
                        [
                            model,
                            "hls4ml rtl (Verilog)",
                            _f(p.get("accuracy")) + " (RTL sim)",
                            agree,
                            _f(lat["cycles"]),
                            _f(lat["ns"], ".1f"),
                            _f(lat["interval_cycles"]),
                            _f(r.get("LUT")),
                            _f(r.get("FF")),
                            _f(r.get("DSP")),
                            _f(r.get("BRAM_18K")),
                            src,
                        ]
                    )
                continue
            syn = a.get("synthesis") or {}
            if syn.get("run") and syn.get("latency_cycles"):
                res, lat = syn.get("resources", {}), syn["latency_cycles"]
                rows.append(
                    [
                        model,
                        "hls4ml fixed (HLS)",
                        _f(p.get("accuracy")) + " (C sim)",
                        "-",
                        _f(lat.get("best")),
                        _f(syn.get("latency_ns"), ".1f"),
                        _f((syn.get("interval_cycles") or {}).get("min")),
                        _f(res.get("LUT")),
                        _f(res.get("FF")),
                        _f(res.get("DSP")),
                        _f(res.get("BRAM_18K")),
                        syn.get("source", "Vivado report"),
                    ]
                )
            else:
                rows.append(
                    [
                        model,
                        "hls4ml fixed (HLS)",
                        _f(p.get("accuracy")) + " (C sim)",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        "not synthesized: " + str(syn.get("why", "no Vivado/Vitis")),
                    ]
                )
    return rows


FPGA_HEADERS = [
    "model",
    "artifact",
    "accuracy",
    "RTL sim vs emulation",
    "latency (cycles)",
    "latency (ns)",
    "II",
    "LUT",
    "FF",
    "DSP",
    "BRAM 18K",
    "source of the figures",
]


def fpga_section(exports, root: Path) -> list[str]:
    rows = fpga_rows(exports, root)
    if not rows:
        return []
    lines = [
        "## FPGA figures",
        "",
        markdown_table(rows, FPGA_HEADERS, "lllrrrrrrrrl"),
        "",
        'No vendor tool ran unless a row says "Vivado": "da4ml estimate" is da4ml\'s cost model of the '
        'Verilog it wrote (adders as LUTs, pipeline registers as FFs); "yosys synth_xilinx" is open-source '
        "synthesis of the same Verilog to Xilinx 7-series cells. The RTL's accuracy applies the softmax "
        "in software to the simulated logits.",
        "",
    ]
    for mpath in exports:
        for a in Manifest.read(mpath).artifacts:
            ps = a.get("precision_search") or {}
            if ps.get("searched"):
                from export.targets.hls4ml.search import summary_line

                lines += [
                    f"**Automatic precision ({Path(mpath).parent.name})**: "
                    + summary_line(a)[len("precision auto: ") :],
                    "",
                    f"![precision search]({_rel(Path(mpath).parent / ps['plot'], root)})",
                    "",
                ]
            elif ps:
                lines += [
                    f"Automatic precision ({Path(mpath).parent.name}): not searched ({ps.get('why')}).",
                    "",
                ]
    return lines


def _us(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} us"


def _exports(out: Path, name: str) -> list[Path]:
    """The export directories' ``name`` files (manifest.json, bench.json), sorted."""
    return sorted((out / "export").glob(f"*/{name}")) if (out / "export").exists() else []


def _title(ident: dict, cfg: RunConfig | None) -> list[str]:
    vers = cfg.versions if cfg else {}
    return [
        f"# edgezoo report: {ident['model']} on {ident['dataset']}",
        "",
        f"Versions: {', '.join(f'{k} {v}' for k, v in vers.items())}.",
        "",
    ]


def _stages(state: dict) -> list[str]:
    stage_rows = [
        [name, s.get("status"), _f(s.get("seconds"), ".1f")] for name, s in state["stages"].items()
    ]
    return ["## Stages", "", markdown_table(stage_rows, ["stage", "status", "seconds"], "llr"), ""]


def _imported_line(imp: dict, cfg: RunConfig) -> str:
    """Where an imported model came from (``edgezoo import``: no training history)."""
    check = imp.get("output_check")
    return (
        f"Imported from `{imp.get('file')}` ({imp.get('format')}, written by Keras "
        f"{imp.get('keras_version') or '?'}; sha256 {str(imp.get('sha256'))[:12]}...): "
        f"{imp.get('route')}; task {cfg.task}."
        + (
            f" Keras 3 vs. tf-keras outputs: max|diff| {check['max_abs_diff']:.2e} on "
            f"{check['n']} test samples."
            if check
            else ""
        )
    )


def _training(cfg: RunConfig | None, metrics: dict) -> list[str]:
    """## Training (or ## Imported model): the model, its data and its test metrics."""
    if cfg is None:
        return []
    data, imp = cfg.data, cfg.imported
    lines = [
        "## Imported model" if imp else "## Training",
        "",
        f"{cfg.model} ({metrics.get('params') or cfg.card.get('params', 0):,} parameters) on "
        f"{cfg.dataset}: "
        f"{data.get('n_train')} train / {data.get('n_val')} val / {data.get('n_test')} test samples, "
        f"input {data.get('input_shape')}, seed {cfg.seed}.",
    ]
    if imp:  # the origin follows the description in the same paragraph, then a blank line
        lines += [_imported_line(imp, cfg), ""]
    lines.append("")
    rows = [
        [k, _f(v)]
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    lines += [markdown_table(rows, ["test metric", "value"], "lr"), ""]
    if not imp:
        lines += ["![training history](train/history.png)", ""]
    return lines


def _compression(out: Path) -> list[str]:
    comp = _load(out / "compress" / "compression.json")
    if not comp:
        return []
    metric = comp.get("metric", "accuracy")
    rows = [
        [
            r.get("stage"),
            _f(r.get(metric)),
            _f(r.get("params")),
            _f(r.get("nonzero_params")),
            _f(r.get("sparsity"), ".3f"),
            _f(r.get("bits_per_weight"), ".1f"),
            _f(r.get("size_bytes_nonzero") or r.get("size_bytes")),
            _f(r.get("bops")),
        ]
        for r in comp.get("rows", [])
    ]
    headers = [
        "step",
        metric,
        *"params|non-zero|sparsity|bits/weight|bytes (non-zero)|BOPs".split("|"),
    ]
    return ["## Compression", "", markdown_table(rows, headers, "lrrrrrrr"), ""]


PARITY_HEADERS = (
    "model|format|variant|bytes|max abs diff|accuracy|accuracy delta|argmax agreement|check"
).split("|")


def _parity_row(model: str, a: dict) -> list:
    p = a.get("parity", {})
    return [
        model,
        a.get("format"),
        a.get("variant"),
        _f(a.get("bytes")),
        _f(p.get("max_abs_diff"), ".2e"),
        _f(p.get("accuracy")),
        _f(p.get("accuracy_delta"), "+.4f"),
        _f(p.get("argmax_agreement")),
        "FAIL"
        if not p.get("passed", True)
        else "pass (uninformative)"
        if p.get("informative") is False
        else "pass",
    ]


def _export_parity(out: Path, exports: list[Path]) -> list[str]:
    """Every exported artifact's parity against Keras, warnings, then the FPGA and MCU tables."""
    if not exports:
        return []
    rows, warnings_ = [], []
    for mpath in exports:
        man = Manifest.read(mpath)
        rows += [_parity_row(mpath.parent.name, a) for a in man.artifacts]
        warn = uninformative(man)
        if warn and warn not in warnings_:
            warnings_.append(warn)
    lines = [
        "## Export parity (test split, against the source Keras model)",
        "",
        markdown_table(rows, PARITY_HEADERS, "lllrrrrrl"),
        "",
    ]
    if warnings_:  # a pass against a near-constant reference proves little
        lines += [f"> **Warning:** {w}" for w in warnings_] + [""]
    lines += fpga_section(exports, out)
    lines += mcu_section(exports)  # export/targets/tflm/tables.py: arena, flash, fits
    return lines


def _summary(out: Path, ident: dict, benches: list[Path]) -> list[str]:
    """The accuracy/size table of every variant and its Pareto plot (written here)."""
    if not benches:
        return []
    from export.bench import accuracy_size_points, plot_pareto

    pts, first = {}, None
    for bpath in benches:
        b = json.loads(bpath.read_text())
        first = first or b
        pts.update(accuracy_size_points(b, prefix=f"{bpath.parent.name}/"))
    plot_pareto(
        first,
        out / "pareto.png",
        points=pts,
        title=f"{ident['model']} on {ident['dataset']}: accuracy vs. size, every variant",
    )
    return [
        "## Summary",
        "",
        bench_table(benches),
        "",
        "![accuracy vs. size](pareto.png)",
        "",
        "Sizes are the artifact files; for hls4ml, the non-zero weights at their fixed-point "
        "widths. A QKeras model exported to ONNX/TFLite keeps its quantizers as float operations, "
        "so those files are not smaller than the float model's: on a phone the size comes from "
        "TFLite int8, on an FPGA from the hls4ml fixed-point types.",
        "",
    ]


def _benchmark(out: Path, bpath: Path) -> list[str]:
    """### one export directory's bench: conditions, its bench.md body, its plots."""
    b = json.loads(bpath.read_text())
    c = b["conditions"]
    md = bpath.parent / "bench.md"
    body = md.read_text().split("\n", 2)[-1] if md.exists() else ""
    return [
        f"### {bpath.parent.name}",
        "",
        f"{c['cpu']}, {c['cores']} cores; batch {b['method']['batches']}, threads "
        f"{b['method']['threads']}; warm-up {b['method']['warmup']}, budget "
        f"{b['method']['budget_s']} s per measurement.",
        "",
        body.strip(),
        "",
        f"![latency]({_rel(bpath.parent / 'latency.png', out)}) "
        f"![accuracy vs size]({_rel(bpath.parent / 'pareto.png', out)})",
        "",
    ]


def _benchmarks(out: Path, benches: list[Path]) -> list[str]:
    if not benches:
        return []
    return ["## Inference benchmarks", ""] + [ln for b in benches for ln in _benchmark(out, b)]


def write_report(out: Path, state: dict) -> Path:
    """report.md: one named section builder after another, each reading its stage's files."""
    out = Path(out)
    ident = state["identity"]
    cfg = RunConfig.read(out / "train") if (out / "train" / "config.json").is_file() else None
    metrics = _load(out / "train" / "metrics.json") or {}
    exports = _exports(out, "manifest.json")
    benches = _exports(out, "bench.json")
    sections = [
        _title(ident, cfg),
        _stages(state),
        _training(cfg, metrics),
        _compression(out),
        _export_parity(out, exports),
        _summary(out, ident, benches),
        _benchmarks(out, benches),
    ]
    lines = [ln for section in sections for ln in section]
    return write_text_atomic(out / "report.md", "\n".join(lines) + "\n")
