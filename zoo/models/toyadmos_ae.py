"""MLPerf Tiny's anomaly-detection reference model: the DCASE 2020 task 2 baseline autoencoder.

Layer for layer mlcommons/tiny ``benchmark/training/anomaly_detection/keras_model.py``: on
640 features (5 frames x 128 log-mel bins of a ToyADMOS ToyCar clip), four Dense 128 +
BatchNormalization + ReLU, a Dense 8 + BN + ReLU bottleneck, four Dense 128 + BN + ReLU and a
linear Dense 640 -- 269,992 parameters. Trained with MSE on normal sounds; the anomaly score
of a clip is the mean squared reconstruction error over its 640-feature vectors.

Layer names: ``enc{i}_fc``/``_bn``/``_relu``, ``latent_fc``/``_bn``/``_relu``,
``dec{i}_fc``/``_bn``/``_relu``, ``output``.
"""

from zoo.registry import register_model


def _dense_bn_relu(k, x, units, prefix):
    x = k.layers.Dense(units, name=f"{prefix}_fc")(x)  # with bias, as MLPerf (BN follows)
    x = k.layers.BatchNormalization(name=f"{prefix}_bn")(x)
    return k.layers.Activation("relu", name=f"{prefix}_relu")(x)


@register_model(
    family="autoencoder",
    task="reconstruction",
    input_shape=(640,),
    output="reconstruction of the input; anomaly score = per-sample mean squared reconstruction error",
    dataset="toyadmos",
    lecture="MLPerf Tiny anomaly detection (DCASE 2020 task 2 baseline, anomaly_detection/keras_model.py)",
    params=269_992,
    targets=("onnx", "tflite", "hls4ml", "tflm"),
    test_overrides={"input_shape": (64,), "width": 16, "depth": 1, "latent": 4},
    reference={
        "benchmark": "MLPerf Tiny anomaly detection (AD)",
        "dataset": "ToyADMOS ToyCar (DCASE 2020 task 2), 5 frames x 128 log-mel = 640 features",
        "quality_target": "AUC 0.85",
        "int8_tflite_bytes": 276_976,
    },
    notes="MLPerf's trained weights load with model.set_weights (same layer order and shapes).",
)
def toyadmos_ae(k, *, name="toyadmos_ae", input_shape=(640,), width=128, depth=4, latent=8):
    inputs = k.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i in range(1, depth + 1):
        x = _dense_bn_relu(k, x, width, f"enc{i}")
    x = _dense_bn_relu(k, x, latent, "latent")
    for i in range(1, depth + 1):
        x = _dense_bn_relu(k, x, width, f"dec{i}")
    outputs = k.layers.Dense(int(input_shape[-1]), name="output")(x)
    return k.Model(inputs, outputs, name=name)
