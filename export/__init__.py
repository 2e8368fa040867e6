"""Export stage: verified ONNX, TFLite/LiteRT, TFLM, OpenVINO and hls4ml artifacts of edgezoo model directories.

``export_run(run_dir, to=("onnx", "tflite", "hls4ml"), out=None, **opts) -> manifest dict``;
one plug-in per target in :mod:`export.targets` (name, variants, parity bounds, export and
verify, options, bench runtime), the converters in :mod:`export.onnx`, :mod:`export.tflite`,
:mod:`export.openvino`, :mod:`export.targets.hls4ml`; parity in :mod:`export.verify`; the manifest in
:mod:`export.manifest`. Imports zoo, training and compress only (and heavy libraries lazily).
"""

from export.api import TARGETS, ExportOptions, check_targets, export_model, export_run
from export.common import ExportData
from export.errors import ExportError, ExportFailed, ExportOptionsError, UnsupportedModelError

__all__ = [
    "TARGETS",
    "ExportData",
    "ExportError",
    "ExportFailed",
    "ExportOptions",
    "ExportOptionsError",
    "UnsupportedModelError",
    "check_targets",
    "export_model",
    "export_run",
]
