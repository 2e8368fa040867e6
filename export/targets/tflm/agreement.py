"""TFLM against LiteRT, in output LSBs (steps of the TFLM file's output scale): the same file run
by LiteRT's reference kernels (the arithmetic TFLM's reference kernels implement: the goal of at
least 99% of outputs within 1 LSB is judged on it), the same file run by LiteRT's default
optimized kernels with XNNPACK (what a phone runs: recorded beside it, never hidden), the
operators that differ when each runs alone (:mod:`export.targets.tflm.opwise`), and the
``tflite`` int8 artifact of the same export when there is one (its own rewrites and dynamic
batch)."""

from __future__ import annotations

import numpy as np


def lsb_figures(tflm: np.ndarray, other: np.ndarray, scale: float, classify: bool) -> dict:
    """max |diff| in LSB, the share of outputs within 1 LSB, argmax agreement (classifiers)."""
    a = np.asarray(tflm, np.float64).reshape(len(tflm), -1)
    b = np.asarray(other, np.float64).reshape(a.shape)
    lsb = np.rint(np.abs(a - b) / scale)
    fig = {
        "n": int(len(a)),
        "max_abs_diff_lsb": int(lsb.max()) if lsb.size else 0,
        "within_1_lsb": float((lsb <= 1).mean()) if lsb.size else 1.0,
        "exact": float((lsb == 0).mean()) if lsb.size else 1.0,
    }
    if classify:
        if a.shape[1] == 1:
            fig["argmax_agreement"] = float(((a[:, 0] > 0.5) == (b[:, 0] > 0.5)).mean())
        else:
            fig["argmax_agreement"] = float((a.argmax(1) == b.argmax(1)).mean())
    return fig


GOAL = {"within_1_lsb": 0.99, "argmax_agreement": 0.99}
OPWISE_SAMPLES = 16  # op by op: the first samples of the split, every operator alone
WHY = (
    "requantization rounding: TFLM's CONV_2D and FULLY_CONNECTED round twice (gemmlowp's "
    "SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), as LiteRT's reference CONV_2D "
    "does; LiteRT's FULLY_CONNECTED (reference and optimized) and its optimized CONV_2D round "
    "once, so a product on a rounding tie lands 1 LSB apart (reproduced bit for bit in numpy on "
    "LeNet-5's convolutions and a jet tagger's Dense layers, tflite-micro 0.dev20261023182759, "
    "ai-edge-litert 2.3.0). op_by_op names the operators where it happens on this model (each "
    "alone on the same inputs); a steep SOFTMAX, TANH or LOGISTIC after them can widen 1 LSB into "
    "several at the model's output. Nothing in the file decides it: the kernels do"
)


def versus_litert(rec, data: bytes, q: np.ndarray, out: np.ndarray, graph) -> dict:
    """Agreement figures of the TFLM outputs ``out`` (``q`` int8) with LiteRT."""
    from export.targets.tflite import convert as tl
    from export.targets.tflm import opwise

    x, classify = rec.data.x_test, rec.task == "classification"
    scale = graph.io["output"]["scale"]
    result = {
        "unit": f"LSB of the TFLM file's output scale ({scale:.6g})",
        "same_file_reference": {
            "what": "this file in LiteRT (ai_edge_litert) with its reference kernels "
            "(OpResolverType.BUILTIN_REF): the arithmetic TFLM's reference kernels implement",
        },
        "same_file": {
            "what": "this file in LiteRT (ai_edge_litert) with its default optimized kernels and "
            "the XNNPACK delegate: what a phone runs",
            **lsb_figures(out, opwise.run_litert(data, x, "optimized"), scale, classify),
        },
    }
    try:
        ref = lsb_figures(out, opwise.run_litert(data, x, "reference"), scale, classify)
        result["same_file_reference"].update(ref)
        judged = "same_file_reference"
    except (ValueError, RuntimeError) as exc:  # a float op (QKeras' ROUND) it does not have
        result["same_file_reference"]["error"] = " ".join(str(exc).split())[:200]
        judged = "same_file"
    fig = result[judged]
    result["goal"] = {
        "judged_on": judged,
        **GOAL,
        "met": fig["within_1_lsb"] >= GOAL["within_1_lsb"]
        and fig.get("argmax_agreement", 1.0) >= GOAL["argmax_agreement"],
    }
    result["why_optimized_differs"] = WHY
    result["op_by_op"] = _op_by_op(data, x[:OPWISE_SAMPLES])
    art = rec.find("tflite", "int8")
    if art is not None and "path" not in art:
        art = None
    if art is not None:
        path = rec.out / art["path"]
        result["tflite_int8"] = {
            "what": f"the tflite int8 artifact {art['path']} in LiteRT",
            "rewrites": (art.get("quantization") or {}).get("rewrites", []),
            **lsb_figures(out, tl.run_tflite(path, x), scale, classify),
            **_in_tflm(path.read_bytes()),
        }
    else:
        result["tflite_int8"] = "not in this export (add tflite to --to to compare)"
    return result


def _op_by_op(data: bytes, x: np.ndarray) -> dict:
    """The operators whose own output differs (TFLM or LiteRT optimized against LiteRT
    reference, each operator alone on the same inputs), or why there is no figure."""
    from export.errors import ExportError
    from export.targets.tflm import opwise

    try:
        rows = opwise.op_by_op(data, x)
    except (ExportError, ValueError, RuntimeError) as exc:
        return {"error": str(exc)[:200]}
    return {
        "n": int(len(x)),
        "ops": len(rows),
        "cut_exact": all(r["cut_exact"] for r in rows),
        "differ": [
            r
            for r in rows
            if r["tflm_vs_reference"]["max_lsb"] or r["litert_optimized_vs_reference"]["max_lsb"]
        ],
    }


def _in_tflm(data: bytes) -> dict:
    """The LiteRT int8 file's own arena in TFLM (one sample), for comparison; or why not."""
    from export.errors import ExportError
    from export.targets.tflm import graph, micro

    g = graph.read(data)
    bad = g.unsupported() + g.aborts()
    if bad:
        return {"tflm_arena_bytes": None, "why": f"uses {', '.join(bad)}"}
    try:
        it = micro.interpreter(data)
        shape = tuple(int(s) for s in it.get_input_details(0)["shape"])
        it.set_input(np.zeros(shape, np.int8), 0)
        it.invoke()
        return {"tflm_arena_bytes": micro.allocations(it)["arena_bytes"], "bytes": len(data)}
    except (ExportError, RuntimeError) as exc:
        return {"tflm_arena_bytes": None, "why": str(exc)[:200]}
