"""The ``openvino`` target's bench runtime: an IR compiled for the CPU plugin (``edgezoo bench``)."""

from __future__ import annotations

import os

import numpy as np

from export.targets.openvino.convert import compile_ir


def make_call(path: str, x: np.ndarray, threads: int):
    # the timed call: compiled for this batch size, input and output shared with numpy (no copy)
    fixed = compile_ir(path, threads or os.cpu_count(), batch=len(x)).create_infer_request()
    xc = np.ascontiguousarray(x, np.float32)
    call = lambda: fixed.infer(xc, share_inputs=True, share_outputs=True)  # noqa: E731
    req = compile_ir(path, threads or os.cpu_count()).create_infer_request()  # any batch

    def predict_all(xs):
        return np.concatenate(
            [
                np.array(req.infer(np.ascontiguousarray(xs[i : i + 256], np.float32))[0])
                for i in range(0, len(xs), 256)
            ]
        )

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
