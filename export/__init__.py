"""Export stage: verified ONNX, TFLite/LiteRT, TFLM, OpenVINO and hls4ml artifacts of edgezoo model directories.

``export_run(run_dir, to=("onnx", "tflite", "hls4ml"), out=None, **opts) -> manifest dict``;
one folder per target in :mod:`export.targets` (name, variants, options, parity rows, its
converter, export and verify, bench runtime; :mod:`export.targets.hls4ml` and :mod:`export.targets.rtl` for the FPGA), talking to the
export through :mod:`export.recorder`; the parity table in :mod:`export.parity`, the figures in
:mod:`export.verify`; the manifest in :mod:`export.manifest`. Imports zoo, training and compress only (and heavy libraries lazily).
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
