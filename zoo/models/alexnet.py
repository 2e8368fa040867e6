"""AlexNet (Krizhevsky, Sutskever & Hinton 2012), as tabulated in lecture 003.

The lecture's table, layer by layer (input 227x227x3):

==========================  ======================  ===========================
layer                       output                  parameters
==========================  ======================  ===========================
conv1 96@11x11, s4, valid   55x55x96                (11*11*3 + 1) * 96 = 34,944
maxpool 3x3, s2             27x27x96
norm (LRN)
conv2 256@5x5, pad 2        27x27x256               614,656
maxpool 3x3, s2             13x13x256
norm (LRN)
conv3 384@3x3, pad 1        13x13x384               885,120
conv4 384@3x3, pad 1        13x13x384               1,327,488
conv5 256@3x3, pad 1        13x13x256               884,992
maxpool 3x3, s2             6x6x256
dropout 0.5, FC6 4096       4096                    9216 * 4096 (+ 4096 biases)
dropout 0.5, FC7 4096       4096                    4096 * 4096 (+ 4096)
FC8 1000, softmax           1000                    4096 * 1000 (+ 1000)
==========================  ======================  ===========================

Convolutions: 3,747,200 parameters; with the dense biases the whole network has
62,378,344 (the lecture's 62,369,152 counts the dense weights without biases).
The single-GPU form is used (no grouped convolutions over two GPUs).
"""

from zoo.layers import per_world
from zoo.registry import ModelConfigError, register_model

#: (filters, kernel, stride, padding) of conv1..conv5, the lecture's table.
ALEXNET_CONVS = (
    (96, 11, 4, "valid"),
    (256, 5, 1, "same"),
    (384, 3, 1, "same"),
    (384, 3, 1, "same"),
    (256, 3, 1, "same"),
)
#: after which convolutions come "maxpool 3x3 s2" and (for conv1, conv2) "Norm".
_POOL_AFTER = (1, 2, 5)
_NORM_AFTER = (1, 2)


@per_world
def LocalResponseNormalization(k):
    """AlexNet's "Norm": parameter-free local response normalization across channels.

    ``b = a / (bias + alpha * sum_{|d'-d| <= depth_radius} a_{d'}^2) ** beta`` with the paper's
    k=2, n=5 (depth_radius=2), alpha=1e-4, beta=0.75 (TensorFlow's ``tf.nn.local_response_normalization``).
    """
    import tensorflow as tf

    class LocalResponseNormalization(k.layers.Layer):
        def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
            super().__init__(**kwargs)
            self.depth_radius = int(depth_radius)
            self.bias = float(bias)
            self.alpha = float(alpha)
            self.beta = float(beta)

        def call(self, inputs):
            return tf.nn.local_response_normalization(
                inputs,
                depth_radius=self.depth_radius,
                bias=self.bias,
                alpha=self.alpha,
                beta=self.beta,
            )

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            config = super().get_config()
            config.update(
                depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
            )
            return config

    return LocalResponseNormalization


@register_model(
    family="cnn",
    task="classification",
    input_shape=(227, 227, 3),
    output="1000-class softmax (ImageNet classes)",
    dataset="cifar10",
    lecture="003 (Katzy, CNNs: AlexNet structure and number-of-parameters table; Krizhevsky 2012)",
    params=62_378_344,
    targets=("onnx", "tflite"),
    quantizable=False,
    not_quantizable_because="the LRN ('Norm') layers are custom layers without a QKeras counterpart",
    test_overrides={
        "input_shape": (67, 67, 3),
        "classes": 10,
        "filters": (16, 32, 48, 48, 32),
        "fc_units": 64,
    },
    notes=(
        "Conv parameters 3,747,200 and the total 62,378,344 match the lecture table (plus dense biases). "
        "Pool-then-Norm order as in the lecture. lrn=False drops the Norm layers. No hls4ml claim: "
        "62M parameters and a custom LRN layer. Trained on cifar10 the 32x32 images are resized "
        "to the card's input (or build it with a smaller input_shape, >= 67x67)."
    ),
)
def alexnet(
    k,
    *,
    name="alexnet",
    input_shape=(227, 227, 3),
    classes=1000,
    filters=(96, 256, 384, 384, 256),
    fc_units=4096,
    dropout=0.5,
    lrn=True,
):
    if len(filters) != len(ALEXNET_CONVS):
        raise ModelConfigError(
            f"alexnet: filters needs {len(ALEXNET_CONVS)} entries (conv1..conv5). Received: filters={filters}"
        )
    Norm = LocalResponseNormalization(k) if lrn else None
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, (f, (_, size, stride, padding)) in enumerate(zip(filters, ALEXNET_CONVS), start=1):
        x = k.layers.Conv2D(f, size, strides=stride, padding=padding, name=f"conv{i}")(x)
        x = k.layers.Activation("relu", name=f"relu{i}")(x)
        if i in _POOL_AFTER:
            x = k.layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)
        if lrn and i in _NORM_AFTER:
            x = Norm(name=f"norm{i}")(x)
    x = k.layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        if dropout:
            x = k.layers.Dropout(dropout, name=f"dropout{i}")(x)
        x = k.layers.Dense(fc_units, name=f"fc{i}")(x)
        x = k.layers.Activation("relu", name=f"relu{i}")(x)
    x = k.layers.Dense(classes, name="fc8")(x)
    outputs = k.layers.Activation("softmax", name="softmax")(x)
    return k.Model(inputs, outputs, name=name)
