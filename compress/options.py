"""The options of ``compress()``, declared once (:mod:`zoo.core.options`).

``edgezoo compress`` derives its flags from :class:`CompressOptions`, the recipe's ``compress:``
section is validated by it, and :func:`compress.recipe.compress` accepts its fields as keyword
arguments. Every check that needs no model is here (:meth:`CompressOptions.check`); the checks
that need the model (layer names, teacher/student fit) run in :mod:`compress.recipe` before any
training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from compress.errors import CompressionError
from compress.hgq_step import hgq_settings
from compress.prune import SCHEDULES, check_sparsity
from compress.quantizers import check_bits
from zoo.core.options import OptionError, option, validate


@dataclass
class CompressOptions:
    distill_from: str | os.PathLike | None = option(
        None, "teacher run; RUN_DIR is the student", metavar="TEACHER_DIR"
    )
    student: str | None = option(
        None, "zoo model to distill RUN_DIR (the teacher) into", metavar="MODEL"
    )
    student_overrides: dict | None = option(
        None,
        "builder overrides of the student model (command line: --student-set KEY=VALUE)",
        cli=False,
    )
    prune: float | None = option(None, "target sparsity in [0, 1), e.g. 0.75", metavar="SPARSITY")
    prune_layers: str | tuple[str, ...] | None = option(
        None,
        "comma-separated layer names/patterns to prune (none: every Dense/Conv but the output)",
        metavar="NAMES",
    )
    prune_schedule: str = option(
        "polynomial",
        "tfmot pruning schedule (polynomial: 0 -> target over 70%% of the fine-tuning)",
        choices=SCHEDULES,
        flag="--schedule",
        metavar="{" + ",".join(SCHEDULES) + "}",
    )
    bits: int | None = option(
        None, "QAT bit width for weights and activations, e.g. 6", metavar="BITS"
    )
    layer_bits: dict | None = option(
        None,
        "per-layer bit widths, e.g. {fc1: 8} (command line: --layer-bits LAYER=BITS)",
        cli=False,
    )
    weight_integer: int | str = option(
        "auto",
        "integer bits of quantized_bits weights: auto (from the weight range) or a number",
        metavar="auto|N",
    )
    act_integer: int | str = option(
        "auto",
        "integer bits of quantized_relu: auto (from the activation range) or a number",
        metavar="auto|N",
    )
    hgq: dict | None = option(
        None,
        "HGQ2 step (learned per-weight bits): JSON settings beta0, beta1, beta_end, epochs, "
        "accuracy_budget, weight_bits0, act_f0, batch_size",
        metavar="JSON",
    )
    epochs: int = option(10, "fine-tuning epochs per step", min=1)
    distill_epochs: int | None = option(
        None, "epochs of the distillation step; none: --epochs", min=1
    )
    batch_size: int = option(64, "fine-tuning batch size", min=1)
    learning_rate: float = option(1e-3, "learning rate of every step", flag="--lr", metavar="LR")
    temperature: float = option(3.0, "distillation temperature")
    student_loss_weight: float = option(
        0.5, "weight of the label loss; 1 - it weighs the distillation loss"
    )
    scratch_baseline: bool = option(
        True, "also train the student from scratch as a baseline (distillation)", flag="--scratch"
    )
    seed: int | None = option(None, "seed; none: the run's")

    @property
    def distilling(self) -> bool:
        return self.distill_from is not None or self.student is not None

    @property
    def steps(self) -> list[str]:
        """The step names this request produces, in order."""
        return [
            *(["distill"] if self.distilling else []),
            *(["prune"] if self.prune is not None else []),
            *(["qat"] if self.bits is not None else []),
            *(["hgq"] if self.hgq is not None else []),
        ]

    def check(self):
        """Rules between the options; raises :class:`CompressionError` naming the bad value."""
        if not self.steps:
            raise CompressionError(
                "Nothing to do: ask for at least one of distill_from/student (--distill-from, "
                "--student), prune (--prune), bits (--bits) and hgq (--hgq)."
            )
        if self.distill_from is not None and self.student is not None:
            raise CompressionError(
                "Give either distill_from (RUN_DIR is the student, --distill-from the teacher) "
                "or student (RUN_DIR is the teacher, --student the new student model), not both."
            )
        if self.student_overrides and self.student is None:
            raise CompressionError("student_overrides need student=MODEL (--student).")
        if self.hgq is not None:
            hgq_settings(self.hgq)
        if self.prune is not None:
            check_sparsity(self.prune)
        elif self.prune_layers:
            raise CompressionError(
                "prune_layers given without a target sparsity (prune=..., --prune)."
            )
        if self.bits is not None:
            check_bits(self.bits)
        elif self.layer_bits:
            raise CompressionError(
                "layer_bits given without a global bit width (bits=..., --bits)."
            )
        for name, b in (self.layer_bits or {}).items():
            check_bits(b, f"layer_bits[{name!r}]")
        for name in ("weight_integer", "act_integer"):
            v = getattr(self, name)
            if v != "auto" and (isinstance(v, str) or v < 0):
                raise CompressionError(
                    f"{name} must be 'auto' or an integer >= 0. Received: {name}={v!r}"
                )
        if not self.learning_rate > 0:
            raise CompressionError(
                f"learning_rate must be > 0. Received: learning_rate={self.learning_rate!r}"
            )
        if self.distilling:
            if not self.temperature > 0:
                raise CompressionError(
                    f"temperature must be > 0. Received: temperature={self.temperature!r}"
                )
            if not 0 <= self.student_loss_weight <= 1:
                raise CompressionError(
                    "student_loss_weight must lie in [0, 1]. "
                    f"Received: student_loss_weight={self.student_loss_weight!r}"
                )


def compress_options(options: dict | None = None, **kw) -> CompressOptions:
    """Checked :class:`CompressOptions` from keyword arguments or a recipe section; any problem is
    one :class:`CompressionError`."""
    try:
        return validate(CompressOptions, {**(options or {}), **kw}, where="compress")
    except OptionError as exc:
        raise CompressionError(str(exc)) from None


validate_request = compress_options  # the earlier name
