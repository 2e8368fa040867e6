"""MLPerf Tiny reference models and data pipelines.

* Weight compatibility: each reference network is transcribed here from mlcommons/tiny's own
  Keras scripts (``benchmark/training/*/keras_model.py``, ``visual_wake_words/vww_model.py``),
  built with tf-keras as those scripts do, saved as ``.h5``, loaded back with
  ``tf_keras.models.load_model`` (what a user does with MLPerf's trained files) and moved into the
  zoo model with ``set_weights``: identical outputs prove the same layer order and shapes.
* Data: Speech Commands, ToyADMOS and VWW written as small files in their real folder layouts,
  trained through ``edgezoo train``; MLPerf's MFCC recipe transcribed and compared; mnist5k.
"""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

import zoo
from edgezoo.cli import main

# --------------------------------------------------------------------------- MLPerf's networks (tf-keras)


def mlperf_ds_cnn():
    """keyword_spotting/keras_model.py, model_architecture == 'ds_cnn' (49x10 MFCC, 12 labels)."""
    from tf_keras.layers import (
        Activation,
        AveragePooling2D,
        BatchNormalization,
        Conv2D,
        Dense,
        DepthwiseConv2D,
        Dropout,
        Flatten,
        Input,
    )
    from tf_keras.models import Model
    from tf_keras.regularizers import l2

    input_shape = [49, 10, 1]
    filters = 64
    regularizer = l2(1e-4)
    final_pool_size = (int(input_shape[0] / 2), int(input_shape[1] / 2))
    inputs = Input(shape=input_shape)
    x = Conv2D(filters, (10, 4), strides=(2, 2), padding="same", kernel_regularizer=regularizer)(
        inputs
    )
    x = BatchNormalization()(x)
    x = Activation("relu")(x)
    x = Dropout(rate=0.2)(x)
    for _ in range(4):  # first .. fourth layer of separable depthwise conv2d (identical blocks)
        x = DepthwiseConv2D(
            depth_multiplier=1, kernel_size=(3, 3), padding="same", kernel_regularizer=regularizer
        )(x)
        x = BatchNormalization()(x)
        x = Activation("relu")(x)
        x = Conv2D(filters, (1, 1), padding="same", kernel_regularizer=regularizer)(x)
        x = BatchNormalization()(x)
        x = Activation("relu")(x)
    x = Dropout(rate=0.4)(x)
    x = AveragePooling2D(pool_size=final_pool_size)(x)
    x = Flatten()(x)
    outputs = Dense(12, activation="softmax")(x)
    return Model(inputs=inputs, outputs=outputs)


def mlperf_vww():
    """visual_wake_words/vww_model.py, mobilenet_v1() (96x96x3, 8 base filters, 2 classes)."""
    from tf_keras.layers import (
        Activation,
        AveragePooling2D,
        BatchNormalization,
        Conv2D,
        Dense,
        DepthwiseConv2D,
        Flatten,
        Input,
    )
    from tf_keras.models import Model
    from tf_keras.regularizers import l2

    def conv(filters, kernel_size, strides):
        return Conv2D(
            filters,
            kernel_size=kernel_size,
            strides=strides,
            padding="same",
            kernel_initializer="he_normal",
            kernel_regularizer=l2(1e-4),
        )

    def depthwise(strides):
        return DepthwiseConv2D(
            kernel_size=3,
            strides=strides,
            padding="same",
            kernel_initializer="he_normal",
            kernel_regularizer=l2(1e-4),
        )

    num_filters = 8
    inputs = Input(shape=[96, 96, 3])
    x = conv(num_filters, 3, 2)(inputs)
    x = BatchNormalization()(x)
    x = Activation("relu")(x)
    # 2nd .. 14th layers: (depthwise stride, double the filters before the pointwise conv?)
    for stride, double in [
        (1, True),
        (2, True),
        (1, False),
        (2, True),
        (1, False),
        (2, True),
        (1, False),
        (1, False),
        (1, False),
        (1, False),
        (1, False),
        (2, True),
        (1, False),
    ]:
        x = depthwise(stride)(x)
        x = BatchNormalization()(x)
        x = Activation("relu")(x)
        num_filters = 2 * num_filters if double else num_filters
        x = conv(num_filters, 1, 1)(x)
        x = BatchNormalization()(x)
        x = Activation("relu")(x)
    x = AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = Flatten()(x)
    outputs = Dense(2, activation="softmax")(x)
    return Model(inputs=inputs, outputs=outputs)


