"""bench-compat: Keras Applications models through import and the export targets (a fast subset:
EfficientNetB0's ONNX regression, one MobileNetV3Small row end to end)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.xdist_group("export")


def test_normalization_statistics_export_to_onnx_as_constants(tmp_path):
    """EfficientNet's stem (Rescaling, then a Normalization whose statistics Keras computes as
    tensors) made those statistics extra ONNX graph inputs. The same stem on a small model
    (without ``constant_statistics`` its ONNX asks for ``.../normalization/Sub/y:0`` and
    ``.../Sqrt/x:0``; EfficientNetB0 itself: 25 s more, test_efficientnet_onnx_is_self_contained, `make test-all`)."""
    import keras
    import onnx

    import zoo  # noqa: F401
    from export.targets.onnx.convert import export_onnx, run_onnx

    i = keras.Input((8, 8, 3))
    h = keras.layers.Normalization(axis=-1)(keras.layers.Rescaling(1.0 / 255)(i))
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(h))
    m = keras.Model(i, keras.layers.Dense(3, activation="softmax")(h))
    norm = next(la for la in m.layers if type(la).__name__ == "Normalization")
    norm.mean = norm.mean + 0.25  # a statistic that is not the default 0, so a dropped one shows
    x = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 3)).astype(np.float32)
    ref = np.asarray(m(x))
    path = export_onnx(m, tmp_path / "m.onnx", sample=x)
    inputs = [i.name for i in onnx.load(str(path)).graph.input]
    assert len(inputs) == 1, inputs
    assert np.abs(run_onnx(path, x) - ref).max() < 1e-4
    assert not isinstance(norm.mean, np.ndarray)  # the layer is as it was


@pytest.mark.slow  # EfficientNetB0 itself (~25 s): the small stem above is in `make test`
def test_efficientnet_onnx_is_self_contained(tmp_path):
    """EfficientNet's Normalization statistics used to become extra ONNX graph inputs."""
    import keras
    import onnx

    import zoo  # noqa: F401
    from export.targets.onnx.convert import export_onnx, run_onnx

    m = keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10)
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    path = export_onnx(m, tmp_path / "m.onnx", sample=x)
    assert len(onnx.load(str(path)).graph.input) == 1
    assert np.abs(run_onnx(path, x) - np.asarray(m(x))).max() < 1e-4


def test_grouped_convolutions_export_to_onnx_as_depthwise(tmp_path):
    """ConvNeXt's depthwise convolutions are Conv2D(groups=channels), which Keras' TF backend runs
    as a nested XLA function that tf2onnx left as a StatefulPartitionedCall node (ConvNeXtTiny's
    export was refused): exported as DepthwiseConv2D, every node is a real ONNX op, the same
    outputs, and the user's model is left as it was."""
    import keras
    import onnx

    import zoo  # noqa: F401
    from export.errors import ExportError
    from export.targets.onnx.convert import export_onnx, run_onnx

    i = keras.Input((8, 8, 6))
    h = keras.layers.Conv2D(6, 7, padding="same", groups=6, name="dw")(i)
    h = keras.layers.Conv2D(6, 3, strides=2, groups=6, activation="relu", name="dw2")(h)
    m = keras.Model(i, keras.layers.GlobalAveragePooling2D()(h))
    x = np.random.default_rng(0).standard_normal((5, 8, 8, 6)).astype(np.float32)
    ref = np.asarray(m(x))
    path = export_onnx(m, tmp_path / "m.onnx")  # as the export target calls it: no sample
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "StatefulPartitionedCall" not in ops and "Conv" in ops, ops
    assert np.abs(run_onnx(path, x) - ref).max() < 1e-5
    assert [type(la).__name__ for la in m.layers[1:3]] == ["Conv2D", "Conv2D"]
    # a grouped convolution that is not depthwise: refused in one line naming the layer
    g = keras.Model(i, keras.layers.Conv2D(4, 1, groups=2, name="g2")(i))
    with pytest.raises(ExportError, match="layer 'g2' is a Conv2D with groups > 1"):
        export_onnx(g, tmp_path / "g.onnx", sample=x)
    assert not (tmp_path / "g.onnx").exists()


