"""Saving and loading zoo models, with one clear error for a bad file."""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from pathlib import Path

from zoo.core.errors import EdgezooError
from zoo.core.worlds import KERAS3, get_keras

FILE_MODE = 0o644


class ModelFileError(EdgezooError, ValueError):
    """A model file that is missing, corrupt or not a Keras model."""


MAX_CONFIG_BYTES = 64 << 20  # a .keras archive's config.json (or metadata.json), unpacked


def read_member(z: zipfile.ZipFile, name: str, path, absent: bytes | None = None) -> bytes:
    """A .keras archive's JSON member (``absent`` when it has none), refused with one line when
    it unpacks to more than any model's configuration (a zip bomb) before it is unpacked."""
    if absent is not None and name not in z.namelist():
        return absent
    size = z.getinfo(name).file_size
    if size > MAX_CONFIG_BYTES:
        raise ModelFileError(
            f"{path}: its {name} unpacks to {size} bytes (more than {MAX_CONFIG_BYTES >> 20} "
            "MiB), far more than any model's configuration: a forged archive. Save the model again."
        )
    return z.read(name)


def custom_objects(world: str = KERAS3) -> dict:
    """Every edgezoo custom class of ``world`` (registered as a side effect)."""
    from zoo.layers import materialize_all

    return materialize_all(get_keras(world))


def atomic_save(model, path: str | os.PathLike) -> Path:
    """Save ``model`` to ``path`` (``.keras`` or ``.h5``) through a temporary file, then rename."""
    path = _checked(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; run-directory files are ordinary files
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_model(
    path: str | os.PathLike, *, world: str = KERAS3, compile: bool = True, hgq: bool = False
):
    """Load a ``.keras`` model saved by edgezoo (or plain Keras) in ``world``.

    A run directory's model file is input too (anyone can replace it): the whole config is
    scanned first (:func:`zoo.imported.files.check_model_file`) and a file that can carry code is
    refused; then it loads with the loader's safe mode. ``hgq``: the model directory says the
    model is an HGQ2 model (edgezoo's compress step ``hgq``): HGQ2's own layers and quantizers,
    installed with edgezoo, are registered with Keras (by importing ``hgq``) before the scan, so
    they are known; the file still cannot name any other code.

    Raises :class:`ModelFileError` naming the file for a missing, corrupt or foreign file.
    """
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"Model file not found: {path}. Train one with `edgezoo train MODEL`.")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is not a Keras model archive (a .keras file is a zip with config.json and "
            "model.weights.h5); it is corrupt or of another format. Re-save or re-train the model."
        )
    from zoo.imported.files import check_model_file

    if hgq:
        import hgq as _hgq  # noqa: F401  (registers HGQ2's classes with Keras)
    check_model_file(path)  # nothing is deserialized before this passes
    from zoo.imported.policy import application_objects

    k = get_keras(world)
    objs = {**application_objects(world), **custom_objects(world)}
    if world != KERAS3:
        from zoo.core.worlds import qkeras_custom_objects

        objs.update(qkeras_custom_objects())
    kw = {"safe_mode": True} if world == KERAS3 or path.suffix == ".keras" else {}
    try:
        return k.models.load_model(path, custom_objects=objs, compile=compile, **kw)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise ModelFileError(
            f"Could not load {path} as a {world} model: {type(exc).__name__}: {exc}. "
            "The file is corrupt, from an incompatible Keras version, or uses layers edgezoo "
            "does not know."
        ) from exc


def _checked(path) -> Path:
    """``path``, unless it is a link or leads out of its run directory (:func:`zoo.core.paths.check_path`)."""
    from zoo.core.paths import check_path

    return check_path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` through a temporary file in the same folder, then rename: readers never
    see a half-written file. Every stage's JSON and Markdown go through here. A ``path`` that
    is a symbolic link, or whose folder leads out of its edgezoo directory, is refused."""
    path = _checked(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; run-directory files are ordinary files
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it visible
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    """JSON (indented, numpy values as plain numbers) written atomically."""
    import json

    return write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def tmp_path_for(path: Path) -> Path:
    """A fresh temporary path next to ``path`` (same file system, so ``os.replace`` is atomic);
    it keeps ``path``'s suffix, so writers that choose a format by suffix (numpy, matplotlib) work."""
    path = _checked(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
    )
    os.close(fd)
    os.unlink(tmp)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path to write ``path`` through (any writer: numpy, matplotlib, a
    converter); it is renamed to ``path`` only if the block succeeds, else removed. The one
    atomic-write helper for files not written by :func:`write_text_atomic`."""
    path = Path(path)
    tmp = tmp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
