"""Equivalent graph rewrites that let int8 kernels do the work (used by the TFLite int8 export).

Measured on this project's machine (``edgezoo bench-int8``, LiteRT + XNNPACK, one thread): in
lenet5 two layers kept int8 from being faster than fp32.

- ``avgpool``: XNNPACK has no int8 AVERAGE_POOL_2D, so the graph fell back to TFLite's own kernel
  and split into three partitions. A valid-padded ``AveragePooling2D(p, s)`` is exactly a
  ``DepthwiseConv2D(p, s)`` with every weight ``1/(p_h p_w)`` and no bias, which XNNPACK runs
  in int8.
- ``thin_conv``: a convolution on a 1- or 2-channel input (lenet5's C1: 5x5, 1 -> 6) gives the
  int8 kernel one byte per input pointer: 13 us/sample int8 against 8 us fp32. As
  ``SpaceToDepth(2) -> Conv2D(k//2 + 1, 4 cin -> 4 cout) -> DepthToSpace(2)`` (the stem trick of
  TPU ResNets) the same products run on 4x wider vectors: 3.2 us int8. It pays only for a kernel
  of 5 or more (:data:`THIN_MIN_KERNEL`): the rewritten kernel computes ``16 (k//2+1)^2`` products
  per output pixel against ``4 k^2``, 1.44x as many for k = 5 but 1.78x for k = 3, plus the
  SPACE_TO_DEPTH / DEPTH_TO_SPACE (and, for ``same`` padding, PAD) data movement. mnist_cnn's
  3x3 ``same`` stem rewritten made its whole int8 flatbuffer 1.45x slower at batch 256 (73 vs 51
  us/sample, one interleaved run on a loaded 2-core machine, load 9.8), and so int8 lost to fp32;
  lenet5's 5x5 valid C1 rewritten stays 2.1x faster (46 vs 97 us/sample, same run).

- ``grouped_conv`` (used by the ONNX export): a ``Conv2D`` with ``groups`` equal to its input
  and output channels (ConvNeXt's 7x7 "depthwise" convolutions) is exactly a ``DepthwiseConv2D``.
  Keras' TensorFlow backend runs a grouped convolution as a nested XLA function, which tf2onnx
  leaves as a ``StatefulPartitionedCall`` node no ONNX runtime knows (ConvNeXtTiny in
  ``edgezoo bench-compat``); a DepthwiseConv2D converts to an ONNX grouped Conv.

All are exact in real arithmetic (the float outputs agree to float rounding); the artifact is
still checked against the original Keras model by the parity gates, and the manifest names the
rewrites applied. Only Keras 3 functional models are rewritten (``keras.models.clone_model``'s
``call_function``); other models are returned unchanged.
"""

from __future__ import annotations

import numpy as np

REWRITES = ("avgpool", "thin_conv")  # the TFLite int8 export's
GROUPED = ("grouped_conv",)  # the ONNX export's
THIN_CIN = 2  # a convolution on at most this many input channels is "thin"
THIN_MIN_KERNEL = 5  # smaller kernels lose more to the rewrite than they gain (module docstring)


def _avgpool_ok(layer) -> bool:
    import keras

    return (
        type(layer) is keras.layers.AveragePooling2D
        and layer.padding == "valid"
        and layer.data_format == "channels_last"
    )


def _thin_conv_ok(layer, x) -> bool:
    import keras

    if type(layer) is not keras.layers.Conv2D or layer.data_format != "channels_last":
        return False
    k = tuple(layer.kernel_size)
    h, w, cin = x.shape[1:]
    pad = 0 if layer.padding == "valid" else (k[0] - 1) // 2
    return (
        cin is not None
        and cin <= THIN_CIN
        and k[0] == k[1]
        and k[0] % 2 == 1
        and k[0] >= THIN_MIN_KERNEL
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and getattr(layer, "groups", 1) == 1
        and layer.padding in ("valid", "same")
        and h is not None
        and w is not None
        and (h + 2 * pad) % 2 == 0
        and (w + 2 * pad) % 2 == 0
    )


def _grouped_conv_ok(layer, x) -> bool:
    """A Conv2D whose groups equal its input and output channels: a depthwise convolution."""
    import keras

    return (
        type(layer) is keras.layers.Conv2D
        and getattr(layer, "groups", 1) > 1
        and x is not None
        and layer.data_format == "channels_last"
        and layer.groups == x.shape[-1] == layer.filters
    )


def has_grouped_conv_layer(layer) -> bool:
    import keras

    return type(layer) is keras.layers.Conv2D and getattr(layer, "groups", 1) > 1


