"""Bit-exact hls4ml export of an HGQ2 model (``compress`` step ``hgq``); its Verilog is the
``rtl`` target's (:mod:`export.targets.rtl.hgq`).

* hls4ml: its HGQ2 path (the precision of every tensor comes from the model), ``io_parallel``,
  the g++ C simulation required to equal the Keras model exactly on the whole test split.

Each mismatch count is recorded; a non-zero one fails the export (:class:`ExportError`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from export.errors import ExportError, ExportOptionsError


def is_hgq(model) -> bool:
    """Whether ``model`` holds HGQ2 layers."""
    return any(type(la).__module__.startswith("hgq.") for la in model._flatten_layers())


def mismatch(y: np.ndarray, y_ref: np.ndarray) -> dict:
    y, y_ref = np.asarray(y, np.float64).reshape(y_ref.shape), np.asarray(y_ref, np.float64)
    mism = int(np.sum(np.any(y != y_ref, axis=1)))
    return {
        "n": int(len(y_ref)),
        "mismatched_samples": mism,
        "bit_exact": mism == 0,
        "max_abs_diff": float(np.max(np.abs(y - y_ref))) if len(y_ref) else 0.0,
        "against": "the Keras HGQ2 model's outputs",
    }


def keras_outputs(model, x) -> np.ndarray:
    y = np.asarray(model.predict(np.asarray(x, np.float32), batch_size=1024, verbose=0))
    return y.astype(np.float64).reshape(len(x), -1)


def export_hgq_hls4ml(
    model, out_dir, x_test, *, strategy: str = "Latency", part: str | None = None
) -> dict:
    """hls4ml's HGQ2 conversion (precision from the model), g++ C simulation against Keras."""
    import hls4ml

    out_dir = Path(out_dir)
    y_keras = keras_outputs(model, x_test)
    t0 = time.perf_counter()
    kw = {"part": part} if part else {}
    hm = hls4ml.converters.convert_from_keras_model(
        model,
        output_dir=str(out_dir),
        backend="Vitis",
        io_type="io_parallel",
        hls_config={
            "Model": {"Precision": "ap_fixed<1,0>", "ReuseFactor": 1, "Strategy": strategy}
        },
        **kw,
    )
    hm.compile()
    t_build = time.perf_counter() - t0
    x = np.ascontiguousarray(np.asarray(x_test, np.float64))
    y = np.asarray(hm.predict(x), np.float64).reshape(y_keras.shape)
    parity = mismatch(y, y_keras)
    info = {
        "tool": f"hls4ml {hls4ml.__version__} (HGQ2 path, io_parallel, {strategy})",
        "compile_seconds": round(t_build, 1),
        "csim": parity,
        "accuracy_outputs": y,
    }
    if not parity["bit_exact"]:
        raise ExportError(
            f"hgq hls4ml: {parity['mismatched_samples']} of {parity['n']} test samples differ "
            f"between the C simulation and the Keras HGQ2 model (max |diff| {parity['max_abs_diff']:g})."
        )
    return info


FPGA_TARGETS = ("hls4ml", "rtl")


def check_targets(to) -> None:
    """ONNX/TFLite/OpenVINO of an HGQ2 model: refused in one line (its quantizers are custom
    Keras 3 layers those converters do not know; the float model it came from exports)."""
    other = [t for t in to if t not in FPGA_TARGETS]
    if other:
        raise ExportOptionsError(
            f"{', '.join(other)}: an HGQ2 model exports to FPGA only (--to hls4ml,rtl: hls4ml "
            "project and Verilog, both bit-exact); export the float model it came from for the "
            "other formats."
        )


def fixed_artifact(rec, model) -> dict:
    """The ``hls4ml`` artifact of an HGQ2 model: hls4ml's HGQ2 project, its C simulation
    bit-exact to Keras (the ``rtl`` target makes the Verilog of the same model)."""
    info = export_hgq_hls4ml(model, rec.out / "hls4ml", rec.data.x_test)
    y = info.pop("accuracy_outputs")
    parity = rec.parity("hls4ml", "fixed", y)
    return rec.entry(rec.out / "hls4ml", "hls4ml", "fixed", parity, hls4ml=info)
