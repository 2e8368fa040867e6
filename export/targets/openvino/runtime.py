"""The ``openvino`` target's bench runtime: an IR compiled for the CPU plugin (``edgezoo bench``)."""

from __future__ import annotations

import os

import numpy as np

from export.targets.openvino.convert import compile_ir, run_openvino


def make_call(path: str, x: np.ndarray, threads: int):
    # the timed call: compiled for this batch size, input and output shared with numpy (no copy)
    fixed = compile_ir(path, threads or os.cpu_count(), batch=len(x)).create_infer_request()
    xc = np.ascontiguousarray(x, np.float32)
    call = lambda: fixed.infer(xc, share_inputs=True, share_outputs=True)  # noqa: E731

    def predict_all(xs):  # static batch per chunk size (a dynamic int8 IR is wrong at batch 1)
        return run_openvino(path, xs, batch_size=256, threads=threads or os.cpu_count())

    return call, predict_all


def settings(threads: int, path: str | None = None) -> dict:
    return {
        "device": "CPU",
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
        "batch_shape": "static per measured batch size (reshaped before compile_model)",
        "infer": "share_inputs=True, share_outputs=True",
    }
