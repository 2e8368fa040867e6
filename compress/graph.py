"""World-agnostic views of a functional model: what each layer is, and what feeds it.

Works on Keras 3, tf-keras and QKeras models alike (layers are classified by the names in
their class hierarchy, so ``QDense`` is a ``Dense``).
"""

from __future__ import annotations

from zoo.core.introspect import all_layers

# Layers that multiply a kernel with their input (the MACs of BOPs; what pruning and QAT touch).
MAC_KINDS = ("Conv2DTranspose", "Conv1D", "Conv2D", "Dense")
# Weightless layers that only move, select, copy or drop values: a tensor keeps its bit width.
LAYOUT_KINDS = (
    "InputLayer",
    "Flatten",
    "Reshape",
    "Permute",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "MaxPooling1D",
    "MaxPooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Cropping1D",
    "Cropping2D",
    "RepeatVector",
    "Concatenate",
)
# Float layers a quantized twin keeps as they are (hls4ml gives them their own precision).
FLOAT_KINDS = (
    "BatchNormalization",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
)


def kind(layer) -> str:
    """The first well-known Keras class in ``layer``'s hierarchy ("Dense" for QDense), else its class name."""
    known = (
        set(MAC_KINDS)
        | set(LAYOUT_KINDS)
        | set(FLOAT_KINDS)
        | {
            "Activation",
            "ReLU",
            "UpSampling1D",
            "UpSampling2D",
            "DepthwiseConv2D",
            "SeparableConv2D",
            "SeparableConv1D",
            "Conv3D",
            "Functional",
            "Sequential",
        }
    )
    for cls in type(layer).__mro__:
        if cls.__name__ in known:
            return cls.__name__
    return type(layer).__name__


def is_mac(layer) -> bool:
    return kind(layer) in MAC_KINDS


def layers(model) -> list:
    """Layers in topological order, descending into nested models (:func:`zoo.core.introspect.all_layers`)."""
    return all_layers(model)


def inbound(layer) -> list[str]:
    """Names of the layers feeding ``layer`` (its first call), in both Keras worlds."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return []
    names = []
    for parent in nodes[0].parent_nodes:
        op = getattr(parent, "operation", None) or getattr(parent, "layer", None)
        names.append(op.name)
    return names


def consumers(model) -> dict[str, list[str]]:
    """layer name -> names of the layers that read its output."""
    out: dict[str, list[str]] = {layer.name: [] for layer in layers(model)}
    for layer in layers(model):
        for src in inbound(layer):
            out.setdefault(src, []).append(layer.name)
    return out


def output_layer_names(model) -> set[str]:
    """Layers whose output is a model output."""
    names = set()
    for t in model.outputs:
        hist = getattr(t, "_keras_history", None)
        if hist is not None:
            names.add(hist[0].name)
    return names


def head_layers(model) -> set[str]:
    """MAC layers with no MAC layer downstream: the model's output layer(s) ("output", "predictions")."""
    cons = consumers(model)
    by_name = {layer.name: layer for layer in layers(model)}
    heads = set()
    for name, layer in by_name.items():
        if not is_mac(layer):
            continue
        stack, seen, reaches_mac = list(cons.get(name, [])), set(), False
        while stack and not reaches_mac:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in by_name and is_mac(by_name[n]):
                reaches_mac = True
            stack.extend(cons.get(n, []))
        if not reaches_mac:
            heads.add(name)
    return heads


def final_layers(model) -> set[str]:
    """Layers followed by nothing but weightless layout layers up to a model output
    (the output activation -- softmax, sigmoid -- and the layer producing the output)."""
    cons = consumers(model)
    by_name = {layer.name: layer for layer in layers(model)}
    outs = output_layer_names(model)
    memo: dict[str, bool] = {}

    def final(name: str) -> bool:
        if name not in memo:
            nxt = cons.get(name, [])
            if not nxt:
                memo[name] = name in outs
            else:
                memo[name] = all(kind(by_name[c]) in LAYOUT_KINDS and final(c) for c in nxt)
        return memo[name]

    return {name for name in by_name if final(name)}
