"""Hostile model files: no code from a model file ever runs.

Small benign models (a Keras 3 ``.keras`` and a tf-keras / Keras 2 ``.h5``, each with
TimeDistributed, Bidirectional, an RNN cell, a nested Sequential and a nested Functional,
regularizers, constraints and a compile config) are rewritten with a hostile entry at EVERY dict
and list position of their configs (``config.json``; the ``.h5`` attributes ``model_config`` and
``training_config``): a Lambda layer, a serialized Python function, a class from module
``os``/``builtins``, an unknown class. Every function's code writes a marker file when it runs.
Each file goes through the real entry points (``zoo.imported.loaders.read_model_file``,
``zoo.core.io.load_model`` in both worlds, one ``edgezoo import`` command): a ``ModelFileError``
naming the file and the place, and no marker. The positive controls load hostile files with the
unsafe loaders directly and see the marker appear, so these tests can fail.
"""

from __future__ import annotations

import copy
import json
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import zoo
from zoo.core.io import ModelFileError, load_model
from zoo.imported.loaders import read_model_file

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- payloads


def payload(marker: Path):
    """A lambda whose code writes ``marker`` and passes its input through (its source is kept in
    a file beside the marker: Keras 3 quotes a lambda's source when it serializes one)."""
    src = marker.parent / "payload_source.py"
    src.write_text(f"payload = lambda x, *a: (open({str(marker)!r}, 'w').write('ran'), x)[1]\n")
    scope: dict = {}
    exec(compile(src.read_text(), str(src), "exec"), scope)  # noqa: S102
    return scope["payload"]


def k3_function(marker):
    """A Python function as Keras 3 serializes it (``__lambda__`` with bytecode)."""
    import keras

    return keras.saving.serialize_keras_object(payload(marker))


def k2_function(marker):
    """A Python function as Keras 2 stores it: [marshalled code (base64), defaults, closure]."""
    from tf_keras.src.utils.generic_utils import func_dump

    return list(func_dump(payload(marker)))


def k3_lambda_layer(marker, name):
    import keras

    cfg = keras.layers.Lambda(payload(marker), name=name)
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": cfg.get_config(),
        "registered_name": None,
        "name": name,
    }


def k2_lambda_layer(marker, name):
    import tf_keras as tk

    return {
        "class_name": "Lambda",
        "config": tk.layers.Lambda(payload(marker), name=name).get_config(),
    }


def hostile_kinds(marker, fmt):
    """name -> (make(i) -> hostile entry, what the error names for entry i)."""
    layer = k3_lambda_layer if fmt == "keras" else k2_lambda_layer
    fn = k3_function(marker) if fmt == "keras" else k2_function(marker)
    return {
        "lambda_layer": (lambda i: layer(marker, f"pwn{i}"), lambda i: f"pwn{i}"),
        "function": (lambda i: copy.deepcopy(fn), None),
        "module_os": (
            lambda i: {"module": "os", "class_name": f"system{i}", "config": {}},
            lambda i: f"'system{i}' from module 'os'",
        ),
        "builtins_function": (
            lambda i: {"module": "builtins", "class_name": "function", "config": f"exec{i}"},
            lambda i: f"'exec{i}'",
        ),
        "unknown_class": (
            lambda i: {"class_name": f"Pwn{i}", "config": {"name": f"p{i}"}},
            lambda i: f"'Pwn{i}'",
        ),
    }


# --------------------------------------------------------------------------- benign models


def k3_model():
    import keras

    i = keras.Input((5, 3), name="x")
    h = keras.layers.TimeDistributed(
        keras.layers.Dense(4, kernel_regularizer="l2", kernel_constraint="max_norm"), name="td"
    )(i)
    h = keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True), name="bi")(h)
    h = keras.layers.RNN(keras.layers.SimpleRNNCell(2), name="rnn")(h)
    h = keras.Sequential([keras.layers.Dense(3, activation="relu", name="s1")], name="seq")(h)
    j = keras.Input((3,))
    o = keras.Model(j, keras.layers.Dense(2, name="f1")(j), name="inner")(h)
    m = keras.Model(i, o, name="host")
    m.compile("adam", "mse", metrics=["mae"])
    return m


