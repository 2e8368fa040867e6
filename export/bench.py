"""``edgezoo bench EXPORT_DIR``: measure every artifact of a manifest; write bench.json,
bench.md and plots (latency per runtime and variant; accuracy vs. size Pareto front)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export import best
from export.bench_markdown import markdown
from export.common import pareto_front
from export.manifest import Manifest
from export.runtime_bench import conditions, run_isolated
from export.targets import runtimes
from export.targets.tflm import tables as tflm_tables
from zoo.core.io import atomic_path
from zoo.core.io import write_text_atomic as _write
from zoo.core.options import OptionError, option, validate
from zoo.core.run_config import RunConfig

RUNTIME_OF = runtimes()  # {target: the CPU runtime its artifacts are measured with}


@dataclass
class BenchOptions:
    """How each artifact is measured: keyword arguments of :func:`bench_export`, the recipe's
    ``bench:`` section and the flags of ``edgezoo bench``, declared once (:mod:`zoo.core.options`)."""

    batches: tuple[int, ...] = option((1, 256), "batch sizes", min=1, metavar="N,N")
    threads: tuple[int, ...] = option((1, 0), "thread counts (0 = all cores)", min=0, metavar="N,N")
    budget_s: float = option(
        1.0, "seconds per measurement (after warm-up)", min=1e-3, flag="--budget", metavar="S"
    )
    runs: int = option(2000, "at most this many timed calls per measurement", min=1, metavar="N")
    warmup: int = option(10, "untimed calls before each measurement", min=0, metavar="N")

    def check(self):
        for name in ("batches", "threads"):
            if not getattr(self, name):
                raise OptionError(f"bench.{name} must be a non-empty list. Received: {name}=[]")


def bench_export(
    export_dir, *, out=None, progress=print, allow_changed: bool = False, on_step=None, **options
) -> dict:
    """Benchmark every artifact listed in ``EXPORT_DIR/manifest.json`` plus the Keras source.

    ``threads``: 1 = one thread, 0 = all cores. Returns the bench.json content. The manifest is
    checked first (:func:`export.manifest.load_manifest`): an artifact or source model whose
    sha256 or size differs is an error, or with ``allow_changed`` a row marked "changed since
    export": measured, but never "verified" nor "best". The export directory is locked (shared)
    while its files are measured, so no export replaces it meanwhile; the hashes are checked under
    that lock and again after measuring (a change meanwhile: an error, or with ``allow_changed``
    rows marked changed). ``out`` (default: the export directory) is claimed and locked while
    writing.
    ``on_step(label, done, total, info)`` is called before and after each artifact's measurements.
    ``options``: :class:`BenchOptions` (batches, threads, budget_s, runs, warmup).
    """
    from zoo.core.claim import own_dir
    from zoo.core.paths import check_writable

    o = validate(BenchOptions, options, where="bench")
    export_dir = Path(export_dir)
    if not (export_dir / "manifest.json").exists():  # before any directory is claimed
        raise FileNotFoundError(
            f"{export_dir} has no manifest.json: run `edgezoo export RUN_DIR` first."
        )
    out = check_writable(Path(out or export_dir))
    with own_dir(out, "bench", command=f"bench {export_dir}"), _reading(export_dir, out):
        # under the lock: no export can replace the files between this check and the measurement
        manifest, src_dir, changed = _checked(export_dir, allow_changed)
        data = _bench(
            export_dir,
            manifest,
            src_dir,
            changed,
            batches=o.batches,
            threads=o.threads,
            budget_s=o.budget_s,
            runs=o.runs,
            warmup=o.warmup,
            progress=progress,
            on_step=on_step,
        )
        _recheck(export_dir, manifest, data, allow_changed)
        _write_outputs(data, out)
        return data


def _checked(export_dir: Path, allow_changed: bool):
    from export.manifest import load_manifest

    return load_manifest(export_dir, allow_changed=allow_changed)


def _reading(export_dir: Path, out: Path):
    """A shared lock on the export directory while its files are measured (an export replacing
    it takes the exclusive lock): no-op when ``out`` is the export directory (locked already)."""
    import contextlib

    from zoo.core.locks import lock_dir
    from zoo.core.paths import LOCK

    if out.resolve() == export_dir.resolve():
        return contextlib.nullcontext()
    lock = export_dir / LOCK
    if not os.access(lock if lock.exists() else export_dir, os.W_OK):
        # read-only for this user (a shared export): no lock to take; the hashes taken again
        # after measuring still catch a change
        return contextlib.nullcontext()
    return lock_dir(export_dir, f"bench {export_dir} (reading)", shared=True)


def _recheck(export_dir: Path, manifest: Manifest, data: dict, allow_changed: bool):
    """The artifacts' hashes again, after measuring: a file that changed meanwhile makes its
    figures another model's. Without ``allow_changed`` that is an error (nothing written);
    with it, the rows are marked changed and unverified."""
    from export.manifest import CHANGED, ManifestError, changed_files

    now = changed_files(export_dir, manifest)
    new = {k: v for k, v in now.items() if k not in data["changed_since_export"]}
    if not new:
        return
    if not allow_changed:
        first = next(iter(new.items()))
        raise ManifestError(
            f"{len(new)} file(s) of {export_dir} changed while they were measured ({first[0]}: "
            f"{first[1]}): the figures would not be the exported model's, so none are written. "
            "Run the bench again once nothing writes the export directory."
        )
    data["changed_since_export"].update(new)
    data["changed_during_bench"] = new
    for r in data["results"]:
        if r.get("path_key") in new or "source" in new:
            r.update(note=CHANGED, changed=True, verified=False)


def _bench(
    export_dir: Path,
    manifest: Manifest,
    src_dir: Path,
    changed: dict,
    *,
    batches,
    threads,
    budget_s,
    runs,
    warmup,
    progress,
    on_step=None,
) -> dict:
    from training.model_dir import load_run, run_dataset

    model, cfg = load_run(src_dir)
    macs = _macs(model)
    ds = run_dataset(cfg)
    classification = cfg.task == "classification"
    method = dict(batches=batches, threads=threads, budget_s=budget_s, runs=runs, warmup=warmup)
    with tempfile.TemporaryDirectory(prefix="edgezoo-bench-") as tmp:
        xs_path, ys_path = Path(tmp) / "x.npy", Path(tmp) / "y.npy"
        np.save(xs_path, ds.x_test.astype(np.float32))
        if classification:
            np.save(ys_path, ds.y_test)
        inputs = {"inputs": str(xs_path), "labels": str(ys_path) if classification else None}
        jobs = _jobs(export_dir, manifest, src_dir, changed, cfg)
        results = []
        for i, job in enumerate(jobs):
            specs, rows = _measurements(job, inputs, method)
            progress(f"  bench {job['name']}: {len(specs)} measurements")
            if on_step is not None:
                on_step("bench", i, len(jobs), f"{job['name']}: {len(specs)} measurements")
            for row, stats in zip(rows, run_isolated(specs)):
                results.append({**row, **stats})
            if on_step is not None:
                on_step("bench", i + 1, len(jobs), job["name"])
    data = {
        "export_dir": str(export_dir),
        "model": cfg.model,
        "dataset": cfg.dataset,
        "n_test": int(len(ds.x_test)),
        "conditions": _conditions(threads),
        "method": {
            "warmup": warmup,
            "runs": runs,
            "budget_s": budget_s,
            "batches": list(batches),
            "threads": [t or os.cpu_count() for t in threads],
            "isolation": "one child process per measurement; peak RSS is that process's",
        },
        "results": results,
        "hls4ml": _hls_rows(manifest),
        "mcu": tflm_tables.rows(manifest, cfg.model),  # TFLM arena/flash: no CPU runtime
        "changed_since_export": changed,
    }
    best.add_rates(data, macs)
    return data


def _jobs(
    export_dir: Path, manifest: Manifest, src_dir: Path, changed: dict, cfg: RunConfig
) -> list:
    """What to measure: the Keras source, then every artifact of a target with a CPU runtime
    (the registry's ``runtime``), each with the runtimes it runs in."""
    world = cfg.world
    jobs = [
        {
            "name": "keras",
            "format": "keras",
            "variant": world == "tf_keras" and "qkeras" or "fp32",
            "path": str(src_dir / "model.keras"),
            "bytes": (src_dir / "model.keras").stat().st_size,
            "runtimes": ["keras", "keras_predict"],
            "world": world,
            "hgq": cfg.hgq,
            "changed": "source" in changed,
            "verified": "source" not in changed,
            "path_key": "source",
        }
    ]
    for art in manifest.artifacts:
        fmt = art["format"]
        if fmt not in RUNTIME_OF or "error" in art:
            continue
        path = export_dir / art["path"]  # relative, inside: checked by load_manifest
        jobs.append(
            {
                "name": f"{fmt}-{art['variant']}",
                "format": fmt,
                "variant": art["variant"],
                "path": str(path),
                "bytes": art["bytes"] if path.is_dir() else path.stat().st_size,
                "runtimes": [RUNTIME_OF[fmt]],
                "changed": art["path"] in changed or "source" in changed,
                # a changed file is not the one parity verified: never "verified"
                "verified": bool(art.get("parity", {}).get("passed"))
                and art["path"] not in changed
                and "source" not in changed,
                "path_key": art["path"],
            }
        )
    return jobs


def _measurements(job: dict, inputs: dict, method: dict) -> tuple[list[dict], list[dict]]:
    """(specs for :func:`export.runtime_bench.run_isolated`, the result rows they fill) of one
    job: each runtime x batch x thread count (``keras_predict`` at the first thread count only:
    it runs the same engine as ``model(x)``); accuracy at the first batch size."""
    from export.manifest import CHANGED

    batches, threads = method["batches"], method["threads"]
    specs, rows = [], []
    for runtime in job["runtimes"]:
        for batch in batches:
            for th in threads:
                if runtime == "keras_predict" and th != threads[0]:
                    continue
                specs.append(
                    {
                        "runtime": runtime,
                        "path": job["path"],
                        "inputs": inputs["inputs"],
                        "labels": inputs["labels"] if batch == batches[0] else None,
                        "batch": int(batch),
                        "threads": int(th),
                        "budget_s": method["budget_s"],
                        "runs": method["runs"],
                        "warmup": method["warmup"],
                        "world": job.get("world"),
                        "hgq": job.get("hgq", False),
                    }
                )
                rows.append(
                    {
                        "artifact": job["name"],
                        "format": job["format"],
                        "variant": job["variant"],
                        "runtime": runtime,
                        "batch": int(batch),
                        "threads": int(th) or os.cpu_count(),
                        "bytes": job["bytes"],
                        "verified": job["verified"],
                        "path_key": job["path_key"],
                        **({"note": CHANGED, "changed": True} if job["changed"] else {}),
                    }
                )
    return specs, rows


def _hls_rows(manifest: Manifest) -> list[dict]:
    """The hls4ml artifacts (no CPU runtime): C-simulation accuracy and synthesis figures."""
    return [
        {
            "artifact": f"hls4ml-{a['variant']}",
            "variant": a["variant"],
            "bytes": a.get("bytes"),
            "weight_storage": (a.get("hls4ml") or {}).get("weight_storage"),
            "csim_accuracy": a.get("parity", {}).get("accuracy"),
            "synthesis": a.get("synthesis")
            or {"run": False, "why": "no vendor tool (Vivado/Vitis) on PATH"},
        }
        for a in manifest.artifacts
        if a["format"] == "hls4ml" and "error" not in a
    ]


def _write_outputs(data: dict, out: Path):
    for r in data["results"]:
        r.pop("path_key", None)
    _write(out / "bench.json", json.dumps(data, indent=2) + "\n")
    _write(out / "bench.md", markdown(data) + "\n")
    plot_latency(data, out / "latency.png")
    plot_pareto(data, out / "pareto.png")


def _macs(model) -> int | None:
    try:
        from compress.metrics import model_stats

        return int(model_stats(model)["macs"]) or None
    except Exception:  # noqa: BLE001 - a model the counter does not know: no GOP/s column
        return None


def _conditions(threads) -> dict:
    from export.peak import gemm_peaks

    c = conditions()
    c["gemm_peak"] = {str(t or os.cpu_count()): gemm_peaks(t) for t in threads}
    return c


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latency(data: dict, path: Path):
    """p50 latency (whisker to p90) per artifact, runtime and thread count; one panel per batch."""
    plt = _plt()
    ok = [r for r in data["results"] if "p50_us" in r]
    batches = sorted({r["batch"] for r in ok})
    if not batches:  # nothing was measured (every row holds its error): no plot to draw
        return None
    n = max((sum(r["batch"] == b for r in ok) for b in batches), default=1)
    fig, axes = plt.subplots(
        1, len(batches), figsize=(6.5 * len(batches), 1.2 + 0.28 * n), squeeze=False
    )
    for ax, batch in zip(axes[0], batches):
        rows = [r for r in ok if r["batch"] == batch]
        labels = [f"{r['artifact']} | {r['runtime']} | {r['threads']} thr" for r in rows]
        p50 = [r["p50_us"] for r in rows]
        err = [[0] * len(rows), [r["p90_us"] - r["p50_us"] for r in rows]]
        colors = [_color(r["runtime"]) for r in rows]
        ax.barh(range(len(rows)), p50, xerr=err, color=colors)
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.set_xscale("log")
        ax.set(xlabel="latency p50 in us (log scale; whisker to p90)", title=f"batch {batch}")
        ax.invert_yaxis()
    fig.suptitle(f"{data['model']} on {data['dataset']}: latency per runtime and variant")
    fig.tight_layout()
    _save(fig, path, plt)


# Keras gray, then one color per CPU runtime in the registry's order (onnxruntime blue, LiteRT
# orange, OpenVINO green)
PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _color(runtime: str) -> str:
    if runtime.startswith("keras"):
        return "tab:gray"
    order = list(dict.fromkeys(RUNTIME_OF.values()))
    return PALETTE[order.index(runtime) % len(PALETTE)] if runtime in order else "tab:olive"


def accuracy_size_points(data: dict, prefix: str = "") -> dict:
    """{label: (bytes, accuracy)} of a bench.json: runtime artifacts by file size, hls4ml by
    the size of its non-zero weights at their fixed-point widths."""
    pts = {}
    for r in data["results"]:
        if r.get("accuracy") is not None and f"{prefix}{r['artifact']}" not in pts:
            pts[f"{prefix}{r['artifact']}"] = (r["bytes"], r["accuracy"])
    for h in data.get("hls4ml", []):
        ws = h.get("weight_storage") or {}
        if h.get("csim_accuracy") is not None and ws.get("nonzero_bits"):
            pts[f"{prefix}{h['artifact']} (weights)"] = (
                ws["nonzero_bits"] // 8,
                h["csim_accuracy"],
            )
    return pts


def plot_pareto(data: dict, path: Path, points: dict | None = None, title: str | None = None):
    """Accuracy vs. size; the Pareto front (smaller and more accurate) marked and joined."""
    plt = _plt()
    points = points if points is not None else accuracy_size_points(data)
    names = list(points)
    pts = [points[n] for n in names]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:blue", zorder=2)
        front = pareto_front(pts)
        ax.plot(
            [pts[i][0] for i in front],
            [pts[i][1] for i in front],
            "r--o",
            zorder=3,
            label="Pareto front (smaller, more accurate)",
        )
        for rank, (n, (s, a)) in enumerate(sorted(zip(names, pts), key=lambda t: t[1][0])):
            ax.annotate(
                n,
                (s, a),
                fontsize=7,
                rotation=30,
                xytext=(3, 4 + 7 * (rank % 3)),
                textcoords="offset points",
            )
        accs = [p[1] for p in pts]
        pad = max(0.01, (max(accs) - min(accs)) * 0.3)
        ax.set_ylim(min(accs) - pad, min(1.0, max(accs) + 2 * pad) if max(accs) < 1 else 1.0 + pad)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xscale("log")
    ax.set(
        xlabel="size in bytes (log scale)",
        ylabel="test accuracy",
        title=title or f"{data['model']}: accuracy vs. size",
    )
    fig.tight_layout()
    _save(fig, path, plt)


def _save(fig, path: Path, plt):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