def mlperf_ad():
    """anomaly_detection/keras_model.py, get_model(640)."""
    from tf_keras.layers import Activation, BatchNormalization, Dense, Input
    from tf_keras.models import Model

    input_dim = 640
    input_layer = Input(shape=(input_dim,))
    h = input_layer
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        h = Dense(units)(h)
        h = BatchNormalization()(h)
        h = Activation("relu")(h)
    h = Dense(input_dim)(h)
    return Model(inputs=input_layer, outputs=h)


def mlperf_ic():
    """image_classification/keras_model.py, resnet_v1_eembc(conv_filters=16) (the v1.0 ResNet-8)."""
    import tf_keras
    from tf_keras.layers import (
        Activation,
        AveragePooling2D,
        BatchNormalization,
        Conv2D,
        Dense,
        Flatten,
        Input,
    )
    from tf_keras.models import Model
    from tf_keras.regularizers import l2

    def conv(filters, kernel_size, strides):
        return Conv2D(
            filters,
            kernel_size=kernel_size,
            strides=strides,
            padding="same",
            kernel_initializer="he_normal",
            kernel_regularizer=l2(1e-4),
        )

    conv_filters = 16
    inputs = Input(shape=[32, 32, 3])
    x = conv(conv_filters, 3, 1)(inputs)
    x = BatchNormalization()(x)
    x = Activation("relu")(x)
    for stack, num_filters in enumerate((conv_filters, conv_filters * 2, conv_filters * 4)):
        stride = 1 if stack == 0 else 2
        y = conv(num_filters, 3, stride)(x)
        y = BatchNormalization()(y)
        y = Activation("relu")(y)
        y = conv(num_filters, 3, 1)(y)
        y = BatchNormalization()(y)
        if stack > 0:  # adjust for change in dimension due to stride in identity
            x = conv(num_filters, 1, 2)(x)
        x = tf_keras.layers.add([x, y])
        x = Activation("relu")(x)
    pool_size = int(np.amin(x.shape[1:3]))
    x = AveragePooling2D(pool_size=pool_size)(x)
    y = Flatten()(x)
    outputs = Dense(10, activation="softmax", kernel_initializer="he_normal")(y)
    return Model(inputs=inputs, outputs=outputs)


