"""TFLM against LiteRT, in output LSBs (steps of the TFLM file's output scale): the same file run
by LiteRT (TFLM's reference kernels against LiteRT's optimized ones), and the ``tflite`` int8
artifact of the same export when there is one (its own rewrites and dynamic batch)."""

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


def versus_litert(rec, data: bytes, q: np.ndarray, out: np.ndarray, graph) -> dict:
    """Agreement figures of the TFLM outputs ``out`` (``q`` int8) with LiteRT."""
    from export.targets.tflite import convert as tl

    x, classify = rec.data.x_test, rec.task == "classification"
    scale = graph.io["output"]["scale"]
    result = {
        "unit": f"LSB of the TFLM file's output scale ({scale:.6g})",
        "same_file": {
            "what": "this file in LiteRT (ai_edge_litert)",
            **lsb_figures(out, tl.run_tflite(data, x, batch_size=1), scale, classify),
        },
    }
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
