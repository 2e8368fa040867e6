"""``export_run`` / ``export_model``: every requested artifact, verified, recorded in a manifest.

The whole export is built in a locked temporary sibling of the output directory and put in
place in one transaction (:class:`zoo.core.transaction.Build`) only when complete, so an earlier export
there stays whole until then; files a user put in it are carried over, ``force`` or not. Each artifact is run on the test
split and compared with the Keras model it came from (:mod:`export.verify`). A target that fails
(an unsupported layer, a converter error) or an artifact that misses a parity bound is recorded
in ``manifest.json``; after the manifest is written, :class:`~export.errors.ExportFailed` is
raised listing them all (``fail_on_parity=False`` records parity failures without raising).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export import parity, targets, verify
from export.common import ExportData, is_quantized, predict, sparsity
from export.errors import ExportFailed, ExportOptionsError
from export.manifest import SCHEMA, relpath
from export.recorder import Recorder
from zoo.core.claim import replacing
from zoo.core.introspect import versions
from zoo.core.io import write_json_atomic
from zoo.core.options import option, record, validate
from zoo.core.paths import check_writable

# Read from the registry (export/targets/): one module per target.
TARGETS = targets.names()
DEFAULT_TARGETS = targets.default_names()  # openvino on request (--to ...,openvino)
ONNX_VARIANTS = targets.get("onnx").variants
STEM = targets.STEM


@dataclass
class _ExportOptions:
    """Options of an export (keyword arguments of :func:`export_run`, the recipe's ``export:``
    section, the flags of ``edgezoo export``): these common ones plus each target's own
    (``Options`` in its ``export/targets/`` module), declared once with :mod:`zoo.core.options`."""

    calibration_samples: int = option(
        256, "training samples for int8 calibration", min=1, metavar="N"
    )
    parity_samples: int | None = option(
        None, "test samples for parity (None: the whole test split)", min=1, metavar="N"
    )
    dynamic_batch: int = option(16, "the batch N of the dynamic-batch check", min=1, metavar="N")
    thresholds: dict = option(
        {},
        "parity bounds over the defaults, keyed format/variant, as JSON, e.g. "
        '\'{"tflite/int8": {"min_argmax_agreement": 0.9}}\'',
    )
    fail_on_parity: bool = option(
        True,
        "fail the export when a parity bound is missed (the CLI: --allow-parity-failures)",
        cli=False,
    )
    seed: int | None = option(None, "seed of the calibration draw (None: the run's seed)")
    progress: object = None  # callable(str) for progress lines
    on_step: object = None  # callable(label, done, total, info): one step per artifact attempted

    @classmethod
    def from_kwargs(cls, **kw):
        try:
            return validate(cls, kw, where="export")
        except ExportOptionsError:
            raise
        except ValueError as exc:  # OptionError and the targets' checks: the user's to fix
            raise ExportOptionsError(str(exc)) from None

    def check(self):
        for t in targets.all_targets():  # each target's rules between its fields, read from self
            if t.options is not None and hasattr(t.options, "check"):
                t.options.check(self)
        parity.validate(self.thresholds)

    def record(self) -> dict:
        return record(self)


def _target_fields() -> list[tuple]:
    """Each target's options as fields of :class:`ExportOptions`."""
    out = []
    for t in targets.all_targets():
        if t.options is None:
            continue
        hints = typing.get_type_hints(t.options)
        for f in dataclasses.fields(t.options):
            default = (
                {"default": f.default}
                if f.default is not dataclasses.MISSING
                else {"default_factory": f.default_factory}
            )
            out.append((f.name, hints[f.name], dataclasses.field(metadata=f.metadata, **default)))
    return out


ExportOptions = dataclasses.make_dataclass(
    "ExportOptions", _target_fields(), bases=(_ExportOptions,)
)
ExportOptions.__module__, ExportOptions.__doc__ = __name__, _ExportOptions.__doc__


