"""zoo/imported/files.py's readers: what a model file is (sniff), its configs read as JSON without
deserializing anything (read_config), the layers of nested configs (layer_entries), and the gate
every loader passes first (check_model_file)."""

from __future__ import annotations

import shutil
import zipfile

import pytest

from zoo.core.io import ModelFileError
from zoo.imported.files import HDF5_SIGNATURE, check_model_file, layer_entries, read_config, sniff


@pytest.fixture(scope="module")
def h5_files(tmp_path_factory):
    """A whole tf-keras model as .h5, and its weights alone (save_weights) as .h5."""
    import tf_keras as tk

    root = tmp_path_factory.mktemp("h5")
    inp = tk.Input((4,), name="input")
    model = tk.Model(inp, tk.layers.Dense(2, name="fc")(inp), name="tiny")
    model.compile("adam", "mse")
    model.save(root / "model.h5")
    model.save_weights(root / "weights.h5")
    return root


def test_sniff_tells_keras_archives_from_hdf5(mlp_digits_run, h5_files):
    assert sniff(mlp_digits_run / "model.keras") == "keras"
    assert sniff(h5_files / "model.h5") == "h5"
    assert (h5_files / "model.h5").read_bytes()[:8] == HDF5_SIGNATURE


@pytest.mark.parametrize(
    "content, needle",
    [
        (None, "Model file not found"),
        ("dir", "is a directory; give a model file"),
        (b"PK\x03\x04 truncated", "truncated or corrupt zip archive"),
        (b"\x08\x01\x12\x04onnx", "neither a Keras .keras archive"),
        (b"", "neither a Keras .keras archive"),
    ],
)
def test_sniff_names_what_a_file_is_not(tmp_path, content, needle):
    path = tmp_path / "model.keras"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=needle):
        sniff(path)


def test_read_config_of_a_keras3_archive_reads_json_only(mlp_digits_run):
    config, version, training = read_config(mlp_digits_run / "model.keras", "keras")
    assert version.startswith("3.") and training is None
    assert config["class_name"] == "Functional"
    names = [path for path, _, _ in layer_entries(config)]
    assert names[0] == "mlp_input" and {"fc1", "fc2", "output", "softmax"} <= set(names)


def test_read_config_of_an_h5_gives_the_training_config_too(h5_files):
    config, version, training = read_config(h5_files / "model.h5", "h5")
    assert config["class_name"] == "Functional" and version  # tf-keras writes its version
    assert training["loss"] == "mse"
    assert [cls for _, cls, _ in layer_entries(config)] == ["InputLayer", "Dense"]


def test_read_config_refuses_weights_only_and_archives_without_a_config(h5_files, tmp_path):
    with pytest.raises(ModelFileError, match="holds no model config"):
        read_config(h5_files / "weights.h5", "h5")
    bare = tmp_path / "bare.keras"
    with zipfile.ZipFile(bare, "w") as z:
        z.writestr("metadata.json", "{}")
    with pytest.raises(ModelFileError, match="without config.json"):
        read_config(bare, "keras")


def test_read_config_of_a_truncated_h5_is_one_clear_error(h5_files, tmp_path):
    cut = tmp_path / "cut.h5"
    cut.write_bytes((h5_files / "model.h5").read_bytes()[:2000])
    with pytest.raises(ModelFileError, match="truncated or corrupt") as info:
        read_config(cut, "h5")
    assert str(cut) in str(info.value)


def test_layer_entries_descend_into_nested_models_with_paths():
    config = {
        "class_name": "Functional",
        "config": {
            "layers": [
                {"class_name": "InputLayer", "name": "in"},
                {
                    "class_name": "Sequential",
                    "config": {
                        "name": "block",
                        "layers": [
                            {"class_name": "Dense", "config": {"name": "fc"}},
                            "not a layer entry",
                        ],
                    },
                },
                {"class_name": "Dense", "name": "head"},
            ]
        },
    }
    got = [(path, cls) for path, cls, _ in layer_entries(config)]
    assert got == [
        ("in", "InputLayer"),
        ("block", "Sequential"),
        ("block/fc", "Dense"),
        ("head", "Dense"),
    ]
    assert list(layer_entries({"config": {"layers": None}})) == []
    assert list(layer_entries(["not", "a", "config"])) == []


def test_the_gate_refuses_a_keras_archive_under_another_name(mlp_digits_run, tmp_path):
    renamed = tmp_path / "model.h5"
    shutil.copy(mlp_digits_run / "model.keras", renamed)
    with pytest.raises(ModelFileError, match="under another name"):
        check_model_file(renamed)
    kind, config, version, qlayers = check_model_file(mlp_digits_run / "model.keras")
    assert (kind, config["class_name"], qlayers) == ("keras", "Functional", {})
    assert version.startswith("3.")
