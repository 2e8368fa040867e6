"""``edgezoo bench-fpga``: QKeras 6-bit + 75% pruned against HGQ2 (learned per-weight bits) on
FPGA figures measured without vendor tools, in one run.

For each model (default: jet_tagger with the jet_tagger recipe's settings and the mlp with the
demo's, both on the digits): the float model (accuracy; no RTL: da4ml needs fixed point), the
QKeras chain (prune 75% + 6-bit QAT) exported by :func:`export.targets.rtl.verilog.export_rtl`, and the HGQ2
step at each beta exported by :func:`export.targets.rtl.hgq.export_hgq_rtl` and
:func:`export.targets.hls4ml.hgq.export_hgq_hls4ml`. Every row gives accuracy, RTL latency (cycles), LUT/FF/DSP
(yosys ``synth_xilinx`` and da4ml's estimate, each named), weight bits and bit-exactness. A
small float CNN (default lenet5) goes through hls4ml ``io_stream`` and its C simulation. yosys
results are kept by the sha256 of the RTL's sources and reused for a byte-identical RTL (the
QKeras designs take ~12 min each here). The published rows (hls4ml tutorial, HGQ paper) are
jets on Vivado/Vitis; ours are digits on yosys.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

# settings of the recipes the rows follow (edgezoo/recipes/jet_tagger.yaml, demo.yaml)
SETTINGS = {
    "jet_tagger": {
        "train": {"epochs": 30, "batch_size": 1024, "learning_rate": 1e-3},
        "compress": {"prune": 0.75, "bits": 6, "epochs": 10},
        "recipe": "jet_tagger",
    },
    "mlp": {
        "train": {"epochs": 30, "batch_size": 64},
        # as demo.yaml: its chain also makes the HGQ2 twin of the pruned model (a tail schedule)
        "compress": {
            "prune": 0.75,
            "bits": 6,
            "epochs": 6,
            "hgq": {"epochs": 40, "beta1": 2e-5, "beta_end": 2e-6, "accuracy_budget": 0.006},
        },
        "recipe": "demo",
    },
}
PUBLISHED = [
    {
        "source": "hls4ml tutorial (jets, Vitis HLS 2024.1, xcu250, 5 ns)",
        "model": "QKeras 6-bit + pruned 75%, 64-32-32-5",
        "accuracy": 0.7612,
        "cycles": 12,
        "LUT": 42160,
        "DSP": 34,
    },
    {
        "source": "hls4ml tutorial (jets, Vitis HLS 2024.1, xcu250, 5 ns)",
        "model": "float 64-32-32-5",
        "accuracy": 0.7644,
        "cycles": 14,
        "LUT": 101839,
        "DSP": 1502,
    },
    {
        "source": "HGQ paper arXiv 2405.00645 Table I (jets, VU9P, 200 MHz), second-hand",
        "model": "HGQ-1",
        "accuracy": 0.764,
        "latency_ns": 30,
        "LUT": "0.53%",
        "DSP": "0.50%",
    },
    {
        "source": "HGQ paper arXiv 2405.00645 Table I (jets, VU9P, 200 MHz), second-hand",
        "model": "QKeras uniform 6-bit",
        "accuracy": 0.748,
        "latency_ns": 55,
        "LUT": "3.36%",
        "DSP": "1.8%",
    },
]


def _accuracy(y, labels) -> float:
    return float((np.asarray(y).argmax(-1) == np.asarray(labels).reshape(-1)).mean())


def _resources(rtl: dict) -> dict:
    out = {}
    for r in rtl["resources"]:
        key = "yosys" if "yosys" in r["source"] else "da4ml"
        out[key] = {k: r.get(k) for k in ("LUT", "FF", "DSP")}
    return out


# the HGQ2 rows' fine-tuning (measured on these digits; docs/hgq-fpga-bench.md): batch 64 (the
# recipes' 1024 leaves the jet_tagger 2 steps an epoch), Adam 3e-3, weights from 4 bits
HGQ_FIT = {"batch_size": 64, "learning_rate": 3e-3, "accuracy_budget": 0.03}


def rtl_sha256(rtl_dir: Path) -> str:
    """sha256 of an RTL project's sources (every file under ``src/``, names and bytes)."""
    h = hashlib.sha256()
    for p in sorted((Path(rtl_dir) / "src").rglob("*")):
        if p.is_file():
            h.update(p.relative_to(rtl_dir).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def synth_cached(rtl_dir: Path, cache: Path | None, yosys, say) -> dict:
    """yosys ``synth_xilinx`` of ``rtl_dir``, or the stored result of a byte-identical RTL (same
    sha256 of ``src/`` and same yosys version) from ``cache``; a new result is stored there."""
    from export.targets.rtl.tools import yosys_version
    from export.targets.rtl.yosys import synth_yosys

    key = f"{rtl_sha256(rtl_dir)}-yosys-{yosys_version()}".replace(" ", "_")
    hit = cache / f"{key}.json" if cache else None
    if hit is not None and hit.is_file():
        say(f"rtl: yosys result of the identical RTL reused ({hit.name[:16]}...)")
        return {**json.loads(hit.read_text()), "reused": str(hit)}
    syn = synth_yosys(rtl_dir, "model", yosys, 1800.0, say)
    if hit is not None and syn.get("run"):
        cache.mkdir(parents=True, exist_ok=True)
        hit.write_text(json.dumps({**syn, "rtl_sha256": key.split("-")[0]}, indent=1))
    return syn


def _with_synth(info: dict, syn: dict) -> dict:
    keep = [r for r in info["resources"] if "yosys" not in r["source"]]
    return {
        **info,
        "yosys": syn,
        "resources": keep + ([syn["resources"]] if syn.get("run") else []),
    }


def _float_or_train(model, dataset, out: Path, settings, say):
    from training import train
    from training.model_dir import load_run

    d = out / model / "float"
    if (d / "metrics.json").is_file():
        return d
    say(f"{model}: training the float model ...")
    train(model, dataset, out=d, verbose=0, force=True, **settings["train"])
    load_run(d)
    return d


def _qkeras_rows(model, float_dir: Path, out: Path, settings, yosys, cache, say) -> list:
    """The recipe's chain: the QKeras row, and the HGQ2 row of its ``hgq`` step if it has one."""
    from compress import compress
    from export.targets.rtl.verilog import export_rtl
    from training.model_dir import load_run, run_dataset

    say(f"{model}: the recipe's chain (prune 75% + 6-bit QAT ...) ...")
    chain = compress(float_dir, out=out / model / "qkeras", **settings["compress"])
    qdir = chain["qat"].dir
    qmodel, cfg = load_run(qdir)
    ds = run_dataset(cfg)
    say(f"{model}: QKeras RTL (da4ml, Verilator, yosys) ...")
    rtl_dir = out / model / "qkeras-rtl"
    res = export_rtl(qmodel, rtl_dir, x_profile=ds.x_train, x_test=ds.x_test, yosys=False)
    info = _with_synth(res.info, synth_cached(rtl_dir, cache, yosys, say))
    rep = qdir / "compression.json"
    bits = json.loads(rep.read_text())["model"]
    sim = info["rtl_simulation"]
    rows = [
        {
            "model": model,
            "row": "QKeras 6-bit + 75% pruned",
            "accuracy_keras": json.loads(rep.read_text())["after"].get("accuracy"),
            "accuracy_rtl": _accuracy(res.logits, ds.y_test),
            "cycles": info["latency"]["cycles"],
            "resources": _resources(info),
            "weight_bits": int(bits["nonzero_params"] * 6),
            "weight_bits_note": "non-zero parameters x 6 bits",
            "bit_exact": {"rtl_vs_da4ml_emulation": sim.get("bit_exact")},
            "yosys_seconds": info["yosys"].get("seconds"),
            "yosys_reused": info["yosys"].get("reused"),
        }
    ]
    if "hgq" in [step.name for step in chain.steps]:
        h = settings["compress"]["hgq"]
        row = f"HGQ2 of the pruned model, beta {h['beta1']:g}, tail {h['beta_end']:g}"
        rows.append(_hgq_measure(model, chain["hgq"].dir, out, row, "hgq-chain", yosys, cache, say))
    return rows


def _hgq_row(model, float_dir: Path, out: Path, beta: float, epochs: int, yosys, cache, say):
    from compress import compress

    say(f"{model}: HGQ2 beta1={beta:g} ...")
    hgq = {"beta0": 1e-6, "beta1": beta, "epochs": epochs, "batch_size": HGQ_FIT["batch_size"]}
    hgq["accuracy_budget"] = HGQ_FIT["accuracy_budget"]
    lr = HGQ_FIT["learning_rate"]
    chain = compress(float_dir, out=out / model / f"hgq-{beta:g}", hgq=hgq, learning_rate=lr)
    row = f"HGQ2 beta {beta:g}"
    return _hgq_measure(model, chain.final, out, row, f"hgq-{beta:g}", yosys, cache, say)


def _hgq_measure(model, hdir: Path, out: Path, row: str, tag: str, yosys, cache, say) -> dict:
    """The row of the HGQ2 model in ``hdir``: its RTL (Verilator, yosys) and hls4ml C sim."""
    from export.targets.hls4ml.hgq import export_hgq_hls4ml
    from export.targets.rtl.hgq import export_hgq_rtl
    from training.model_dir import load_run, run_dataset

    rep = json.loads((hdir / "compression.json").read_text())
    hmodel, cfg = load_run(hdir)
    ds = run_dataset(cfg)
    say(f"{model}: {row}: RTL (da4ml, Verilator, yosys) and hls4ml C sim ...")
    rtl_dir = out / model / f"{tag}-rtl"
    rtl = export_hgq_rtl(hmodel, rtl_dir, ds.x_test, yosys=False)
    rtl = _with_synth(rtl, synth_cached(rtl_dir, cache, yosys, say))
    hls = export_hgq_hls4ml(hmodel, out / model / f"{tag}-hls4ml", ds.x_test)
    return {
        "model": model,
        "row": row,
        "accuracy_keras": rep["after"].get("accuracy"),
        "accuracy_rtl": _accuracy(rtl["accuracy_outputs"], ds.y_test),
        "ebops": rep["ebops"],
        "bits_per_weight_mean": rep["bits_per_weight_mean"],
        "pruned_fraction": rep["pruned_fraction"],
        "cycles": rtl["latency"]["cycles"],
        "resources": _resources(rtl),
        "weight_bits": rep["weight_bits_total"],
        "bit_exact": {
            "rtl_vs_keras": rtl["rtl_simulation"]["vs_keras"]["mismatched_samples"] == 0,
            "hls4ml_csim_vs_keras": hls["csim"]["mismatched_samples"] == 0,
            "n": len(ds.x_test),
        },
        "yosys_seconds": rtl["yosys"].get("seconds"),
        "yosys_reused": rtl["yosys"].get("reused"),
    }


def _hls4ml_csim(float_dir: Path, dest: Path, hls4ml: dict) -> tuple[dict, dict]:
    """(parity, hls4ml info) of the float model's hls4ml project, from the export stage
    (``export_run``, target hls4ml): its g++ C simulation on the whole test split."""
    from export import export_run

    man = export_run(float_dir, to=("hls4ml",), out=dest, hls4ml=hls4ml)
    art = next(a for a in man["artifacts"] if a["format"] == "hls4ml" and a["variant"] == "fixed")
    return art["parity"], art["hls4ml"]


def _float_row(model, float_dir: Path, out: Path, say) -> dict:
    """The float model and its hls4ml project at ``precision auto`` (the smallest widths within
    the budget, every step C-simulated): the C simulation's accuracy. No RTL (da4ml needs a
    fixed-point model) and no LUTs (hls4ml synthesis needs Vivado)."""
    say(f"{model}: float, hls4ml precision auto (C simulation) ...")
    par, hls = _hls4ml_csim(float_dir, out / model / "float-hls4ml", {"precision": "auto"})
    return {
        "model": model,
        "row": f"float, hls4ml precision {hls['precision']['mode']} (C sim)",
        "accuracy_keras": par["keras_accuracy"],
        "accuracy_csim": par["accuracy"],
        "precision": hls["precision"],
        "bit_exact": {"csim_argmax_agreement": par["argmax_agreement"], "n": par["n"]},
        "rtl": "none (a float model: no da4ml RTL; hls4ml synthesis needs Vivado)",
    }


def _conv_row(model, dataset, out: Path, say) -> dict:
    """A small float CNN through hls4ml ``io_stream`` (profiled precision) and its g++ C
    simulation on the whole test split."""
    float_dir = _float_or_train(model, dataset, out, SETTINGS["mlp"], say)
    say(f"{model}: hls4ml io_stream C simulation ...")
    par, hls = _hls4ml_csim(float_dir, out / model / "hls4ml", {"io_type": "io_stream"})
    return {
        "model": model,
        "row": f"float, hls4ml {hls['io_type']} C sim (precision {hls['precision']['mode']})",
        "accuracy_keras": par["keras_accuracy"],
        "accuracy_csim": par["accuracy"],
        "bit_exact": {
            "csim_argmax_agreement": par["argmax_agreement"],
            "max_abs_diff": round(par["max_abs_diff"], 6),
            "n": par["n"],
        },
        "rtl": "none (float model; hls4ml C simulation only, no vendor tool here)",
    }


def bench_fpga(
    out,
    *,
    models=("jet_tagger", "mlp"),
    conv_models=("lenet5",),
    dataset: str = "digits",
    betas=(2e-5, 6e-5),
    hgq_epochs: int = 100,
    yosys="auto",
    yosys_cache=None,
    progress=None,
) -> dict:
    """The rows of every model; writes ``fpga.json`` and ``fpga.md`` into ``out``. yosys results
    are kept in ``yosys_cache`` (default ``out/yosys-cache``) by the RTL's sha256 and reused for
    a byte-identical RTL."""
    import os

    say = progress if callable(progress) else (lambda m: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, t0 = [], time.time()
    cache = Path(yosys_cache) if yosys_cache else out / "yosys-cache"
    for model in models:
        settings = SETTINGS.get(model, SETTINGS["mlp"])
        float_dir = _float_or_train(model, dataset, out, settings, say)
        rows.append(_float_row(model, float_dir, out, say))
        for beta in betas:
            rows.append(_hgq_row(model, float_dir, out, beta, hgq_epochs, yosys, cache, say))
            _write(out, rows, dataset, t0)
        rows.extend(_qkeras_rows(model, float_dir, out, settings, yosys, cache, say))
        _write(out, rows, dataset, t0)
    for model in conv_models:
        rows.append(_conv_row(model, dataset, out, say))
        _write(out, rows, dataset, t0)
    return _write(out, rows, dataset, t0, cpu=os.cpu_count())


def _write(out: Path, rows, dataset, t0, cpu=None) -> dict:
    from export.targets.rtl.tools import yosys_version

    res = {
        "dataset": dataset,
        "rows": rows,
        "published": PUBLISHED,
        "yosys": yosys_version(),
        "seconds": round(time.time() - t0, 1),
        "note": "published rows: jets on Vivado/Vitis; ours: digits on yosys synth_xilinx and "
        "da4ml's estimate (no vendor tool)",
    }
    (out / "fpga.json").write_text(json.dumps(res, indent=1))
    (out / "fpga.md").write_text(markdown(res))
    return res


def markdown(res: dict) -> str:
    head = (
        "| model | row | accuracy Keras / RTL | EBOPs | cycles | LUT yosys | FF yosys | DSP yosys "
        "| LUT da4ml | weight bits | bit-exact |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [f"FPGA figures on {res['dataset']} (yosys {res['yosys']}):", "", head]
    for r in res["rows"]:
        ys, da = r.get("resources", {}).get("yosys", {}), r.get("resources", {}).get("da4ml", {})
        acc = f"{r['accuracy_keras']:.4f}" + (
            f" / {r['accuracy_rtl']:.4f}" if "accuracy_rtl" in r else ""
        )
        if "accuracy_csim" in r:
            acc += f" / {r['accuracy_csim']:.4f} (C sim)"
        exact = ", ".join(f"{k} {v}" for k, v in r.get("bit_exact", {}).items())
        cells = [r["model"], r["row"], acc, r.get("ebops", "-"), r.get("cycles", "-")]
        cells += [ys.get("LUT", "-"), ys.get("FF", "-"), ys.get("DSP", "-"), da.get("LUT", "-")]
        cells += [r.get("weight_bits", "-"), exact or "-"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Published (jets, Vivado/Vitis; not comparable one to one):", ""]
    for p in res["published"]:
        lines.append(
            f"- {p['source']}: {json.dumps({k: v for k, v in p.items() if k != 'source'})}"
        )
    return "\n".join(lines) + "\n"