REFERENCES = {
    "ds_cnn": mlperf_ds_cnn,
    "mobilenet_v1": mlperf_vww,
    "toyadmos_ae": mlperf_ad,
    "resnet8": mlperf_ic,
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_mlperf_h5_weights_load_into_the_zoo_model(name, tmp_path):
    import tf_keras

    ref = REFERENCES[name]()
    rng = np.random.default_rng(1)
    # Non-trivial weights everywhere (BN moving variances must stay positive).
    ref.set_weights(
        [
            rng.uniform(0.1, 1.0, w.shape).astype("float32")
            * (1 if "variance" in v.name else rng.choice([-1, 1], w.shape))
            for v, w in zip(ref.weights, ref.get_weights())
        ]
    )
    path = tmp_path / f"{name}_mlperf.h5"
    ref.save(path)  # the .h5 format of MLPerf's trained_models/
    mlperf = tf_keras.models.load_model(path, compile=False)
    card = zoo.get_card(name)
    assert mlperf.count_params() == card.params
    x = rng.standard_normal((4, *card.input_shape)).astype("float32")
    expected = np.asarray(mlperf(x, training=False))
    model = zoo.create_model(name)  # Keras 3; the tf-keras twin takes weights by name (test_zoo)
    model.set_weights(mlperf.get_weights())
    np.testing.assert_allclose(np.asarray(model(x, training=False)), expected, rtol=1e-5, atol=2e-6)


def test_cards_name_the_mlperf_reference(capsys):
    targets = {
        "ds_cnn": ("90%", 53_936),
        "mobilenet_v1": ("80%", 333_288),
        "resnet8": ("85%", 98_496),
        "toyadmos_ae": ("AUC 0.85", 276_976),
    }
    for name, (quality, size) in targets.items():
        ref = zoo.get_card(name).reference
        assert quality in ref["quality_target"] and ref["int8_tflite_bytes"] == size
        assert ref["dataset"] and ref["benchmark"].startswith("MLPerf Tiny")
    assert main(["info", "ds_cnn"]) == 0
    out = capsys.readouterr().out
    assert "90% top-1" in out and "53,936 B" in out and "Speech Commands" in out


# --------------------------------------------------------------------------- data in the real layouts


def write_wav(path, samples, rate=16_000):
    """16-bit PCM mono, with the standard library (as the data sets ship them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())


def _tone(freq, seconds, rng, rate=16_000):
    t = np.arange(int(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(len(t))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """$EDGEZOO_DATA with speech_commands/, toyadmos/ToyCar/ and vww/ in their real layouts."""
    from PIL import Image

    root = tmp_path_factory.mktemp("edgezoo-data")
    rng = np.random.default_rng(0)
    kws = root / "speech_commands"
    test_list = []
    for i, word in enumerate(
        ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed"]
    ):
        for j in range(3):
            rel = f"{word}/{j:08x}_nohash_0.wav"
            write_wav(
                kws / rel, _tone(300 + 150 * i, 1.0 if j else 0.8, rng)
            )  # one short clip: padded
            if j == 2:
                test_list.append(rel)
    write_wav(kws / "_background_noise_" / "white_noise.wav", 0.1 * rng.standard_normal(3 * 16_000))
    (kws / "testing_list.txt").write_text("\n".join(test_list) + "\n")
    car = root / "toyadmos" / "ToyCar"
    n = 128_000  # 8 s: 251 frames, enough for MLPerf's central frames 50:250
    for j in range(3):
        write_wav(car / "train" / f"normal_id_01_{j:08d}.wav", 0.1 * rng.standard_normal(n))
    write_wav(car / "test" / "normal_id_01_00000000.wav", 0.1 * rng.standard_normal(n))
    write_wav(
        car / "test" / "anomaly_id_01_00000000.wav",
        0.1 * rng.standard_normal(n) + _tone(1000, 8, rng),
    )
    for c, label in (("person", 1), ("non_person", 0)):
        for j in range(6):
            img = (rng.random((40 + 8 * j, 50, 3)) * 255 * (0.5 + 0.5 * label)).astype("uint8")
            suffix = ".jpg" if j % 2 else ".png"
            (root / "vww" / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / "vww" / c / f"COCO_{j:06d}{suffix}")
    return root


@pytest.fixture
def data_env(data_root, monkeypatch):
    monkeypatch.setenv("EDGEZOO_DATA", str(data_root))
    return data_root


def _train(tmp_path, model, dataset, *sets):
    out = tmp_path / f"{model}-{dataset}"
    args = [
        "train",
        model,
        "--dataset",
        dataset,
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--quiet",
        "--out",
        str(out),
    ]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    return json.loads((out / "config.json").read_text()), json.loads(
        (out / "metrics.json").read_text()
    )


def test_speech_commands_trains_ds_cnn(data_env, tmp_path):
    from training.datasets.audio import KWS_CLASSES
    from training.datasets.registry import load_dataset

    ds = load_dataset("speech_commands")
    assert ds.class_names == KWS_CLASSES and ds.input_shape == (49, 10, 1)
    # 11 words x 3 clips + 3 one-second silence slices; testing_list.txt is the test split
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 36 and len(ds.x_test) == 11
    assert set(ds.y_test) == set(range(10)) | {11}  # "bed" is _unknown_
    assert list((data_env / "speech_commands").glob("features-*.npz"))  # cached features
    cfg, metrics = _train(tmp_path, "ds_cnn", "speech_commands", "filters=8", "blocks=1")
    assert cfg["data"]["classes"] == KWS_CLASSES and metrics["n_test"] == 11
    assert 0.0 <= metrics["accuracy"] <= 1.0
    # bench-mlperf on that trained run: accuracy measured (Keras and LiteRT int8), beside MLPerf's size
    from edgezoo.experiments.mlperf import bench_model

    row = bench_model(
        "ds_cnn", tmp_path / "bench", run_dir=tmp_path / "ds_cnn-speech_commands", budget_s=0.2
    )
    assert (
        row["accuracy"]["keras"] == metrics["accuracy"] and 0 <= row["accuracy"]["tflite_int8"] <= 1
    )
    assert (
        row["mlperf_int8_bytes"] == 53_936
        and row["calibration"] == "speech_commands training split"
    )


def test_kws_mfcc_is_mlperfs_recipe():
    """training.datasets.audio.kws_mfcc against MLPerf's get_dataset.py steps, transcribed for one clip."""
    import tensorflow as tf

    from training.datasets.audio import KWS, kws_mfcc

    clip = _tone(440, 0.9, np.random.default_rng(3)).astype("float32")
    wav = tf.constant(clip)
    wav = wav / tf.reduce_max(wav)
    wav = tf.pad(wav, [[0, 16000 - tf.shape(wav)[-1]]])
    wav = tf.slice(tf.pad(wav, [[2, 2]], mode="CONSTANT"), [2], [16000])
    stfts = tf.signal.stft(
        wav, frame_length=480, frame_step=320, fft_length=None, window_fn=tf.signal.hann_window
    )
    spectrograms = tf.abs(stfts)
    mel = tf.signal.linear_to_mel_weight_matrix(40, stfts.shape[-1], 16000, 20.0, 4000.0)
    log_mel = tf.math.log(tf.tensordot(spectrograms, mel, 1) + 1e-6)
    expected = (
        tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10].numpy().reshape(49, 10, 1)
    )
    got = kws_mfcc(np.pad(clip, (0, 16000 - len(clip)))[None], **KWS)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_toyadmos_trains_on_normal_clips_only(data_env, tmp_path):
    from training.datasets.registry import load_dataset

    ds = load_dataset("toyadmos")
    assert ds.input_shape == (640,)
    assert len(ds.x_train) + len(ds.x_val) == 3 * 196  # MLPerf: frames 50:250, 5 per vector
    assert set(ds.y_train) | set(ds.y_val) == {0} and sorted(set(ds.y_test)) == [0, 1]
    cfg, metrics = _train(tmp_path, "toyadmos_ae", "toyadmos", "width=16", "depth=1", "latent=4")
    assert cfg["data"]["n_test"] == 2 * 196
    assert 0.0 <= metrics["auc"] <= 1.0 and metrics["mse"] > 0