def test_exact_gelu_exports_to_onnx(tmp_path):
    """Keras' exact GELU lowers in TensorFlow to ``0.5 x erfc(-x / sqrt 2)``, and ``Erfc`` is no
    ONNX operator (ConvNeXtTiny's export was refused): an ``Activation('gelu')`` and a layer with
    ``activation='gelu'`` export as ``Erf``, with the model's outputs, and stay as they were."""
    import keras
    import onnx

    import zoo  # noqa: F401
    from export.targets.onnx.convert import export_onnx, run_onnx

    i = keras.Input((6,))
    h = keras.layers.Dense(8, activation="gelu", name="fc")(i)
    m = keras.Model(i, keras.layers.Activation("gelu", name="act")(h))
    x = 3 * np.random.default_rng(0).standard_normal((64, 6)).astype(np.float32)
    ref = np.asarray(m(x))
    path = export_onnx(m, tmp_path / "m.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Erf" in ops and "Erfc" not in ops, ops
    assert np.abs(run_onnx(path, x) - ref).max() < 1e-5
    assert m.get_layer("act").activation is keras.activations.gelu
    assert m.get_layer("fc").activation is keras.activations.gelu


@pytest.mark.slow  # a whole matrix row (fit, save, import twice, six artifacts): make test-all
@pytest.mark.parametrize("jobs", [1, 2])  # 2: the row in a worker process, timed afterwards
def test_bench_compat_row(tmp_path, jobs):
    from edgezoo.experiments.compat import bench_compat

    doc = tmp_path / "compat.md"
    res = bench_compat(
        tmp_path / "run",
        jobs=jobs,
        models=["MobileNetV3Small"],
        epochs=2,
        n_train=256,
        n_test=32,
        rounds=1,
        budget_s=0.02,
        doc=doc,
        progress=lambda m: None,
    )
    row = res["rows"][0]
    assert row["steps"]["fit"]["status"] == "pass"
    assert row["steps"]["import .keras"]["status"] == "pass"
    # tf-keras' MobileNetV3 records raw TF arithmetic (TFOpLambda): the .h5 loads in tf-keras
    assert row["steps"]["import .h5"]["status"] == "pass", row["steps"]["import .h5"]
    assert row["h5_world"] == "tf_keras"
    arts = row["artifacts"]
    for k in ("onnx/fp32", "tflite/fp32", "openvino/fp32"):
        assert arts[k]["status"] == "pass", (k, arts[k])
        assert arts[k]["informative"] is True, (k, arts[k])
    assert set(arts) >= {"onnx/int8", "tflite/int8", "openvino/int8"}
    assert not row["hls4ml"]["accepted"] and "parameters >" in row["hls4ml"]["reason"]
    assert row["steps"]["bench"]["status"] == "pass", row["steps"]["bench"]
    text = doc.read_text()
    assert "| MobileNetV3Small | 32x32x3 |" in text and "tensorflow 2.21" in text
    assert json.loads((tmp_path / "run" / "compat.json").read_text())["rows"][0]["model"]


def test_a_rows_int8_timing_reads_the_manifest_it_was_given(mlp_digits_export):
    """The bench step of a row (verified artifacts only, interleaved timing) on a real export:
    the best verified int8 against the best fp32, each with its accuracy."""
    from sklearn.datasets import load_digits

    from edgezoo.experiments.compat import _bench
    from export.manifest import Manifest

    d = load_digits()
    data = {"x_test": (d.data[:64] / 16).astype("float32"), "y_test": d.target[:64]}
    manifest = Manifest.read(mlp_digits_export / "manifest.json")
    res = _bench(mlp_digits_export, manifest, data, rounds=1, budget_s=0.01)
    assert "error" not in res, res
    text = json.dumps(res)
    assert "int8" in text and "fp32" in text, res
    # the row's XNNPACK partition count (why a TFLite int8 can lose to fp32): the dense model's
    # files run in the delegate, each as one or more parts
    from edgezoo.experiments.compat import xnnpack_partitions

    tfl = [a for a in manifest.artifacts if a["format"] == "tflite"]
    assert {a["variant"] for a in tfl} >= {"fp32", "int8"}
    for a in tfl:
        assert xnnpack_partitions(mlp_digits_export / a["path"]) >= 1, a["path"]


@pytest.mark.parametrize(
    "args, names",
    [
        (["--models", "MobileNetV9"], ["MobileNetV9", "MobileNetV3Small"]),
        (["--models", "MobileNet", "--input-noise", "-0.1"], ["input_noise -0.1", "[0, 1)"]),
        (["--models", "MobileNet", "--input-noise", "nan"], ["input_noise nan"]),
        (["--models", "MobileNet", "--until-accuracy", "0"], ["until_accuracy 0.0", "(0, 1]"]),
        (["--models", "MobileNet", "--until-accuracy", "1.5"], ["until_accuracy 1.5"]),
    ],
)
def test_bench_compat_bad_options_are_one_line_before_any_work(tmp_path, args, names):
    p = subprocess.run(
        [sys.executable, "-m", "edgezoo", "bench-compat", "--out", str(tmp_path / "o"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0
    err = [line for line in p.stderr.splitlines() if line.strip()]
    assert all(n in p.stderr for n in names), p.stderr
    assert not any("Traceback" in line for line in err), p.stderr
    assert not (tmp_path / "o").exists()


def test_the_fit_trains_on_noisy_inputs_and_leaves_the_model_as_built():
    """make_informative's ``input_noise`` (a fraction of the input range): the batches the fit
    trains on are noisy (inputs are 0 or 1; a layer records how far any training input was from
    both), the row records the std, and the BatchNormalization momenta are the model's again."""
    import keras
    from keras import ops

    from edgezoo.experiments.compat_fit import make_informative

    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (96, 6, 6, 2)).astype("float32")
    y = (x.mean((1, 2, 3)) > 0.5).astype("int64")
    data = {"x_train": x, "y_train": y, "x_test": x[:32], "y_test": y[:32]}

    class Probe(keras.layers.Layer):  # max distance of a training input from {0, 1}
        def build(self, shape):
            self.off = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, t, training=None):
            if training:
                d = ops.max(ops.minimum(ops.abs(t), ops.abs(t - 1.0)))
                self.off.assign(ops.maximum(self.off, d))
            return t

    def fitted(noise):
        keras.utils.set_random_seed(0)
        i = keras.Input((6, 6, 2))
        h = keras.layers.Conv2D(4, 3)(Probe(name="probe")(i))
        h = keras.layers.BatchNormalization(momentum=0.9, name="bn")(h)
        o = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))
        model = keras.Model(i, o)
        return model, make_informative(model, data, epochs=2, input_noise=noise)

    clean, fit0 = fitted(0.0)
    noisy, fit1 = fitted(0.1)
    assert float(clean.get_layer("probe").off.numpy()) == 0.0 and fit0["input_noise_std"] == 0
    assert float(noisy.get_layer("probe").off.numpy()) > 0.05  # std 0.1: some batch is off
    assert fit1["input_noise_std"] == pytest.approx(0.1) and "input noise std 0.1" in fit1["how"]
    assert clean.get_layer("bn").momentum == noisy.get_layer("bn").momentum == 0.9


