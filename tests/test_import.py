"""Bring your own model and data: ``edgezoo import`` on real files the tests write (a Keras 2
.h5 from tf-keras, a QKeras .h5, Keras 3 .keras files; .npz, CSV and image-folder data), the
safety checks, stored data, scale-aware parity and ``edgezoo run --model-file``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from training.datasets.registry import DatasetError
from training.imports import ModelImportError, import_model
from zoo.core.io import ModelFileError


def _digits(n=400):
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:n, ..., None] / 16.0).astype("float32"), d.target[:n]


def tf_keras_dw_model():
    """A Keras 2 (tf-keras) model with the layers Keras 3 refuses in a Keras 2 file."""
    import tf_keras as tk

    i = tk.Input((8, 8, 1))
    h = tk.layers.Conv2D(8, 3, padding="same", use_bias=False)(i)
    h = tk.layers.BatchNormalization()(h)
    h = tk.layers.ReLU()(h)
    h = tk.layers.DepthwiseConv2D(3, padding="same")(h)
    h = tk.layers.BatchNormalization()(h)
    h = tk.layers.ReLU()(h)
    h = tk.layers.SeparableConv2D(12, 3, strides=2, padding="same", activation="relu")(h)
    h = tk.layers.Flatten()(h)
    o = tk.layers.Dense(10, activation="softmax")(h)
    return tk.Model(i, o, name="dwnet")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The user's files: a trained tf-keras .h5 and digits as .npz (x, y).

    Not the shared runs of tests/conftest.py: the import checks need a Keras 2 file Keras 3
    refuses (DepthwiseConv2D with ``groups``, SeparableConv2D) written by tf-keras."""
    import tf_keras as tk

    root = tmp_path_factory.mktemp("byo")
    x, y = _digits()
    np.savez(root / "digits.npz", x=x, y=y)
    tk.utils.set_random_seed(0)
    m = tf_keras_dw_model()
    m.compile(tk.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=4, batch_size=32, verbose=0)
    m.save(root / "dwnet.h5")
    return root


@pytest.fixture(scope="module")
def imported_dw(files):
    return import_model(files / "dwnet.h5", files / "digits.npz", out=files / "dw-import")


def test_keras2_h5_with_depthwise_imports_and_exports_everywhere(files, imported_dw):
    from export import export_run
    from training.model_dir import load_run

    cfg = imported_dw.config
    imp = cfg.imported
    assert imp["route"].startswith("tf-keras -> keras 3")  # Keras 3 refused the file
    assert "groups" in imp["keras3_refused"] and imp["dropped_kwargs"]["DepthwiseConv2D"] == {
        "groups": 1
    }
    assert imp["output_check"]["passed"] and imp["output_check"]["max_abs_diff"] <= 1e-5
    assert cfg.card["task"] == "classification" and cfg.world == "keras"
    assert cfg.data["n_train"] + cfg.data["n_val"] + cfg.data["n_test"] == 400
    assert imported_dw.metrics["accuracy"] > 0.5  # the trained model, on its own test split
    model, cfg2 = load_run(imported_dw.dir)
    assert {type(la).__name__ for la in model.layers} >= {
        "DepthwiseConv2D",
        "SeparableConv2D",
        "BatchNormalization",
    }

    from export import targets

    formats = ("onnx", "tflite", "hls4ml")
    man = export_run(imported_dw.dir, to=formats)
    arts = {(a["format"], a["variant"]): a for a in man["artifacts"]}
    assert set(arts) == {  # each target's default variants, from the registry
        (name, v)
        for name in formats
        for v in targets.get(name).default_variants or targets.get(name).variants
    }
    assert man["passed"], man["failures"]
    assert arts["onnx", "fp32"]["parity"]["max_abs_diff"] <= 1e-5
    assert arts["onnx", "fp32"]["parity"]["thresholds"] == {"max_abs_diff": 1e-4, "rtol": 1e-5}
    assert arts["tflite", "fp16"]["parity"]["thresholds"]["rtol"] == 5e-3
    hls = arts["hls4ml", "fixed"]
    assert hls["hls4ml"]["parser"].startswith(
        "keras 2"
    )  # hls4ml's Keras 3 parser fails on SeparableConv2D
    assert hls["parity"]["argmax_agreement_tol"] >= 0.98
    assert man["source"]["dataset"] == "digits.npz"


