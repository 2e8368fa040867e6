"""The typed readers of the files stages hand each other: ``config.json`` (zoo/core/run_config.py
``RunConfig``) and ``manifest.json`` (export/manifest.py ``Manifest``): defaults for older files
stated once, a garbled field one clear line, and a written file read back unchanged."""

from __future__ import annotations

import json

import pytest

from export.manifest import SCHEMA, Manifest, ManifestError, load_manifest
from zoo.core.io import write_json_atomic
from zoo.core.run_config import RunConfig, RunConfigError

CARD = {"task": "classification", "input_shape": [64], "params": 10}
OLD = {"model": "mlp", "dataset": "digits", "card": CARD}  # what the oldest runs wrote at least
GOOD = {
    "model": "mlp",
    "dataset": "digits",
    "overrides": {"widths": [16]},
    "epochs": 3,
    "seed": 4,
    "limit": 200,
    "world": "tf_keras",
    "card": CARD,
    "data": {"n_train": 8},
    "compression": [{"step": "qat"}],
}


def test_an_old_config_without_world_reads_as_keras_with_the_stated_defaults(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(OLD))
    cfg = RunConfig.read(tmp_path)
    assert (cfg.world, cfg.seed, cfg.limit, cfg.overrides, cfg.compression) == (
        "keras",
        0,
        None,
        {},
        (),
    )
    assert cfg.hgq is False and cfg.imported is None and cfg.input_noise == 0.0
    assert cfg.source_dir == tmp_path and cfg.task == "classification"
    assert cfg.to_dict() == OLD  # the file as written: no default is written into it


def test_a_written_config_reads_back_byte_for_byte(tmp_path):
    path = write_json_atomic(tmp_path / "config.json", GOOD)
    before = path.read_bytes()
    cfg = RunConfig.read(tmp_path)
    assert (
        cfg.world == "tf_keras" and cfg.seed == 4 and cfg.limit == 200 and cfg.data["n_train"] == 8
    )
    assert cfg.input_shape == [64] and cfg.compression == ({"step": "qat"},)
    write_json_atomic(path, cfg.to_dict())
    assert path.read_bytes() == before  # same keys, same order, same values


def test_replace_keeps_the_key_order_the_source_directory_and_checks_again(tmp_path):
    write_json_atomic(tmp_path / "config.json", GOOD)
    cfg = RunConfig.read(tmp_path)
    changed = cfg.replace(world="keras", hgq=True)
    assert (
        list(changed.to_dict())[: len(GOOD)] == list(GOOD) and list(changed.to_dict())[-1] == "hgq"
    )
    assert changed.world == "keras" and changed.hgq and changed.source_dir == tmp_path
    assert "compression" not in cfg.without("compression").to_dict()
    with pytest.raises(RunConfigError, match="world"):
        cfg.replace(world="torch")


BAD_VALUES = {
    "world": "torch",
    "seed": "0",
    "limit": 2.5,
    "overrides": [],
    "data": "x",
    "versions": 1,
    "imported": "yes",
    "architecture": [],
    "data_file": "data.npz",
    "compression": {},
    "hgq": "true",
    "input_noise": "none",
    "model": 3,
    "dataset": None,
}


@pytest.mark.parametrize("key", sorted(BAD_VALUES))
def test_a_garbled_field_is_one_line_naming_the_file_and_the_key(tmp_path, key):
    (tmp_path / "config.json").write_text(json.dumps({**GOOD, key: BAD_VALUES[key]}))
    with pytest.raises(RunConfigError) as err:
        RunConfig.read(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "config.json") in msg
    assert msg.startswith(f"{tmp_path / 'config.json'}: {key} is ") and "re-train" in msg


