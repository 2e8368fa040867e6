"""``edgezoo bench-mlperf``: the four MLPerf Tiny reference models beside MLPerf's published figures.

Per model (every zoo card with an MLPerf ``reference``): parameters, MACs, the TFLite full-int8
file size next to MLPerf Tiny's published int8 size, LiteRT (int8) and onnxruntime (fp32 and
QDQ int8) batch-1 one-thread p50 latency, the test accuracy (AUC for anomaly detection), and the
TFLM file's flash bytes and measured tensor arena beside the arena of MLPerf's own int8 file.

Without a trained run the model is randomly initialized: size and latency do not depend on
the weights' values, and the int8 models are calibrated on generated standard-normal data of
the input's shape (said so in the result). Accuracy needs trained weights on the real data: it
is measured from a trained run (``runs``), or after training ``train_epochs`` on the data when
the data set is present; otherwise the result says "data not present" (or why there is no
figure) -- never a made-up number.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

import zoo
from export.api import export_model, export_run
from export.common import ExportData
from export.manifest import Manifest
from export.runtime_bench import conditions, run_isolated
from zoo.core.io import atomic_path
from zoo.core.run_config import RunConfig

MAC_CLASSES = {"Conv2D", "DepthwiseConv2D", "Dense", "Conv1D"}
# MLPerf Tiny's reference int8 .tflite files run in TFLM (tflite-micro 0.dev20261023182759, its
# RecordingMicroAllocator, x86-64 host): the tensor arena each allocated, measured here
# (shared/STACK.md; KWS's kws_ref_model.tflite, 53,936 B, from github.com/mlcommons/tiny
# benchmark/training/keyword_spotting/trained_models, measured the same way on 2026-12-04).
MLPERF_TFLM_ARENA = {
    "resnet8": 55_984,
    "mobilenet_v1": 103_680,
    "toyadmos_ae": 3_984,
    "ds_cnn": 24_272,
}


def mlperf_models() -> list[str]:
    """Zoo models that are an MLPerf Tiny reference (their card has a ``reference``)."""
    return [
        n
        for n in zoo.list_models()
        if zoo.get_card(n).reference.get("benchmark", "").startswith("MLPerf")
    ]


def count_macs(model) -> int:
    """Multiply-accumulates of one inference: kernel size x output positions of every
    Conv/DepthwiseConv/Dense layer (a depthwise kernel is kh x kw x C x 1)."""
    total = 0
    for layer in model.layers:
        if type(layer).__name__ not in MAC_CLASSES:
            continue
        kernel = layer.weights[0]
        shape = layer.output.shape
        positions = int(np.prod([int(s) for s in shape[1:-1]])) if len(shape) > 2 else 1
        total += int(np.prod(kernel.shape)) * positions
    return total


@contextlib.contextmanager
def _offline():
    """Look for data without downloading it (CIFAR-10 would otherwise try the network)."""
    old = os.environ.get("EDGEZOO_OFFLINE")
    os.environ["EDGEZOO_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("EDGEZOO_OFFLINE", None)
        else:
            os.environ["EDGEZOO_OFFLINE"] = old


def data_status(dataset: str) -> str:
    """ "present", or "data not present" (the loader's error says where to put it)."""
    from training.datasets.registry import DatasetUnavailableError, load_dataset

    with _offline():
        try:
            load_dataset(dataset, limit=8)
        except DatasetUnavailableError:
            return "data not present"
    return "present"


def _generated(model, n_calib: int, n_test: int, seed: int = 0) -> ExportData:
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    return ExportData.from_arrays(
        rng.standard_normal((n_calib, *shape)).astype("f4"),
        rng.standard_normal((n_test, *shape)).astype("f4"),
        None,
        calibration_samples=n_calib,
        info={"dataset": "generated standard-normal inputs (no data set)"},
    )


def _latencies(manifest: Manifest, out: Path, budget_s: float) -> dict:
    """Batch-1, one-thread p50 (us) of the int8 TFLite (LiteRT) and fp32/int8 ONNX (onnxruntime)."""
    arts = {(a["format"], a["variant"]): a for a in manifest.artifacts if "path" in a}
    specs, keys = [], []
    for key, runtime in (
        (("tflite", "int8"), "litert"),
        (("onnx", "fp32"), "onnxruntime"),
        (("onnx", "int8"), "onnxruntime"),
    ):
        if key in arts:
            specs.append(
                {
                    "runtime": runtime,
                    "path": str(out / arts[key]["path"]),
                    "inputs": str(out / "bench_inputs.npy"),
                    "batch": 1,
                    "threads": 1,
                    "warmup": 20,
                    "runs": 5000,
                    "budget_s": budget_s,
                }
            )
            keys.append(f"{key[0]}_{key[1]}")
    results = run_isolated(specs) if specs else []
    return {k: (r.get("p50_us") if "error" not in r else r["error"]) for k, r in zip(keys, results)}


def _save_bench_input(path: Path, model):
    """One seeded standard-normal input of the model's shape, for the latency runs."""
    with atomic_path(path) as tmp:
        x = np.random.default_rng(0).standard_normal((1, *model.inputs[0].shape[1:]))
        np.save(tmp, x.astype("f4"))


def bench_model(
    name: str,
    out: str | os.PathLike,
    *,
    run_dir=None,
    train_epochs: int = 0,
    overrides: dict | None = None,
    budget_s: float = 1.0,
    calibration_samples: int = 128,
) -> dict:
    """One row of the MLPerf table for zoo model ``name`` (see the module docstring)."""
    card = zoo.get_card(name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    overrides = dict(overrides or {})
    row = {
        "model": name,
        "benchmark": card.reference.get("benchmark"),
        "dataset": card.dataset,
        "quality_target": card.reference.get("quality_target"),
        "mlperf_int8_bytes": card.reference.get("int8_tflite_bytes"),
        "overrides": overrides,
    }
    status = data_status(card.dataset) if run_dir is None else "present"
    if run_dir is None and status == "present" and train_epochs > 0:
        from training.train import train

        run_dir = train(
            name, epochs=train_epochs, overrides=overrides, out=out / "train", verbose=0
        ).dir
    opts = dict(
        to=("onnx", "tflite"),
        onnx_variants=("fp32", "int8"),
        tflite_variants=("int8",),
        calibration_samples=calibration_samples,
        fail_on_parity=False,
    )
    if run_dir is not None:
        from training.model_dir import load_run

        model, cfg = load_run(run_dir)
        manifest = export_run(run_dir, out=out / "export", **opts)
        tflm = _tflm(lambda **kw: export_run(run_dir, out=out / "tflm", **kw), calibration_samples)
        row["weights"] = f"trained ({run_dir})"
        # the run's own data set: a run trained on a stand-in (digits) is not MLPerf's data
        row["calibration"] = f"{cfg.dataset or card.dataset} training split"
    else:
        model = zoo.create_model(name, **overrides)
        data = _generated(model, calibration_samples, 64)
        manifest = export_model(model, out / "export", data=data, task=card.task, **opts)
        tflm = _tflm(
            lambda **kw: export_model(model, out / "tflm", data=data, task=card.task, **kw),
            calibration_samples,
        )
        row["weights"] = "random initialization"
        row["calibration"] = f"{calibration_samples} generated standard-normal inputs"
    _save_bench_input(out / "export" / "bench_inputs.npy", model)
    manifest = Manifest.from_dict(manifest)
    arts = {(a["format"], a["variant"]): a for a in manifest.artifacts if "path" in a}
    row.update(
        params=int(model.count_params()),
        macs=count_macs(model),
        tflite_int8_bytes=arts.get(("tflite", "int8"), {}).get("bytes"),
        tflm=tflm,
        mlperf_tflm_arena_bytes=MLPERF_TFLM_ARENA.get(name),
        int8_parity={
            k: {
                m: a["parity"].get(m)
                for m in ("argmax_agreement", "max_abs_diff")
                if m in a["parity"]
            }
            for k, a in ((f"{f}_{v}", a) for (f, v), a in arts.items())
        },
        p50_us=_latencies(manifest, out / "export", budget_s),
    )
    row["accuracy"] = _accuracy(card, manifest, run_dir, status)
    return row


def _tflm(export, calibration_samples: int) -> dict:
    """The arena and flash (bytes) of the TFLM artifact ``export(**options)`` writes (into its
    own directory: a refusal, e.g. an untrained model's softmax, leaves the other figures), or
    why there are none."""
    from export.errors import ExportFailed

    try:
        manifest = export(
            to=("tflm",), calibration_samples=calibration_samples, fail_on_parity=False
        )
    except ExportFailed as exc:
        return {"error": "; ".join(exc.failures)}
    m = Manifest.from_dict(manifest).artifacts[0]["tflm"]
    return {"arena_bytes": m["arena_bytes"], "flash_bytes": m["flash_bytes"], "macs": m["macs"]}


def _accuracy(card, manifest: Manifest, run_dir, status: str) -> dict | str:
    if run_dir is None:
        return (
            status
            if status != "present"
            else "data present, model not trained (pass --run or --train-epochs)"
        )
    metric = "auc" if card.task == "reconstruction" else "accuracy"
    import json

    keras = json.loads((Path(run_dir) / "metrics.json").read_text()).get(metric)
    result = {"metric": metric, "keras": keras}
    trained_on = RunConfig.read(run_dir).dataset
    if trained_on and trained_on != card.dataset:
        result["dataset"] = trained_on  # not the MLPerf target's data: said beside the figure
    for a in manifest.artifacts:
        if (a["format"], a["variant"]) == ("tflite", "int8") and "accuracy" in a.get("parity", {}):
            result["tflite_int8"] = a["parity"]["accuracy"]
    return result


def bench_mlperf(
    out="runs/bench-mlperf",
    *,
    models=None,
    runs: dict | None = None,
    train_epochs: int = 0,
    budget_s: float = 1.0,
    progress=None,
) -> dict:
    """Every MLPerf reference model of the zoo (or ``models``); returns rows + conditions."""
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="bench-mlperf-"))
    rows = []
    for name in models or mlperf_models():
        if progress:
            progress(f"{name} ...")
        rows.append(
            bench_model(
                name,
                out / name,
                run_dir=(runs or {}).get(name),
                train_epochs=train_epochs,
                budget_s=budget_s,
            )
        )
    return {"rows": rows, "conditions": conditions(), "out": str(out)}


