"""A user's model file as data: what it is (:func:`sniff`), its configs read as JSON without
deserializing anything (:func:`read_config`), its layers (:func:`layer_entries`), and the one gate
every loader passes first (:func:`check_model_file`)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from zoo.core.io import ModelFileError, read_member
from zoo.imported.scan import scan_config

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

CONTAINERS = ("Functional", "Sequential", "Model")


def sniff(path: Path) -> str:
    """ "keras" (a zip archive) or "h5" (HDF5); a clear error for anything else."""
    if not path.exists():
        raise ModelFileError(f"Model file not found: {path}.")
    if path.is_dir():
        raise ModelFileError(
            f"{path} is a directory; give a model file (.keras or .h5). A TensorFlow SavedModel "
            "folder is not supported: load it in Python and save it with model.save('model.keras')."
        )
    with open(path, "rb") as f:
        head = f.read(8)
    if head == HDF5_SIGNATURE:
        return "h5"
    if head[:2] == b"PK":
        if not zipfile.is_zipfile(path):
            raise ModelFileError(
                f"{path} is a truncated or corrupt zip archive, not a readable .keras "
                "model. Copy or save the model again."
            )
        return "keras"
    raise ModelFileError(
        f"{path} is neither a Keras .keras archive (zip) nor a Keras .h5 (HDF5) file; it is corrupt "
        "or of another format (ONNX, TFLite, SavedModel ...). Save the model with model.save('m.keras')."
    )


def read_config(path: Path, kind: str) -> tuple[dict, str, object]:
    """(model config, keras_version that wrote it, the .h5 training config or None) -- read as
    JSON, nothing deserialized. A .keras archive keeps its compile config inside the model
    config."""
    try:
        if kind == "keras":
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "config.json" not in names:
                    raise ModelFileError(
                        f"{path} is a zip archive without config.json: not a .keras model."
                    )
                config = json.loads(read_member(z, "config.json", path))
                meta = json.loads(read_member(z, "metadata.json", path, absent=b"{}"))
                z.testzip()  # a damaged member shows here, not half-way through loading
            return config, str(meta.get("keras_version", "")), None
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            training = f.attrs.get("training_config")
            version = f.attrs.get("keras_version", b"")
            if raw is None:
                raise ModelFileError(
                    f"{path} holds no model config (a weights-only .h5, from save_weights?). Save the "
                    "whole model (model.save('m.h5') or model.save('m.keras')) and import that file."
                )
            if "model_weights" not in f and "layer_names" not in f.attrs:
                raise ModelFileError(f"{path} holds a model config but no weights (model_weights).")
        raw = raw.decode() if isinstance(raw, bytes) else raw
        version = version.decode() if isinstance(version, bytes) else str(version)
        if training is not None:
            training = json.loads(training.decode() if isinstance(training, bytes) else training)
        return json.loads(raw), version, training
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated HDF5, bad zip member, bad JSON
        raise ModelFileError(
            f"{path} cannot be read as a Keras model ({type(exc).__name__}: {exc}); the file is "
            "truncated or corrupt. Copy or save the model again."
        ) from exc


def layer_entries(config: dict, prefix: str = ""):
    """(path, class_name, layer config entry) of every layer, descending into nested models."""
    inner = config.get("config", {}) if isinstance(config, dict) else {}
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list):
        return
    for entry in layers:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name") or (entry.get("config") or {}).get("name", "?")
        cls = entry.get("class_name", "?")
        yield f"{prefix}{name}", cls, entry
        if cls in CONTAINERS:
            yield from layer_entries(entry, prefix=f"{prefix}{name}/")


def check_model_file(path) -> tuple[str, dict, str, dict[str, str]]:
    """The one gate every loader passes first: the file's configs (model config, and the compile
    or training config) read as JSON and scanned whole (:func:`scan_config`). Returns (kind
    "keras"/"h5", model config, keras_version, QKeras layer path -> class)."""
    path = Path(path)
    kind = sniff(path)
    # the loaders choose a format by name and content: make them read what was scanned
    if kind == "h5" and zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is both an HDF5 file and a zip archive (a forged file: a loader could read "
            "the part this check did not). Save the model again with model.save('m.keras')."
        )
    if kind == "keras" and path.suffix != ".keras":
        raise ModelFileError(
            f"{path} is a .keras archive (zip) under another name; loaders would read it as "
            "another format. Rename it to end in .keras."
        )
    config, version, training = read_config(path, kind)
    qlayers = scan_config(config, path)
    if training is not None:
        scan_config(training, path, prefix=("training_config",))
    return kind, config, version, qlayers
