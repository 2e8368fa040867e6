"""The ``openvino`` target: OpenVINO IR fp32 from the verified ONNX fp32 file (or a temporary
one) and int8 by NNCF post-training quantization (the converter
:mod:`export.targets.openvino.convert`; the bench runtime :mod:`export.targets.openvino.runtime`);
exported on request only (``--to ...,openvino``)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.targets import Target, register
from export.targets.openvino.convert import VARIANTS
from export.targets.openvino.runtime import make_call, settings
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


def _onnx_source(rec) -> Path | None:
    """The ONNX fp32 file of this export, when it was exported and passed parity."""
    a = rec.find("onnx", "fp32")
    if a is None or "path" not in a or not a.get("parity", {}).get("passed"):
        return None
    return rec.out / a["path"]


def _fp32(rec, src: Path, fp32_dir: Path):
    from export.targets.openvino import convert as ov

    ov.export_fp32(src, fp32_dir)
    out = ov.run_openvino(fp32_dir, rec.data.x_test)
    ref, atol, rtol = rec.dynamic_batch("openvino", "fp32", out)
    dyn = ov.check_dynamic_batch(
        fp32_dir, rec.data.x_test, ref, batch=rec.options.dynamic_batch, atol=atol, rtol=rtol
    )
    return rec.entry(
        fp32_dir,
        "openvino",
        "fp32",
        rec.parity("openvino", "fp32", out, dyn),
        runtime={"device": "CPU", "inference_precision_hint": "f32"},
    )


def _selection_set(data, n: int = 128):
    """Up to ``n`` training samples outside the calibration set (the calibration samples when
    there are no others): what the bias correction is chosen on, never the parity samples."""
    if data.x_train is None:
        return data.x_calib
    rest = np.setdiff1d(np.arange(len(data.x_train)), np.asarray(data.calib_indices, int))
    return data.x_train[rest[:n]] if len(rest) else data.x_calib


# The fast bias correction is kept only with room to spare on the selection samples: half the
# int8 bounds' relative error and half their allowed disagreement. Held to the bounds themselves
# (bench-compat 15:30 UTC), InceptionV3's fast model passed them there and missed the parity
# gate (rel_error 0.105 > 0.10, against 0.048 in the run before).
FAST_MARGIN = 0.5


def _misses(rec, int8_dir: Path, x: np.ndarray, ref: np.ndarray) -> tuple[list[str], dict]:
    """(the int8 bounds, tightened by :data:`FAST_MARGIN`, that the IR in ``int8_dir`` misses
    against the fp32 IR's ``ref`` on ``x``; its figures there). No labels: agreement and
    relative error."""
    from export.targets.openvino import convert as ov

    bounds = dict(rec.bounds("openvino", "int8"))
    if "min_argmax_agreement" in bounds:
        bounds["min_argmax_agreement"] = 1.0 - FAST_MARGIN * (1.0 - bounds["min_argmax_agreement"])
    if "max_rel_error" in bounds:
        bounds["max_rel_error"] *= FAST_MARGIN
    fig, misses = rec.compare(ref, ov.run_openvino(int8_dir, x), bounds, x=x)
    keys = ("n", "rel_error", "argmax_agreement", "argmax_agreement_tol")
    return misses, {k: fig[k] for k in keys if k in fig}


def _int8(rec, fp32_dir: Path):
    """NNCF with its fast bias correction; redone with the full one (seconds to minutes more on
    big models) unless the fast model meets the int8 bounds with room to spare
    (:data:`FAST_MARGIN`) on :func:`_selection_set`."""
    from export.targets.openvino import convert as ov

    path = rec.out / "openvino-int8"
    x_sel = _selection_set(rec.data)
    ov.quantize_int8(fp32_dir, path, rec.data.x_calib, fast_bias_correction=True)
    misses, fast_fig = _misses(rec, path, x_sel, ov.run_openvino(fp32_dir, x_sel))
    why = ""
    if misses:
        why = (
            f"the fast one missed the int8 bounds (relative error and disagreement halved) on "
            f"{len(x_sel)} training samples outside the calibration set: {'; '.join(misses)}"
        )
        ov.quantize_int8(fp32_dir, path, rec.data.x_calib, fast_bias_correction=False)
    out = ov.run_openvino(path, rec.data.x_test)
    ref, atol, rtol = rec.dynamic_batch("openvino", "int8", out)
    dyn = ov.check_dynamic_batch(
        path, rec.data.x_test, ref, batch=rec.options.dynamic_batch, atol=atol, rtol=rtol
    )
    calib = rec.calibration(path / ov.XML)
    return rec.entry(
        path,
        "openvino",
        "int8",
        rec.parity("openvino", "int8", out, dyn),
        quantization={
            **ov.quantization_record(fast=not misses, why=why),
            "fast_on_selection_set": fast_fig,
        },
        calibration=calib,
    )


def export(rec, model, world: str):
    """fp32 (parity as ONNX fp32; kept only when asked for) and int8 (parity as the other int8
    variants) from it. The fp32 IR converts this export's verified ONNX fp32 file, or without
    one a temporary ONNX export."""
    from export.targets.onnx.convert import export_onnx

    variants = rec.options.openvino_variants
    fp32_dir = rec.out / "openvino-fp32"
    with tempfile.TemporaryDirectory(prefix="edgezoo-ov-") as tmp:
        src = _onnx_source(rec)
        if src is None or not src.exists():
            src = export_onnx(model, Path(tmp) / "model.onnx", world=world, opset=rec.options.opset)
        base = rec.attempt("openvino", "fp32", lambda: _fp32(rec, src, fp32_dir))
        if "int8" not in variants or base is None:
            return
        rec.attempt("openvino", "int8", lambda: _int8(rec, fp32_dir))
    if "fp32" not in variants:  # fp32 was only the base of the int8 model
        rec.drop("openvino", "fp32")
        shutil.rmtree(fp32_dir, ignore_errors=True)


TARGET = register(
    Target(
        name="openvino",
        variants=VARIANTS,
        export=export,
        order=40,
        default=False,
        options=Options,
        thresholds={"openvino/fp32": {"max_abs_diff": 1e-4, "rtol": 1e-5}},
        # fp32 against Keras within its bound; int8 rows at batch 1 and N against its full run
        dynamic_batch={
            "openvino/fp32": {"reference": "keras"},
            "openvino/int8": {"reference": "artifact", "atol": 1e-5},
        },
        count=lambda o: len(o.openvino_variants),
        runtime="openvino",
        make_call=make_call,
        settings=settings,
        description="OpenVINO IR fp32 and NNCF int8 (on request)",
    )
)