def test_the_fit_ends_after_the_first_epoch_that_reaches_the_accuracy():
    """make_informative's ``until_accuracy``: an easy problem stops early, the row says after how
    many of the epochs and at what training accuracy; one it cannot reach runs every epoch."""
    import keras

    from edgezoo.experiments.compat_fit import make_informative

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (256, 8)).astype("float32")
    easy = (x[:, 0] > 0.5).astype("int64")
    noise = rng.integers(0, 2, 256).astype("int64")  # random labels: never 90% in 3 epochs

    def fit(y, epochs, until):
        keras.utils.set_random_seed(0)
        i = keras.Input((8,))
        model = keras.Model(i, keras.layers.Dense(2, activation="softmax")(i))
        data = {"x_train": x, "y_train": y, "x_test": x[:64], "y_test": y[:64]}
        return make_informative(model, data, epochs=epochs, lr=0.05, until_accuracy=until)

    early = fit(easy, 30, 0.9)
    assert early["epochs"] < 30 and early["train_accuracy"] >= 0.9, early
    assert f"fit {early['epochs']} epochs of 30: training accuracy" in early["how"], early["how"]
    full = fit(noise, 3, 0.9)
    assert full["epochs"] == 3 and full["train_accuracy"] < 0.9, full
    assert full["how"].startswith("fit 3 epochs (Adam"), full["how"]


