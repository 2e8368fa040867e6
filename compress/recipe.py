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

Every request is validated before any training: the options (:class:`compress.options.CompressOptions`:
sparsity in [0, 1), bits >= 2, ...), then known and supported layers, compatible teacher and student.
``compress()`` reads as its steps: load the source, resolve teacher/student, check the plan, measure
the input, then distill, prune and quantize; :class:`compress.book.StepBook` writes each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compress.book import CompressionResult, StepBook
from compress.common import build, card_of, test_metrics
from compress.distill import check_pair, train_scratch
from compress.distill import distill as distill_step
from compress.errors import CompressionError
from compress.hgq_step import hgq_step, plan_hgq
from compress.metrics import task_metric
from compress.options import CompressOptions, compress_options
from compress.prune import plan_pruning
from compress.prune import prune as prune_step
from compress.quantize import plan_qat
from compress.quantize import qat as qat_step
from training.model_dir import load_run, run_dataset
from zoo.core.claim import replacing
from zoo.core.options import record
from zoo.core.paths import check_writable
from zoo.core.run_config import RunConfig
from zoo.core.worlds import KERAS3
from zoo.registry import builder_config, get_card


def compress(
    run_dir, *, out=None, force: bool = False, verbose: int = 0, on_step=None, **options
) -> CompressionResult:
    """Distill (``distill_from`` or ``student``), prune (``prune`` = target sparsity) and quantize
    (``bits``) the model of ``run_dir``, in that order, each step optional. ``options`` are the
    fields of :class:`compress.options.CompressOptions`. Returns the step directories and reports;
    see the module docstring for the layout.

    ``out`` (default ``RUN_DIR-compressed``) is checked, claimed and locked (:mod:`zoo.core`)
    before any model is loaded or trained; the whole chain is built beside it and put in place
    in one transaction when every step is written, so a re-run (fewer steps, another request)
    or a killed one never leaves a stale step or a summary that does not match the files. An
    earlier compression of the same RUN_DIR is replaced; a result of another kind or source
    only with ``force``; RUN_DIR itself never. ``on_step(label, done, total, info)`` reports
    epochs."""
    opts = compress_options(options)
    run_dir = Path(run_dir)
    out = check_writable(Path(out) if out else run_dir.with_name(f"{run_dir.name}-compressed"))
    identity = {"source": str(run_dir.resolve())}
    with replacing(
        out,
        "compress",
        identity,
        force=force,
        command=f"compress {run_dir}",
        sources=[run_dir, opts.distill_from],
    ) as build:
        result = _compress(run_dir, build.tmp, out, opts, verbose=verbose, on_step=on_step)
        build.commit()
        return result


@dataclass
class _Source:
    """What the chain starts from: the model of RUN_DIR, the teacher (when distilling) and the
    config of the model the steps produce (the student's, when distilling)."""

    model: object
    cfg: RunConfig
    work_cfg: RunConfig
    teacher: object = None
    t_cfg: RunConfig | None = None
    teacher_dir: Path | None = None


def _compress(
    run_dir: Path, tmp: Path, out: Path, opts: CompressOptions, *, verbose, on_step
) -> CompressionResult:
    """The chain, written into ``tmp`` (the build of ``out``; reports name ``out``)."""
    src = _resolve(run_dir, opts)
    _check_plan(src, opts)
    book = _open_book(run_dir, tmp, out, src, opts)
    fit = {
        "batch_size": opts.batch_size,
        "learning_rate": opts.learning_rate,
        "verbose": verbose,
        "on_step": on_step,
    }
    state = _measure_input(
        book, run_dir, src, opts
    )  # (model, its metrics, its directory) for the next step
    if opts.distilling:
        state = _distill(book, src, opts, fit, *state)
    if opts.prune is not None:
        state = _prune(book, src, opts, fit, *state)
    if opts.bits is not None:
        _qat(book, src, opts, fit, *state)
    if opts.hgq is not None:  # from the float (or pruned) model, beside QAT
        hgq_step(book, src, opts, fit, *state)
    return book.result


def _resolve(run_dir: Path, opts: CompressOptions) -> _Source:
    """Load RUN_DIR and, when distilling, the teacher; the config the chain's models get."""
    model, cfg = load_run(run_dir)
    if cfg.world != KERAS3:
        raise CompressionError(
            f"{run_dir} holds a {cfg.world} (QKeras) model, the end of a compression chain; compress the "
            "float or pruned model directory it came from."
        )
    if opts.distill_from is not None:
        teacher, t_cfg = load_run(opts.distill_from)
        if t_cfg.world != KERAS3:
            raise CompressionError(
                f"distill: the teacher {opts.distill_from} is a QKeras model; use a float teacher."
            )
        if t_cfg.same_data_key != cfg.same_data_key:
            raise CompressionError(
                "distill: teacher and student runs used different data "
                f"(teacher {t_cfg.dataset}/seed {t_cfg.seed}/limit {t_cfg.limit}, "
                f"student {cfg.dataset}/seed {cfg.seed}/limit {cfg.limit})."
            )
        work_cfg = cfg.without("compression")
        return _Source(model, cfg, work_cfg, teacher, t_cfg, Path(opts.distill_from))
    if opts.student is not None:
        work_cfg = _student_config(model, cfg, opts.student, opts.student_overrides)
        return _Source(model, cfg, work_cfg, model, cfg, run_dir)
    return _Source(model, cfg, cfg)


