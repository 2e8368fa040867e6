"""``edgezoo bench-compat``: Keras Applications models nobody here wrote, through import and
every export target, one row per architecture (:mod:`edgezoo.experiments.archs`).

Per model: build with fresh weights (``weights=None``), make it *informative* by a short fit on
the offline digits upsampled to the model's input (3 channels, 0-255, through the architecture's
``preprocess_input``) with every
``BatchNormalization``'s momentum at 0 during the fit (so its moving statistics are the last
batch's, not the initial 0/1; then set from 256 samples; momentum restored before saving) -- the manifest's ``informative`` and
``reference_spread`` check that the outputs depend on the input. Save it as a user would
(``model.keras``; ``model.h5`` written by tf-keras from the same architecture with the same
weights), ``edgezoo import`` both, export the ``.keras`` import to ONNX, TFLite and OpenVINO
(fp32 and int8 each) through :func:`export.export_run`, decide hls4ml up front
(:mod:`edgezoo.experiments.hls_gate`), and time the best verified int8 against the best fp32
with ``bench-int8``'s interleaved measurement (:func:`edgezoo.experiments.int8.bench_model`).
A row never ends in a traceback: a failing step is recorded as one line and the row goes on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgezoo.experiments import archs
from edgezoo.experiments.compat_doc import markdown
from edgezoo.experiments.compat_fit import (
    INPUT_NOISE,
    UNTIL_ACCURACY,
    digits_data,
    fit_informative,
)
from zoo.core.errors import EdgezooError

if TYPE_CHECKING:
    from export.manifest import Manifest

TARGETS = ("onnx", "tflite", "openvino")


class CompatError(EdgezooError, ValueError):
    pass


VARIANTS = {"onnx_variants": ("fp32", "int8"), "tflite_variants": ("fp32", "int8")}
VARIANTS["openvino_variants"] = ("fp32", "int8")


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_h5(name: str, model, path: Path) -> str | None:
    """The same architecture built by tf-keras, Keras 3's weights set, saved as Keras 2 ``.h5``.
    Returns None, or why it could not be written (one line)."""
    try:
        twin = archs.build(name, world="tf_keras")
        twin.set_weights(model.get_weights())
        x = np.random.default_rng(0).uniform(0, 1, (4, *archs.ARCHS[name].input_shape))
        x = x.astype(np.float32)
        d = float(np.abs(np.asarray(twin(x, training=False)) - np.asarray(model(x))).max())
        if d > 1e-4:
            return f"tf-keras twin computes different outputs (max|diff| {d:.2g})"
        twin.save(str(path))
    except Exception as exc:  # noqa: BLE001 - recorded in the row
        return one_line(exc)
    return None


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 1)


def _artifact_row(a: dict) -> dict:
    p = a.get("parity") or {}
    row = {"status": "fail" if a.get("error") or not p.get("passed") else "pass"}
    if a.get("error"):
        row["error"] = " ".join(str(a["error"]).split())[:300]
    elif not p.get("passed"):
        row["error"] = "; ".join(p.get("failures") or [])[:300]
    for k in ("max_abs_diff", "argmax_agreement", "accuracy_delta", "informative"):
        if k in p:
            row[k] = p[k]
    if "reference_spread" in p:
        row["reference_spread"] = p["reference_spread"]
    if "bytes" in a:
        row["bytes"] = a["bytes"]
    return row


def _export(imp_dir: Path, out: Path, progress) -> Manifest:
    from export import export_run
    from export.errors import ExportError
    from export.manifest import Manifest

    try:
        manifest = export_run(
            imp_dir,
            to=TARGETS,
            out=out,
            fail_on_parity=False,
            calibration_samples=128,
            progress=lambda m: None,
            **VARIANTS,
        )
    except ExportError:  # failures are in the manifest written next to it
        manifest_path = out / "manifest.json"
        if not manifest_path.exists():
            raise
        return _exported(Manifest.read(manifest_path), progress)
    return _exported(Manifest.from_dict(manifest), progress)


def _exported(manifest: Manifest, progress) -> Manifest:
    progress(f"  export: {'pass' if manifest.passed else 'see failures'}")
    return manifest


def _bench(export_dir: Path, manifest: Manifest, data: dict, *, rounds: int, budget_s: float):
    from edgezoo.experiments.int8 import bench_model, summarize

    verified = tuple(a for a in manifest.artifacts if (a.get("parity") or {}).get("passed"))
    if not any(a["variant"] == "int8" for a in verified):
        return {"model": "", "error": "no int8 artifact passed its parity gates (not timed)"}
    arts = bench_model(  # only verified artifacts: the comparison is between those
        export_dir,
        dataclasses.replace(manifest, artifacts=verified),
        data["x_test"],
        data["y_test"],
        threads=1,
        rounds=rounds,
        budget_s=budget_s,
    )
    keras_acc = manifest.source["keras_metrics"].get("keras_accuracy")
    return summarize("", arts, keras_acc)


def run_model(name: str, out: Path, opts: dict, supported: set, progress=print) -> dict:
    """One row of the matrix (see the module docstring)."""
    from training.imports import import_model

    a = archs.ARCHS[name]
    row: dict = {"model": name, "input": list(a.input_shape), "kwargs": a.kwargs, "steps": {}}
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)

    def step(what, fn):
        t = time.perf_counter()
        try:
            res = fn()
        except Exception as exc:  # noqa: BLE001 - one line in the row, the row goes on
            status = "refused" if isinstance(exc, EdgezooError) else "fail"
            row["steps"][what] = {"status": status, "error": one_line(exc), "seconds": _since(t)}
            progress(f"  {what}: {status.upper()} {one_line(exc, 160)}")
            return None
        row["steps"][what] = {"status": "pass", "seconds": _since(t)}
        return res

    model = step("build", lambda: archs.build(name))
    if model is None:
        return row
    row["params"] = int(model.count_params())
    data = digits_data(name, opts["n_train"], opts["n_test"])
    np.savez(out / "data.npz", **data)
    built = [model]  # the first fit takes the model built above; a refit builds afresh
    fitted = step(
        "fit",
        lambda: fit_informative(
            lambda: built.pop() if built else archs.build(name),
            data,
            epochs=opts["epochs"],
            lr=a.lr,
            input_noise=opts.get("input_noise", 0.0),
            until_accuracy=opts.get("until_accuracy", 1.0),
        ),
    )
    if fitted is None:
        return row
    model, fit = fitted
    row["informative_by"] = fit["how"]
    # over the int8 gate's rel_error 0.10, no int8 artifact can hold the model
    row["input_sensitivity"] = round(fit["sensitivity"], 4)
    if "refit" in fit:
        row["refit"] = fit["refit"]
    row["keras_accuracy_after_fit"] = round(float(fit["acc"]), 4)
    from edgezoo.experiments.hls_gate import verdict

    row["hls4ml"] = verdict(model, supported)
    step("save .keras", lambda: model.save(out / "model.keras"))
    h5_err = write_h5(name, model, out / "model.h5")
    row["steps"]["save .h5"] = {"status": "fail" if h5_err else "pass", "error": h5_err}
    kw = {"force": True, "seed": 0}
    imp = step(
        "import .keras",
        lambda: import_model(out / "model.keras", out / "data.npz", out=out / "import", **kw),
    )
    if not h5_err:
        h5 = step(
            "import .h5",
            lambda: import_model(out / "model.h5", out / "data.npz", out=out / "import-h5", **kw),
        )
        if h5 is not None:
            row["h5_world"] = h5.config.world
    if imp is None:
        return row
    manifest = step("export", lambda: _export(out / "import", out / "export", progress))
    if manifest:
        row["artifacts"] = {
            f"{x['format']}/{x['variant']}": _artifact_row(x) for x in manifest.artifacts
        }
    row["seconds"] = _since(t0)
    return row


def bench_row(row: dict, out: Path, opts: dict, progress=print) -> dict:
    """The row's int8 timing (:func:`_bench`) on its verified artifacts in ``out/export``, added
    to ``row`` as the step ``bench`` (with its seconds in the row's total). Run with nothing else
    on the machine: :func:`bench_compat` times every row after all rows are exported."""
    from export.manifest import Manifest

    if not opts["rounds"] or "artifacts" not in row:
        return row
    t = time.perf_counter()
    try:
        data = dict(np.load(out / "data.npz"))
        manifest = Manifest.read(out / "export" / "manifest.json")
        res = _bench(
            out / "export", manifest, data, rounds=opts["rounds"], budget_s=opts["budget_s"]
        )
        row["int8_bench"] = res
        row["xnnpack_partitions"] = {
            f"tflite/{a['variant']}": xnnpack_partitions(out / "export" / a["path"])
            for a in manifest.artifacts
            if a["format"] == "tflite" and a.get("path") and not a.get("error")
        }
        row["steps"]["bench"] = {"status": "pass", "seconds": _since(t)}
    except Exception as exc:  # noqa: BLE001 - one line in the row
        row["steps"]["bench"] = {"status": "fail", "error": one_line(exc), "seconds": _since(t)}
        progress(f"  bench: FAIL {one_line(exc, 160)}")
    row["seconds"] = round(row.get("seconds", 0) + row["steps"]["bench"]["seconds"], 1)
    return row


def xnnpack_partitions(path) -> int:
    """How many parts of a TFLite file LiteRT's XNNPACK delegate runs (its DELEGATE nodes): one
    where it takes every operator; each operator it refuses (int8 HARD_SWISH in MobileNetV3)
    cuts the graph, and the float or reference kernels between the parts cost the int8 its
    speed. Read from the interpreter's node list (``_get_ops_details``, LiteRT's own listing)."""
    from export.targets.tflite.convert import interpreter

    it = interpreter(str(path), 1)
    it.allocate_tensors()
    return sum(op["op_name"] == "DELEGATE" for op in it._get_ops_details())


def _release():
    """Free one row's models before the next (one process runs the whole list)."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