def test_every_typed_key_is_checked():
    """The table above covers each typed key RunConfig reads (a new key must get a check)."""
    from dataclasses import fields

    typed = {f.name for f in fields(RunConfig)} - {"raw", "source_dir", "card"}
    assert typed == set(BAD_VALUES)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        (json.dumps({"model": "mlp", "card": CARD}), "lacks 'dataset'"),
        (json.dumps({**OLD, "card": {"task": "classification"}}), "card.task/card.input_shape"),
    ],
)
def test_an_unreadable_config_is_one_line(tmp_path, text, needle):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises((RunConfigError, FileNotFoundError)) as err:
        RunConfig.read(tmp_path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_directory_without_config_names_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="edgezoo train MODEL"):
        RunConfig.read(tmp_path)


# ------------------------------------------------------------------------------ manifests

MANIFEST = {
    "schema": SCHEMA,
    "source": {"dir": "..", "model": "mlp", "sha256": "0" * 64, "keras_metrics": {}},
    "options": {"to": ["onnx"]},
    "artifacts": [
        {"format": "onnx", "variant": "fp32", "path": "model.onnx", "parity": {"passed": True}},
        {"format": "tflite", "variant": "int8", "error": "boom", "parity": {"passed": False}},
    ],
    "passed": False,
    "failures": ["tflite int8: boom"],
}


def test_a_manifest_reads_typed_and_back_unchanged(tmp_path):
    path = write_json_atomic(tmp_path / "manifest.json", MANIFEST)
    man = Manifest.read(path)
    assert man.schema == SCHEMA and man.passed is False and man.failures == ("tflite int8: boom",)
    assert [a["format"] for a in man.produced] == ["onnx"] and len(man.artifacts) == 2
    assert man.raw == MANIFEST and man.raw["options"] == {"to": ["onnx"]}


def test_a_manifest_without_schema_reads_as_the_first_schema():
    old = {k: v for k, v in MANIFEST.items() if k != "schema"}
    assert Manifest.from_dict(old).schema == SCHEMA == "edgezoo.export/1"


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"schema": "edgezoo.export/99"}, "has schema 'edgezoo.export/99'"),
        ({"artifacts": {"onnx": 1}}, "artifacts is not a list of objects"),
        ({"source": "here"}, "source is not an object"),
    ],
)
def test_a_garbled_manifest_is_one_line(change, needle):
    with pytest.raises(ManifestError) as err:
        Manifest.from_dict({**MANIFEST, **change}, "m.json")
    assert (
        needle in str(err.value)
        and str(err.value).startswith("m.json")
        and "\n" not in str(err.value)
    )


def test_load_manifest_returns_the_typed_manifest(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"k")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "model.onnx").write_bytes(b"onnx")
    from export.common import sha256_file

    art = {
        **MANIFEST["artifacts"][0],
        "bytes": 4,
        "sha256": sha256_file(tmp_path / "export" / "model.onnx"),
    }
    source = {**MANIFEST["source"], "sha256": sha256_file(tmp_path / "model.keras")}
    write_json_atomic(
        tmp_path / "export" / "manifest.json", {**MANIFEST, "source": source, "artifacts": [art]}
    )
    man, src, changed = load_manifest(tmp_path / "export")
    assert isinstance(man, Manifest) and src == tmp_path.resolve() and changed == {}


def test_save_model_dir_then_load_run_round_trip_and_an_old_file_loads_as_keras(tmp_path):
    import keras

    from training.model_dir import load_run, save_model_dir

    inp = keras.Input((64,))
    model = keras.Model(inp, keras.layers.Dense(10, name="out")(inp))
    out = save_model_dir(model, tmp_path / "run", OLD)
    written = json.loads((out / "config.json").read_text())
    assert written == {**OLD, "world": "keras"} and list(written) == [*OLD, "world"]
    (out / "config.json").write_text(json.dumps(OLD))  # a run written before "world" existed
    loaded, cfg = load_run(out)
    assert isinstance(cfg, RunConfig) and cfg.world == "keras" and cfg.source_dir == out
    again = save_model_dir(loaded, tmp_path / "again", cfg)
    assert json.loads((again / "config.json").read_text()) == written
