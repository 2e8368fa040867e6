"""The parity table: every bound an artifact is checked against, in one place, and the one rule
that merges the user's overrides into it.

A row is keyed ``"target/variant"`` (``"onnx/fp32"``) or ``"*/variant"`` (every target's
``variant``). Its bounds -- ``max_abs_diff`` (atol) and ``rtol`` for float artifacts,
``min_argmax_agreement``, ``max_accuracy_drop``, ``max_rel_error`` and ``tie_tolerance`` for
quantized ones (:mod:`export.verify` computes the figures they bound) -- come from:

* :data:`GENERIC` (the ``*/int8``, ``*/dynamic``, ``*/fixed`` rows below), and
* each target's own rows (``Target(thresholds=...)`` in its ``export/targets/`` module).

The dynamic-batch check of a row (batch 1 and batch N, :func:`dynamic_batch`) is declared by the
target too (``Target(dynamic_batch=...)``): against the Keras outputs with the row's own
``max_abs_diff``/``rtol``; against the artifact's own full run with a fixed ``atol`` (a quantized
artifact is deterministic per sample); or ``atol`` None, "runs at both batch sizes".

:func:`bounds` is the one merge: for an artifact ``fmt/variant``, the ``*/variant`` row then the
``fmt/variant`` row, each followed by the user's overrides of that key (``--thresholds`` JSON,
a recipe's ``export: {thresholds: ...}``), so a more specific key wins and, at the same key, the
user wins. Nothing else in ``export/`` writes a bound.

The float rows: fp32 ``max_abs_diff`` 1e-4 and ``rtol`` 1e-5 for ONNX, TFLite and OpenVINO,
TFLite fp16 1e-2 and 5e-3. (fp32 atol was 1e-5 for ONNX: a trained MobileNet-v1 -- 14
convolutions, 7.5M MACs -- differs from Keras by 2e-5 in its probabilities in onnxruntime and
OpenVINO alike, kernels summing in another order; a wrong bias of 0.05 is still caught 500 times
over.)
"""

from __future__ import annotations

import difflib

from export import targets
from export.errors import ExportOptionsError
from export.verify import BOUNDS, PARAMETERS

# Bounds per kind of variant, for any target ("*/variant"); each target declares its own
# "name/variant" rows (export/targets/), which apply on top of these.
GENERIC: dict[str, dict[str, float]] = {
    "*/int8": {
        "min_argmax_agreement": 0.95,
        "max_accuracy_drop": 0.02,
        "max_rel_error": 0.10,
        "tie_tolerance": 0.05,
    },
    "*/dynamic": {
        "min_argmax_agreement": 0.97,
        "max_accuracy_drop": 0.02,
        "max_rel_error": 0.05,
        "tie_tolerance": 0.02,
    },
    "*/fixed": {
        "min_argmax_agreement": 0.98,
        "max_accuracy_drop": 0.01,
        "max_rel_error": 0.02,
        "tie_tolerance": 0.01,
    },
}


def table() -> dict[str, dict[str, float]]:
    """Every row's default bounds: each registered target's, then the generic ones."""
    out: dict[str, dict[str, float]] = {}
    for t in targets.all_targets():
        out.update({k: dict(v) for k, v in t.thresholds.items()})
    return {**out, **{k: dict(v) for k, v in GENERIC.items()}}


def dynamic_batch_table() -> dict[str, dict]:
    """Every row's dynamic-batch check, as its target declares it: ``{"reference": "keras" |
    "artifact", "atol": number | None}`` (no ``atol``: the row's ``max_abs_diff`` and ``rtol``)."""
    return {k: dict(v) for t in targets.all_targets() for k, v in t.dynamic_batch.items()}


def bounds(
    fmt: str, variant: str, overrides: dict | None = None, *, base: dict | None = None
) -> dict[str, float]:
    """The bounds one artifact is checked against: the ``*/variant`` row, then the
    ``fmt/variant`` row, each followed by ``overrides`` of the same key. ``base``: bounds that
    replace the table's rows for this one artifact (a target that sets its bound from an option,
    e.g. hls4ml's searched precision and its accuracy budget); the overrides still apply."""
    defaults = table() if base is None else {f"*/{variant}": base}
    out: dict[str, float] = {}
    for key in (f"*/{variant}", f"{fmt}/{variant}"):
        out.update(defaults.get(key, {}))
        out.update((overrides or {}).get(key, {}))
    return out


def dynamic_batch(fmt: str, variant: str, overrides: dict | None = None) -> dict:
    """The dynamic-batch check of ``fmt/variant``: ``{"reference": "keras" | "artifact",
    "atol": float | None, "rtol": float}``. A row that follows the parity bound takes its
    ``max_abs_diff`` and ``rtol`` after the overrides."""
    key = f"{fmt}/{variant}"
    row = dynamic_batch_table().get(key)
    if row is None:
        raise KeyError(f"{key}: its target declares no dynamic-batch check")
    if "atol" in row:
        return {"reference": row["reference"], "atol": row["atol"], "rtol": row.get("rtol", 0.0)}
    b = bounds(fmt, variant, overrides)
    return {"reference": row["reference"], "atol": b["max_abs_diff"], "rtol": b.get("rtol", 0.0)}


def keys() -> list[str]:
    """Every key ``thresholds`` accepts: "target/variant" of each registered target, and
    "*/variant" for every variant any target has."""
    keys = [f"{t.format}/{v}" for t in targets.all_targets() for v in t.variants]
    variants = dict.fromkeys(v for t in targets.all_targets() for v in t.variants)
    return keys + [f"*/{v}" for v in variants]


def _close(value: str, known) -> str:
    close = difflib.get_close_matches(value, list(known), n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def validate(overrides: dict | None):
    """Refuse, with one line, any key that would be silently ignored: a ``format/variant`` no
    target exports (``onnx/int9``) or a bound no figure has."""
    if overrides is None:
        return
    if not isinstance(overrides, dict):
        raise ExportOptionsError(
            f"thresholds must be a mapping of 'format/variant' to bounds. Received: {overrides!r}"
        )
    known_keys = keys()
    known_bounds = sorted(BOUNDS) + list(PARAMETERS)
    for key, row in overrides.items():
        if not isinstance(key, str) or "/" not in key or not isinstance(row, dict):
            raise ExportOptionsError(
                f"thresholds are keyed 'format/variant' (or '*/variant') with a dict of bounds. Received: {key!r}: {row!r}"
            )
        if key not in known_keys:
            raise ExportOptionsError(
                f"unknown thresholds key {key!r}: no target exports that variant, so its bounds would "
                f"be ignored.{_close(key, known_keys)} Known: {', '.join(known_keys)}."
            )
        for name, value in row.items():
            if name not in known_bounds:
                raise ExportOptionsError(
                    f"unknown threshold {name!r} for {key!r}.{_close(str(name), known_bounds)} "
                    f"Known: {', '.join(known_bounds)}."
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ExportOptionsError(
                    f"threshold {key}.{name} must be a number. Received: {value!r}"
                )
