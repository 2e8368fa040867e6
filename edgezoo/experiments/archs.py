"""The Keras Applications architectures of ``edgezoo bench-compat``: how each is built small.

Every entry is built with ``weights=None`` (no download, fresh weights), 10 classes and the
smallest input the constructor accepts near 32x32 (InceptionV3 needs 75, Xception 71), fed as
its ``preprocess_input`` makes 0-255 images (:func:`preprocess`); the
MobileNets at a small width multiplier (``alpha``) as an edge user would pick them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zoo.core.errors import EdgezooError


@dataclass(frozen=True)
class Arch:
    fn: str  # the constructor's name in keras.applications (and tf_keras.applications)
    prep: str  # its module in keras.applications, whose preprocess_input makes its inputs
    size: int = 32
    kwargs: dict = field(default_factory=dict)
    lr: float = 3e-3  # Adam's rate of bench-compat's fit (compat_fit.LR, where it is measured)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, 3)


ARCHS: dict[str, Arch] = {
    "MobileNet": Arch("MobileNet", "mobilenet", kwargs={"alpha": 0.25}),
    "MobileNetV2": Arch("MobileNetV2", "mobilenet_v2", kwargs={"alpha": 0.35}),
    "MobileNetV3Small": Arch("MobileNetV3Small", "mobilenet_v3", kwargs={"alpha": 0.75}),
    "MobileNetV3Large": Arch("MobileNetV3Large", "mobilenet_v3", kwargs={"alpha": 0.75}),
    "EfficientNetB0": Arch("EfficientNetB0", "efficientnet"),
    "EfficientNetB1": Arch("EfficientNetB1", "efficientnet"),
    "EfficientNetB2": Arch("EfficientNetB2", "efficientnet"),
    "EfficientNetB3": Arch("EfficientNetB3", "efficientnet"),
    "EfficientNetV2B0": Arch("EfficientNetV2B0", "efficientnet_v2"),
    "EfficientNetV2B1": Arch("EfficientNetV2B1", "efficientnet_v2"),
    "EfficientNetV2B2": Arch("EfficientNetV2B2", "efficientnet_v2"),
    "ResNet50": Arch("ResNet50", "resnet50"),
    "ResNet50V2": Arch("ResNet50V2", "resnet_v2"),
    "DenseNet121": Arch("DenseNet121", "densenet"),
    "NASNetMobile": Arch("NASNetMobile", "nasnet"),
    "Xception": Arch("Xception", "xception", size=71),
    "InceptionV3": Arch("InceptionV3", "inception_v3", size=75),
    "ConvNeXtTiny": Arch("ConvNeXtTiny", "convnext"),
    # no BatchNormalization: at 3e-3 it did not learn (accuracy 0.12, reference spread 0.001)
    "VGG16": Arch("VGG16", "vgg16", lr=1e-4),
}


class UnknownArchError(EdgezooError, ValueError):
    pass


def check_names(names) -> list[str]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    bad = [n for n in names if n not in ARCHS]
    if bad or not names:
        raise UnknownArchError(
            f"bench-compat: unknown architecture(s) {bad or names}; choose from {', '.join(ARCHS)}"
        )
    return list(dict.fromkeys(names))


def preprocess(name: str, images):
    """``keras.applications.<module>.preprocess_input`` on 0-255 images: the inputs the
    architecture expects (identity for those that rescale inside, e.g. EfficientNet)."""
    import importlib

    mod = importlib.import_module(f"keras.applications.{ARCHS[name].prep}")
    return np.asarray(mod.preprocess_input(np.array(images, np.float32)), np.float32)


def build(name: str, world: str = "keras"):
    """``keras.applications.<fn>(weights=None, classes=10, ...)`` in Keras 3 or tf-keras."""
    if world == "tf_keras":
        import tf_keras

        apps = tf_keras.applications
    else:
        import keras

        apps = keras.applications
    a = ARCHS[name]
    return getattr(apps, a.fn)(weights=None, input_shape=a.input_shape, classes=10, **a.kwargs)