def _b(v) -> str:
    return f"{v:,}" if isinstance(v, int) else "-"


def _fmt_us(v) -> str:
    return f"{v:,.1f} us" if isinstance(v, (int, float)) else ("-" if v is None else "error")


def markdown(result: dict) -> str:
    from zoo.core.tables import markdown_table

    rows = []
    for r in result["rows"]:
        acc = r["accuracy"]
        if isinstance(acc, dict):
            acc = (
                f"{acc['metric']} {acc['keras']:.4f}"
                + (f" (int8 {acc['tflite_int8']:.4f})" if "tflite_int8" in acc else "")
                + (f" on {acc['dataset']}" if "dataset" in acc else "")
            )
        p = r["p50_us"]
        rows.append(
            [
                r["model"],
                f"{r['params']:,}",
                f"{r['macs']:,}",
                f"{r['tflite_int8_bytes']:,}" if r["tflite_int8_bytes"] else "-",
                f"{r['mlperf_int8_bytes']:,}",
                _b(r["tflm"].get("flash_bytes")),
                _b(r["tflm"].get("arena_bytes")),
                _b(r.get("mlperf_tflm_arena_bytes")),
                _fmt_us(p.get("tflite_int8")),
                _fmt_us(p.get("onnx_fp32")),
                _fmt_us(p.get("onnx_int8")),
                acc,
                r["quality_target"],
            ]
        )
    headers = [
        "model",
        "params",
        "MACs",
        "TFLite int8 B",
        "MLPerf int8 B",
        "TFLM flash B",
        "TFLM arena B",
        "MLPerf arena B (TFLM)",
        "LiteRT int8 p50",
        "ORT fp32 p50",
        "ORT int8 p50",
        "accuracy",
        "MLPerf target",
    ]
    c = result["conditions"]
    return (
        markdown_table(rows, headers, "lrrrrrrrrrrll")
        + f"\n\nbatch 1, one thread; {c['cpu']}, {c['cores']} cores; {c['time']}. "
        "TFLM: our int8 file for TFLM (flash = its bytes, code not included) and the arena TFLM's "
        "recording allocator measured; MLPerf arena: MLPerf's reference int8 file in the same TFLM. "
        "No microcontroller latency: none was measured on one. Weights/calibration per model: "
        + "; ".join(
            f"{r['model']}: {r['weights']}, int8 calibrated on {r['calibration']}"
            for r in result["rows"]
        )
    )
