"""The written record of a compression chain: one model directory per step, each with its
``compression.json``, and the chain's ``OUT/compression.json`` summary. The book is written into
the build directory of ``OUT`` (:func:`zoo.core.claim.replacing`) and put in place whole, so the
summary always matches the step directories beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from compress.common import quiet_qkeras, test_metrics, uncompiled_copy
from compress.metrics import model_stats
from training.model_dir import load_run, save_model_dir
from zoo.core.io import write_json_atomic as _write_json
from zoo.core.run_config import RunConfig

STEP_DIRS = {"distill": "1-distill", "prune": "2-prune", "qat": "3-qat", "hgq": "4-hgq"}
SUMMARY_KEYS = (
    "params",
    "nonzero_params",
    "sparsity",
    "bits_per_weight",
    "size_bytes",
    "size_bytes_nonzero",
    "macs_nonzero",
    "bops",
)


@dataclass
class StepResult:
    name: str
    dir: Path
    report: dict


@dataclass
class CompressionResult:
    out: Path
    steps: list[StepResult] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def final(self) -> Path:
        return self.steps[-1].dir

    def __getitem__(self, name: str) -> StepResult:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"No step {name!r} in this result; steps: {[s.name for s in self.steps]}")


def row(stage: str, directory, metric: str, metrics: dict, stats: dict) -> dict:
    """One line of the summary table: a model's metric and sizes."""
    out = {"stage": stage, "dir": str(directory), metric: metrics.get(metric)}
    out.update({k: stats[k] for k in SUMMARY_KEYS})
    return out


@dataclass
class StepBook:
    """Writes the steps of one chain into ``out`` (the build directory of ``final``, where it
    will be put in place; what it records names ``final``): the test data and metric every
    step is measured with, the ``compression`` history each step's config carries, and the
    summary."""

    out: Path
    card: object
    metric: str
    ds: object
    history: list
    summary: dict
    result: CompressionResult = None
    final: Path | None = None

    def __post_init__(self):
        self.final = Path(self.final or self.out)
        self.result = CompressionResult(self.final, summary=self.summary)

    def add_row(self, stage: str, directory, model, metrics: dict):
        self.summary["rows"].append(row(stage, directory, self.metric, metrics, model_stats(model)))

    def write(
        self,
        step: str,
        new_model,
        new_cfg: RunConfig,
        before_model,
        before_metrics: dict,
        extra: dict,
        src,
    ) -> tuple:
        """Measure ``new_model``, write its step directory (reloaded and compared), record the step;
        returns (new_model, its test metrics, its final directory): what the next step starts from."""
        step_dir = self.out / STEP_DIRS[step]
        final_dir = self.final / STEP_DIRS[step]
        metric = self.metric
        after = test_metrics(new_model, self.card, self.ds)
        stats_after, stats_before = model_stats(new_model), model_stats(before_model)
        entry = {
            "step": step,
            "source": str(src),
            **{k: v for k, v in extra.items() if k != "history"},
        }
        new_cfg = new_cfg.replace(compression=[*self.history, entry])
        report = {
            "step": step,
            "dir": str(final_dir),
            "source": str(src),
            "metric": metric,
            "before": before_metrics,
            "after": after,
            "delta": (after.get(metric) - before_metrics.get(metric))
            if metric in after and metric in before_metrics
            else None,
            "model": {k: v for k, v in stats_after.items() if k != "layers"},
            "model_before": {k: v for k, v in stats_before.items() if k != "layers"},
            "layers": stats_after["layers"],
            **extra,
        }
        with quiet_qkeras():
            save_model_dir(uncompiled_copy(new_model), step_dir, new_cfg, compression=report)
            reloaded, _ = load_run(step_dir)
        report["reload_max_abs_diff"] = max_diff(new_model, reloaded, self.ds.x_test[:64])
        with quiet_qkeras():
            _write_json(step_dir / "compression.json", report)
        self.history.append(entry)
        self.result.steps.append(StepResult(step, final_dir, report))
        self.summary["rows"].append(row(step, final_dir, metric, after, stats_after))
        self.summary["steps"].append(
            {
                "step": step,
                "dir": STEP_DIRS[step],
                "before": before_metrics.get(metric),
                "after": after.get(metric),
                "delta": report["delta"],
            }
        )
        self.summary["final"] = STEP_DIRS[step]
        _write_json(self.out / "compression.json", self.summary)
        return new_model, after, final_dir


def max_diff(a, b, x) -> float:
    import numpy as np

    with quiet_qkeras():
        ya, yb = np.asarray(a.predict(x, verbose=0)), np.asarray(b.predict(x, verbose=0))
    return float(np.abs(ya - yb).max())
