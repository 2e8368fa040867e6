"""Export stage: verified ONNX, TFLite/LiteRT and hls4ml artifacts of edgezoo model directories.

``export_run(run_dir, to=("onnx", "tflite", "hls4ml"), out=None, **opts) -> manifest dict``;
one module per target (:mod:`export.onnx`, :mod:`export.tflite`, :mod:`export.hls`), each with an
export function and a verify step; parity in :mod:`export.verify`; the manifest in
:mod:`export.manifest`. Imports zoo and training only (and heavy libraries lazily).
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
