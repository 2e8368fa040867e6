"""The ``onnx`` target's bench runtime: an onnxruntime session on the CPU (``edgezoo bench``)."""

from __future__ import annotations

import numpy as np

from export.targets.onnx.convert import disabled_optimizers


def make_call(path: str, x: np.ndarray, threads: int):
    """(call, predict_all) of an onnxruntime session (``threads`` 0: all cores)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        path,
        so,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=disabled_optimizers(path) or None,
    )
    name = sess.get_inputs()[0].name
    feed = {name: x.astype(np.float32)}
    call = lambda: sess.run(None, feed)  # noqa: E731
    return call, lambda xs: sess.run(None, {name: xs.astype(np.float32)})[0]


def settings(threads: int, path: str | None = None) -> dict:
    return {
        "intra_op_num_threads": threads,
        "disabled_optimizers": disabled_optimizers(path) if path else [],
        "inter_op_num_threads": 1,
        "graph_optimization_level": "ORT_ENABLE_ALL (default)",
        "session.intra_op.allow_spinning": "1 (default)",
        "provider": "CPUExecutionProvider",
    }
