"""What a ``.tflite`` flatbuffer asks of a microcontroller, read with the schema the
``tflite-micro`` wheel ships: its operators (in execution order), whether TFLM has each, the
multiply-accumulates, and a lower bound of the activation memory.

``TFLM_OPS`` is the set of builtin operators the installed TFLM registers: the
``tflite::micro::Register_<OP>()`` symbols of ``tflite_micro/python/tflite_micro/_runtime.so``
(tflite-micro 0.dev20261023182759, ``nm -DC``), less its signal-processing and vendor ops. A
model whose int8 graph uses any other operator is refused before the interpreter runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TFLM_OPS = frozenset(
    """ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
    BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM
    DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DETECTION_POSTPROCESS DIV DYNAMIC_UPDATE_SLICE ELU
    EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER
    GATHER_ND GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS
    LESS_EQUAL LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN
    MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE READ_VARIABLE REDUCE_ALL
    REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2
    ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V
    SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE TRANSPOSE_CONV
    UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE""".split()
)

# The MicroMutableOpResolver method that registers each op: Add + CamelCase, with TFLM's spellings.
_ADD_NAMES = {
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "MAX_POOL_2D": "AddMaxPool2D",
    "L2_POOL_2D": "AddL2Pool2D",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "RELU6": "AddRelu6",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "PADV2": "AddPadV2",
    "SELECT_V2": "AddSelectV2",
    "SPLIT_V": "AddSplitV",
    "REVERSE_V2": "AddReverseV2",
    "GATHER_ND": "AddGatherNd",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "L2_NORMALIZATION": "AddL2Normalization",
}
# Ops whose output TFLM places on its input's buffer (no copy, no extra arena).
_ALIASING = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
_MIN_SOFTMAX_SCALE = 2.0**-26  # TFLM: beta * input_scale * 2^(31 - 5) must exceed 1
_DTYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8, 15: 4}


def add_method(op: str) -> str:
    """``MicroMutableOpResolver``'s method for builtin ``op`` (``CONV_2D`` -> ``AddConv2D``)."""
    return _ADD_NAMES.get(op) or "Add" + "".join(p.capitalize() for p in op.split("_"))


@dataclass
class Graph:
    """The operators and memory figures of one flatbuffer's main subgraph."""

    ops: list[str]  # execution order
    macs: int
    peak_activation_bytes: int  # max over op steps of the bytes of live non-constant tensors
    peak_step: int
    io: dict = field(default_factory=dict)  # {"input"/"output": {shape, dtype, scale, zero_point}}
    softmax_input_scales: list[float] = field(default_factory=list)  # scale x beta per SOFTMAX
    float_ops: list[str] = field(default_factory=list)  # ops computing in float32 (QKeras, LRN)

    @property
    def op_set(self) -> list[str]:
        return sorted(set(self.ops))

    def unsupported(self) -> list[str]:
        return sorted(set(self.ops) - TFLM_OPS)

    def aborts(self) -> list[str]:
        """What would make TFLM abort the whole process (not return an error): an int8 SOFTMAX
        whose input scale x beta x 2^26 is not above 1 (``QuantizeMultiplierGreaterThanOne``)."""
        return [
            f"SOFTMAX input scale {s:.3g} is at or below {_MIN_SOFTMAX_SCALE:.3g}, the least TFLM's "
            "int8 softmax takes (TFLM would abort): the logits span almost nothing on the "
            "calibration data -- an untrained model, or calibration data unlike its inputs"
            for s in self.softmax_input_scales
            if not s > _MIN_SOFTMAX_SCALE
        ]


def _names():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}


