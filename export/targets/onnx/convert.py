"""ONNX: fp32 export, structural check, dynamic batch, static int8 (QDQ) quantization.

* Keras 3 models go through ``model.export(path, format="onnx", opset_version=...)``;
  tf-keras / QKeras models through ``tf2onnx.convert.from_keras`` with an explicit input
  signature (batch dimension ``None``). QKeras quantizers become float ops in the graph.
* Every file is checked with ``onnx.checker.check_model(full_check=True)`` and run with ONNX
  Runtime at batch 1 and batch N, so the batch dimension is proven dynamic, not assumed.
* int8: ``onnxruntime.quantization.quantize_static`` in QDQ format, U8S8 (uint8 activations,
  int8 weights: the format onnxruntime recommends on x86-64; S8S8 measured 2-3x slower on
  ResNet-8 here), per-channel weights, calibrated on samples of the training split whose
  indices are saved next to the artifact. Ordinary convolutions with a single input channel and
  fewer than 16 output channels stay float (``float_convs_max_cin``; :func:`thin_convs`):
  onnxruntime's int8 convolution runs them as an im2col GEMM with K = kh*kw and a handful of
  output channels, measured 2x slower than its float kernel (LeNet-5's first layer: 6.5 ms vs
  ~3 ms per 256 samples); DS-CNN's first conv (64 outputs) and depthwise convs stay int8 (keeping
  them float measured 2-3x slower on DS-CNN). Such a
  mixed model asks onnxruntime (``metadata_props`` ``edgezoo.ort.disabled_optimizers``, read by
  :func:`session` and the bench) to leave out its NCHWc layout transformer, which pads the float
  conv's 6 output channels to 16 and reorders around the int8 ops (measured on LeNet-5: 23,100
  vs 17,000 samples/s at batch 256 with, against fp32's 17,900-19,400).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from export.common import check_single_io
from export.errors import ExportError, ExportOptionsError
from export.rewrite import GROUPED, has_grouped_conv, has_grouped_conv_layer, rewrite
from zoo.core.io import atomic_path

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 13, 21


def check_opset(opset) -> int:
    if (
        isinstance(opset, bool)
        or not isinstance(opset, (int, np.integer))
        or not MIN_OPSET <= opset <= MAX_OPSET
    ):
        raise ExportOptionsError(
            f"onnx: opset must be an integer in [{MIN_OPSET}, {MAX_OPSET}]. Received: opset={opset!r}"
        )
    return int(opset)


def export_onnx(
    model, path, *, world: str = "keras", opset: int = DEFAULT_OPSET, sample=None
) -> Path:
    """Write ``model`` as ONNX to ``path`` (through a temporary file) and check it. Returns the path."""
    opset = check_opset(opset)
    check_single_io(model, "onnx")
    path = Path(path)
    with atomic_path(path) as tmp:
        if sample is not None:  # a loaded Keras 3 model must have been called before export
            model(sample[:1], training=False)
        if world != "tf_keras" and has_grouped_conv(model):  # see export/rewrite.py
            model, _ = rewrite(model, GROUPED)
            left = [la.name for la in model.layers if has_grouped_conv_layer(la)]
            if left:
                raise ExportError(
                    f"onnx: layer {left[0]!r} is a Conv2D with groups > 1 that is not depthwise; "
                    "Keras' TensorFlow backend runs it as an XLA function that tf2onnx cannot "
                    "convert. Split it into per-group Conv2D layers, or export without onnx."
                )
            shape = [d or 1 for d in model.inputs[0].shape[1:]]  # the clone was never called
            model(sample[:1] if sample is not None else np.zeros((1, *shape), "f4"), training=False)
        with constant_statistics(model), erf_gelu(model):
            if world == "tf_keras":
                _from_tf_keras(model, tmp, opset)
            else:
                model.export(str(tmp), format="onnx", verbose=False, opset_version=opset)
        check_onnx(tmp)
        check_self_contained(tmp)
    return path


def _all_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


@contextlib.contextmanager
def constant_statistics(model):
    """For the duration of an export, a ``Normalization`` layer's mean and variance are numpy
    arrays, so they become constants of the graph.

    Keras computes them as tensors from its weights (``finalize_state``); a traced function
    captures such a tensor as a placeholder, which tf2onnx turns into an extra graph input
    (``.../normalization/Sub/y:0``, ``.../Sqrt/x:0``: EfficientNet's stem) that nobody feeds."""
    saved = []
    for layer in _all_layers(model):
        if type(layer).__name__ != "Normalization":
            continue
        for attr in ("mean", "variance"):
            v = getattr(layer, attr, None)
            if v is not None and not isinstance(v, np.ndarray):
                saved.append((layer, attr, v))
                setattr(layer, attr, np.asarray(v))
    try:
        yield
    finally:
        for layer, attr, v in saved:
            setattr(layer, attr, v)


def _gelu_erf(x):
    """Exact GELU written with ``erf``: ``0.5 x (1 + erf(x / sqrt 2))``."""
    from keras import ops

    return 0.5 * x * (1.0 + ops.erf(x * np.float32(1.0 / np.sqrt(2.0))))


@contextlib.contextmanager
def erf_gelu(model):
    """For the duration of an export, a layer whose activation is Keras' exact ``gelu``
    (``Activation('gelu')``, ``Dense(..., activation='gelu')``: ConvNeXt) computes it as
    :func:`_gelu_erf`, the same function. TensorFlow lowers the exact GELU to
    ``0.5 x erfc(-x / sqrt 2)``, and ``Erfc`` is no ONNX operator (ConvNeXtTiny's export was
    refused by ``onnx.checker``); ``Erf`` is. The parity gates still compare the artifact with the
    unchanged model."""
    import keras

    saved = []
    if not isinstance(model, keras.Model):
        yield
        return
    for layer in _all_layers(model):
        if getattr(layer, "activation", None) is keras.activations.gelu:
            saved.append(layer)
            layer.activation = _gelu_erf
    try:
        yield
    finally:
        for layer in saved:
            layer.activation = keras.activations.gelu


def check_self_contained(path) -> None:
    """One graph input: anything else the graph asks for is a captured value nobody will feed."""
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    inits = {t.name for t in g.initializer}
    extra = [i.name for i in g.input if i.name not in inits][1:]
    if extra:
        raise ExportError(
            f"onnx: {path} asks for inputs besides the model's ({', '.join(extra)}): a layer's "
            "captured value was not made a constant; this layer cannot be exported to ONNX yet"
        )


def _from_tf_keras(model, path: Path, opset: int):
    import tensorflow as tf
    import tf2onnx

    inp = model.inputs[0]
    spec = tf.TensorSpec((None, *inp.shape[1:]), tf.float32, name=inp.name.split(":")[0])
    tf2onnx.convert.from_keras(model, input_signature=(spec,), opset=opset, output_path=str(path))


def check_onnx(path) -> None:
    """``onnx.checker.check_model(full_check=True)``: structure, types and shapes."""
    import onnx

    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx: {path} fails onnx.checker (full_check): {exc}") from exc


def batch_dim(path) -> str | int | None:
    """The first input's batch dimension: a symbolic name (dynamic) or a fixed size."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    d = m.graph.input[0].type.tensor_type.shape.dim[0]
    return d.dim_param or (d.dim_value if d.HasField("dim_value") else None)


DISABLED_OPTIMIZERS_KEY = "edgezoo.ort.disabled_optimizers"


def disabled_optimizers(path) -> list[str]:
    """onnxruntime graph optimizers the model asks to leave out (its ``metadata_props``)."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    v = next((p.value for p in m.metadata_props if p.key == DISABLED_OPTIMIZERS_KEY), "")
    return [s for s in v.split(",") if s]


def session(path, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(
        str(path),
        so,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=disabled_optimizers(path) or None,
    )


def run_onnx(path_or_session, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Outputs of an ONNX model on ``x`` (float32), run in chunks of ``batch_size``."""
    sess = (
        session(path_or_session)
        if isinstance(path_or_session, (str, os.PathLike))
        else path_or_session
    )
    name = sess.get_inputs()[0].name
    outs = [
        sess.run(None, {name: np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32)})[0]
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(outs).astype(np.float32)


def check_dynamic_batch(
    path, x: np.ndarray, ref: np.ndarray, *, batch: int = 16, atol: float, rtol: float = 0.0
) -> dict:
    """Run batch 1 and batch ``batch`` and compare each with the Keras outputs of the same rows."""
    from export.common import check_batches

    sess = session(path)
    name = sess.get_inputs()[0].name
    dim = batch_dim(path)

    def run(xn):
        return sess.run(None, {name: np.ascontiguousarray(xn, dtype=np.float32)})[0]

    info = {"input_batch_dim": dim}
    return check_batches(
        run, x, ref, batch=batch, atol=atol, rtol=rtol, info=info, dynamic=isinstance(dim, str)
    )


class _Reader:
    """``CalibrationDataReader`` over an array, one sample at a time."""

    def __init__(self, name: str, x: np.ndarray):
        self.name, self.x, self.i = name, x, 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        self.i += 1
        return {self.name: np.ascontiguousarray(self.x[self.i - 1 : self.i], dtype=np.float32)}

    def rewind(self):
        self.i = 0


def thin_convs(path, max_cin: int, max_cout: int = 15) -> list[str]:
    """Names of the ordinary (group 1) Conv nodes of ``path`` with at most ``max_cin`` input and
    ``max_cout`` output channels: a GEMM too thin for the int8 kernels (depthwise convs excluded)."""
    import onnx

    m = onnx.load(str(path))
    inits = {t.name: t for t in m.graph.initializer}
    out = []
    for n in m.graph.node:
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if n.op_type == "Conv" and group == 1 and len(n.input) > 1 and n.input[1] in inits:
            dims = inits[n.input[1]].dims
            if len(dims) == 4 and dims[1] <= max_cin and dims[0] <= max_cout:
                out.append(n.name)
    return out


def quantize_int8(
    fp32_path,
    path,
    x_calib: np.ndarray,
    *,
    per_channel: bool = True,
    activation_type: str = "uint8",
    weight_type: str = "int8",
    float_convs_max_cin: int = 1,
    info: dict | None = None,
) -> Path:
    """Static QDQ int8 model of ``fp32_path`` calibrated on ``x_calib`` (MinMax), written to ``path``.

    ``info`` (a dict), if given, receives the settings used, including the nodes kept float."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    for what, v in (("activation_type", activation_type), ("weight_type", weight_type)):
        if v not in types:
            raise ExportOptionsError(
                f"onnx int8: {what} must be one of {sorted(types)}. Received: {v!r}"
            )
    if len(x_calib) == 0:
        raise ExportOptionsError("onnx int8: no calibration samples")

    class Reader(_Reader, CalibrationDataReader):
        pass

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="edgezoo-onnx-q-") as tmpdir:
        pre = Path(tmpdir) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        name = session(pre).get_inputs()[0].name
        keep = thin_convs(pre, float_convs_max_cin) if float_convs_max_cin else []
        with atomic_path(path) as tmp:
            quantize_static(
                str(pre),
                str(tmp),
                Reader(name, x_calib),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=types[activation_type],
                weight_type=types[weight_type],
                nodes_to_exclude=keep,
            )
            if keep:  # float convs beside int8 ones: NCHWc blocks them to 16 channels and reorders
                _set_metadata(tmp, DISABLED_OPTIMIZERS_KEY, "NchwcTransformer")
            check_onnx(tmp)
    if info is not None:
        info.update(
            {
                "ort_disabled_optimizers": ["NchwcTransformer"] if keep else [],
                "format": "QDQ",
                "activations": activation_type,
                "weights": weight_type,
                "per_channel": per_channel,
                "calibration": "MinMax",
                "pre_process": "quant_pre_process",
                "float_convs_max_cin": float_convs_max_cin,
                "float_nodes": keep,
            }
        )
    return path


def _set_metadata(path, key: str, value: str) -> None:
    import onnx

    m = onnx.load(str(path))
    onnx.helper.set_model_props(m, {**{p.key: p.value for p in m.metadata_props}, key: value})
    onnx.save(m, str(path))
