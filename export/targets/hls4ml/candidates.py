"""The candidates of the precision search (:mod:`export.targets.hls4ml.search`): each set of
widths converted, compiled (g++ -O1) and C-simulated on the test split -- or, with
``precision_check="emulate"``, run on :func:`export.targets.hls4ml.emulator.emulate` -- and
recorded as one step; the bisection and the per-layer greedy over them."""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from export.errors import ExportOptionsError
from export.targets.hls4ml.emulator import emulate

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


class Search:
    def __init__(self, model, world, data, opts, scratch: Path, progress):
        from export.common import predict
        from export.targets.hls4ml.support import io_type_for, without_reserved_names

        if data.y_test is None:
            raise ExportOptionsError(
                "hls4ml: precision='auto' needs a labelled classifier (the search keeps test "
                "accuracy within accuracy_budget); use precision='profile' for this model"
            )
        self.model, self.world, self.data, self.scratch = model, world, data, scratch
        self.base = replace(opts, precision="profile", synth=False, layer_widths=None)
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
        from export.targets.hls4ml.config import build_config, convert, softmax_inputs_widened

        a, b = self.scratch / "cfg", self.scratch / "graph"
        cfg, prec = build_config(self.conv_model, self.world, self.x_prof, trial, self.io_type, a)
        g = convert(self.conv_model, self.world, cfg, b, trial, self.io_type)
        for _ in range(3):
            if not softmax_inputs_widened(g, cfg, prec["sources"]):
                break
            g = convert(self.conv_model, self.world, cfg, b, trial, self.io_type)
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
        from export.targets.hls4ml.project import export_hls

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
        from export.targets.hls4ml.project import layer_types, weight_storage

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
