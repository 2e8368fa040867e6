"""How fast this CPU multiplies matrices: small GEMM probes for the bench's conditions, and the
CPU's name and flags (``lscpu``) stored with every figure.

The probes run a square-ish GEMM (``m x k @ k x n``) through the same engines the artifacts use:
onnxruntime ``MatMul`` (fp32) and ``MatMulInteger`` (uint8 x int8 -> int32, the MLAS kernels a
U8S8 int8 model's convolutions run on; VNNI/AMX where the CPU has them), and numpy's fp32
``matmul`` (its BLAS), each with the bench's thread count. Reported: the best of ``repeats``
timed calls in GFLOP/s (fp32) and GOP/s (int8), 2 x m x k x n operations per call. A runtime's
achieved rate is 2 x MACs per sample x samples/s; its ratio to these peaks says how close to the
machine's limit it gets (a small model's layers rarely reach a large GEMM's rate).
"""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np

FLAGS_OF_INTEREST = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


def cpu_info() -> dict:
    """``lscpu``'s model name and flags (the whole flag list and the ones int8/bf16 kernels use)."""
    info = {"model_name": None, "flags": ""}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "Model name":
                info["model_name"] = val.strip()
            elif key.strip() == "Flags":
                info["flags"] = val.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    if not info["flags"]:
        try:
            with open("/proc/cpuinfo") as f:
                for ln in f:
                    if ln.startswith("flags"):
                        info["flags"] = ln.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
    have = set(info["flags"].split())
    info["int8_bf16_flags"] = [f for f in FLAGS_OF_INTEREST if f in have]
    return info


def _ort_gemm(m: int, k: int, n: int, integer: bool, threads: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if integer:
        a = rng.integers(0, 255, (m, k), dtype=np.uint8)
        b = rng.integers(-127, 127, (k, n), dtype=np.int8)
        node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
        a_t, y_t = TensorProto.UINT8, TensorProto.INT32
    else:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_t, y_t = TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("A", a_t, [m, k])],
        [helper.make_tensor_value_info("Y", y_t, [m, n])],
        initializer=[numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"A": a})


def _best_rate(call, ops: float, repeats: int) -> float:
    call()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return ops / best / 1e9


def gemm_peaks(
    threads: int = 1, *, m: int = 256, k: int = 1024, n: int = 1024, repeats: int = 20
) -> dict:
    """GFLOP/s (fp32) and GOP/s (int8) of an ``m x k x n`` GEMM with ``threads`` (0 = all cores)."""
    ops = 2.0 * m * k * n
    out = {
        "shape": [m, k, n],
        "threads": threads or os.cpu_count(),
        "repeats": repeats,
        "statistic": "best",
    }
    out["ort_fp32_gflops"] = _best_rate(_ort_gemm(m, k, n, False, threads), ops, repeats)
    out["ort_int8_gops"] = _best_rate(_ort_gemm(m, k, n, True, threads), ops, repeats)
    try:
        from threadpoolctl import threadpool_limits

        a = np.random.default_rng(0).standard_normal((m, k), dtype=np.float32)
        b = np.random.default_rng(1).standard_normal((k, n), dtype=np.float32)
        with threadpool_limits(limits=threads or os.cpu_count()):
            out["numpy_fp32_gflops"] = _best_rate(lambda: a @ b, ops, repeats)
    except ImportError:  # threadpoolctl comes with scikit-learn
        out["numpy_fp32_gflops"] = None
    out["int8_over_fp32"] = out["ort_int8_gops"] / out["ort_fp32_gflops"]
    return out