def k2_model():
    import tf_keras as tk

    i = tk.Input((5, 3), name="x")
    h = tk.layers.TimeDistributed(
        tk.layers.Dense(4, kernel_regularizer="l2", kernel_constraint="max_norm"), name="td"
    )(i)
    h = tk.layers.Bidirectional(tk.layers.LSTM(2, return_sequences=True), name="bi")(h)
    h = tk.layers.RNN(tk.layers.SimpleRNNCell(2), name="rnn")(h)
    h = tk.Sequential([tk.layers.Dense(3, activation="relu", name="s1")], name="seq")(h)
    j = tk.Input((3,))
    o = tk.Model(j, tk.layers.Dense(2, name="f1")(j), name="inner")(h)
    m = tk.Model(i, o, name="host")
    m.compile("adam", "mse", metrics=["mae"])
    return m


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    k3_model().save(root / "base.keras")
    k2_model().save(root / "base.h5")
    return root


def read_configs(path: Path) -> dict:
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as z:
            return {"config.json": json.loads(z.read("config.json"))}
    with h5py.File(path, "r") as f:
        return {
            k: json.loads(f.attrs[k]) for k in ("model_config", "training_config") if k in f.attrs
        }


def write_configs(src: Path, dst: Path, configs: dict) -> Path:
    """``src`` with its configs replaced (the zip's config.json; the h5's attributes)."""
    if src.suffix == ".keras":
        with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
            for item in zi.infolist():
                data = zi.read(item.filename)
                if item.filename == "config.json":
                    data = json.dumps(configs["config.json"]).encode()
                zo.writestr(item, data)
        return dst
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        for k, v in configs.items():
            f.attrs[k] = json.dumps(v)
    return dst


def positions(node, path=()):
    """Every dict and list in a JSON tree: (path, node)."""
    if isinstance(node, (dict, list)):
        yield path, node
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            yield from positions(v, path + (k,))


def at(node, path):
    for k in path:
        node = node[k]
    return node


def injections(configs: dict):
    """(description, how to inject) for every dict and list position of every config: a new key
    in each dict, a new item in each list, and each serialized object (a dict with class_name)
    replaced."""
    for top, cfg in configs.items():
        for path, node in positions(cfg):
            where = f"{top}:{'/'.join(map(str, path))}"
            if isinstance(node, dict):
                yield f"{where} +key", (top, path, "key")
                if "class_name" in node and path:
                    yield f"{where} =replace", (top, path, "replace")
            else:
                yield f"{where} +item", (top, path, "item")


def inject(configs, how, entry, i):
    """A deep copy of ``configs`` with ``entry`` injected; the word the error must name."""
    top, path, mode = how
    out = copy.deepcopy(configs)
    node = at(out[top], path)
    if mode == "key":
        node[f"x_hostile_{i}"] = entry
        return out, f"x_hostile_{i}"
    if mode == "item":
        node.append(entry)
        return out, f"[{len(node) - 1}]"
    parent = at(out[top], path[:-1])
    parent[path[-1]] = entry
    return out, (f"[{path[-1]}]" if isinstance(path[-1], int) else str(path[-1]))


# --------------------------------------------------------------------------- the sweep


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_a_hostile_entry_at_every_position_is_refused_and_never_runs(base, tmp_path, fmt):
    marker = tmp_path / "pwned"
    src = base / f"base.{fmt}"
    configs = read_configs(src)
    kinds = hostile_kinds(marker, fmt)
    where_list = list(injections(configs))
    assert len(where_list) > 100  # every layer, wrapper, cell, initializer, node, compile entry
    assert any("training_config" in w for w, _ in where_list) == (fmt == "h5")
    assert any("compile_config" in w for w, _ in where_list) == (fmt == "keras")
    tried, failures = 0, []
    for i, (where, how) in enumerate(where_list):
        for kind, (make, names) in kinds.items():
            cfgs, place = inject(configs, how, make(i), i)
            f = write_configs(src, tmp_path / f"h{i}-{kind}.{fmt}", cfgs)
            expected = names(i) if names else place
            # the user's file (edgezoo import / run --model-file) and a run directory's file,
            # in both worlds; the loaders differ, so each kind goes to one of them in turn
            loader = (
                read_model_file,
                lambda p: load_model(p, world=zoo.KERAS3),
                lambda p: load_model(p, world=zoo.TF_KERAS),
            )[tried % 3]
            tried += 1
            try:
                loader(f)
                failures.append(f"{where} {kind}: loaded")
            except ModelFileError as exc:
                msg = str(exc)
                if not (msg.startswith(f"{f}: ") and expected in msg and "\n" not in msg):
                    failures.append(f"{where} {kind}: {msg[:200]}")
            f.unlink()
    assert not marker.exists(), "code from a model file ran"
    assert not failures, f"{len(failures)} of {tried}:\n" + "\n".join(failures[:20])