def test_vww_folder_trains_mobilenet(data_env, tmp_path):
    from training.datasets.registry import load_dataset

    ds = load_dataset("vww")
    assert ds.input_shape == (96, 96, 3) and ds.class_names == ["non_person", "person"]
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 12 and ds.x_train.max() <= 1.0
    cfg, metrics = _train(
        tmp_path, "mobilenet_v1", "vww", "input_shape=[32,32,3]", "alpha=0.125", "blocks=2"
    )
    assert cfg["data"]["input_shape"] == [32, 32, 3] and 0.0 <= metrics["accuracy"] <= 1.0


def test_missing_data_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGEZOO_DATA", str(tmp_path))
    for model, dataset in (
        ("ds_cnn", "speech_commands"),
        ("toyadmos_ae", "toyadmos"),
        ("mobilenet_v1", "vww"),
    ):
        assert main(["train", model, "--epochs", "1", "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert (
            f"Data set '{dataset}' is not at {tmp_path / dataset}" in err and "EDGEZOO_DATA" in err
        )
    assert not (tmp_path / "run" / "model.keras").exists()


def test_mnist5k_is_real_mnist_offline_and_pads_for_lenet5():
    from training.datasets.adapt import adapt
    from training.datasets.registry import load_dataset

    ds = load_dataset("mnist5k")
    assert ds.input_shape == (28, 28, 1) and ds.num_classes == 10
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 5000
    assert np.bincount(ds.y_test, minlength=10).min() > 0
    padded = adapt(ds, (32, 32, 1))
    assert padded.input_shape == (32, 32, 1)
    np.testing.assert_array_equal(padded.x_test[:, 2:30, 2:30], ds.x_test)
    assert not padded.x_test[:, :2].any() and not padded.x_test[:, :, 30:].any()
    assert zoo.get_card("mnist_cnn").dataset == "mnist5k"


# --------------------------------------------------------------------------- bench-mlperf


def test_macs_of_the_reference_models():
    from edgezoo.experiments.mlperf import count_macs

    # DS-CNN on the 25x5 map: conv 10*4*64 + 4 x (depthwise 3*3*64 + pointwise 64*64) per position
    assert (
        count_macs(zoo.create_model("ds_cnn"))
        == (2560 + 4 * (576 + 4096)) * 125 + 64 * 12
        == 2_656_768
    )
    # the autoencoder: one MAC per Dense weight
    ae = zoo.create_model("toyadmos_ae")
    assert count_macs(ae) == sum(int(np.prod(w.shape)) for w in ae.weights if len(w.shape) == 2)


def test_bench_mlperf_without_data_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGEZOO_DATA", str(tmp_path / "empty"))
    from edgezoo.experiments.mlperf import bench_model

    small = dict(zoo.get_card("toyadmos_ae").test_overrides)
    row = bench_model("toyadmos_ae", tmp_path / "b", overrides=small, budget_s=0.2)
    assert row["accuracy"] == "data not present"
    assert row["weights"] == "random initialization" and "generated" in row["calibration"]
    assert row["params"] == zoo.create_model("toyadmos_ae", **small).count_params()
    assert row["tflite_int8_bytes"] > 0 and row["mlperf_int8_bytes"] == 276_976
    assert row["tflm"]["arena_bytes"] > 0 and row["tflm"]["flash_bytes"] > 0  # measured in TFLM
    assert row["mlperf_tflm_arena_bytes"] == 3_984
    from edgezoo.experiments.mlperf import markdown

    text = markdown({"rows": [row], "conditions": {"cpu": "c", "cores": 2, "time": "t"}})
    assert "TFLM arena B" in text and f"{row['tflm']['arena_bytes']:,}" in text
    assert all(
        isinstance(row["p50_us"][k], float) and row["p50_us"][k] > 0
        for k in ("tflite_int8", "onnx_fp32", "onnx_int8")
    )
    assert main(["bench-mlperf", "--models", "resnet9"]) == 2
    assert "not an MLPerf reference model" in capsys.readouterr().err


def test_bench_mlperf_names_a_stand_in_data_set_beside_the_accuracy(tmp_path):
    """A run trained on another data set than MLPerf's (digits for ds_cnn) is not MLPerf's
    accuracy: the row says which data set, and a run on the card's own data set does not."""
    import json

    from edgezoo.experiments.mlperf import _accuracy, markdown
    from export.manifest import Manifest

    card = zoo.get_card("ds_cnn")
    for dataset, said in (("digits", True), ("speech_commands", False)):
        run = tmp_path / dataset
        run.mkdir()
        config = {
            "model": "ds_cnn",
            "dataset": dataset,
            "card": {"task": card.task, "input_shape": list(card.input_shape)},
        }
        (run / "config.json").write_text(json.dumps(config))
        (run / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
        manifest = Manifest.from_dict({"source": {}, "artifacts": []})
        acc = _accuracy(card, manifest, run, "present")
        assert (acc.get("dataset") == "digits") is said
        row = {
            "model": "ds_cnn",
            "params": 1,
            "macs": 1,
            "tflite_int8_bytes": None,
            "mlperf_int8_bytes": 53_936,
            "tflm": {},
            "p50_us": {},
            "accuracy": acc,
            "quality_target": "90%",
            "weights": "trained",
            "calibration": f"{dataset} training split",
        }
        text = markdown({"rows": [row], "conditions": {"cpu": "c", "cores": 2, "time": "t"}})
        assert ("accuracy 0.5000 on digits" in text) is said
