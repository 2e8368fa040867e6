"""The ``tflite`` target's bench runtime: a LiteRT interpreter on the CPU (``edgezoo bench``)."""

from __future__ import annotations

import os

import numpy as np

from export.targets.tflite.convert import dequantize_output, interpreter, quantize_input


def make_call(path: str, x: np.ndarray, threads: int):
    """(call, predict_all) of a LiteRT interpreter; integer tensors are (de)quantized with the
    scale and zero point the interpreter reports."""
    it = interpreter(path, threads or os.cpu_count())
    inp, out = it.get_input_details()[0], it.get_output_details()[0]

    def prepare(xs):
        if len(xs) != it.get_input_details()[0]["shape"][0]:
            it.resize_tensor_input(inp["index"], [len(xs), *xs.shape[1:]])
            it.allocate_tensors()
        return quantize_input(xs, it.get_input_details()[0])

    it.allocate_tensors()
    xq = prepare(x)

    def call():
        it.set_tensor(inp["index"], xq)
        it.invoke()
        return it.get_tensor(out["index"])

    def predict_all(xs):
        outs = []
        for i in range(0, len(xs), 256):
            it.set_tensor(inp["index"], prepare(xs[i : i + 256]))
            it.invoke()
            outs.append(dequantize_output(it.get_tensor(out["index"]), it.get_output_details()[0]))
        return np.concatenate(outs)

    return call, predict_all


def settings(threads: int, path: str | None = None) -> dict:
    return {
        "num_threads": threads,
        "op_resolver": "AUTO (default XNNPACK delegate, quantized kernels included)",
    }
