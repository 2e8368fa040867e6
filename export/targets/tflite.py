"""The ``tflite`` target: fp32, fp16, dynamic-range and full-integer int8 flatbuffers from one
SavedModel (:mod:`export.tflite`), run with LiteRT."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from export.rewrite import REWRITES
from export.targets import STEM, Target, register
from export.tflite import VARIANTS
from zoo.core.options import OptionError, option


@dataclass
class Options:
    tflite_variants: tuple[str, ...] = option(
        VARIANTS,
        "TFLite variants: fp32, fp16, dynamic (range), int8 (full integer)",
        choices=VARIANTS,
        metavar="VARIANTS",
    )
    tflite_int8_rewrites: tuple[str, ...] = option(
        REWRITES,
        "equivalent graph rewrites for the int8 flatbuffer, so XNNPACK's int8 kernels run every "
        "layer (export/rewrite.py): avgpool (valid AveragePooling2D as a DepthwiseConv2D), "
        "thin_conv (a conv on 1-2 input channels through SpaceToDepth); '' for none",
        choices=REWRITES,
        metavar="REWRITES",
    )

    def check(self):
        if not self.tflite_variants:
            raise OptionError(
                f"tflite: variants must be a non-empty subset of {VARIANTS}. Received: ()"
            )


def _dynamic_batch(tl, path, rec, variant, out):
    """The dynamic-batch check each variant can pass: float variants against Keras; int8 is
    deterministic per sample, so rows must equal the full run's; dynamic range quantizes
    activations per batch, so only "runs at both sizes"."""
    from export import verify

    o = rec.options
    if variant in ("fp32", "fp16"):
        bounds = verify.thresholds_for("tflite", variant, o.thresholds)
        return tl.check_dynamic_batch(
            path,
            rec.data.x_test,
            rec.ref,
            batch=o.dynamic_batch,
            atol=bounds.get("max_abs_diff"),
            rtol=bounds.get("rtol", 0.0),
        )
    if variant == "int8":
        return tl.check_dynamic_batch(path, rec.data.x_test, out, batch=o.dynamic_batch, atol=1e-6)
    return tl.check_dynamic_batch(path, rec.data.x_test, rec.ref, batch=o.dynamic_batch, atol=None)


def _one(rec, conv, variant: str, rewrites: list[str] | None = None):
    from export import tflite as tl

    path = rec.out / f"{STEM}.{variant}.tflite"
    conv.export(path, variant, x_rep=rec.data.x_calib if variant == "int8" else None)
    out = tl.run_tflite(path, rec.data.x_test)
    dyn = _dynamic_batch(tl, path, rec, variant, out)
    extra = {"io": tl.io_details(path)}
    if variant == "int8":
        extra["calibration"] = rec.calibration(path)
        extra["quantization"] = {
            "format": "full integer (TFLITE_BUILTINS_INT8)",
            "weights": "int8 per-channel",
            "activations": "int8",
            "rewrites": rewrites or [],
        }
    return rec.entry(path, "tflite", variant, rec.parity("tflite", variant, out, dyn), **extra)


def _int8(rec, model, world: str):
    """The int8 flatbuffer, from the model with :mod:`export.rewrite`'s rewrites applied (its own
    SavedModel when anything was rewritten)."""
    from export import tflite as tl
    from export.rewrite import rewrite

    which = rec.options.tflite_int8_rewrites
    new, done = rewrite(model, which) if world == "keras" else (model, [])
    with tl.Converter(new, world) as conv:
        return _one(rec, conv, "int8", done)


def export(rec, model, world: str):
    from export import tflite as tl

    with tl.Converter(model, world) as conv:  # one SavedModel for every float variant
        for variant in rec.options.tflite_variants:
            if variant == "int8" and rec.options.tflite_int8_rewrites:
                rec.attempt("tflite", variant, lambda: _int8(rec, model, world))
            else:
                rec.attempt("tflite", variant, lambda v=variant: _one(rec, conv, v))


def make_call(path: str, x: np.ndarray, threads: int):
    """(call, predict_all) of a LiteRT interpreter; integer tensors are (de)quantized with the
    scale and zero point the interpreter reports."""
    from export.tflite import dequantize_output, interpreter, quantize_input

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


TARGET = register(
    Target(
        name="tflite",
        variants=VARIANTS,
        export=export,
        order=20,
        options=Options,
        thresholds={
            "tflite/fp32": {"max_abs_diff": 1e-4, "rtol": 1e-5},
            "tflite/fp16": {"max_abs_diff": 1e-2, "rtol": 5e-3},
        },
        count=lambda o: len(o.tflite_variants),
        runtime="litert",
        make_call=make_call,
        settings=settings,
        description="TFLite/LiteRT fp32, fp16, dynamic range and int8",
    )
)