def _earlier_rows(path: Path) -> dict:
    """Rows of earlier runs in the same ``--out`` (so the matrix can be run model by model); a
    row this run redoes replaces its earlier one when it is done. Each row carries its own date
    and options."""
    try:
        rows = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {r["model"]: r for r in rows if isinstance(r, dict) and r.get("model") in archs.ARCHS}


def _new_result(opts: dict) -> dict:
    """compat.json before its rows: when, with what versions, on what machine, with what options."""
    from export.peak import cpu_info
    from export.runtime_bench import conditions
    from zoo.core.introspect import versions

    return {
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": versions(),
        "conditions": {**conditions(), "lscpu": cpu_info(), "load_before": os.getloadavg()},
        "options": opts,
        "rows": [],
    }


def _check_fit_options(input_noise: float, until_accuracy: float):
    """One line before any work for a fit option out of its range (NaN included)."""
    if not 0 <= input_noise < 1:
        raise CompatError(
            f"bench-compat: input_noise {input_noise} is a fraction of the input range in [0, 1)"
        )
    if not 0 < until_accuracy <= 1:
        raise CompatError(
            f"bench-compat: until_accuracy {until_accuracy} is a training accuracy in (0, 1] "
            "(1: every epoch unless it reaches 100%)"
        )


def bench_compat(
    out="runs/bench-compat",
    *,
    models=tuple(archs.ARCHS),
    epochs: int = 10,
    n_train: int = 512,
    n_test: int = 128,
    input_noise: float = INPUT_NOISE,
    until_accuracy: float = UNTIL_ACCURACY,
    rounds: int = 1,
    budget_s: float = 0.05,
    jobs: int = 1,
    doc: str | os.PathLike | None = "docs/compatibility.md",
    progress=print,
) -> dict:
    """Run :func:`run_model` for ``models``; writes ``compat.json`` (and ``doc``) and returns it.
    Rows of earlier runs in ``out`` are kept until this run redoes them (:func:`_earlier_rows`).

    ``jobs`` > 1: that many rows at once, each in a fresh process (a row's conversions run on one
    core: ONNX, TFLite and OpenVINO conversion, NNCF and the parity runs kept the second core
    idle for about half of a row); the int8 timings (:func:`bench_row`) run afterwards, one row
    at a time, with no other row running."""
    from edgezoo.experiments.hls_gate import supported_layers
    from zoo.core.io import write_text_atomic

    models = archs.check_names(models)
    _check_fit_options(input_noise, until_accuracy)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opts = {
        "epochs": epochs,
        "n_train": n_train,
        "n_test": n_test,
        "input_noise": input_noise,
        "until_accuracy": until_accuracy,
        "rounds": rounds,
        "budget_s": budget_s,
        "jobs": jobs,
    }
    result = _new_result(opts)
    supported = supported_layers()
    # rows kept beside the doc (docs/compatibility.json, committed with it), then this --out's
    kept = {**(_earlier_rows(Path(doc).with_suffix(".json")) if doc else {})}
    kept.update(_earlier_rows(out / "compat.json"))
    t0 = time.perf_counter()

    def done(name, row):
        row.update(created=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), options=opts)
        kept[name] = row
        result["rows"] = [kept[n] for n in archs.ARCHS if n in kept]
        write_text_atomic(out / "compat.json", json.dumps(result, indent=2, default=str) + "\n")

    if jobs > 1:
        from edgezoo.experiments.compat_jobs import parallel_rows

        rows = parallel_rows(models, out, opts, supported, jobs, kept, progress, on_row=done)
        for name in models:  # the timings, alone on the machine
            if name in rows:
                progress(f"{name}: int8 timing")
                done(name, bench_row(rows[name], out / name, opts, progress))
    for name in models if jobs <= 1 else ():
        progress(f"{name}: build, fit, save, import, export")
        load = os.getloadavg()
        row = run_model(name, out / name, opts, supported, progress)
        row["load_before"] = load
        done(name, bench_row(row, out / name, opts, progress))
        _release()
    result["seconds"] = _since(t0)
    result["conditions"]["load_after"] = os.getloadavg()
    write_text_atomic(out / "compat.json", json.dumps(result, indent=2, default=str) + "\n")
    if doc:
        write_text_atomic(Path(doc), markdown(result) + "\n")
        side = json.dumps(result, indent=1, default=str) + "\n"
        write_text_atomic(Path(doc).with_suffix(".json"), side)
    return result


def rewrite_doc(out, doc) -> dict:
    """``doc`` written again from ``out/compat.json`` (after a change of the notes, or to merge
    the rows of model-by-model runs), nothing run. A missing or unreadable file is one line."""
    from zoo.core.io import write_text_atomic

    path = Path(out) / "compat.json"
    try:
        result = json.loads(path.read_text())
        result["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CompatError(
            f"bench-compat --doc-only: no readable results in {path} ({type(exc).__name__}); "
            "run bench-compat with this --out first"
        ) from None
    kept = _earlier_rows(Path(doc).with_suffix(".json"))  # the doc's own rows, then --out's
    kept.update({r["model"]: r for r in result["rows"] if isinstance(r, dict) and "model" in r})
    result["rows"] = [kept[n] for n in archs.ARCHS if n in kept]
    write_text_atomic(Path(doc), markdown(result) + "\n")
    side = json.dumps(result, indent=1, default=str) + "\n"
    write_text_atomic(Path(doc).with_suffix(".json"), side)
    return result