def has_grouped_conv(model) -> bool:
    return any(has_grouped_conv_layer(la) for la in getattr(model, "layers", []))


def s2d_weights(kernel: np.ndarray) -> np.ndarray:
    """The (k//2+1, k//2+1, 4 cin, 4 cout) kernel that, between SpaceToDepth(2) and
    DepthToSpace(2), computes the valid (k, k, cin, cout) convolution ``kernel``."""
    k, _, cin, cout = kernel.shape
    kk = k // 2 + 1
    out = np.zeros((kk, kk, 4 * cin, 4 * cout), kernel.dtype)
    for a in range(kk):
        for b in range(kk):
            for di in range(2):
                for dj in range(2):
                    for ei in range(2):
                        for ej in range(2):
                            u, v = 2 * a + di - ei, 2 * b + dj - ej
                            if 0 <= u < k and 0 <= v < k:
                                i, o = (2 * di + dj) * cin, (2 * ei + ej) * cout
                                out[a, b, i : i + cin, o : o + cout] = kernel[u, v]
    return out


def _layers():
    import keras
    import tensorflow as tf

    class SpaceToDepth(keras.layers.Layer):
        def call(self, x):
            return tf.nn.space_to_depth(x, 2)

    class DepthToSpace(keras.layers.Layer):
        def call(self, x):
            return tf.nn.depth_to_space(x, 2)

    return SpaceToDepth, DepthToSpace


def rewrite(model, which=REWRITES):
    """(an equivalent model with ``which`` rewrites applied, the list of what was rewritten)."""
    import keras

    which = tuple(which)
    if not which or not isinstance(model, keras.Model):
        return model, []
    try:  # a plain, uncompiled functional view of the layer graph (Sequential, a Functional
        # subclass with its own compile() like the DCGAN trainer): what gets cloned
        ins, outs = model.inputs, model.outputs
    except (AttributeError, ValueError):  # a subclassed model: no graph to rewrite
        return model, []
    if not ins or not outs:
        return model, []
    graph = keras.Model(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs)
    done: list[str] = []
    s2d_cls, d2s_cls = _layers()

    def call(layer, *args, **kwargs):
        x = args[0] if args else None
        if "grouped_conv" in which and _grouped_conv_ok(layer, x):
            kernel, *bias = layer.get_weights()
            dw = keras.layers.DepthwiseConv2D(
                layer.kernel_size,
                strides=layer.strides,
                padding=layer.padding,
                dilation_rate=layer.dilation_rate,
                use_bias=bool(bias),
                activation=layer.activation,
                name=f"{layer.name}_as_depthwise",
            )
            y = dw(x)
            dw.set_weights([np.transpose(kernel, (0, 1, 3, 2))] + bias)
            done.append(f"{layer.name}: Conv2D groups={layer.groups} -> DepthwiseConv2D")
            return y
        if "avgpool" in which and _avgpool_ok(layer):
            ph, pw = layer.pool_size
            c = x.shape[-1]
            dw = keras.layers.DepthwiseConv2D(
                (ph, pw), strides=layer.strides, use_bias=False, name=f"{layer.name}_as_depthwise"
            )
            y = dw(x)
            dw.set_weights([np.full((ph, pw, c, 1), 1.0 / (ph * pw), np.float32)])
            done.append(f"{layer.name}: AveragePooling2D -> DepthwiseConv2D")
            return y
        if "thin_conv" in which and _thin_conv_ok(layer, x):
            kernel, *bias = layer.get_weights()
            k, cout = kernel.shape[0], kernel.shape[-1]
            if layer.padding == "same":
                x = keras.layers.ZeroPadding2D((k - 1) // 2, name=f"{layer.name}_pad")(x)
            x = s2d_cls(name=f"{layer.name}_s2d")(x)
            conv = keras.layers.Conv2D(
                4 * cout,
                k // 2 + 1,
                use_bias=bool(bias),
                activation=layer.activation,
                name=f"{layer.name}_wide",
            )
            y = conv(x)
            conv.set_weights([s2d_weights(kernel)] + ([np.tile(bias[0], 4)] if bias else []))
            done.append(
                f"{layer.name}: Conv2D {k}x{k} on {kernel.shape[2]} channel(s) -> "
                f"SpaceToDepth(2), Conv2D {k // 2 + 1}x{k // 2 + 1}, DepthToSpace(2)"
            )
            return d2s_cls(name=f"{layer.name}_d2s")(y)
        return layer(*args, **kwargs)

    new = keras.models.clone_model(graph, clone_function=lambda layer: layer, call_function=call)
    return (new, done) if done else (model, [])
