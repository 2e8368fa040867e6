"""Loading a user's model file into the right world (:func:`read_model_file`): Keras 3 with
``safe_mode``; a Keras 2 file by Keras 3 where it can, else by tf-keras and rebuilt in Keras 3; a
QKeras file, and a Keras 2 file with raw TensorFlow arithmetic (``TFOpLambda`` of
:data:`zoo.imported.policy.PURE_TF_OPS`: tf-keras' MobileNetV3 and ConvNeXt), in the tf-keras
world. Every route passes :func:`zoo.imported.files.check_model_file`
first."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zoo.core.io import ModelFileError, custom_objects
from zoo.core.worlds import KERAS3, TF_KERAS, qkeras_custom_objects
from zoo.imported.convert import rebuild_in_keras3
from zoo.imported.files import check_model_file, layer_entries
from zoo.imported.policy import application_objects


@dataclass
class LoadedModel:
    """A model read from a user's file and how it was read."""

    model: object
    world: str  # "keras" (Keras 3) or "tf_keras" (QKeras)
    record: dict = field(
        default_factory=dict
    )  # format, keras_version, route, dropped keyword arguments
    original: object = (
        None  # the tf-keras model the Keras 3 model was rebuilt from (for the output check)
    )


def read_model_file(path, *, custom: dict | None = None) -> LoadedModel:
    """Load a user's model file safely (see the module docstring). ``custom``: extra classes
    (name -> class) the caller registers, as Keras' ``custom_objects``."""
    path = Path(path)
    if custom:
        import keras

        for name, obj in custom.items():
            keras.saving.get_custom_objects()[name] = obj
    kind, config, version, qlayers = check_model_file(path)
    record = {
        "format": "keras" if kind == "keras" else "h5",
        "keras_version": version,
        "layers": sum(1 for _ in layer_entries(config)),
    }
    tf_ops = sorted(  # policy.PURE_TF_OPS only (the scan refused any other)
        {
            str((e.get("config") or {}).get("function"))
            for _, c, e in layer_entries(config)
            if c == "TFOpLambda"
        }
    )
    if tf_ops and not qlayers:  # Keras 3 has no TFOpLambda: the model stays in tf-keras
        return LoadedModel(
            _load_tf_keras(path, qkeras=False),
            TF_KERAS,
            {**record, "route": "tf-keras world (raw TensorFlow ops)", "tf_ops": tf_ops},
        )
    if qlayers:
        model = _load_tf_keras(path, qkeras=True)
        return LoadedModel(
            model,
            TF_KERAS,
            {**record, "route": "qkeras (tf-keras world)", "qkeras_layers": len(qlayers)},
        )
    if kind == "keras" and version.startswith("3"):
        return LoadedModel(_load_keras3(path, custom), KERAS3, {**record, "route": "keras 3"})
    # Keras 2 (TF 2.x / tf-keras) file: Keras 3 where it can, else through tf-keras.
    original = _load_tf_keras(path, qkeras=False)
    try:
        model = _load_keras3(path, custom)
        return LoadedModel(model, KERAS3, {**record, "route": "keras 3 (Keras 2 file)"}, original)
    except ModelFileError as exc:
        refused = str(exc.__cause__ or exc)
    model, dropped, renamed = rebuild_in_keras3(original)
    return LoadedModel(
        model,
        KERAS3,
        {
            **record,
            "route": "tf-keras -> keras 3 (rebuilt, weights by name)",
            "keras3_refused": refused[:300],
            "dropped_kwargs": dropped,
            **({"renamed_layers": renamed} if renamed else {}),
        },
        original,
    )


def _load_keras3(path: Path, custom=None):
    import keras

    try:
        return keras.saving.load_model(
            path,
            custom_objects={
                **application_objects(KERAS3),
                **custom_objects(KERAS3),
                **(custom or {}),
            },
            compile=False,
            safe_mode=True,
        )
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"Keras 3 cannot load {path}: {type(exc).__name__}: {exc}") from exc


def _load_tf_keras(path: Path, *, qkeras: bool):
    import tf_keras

    objs = {**application_objects(TF_KERAS), **custom_objects(TF_KERAS)}
    objs.update(qkeras_custom_objects() if qkeras else {})
    kw = {"safe_mode": True} if path.suffix == ".keras" else {}  # .h5 has no safe mode
    try:
        return tf_keras.models.load_model(path, custom_objects=objs, compile=False, **kw)
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(
            f"Neither Keras 3 nor tf-keras can load {path}: {type(exc).__name__}: {exc}. The file is "
            "corrupt or from a Keras version edgezoo does not read."
        ) from exc
