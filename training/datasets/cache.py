"""Where data set files live and what edgezoo computes from them, once: the folder
(``$EDGEZOO_DATA``, default ``~/.cache/edgezoo``), whether downloading is allowed, and the
features cache next to a data set's files."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.core.io import atomic_path


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEZOO_DATA", Path.home() / ".cache" / "edgezoo")).expanduser()


def offline() -> bool:
    """``EDGEZOO_OFFLINE`` set (to anything but 0): never download."""
    return os.environ.get("EDGEZOO_OFFLINE", "") not in ("", "0")


def cached_features(
    name: str, root: Path, files: list[Path], params: dict, compute: Callable[[], dict]
) -> dict:
    """``compute()`` once per (file list, sizes, params); the arrays live in ``root/features-<key>.npz``."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for f in files:
        h.update(f"{f.relative_to(root)}:{f.stat().st_size}\n".encode())
    path = root / f"features-{h.hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    arrays = compute()
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return arrays