# --------------------------------------------------------------------------- named cases


def _lambda_models(marker, k):
    """name -> (model with a Lambda named 'lam' somewhere, the path the error must name)."""
    fn = payload(marker)

    def lam():
        return k.layers.Lambda(fn, name="lam")

    def inner(name, layer):
        j = k.Input((4,))
        return k.Model(j, layer(j), name=name)

    out = {}
    i = k.Input((4,))
    out["top"] = (k.Model(i, k.layers.Dense(2)(lam()(i))), "lam")
    i = k.Input((4,))
    seq = k.Sequential([k.Input((4,)), lam()], name="seq")
    out["sequential"] = (k.Model(i, seq(i)), "seq/lam")
    i = k.Input((4,))
    out["functional"] = (k.Model(i, inner("inner", lam())(i)), "inner/lam")
    i = k.Input((4,))
    twice = inner("outer", inner("inner", lam()))
    out["twice"] = (k.Model(i, twice(i)), "outer/inner/lam")
    i = k.Input((3, 4))
    out["time_distributed"] = (k.Model(i, k.layers.TimeDistributed(lam(), name="td")(i)), "td/lam")
    return out


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_a_lambda_at_every_depth_and_in_a_wrapper_is_named(tmp_path, fmt):
    import keras
    import tf_keras

    marker = tmp_path / "pwned"
    k = keras if fmt == "keras" else tf_keras
    cases = _lambda_models(marker, k)
    for name, (m, _) in cases.items():
        m.save(tmp_path / f"{name}.{fmt}")
    marker.unlink()  # building the models ran the function; loading them must not
    for name, (_, where) in cases.items():
        f = tmp_path / f"{name}.{fmt}"
        for load in (read_model_file, load_model):
            with pytest.raises(ModelFileError) as err:
                load(f)
            assert str(err.value).startswith(f"{f}: layer '{where}' is a Lambda layer"), name
    assert not marker.exists()


def test_functions_in_activations_initializers_and_the_compile_config_are_named(tmp_path):
    import keras

    marker = tmp_path / "pwned"
    fn = payload(marker)
    i = keras.Input((4,))
    h = keras.layers.Dense(3, activation=fn, name="d1")(i)
    m = keras.Model(i, keras.layers.Dense(2, name="d2")(h))
    m.save(tmp_path / "act.keras")
    m = keras.Model(i, keras.layers.Dense(2, name="d2")(keras.layers.Dense(3, name="d1")(i)))
    m.compile("adam", loss=fn)
    m.save(tmp_path / "loss.keras")
    marker.unlink(missing_ok=True)
    src = tmp_path / "loss.keras"
    cfg = read_configs(src)["config.json"]
    cfg["compile_config"]["loss"] = "mse"
    d1 = cfg["config"]["layers"][1]["config"]
    for key, entry in (
        ("kernel_initializer", k3_function(marker)),
        ("kernel_regularizer", {"module": "builtins", "class_name": "eval", "config": {}}),
        ("kernel_constraint", {"class_name": "Evil", "module": "evil.constraints", "config": {}}),
    ):
        c = copy.deepcopy(cfg)
        c["config"]["layers"][1]["config"][key] = entry
        write_configs(src, tmp_path / f"{key}.keras", {"config.json": c})
    assert d1["name"] == "d1"
    for name, needle in (
        ("act", "layer 'd1' (activation) is a serialized Python function"),
        ("loss", "compile_config.loss is a serialized Python function"),
        ("kernel_initializer", "layer 'd1' (kernel_initializer) is a serialized Python function"),
        (
            "kernel_regularizer",
            "layer 'd1' (kernel_regularizer) names 'eval' from module 'builtins'",
        ),
        ("kernel_constraint", "layer 'd1' (kernel_constraint) names 'Evil' from module 'evil."),
    ):
        f = tmp_path / f"{name}.keras"
        for load in (read_model_file, load_model):
            with pytest.raises(ModelFileError) as err:
                load(f)
            assert str(err.value).startswith(f"{f}: {needle}"), str(err.value)[:300]
            assert ("compile=False" in str(err.value)) == (name == "loss")  # the way out
    assert not marker.exists()


