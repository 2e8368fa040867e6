"""TFLite / LiteRT: float32, float16, dynamic-range and full-integer int8 flatbuffers.

* Keras 3 models: ``model.export(dir, format="tf_saved_model")`` (a serving endpoint with a
  dynamic batch dimension) then ``tf.lite.TFLiteConverter.from_saved_model`` --
  ``from_keras_model`` does not take Keras 3 models while ``TF_USE_LEGACY_KERAS=1``.
* tf-keras / QKeras models: ``TFLiteConverter.from_keras_model``.
* int8: representative data from the training split (indices saved next to the artifact),
  integer-only builtins, int8 input and output tensors.

Artifacts are run with ``ai_edge_litert.interpreter.Interpreter`` (``tf.lite.Interpreter`` is
deprecated). Integer inputs are quantized and integer outputs dequantized with the scale and
zero point *the interpreter reports* for that tensor -- never a hard-coded offset.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from export.common import check_single_io
from export.errors import ExportError, ExportOptionsError
from zoo.core.io import write_bytes_atomic

VARIANTS = ("fp32", "fp16", "dynamic", "int8")


def check_variants(variants) -> tuple[str, ...]:
    variants = tuple(variants)
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        raise ExportOptionsError(
            f"tflite: variants must be a non-empty subset of {VARIANTS}. Received: {variants}"
        )
    return variants


class Converter:
    """Converts one model to any variant; a Keras 3 model is exported to a SavedModel only once.

    Use as a context manager (the SavedModel lives in a temporary directory)."""

    def __init__(self, model, world: str = "keras"):
        check_single_io(model, "tflite")
        self.model, self.world = model, world
        self._tmp = None
        self._saved = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _converter(self):
        import tensorflow as tf

        if self.world == "tf_keras":
            return tf.lite.TFLiteConverter.from_keras_model(self.model)
        if self._saved is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="edgezoo-tflite-")
            self._saved = os.path.join(self._tmp.name, "saved_model")
            with contextlib.redirect_stdout(io.StringIO()):
                self.model.export(self._saved, format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(self._saved)

    def convert(self, variant: str, x_rep: np.ndarray | None = None) -> bytes:
        """The flatbuffer in ``variant`` (``x_rep``: representative inputs, int8 only)."""
        import tensorflow as tf

        check_variants([variant])
        conv = self._converter()
        if variant != "fp32":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "fp16":
            conv.target_spec.supported_types = [tf.float16]
        elif variant == "int8":
            if x_rep is None or len(x_rep) == 0:
                raise ExportOptionsError("tflite int8: representative data is required")
            rep = np.asarray(x_rep, dtype=np.float32)
            conv.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        try:
            return conv.convert()
        except Exception as exc:  # noqa: BLE001 - converter errors are long; keep the gist
            msg = str(exc).strip().splitlines()
            gist = next(
                (m for m in msg if "error" in m.lower()), msg[0] if msg else type(exc).__name__
            )
            raise ExportError(f"tflite {variant}: conversion failed: {gist[:400]}") from exc

    def export(self, path, variant: str, x_rep=None) -> Path:
        return write_bytes_atomic(path, self.convert(variant, x_rep))


def convert(model, variant: str, *, world: str = "keras", x_rep: np.ndarray | None = None) -> bytes:
    """The flatbuffer of ``model`` in ``variant`` (``x_rep``: representative inputs, int8 only)."""
    with Converter(model, world) as conv:
        return conv.convert(variant, x_rep)


def export_tflite(model, path, variant: str, *, world: str = "keras", x_rep=None) -> Path:
    return write_bytes_atomic(path, convert(model, variant, world=world, x_rep=x_rep))


def interpreter(path_or_bytes, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(path_or_bytes, (bytes, bytearray)):
        return Interpreter(model_content=bytes(path_or_bytes), num_threads=threads)
    return Interpreter(model_path=str(path_or_bytes), num_threads=threads)


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """``x`` in the input tensor's dtype: ``round(x / scale + zero_point)`` for integer tensors."""
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return np.asarray(x, dtype=dtype)
    scale, zero = detail["quantization"]
    if not scale:
        raise ExportError(
            f"tflite: integer input {detail['name']!r} has no quantization parameters"
        )
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(x, np.float32) / scale + zero), info.min, info.max).astype(
        dtype
    )


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """``(y - zero_point) * scale`` for integer outputs, as float32."""
    if not np.issubdtype(detail["dtype"], np.integer):
        return np.asarray(y, dtype=np.float32)
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def io_details(path_or_bytes) -> dict:
    """dtype, shape signature and (scale, zero point) of the input and output tensors."""
    it = interpreter(path_or_bytes)

    def d(t):
        return {
            "dtype": np.dtype(t["dtype"]).name,
            "shape_signature": [int(s) for s in t["shape_signature"]],
            "scale": float(t["quantization"][0]),
            "zero_point": int(t["quantization"][1]),
        }

    return {"input": d(it.get_input_details()[0]), "output": d(it.get_output_details()[0])}


def run_tflite(
    path_or_bytes, x: np.ndarray, *, batch_size: int = 256, threads: int = 1
) -> np.ndarray:
    """Float outputs of a TFLite model on float inputs ``x`` (quantized per the interpreter)."""
    it = interpreter(path_or_bytes, threads)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    outs, current = [], None
    for i in range(0, len(x), batch_size):
        chunk = x[i : i + batch_size]
        if current != len(chunk):
            it.resize_tensor_input(inp["index"], [len(chunk), *x.shape[1:]])
            it.allocate_tensors()
            inp, out = it.get_input_details()[0], it.get_output_details()[0]
            current = len(chunk)
        it.set_tensor(inp["index"], quantize_input(chunk, inp))
        it.invoke()
        outs.append(dequantize_output(it.get_tensor(out["index"]), out))
    return np.concatenate(outs)


def check_dynamic_batch(
    path, x: np.ndarray, ref: np.ndarray, *, batch: int = 16, atol: float | None, rtol: float = 0.0
) -> dict:
    """Batch 1 and batch N through one interpreter (resized), each compared with Keras."""
    from export.common import check_batches

    sig = io_details(path)["input"]["shape_signature"]
    return check_batches(
        lambda xn: run_tflite(path, xn, batch_size=len(xn)),
        x,
        ref,
        batch=batch,
        atol=atol,
        rtol=rtol,
        info={"input_shape_signature": sig},
        dynamic=sig[0] == -1,
    )
