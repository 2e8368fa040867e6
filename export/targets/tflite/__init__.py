"""The ``tflite`` target: fp32, fp16, dynamic-range and full-integer int8 flatbuffers from one
SavedModel (the converter :mod:`export.targets.tflite.convert`), run with LiteRT (the bench
runtime :mod:`export.targets.tflite.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass

from export.rewrite import REWRITES
from export.targets import STEM, Target, register
from export.targets.tflite.convert import VARIANTS
from export.targets.tflite.runtime import make_call, settings
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
    """The dynamic-batch check of ``variant``, as the parity table has it (float variants against
    Keras within their bound; int8 rows against its own full run; dynamic range: runs at both
    sizes, since it quantizes activations per batch)."""
    ref, atol, rtol = rec.dynamic_batch("tflite", variant, out)
    return tl.check_dynamic_batch(
        path, rec.data.x_test, ref, batch=rec.options.dynamic_batch, atol=atol, rtol=rtol
    )


def _one(rec, conv, variant: str, rewrites: list[str] | None = None):
    from export.targets.tflite import convert as tl

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


def _int8(rec, model, world: str, conv):
    """The int8 flatbuffer, from the model with :mod:`export.rewrite`'s rewrites applied: its own
    SavedModel when anything was rewritten, else the float variants' (``conv``; writing it again
    took DenseNet121 18 s)."""
    from export.rewrite import rewrite
    from export.targets.tflite import convert as tl

    which = rec.options.tflite_int8_rewrites
    new, done = rewrite(model, which) if world == "keras" else (model, [])
    if new is model:
        return _one(rec, conv, "int8", done)
    with tl.Converter(new, world) as own:
        return _one(rec, own, "int8", done)


def export(rec, model, world: str):
    from export.targets.tflite import convert as tl

    with tl.Converter(model, world) as conv:  # one SavedModel for every variant not rewritten
        for variant in rec.options.tflite_variants:
            if variant == "int8" and rec.options.tflite_int8_rewrites:
                rec.attempt("tflite", variant, lambda: _int8(rec, model, world, conv))
            else:
                rec.attempt("tflite", variant, lambda v=variant: _one(rec, conv, v))


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
        # float variants against Keras within their bound; int8 is deterministic per sample (its
        # rows equal its full run's); dynamic range quantizes activations per batch: only "runs"
        dynamic_batch={
            "tflite/fp32": {"reference": "keras"},
            "tflite/fp16": {"reference": "keras"},
            "tflite/dynamic": {"reference": "keras", "atol": None},
            "tflite/int8": {"reference": "artifact", "atol": 1e-6},
        },
        count=lambda o: len(o.tflite_variants),
        runtime="litert",
        make_call=make_call,
        settings=settings,
        description="TFLite/LiteRT fp32, fp16, dynamic range and int8",
    )
)