def test_an_input_sensitive_fit_is_redone_with_noise_and_the_less_sensitive_kept():
    """fit_informative: a clean fit over the sensitivity bound is refit from a fresh build with
    input noise, both recorded and the less sensitive model kept; under the bound (or with no
    noise asked) the clean fit stands, built once."""
    import keras

    from edgezoo.experiments.compat_fit import fit_informative
    from edgezoo.experiments.int8 import input_sensitivity

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (128, 8)).astype("float32")
    y = (x[:, 0] > x[:, 1]).astype("int64")
    data = {"x_train": x, "y_train": y, "x_test": x[:64], "y_test": y[:64]}
    builds = []

    def build():
        i = keras.Input((8,))
        o = keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(16, "relu")(i))
        builds.append(keras.Model(i, o))
        return builds[-1]

    model, fit = fit_informative(build, data, epochs=1, input_noise=0.1, sensitive=0.0)
    assert len(builds) == 2 and fit["refit"]["kept"] in ("clean", "noisy")
    clean, noisy = fit["refit"]["clean"], fit["refit"]["noisy"]
    sigma = 0.1 * float(x.max() - x.min())
    assert clean["input_noise_std"] == 0 and noisy["input_noise_std"] == pytest.approx(
        sigma, abs=1e-4
    )
    kept = builds[1] if fit["refit"]["kept"] == "noisy" else builds[0]
    least = min(clean["sensitivity"], noisy["sensitivity"])  # rounded to 4 places
    assert model is kept and fit["sensitivity"] == pytest.approx(least, abs=1e-4)
    assert abs(input_sensitivity(model, data["x_test"]) - fit["sensitivity"]) < 1e-4
    for kw in ({"sensitive": 1.0}, {"sensitive": 0.0, "input_noise": 0.0}):
        builds.clear()
        model, fit = fit_informative(build, data, epochs=1, **{"input_noise": 0.1, **kw})
        assert builds == [model] and "refit" not in fit


