"""A small Vision-Transformer encoder (lecture 002: transformers; 004: attention)."""

import tensorflow as tf

from zoo.layers import per_world
from zoo.registry import ModelConfigError, register_model


@per_world
def PositionEmbedding(k):
    class PositionEmbedding(k.layers.Layer):
        """Adds a learned position embedding of shape (length, dim) to a (batch, length, dim) sequence."""

        def __init__(self, stddev=0.02, **kwargs):
            super().__init__(**kwargs)
            self.stddev = float(stddev)

        def build(self, input_shape):
            length, dim = int(input_shape[-2]), int(input_shape[-1])
            self.embedding = self.add_weight(
                name="embedding",
                shape=(length, dim),
                initializer=k.initializers.RandomNormal(stddev=self.stddev),
                trainable=True,
            )
            super().build(input_shape)

        def call(self, inputs):
            return inputs + tf.cast(tf.convert_to_tensor(self.embedding), inputs.dtype)[None]

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "stddev": self.stddev}

    return PositionEmbedding


@per_world
def Gelu(k):
    class Gelu(k.layers.Layer):
        """GELU activation; ``approximate=True`` (default) is the tanh form of Hendrycks & Gimpel
        (BERT, GPT-2), which exports to ONNX (the exact form lowers to Erfc, which ONNX lacks)."""

        def __init__(self, approximate=True, **kwargs):
            super().__init__(**kwargs)
            self.approximate = bool(approximate)

        def call(self, inputs):
            return tf.nn.gelu(inputs, approximate=self.approximate)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "approximate": self.approximate}

    return Gelu


def encoder_block(k, x, *, prefix, dim, heads, mlp_dim, dropout=0.0, epsilon=1e-6):
    """Pre-norm transformer block: x + MHA(LN(x)), then x + MLP(LN(x)); layers named ``{prefix}_*``."""
    h = k.layers.LayerNormalization(epsilon=epsilon, name=f"{prefix}_ln1")(x)
    h = k.layers.MultiHeadAttention(
        num_heads=heads, key_dim=dim // heads, dropout=dropout, name=f"{prefix}_mha"
    )(h, h)
    x = k.layers.Add(name=f"{prefix}_add1")([x, h])
    h = k.layers.LayerNormalization(epsilon=epsilon, name=f"{prefix}_ln2")(x)
    h = k.layers.Dense(mlp_dim, name=f"{prefix}_mlp_fc1")(h)
    h = Gelu(k)(name=f"{prefix}_mlp_gelu")(h)
    if dropout:
        h = k.layers.Dropout(dropout, name=f"{prefix}_mlp_dropout")(h)
    h = k.layers.Dense(dim, name=f"{prefix}_mlp_fc2")(h)
    return k.layers.Add(name=f"{prefix}_add2")([x, h])


@register_model(
    family="transformer",
    task="classification",
    input_shape=(8, 8, 1),
    output="10-class softmax",
    dataset="digits",
    lecture="002 (Nov 11: transformers; Prince, Understanding Deep Learning ch. 12), 004 (attention and transformers)",
    params=18_154,
    targets=("onnx", "tflite"),
    quantizable=False,
    not_quantizable_because="MultiHeadAttention, LayerNormalization, GELU and the learned position embedding",
    test_overrides={"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 16},
    notes="ViT: non-overlapping patch_size x patch_size patches (Conv2D with stride = patch), learned "
    "position embedding, `depth` pre-norm encoder blocks (MLP with tanh-approximate GELU), "
    "global average pooling (no class token).",
)
def transformer(
    k,
    *,
    name="transformer",
    input_shape=(8, 8, 1),
    classes=10,
    patch_size=2,
    dim=32,
    depth=2,
    heads=4,
    mlp_dim=64,
    dropout=0.0,
):
    h, w = int(input_shape[0]), int(input_shape[1])
    if h % patch_size or w % patch_size:
        raise ModelConfigError(
            f"transformer: image size {(h, w)} must be divisible by patch_size. Received: patch_size={patch_size}"
        )
    if dim % heads:
        raise ModelConfigError(
            f"transformer: dim must be divisible by heads. Received: dim={dim}, heads={heads}"
        )
    n_patches = (h // patch_size) * (w // patch_size)
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = k.layers.Conv2D(dim, patch_size, strides=patch_size, name="patch_embed")(inputs)
    x = k.layers.Reshape((n_patches, dim), name="patches")(x)
    x = PositionEmbedding(k)(name="pos_embed")(x)
    for i in range(1, depth + 1):
        x = encoder_block(
            k, x, prefix=f"block{i}", dim=dim, heads=heads, mlp_dim=mlp_dim, dropout=dropout
        )
    x = k.layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    x = k.layers.GlobalAveragePooling1D(name="pool")(x)
    x = k.layers.Dense(classes, name="output")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
