"""Compression (stage 3: imports only zoo and training): distillation, magnitude pruning
(tensorflow-model-optimization) and quantization-aware training (QKeras), composable.

``compress(run_dir, distill_from=..., student=..., prune=0.75, bits=6)`` runs the requested
steps in the order distill -> prune -> QAT and writes one model directory per step
(``1-distill``, ``2-prune``, ``3-qat``) with a ``compression.json`` each; see
:mod:`compress.recipe`. The steps are also usable one by one (:func:`prune`, :func:`qat`,
:func:`qkeras_twin`, :func:`distill`), and :func:`model_stats` measures any model.
"""

from compress.book import STEP_DIRS, CompressionResult, StepResult
from compress.distill import distill, logits_model
from compress.errors import CompressionError, UnsupportedLayerError
from compress.metrics import BOPS_FORMULA, model_stats, sparsity_report, task_metric
from compress.options import CompressOptions
from compress.prune import prune, select_layers
from compress.quantize import qat, qkeras_twin, snap_to_grid
from compress.recipe import compress

__all__ = [
    "BOPS_FORMULA",
    "STEP_DIRS",
    "CompressOptions",
    "CompressionError",
    "CompressionResult",
    "StepResult",
    "UnsupportedLayerError",
    "compress",
    "distill",
    "logits_model",
    "model_stats",
    "prune",
    "qat",
    "qkeras_twin",
    "select_layers",
    "snap_to_grid",
    "sparsity_report",
    "task_metric",
]