def read(data: bytes) -> Graph:
    """The :class:`Graph` of flatbuffer ``data`` (its first subgraph: what TFLM invokes)."""
    from tflite_micro.python.tflite_micro import runtime

    m = runtime.convert_bytearray_to_object(bytearray(data))
    names, sg = _names(), m.subgraphs[0]
    ops = [
        names.get(runtime.get_builtin_code_from_operator_code(m.operatorCodes[o.opcodeIndex]), "?")
        for o in sg.operators
    ]
    const = {
        i
        for i, t in enumerate(sg.tensors)
        if m.buffers[t.buffer].data is not None and len(m.buffers[t.buffer].data)
    }
    peak, step = _peak(sg, ops, const)
    return Graph(
        ops=ops,
        macs=sum(_macs(sg, o, op) for o, op in zip(sg.operators, ops)),
        peak_activation_bytes=peak,
        peak_step=step,
        io={"input": _io(sg, sg.inputs[0]), "output": _io(sg, sg.outputs[0])},
        float_ops=sorted(
            {
                op
                for o, op in zip(sg.operators, ops)
                if any(sg.tensors[j].type == 0 for j in o.outputs)
            }
        ),
        softmax_input_scales=[
            (_io(sg, o.inputs[0])["scale"] or 1.0) * getattr(o.builtinOptions, "beta", 1.0)
            for o, op in zip(sg.operators, ops)
            if op == "SOFTMAX" and sg.tensors[o.inputs[0]].type == 9
        ],
    )


def _bytes(t) -> int:
    shape = [max(int(s), 1) for s in (t.shape if t.shape is not None else [])]
    return int(np.prod(shape, dtype=np.int64)) * _DTYPE_BYTES.get(t.type, 4)


def _io(sg, i: int) -> dict:
    t = sg.tensors[i]
    q = t.quantization
    return {
        "shape": [int(s) for s in t.shape],
        "dtype": {9: "int8", 3: "uint8", 0: "float32", 7: "int16"}.get(t.type, str(t.type)),
        "scale": float(q.scale[0]) if q is not None and q.scale is not None else None,
        "zero_point": int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None else None,
    }


def _peak(sg, ops, const) -> tuple[int, int]:
    """Max over op steps of the bytes of the non-constant tensors alive at that step (produced
    at or before it, read at or after it; graph inputs from the start, outputs to the end). A
    reshape's output shares its input's buffer. A lower bound: scratch buffers are not counted."""
    n = len(ops)
    root = {}
    first, last = {}, {}

    def r(i):
        return root.get(i, i)

    for i in sg.inputs:
        first[i] = -1
    for s, (o, op) in enumerate(zip(sg.operators, ops)):
        ins = [i for i in o.inputs if i >= 0 and i not in const]
        for i in ins:
            last[r(i)] = max(last.get(r(i), s), s)
        for j in o.outputs:
            if op in _ALIASING and ins:
                root[j] = r(ins[0])
            else:
                first.setdefault(j, s)
            last[r(j)] = max(last.get(r(j), s), s)
    for i in sg.outputs:
        last[r(i)] = n
    size = {i: _bytes(sg.tensors[i]) for i in first}
    best, at = 0, 0
    for s in range(n):
        live = sum(b for i, b in size.items() if first[i] <= s <= last.get(i, first[i]))
        if live > best:
            best, at = live, s
    return best, at


def _macs(sg, o, op: str) -> int:
    """Multiply-accumulates of one op: output elements x the products each one sums."""
    if op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
        return 0
    out = sg.tensors[o.outputs[0]]
    n_out = int(np.prod([max(int(s), 1) for s in out.shape]))
    w = [int(s) for s in sg.tensors[o.inputs[2 if op == "TRANSPOSE_CONV" else 1]].shape]
    if op == "CONV_2D":
        return n_out * w[1] * w[2] * w[3]
    if op == "DEPTHWISE_CONV_2D":
        return n_out * w[1] * w[2]
    if op == "FULLY_CONNECTED":
        return n_out * w[-1]
    inp = sg.tensors[o.inputs[2]].shape
    return int(np.prod([max(int(s), 1) for s in inp])) * w[0] * w[1] * w[2]
