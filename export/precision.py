"""Automatic fixed-point precision for hls4ml (``precision="auto"``, ``--precision auto``).

Over ~400 lines on purpose: the search, its C-simulated candidates and the optional numpy
emulation of hls4ml's types must round and saturate exactly alike; one module keeps that in view.

The search starts from the profiled ranges of :mod:`export.hls` (integer bits from the largest
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
(dense graphs only) is the opt-in fast path: candidates run on :func:`emulate`, a numpy model of
the hls4ml types; the baseline is C-simulated and must agree (else every further step is
C-simulated), and the choice is C-simulated before it is accepted (``confirmations``).

Accumulators are not searched: they stay hls4ml's ``auto``, the exact accumulator type inferred
from each layer's input and weight types (integer and fraction bits grow with the products and
the number of terms), so they never round or overflow and shrink by themselves as the searched
input and weight widths do; a narrower accumulator could only add error that the result width
then rounds again. Each step records every layer's resulting types, accumulator included.
Softmax tables keep their own types (:func:`export.hls._configure_softmax`).

Every step is recorded (widths, how it was evaluated, C-sim accuracy and drop, total and
non-zero weight bits, a bit-operation estimate ``BOPs = sum(non-zero weights x weight bits x
input bits)``, seconds), and the Pareto front (total weight bits vs accuracy) is plotted. Only
classifiers with labels can be searched (the criterion is test accuracy).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from export.common import pareto_front
from export.errors import ExportOptionsError
from zoo.core.io import atomic_path

BASELINE_WIDTH = 16
MIN_WEIGHT, MIN_RESULT = 2, 4


def _bits_of(type_str: str) -> int | None:
    m = re.match(r"u?fixed<(\d+)", str(type_str))
    return int(m.group(1)) if m else None


def bops(layer_types: list[dict], weight_storage_nonzero: dict) -> int:
    """sum over weighted layers of non-zero weights x weight bits x input bits."""
    total, prev_bits = 0, None
    for row in layer_types:
        wb = _bits_of(row.get("weight", ""))
        if wb and prev_bits:
            total += int(weight_storage_nonzero.get(row["name"], 0)) * wb * prev_bits
        prev_bits = _bits_of(row.get("result", "")) or prev_bits
    return total


class _Search:
    def __init__(self, model, world, data, opts, scratch: Path, progress):
        from export.common import predict
        from export.hls.support import io_type_for, without_reserved_names

        if data.y_test is None:
            raise ExportOptionsError(
                "hls4ml: precision='auto' needs a labelled classifier (the search keeps test "
                "accuracy within accuracy_budget); use precision='profile' for this model"
            )
        self.model, self.world, self.data, self.scratch = model, world, data, scratch
        self.base = replace(opts, precision="profile", synth=False, rtl=False, layer_widths=None)
        self.say = progress if callable(progress) else (lambda m: None)
        self.y = np.asarray(data.y_test).reshape(-1)
        ref = predict(model, data.x_test)
        self.keras_accuracy = float(np.mean(ref.argmax(axis=1) == self.y))
        self.target = self.keras_accuracy - opts.accuracy_budget
        self.max_steps = opts.auto_max_steps
        self.jobs = max(1, int(opts.auto_jobs))
        self.steps: list[dict] = []
        self.confirmations: list[dict] = []
        self.outputs: dict[int, np.ndarray] = {}
        self.x_prof = np.ascontiguousarray(data.profile_set(opts.profile_samples), dtype=np.float32)
        self.conv_model, _ = without_reserved_names(model, world)
        self.io_type = opts.io_type or io_type_for(model)
        self.kept = None  # (trial, HlsResult) of the last confirmed candidate kept on disk
        # C-simulate every step unless the numpy emulation was asked for (and models the graph)
        self.emulated = opts.precision_check == "emulate"
        self.emulation_skipped = None
        # csim: (key, trial, HlsResult, step) of the best step within the budget so far
        self.best = None
        self.rounds = 0
        self._lock = threading.Lock()  # everything but the g++ builds runs one candidate at a time

    def graph(self, trial):
        """The converted hls4ml graph of ``trial`` (no write, no compile)."""
        from export.hls.config import _convert, _softmax_inputs_widened, build_config

        a, b = self.scratch / "cfg", self.scratch / "graph"
        cfg, prec = build_config(self.conv_model, self.world, self.x_prof, trial, self.io_type, a)
        g = _convert(self.conv_model, self.world, cfg, b, trial, self.io_type)
        for _ in range(3):
            if not _softmax_inputs_widened(g, cfg, prec["sources"]):
                break
            g = _convert(self.conv_model, self.world, cfg, b, trial, self.io_type)
        return g

    @contextlib.contextmanager
    def _building(self):
        """Held lock released while g++ builds: the other candidate converts, writes or simulates."""
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()

    def csim(self, trial, out: Path):
        """Convert, write, compile (g++ -O1) and C-simulate ``trial`` into ``out``."""
        from export.hls.project import export_hls

        with self._lock:
            return export_hls(
                self.model,
                out,
                world=self.world,
                x_profile=self.x_prof,
                x_test=self.data.x_test,
                opts=trial,
                optimize="-O1",
                build_gate=self._building,
            )

    def run(self, phase: str, **changes) -> dict | None:
        """One candidate (see :meth:`run_many`)."""
        return self.run_many([(phase, changes)])[0]

    def run_many(self, candidates: list[tuple[str, dict]]) -> list[dict | None]:
        """Evaluate ``candidates`` ((phase, option changes)) as one round: C-simulated ``jobs`` at
        a time (or emulated, with ``precision_check="emulate"``); a candidate past
        ``auto_max_steps`` is not run (None)."""
        room = max(0, self.max_steps - len(self.steps))
        todo = candidates[:room]
        if not todo:
            return [None] * len(candidates)
        trials = [replace(self.base, **changes) for _, changes in todo]
        if self.emulated:
            evals = [self._emulate(t) for t in trials]
        else:
            first = len(self.steps)
            outs = [self.scratch / f"step{first + i}" for i in range(len(trials))]
            if self.jobs > 1 and len(trials) > 1:
                with concurrent.futures.ThreadPoolExecutor(min(self.jobs, len(trials))) as pool:
                    futs = [pool.submit(self._csim_eval, t, o) for t, o in zip(trials, outs)]
                    evals = [f.result() for f in futs]  # the first failure is raised
            else:
                evals = [self._csim_eval(t, o) for t, o in zip(trials, outs)]
        self.rounds += 1
        steps = [self._record_step(phase, t, ev) for (phase, _), t, ev in zip(todo, trials, evals)]
        return steps + [None] * (len(candidates) - len(todo))

    def _emulate(self, trial):
        from export.hls.project import layer_types, weight_storage

        t0 = time.perf_counter()
        g = self.graph(trial)
        out = emulate(g, self.data.x_test)
        how = "numpy emulation of the hls4ml types"
        return out, layer_types(g), weight_storage(g), how, None, time.perf_counter() - t0

    def _csim_eval(self, trial, out: Path):
        t0 = time.perf_counter()
        try:
            res = self.csim(trial, out)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        info = res.info
        how = "C simulation"
        return (
            res.outputs,
            info["layer_types"],
            info["weight_storage"],
            how,
            res,
            time.perf_counter() - t0,
        )

    def _record_step(self, phase: str, trial, ev) -> dict:
        out, types, ws, how, res, seconds = ev
        acc = float(np.mean(out.argmax(axis=1) == self.y))
        nz = {r["name"]: int(r.get("nonzero_weights", 0)) for r in types if "weight" in r}
        step = {
            "step": len(self.steps),
            "round": self.rounds,
            "phase": phase,
            "width": trial.width,
            "weight_width": trial.weight_width,
            "layer_widths": trial.layer_widths,
            "accuracy": acc,
            "simulation": how,
            "accuracy_drop": round(self.keras_accuracy - acc, 6),
            "within_budget": acc >= self.target - 1e-12,
            "weight_bits": int(ws["bits"]),
            "nonzero_weight_bits": int(ws["nonzero_bits"]),
            "bops": bops(types, nz),
            "nonzero_weights_per_layer": nz,
            "seconds": round(seconds, 2),
            # per layer: result, weight, bias and accumulator types (accum: hls4ml's exact 'auto')
            "types": {
                r["name"]: {
                    k: v for k, v in r.items() if k in ("result", "weight", "bias", "accum")
                }
                for r in types
            },
        }
        self.steps.append(step)
        self.outputs[step["step"]] = out
        if res is not None:
            self._keep_if_best(trial, step, res)
        self.say(
            f"precision auto: step {step['step']} ({phase}) w={trial.weight_width} a={trial.width}"
            f"{' per-layer' if trial.layer_widths else ''}: accuracy {acc:.4f}, {ws['bits']:,} weight bits"
            f" -> {'ok' if step['within_budget'] else 'over budget'} ({how}, {seconds:.1f} s)"
        )
        return step

    def _keep_if_best(self, trial, step: dict, res):
        """The C-simulated project of the best step within the budget stays on disk (the export
        adopts it: the choice is never compiled twice); every other one is removed."""
        key = (step["weight_bits"], -step["accuracy"])
        if step["within_budget"] and (self.best is None or key < self.best[0]):
            if self.best is not None:
                shutil.rmtree(self.best[2].project_dir, ignore_errors=True)
            self.best = (key, trial, res, step)
        else:
            shutil.rmtree(res.project_dir, ignore_errors=True)

    def confirm(self, trial, step: dict | None, keep: Path | None = None) -> dict:
        """C-simulate ``trial`` (the bit-accurate check of an emulated choice); a project within the
        budget is kept in ``keep`` (the export reuses it instead of compiling it again)."""
        t0 = time.perf_counter()
        out = keep or self.scratch / f"confirm{len(self.confirmations)}"
        try:
            res = self.csim(trial, out)
        finally:
            if keep is None:
                shutil.rmtree(out, ignore_errors=True)
        self.kept = (trial, res) if keep is not None else self.kept
        acc = float(np.mean(res.outputs.argmax(axis=1) == self.y))
        rec = {
            "width": trial.width,
            "weight_width": trial.weight_width,
            "layer_widths": trial.layer_widths,
            "csim_accuracy": acc,
            "within_budget": acc >= self.target - 1e-12,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if step is not None:
            emu = self.outputs.get(step["step"])
            rec["emulated_accuracy"] = step["accuracy"]
            if emu is not None:
                rec["argmax_agreement_with_emulation"] = float(
                    np.mean(emu.argmax(axis=1) == res.outputs.argmax(axis=1))
                )
        self.confirmations.append(rec)
        self.say(
            f"precision auto: C simulation of w={trial.weight_width} a={trial.width}: accuracy {acc:.4f} -> "
            f"{'ok' if rec['within_budget'] else 'over budget'}"
        )
        return rec

    def bisect(self, phase: str, lo: int, hi: int, make) -> int:
        """Smallest width in (lo, hi] within the budget, given ``hi`` is (assumed monotonic).

        Each round probes ``jobs`` widths splitting (lo, hi] evenly (bisection for one job, a
        three-way split for two), built and C-simulated at once."""
        k = 1 if self.emulated else self.jobs
        while hi - lo > 1:
            probes = sorted({lo + (hi - lo) * i // (k + 1) for i in range(1, k + 1)} - {lo, hi})
            probes = probes or [(lo + hi) // 2]
            steps = self.run_many([(phase, make(b)) for b in probes])
            done = [(b, st) for b, st in zip(probes, steps) if st is not None]
            if not done:
                break
            ok = [b for b, st in done if st["within_budget"]]
            if ok:
                hi = min(ok)
            failed = [b for b, st in done if not st["within_budget"] and b < hi]
            if failed:
                lo = max(lo, max(failed))
            if len(done) < len(probes):
                break
        return hi

    def shave(self, name: str, bits: int, per: dict, a: int, w: int) -> tuple[int, dict]:
        """Per-layer greedy: ``name``'s weights and biases lose bits while the accuracy stays within
        the budget; with two jobs, one and two bits fewer are tried at once."""
        k = 1 if self.emulated else self.jobs
        while bits - 1 >= MIN_WEIGHT:
            cands = [bits - d for d in range(1, k + 1) if bits - d >= MIN_WEIGHT]
            trials = [{**per, name: {"weight": b, "bias": b}} for b in cands]
            steps = self.run_many(
                [
                    (f"weights of {name}", {"width": a, "weight_width": w, "layer_widths": t})
                    for t in trials
                ]
            )
            ok = [(b, t) for b, t, st in zip(cands, trials, steps) if st and st["within_budget"]]
            if not ok:
                break
            bits, per = min(ok, key=lambda bt: bt[0])
            if bits != cands[-1] or any(st is None for st in steps):
                break  # the deeper cut failed (or the steps ran out): this layer is done
        return bits, per


def _nonzero_weights(res) -> dict:
    """Non-zero weights per weighted hls4ml layer (for the BOPs estimate)."""
    out = {}
    for row in res.info.get("layer_types", []):
        if "weight" in row:
            out[row["name"]] = int(row.get("nonzero_weights", 0))
    return out


def search(model, world: str, data, opts, scratch: Path, progress=None, keep: Path | None = None):
    """Run the search; returns (the chosen HlsOptions with precision="profile", the record, the
    C-simulated project of the choice kept in ``keep`` or None)."""
    scratch = Path(scratch)  # the caller's fresh directory: this call fills it and removes it
    scratch.mkdir(parents=True, exist_ok=True)
    s = _Search(model, world, data, opts, scratch, progress)
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


def _choose(s: _Search, base: dict, base_opts: dict, keep: Path | None):
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
    from export.hls.options import HlsResult
    from export.hls.project import _fix_output_dir

    keep = Path(keep)
    if keep.exists():
        keep.rmdir()  # the caller's fresh, empty directory (rmdir refuses anything else)
    os.replace(res.project_dir, keep)
    _fix_output_dir(keep, res.project_dir)
    return HlsResult(keep, res.outputs, res.info)


def _best(steps):
    ok = [st for st in steps if st["within_budget"]]
    return min(ok, key=lambda st: (st["weight_bits"], -st["accuracy"])) if ok else steps[0]


def _record(s: _Search, chosen, best: dict, t0: float, note: str | None) -> dict:
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
    from export.hls.synth import synth_tool

    # fresh directories this call creates (never a guessed path someone else may own); the
    # C-simulated project of the choice is the artifact (unless a vendor tool will synthesize it)
    scratch = Path(tempfile.mkdtemp(prefix=".precision-search-", dir=rec.out))
    keep = (
        Path(tempfile.mkdtemp(prefix=".precision-chosen-", dir=rec.out))
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
    chosen = replace(chosen, synth=opts.synth, rtl=opts.rtl)  # the search itself never synthesizes
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


# --------------------------------------------------------------------------- emulation


class NotEmulated(Exception):
    """The converted graph has a layer the numpy emulation does not model (C-sim every step)."""


EMULATED = (
    "Input",
    "InputLayer",
    "Dense",
    "Activation",
    "ReLU",
    "Softmax",
    "Dropout",
    "Reshape",
    "Flatten",
)


def quantize_type(x: np.ndarray, t) -> np.ndarray:
    """``x`` cast to the hls4ml FixedPrecisionType ``t`` as ap_fixed does (rounding, overflow)."""
    if not hasattr(t, "fractional"):
        return x
    f = t.width - t.integer
    rnd, sat = str(t.rounding_mode).split(".")[-1], str(t.saturation_mode).split(".")[-1]
    v = np.asarray(x, dtype=np.float64) * 2.0**f
    if rnd in ("RND", "RND_INF", "RND_MIN_INF", "RND_ZERO", "RND_CONV"):
        if rnd == "RND_CONV":
            q = np.round(v)  # half to even
        elif rnd == "RND_ZERO":
            q = np.sign(v) * np.ceil(np.abs(v) - 0.5)
        elif rnd == "RND_INF":
            q = np.sign(v) * np.floor(np.abs(v) + 0.5)
        elif rnd == "RND_MIN_INF":
            q = np.ceil(v - 0.5)
        else:
            q = np.floor(v + 0.5)
    elif rnd == "TRN_ZERO":
        q = np.trunc(v)
    else:
        q = np.floor(v)
    lo, hi = (
        (-(2.0 ** (t.width - 1)), 2.0 ** (t.width - 1) - 1) if t.signed else (0.0, 2.0**t.width - 1)
    )
    if sat in ("SAT", "SAT_SYM", "SAT_ZERO"):
        if sat == "SAT_SYM" and t.signed:
            lo = -hi
        clipped = np.clip(q, lo, hi)
        q = np.where((q < lo) | (q > hi), 0.0, q) if sat == "SAT_ZERO" else clipped
    else:
        span = hi - lo + 1
        q = (q - lo) % span + lo
    return q / 2.0**f


def _weight(var) -> np.ndarray:
    """A weight as the C simulation holds it: hls4ml writes it as decimal text with as many digits as
    its type has fraction bits, and ap_fixed rounds that text to the type."""
    data = np.asarray(var.data, dtype=np.float64)
    fmt = getattr(var, "precision_fmt", None)
    if fmt:
        data = np.array([float(fmt.format(v)) for v in data.ravel()]).reshape(data.shape)
    return quantize_type(data, var.type.precision)


def emulate(graph, x: np.ndarray) -> np.ndarray:
    """The hls4ml graph's fixed-point function in numpy (float64 holds the exact sums of these
    widths): inputs, weights and results cast to their types, accumulators exact."""
    vals: dict[str, np.ndarray] = {}
    out = None
    for node in graph.get_layers():
        cls = node.class_name
        if cls not in EMULATED:
            raise NotEmulated(cls)
        t = node.get_output_variable().type.precision
        if cls in ("Input", "InputLayer"):
            v = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        else:
            v = vals[node.inputs[0]]
            if cls == "Dense":
                v = v @ _weight(node.weights["weight"]).reshape(v.shape[1], -1)
                if "bias" in node.weights:
                    v = v + _weight(node.weights["bias"]).reshape(-1)
                act = str(node.get_attr("activation", "linear")).lower()
                if act not in ("linear", "none"):
                    raise NotEmulated(f"Dense with fused {act}")
            elif cls in ("Activation", "ReLU"):
                act = str(node.get_attr("activation", "")).lower()
                if act == "relu" or cls == "ReLU":
                    v = np.maximum(v, 0.0)
                elif act not in ("linear",):
                    raise NotEmulated(f"activation {act}")
            elif cls == "Softmax":
                z = v - v.max(axis=1, keepdims=True)
                v = np.exp(z) / np.exp(z).sum(
                    axis=1, keepdims=True
                )  # tables in hardware: argmax only
                t = None
        vals[node.name] = v if t is None else quantize_type(v, t)
        out = vals[node.name]
    return out
