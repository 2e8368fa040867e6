"""Automatic fixed-point precision for hls4ml (``precision="auto"``, ``--precision auto``).

Three modules: this one (the phases, the choice, its record and plot), :mod:`.candidates` (one
step: a set of widths C-simulated or emulated) and :mod:`.emulator` (the numpy model of the
hls4ml types, which must round and saturate exactly as the C simulation does).

The search starts from the profiled ranges of :mod:`.profile` (integer bits from the largest
magnitude seen on training data, per layer) and looks for the smallest widths whose
bit-accurate hls4ml C simulation keeps test accuracy within ``accuracy_budget`` of the Keras
model. By default (``precision_check="csim"``) every candidate is converted, compiled (g++ -O1)
and C-simulated on the whole test split -- no step is guessed or emulated -- and the choice is
the recorded step with the fewest weight bits within the budget, whose project is kept and
exported as is (never compiled twice). With ``auto_jobs=2`` two candidates are evaluated per
round and their g++ builds run in parallel (separate project directories; hls4ml gives each
library a unique stamp and loads it ``RTLD_LOCAL``), while conversion, writing and simulation,
which swap process-wide state (``keras`` module, stdout), run one at a time. The default is 1:
on a 2-core machine shared with other work the two builds share one core, and the three-way
split needs more candidates than bisection (LeNet-5 on digits: search 313 s with 2 jobs, 220 s
with 1; jet_tagger: 147 s vs 117 s). The phases:

1. the hand-set baseline: 16-bit profiled precision everywhere (weights and activations);
2. the global weight width (weights and biases), activations at 16 bits: bisection of
   (1, 16], or with two jobs a three-way split, both probes built at once;
3. the same for the global activation width (layer results), at the weight width found;
4. per-layer greedy: each weighted layer (largest first) loses weight bits while the accuracy
   stays within the budget (with two jobs, one and two bits fewer are tried at once).

``auto_max_steps`` bounds the number of candidates (C simulations). ``precision_check="emulate"``
(dense graphs only) is the opt-in fast path: candidates run on :func:`export.targets.hls4ml.emulator.emulate`, a numpy model of
the hls4ml types; the baseline is C-simulated and must agree (else every further step is
C-simulated), and the choice is C-simulated before it is accepted (``confirmations``).

Accumulators are not searched: they stay hls4ml's ``auto``, the exact accumulator type inferred
from each layer's input and weight types (integer and fraction bits grow with the products and
the number of terms), so they never round or overflow and shrink by themselves as the searched
input and weight widths do; a narrower accumulator could only add error that the result width
then rounds again. Each step records every layer's resulting types, accumulator included.
Softmax tables keep their own types (:mod:`export.targets.hls4ml.config`).

Every step is recorded (widths, how it was evaluated, C-sim accuracy and drop, total and
non-zero weight bits, a bit-operation estimate ``BOPs = sum(non-zero weights x weight bits x
input bits)``, seconds), and the Pareto front (total weight bits vs accuracy) is plotted. Only
classifiers with labels can be searched (the criterion is test accuracy).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from export.common import pareto_front
from export.targets.hls4ml.candidates import BASELINE_WIDTH, MIN_RESULT, MIN_WEIGHT, Search
from export.targets.hls4ml.emulator import NotEmulated
from zoo.core.io import atomic_path
from zoo.core.transaction import scratch_beside


def search(model, world: str, data, opts, scratch: Path, progress=None, keep: Path | None = None):
    """Run the search; returns (the chosen HlsOptions with precision="profile", the record, the
    C-simulated project of the choice kept in ``keep`` or None)."""
    scratch = Path(scratch)  # the caller's fresh directory: this call fills it and removes it
    scratch.mkdir(parents=True, exist_ok=True)
    s = Search(model, world, data, opts, scratch, progress)
    t0 = time.perf_counter()
    try:
        base_opts = {"width": BASELINE_WIDTH, "weight_width": BASELINE_WIDTH}
        try:
            base = s.run("baseline: 16-bit profiled", **base_opts)
        except NotEmulated as exc:  # a layer the emulation does not model: C-simulate every step
            s.emulated, s.emulation_skipped = False, str(exc)
            base = s.run("baseline: 16-bit profiled", **base_opts)
        if s.emulated:  # the emulation must reproduce the C simulation's decisions at the baseline
            check = s.confirm(replace(s.base, **base_opts), base)
            if abs(check["csim_accuracy"] - base["accuracy"]) > 1.0 / max(len(s.y), 1) + 1e-12:
                s.emulated = False  # it does not: every further step is C-simulated
                s.emulation_skipped = "this graph as the C simulation computes it"
                s.say(
                    "precision auto: the emulation differs from the C simulation; C-simulating every step"
                )
        if base["within_budget"]:
            w = s.bisect(
                "weights (global)",
                MIN_WEIGHT - 1,
                BASELINE_WIDTH,
                lambda b: {"width": BASELINE_WIDTH, "weight_width": b},
            )
            a = s.bisect(
                "results (global)",
                MIN_RESULT - 1,
                BASELINE_WIDTH,
                lambda b: {"width": b, "weight_width": w},
            )
            counts = base["nonzero_weights_per_layer"]
            per: dict[str, dict] = {}
            for name in sorted(counts, key=lambda n: -counts[n]):
                _, per = s.shave(name, w, per, a, w)
        else:
            s.say("precision auto: the 16-bit baseline is already over the budget: kept")
        chosen, best, prebuilt = _choose(s, base, base_opts, keep)
        note = (
            None
            if base["within_budget"]
            else "the 16-bit baseline is already over the budget: kept"
        )
        return chosen, _record(s, chosen, best, t0, note), prebuilt
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _choose(s: Search, base: dict, base_opts: dict, keep: Path | None):
    """(chosen options, its step, its C-simulated project moved to ``keep`` or None).

    C simulation: the step with the fewest weight bits within the budget, whose project the search
    kept. Emulation: candidates within the budget, fewest weight bits first; the first the C
    simulation confirms wins (its project is built in ``keep``)."""
    if not s.emulated:
        if s.best is None:  # nothing within the budget: the baseline
            if keep is not None:
                shutil.rmtree(keep, ignore_errors=True)
            return replace(s.base, **base_opts), base, None
        _, trial, res, step = s.best
        if keep is None:
            shutil.rmtree(res.project_dir, ignore_errors=True)
            return trial, step, None
        return trial, step, _moved(res, keep)
    ok = sorted(
        (st for st in s.steps if st["within_budget"]),
        key=lambda st: (st["weight_bits"], -st["accuracy"]),
    )
    chosen, best = replace(s.base, **base_opts), base
    for st in ok[:4] if base["within_budget"] else []:
        trial = replace(
            s.base,
            width=st["width"],
            weight_width=st["weight_width"],
            layer_widths=st["layer_widths"],
        )
        if s.confirm(trial, st, keep)["within_budget"]:
            chosen, best = trial, st
            break
    prebuilt = s.kept[1] if s.kept is not None and s.kept[0] == chosen else None
    if prebuilt is None and keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
    return chosen, best, prebuilt


def _moved(res, keep: Path):
    """The kept project ``res`` moved out of the scratch directory to ``keep`` (a fresh path)."""
    from export.targets.hls4ml.options import HlsResult
    from export.targets.hls4ml.project import fix_output_dir

    keep = Path(keep)
    if keep.exists():
        keep.rmdir()  # the caller's fresh, empty directory (rmdir refuses anything else)
    os.replace(res.project_dir, keep)
    fix_output_dir(keep, res.project_dir)
    return HlsResult(keep, res.outputs, res.info)


def _record(s: Search, chosen, best: dict, t0: float, note: str | None) -> dict:
    base = s.steps[0]
    rec = {
        "mode": "auto",
        "criterion": "C-simulated test accuracy >= Keras accuracy - accuracy_budget",
        "accuracy_budget": s.base.accuracy_budget,
        "keras_accuracy": s.keras_accuracy,
        "n_test": int(len(s.y)),
        "baseline": {k: base[k] for k in ("width", "weight_width", "accuracy", "weight_bits")},
        "chosen": {
            "width": chosen.width,
            "weight_width": chosen.weight_width,
            "layer_widths": chosen.layer_widths,
            "step": best["step"],
            "accuracy": best["accuracy"],
            "weight_bits": best["weight_bits"],
            "nonzero_weight_bits": best["nonzero_weight_bits"],
            "bops": best["bops"],
        },
        "weight_bits_reduction": round(base["weight_bits"] / best["weight_bits"], 3)
        if best["weight_bits"]
        else None,
        "accumulators": "hls4ml 'auto': exact, inferred from the searched input and weight types",
        "simulation": (
            "inner loop: numpy emulation of the hls4ml fixed-point types; the baseline and the "
            "chosen widths confirmed by the bit-accurate hls4ml C simulation"
        )
        if s.emulated
        else f"every step C-simulated (g++ -O1, up to {s.jobs} candidates built at once)"
        + (f" (the emulation does not model {s.emulation_skipped})" if s.emulation_skipped else ""),
        "precision_check": s.base.precision_check,  # asked for; "simulation" says what ran
        "emulated_steps": s.emulated,
        "rounds": s.rounds,
        "confirmations": s.confirmations,
        "steps": s.steps,
        "search_seconds": round(time.perf_counter() - t0, 1),
        "estimate_source": "BOPs = sum(non-zero weights x weight bits x input bits): a bit-operation count, "
        "not a synthesis result",
    }
    if note:
        rec["note"] = note
    return rec


def plot(record: dict, path: Path, title: str = "") -> Path:
    """Total weight bits vs C-sim accuracy of every step; the Pareto front and the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = record["steps"]
    pts = [(st["weight_bits"], st["accuracy"]) for st in steps]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    ok = [p for p, st in zip(pts, steps) if st["within_budget"]]
    bad = [p for p, st in zip(pts, steps) if not st["within_budget"]]
    if ok:
        ax.scatter(*zip(*ok), color="tab:blue", label="within budget", zorder=2)
    if bad:
        ax.scatter(*zip(*bad), color="tab:gray", marker="x", label="over budget", zorder=2)
    front = pareto_front(pts)
    ax.plot(
        [pts[i][0] for i in front],
        [pts[i][1] for i in front],
        "r--",
        label="Pareto front",
        zorder=1,
    )
    ax.axhline(
        record["keras_accuracy"], color="k", lw=0.8, label=f"Keras {record['keras_accuracy']:.4f}"
    )
    ax.axhline(
        record["keras_accuracy"] - record["accuracy_budget"],
        color="k",
        lw=0.8,
        ls=":",
        label=f"budget ({record['accuracy_budget']})",
    )
    b, c = record["baseline"], record["chosen"]
    ax.annotate(
        "16-bit baseline",
        (b["weight_bits"], b["accuracy"]),
        textcoords="offset points",
        xytext=(5, 5),
    )
    ax.annotate(
        "chosen", (c["weight_bits"], c["accuracy"]), textcoords="offset points", xytext=(5, -12)
    )
    ax.set_xscale("log")
    ax.set_xlabel("total weight bits (weights + biases at their fixed-point widths)")
    ax.set_ylabel("test accuracy (hls4ml fixed point)")
    how = (
        "steps emulated, baseline and choice C-simulated"
        if record.get("emulated_steps")
        else "every step C-simulated"
    )
    ax.set_title(title or f"automatic precision ({how})")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def choose(rec, model, world: str, opts):
    """For export.api: (the options to export with, the manifest's record of the search or None)."""
    import json

    from export.common import is_quantized
    from export.manifest import relpath
    from zoo.core.io import write_json_atomic

    if opts.precision != "auto":
        return opts, None, None
    if is_quantized(model):
        return (
            replace(opts, precision="profile"),
            None,
            {
                "mode": "auto",
                "searched": False,
                "why": "the model's QKeras quantizers fix its weight and activation widths (quantization-aware "
                "training); the profiled types cover the rest",
            },
        )
    from export.targets.hls4ml.synth import synth_tool

    # fresh directories this call creates (never a guessed path someone else may own); the
    # C-simulated project of the choice is the artifact (unless a vendor tool will synthesize it)
    scratch = scratch_beside(rec.out / "precision", "search")
    keep = (
        scratch_beside(rec.out / "precision", "chosen")
        if not (opts.synth and synth_tool(opts.backend))
        else None
    )
    try:
        chosen, record, prebuilt = search(
            model, world, rec.data, opts, scratch, progress=rec.say, keep=keep
        )
    except BaseException:
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
        raise
    chosen = replace(chosen, synth=opts.synth)  # the search itself never synthesizes
    png = plot(record, rec.out / "precision_pareto.png")
    path = write_json_atomic(rec.out / "precision_search.json", record)
    summary = {k: v for k, v in record.items() if k != "steps"}
    summary.update(
        {
            "searched": True,
            "n_steps": len(record["steps"]),
            "record": relpath(path, rec.out),
            "plot": relpath(png, rec.out),
        }
    )
    json.dumps(summary)  # must serialize
    return chosen, prebuilt, summary


def summary_line(a: dict) -> str | None:
    ps = a.get("precision_search")
    if not ps:
        return None
    if not ps.get("searched"):
        return f"precision auto: not searched ({ps.get('why')})"
    c, b = ps["chosen"], ps["baseline"]
    return (
        f"precision auto: weights {c['weight_width']} bits (per layer: {c['layer_widths'] or '-'}), results "
        f"{c['width']} bits: {c['weight_bits']:,} weight bits vs {b['weight_bits']:,} at 16 bits "
        f"({ps['weight_bits_reduction']}x fewer), C-sim accuracy {c['accuracy']:.4f} vs Keras "
        f"{ps['keras_accuracy']:.4f} (budget {ps['accuracy_budget']}); {ps['n_steps']} steps, "
        f"plot {ps['plot']}"
    )
