"""The Keras Applications architectures of ``edgezoo bench-compat``: how each is built small.

Every entry is built with ``weights=None`` (no download, fresh weights), 10 classes and the
smallest input the constructor accepts near 32x32 (InceptionV3 needs 75, Xception 71); the
MobileNets at a small width multiplier (``alpha``) as an edge user would pick them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zoo.errors import EdgezooError


@dataclass(frozen=True)
class Arch:
    fn: str  # the constructor's name in keras.applications (and tf_keras.applications)
    size: int = 32
    kwargs: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, 3)


ARCHS: dict[str, Arch] = {
    "MobileNet": Arch("MobileNet", kwargs={"alpha": 0.25}),
    "MobileNetV2": Arch("MobileNetV2", kwargs={"alpha": 0.35}),
    "MobileNetV3Small": Arch("MobileNetV3Small", kwargs={"alpha": 0.75}),
    "MobileNetV3Large": Arch("MobileNetV3Large", kwargs={"alpha": 0.75}),
    "EfficientNetB0": Arch("EfficientNetB0"),
    "EfficientNetB1": Arch("EfficientNetB1"),
    "EfficientNetB2": Arch("EfficientNetB2"),
    "EfficientNetB3": Arch("EfficientNetB3"),
    "EfficientNetV2B0": Arch("EfficientNetV2B0"),
    "EfficientNetV2B1": Arch("EfficientNetV2B1"),
    "EfficientNetV2B2": Arch("EfficientNetV2B2"),
    "ResNet50": Arch("ResNet50"),
    "ResNet50V2": Arch("ResNet50V2"),
    "DenseNet121": Arch("DenseNet121"),
    "NASNetMobile": Arch("NASNetMobile"),
    "Xception": Arch("Xception", size=71),
    "InceptionV3": Arch("InceptionV3", size=75),
    "ConvNeXtTiny": Arch("ConvNeXtTiny"),
    "VGG16": Arch("VGG16"),
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