def test_controls_the_unsafe_loaders_run_the_code_so_the_marker_works(tmp_path):
    """The issue's file -- a Lambda inside TimeDistributed in a Keras 2 .h5 -- runs its code
    when tf-keras loads it (h5 has no safe mode); a Keras 3 file with a Lambda layer runs it
    with safe_mode off. edgezoo refuses both before either loader sees them."""
    import keras
    import tf_keras

    marker = tmp_path / "pwned"
    m, _ = _lambda_models(marker, tf_keras)["time_distributed"]
    m.save(tmp_path / "td.h5")
    m, _ = _lambda_models(marker, keras)["twice"]
    m.save(tmp_path / "a.keras")
    marker.unlink()
    with pytest.raises(ModelFileError, match="layer 'td/lam' is a Lambda layer"):
        read_model_file(tmp_path / "td.h5")
    assert not marker.exists()
    tf_keras.models.load_model(tmp_path / "td.h5", compile=False)
    assert marker.read_text() == "ran"
    marker.unlink()
    with pytest.raises(ModelFileError, match="layer 'outer/inner/lam' is a Lambda layer"):
        load_model(tmp_path / "a.keras")
    assert not marker.exists()
    keras.saving.load_model(tmp_path / "a.keras", safe_mode=False)
    assert marker.read_text() == "ran"


