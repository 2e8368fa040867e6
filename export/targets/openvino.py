"""The ``openvino`` target: OpenVINO IR fp32 from the verified ONNX fp32 file (or a temporary
one) and int8 by NNCF post-training quantization (:mod:`export.openvino`); exported on request
only (``--to ...,openvino``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from export.openvino import VARIANTS
from export.targets import Target, register
from zoo.core.options import OptionError, option


@dataclass
class Options:
    openvino_variants: tuple[str, ...] = option(
        VARIANTS, "OpenVINO variants: fp32 (IR), int8 (NNCF)", choices=VARIANTS, metavar="VARIANTS"
    )

    def check(self):
        if not self.openvino_variants:
            raise OptionError(
                f"openvino_variants must be a non-empty subset of {VARIANTS}. Received: ()"
            )


def export(rec, model, world: str):
    from export import openvino

    onnx_fp32 = next(
        (
            rec.out / a["path"]
            for a in rec.artifacts
            if a["format"] == "onnx"
            and a["variant"] == "fp32"
            and a.get("parity", {}).get("passed")
        ),
        None,
    )
    openvino.orchestrate(rec, model, world, opset=rec.options.opset, onnx_file=onnx_fp32)


def make_call(path: str, x: np.ndarray, threads: int):
    from export.openvino import compile_ir, run_openvino

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


TARGET = register(
    Target(
        name="openvino",
        variants=VARIANTS,
        export=export,
        order=40,
        default=False,
        options=Options,
        thresholds={"openvino/fp32": {"max_abs_diff": 1e-4, "rtol": 1e-5}},
        count=lambda o: len(o.openvino_variants),
        runtime="openvino",
        make_call=make_call,
        settings=settings,
        description="OpenVINO IR fp32 and NNCF int8 (on request)",
    )
)