def _check_plan(src: _Source, opts: CompressOptions):
    """Every step's model-dependent checks (pair, layers, quantizers), before any training."""
    if opts.distilling:
        check_pair(src.teacher, src.t_cfg, build(src.work_cfg, KERAS3, "distill"), src.work_cfg)
    if opts.prune is not None:
        plan_pruning(None, src.work_cfg, opts.prune_layers)
    if opts.hgq is not None:
        plan_hgq(build(src.work_cfg, KERAS3, "hgq"))
    if opts.bits is not None:
        plan_qat(
            src.work_cfg,
            bits=opts.bits,
            layer_bits=opts.layer_bits,
            act_integer=opts.act_integer,
            weight_integer=opts.weight_integer,
        )


def _open_book(
    run_dir: Path, tmp: Path, out: Path, src: _Source, opts: CompressOptions
) -> StepBook:
    card = card_of(src.work_cfg)
    metric = task_metric(card)
    request = record(opts)
    request.update(
        distill_from=str(opts.distill_from) if opts.distill_from else None,
        distill_epochs=opts.distill_epochs or opts.epochs,
    )
    for key in ("scratch_baseline", "seed"):  # how the chain ran, not what it was asked to produce
        request.pop(key)
    summary = {
        "source": str(run_dir),
        "model": src.work_cfg.model,
        "dataset": src.work_cfg.dataset,
        "metric": metric,
        "request": request,
        "rows": [],
        "steps": [],
    }
    history = [] if opts.distilling else list(src.cfg.compression)
    return StepBook(tmp, card, metric, run_dataset(src.work_cfg), history, summary, final=out)


def _measure_input(book: StepBook, run_dir: Path, src: _Source, opts: CompressOptions):
    """The first summary row: the teacher when distilling, else the input model.
    Returns (model, its metrics, its directory): what the first step starts from."""
    if opts.distilling:
        metrics = test_metrics(src.teacher, card_of(src.t_cfg), book.ds)
        book.add_row("teacher", src.teacher_dir, src.teacher, metrics)
        return src.teacher, metrics, src.teacher_dir
    metrics = test_metrics(src.model, book.card, book.ds)
    book.add_row("input", run_dir, src.model, metrics)
    return src.model, metrics, run_dir


def _distill(
    book: StepBook, src: _Source, opts: CompressOptions, fit: dict, teacher, t_metrics, teacher_dir
):
    """Distill the teacher into a fresh student (and, for the report, train the same student from scratch)."""
    epochs = opts.distill_epochs or opts.epochs
    scratch_metrics = None
    if opts.scratch_baseline:
        _seed(src.work_cfg, opts.seed)
        scratch, seconds = train_scratch(
            build(src.work_cfg, KERAS3, "distill"), book.card, book.ds, epochs=epochs, **fit
        )
        scratch_metrics = {**test_metrics(scratch, book.card, book.ds), "train_seconds": seconds}
    _seed(src.work_cfg, opts.seed)
    trained, info = distill_step(
        teacher,
        build(src.work_cfg, KERAS3, "distill"),
        book.card,
        book.ds,
        temperature=opts.temperature,
        student_loss_weight=opts.student_loss_weight,
        epochs=epochs,
        **fit,
    )
    extra = {
        "teacher": str(teacher_dir),
        "teacher_model": src.t_cfg.model,
        "student_model": src.work_cfg.model,
        "student_overrides": src.work_cfg.overrides,
        "student_scratch": scratch_metrics,
        **info,
    }
    return book.write("distill", trained, src.work_cfg, teacher, t_metrics, extra, teacher_dir)


def _prune(
    book: StepBook, src: _Source, opts: CompressOptions, fit: dict, current, metrics, source
):
    _seed(src.work_cfg, opts.seed)
    pruned, info = prune_step(
        current,
        src.work_cfg,
        book.ds,
        target=opts.prune,
        layers=opts.prune_layers,
        epochs=opts.epochs,
        schedule=opts.prune_schedule,
        **fit,
    )
    return book.write("prune", pruned, src.work_cfg, current, metrics, info, source)


def _qat(book: StepBook, src: _Source, opts: CompressOptions, fit: dict, current, metrics, source):
    _seed(src.work_cfg, opts.seed)
    qmodel, info = qat_step(
        current,
        src.work_cfg,
        book.ds,
        bits=opts.bits,
        layer_bits=opts.layer_bits,
        epochs=opts.epochs,
        weight_integer=opts.weight_integer,
        act_integer=opts.act_integer,
        **fit,
    )
    return book.write("qat", qmodel, src.work_cfg, current, metrics, info, source)


def _student_config(
    teacher, t_cfg: RunConfig, student: str, student_overrides: dict | None
) -> RunConfig:
    card = get_card(student)  # unknown model -> clear error
    accepted = builder_config(student)
    ov = dict(student_overrides or {})
    if "input_shape" in accepted and "input_shape" not in ov:
        ov["input_shape"] = [int(s) for s in teacher.inputs[0].shape[1:]]
    if "classes" in accepted and "classes" not in ov and card.task == "classification":
        ov["classes"] = int(teacher.outputs[0].shape[-1])
    return t_cfg.without("compression").replace(
        model=student, overrides=ov, card=card.to_dict(), world=KERAS3
    )


def _seed(cfg: RunConfig, seed):
    import keras

    keras.utils.set_random_seed(int(cfg.seed if seed is None else seed))