def check_targets(to) -> tuple[str, ...]:
    if isinstance(to, str):
        to = [t.strip() for t in to.split(",") if t.strip()]
    to = tuple(dict.fromkeys(to))
    bad = [t for t in to if t not in TARGETS]
    if bad or not to:
        raise ExportOptionsError(
            f"export targets must be a non-empty subset of {TARGETS}. Received: {list(to)}"
        )
    return to


# --------------------------------------------------------------------------- entry points


def export_run(run_dir, to=DEFAULT_TARGETS, out=None, *, force: bool = False, **opts) -> dict:
    """Export the model directory ``run_dir`` (config.json + model.keras) to ``to``.

    Writes the artifacts and ``manifest.json`` into ``out`` (default ``<run_dir>/export``) and
    returns the manifest. Calibration data comes from the run's training split, parity is measured
    on its test split (the exact split of training: same data set, seed, limit and adaptation).
    An earlier export of the same model in ``out`` is replaced; a result of another kind or
    model only with ``force``; ``run_dir`` itself never (nor a directory holding it).
    """
    from training.model_dir import load_run, run_dataset

    to = check_targets(to)
    options = ExportOptions.from_kwargs(**opts)
    run_dir = Path(run_dir)
    out = check_writable(Path(out) if out is not None else run_dir / "export")  # before any work
    from zoo.core.claim import check_sources

    check_sources(out, [run_dir])
    model, cfg = load_run(run_dir)
    if cfg.hgq:  # an HGQ2 model (compress step hgq): FPGA targets only
        from export.targets.hls4ml.hgq import check_targets as check_hgq_targets

        check_hgq_targets(to)
    world = cfg.world
    ds = run_dataset(cfg)
    seed = cfg.seed if options.seed is None else options.seed
    data = ExportData.from_dataset(
        ds,
        calibration_samples=options.calibration_samples,
        seed=seed,
        parity_samples=options.parity_samples,
    )
    src_file = run_dir / "model.keras"
    source = {
        "dir": relpath(run_dir, out),
        "model": cfg.model,
        "dataset": cfg.dataset,
        "sha256": _sha256(src_file),
        "sha256_of": "model.keras",
        "bytes": src_file.stat().st_size,
        "config": {k: cfg.raw[k] for k in ("overrides", "seed", "limit") if k in cfg.raw},
    }
    task = cfg.task
    return _export(
        model,
        out,
        world=world,
        task=task,
        data=data,
        to=to,
        source=source,
        options=options,
        force=force,
        sources=[run_dir],
    )


def export_model(
    model,
    out,
    *,
    data: ExportData,
    task: str = "classification",
    to=DEFAULT_TARGETS,
    world: str | None = None,
    source: dict | None = None,
    force: bool = False,
    **opts,
) -> dict:
    """Export an in-memory model (no model directory) with explicit calibration/parity data."""
    from zoo.core.worlds import world_of

    to = check_targets(to)
    options = ExportOptions.from_kwargs(**opts)
    out = check_writable(out)
    world = world or world_of(model)
    src = {
        "dir": None,
        "model": model.name,
        "dataset": data.info.get("dataset"),
        "sha256": _weights_sha256(model),
        "sha256_of": "weights",
        "bytes": None,
    }
    src.update(source or {})
    return _export(
        model,
        Path(out),
        world=world,
        task=task,
        data=data,
        to=to,
        source=src,
        options=options,
        force=force,
    )


def _sha256(path: Path) -> str:
    from export.common import sha256_file

    return sha256_file(path)


def _weights_sha256(model) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- the export itself


def retarget_exports(tmp, final):
    """Export directories built under ``tmp`` name ``final`` (:func:`zoo.core.transaction.retarget`, the
    one retarget routine), their manifests' sha256 and sizes following (:func:`refresh_manifests`)."""
    from zoo.core.transaction import retarget

    changed = retarget(tmp, final)
    if changed:
        refresh_manifests(tmp, changed)


def refresh_manifests(tmp, changed):
    """After :func:`zoo.core.transaction.retarget` rewrote ``changed`` files under ``tmp`` (hls4ml records
    absolute paths), every manifest under ``tmp`` gets the sha256 and sizes of its artifacts
    again: the ``on_retarget`` of an export's :meth:`zoo.core.transaction.Build.commit`."""
    for path in sorted(Path(tmp).rglob("manifest.json")):
        manifest = json.loads(path.read_text())
        _refresh(manifest.get("artifacts", []), path.parent, changed)
        write_json_atomic(path, manifest)


