"""The TFLM int8 flatbuffer and TensorFlow Lite Micro's own interpreter (the ``tflite-micro``
wheel: TFLM's reference kernels, its memory planner and its recording allocator).

* :func:`convert`: full-integer int8 with int8 I/O and a batch dimension of 1 -- a
  microcontroller runs one sample at a time, and a fixed batch spares the SHAPE / STRIDED_SLICE /
  PACK ops a dynamic batch puts before every flatten. None of :mod:`export.rewrite`'s LiteRT
  rewrites: TFLM has AVERAGE_POOL_2D (the depthwise stand-in only adds weights to flash), and the
  SpaceToDepth stem adds a padded and a space-to-depth copy of the input to the arena.
* :func:`run`: the whole split, one sample per ``invoke()``, through the TFLM interpreter.
* :func:`allocations`: what the recording allocator reports; ``print_allocations()`` writes it
  to file descriptor 2 only, so fd 2 is pointed at a temporary file around the call.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile

import numpy as np

from export.errors import ExportError


def convert(model, world: str, x_rep: np.ndarray, dense_per_channel: bool = False) -> bytes:
    """The int8 flatbuffer of ``model`` with input shape ``(1, ...)`` (Keras 3: a SavedModel
    exported with that signature; tf-keras and QKeras: a concrete function of that signature).

    Dense (FULLY_CONNECTED) weights per tensor unless ``dense_per_channel``: per channel, every
    output channel of the weights and of the bias stores a float32 scale and an int64 zero point
    (24 B per output), which made the AD autoencoder's file 317,632 B against 277,752 B per
    tensor (MLPerf's reference file: 276,976 B). Convolutions stay per channel."""
    import tensorflow as tf

    shape = [1, *[int(s) for s in model.inputs[0].shape[1:]]]
    with tempfile.TemporaryDirectory(prefix="edgezoo-tflm-") as tmp:
        if world == "tf_keras":
            fn = tf.function(lambda x: model(x, training=False))
            concrete = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32))
            conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
        else:
            saved = os.path.join(tmp, "saved_model")
            with contextlib.redirect_stdout(io.StringIO()):
                model.export(
                    saved,
                    format="tf_saved_model",
                    verbose=False,
                    input_signature=[tf.TensorSpec(shape, tf.float32)],
                )
            conv = tf.lite.TFLiteConverter.from_saved_model(saved)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        rep = np.asarray(x_rep, dtype=np.float32)
        conv.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        conv._experimental_disable_per_channel_quantization_for_dense_layers = not dense_per_channel
        try:
            return conv.convert()
        except Exception as exc:  # noqa: BLE001 - converter errors are long; keep the gist
            gist = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"tflm int8: conversion failed: {gist[:400]}") from exc


def for_mcu(data: bytes) -> bytes:
    """``data`` without what TFLM never reads -- tensor and subgraph names, signature defs -- and
    with every buffer 16-byte aligned (the wheel's ``tflite_flatbuffer_align``, TFLM's C++
    flatbuffers). The AD autoencoder: 277,752 B -> 274,576 B."""
    import flatbuffers
    from tflite_micro.python.tflite_micro import runtime
    from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper as align

    m = runtime.convert_bytearray_to_object(bytearray(data))
    for sg in m.subgraphs:
        sg.name = None
        for t in sg.tensors:
            t.name = b""
    m.signatureDefs = None
    builder = flatbuffers.Builder(len(data))
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    with tempfile.TemporaryDirectory(prefix="edgezoo-tflm-") as tmp:
        src, dst = os.path.join(tmp, "in.tflite"), os.path.join(tmp, "out.tflite")
        with open(src, "wb") as f:
            f.write(bytes(builder.Output()))
        align.align_tflite_model(src, dst)
        with open(dst, "rb") as f:
            return f.read()


@contextlib.contextmanager
def _fd2_into(f):
    """File descriptor 2 (C++ ``stderr``, where TFLM prints) points at ``f`` inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
it = runtime.Interpreter.from_file(sys.argv[1])
d = it.get_input_details(0)
it.set_input(np.zeros(d["shape"], d["dtype"]), 0)
it.invoke()
"""


def probe(data: bytes):
    """Run one inference of ``data`` in a child process first: a TFLM kernel that aborts (a
    ``TFLITE_ABORT`` in Prepare) would otherwise end the whole export without a manifest."""
    import signal
    import subprocess

    with tempfile.TemporaryDirectory(prefix="edgezoo-tflm-") as tmp:
        path = os.path.join(tmp, "model.tflite")
        with open(path, "wb") as f:
            f.write(data)
        r = subprocess.run(
            [sys.executable, "-c", _PROBE, path], capture_output=True, text=True, timeout=600
        )
    if r.returncode != 0:
        how = (
            f"was killed by {signal.Signals(-r.returncode).name}"
            if r.returncode < 0
            else f"exited with {r.returncode}"
        )
        said = " ".join(r.stderr.split())[-300:]
        raise ExportError(f"tflm: the TFLM interpreter {how} on this model: {said or 'no message'}")


def interpreter(data: bytes, arena_size: int | None = None):
    """A TFLM interpreter with the recording allocator; its errors (a missing op, an arena too
    small) are read back from fd 2 into the :class:`ExportError` raised."""
    from tflite_micro.python.tflite_micro import runtime

    with tempfile.TemporaryFile() as f:
        try:
            with _fd2_into(f):
                return runtime.Interpreter.from_bytes(
                    data,
                    arena_size=arena_size,
                    intrepreter_config=runtime.InterpreterConfig.kAllocationRecording,
                )
        except Exception as exc:  # noqa: BLE001 - TFLM says why on fd 2
            f.seek(0)
            said = " ".join(f.read().decode(errors="replace").split())[:400]
            raise ExportError(
                f"tflm: the TFLM interpreter refused the model: {said or exc}"
            ) from exc


def _q(detail: dict) -> tuple[float, int]:
    qp = detail["quantization_parameters"]
    return float(qp["scales"][0]), int(qp["zero_points"][0])


def run(it, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 outputs, dequantized float outputs) of the split ``x``, one ``invoke()`` per sample."""
    di, do = it.get_input_details(0), it.get_output_details(0)
    (si, zi), (so, zo) = _q(di), _q(do)
    shape = tuple(int(s) for s in di["shape"])
    xq = np.clip(np.round(np.asarray(x, np.float32) / si + zi), -128, 127).astype(np.int8)
    outs = []
    for row in xq:
        it.set_input(row.reshape(shape), 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)).reshape(-1))
    q = np.stack(outs)
    return q, ((q.astype(np.float32) - zo) * so).astype(np.float32)


_TOTAL = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_KIND = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes")


def allocations(it) -> dict:
    """The recording allocator's report after an ``invoke()``: ``arena_bytes`` (total), head
    (the planned activations and scratch), tail (persistent), and bytes per kind."""
    with tempfile.TemporaryFile() as f:
        with _fd2_into(f):
            it.print_allocations()
        f.seek(0)
        text = f.read().decode(errors="replace")
    sums = {k: int(v) for k, v in _TOTAL.findall(text)}
    if "total" not in sums:
        raise ExportError(f"tflm: no arena total in the allocator's report: {text[:200]!r}")
    return {
        "arena_bytes": sums["total"],
        "head_bytes": sums.get("head"),
        "tail_bytes": sums.get("tail"),
        "by_kind": {k: {"bytes": int(b), "requested": int(r)} for k, b, r in _KIND.findall(text)},
        "source": "TFLM RecordingMicroAllocator (print_allocations), x86-64 host build",
    }