def test_layer_names_with_slashes_are_renamed_for_keras3(tmp_path):
    """tf-keras allows ``/`` in a layer name (its DenseNet121: ``conv1/conv``), Keras 3 does not,
    so the .h5 was refused. Every such name becomes ``_``-joined (unique, even where that name is
    taken), wherever the config names it; the weights follow and the outputs are the model's."""
    import tf_keras as tk

    from zoo.imported.loaders import read_model_file

    i = tk.Input((6, 6, 2))
    h = tk.layers.Conv2D(4, 3, name="block1/conv")(i)
    h = tk.layers.BatchNormalization(name="block1/bn")(h)
    g = tk.layers.Conv2D(4, 1, name="block1_conv")(h)  # the name the first would get
    h = tk.layers.Concatenate(name="block1/cat")([h, g])
    m = tk.Model(i, tk.layers.Dense(3, name="head/fc")(tk.layers.Flatten()(h)))
    m.layers[2].set_weights([w + 0.5 for w in m.layers[2].get_weights()])  # BN statistics too
    m.save(tmp_path / "slash.h5")
    loaded = read_model_file(tmp_path / "slash.h5")
    assert loaded.world == "keras" and loaded.record["route"].startswith("tf-keras -> keras 3")
    renamed = loaded.record["renamed_layers"]
    assert renamed["block1/conv"] == "block1_conv_1" and renamed["head/fc"] == "head_fc"
    assert set(renamed) == {"block1/conv", "block1/bn", "block1/cat", "head/fc"}
    names = {la.name for la in loaded.model.layers}
    assert not any("/" in n for n in names) and "block1_conv" in names
    x = np.random.default_rng(0).standard_normal((5, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded.model(x)), m(x).numpy(), atol=1e-5)


