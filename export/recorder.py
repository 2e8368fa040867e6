"""The recorder: how an export target talks to the export run.

One :class:`Recorder` per export. A target (``export/targets/``) reads what it needs from it
(``out``, ``task``, ``ref``, ``data``, ``options``) and reports through a small API, never
through its lists:

* :meth:`Recorder.attempt` runs one variant and records its artifact entry, or its error;
* :meth:`Recorder.record`, :meth:`Recorder.skip`, :meth:`Recorder.fail`: an entry, a variant not
  attempted and why, a failure line;
* :meth:`Recorder.find` an earlier artifact entry (a copy), :meth:`Recorder.earlier` the
  outputs it was verified on, :meth:`Recorder.drop` one the
  target replaces (an fp32 file kept only as the base of an int8 one);
* :meth:`Recorder.parity`, :meth:`Recorder.bounds`, :meth:`Recorder.dynamic_batch`: the
  artifact's figures and its bounds, from the one table (:mod:`export.parity`);
* :meth:`Recorder.entry`, :meth:`Recorder.calibration`, :meth:`Recorder.say`.

:meth:`Recorder.outcome` hands the export API copies of what was recorded, for the manifest.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from export import parity, verify
from export.errors import ExportError
from export.manifest import artifact_entry, relpath
from zoo.core.io import write_json_atomic


class Recorder:
    def __init__(self, out: Path, task: str, ref: np.ndarray, data, options, src_sha: str):
        self.out, self.task, self.ref, self.data, self.options = out, task, ref, data, options
        self.src_sha = src_sha
        self._artifacts: list[dict] = []
        self._failures: list[str] = []
        self._errors: list[BaseException] = []
        self._outputs: dict[tuple[str, str], np.ndarray] = {}
        self.done, self.total = 0, 0

    # ----------------------------------------------------------------- what a target reports

    def record(self, entry: dict) -> dict:
        """Add an artifact entry; one that missed a parity bound adds its failure line."""
        self._artifacts.append(entry)
        p = entry.get("parity") or {}
        if "error" not in entry and not p.get("passed"):
            self.fail(f"{entry['format']} {entry['variant']}: parity: " + "; ".join(p["failures"]))
        return entry

    def skip(self, fmt: str, variant: str, why: str) -> dict:
        """A requested variant that could not be attempted: recorded as a failed artifact."""
        entry = {
            "format": fmt,
            "variant": variant,
            "error": why,
            "parity": {"passed": False, "failures": [why]},
        }
        self._artifacts.append(entry)
        self.fail(f"{fmt} {variant}: {why}")
        return entry

    def fail(self, line: str):
        """One failure line of the manifest (the export fails)."""
        self._failures.append(line)

    def find(self, fmt: str, variant: str) -> dict | None:
        """A copy of the artifact entry recorded earlier for ``fmt``/``variant`` (None: none)."""
        found = next(
            (a for a in self._artifacts if (a.get("format"), a.get("variant")) == (fmt, variant)),
            None,
        )
        return copy.deepcopy(found)

    def earlier(self, fmt: str, variant: str) -> np.ndarray | None:
        """The outputs an artifact recorded earlier in this export was verified on (None: no
        such artifact, or it failed with an error)."""
        found = self.find(fmt, variant)
        return self._outputs.get((fmt, variant)) if found and "error" not in found else None

    def drop(self, fmt: str, variant: str):
        """Remove the earlier artifact entry of ``fmt``/``variant`` (its failure lines stay)."""
        self._artifacts = [
            a for a in self._artifacts if (a.get("format"), a.get("variant")) != (fmt, variant)
        ]

    def outcome(self) -> tuple[list[dict], list[str], list[BaseException]]:
        """(artifacts, failures, errors) recorded so far: copies, for the manifest."""
        return list(self._artifacts), list(self._failures), list(self._errors)

    # ----------------------------------------------------------------- running a variant

    def say(self, msg: str):
        if callable(self.options.progress):
            self.options.progress(msg)

    def attempt(self, fmt: str, variant: str, fn):
        """Run ``fn`` (returns the artifact entry) and record its entry, or its error."""
        self.say(f"{fmt} {variant} ...")
        self.step(f"{fmt} {variant}")
        t0 = time.perf_counter()
        try:
            entry = fn()
        except Exception as exc:  # noqa: BLE001 - recorded, raised together after the manifest
            msg = (
                f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, (ExportError, ValueError))
                else str(exc)
            )
            self.skip(fmt, variant, msg)
            self._errors.append(exc)
            self.say(f"{fmt} {variant}: ERROR {msg}")
            self.step(f"{fmt} {variant}: ERROR", 1)
            return None
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        self.record(entry)
        passed = entry["parity"]["passed"]
        self.say(f"{fmt} {variant}: {'pass' if passed else 'FAIL'}")
        self.step(f"{fmt} {variant}: {'pass' if passed else 'FAIL'}", 1)
        return entry

    def step(self, info: str, finished: int = 0):
        self.done += finished
        if callable(self.options.on_step):
            self.options.on_step("export", self.done, max(self.total, self.done), info)

    # ----------------------------------------------------------------- parity

    def bounds(self, fmt: str, variant: str, defaults: dict | None = None) -> dict[str, float]:
        """The bounds of ``fmt``/``variant``: the table's, the user's overrides merged in
        (:func:`export.parity.bounds`); ``defaults`` replace the table's rows."""
        return parity.bounds(fmt, variant, self.options.thresholds, base=defaults)

    def dynamic_batch(self, fmt: str, variant: str, out: np.ndarray):
        """(reference, atol, rtol) of the dynamic-batch check of ``fmt``/``variant``
        (:func:`export.parity.dynamic_batch`): the Keras outputs or the artifact's own ``out``."""
        d = parity.dynamic_batch(fmt, variant, self.options.thresholds)
        return (self.ref if d["reference"] == "keras" else out), d["atol"], d["rtol"]

    def parity(
        self,
        fmt: str,
        variant: str,
        out: np.ndarray,
        dynamic_batch: dict | None = None,
        defaults: dict | None = None,
    ) -> dict:
        """The parity figures of ``out``, checked against :meth:`bounds` (``defaults``: bounds
        replacing the table's, user thresholds still win)."""
        bounds = self.bounds(fmt, variant, defaults)
        fig = verify.compare(
            self.ref,
            out,
            task=self.task,
            x=self.data.x_test,
            y=self.data.y_test,
            tie_tolerance=bounds.get("tie_tolerance", 0.0),
            atol=bounds.get("max_abs_diff") if "rtol" in bounds else None,
            rtol=bounds.get("rtol"),
        )
        fails = verify.check(fig, bounds, task=self.task)
        self._outputs[(fmt, variant)] = out
        if dynamic_batch is not None:
            fig["dynamic_batch"] = dynamic_batch
            if not dynamic_batch.get("ok"):
                fails.append(f"dynamic batch check failed ({dynamic_batch})")
        fig.update({"thresholds": bounds, "passed": not fails, "failures": fails})
        return fig

    def compare(self, ref: np.ndarray, out: np.ndarray, bounds: dict, x=None):
        """(figures, failures) of ``out`` against ``ref`` under ``bounds``, with no labels: for a
        target choosing between two of its own models on samples other than the parity ones
        (the parity itself is :meth:`parity`)."""
        fig = verify.compare(
            ref, out, task=self.task, x=x, tie_tolerance=bounds.get("tie_tolerance", 0.0)
        )
        return fig, verify.check(fig, bounds, task=self.task)

    # ----------------------------------------------------------------- the entry

    def entry(self, path, fmt, variant, parity, **extra):
        return artifact_entry(
            self.out,
            path,
            fmt=fmt,
            variant=variant,
            source_sha256=self.src_sha,
            parity=parity,
            **extra,
        )

    def calibration(self, artifact: Path) -> dict:
        path = artifact.with_name(artifact.name + ".calibration.json")
        write_json_atomic(path, self.data.calibration_record())
        return {
            "path": relpath(path, self.out),
            "n": len(self.data.calib_indices),
            "split": "train",
        }