def test_edgezoo_import_refuses_the_issue_file_in_one_line(tmp_path, capsys):
    """``edgezoo import`` of the file (the command's own entry point, in this process: the test is
    about the refusal, not the console script, which tests/test_cli.py starts)."""
    import tf_keras

    from edgezoo.cli import main

    marker = tmp_path / "pwned"
    m, _ = _lambda_models(marker, tf_keras)["time_distributed"]
    m.save(tmp_path / "td.h5")
    marker.unlink()
    np.savez(tmp_path / "d.npz", x=np.ones((20, 3, 4), "float32"), y=np.zeros((20, 3, 4), "f4"))
    capsys.readouterr()
    argv = ["import", str(tmp_path / "td.h5")]
    code = main([*argv, "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert "error:" in last and "td.h5: layer 'td/lam' is a Lambda layer" in last
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_legitimate_models_pass_the_scan(base, tmp_path):
    """The benign corpus, QKeras layers and a zoo model with custom layers still load."""
    import qkeras
    import tf_keras as tk

    assert read_model_file(base / "base.keras").world == zoo.KERAS3
    # (Keras 3 cannot rebuild this .h5's LSTM -- time_major -- so it loads in tf-keras here)
    assert load_model(base / "base.h5", world=zoo.TF_KERAS, compile=False).name == "host"
    assert load_model(base / "base.keras").name == "host"
    i = tk.Input((4,))
    h = qkeras.QDense(3, kernel_quantizer=qkeras.quantized_bits(6, 0, 1), name="qd")(i)
    tk.Model(i, qkeras.QActivation("quantized_relu(6)", name="qa")(h)).save(tmp_path / "q.h5")
    assert read_model_file(tmp_path / "q.h5").world == zoo.TF_KERAS
    zoo.create_model("transformer").save(tmp_path / "t.keras")
    assert load_model(tmp_path / "t.keras").count_params() > 0
    # a QKeras string that is not a quantizer is refused, not called
    cfg = read_configs(tmp_path / "q.h5")
    layers = cfg["model_config"]["config"]["layers"]
    layers[-1]["config"]["activation"] = "deserialize_keras_object('x')"
    f = write_configs(tmp_path / "q.h5", tmp_path / "q2.h5", cfg)
    with pytest.raises(ModelFileError, match="layer 'qa' \\(activation\\).*not a QKeras quantizer"):
        read_model_file(f)


def test_layers_only_keras_applications_define_load_as_keras_code(tmp_path):
    """ConvNeXt's LayerScale and StochasticDepth live in keras.src.applications, outside Keras'
    public namespaces: a fine-tuned ConvNeXt names them and loads (its outputs unchanged), while
    the same class names from another module are still refused."""
    import keras
    from keras.src.applications.convnext import LayerScale, StochasticDepth

    i = keras.Input((4, 4, 8))
    h = LayerScale(0.5, 8, name="ls")(keras.layers.Conv2D(8, 1, name="c")(i))
    m = keras.Model(i, keras.layers.Add(name="add")([i, StochasticDepth(0.1, name="sd")(h)]))
    m.save(tmp_path / "convnext_like.keras")
    x = np.random.default_rng(0).standard_normal((3, 4, 4, 8)).astype("f4")
    loaded = load_model(tmp_path / "convnext_like.keras")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(m(x)))
    cfg = read_configs(tmp_path / "convnext_like.keras")
    ls = next(la for la in cfg["config.json"]["config"]["layers"] if la["name"] == "ls")
    ls["module"] = "evil.applications"
    forged = write_configs(tmp_path / "convnext_like.keras", tmp_path / "forged.keras", cfg)
    with pytest.raises(ModelFileError, match="'LayerScale' from module 'evil.applications'"):
        read_model_file(forged)
    # tf-keras' ConvNeXt as .h5 names LayerScale by class name only: it loads in both routes
    # (Add layer: rebuilt in Keras 3; `a + b`, a TFOpLambda: kept in tf-keras) and reloads
    import tf_keras
    from tf_keras.src.applications.convnext import LayerScale as TkLayerScale

    i = tf_keras.Input((4, 4, 8))
    h = TkLayerScale(0.5, 8, name="ls")(tf_keras.layers.Conv2D(8, 1, name="c")(i))
    for name, out in (("add", tf_keras.layers.Add()([i, h])), ("op", i + h)):
        tk = tf_keras.Model(i, out)
        tk.save(tmp_path / f"{name}.h5")
        loaded = read_model_file(tmp_path / f"{name}.h5")
        assert loaded.world == (zoo.TF_KERAS if name == "op" else zoo.KERAS3), loaded.record
        np.testing.assert_allclose(np.asarray(loaded.model(x)), tk(x).numpy(), atol=1e-6)
        loaded.model.save(tmp_path / f"{name}-again.keras")  # a model directory's file
        again = load_model(tmp_path / f"{name}-again.keras", world=loaded.world)
        np.testing.assert_allclose(np.asarray(again(x)), tk(x).numpy(), atol=1e-6)


def test_tensorflow_initializers_tf_keras_writes_load_and_other_tf_modules_do_not(tmp_path):
    """EfficientNetV2 passes `tf.constant_initializer(0)`; tf-keras writes it under TensorFlow's
    init_ops_v2 module. That module's Keras initializer names load; any other TensorFlow module
    is still refused."""
    import tensorflow as tf
    import tf_keras

    i = tf_keras.Input((4,))
    d = tf_keras.layers.Dense(3, bias_initializer=tf.constant_initializer(0.5), name="d")
    tf_keras.Model(i, d(i)).save(tmp_path / "tfinit.h5")
    cfg = read_configs(tmp_path / "tfinit.h5")
    layer = cfg["model_config"]["config"]["layers"][-1]
    assert layer["config"]["bias_initializer"]["module"].startswith(
        "tensorflow.python.ops.init_ops"
    )
    assert read_model_file(tmp_path / "tfinit.h5").world in (zoo.KERAS3, zoo.TF_KERAS)
    layer["config"]["bias_initializer"]["module"] = "tensorflow.python.ops.gen_io_ops"
    forged = write_configs(tmp_path / "tfinit.h5", tmp_path / "forged.h5", cfg)
    with pytest.raises(ModelFileError, match="from module 'tensorflow.python.ops.gen_io_ops'"):
        read_model_file(forged)


def test_raw_tensorflow_arithmetic_loads_in_tf_keras_and_other_raw_ops_do_not(tmp_path):
    """tf-keras records `x + 3.0`, `x * (1/6)` and `a * b` on Keras tensors as TFOpLambda
    (Keras Applications' MobileNetV3 and ConvNeXt as .h5 were refused): elementwise arithmetic
    loads, in the tf-keras world, computing what the model computed; a TFOpLambda naming any
    other TensorFlow function (one with effects outside the graph) is refused by name, never
    looked up."""
    import tf_keras

    i = tf_keras.Input((4,))
    h = tf_keras.layers.Dense(6, name="d")(i)
    g = tf_keras.layers.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    m = tf_keras.Model(i, tf_keras.layers.Dense(3, name="out")(h * g - h))
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    for fmt in ("h5", "keras"):
        path = tmp_path / f"ops.{fmt}"
        m.save(path)
        loaded = read_model_file(path)
        assert loaded.world == zoo.TF_KERAS, loaded.record
        assert set(loaded.record["tf_ops"]) >= {"__operators__.add", "math.multiply"}
        np.testing.assert_allclose(np.asarray(loaded.model(x)), np.asarray(m(x)), atol=1e-6)
    cfg = read_configs(tmp_path / "ops.h5")
    ops = [e for e in cfg["model_config"]["config"]["layers"] if e["class_name"] == "TFOpLambda"]
    for fn in ("io.write_file", "print", "py_function", "raw_ops.WriteFile"):
        ops[0]["config"]["function"] = fn
        forged = write_configs(tmp_path / "ops.h5", tmp_path / "forged.h5", cfg)
        with pytest.raises(ModelFileError, match=f"TFOpLambda '{re.escape(fn)}'"):
            read_model_file(forged)


def test_forged_objects_names_and_polyglot_files_are_refused(base, tmp_path):
    """Objects a loader would look up or build from the file: each refused, named."""
    from zoo.imported import build_architecture

    src = base / "base.keras"
    cfg = read_configs(src)["config.json"]
    td = next(la for la in cfg["config"]["layers"] if la["name"] == "td")
    dense = td["config"]["layer"]["config"]
    assert dense["name"] == "dense"
    forged = {
        "object_array": (
            {"class_name": "__numpy__", "config": {"value": [1], "dtype": "object"}},
            "layer 'td/dense' (kernel_initializer) is an array of dtype 'object'",
        ),
        "typespec": (
            {"class_name": "__typespec__", "spec_name": "system", "module": "os", "config": []},
            "layer 'td/dense' (kernel_initializer) names 'system' from module 'os'",
        ),
        "lookup_helper": (
            {"module": "keras.losses", "class_name": "function", "config": "deserialize"},
            "layer 'td/dense' (kernel_initializer) names the function 'deserialize'",
        ),
        "prefixed_lambda": (
            k3_lambda_layer(tmp_path / "pwned", "lam") | {"class_name": "Custom>Lambda"},
            "layer 'td/dense/lam' is a Lambda layer",
        ),
        "torch_pickle": (
            {"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {}},
            "layer 'td/dense' (kernel_initializer) is a TorchModuleWrapper",
        ),
    }
    for name, (entry, needle) in forged.items():
        c = copy.deepcopy(cfg)
        next(la for la in c["config"]["layers"] if la["name"] == "td")["config"]["layer"]["config"][
            "kernel_initializer"
        ] = entry
        f = write_configs(src, tmp_path / f"{name}.keras", {"config.json": c})
        with pytest.raises(ModelFileError) as err:
            read_model_file(f)
        assert str(err.value).startswith(f"{f}: {needle}"), str(err.value)[:300]
        # a run directory's stored architecture (compress rebuilds from it) passes the same gate
        with pytest.raises(ModelFileError, match=re.escape(needle)):
            build_architecture(c)
    # a file both HDF5 and zip, and a zip under an .h5 name: loaders pick the format by name
    poly = tmp_path / "poly.h5"
    poly.write_bytes((base / "base.h5").read_bytes() + src.read_bytes())
    renamed = tmp_path / "renamed.h5"
    renamed.write_bytes(src.read_bytes())
    for f, needle in (
        (poly, "both an HDF5 file and a zip"),
        (renamed, "Rename it to end in .keras"),
    ):
        for load in (read_model_file, load_model):
            with pytest.raises(ModelFileError, match=needle):
                load(f)
    assert not (tmp_path / "pwned").exists()
