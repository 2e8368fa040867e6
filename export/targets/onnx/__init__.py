"""The ``onnx`` target: fp32 (tf2onnx / Keras 3 ``model.export``) and int8 QDQ (onnxruntime's
static quantization), run with onnxruntime. The converter is :mod:`export.targets.onnx.convert`,
the bench runtime :mod:`export.targets.onnx.runtime`."""

from __future__ import annotations

from dataclasses import dataclass

from export.targets import STEM, Target, register
from export.targets.onnx.convert import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
from export.targets.onnx.runtime import make_call, settings
from zoo.core.options import OptionError, option

VARIANTS = ("fp32", "int8")


@dataclass
class Options:
    opset: int = option(DEFAULT_OPSET, "ONNX opset", min=MIN_OPSET, max=MAX_OPSET)
    onnx_variants: tuple[str, ...] = option(
        VARIANTS,
        "ONNX variants: fp32, int8 (QDQ, calibrated on training samples)",
        choices=VARIANTS,
        metavar="VARIANTS",
    )
    onnx_per_channel: bool = option(
        True,
        "int8: per-channel weight scales (measured on ResNet-8: faster at batch 1, "
        "higher argmax agreement)",
    )
    onnx_float_convs_max_cin: int = option(
        1,
        "int8: group-1 convs with <= this many input channels and < 16 "
        "outputs stay float (0: none)",
        min=0,
        metavar="N",
    )

    def check(self):
        if not self.onnx_variants:
            raise OptionError(
                f"onnx_variants must be a non-empty subset of {VARIANTS}. Received: onnx_variants=()"
            )


def export(rec, model, world: str):
    """fp32 (kept only when asked for), then int8 quantized from it."""
    from export.targets.onnx import convert as ox

    o = rec.options
    fp32_path = rec.out / f"{STEM}.onnx"

    def fp32():
        ox.export_onnx(model, fp32_path, world=world, opset=o.opset)
        out = ox.run_onnx(fp32_path, rec.data.x_test)
        ref, atol, rtol = rec.dynamic_batch("onnx", "fp32", out)
        dyn = ox.check_dynamic_batch(
            fp32_path, rec.data.x_test, ref, batch=o.dynamic_batch, atol=atol, rtol=rtol
        )
        return rec.entry(
            fp32_path, "onnx", "fp32", rec.parity("onnx", "fp32", out, dyn), opset=o.opset
        )

    base = rec.attempt("onnx", "fp32", fp32)
    if "int8" not in o.onnx_variants:
        return
    if base is None:
        rec.skip("onnx", "int8", "no fp32 ONNX model to quantize")
        return

    def int8():
        path = rec.out / f"{STEM}.int8.onnx"
        q = {}
        ox.quantize_int8(
            fp32_path,
            path,
            rec.data.x_calib,
            per_channel=o.onnx_per_channel,
            float_convs_max_cin=o.onnx_float_convs_max_cin,
            info=q,
        )
        out = ox.run_onnx(path, rec.data.x_test)
        ref, atol, rtol = rec.dynamic_batch("onnx", "int8", out)
        dyn = ox.check_dynamic_batch(
            path, rec.data.x_test, ref, batch=o.dynamic_batch, atol=atol, rtol=rtol
        )
        return rec.entry(
            path,
            "onnx",
            "int8",
            rec.parity("onnx", "int8", out, dyn),
            opset=o.opset,
            quantization=q,
            calibration=rec.calibration(path),
        )

    rec.attempt("onnx", "int8", int8)
    if "fp32" not in o.onnx_variants:  # fp32 was only the base of the int8 model
        rec.drop("onnx", "fp32")
        fp32_path.unlink(missing_ok=True)


TARGET = register(
    Target(
        name="onnx",
        variants=VARIANTS,
        export=export,
        order=10,
        options=Options,
        thresholds={"onnx/fp32": {"max_abs_diff": 1e-4, "rtol": 1e-5}},
        # fp32 batch 1 and N against Keras within the fp32 bound; int8 is deterministic per
        # sample: its rows at batch 1 and N equal its full run's
        dynamic_batch={
            "onnx/fp32": {"reference": "keras"},
            "onnx/int8": {"reference": "artifact", "atol": 1e-6},
        },
        count=lambda o: 1 + ("int8" in o.onnx_variants),
        runtime="onnxruntime",
        make_call=make_call,
        settings=settings,
        description="ONNX fp32 and int8 QDQ, run with onnxruntime",
    )
)
