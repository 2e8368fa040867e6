"""Compression recipes: distill -> prune -> quantize, any subset, from one call.

``compress(RUN_DIR, ...)`` reads a model directory and writes one model directory per step
plus a summary::

    OUT/                       (default: RUN_DIR + "-compressed", next to RUN_DIR)
        compression.json       the request, every step's summary row, the final directory
        1-distill/             config.json, model.keras (Keras 3 student), compression.json
        2-prune/               config.json, model.keras (Keras 3, pruned weights are exact zeros), compression.json
        3-qat/                 config.json (world "tf_keras"), model.keras (QKeras), compression.json

Only the requested steps are written; directory names are fixed so later stages can find them.

Distillation: ``compress(STUDENT_RUN, distill_from=TEACHER_RUN)`` retrains STUDENT_RUN's
architecture (its config: model, overrides; fresh weights, same seed) with TEACHER_RUN as the
teacher; ``compress(TEACHER_RUN, student="mlp", student_overrides={...})`` distills into a new
zoo model, built for the teacher's input shape and classes. Both also train the same student
from scratch (same initial weights, data and epochs) for the report.

Every request is validated before any training: sparsity in [0, 1), bits >= 2, known and
supported layers, compatible teacher and student.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from compress.common import build, card_of, quiet_qkeras, test_metrics, uncompiled_copy
from compress.distill import check_pair, train_scratch
from compress.distill import distill as distill_step
from compress.errors import CompressionError
from compress.metrics import model_stats, task_metric
from compress.prune import SCHEDULES, check_sparsity, plan_pruning
from compress.prune import prune as prune_step
from compress.quantize import check_bits, plan_qat
from compress.quantize import qat as qat_step
from training.train import load_run, run_dataset, save_model_dir
from zoo.io import write_json_atomic as _write_json
from zoo.registry import builder_config, get_card
from zoo.rundir import check_writable, own_dir
from zoo.worlds import KERAS3

STEP_DIRS = {"distill": "1-distill", "prune": "2-prune", "qat": "3-qat"}
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


def _positive(name, value, kind=int):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or (kind is int and int(value) != value)
    ):
        raise CompressionError(
            f"{name} must be a positive {kind.__name__}. Received: {name}={value!r}"
        )


def validate_request(
    *,
    distill_from=None,
    student=None,
    student_overrides=None,
    prune=None,
    prune_layers=None,
    prune_schedule="polynomial",
    bits=None,
    layer_bits=None,
    epochs=10,
    distill_epochs=None,
    batch_size=64,
    learning_rate=1e-3,
    temperature=3.0,
    student_loss_weight=0.5,
):
    """Argument checks that need no model: raise :class:`CompressionError` naming the bad value."""
    if distill_from is None and student is None and prune is None and bits is None:
        raise CompressionError(
            "Nothing to do: ask for at least one of distill_from/student (--distill-from, "
            "--student), prune (--prune) and bits (--bits)."
        )
    if distill_from is not None and student is not None:
        raise CompressionError(
            "Give either distill_from (RUN_DIR is the student, --distill-from the teacher) "
            "or student (RUN_DIR is the teacher, --student the new student model), not both."
        )
    if student_overrides and student is None:
        raise CompressionError("student_overrides need student=MODEL (--student).")
    if prune is not None:
        check_sparsity(prune)
    elif prune_layers:
        raise CompressionError("prune_layers given without a target sparsity (prune=..., --prune).")
    if prune_schedule not in SCHEDULES:
        raise CompressionError(
            f"prune: schedule must be one of {SCHEDULES}. Received: schedule={prune_schedule!r}"
        )
    if bits is not None:
        check_bits(bits)
    elif layer_bits:
        raise CompressionError("layer_bits given without a global bit width (bits=..., --bits).")
    for name, b in (layer_bits or {}).items():
        check_bits(b, f"layer_bits[{name!r}]")
    _positive("epochs", epochs)
    if distill_epochs is not None:
        _positive("distill_epochs", distill_epochs)
    _positive("batch_size", batch_size)
    _positive("learning_rate", learning_rate, float)
    if distill_from is not None or student is not None:
        _positive("temperature", temperature, float)
        if not isinstance(student_loss_weight, (int, float)) or not 0 <= student_loss_weight <= 1:
            raise CompressionError(
                "student_loss_weight must lie in [0, 1]. "
                f"Received: student_loss_weight={student_loss_weight!r}"
            )


def _student_config(teacher, t_cfg: dict, student: str, student_overrides: dict | None) -> dict:
    card = get_card(student)  # unknown model -> clear error
    accepted = builder_config(student)
    ov = dict(student_overrides or {})
    if "input_shape" in accepted and "input_shape" not in ov:
        ov["input_shape"] = [int(s) for s in teacher.inputs[0].shape[1:]]
    if "classes" in accepted and "classes" not in ov and card.task == "classification":
        ov["classes"] = int(teacher.outputs[0].shape[-1])
    cfg = {k: v for k, v in t_cfg.items() if k not in ("compression",)}
    cfg.update(model=student, overrides=ov, card=card.to_dict(), world=KERAS3)
    return cfg


def _same_data(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("dataset", "seed", "limit"))


def _seed(cfg: dict, seed):
    import keras

    keras.utils.set_random_seed(int(cfg.get("seed", 0) if seed is None else seed))


def _row(stage: str, directory, metric: str, metrics: dict, stats: dict) -> dict:
    row = {"stage": stage, "dir": str(directory), metric: metrics.get(metric)}
    row.update({k: stats[k] for k in SUMMARY_KEYS})
    return row


def _owning_out(fn):
    """Run ``fn`` with its output directory checked, claimed and locked (:mod:`zoo.rundir`)
    before any model is loaded or trained."""

    @functools.wraps(fn)
    def wrapper(run_dir, *args, out=None, **kw):
        run_dir = Path(run_dir)
        out = check_writable(Path(out) if out else run_dir.with_name(f"{run_dir.name}-compressed"))
        with own_dir(out, "compress", command=f"compress {run_dir}"):
            return fn(run_dir, *args, out=out, **kw)

    return wrapper


@_owning_out
def compress(
    run_dir,
    *,
    distill_from=None,
    student: str | None = None,
    student_overrides: dict | None = None,
    prune: float | None = None,
    prune_layers=None,
    prune_schedule: str = "polynomial",
    bits: int | None = None,
    layer_bits: dict | None = None,
    weight_integer="auto",
    act_integer="auto",
    epochs: int = 10,
    distill_epochs: int | None = None,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    temperature: float = 3.0,
    student_loss_weight: float = 0.5,
    scratch_baseline: bool = True,
    out=None,
    seed: int | None = None,
    verbose: int = 0,
    on_step=None,
) -> CompressionResult:
    """Distill (``distill_from`` or ``student``), prune (``prune`` = target sparsity) and quantize
    (``bits``) the model of ``run_dir``, in that order, each step optional. Returns the step
    directories and reports; see the module docstring for the layout."""
    validate_request(
        distill_from=distill_from,
        student=student,
        student_overrides=student_overrides,
        prune=prune,
        prune_layers=prune_layers,
        prune_schedule=prune_schedule,
        bits=bits,
        layer_bits=layer_bits,
        epochs=epochs,
        distill_epochs=distill_epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        temperature=temperature,
        student_loss_weight=student_loss_weight,
    )
    run_dir = Path(run_dir)
    model, cfg = load_run(run_dir)
    if cfg.get("world", KERAS3) != KERAS3:
        raise CompressionError(
            f"{run_dir} holds a {cfg.get('world')} (QKeras) model, the end of a compression chain; compress the "
            "float or pruned model directory it came from."
        )
    out = Path(out) if out else run_dir.with_name(f"{run_dir.name}-compressed")
    distilling = distill_from is not None or student is not None

    # ---- resolve teacher/student and validate every step before any training
    teacher = t_cfg = None
    if distill_from is not None:
        teacher, t_cfg = load_run(distill_from)
        if t_cfg.get("world", KERAS3) != KERAS3:
            raise CompressionError(
                f"distill: the teacher {distill_from} is a QKeras model; use a float teacher."
            )
        if not _same_data(t_cfg, cfg):
            raise CompressionError(
                "distill: teacher and student runs used different data "
                f"(teacher {t_cfg.get('dataset')}/seed {t_cfg.get('seed')}/limit {t_cfg.get('limit')}, "
                f"student {cfg.get('dataset')}/seed {cfg.get('seed')}/limit {cfg.get('limit')})."
            )
        work_cfg = {k: v for k, v in cfg.items() if k != "compression"}
        source = run_dir
    elif student is not None:
        teacher, t_cfg = model, cfg
        work_cfg = _student_config(teacher, t_cfg, student, student_overrides)
        source = run_dir
    else:
        work_cfg = cfg
        source = run_dir
    if distilling:
        check_pair(teacher, t_cfg, build(work_cfg, KERAS3, "distill"), work_cfg)
    if prune is not None:
        plan_pruning(None, work_cfg, prune_layers)
    if bits is not None:
        plan_qat(
            work_cfg,
            bits=bits,
            layer_bits=layer_bits,
            act_integer=act_integer,
            weight_integer=weight_integer,
        )

    card = card_of(work_cfg)
    metric = task_metric(card)
    ds = run_dataset(work_cfg)
    history = list(cfg.get("compression", [])) if not distilling else []
    result = CompressionResult(out)
    summary = {
        "source": str(run_dir),
        "model": work_cfg["model"],
        "dataset": work_cfg["dataset"],
        "metric": metric,
        "request": {
            "distill_from": str(distill_from) if distill_from else None,
            "student": student,
            "student_overrides": student_overrides,
            "prune": prune,
            "prune_layers": prune_layers,
            "prune_schedule": prune_schedule,
            "bits": bits,
            "layer_bits": layer_bits,
            "weight_integer": weight_integer,
            "act_integer": act_integer,
            "epochs": epochs,
            "distill_epochs": distill_epochs or epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "temperature": temperature,
            "student_loss_weight": student_loss_weight,
        },
        "rows": [],
        "steps": [],
    }
    if distilling:
        t_card = card_of(t_cfg)
        t_metrics = test_metrics(teacher, t_card, ds)
        summary["rows"].append(
            _row("teacher", distill_from or run_dir, metric, t_metrics, model_stats(teacher))
        )
        current, current_metrics = None, None
    else:
        current, current_metrics = model, test_metrics(model, card, ds)
        summary["rows"].append(_row("input", run_dir, metric, current_metrics, model_stats(model)))

    def finish(step: str, new_model, new_cfg, before_model, before_metrics, extra: dict, src):
        step_dir = out / STEP_DIRS[step]
        after = test_metrics(new_model, card, ds)
        stats_after, stats_before = model_stats(new_model), model_stats(before_model)
        entry = {
            "step": step,
            "source": str(src),
            **{k: v for k, v in extra.items() if k != "history"},
        }
        new_cfg = dict(new_cfg)
        new_cfg["compression"] = [*history, entry]
        report = {
            "step": step,
            "dir": str(step_dir),
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
        with quiet_qkeras():
            reloaded, _ = load_run(step_dir)
        report["reload_max_abs_diff"] = _max_diff(new_model, reloaded, ds.x_test[:64])
        with quiet_qkeras():
            _write_json(step_dir / "compression.json", report)
        history.append(entry)
        result.steps.append(StepResult(step, step_dir, report))
        summary["rows"].append(_row(step, step_dir, metric, after, stats_after))
        summary["steps"].append(
            {
                "step": step,
                "dir": STEP_DIRS[step],
                "before": before_metrics.get(metric),
                "after": after.get(metric),
                "delta": report["delta"],
            }
        )
        summary["final"] = STEP_DIRS[step]
        _write_json(out / "compression.json", summary)
        return after

    if distilling:
        s_card = card
        d_epochs = distill_epochs or epochs
        scratch_metrics = None
        if scratch_baseline:
            _seed(work_cfg, seed)
            scratch = build(work_cfg, KERAS3, "distill")
            scratch, scratch_s = train_scratch(
                scratch,
                s_card,
                ds,
                epochs=d_epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                verbose=verbose,
                on_step=on_step,
            )
            scratch_metrics = {**test_metrics(scratch, s_card, ds), "train_seconds": scratch_s}
        _seed(work_cfg, seed)
        fresh = build(work_cfg, KERAS3, "distill")
        trained, info = distill_step(
            teacher,
            fresh,
            s_card,
            ds,
            temperature=temperature,
            student_loss_weight=student_loss_weight,
            epochs=d_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            verbose=verbose,
            on_step=on_step,
        )
        extra = {
            "teacher": str(distill_from or run_dir),
            "teacher_model": t_cfg["model"],
            "student_model": work_cfg["model"],
            "student_overrides": work_cfg.get("overrides"),
            "student_scratch": scratch_metrics,
            **info,
        }
        current_metrics = finish(
            "distill", trained, work_cfg, teacher, t_metrics, extra, distill_from or run_dir
        )
        current = trained
        source = out / STEP_DIRS["distill"]

    if prune is not None:
        _seed(work_cfg, seed)
        pruned, info = prune_step(
            current,
            work_cfg,
            ds,
            target=prune,
            layers=prune_layers,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            schedule=prune_schedule,
            verbose=verbose,
            on_step=on_step,
        )
        current_metrics = finish("prune", pruned, work_cfg, current, current_metrics, info, source)
        current = pruned
        source = out / STEP_DIRS["prune"]

    if bits is not None:
        _seed(work_cfg, seed)
        qmodel, info = qat_step(
            current,
            work_cfg,
            ds,
            bits=bits,
            layer_bits=layer_bits,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_integer=weight_integer,
            act_integer=act_integer,
            verbose=verbose,
            on_step=on_step,
        )
        finish("qat", qmodel, work_cfg, current, current_metrics, info, source)

    result.summary = summary
    return result


def _max_diff(a, b, x) -> float:
    import numpy as np

    with quiet_qkeras():
        ya, yb = np.asarray(a.predict(x, verbose=0)), np.asarray(b.predict(x, verbose=0))
    return float(np.abs(ya - yb).max())
