"""OpenVINO: fp32 IR from the ONNX model, int8 IR through NNCF post-training quantization.

* fp32: ``openvino.convert_model(model.onnx)`` (the verified ONNX file, so both Keras worlds take
  one path), saved with ``openvino.save_model(..., compress_to_fp16=False)`` as ``model.xml`` +
  ``model.bin`` in a directory artifact. The batch dimension stays dynamic (``?``).
* int8: ``nncf.quantize`` (MinMax with activation ranges over the whole calibration set, as the
  ONNX/TFLite int8 take them; preset "performance": symmetric activations, per-channel
  weights) on the fp32 IR, calibrated on the same training samples as the ONNX/TFLite int8
  variants (``ExportData.calib_indices``, saved next to the artifact). Bias correction: NNCF's
  fast one first, the full one unless the fast model meets the int8 bounds with room to spare
  on training samples outside the calibration set (the target's ``_int8``, ``FAST_MARGIN``). The fast one gave ResNet-8 on digits
  argmax agreement 0.93 and relative error 0.14, failing the gate, against 1.0 / 0.035 with the
  full one; the full one took DenseNet121 (32x32) 73.6 s against 9.9 s.
* Runs are compiled for "CPU" with ``INFERENCE_PRECISION_HINT=f32``: on a CPU with bf16 (AVX-512
  BF16, AMX) OpenVINO's default is bf16, which misses the fp32 parity bound (max|diff| ~6e-3
  measured on LeNet-5); the int8 IR keeps its int8 layers either way.
* Every run compiles the IR for a static batch (the saved IR keeps ``?``; :func:`run_openvino`
  reshapes it per batch size before ``compile_model``): OpenVINO 2026.4's CPU plugin, given an
  NNCF int8 IR compiled with a dynamic batch, miscomputes batch 1 where a feature map is 1x1
  (measured: ResNet50V2 at 32x32, argmax agreement with fp32 0.08 at batch 1 against 0.95 at
  batch 64; a Conv(stride 2)-Conv(stride 2)-DW-Conv IR at a 4x4 input: batch 1 differs from
  batch 8 by 0.46 on outputs of scale 0.46, at 8x8 by 0); compiled static, batch 1 equals batch N.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.core.transaction import replace_dir_atomically, scratch_beside

XML = "model.xml"
VARIANTS = ("fp32", "int8")


def ir_file(path) -> Path:
    """The ``.xml`` of an IR artifact given its directory (or the file itself)."""
    p = Path(path)
    return p / XML if p.is_dir() else p


def compile_ir(path, threads: int = 1, precision: str = "f32", batch: int | None = None):
    """A compiled model on the CPU plugin: ``threads`` inference threads (0 = OpenVINO's default),
    one stream, latency hint, ``precision`` for the float layers. ``batch``: compile for that
    static batch size (the IR keeps a dynamic one; a static shape spares the CPU plugin its
    per-call shape inference and memory planning: lenet5 int8 at batch 1 went from 171 to 53 us)."""
    import openvino as ov

    cfg = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": precision}
    if threads:
        cfg["INFERENCE_NUM_THREADS"] = int(threads)
    core = ov.Core()
    model = core.read_model(str(ir_file(path)))
    if batch:
        shape = model.input(0).get_partial_shape()
        shape[0] = int(batch)
        model.reshape({model.input(0): shape})
    return core.compile_model(model, "CPU", cfg)


def run_openvino(
    path_or_compiled, x: np.ndarray, *, batch_size: int = 256, threads: int = 1
) -> np.ndarray:
    """``x`` through the IR in chunks of ``batch_size``. A path is compiled for each chunk's static
    batch size (see the module docstring: a dynamic-batch int8 IR is wrong at batch 1)."""
    static = isinstance(path_or_compiled, (str, Path))
    reqs: dict = {}
    outs = []
    for i in range(0, len(x), batch_size):
        xb = np.ascontiguousarray(x[i : i + batch_size], np.float32)
        key = len(xb) if static else 0
        if key not in reqs:
            c = compile_ir(path_or_compiled, threads, batch=key) if static else path_or_compiled
            reqs[key] = c.create_infer_request()
        outs.append(np.array(reqs[key].infer(xb)[0], np.float32))
    return np.concatenate(outs)


def _save(ov_model, out: Path) -> Path:
    import openvino as ov

    out = Path(out)
    tmp = scratch_beside(out, "partial")
    try:
        ov.save_model(ov_model, str(tmp / XML), compress_to_fp16=False)
        return replace_dir_atomically(tmp, out)
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def export_fp32(onnx_path, out) -> Path:
    """fp32 IR of the ONNX model ``onnx_path`` written to directory ``out``."""
    import openvino as ov

    return _save(ov.convert_model(str(onnx_path)), out)


def quantize_int8(
    fp32_dir,
    out,
    x_calib: np.ndarray,
    *,
    preset: str = "performance",
    fast_bias_correction: bool = False,
) -> Path:
    """int8 IR of the fp32 IR in ``fp32_dir`` by ``nncf.quantize``, calibrated on every row of
    ``x_calib`` (``subset_size`` = all of them, in order), written to directory ``out``."""
    import nncf
    import openvino as ov

    from export.errors import ExportOptionsError

    if len(x_calib) == 0:
        raise ExportOptionsError("openvino int8: no calibration samples")
    presets = {
        "performance": nncf.QuantizationPreset.PERFORMANCE,
        "mixed": nncf.QuantizationPreset.MIXED,
    }
    if preset not in presets:
        raise ExportOptionsError(
            f"openvino int8: preset must be one of {sorted(presets)}. Received: {preset!r}"
        )
    fp = ov.Core().read_model(str(ir_file(fp32_dir)))
    x = np.asarray(x_calib, np.float32)
    ds = nncf.Dataset([x[i : i + 1] for i in range(len(x))])
    nncf.set_log_level(40)  # errors only: no progress bars in the export log
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    # activation ranges: min and max over the whole calibration set, as the ONNX and TFLite int8
    # variants take them. NNCF's default (per-sample ranges averaged) clipped ResNet50's
    # activations: relative error 0.37 against fp32, 0.047 with MINMAX (measured, 32x32 digits).
    advanced = AdvancedQuantizationParameters(
        activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX
    )
    q = nncf.quantize(
        fp,
        ds,
        preset=presets[preset],
        subset_size=len(x),
        fast_bias_correction=fast_bias_correction,
        advanced_parameters=advanced,
    )
    return _save(q, out)


def quantization_record(preset: str = "performance", *, fast: bool, why: str = "") -> dict:
    """The manifest's record of :func:`quantize_int8`; ``why``: why the full bias correction."""
    bc = "FastBiasCorrection" if fast else "BiasCorrection (fast_bias_correction=False)"
    rec = {
        "tool": "nncf.quantize",
        "preset": preset,
        "activations": "int8 (u8/s8 per NNCF)",
        "weights": "int8 per-channel",
        "calibration": f"MinMax (activations: min/max over the calibration set) + {bc}",
        "bias_correction": "fast" if fast else "full",
        "inference_precision_hint": "f32",
    }
    if why:
        rec["bias_correction_why"] = why
    return rec


def check_dynamic_batch(
    path, x: np.ndarray, ref: np.ndarray, *, batch: int = 16, atol: float | None, rtol: float = 0.0
) -> dict:
    """The IR's batch is dynamic, and batch 1 and batch N (each compiled static, as every run
    here) each compare with ``ref``: every |diff| <= atol + rtol * |ref| (the parity gate's
    scale-aware bound)."""
    import openvino as ov

    from export.common import check_batches

    shape = ov.Core().read_model(str(ir_file(path))).inputs[0].partial_shape
    return check_batches(
        lambda xn: run_openvino(path, xn, batch_size=len(xn)),
        x,
        ref,
        batch=batch,
        atol=atol,
        rtol=rtol,
        info={"input_batch_dim": str(shape[0])},
        dynamic=shape[0].is_dynamic,
    )