def _ov_small_feature_map_model(hw: int, c: int = 16):
    """Transpose-Conv/2-Conv/2-BN-ReLU-DWConv-Conv1x1-GAP: at ``hw`` 4 the last layers see 1x1
    feature maps (as ResNet50V2 and MobileNet at 32x32 do)."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)

    def w(*shape, s=0.3):
        return ops.constant(rng.normal(0, s, shape).astype(np.float32))

    x = ops.parameter([-1, hw, hw, 8], np.float32, name="x")
    y = ops.transpose(x, ops.constant(np.array([0, 3, 1, 2])))
    y = ops.relu(ops.convolution(y, w(c, 8, 3, 3), [2, 2], [1, 1], [1, 1], [1, 1]))
    y = ops.convolution(y, w(c, c, 3, 3, s=0.2), [2, 2], [1, 1], [1, 1], [1, 1])
    y = ops.relu(ops.add(ops.multiply(y, w(1, c, 1, 1)), w(1, c, 1, 1)))
    y = ops.group_convolution(y, w(c, 1, 1, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1])
    y = ops.relu(ops.convolution(ops.clamp(y, 0, 6), w(c, c, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1]))
    return ov.Model([ops.reduce_mean(y, ops.constant(np.array([2, 3])), False)], [x])


@pytest.mark.parametrize("hw", [4, 8])
def test_openvino_int8_batch_1_equals_batch_n(tmp_path, hw):
    """An NNCF int8 IR compiled with a dynamic batch gave other outputs at batch 1 than at batch N
    where feature maps are 1x1 (OpenVINO 2026.4 CPU): every run compiles a static batch."""
    import openvino as ov

    from export.targets.openvino.convert import (
        XML,
        check_dynamic_batch,
        quantize_int8,
        run_openvino,
    )

    ov.save_model(_ov_small_feature_map_model(hw), str(tmp_path / "fp32" / XML))
    x = np.random.default_rng(1).uniform(0, 1, (64, hw, hw, 8)).astype(np.float32)
    q = quantize_int8(tmp_path / "fp32", tmp_path / "int8", x)
    ref = run_openvino(q, x[:16], batch_size=16)
    one = run_openvino(q, x[:16], batch_size=1)
    assert np.abs(one - ref).max() <= 1e-5 * max(1.0, float(np.abs(ref).max()))
    dyn = check_dynamic_batch(q, x[:16], ref, batch=16, atol=1e-5)
    assert dyn["ok"] and dyn["input_batch_dim"] == "?", dyn


def test_rows_of_earlier_runs_are_kept(tmp_path):
    """The matrix can be run model by model into one --out: a run starts from the earlier rows
    (replaced one by one as it redoes them) and ignores what is not a listed architecture."""
    from edgezoo.experiments.compat import _earlier_rows

    path = tmp_path / "compat.json"
    assert _earlier_rows(path) == {}  # no earlier run
    rows = [{"model": m, "steps": {}} for m in ("MobileNet", "VGG16", "NotAnArch")]
    path.write_text(json.dumps({"rows": rows + ["junk"]}))
    assert set(_earlier_rows(path)) == {"MobileNet", "VGG16"}
    path.write_text("{not json")
    assert _earlier_rows(path) == {}


def test_doc_only_rewrites_the_matrix_from_compat_json(tmp_path):
    """--doc-only runs nothing: the doc comes from --out's compat.json; none there is one line."""
    row = {
        "model": "VGG16",
        "input": [32, 32, 3],
        "steps": {"import .keras": {"status": "pass", "seconds": 1.0}},
        "artifacts": {"onnx/fp32": {"status": "pass", "max_abs_diff": 1e-6, "bytes": 10}},
        "options": {"epochs": 10},
        "int8_bench": {  # the speed goal: >= 1.5x at batch 256 and a batch-1 p50 no slower
            **{"best_int8_b256": "tflite-int8", "int8_b256_sps": 300.0, "speedup_b256": 1.5},
            **{"best_fp32_b256": "onnx-fp32", "fp32_b256_sps": 200.0, "int8_b1_p50_us": 90.0},
            "fp32_b1_p50_us": 91.0,
        },
        "xnnpack_partitions": {"tflite/int8": 3, "tflite/fp32": 1},
    }
    result = {"created": "now", "versions": {"keras": "3"}, "conditions": {}, "options": {}}
    (tmp_path / "compat.json").write_text(json.dumps({**result, "rows": [row]}))
    cmd = [sys.executable, "-m", "edgezoo", "bench-compat", "--doc-only", "--out"]
    doc = tmp_path / "m.md"
    p = subprocess.run([*cmd, str(tmp_path), "--doc", str(doc)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    text = doc.read_text()
    assert "| VGG16 | 32x32x3 |" in text and "onnx/fp32 1/1" in text and "onnx/int8 0/1" in text
    assert "no slower: 1 of the 1 timed" in text, text
    assert "(1.50x)" in text and "XNNPACK partitions tflite/fp32 1, tflite/int8 3" in text
    # the rows are kept beside the doc (m.json): a later --out with another model adds its row
    assert [r["model"] for r in json.loads(doc.with_suffix(".json").read_text())["rows"]] == [
        "VGG16"
    ]
    other = tmp_path / "other"
    other.mkdir()
    (other / "compat.json").write_text(
        json.dumps({**result, "rows": [{**row, "model": "MobileNet"}]})
    )
    p = subprocess.run([*cmd, str(other), "--doc", str(doc)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "| MobileNet | 32x32x3 |" in doc.read_text() and "| VGG16 | 32x32x3 |" in doc.read_text()
    p = subprocess.run([*cmd, str(tmp_path / "none")], capture_output=True, text=True)
    assert p.returncode != 0 and "compat.json" in p.stderr and "Traceback" not in p.stderr


def _row_or_die(name, out, opts, supported):
    """A worker's row for the test below: the row named "dies" kills its own process."""
    import os
    import signal
    import time

    if name == "dies":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.5)
    return {"model": name, "seconds": 0.5, "steps": {}, "pid": os.getpid()}


def test_a_worker_that_dies_fails_its_row_only(tmp_path):
    """bench-compat --jobs: a row whose process dies (SIGKILL, as the kernel's OOM killer does)
    is one line in that row; the rows before and after it, and their processes, are unharmed."""
    from edgezoo.experiments.compat_jobs import parallel_rows

    done = []
    rows = parallel_rows(
        ["a", "dies", "b", "c"],
        tmp_path,
        {},
        set(),
        2,
        {},
        progress=lambda m: None,
        on_row=lambda n, r: done.append(n),
        row_fn=_row_or_die,
    )
    assert sorted(done) == ["a", "b", "c", "dies"]
    err = rows["dies"]["steps"]["worker"]["error"]
    assert rows["dies"]["steps"]["worker"]["status"] == "fail" and "\n" not in err, err
    assert "terminated" in err, err
    assert all(rows[n]["seconds"] == 0.5 and "worker" not in rows[n]["steps"] for n in "abc")
    assert len({rows[n]["pid"] for n in "abc"}) == 3  # each row in a fresh process