def _refresh(artifacts: list[dict], root: Path, changed: list[Path]):
    """The sha256 and size of each artifact (paths relative to ``root``) holding a changed file."""
    from export.common import sha256_file, tree_sha256

    changed = [p.resolve() for p in changed]
    for a in artifacts:
        if not isinstance(a.get("path"), str) or "sha256" not in a:
            continue
        path = (root / a["path"]).resolve()
        if any(p == path or path in p.parents for p in changed):
            a["sha256"], a["bytes"] = (
                tree_sha256(path) if path.is_dir() else (sha256_file(path), path.stat().st_size)
            )


def _export(
    model,
    out: Path,
    *,
    world,
    task,
    data: ExportData,
    to,
    source: dict,
    options: ExportOptions,
    force: bool = False,
    sources=(),
) -> dict:
    """Claim and lock ``out`` (:mod:`zoo.core`), build the export in a locked temporary
    sibling and put it in place in one transaction (:meth:`zoo.core.transaction.Build.commit`) only when
    it is complete: an export that fails, is interrupted or killed leaves an earlier export in
    ``out`` as it was. Files in ``out`` that edgezoo did not write are carried over.

    A failed export (an error or a missed parity bound) into a new or empty ``out`` is still
    swapped in, so its manifest records what failed; over an earlier export it is discarded.
    """
    out = Path(out)
    command = f"export to {', '.join(to)}"
    identity = {"model": source.get("model"), "dataset": source.get("dataset")}
    with replacing(out, "export", identity, force=force, command=command, sources=sources) as build:
        try:
            _export_locked(
                model,
                build.tmp,
                final=out,
                world=world,
                task=task,
                data=data,
                to=to,
                source=source,
                options=options,
            )
            failed = None
        except ExportFailed as exc:
            if build.earlier:
                raise ExportFailed(
                    exc.failures, errors=exc.errors, kept=f"{out} keeps its earlier export"
                ) from exc.__cause__
            failed = exc
        build.commit(on_retarget=refresh_manifests)
        if failed is not None:
            raise ExportFailed(
                failed.failures, manifest=out / "manifest.json", errors=failed.errors
            ) from failed.__cause__
        return json.loads((out / "manifest.json").read_text())


def _export_locked(
    model,
    out: Path,
    *,
    final: Path,
    world,
    task,
    data: ExportData,
    to,
    source: dict,
    options: ExportOptions,
) -> dict:
    """Export into ``out``, the temporary sibling of ``final`` (where it will be swapped in)."""
    x = data.x_test
    model(x[:1], training=False)  # a loaded Keras 3 model must have been called before export
    ref = predict(model, x)
    rec = Recorder(out, task, ref, data, options, source["sha256"])
    chosen = [t for t in targets.all_targets() if t.runs(to, options, model)]  # registry order
    rec.total = sum(t.count(options) if t.count else 1 for t in chosen)  # for on_step
    keras_metrics = verify.compare(ref, ref, task=task, x=x, y=data.y_test)
    source = {
        **source,
        "world": world,
        "task": task,
        "quantized": is_quantized(model),
        "sparsity": round(sparsity(model), 6),
        "params": int(model.count_params()),
        "keras_metrics": {
            k: keras_metrics[k] for k in ("keras_accuracy", "keras_mse") if k in keras_metrics
        },
    }
    for target in chosen:
        target.export(rec, model, world)
    artifacts, failures, errors = rec.outcome()
    manifest = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": source,
        "targets": list(to),
        "data": data.info,
        "options": options.record(),
        "artifacts": artifacts,
        "passed": not failures,
        "failures": failures,
        "versions": versions(),
    }
    path = write_json_atomic(out / "manifest.json", manifest)
    if errors or (failures and options.fail_on_parity):
        raise ExportFailed(failures, manifest=path, errors=errors) from (
            errors[0] if errors else None
        )
    return manifest