def test_qkeras_h5_and_csv_keep_quantizers_for_hls4ml(tmp_path):
    import tf_keras as tk
    from qkeras import QActivation, QDense
    from sklearn.datasets import load_iris

    from export import export_run

    d = load_iris()
    cols = ["sepal_l", "sepal_w", "petal_l", "petal_w"]
    lines = ["species," + ",".join(cols)]
    x = ((d.data - d.data.mean(0)) / d.data.std(0)).astype("float32")
    lines += [
        f"{d.target_names[t]}," + ",".join(f"{v:.6f}" for v in row) for row, t in zip(x, d.target)
    ]
    (tmp_path / "iris.csv").write_text("\n".join(lines) + "\n")
    q = "quantized_bits(6,0,alpha=1)"
    tk.utils.set_random_seed(0)
    inp = tk.Input((4,), name="features")
    h = QDense(16, kernel_quantizer=q, bias_quantizer=q, name="fc1")(inp)
    h = QActivation("quantized_relu(6)", name="relu1")(h)
    h = QDense(3, kernel_quantizer=q, bias_quantizer=q, name="fc2")(h)
    m = tk.Model(inp, tk.layers.Activation("softmax", name="softmax")(h))
    m.compile(tk.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    m.fit(x, d.target, epochs=30, verbose=0)
    m.save(tmp_path / "q.h5")

    with pytest.raises(DatasetError, match="no column 'label'.*species"):
        import_model(
            tmp_path / "q.h5", tmp_path / "iris.csv", out=tmp_path / "bad", label_column="label"
        )
    assert not (tmp_path / "bad").exists()
    res = import_model(
        tmp_path / "q.h5", tmp_path / "iris.csv", out=tmp_path / "qimp", label_column="species"
    )
    cfg = res.config
    assert cfg.world == "tf_keras" and cfg.imported["route"].startswith("qkeras")
    assert (
        cfg.data["classes"] == ["setosa", "versicolor", "virginica"]
        and cfg.card["task"] == "classification"
    )
    assert res.metrics["accuracy"] > 0.8
    man = export_run(res.dir, to=("hls4ml",))
    hls = man["artifacts"][0]
    src = hls["hls4ml"]["precision"]["sources"]
    assert src["fc1"]["weight"] == "quantizer" and src["relu1"]["result"] == "quantizer"
    types = {row["name"]: row for row in hls["hls4ml"]["layer_types"]}
    assert types["fc1"]["weight"].startswith("fixed<6,1")  # quantized_bits(6,0,alpha=1)
    assert man["passed"], man["failures"]


def _keras3_tiny(input_shape=(8, 8, 1), classes=3):
    import keras

    i = keras.Input(input_shape)
    h = keras.layers.Flatten()(i)
    return keras.Model(i, keras.layers.Dense(classes, activation="softmax")(h), name="tiny")


def test_image_folder_wrong_shape_and_labels_out_of_range(tmp_path):
    import keras

    x, y = _digits(60)
    root = tmp_path / "images"
    for c in range(3):
        (root / f"class_{c}").mkdir(parents=True)
    for i, (img, label) in enumerate(zip(x, y)):
        if label < 3:
            keras.utils.save_img(root / f"class_{label}" / f"{i}.png", img * 255, scale=False)
    n = int((y < 3).sum())
    _keras3_tiny().save(tmp_path / "tiny.keras")
    res = import_model(tmp_path / "tiny.keras", root, out=tmp_path / "img-import")
    assert res.config.data["classes"] == ["class_0", "class_1", "class_2"]
    assert res.config.imported["route"] == "keras 3"
    assert sum(res.config.data[f"n_{k}"] for k in ("train", "val", "test")) == n
    assert res.config.data_file["format"] == "images" and (res.dir / "data.npz").exists()

    np.savez(tmp_path / "wide.npz", x=np.zeros((20, 5), "float32"), y=np.zeros(20, "int64"))
    with pytest.raises(DatasetError, match=r"shape \(5,\).*takes inputs of shape \(8, 8, 1\)"):
        import_model(tmp_path / "tiny.keras", tmp_path / "wide.npz", out=tmp_path / "w")
    np.savez(tmp_path / "many.npz", x=x, y=y)  # labels 0..9, the model has 3 classes
    with pytest.raises(ModelImportError, match="labels run from 0 to 9.*3 output classes"):
        import_model(tmp_path / "tiny.keras", tmp_path / "many.npz", out=tmp_path / "m")
    assert not (tmp_path / "w").exists() and not (tmp_path / "m").exists()
    i = keras.Input((8, 8, 1))
    f = keras.layers.Flatten()(i)
    keras.Model(i, [keras.layers.Dense(3)(f), keras.layers.Dense(1)(f)]).save(
        tmp_path / "two.keras"
    )
    with pytest.raises(ModelFileError, match="1 inputs and 2 outputs.*single-input, single-output"):
        import_model(tmp_path / "two.keras", tmp_path / "many.npz", out=tmp_path / "t")


def test_lambda_layers_are_refused_without_running_their_code(tmp_path):
    import keras
    import tf_keras as tk

    marker = tmp_path / "pwned"
    where = str(marker)

    def payload(t):
        with open(where, "w") as f:
            f.write("code from the model file ran")
        return t

    i = keras.Input((4,))
    m = keras.Model(i, keras.layers.Dense(2)(keras.layers.Lambda(payload, name="sneaky")(i)))
    m.save(tmp_path / "lam.keras")
    ti = tk.Input((4,))
    tk.Model(ti, tk.layers.Dense(2)(tk.layers.Lambda(payload, name="sneaky2")(ti))).save(
        tmp_path / "lam.h5"
    )
    marker.unlink()  # building the models ran it; importing them must not
    np.savez(tmp_path / "d.npz", x=np.ones((20, 4), "float32"), y=np.zeros(20, "int64"))
    for name, layer in (("lam.keras", "sneaky"), ("lam.h5", "sneaky2")):
        with pytest.raises(
            ModelFileError, match=f"layer '{layer}' is a Lambda layer.*register_keras_serializable"
        ):
            import_model(tmp_path / name, tmp_path / "d.npz", out=tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_truncated_and_foreign_files_are_one_clear_error(files, tmp_path):
    data = (files / "dwnet.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    _keras3_tiny().save(tmp_path / "ok.keras")
    k = (tmp_path / "ok.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(k[: len(k) // 2])
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07onnx-ish bytes")
    for name, needle in (
        ("cut.h5", "truncated or corrupt"),
        ("cut.keras", "truncated or corrupt"),
        ("model.onnx", "neither a Keras .keras archive"),
        ("missing.h5", "not found"),
    ):
        with pytest.raises(ModelFileError, match=needle):
            import_model(tmp_path / name, files / "digits.npz", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()
    tf_keras_dw_model().save(
        tmp_path / "k2.keras"
    )  # a .keras archive written by tf-keras (Keras 2)
    res = import_model(tmp_path / "k2.keras", files / "digits.npz", out=tmp_path / "k2")
    imp = res.config.imported
    assert imp["format"] == "keras" and imp["keras_version"].startswith("2.")
    assert imp["route"].startswith("tf-keras -> keras 3") and imp["output_check"]["passed"]


def test_stored_data_is_checked_and_a_changed_source_is_reported(imported_dw, files, tmp_path):
    import warnings

    from training.datasets.userdata import DataChangedWarning
    from training.model_dir import load_run, run_dataset

    d = tmp_path / "copy"
    shutil.copytree(imported_dw.dir, d)
    cfg = json.loads((d / "config.json").read_text())
    src = tmp_path / "digits.npz"
    shutil.copyfile(files / "digits.npz", src)
    cfg["data_file"]["source"] = str(src)  # this copy's "original file"
    (d / "config.json").write_text(json.dumps(cfg))
    _, c = load_run(d)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ds = run_dataset(c)
    assert len(ds.x_test) == imported_dw.config.data["n_test"]
    assert not [w for w in seen if issubclass(w.category, DataChangedWarning)]
    x, y = _digits(300)
    np.savez(src, x=x, y=y)  # the user edits their file after the import
    with pytest.warns(
        DataChangedWarning, match="changed since import; re-run `edgezoo import`"
    ) as seen:
        again = run_dataset(c)
    assert np.array_equal(again.x_test, ds.x_test)  # the stage still uses the stored copy ...
    assert str(src) in str(seen[0].message)  # ... and says so
    with np.load(d / "data.npz") as f:
        arrays = dict(f)
    arrays["x_test"] = arrays["x_test"] + 1
    np.savez_compressed(d / "data.npz", **arrays)
    with pytest.raises(DatasetError, match="data.npz was modified after import"):
        run_dataset(c)


def regression_model(tmp_path):
    """A Keras 3 regression model whose outputs are ~100 and the data it was made for."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 6)).astype("float32")
    i = keras.Input((6,))
    h = keras.layers.Dense(16, activation="tanh")(i)
    out = keras.layers.Dense(
        2,
        bias_initializer=keras.initializers.Constant(100.0),
        kernel_initializer=keras.initializers.RandomNormal(stddev=5.0),
    )(h)
    m = keras.Model(i, out, name="big")
    y = np.asarray(m(x)) + rng.normal(0, 1, (200, 2)).astype("float32")
    m.save(tmp_path / "big.keras")
    np.savez(tmp_path / "reg.npz", x=x, y=y)
    return tmp_path / "big.keras", tmp_path / "reg.npz"


def test_regression_outputs_near_100_pass_fp32_parity_and_a_perturbed_onnx_fails(tmp_path):
    import onnx
    from onnx import numpy_helper

    from export import export_run, parity, verify
    from export.targets.onnx.convert import run_onnx
    from training.model_dir import load_run, run_dataset

    mf, data = regression_model(tmp_path)
    res = import_model(mf, data, out=tmp_path / "reg")
    assert res.config.card["task"] == "regression"
    man = export_run(
        res.dir, to=("onnx", "tflite"), onnx_variants=("fp32",), tflite_variants=("fp32", "fp16")
    )
    assert man["passed"], man["failures"]
    arts = {(a["format"], a["variant"]): a for a in man["artifacts"]}
    p = arts["onnx", "fp32"]["parity"]
    assert p["allclose_ratio"] <= 1 and p["atol"] == 1e-4 and p["rtol"] == 1e-5 and "keras_mse" in p
    assert arts["onnx", "fp32"]["parity"]["dynamic_batch"]["ok"]

    path = tmp_path / "reg" / "export" / "model.onnx"
    m = onnx.load(path)
    init = next(
        t for t in m.graph.initializer if numpy_helper.to_array(t).size == 2
    )  # the output bias
    init.CopyFrom(
        numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(0.05), init.name)
    )
    onnx.save(m, tmp_path / "bad.onnx")
    model, cfg = load_run(res.dir)
    x = run_dataset(cfg).x_test
    ref = np.asarray(model(x))
    bounds = parity.bounds("onnx", "fp32")
    fig = verify.compare(
        ref,
        run_onnx(tmp_path / "bad.onnx", x),
        task="regression",
        atol=bounds["max_abs_diff"],
        rtol=bounds["rtol"],
    )
    fails = verify.check(fig, bounds, task="regression")
    assert (
        fails
        and "exceeds atol + rtol * |ref|" in fails[0]
        and fig["max_abs_diff"] == pytest.approx(0.05, rel=1e-2)
    )

    # compress takes the imported directory as it takes a training run: card and stored data travel
    from compress import compress

    result = compress(res.dir, prune=0.5, epochs=1, out=tmp_path / "small")
    step = result["prune"]
    step_cfg = json.loads((step.dir / "config.json").read_text())
    assert step_cfg["data_file"] == res.config.data_file and (step.dir / "data.npz").exists()
    assert step_cfg["card"]["task"] == "regression" and "_dir" not in step_cfg
    assert abs(step.report["achieved_sparsity"]["pruned_layers"] - 0.5) <= 0.05


def test_run_with_model_file_end_to_end(tmp_path, capsys):
    """import -> export -> bench -> report through the command line (compress on an imported
    model directory: the regression test)."""
    import keras
    import yaml

    from edgezoo.cli import main

    x, y = _digits(300)
    i = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(i)
    h = keras.layers.Dense(16, activation="relu")(h)
    m = keras.Model(i, keras.layers.Dense(10, activation="softmax")(h), name="small")
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=10, verbose=0)
    m.save(tmp_path / "small.keras")
    np.savez(tmp_path / "d.npz", x_train=x[:250], y_train=y[:250], x_test=x[250:], y_test=y[250:])
    recipe = {
        "train": {"epochs": 3},
        "export": {"to": ["onnx"], "onnx_variants": ["fp32"]},
        "bench": {"batches": [1], "threads": [1], "budget_s": 0.05, "runs": 20, "warmup": 2},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--model-file",
            str(tmp_path / "small.keras"),
            "--data",
            str(tmp_path / "d.npz"),
            "--recipe",
            str(tmp_path / "r.yaml"),
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    state = json.loads((out / "pipeline.json").read_text())
    assert [s for s, v in state["stages"].items() if v["status"] == "done"] == [
        "train",
        "export",
        "bench",
        "report",
    ]
    assert state["identity"]["model_file"] == str((tmp_path / "small.keras").resolve())
    cfg = json.loads((out / "train" / "config.json").read_text())
    assert (
        cfg["data"]["n_test"] == 50 and cfg["imported"]["route"] == "keras 3"
    )  # the file's own test split
    assert json.loads((out / "export" / "float" / "manifest.json").read_text())["passed"]
    bench = json.loads((out / "export" / "float" / "bench.json").read_text())
    assert {r["artifact"] for r in bench["results"]} == {"keras", "onnx-fp32"}
    assert not [r for r in bench["results"] if "error" in r]
    report = (out / "report.md").read_text()
    assert "## Imported model" in report and "small.keras" in report and "onnx-fp32" in report
    code = main(["run", "mlp", "--model-file", str(tmp_path / "small.keras"), "--data", "d.npz"])
    assert code == 2 and "not both" in capsys.readouterr().err
    code = main(["import", str(tmp_path / "small.keras"), "--data", str(tmp_path / "nope.npz")])
    assert code == 2 and "Data not found" in capsys.readouterr().err
    code = main(
        [
            "import",
            str(tmp_path / "small.keras"),
            "--data",
            str(tmp_path / "d.npz"),
            "--out",
            str(tmp_path / "imp"),
            "--task",
            "classification",
        ]
    )
    assert code == 0 and "task classification" in capsys.readouterr().out


def test_unknown_input_dimensions_fail_only_the_target_that_needs_them(tmp_path):
    import keras

    from export import export_run
    from export.errors import ExportFailed

    rng = np.random.default_rng(0)
    i = keras.Input((None, 3))
    h = keras.layers.GlobalAveragePooling1D()(
        keras.layers.Conv1D(4, 3, padding="same", activation="relu")(i)
    )
    keras.Model(i, keras.layers.Dense(2, activation="softmax")(h), name="seq").save(
        tmp_path / "seq.keras"
    )
    np.savez(
        tmp_path / "s.npz",
        x=rng.standard_normal((60, 6, 3)).astype("float32"),
        y=rng.integers(0, 2, 60),
    )
    res = import_model(tmp_path / "seq.keras", tmp_path / "s.npz", out=tmp_path / "imp")
    with pytest.raises(ExportFailed) as err:
        export_run(res.dir, to=("onnx", "hls4ml"), onnx_variants=("fp32",))
    man = json.loads((res.dir / "export" / "manifest.json").read_text())
    arts = {a["format"]: a for a in man["artifacts"]}
    assert arts["onnx"]["parity"]["passed"] and (res.dir / "export" / "model.onnx").exists()
    assert "input shape (None, 3) has unknown dimensions" in arts["hls4ml"]["error"]
    assert len(err.value.failures) == 1 and err.value.failures[0].startswith("hls4ml fixed")


def test_an_autoencoder_with_x_only_is_a_reconstruction_model(tmp_path):
    import keras

    from export import export_run

    rng = np.random.default_rng(0)
    i = keras.Input((8,))
    ae = keras.Model(
        i, keras.layers.Dense(8)(keras.layers.Dense(3, activation="relu")(i)), name="ae"
    )
    ae.save(tmp_path / "ae.keras")
    np.savez(tmp_path / "x.npz", x=rng.standard_normal((80, 8)).astype("float32"))  # no labels
    res = import_model(tmp_path / "ae.keras", tmp_path / "x.npz", out=tmp_path / "imp")
    assert res.config.card["task"] == "reconstruction" and "mse" in res.metrics
    man = export_run(res.dir, to=("onnx",), onnx_variants=("fp32",))
    p = man["artifacts"][0]["parity"]
    assert (
        man["passed"]
        and p["metric"] == "mse"
        and p["keras_mse"] == pytest.approx(res.metrics["mse"], rel=1e-5)
    )
