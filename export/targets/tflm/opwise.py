"""Which operator makes TFLM and LiteRT disagree, measured op by op.

Every operator of the file is cut out into a one-op flatbuffer and fed the *same* int8 inputs
(the intermediate tensors of LiteRT's reference kernels on the first samples of the split), then
run by TFLM, by LiteRT's reference kernels (``OpResolverType.BUILTIN_REF``) and by LiteRT's
default optimized kernels with the XNNPACK delegate (what a phone runs). A difference there is
that operator's own arithmetic (its requantization rounding), not one carried in from an earlier
op; end to end, a 1-LSB difference can grow through a steep TANH, LOGISTIC or SOFTMAX.
"""

from __future__ import annotations

import copy

import numpy as np

ENGINES = ("tflm", "litert_reference", "litert_optimized")


def litert(data: bytes, kind: str, **kw):
    """A LiteRT interpreter of ``data``: ``reference`` (BUILTIN_REF, no delegate) or
    ``optimized`` (the default kernels and delegates, as ``export.tflite`` runs it)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if kind == "reference":
        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
    it = Interpreter(model_content=bytes(data), num_threads=1, **kw)
    it.allocate_tensors()
    return it


def run_litert(data: bytes, x: np.ndarray, kind: str) -> np.ndarray:
    """Float outputs of the batch-1 int8 file ``data`` on float inputs ``x``, one sample per
    ``invoke()``, in LiteRT's ``kind`` kernels (see :func:`litert`)."""
    from export.targets.tflite.convert import dequantize_output, quantize_input

    it = litert(data, kind)
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    xq = quantize_input(np.asarray(x, np.float32), di)
    outs = []
    for row in xq:
        it.set_tensor(di["index"], row.reshape(di["shape"]))
        it.invoke()
        outs.append(dequantize_output(it.get_tensor(do["index"]), do).reshape(-1))
    return np.stack(outs)


def _one_op(model, k: int) -> tuple[bytes, list[int], int]:
    """Operator ``k`` of ``model`` (flatbuffer object API) alone: (bytes, inputs, output)."""
    import flatbuffers

    m = copy.copy(model)
    sg = copy.copy(model.subgraphs[0])
    m.subgraphs, m.signatureDefs = [sg], None
    o = sg.operators[k]
    const = {
        i
        for i, t in enumerate(sg.tensors)
        if m.buffers[t.buffer].data is not None and len(m.buffers[t.buffer].data)
    }
    sg.operators = [o]
    sg.inputs = [i for i in o.inputs if i >= 0 and i not in const]
    sg.outputs = [o.outputs[0]]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), list(sg.inputs), sg.outputs[0]


def _intermediates(data: bytes, x: np.ndarray) -> list[dict]:
    """Every tensor of LiteRT's reference run, per sample of ``x`` (float)."""
    from export.targets.tflite.convert import quantize_input

    it = litert(data, "reference", experimental_preserve_all_tensors=True)
    di = it.get_input_details()[0]
    ids = [t["index"] for t in it.get_tensor_details()]
    saved = []
    for row in quantize_input(np.asarray(x, np.float32), di):
        it.set_tensor(di["index"], row.reshape(di["shape"]))
        it.invoke()
        saved.append({i: it.get_tensor(i).copy() for i in ids})
    return saved


def _outputs(engine: str, data: bytes, ins: list[int], out: int, saved: list[dict]) -> np.ndarray:
    from export.targets.tflm import micro

    rows = []
    if engine == "tflm":
        it = micro.interpreter(data)
        for s in saved:
            for j, i in enumerate(ins):
                it.set_input(s[i], j)
            it.invoke()
            rows.append(np.array(it.get_output(0)).astype(np.int64).reshape(-1))
        return np.stack(rows)
    it = litert(data, engine.removeprefix("litert_"))
    idx = [d["index"] for d in it.get_input_details()]
    od = it.get_output_details()[0]["index"]
    for s in saved:
        for j, i in zip(idx, ins):
            it.set_tensor(j, s[i])
        it.invoke()
        rows.append(it.get_tensor(od).astype(np.int64).reshape(-1))
    return np.stack(rows)


def op_by_op(data: bytes, x: np.ndarray) -> list[dict]:
    """Per operator: max |diff| (in that op's output LSB) and the share of outputs that differ,
    TFLM and LiteRT optimized each against LiteRT reference, on the same inputs ``x``; and
    ``cut_exact``: the operator alone in LiteRT reference gave the whole model's tensor back (the
    cut changed nothing)."""
    from tflite_micro.python.tflite_micro import runtime

    from export.targets.tflm.graph import read

    ops = read(data).ops
    model = runtime.convert_bytearray_to_object(bytearray(data))
    saved = _intermediates(data, x)
    result = []
    for k, op in enumerate(ops):
        one, ins, out = _one_op(model, k)
        got = {e: _outputs(e, one, ins, out, saved) for e in ENGINES}
        whole = np.stack([s[out].astype(np.int64).reshape(-1) for s in saved])
        row = {
            "op": k,
            "name": op,
            "cut_exact": bool(np.array_equal(whole, got["litert_reference"])),
        }
        for e in ("tflm", "litert_optimized"):
            d = np.abs(got[e] - got["litert_reference"])
            row[f"{e}_vs_reference"] = {
                "max_lsb": int(d.max()) if d.size else 0,
                "differ": float((d > 0).mean()) if d.size else 0.0,
            }
        result.append(row)
    return result
