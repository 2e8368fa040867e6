"""Parity: every artifact against the Keras model it came from, on the test split.

Float artifacts are held to a scale-aware bound, element by element, as ``numpy.allclose`` and
Keras' own export tests do: ``|out - ref| <= atol + rtol * |ref|`` with ``atol`` the
``max_abs_diff`` entry (fp32 1e-4 for ONNX, TFLite and OpenVINO, TFLite fp16 1e-2) and ``rtol``
(fp32 1e-5, fp16 5e-3): a model whose outputs are ~100 is allowed the float rounding of numbers
of that size, a model with outputs ~1 the absolute bound. (fp32 atol was 1e-5 for ONNX: a
trained MobileNet-v1 -- 14 convolutions, 7.5M MACs -- differs from Keras by 2e-5 in its
probabilities in onnxruntime and OpenVINO alike, kernels summing in another order; a wrong bias
of 0.05 is still caught 500 times over.) Both parts are recorded with the
figures; ``allclose_ratio`` is the worst element's ``|diff|`` over its bound (<= 1 passes). Quantized
artifacts (int8, dynamic-range, fixed point) are judged by what they are for: for classifiers
the agreement of the predicted class with Keras and the drop of test accuracy; for every task
the relative error ``||out - ref|| / ||ref||`` and, where the task has one, the change of its
metric (reconstruction MSE). ``max|diff|`` is always reported.

Argmax agreement and near-ties: when Keras itself rates two classes within ``tie_tolerance``
of each other (a near-uniform output, e.g. a barely trained model), any quantized artifact may
pick either, and that says nothing about the export. ``argmax_agreement`` is the raw figure;
``argmax_agreement_tol`` counts a disagreement as agreement when Keras's probability of the
artifact's class is within ``tie_tolerance`` of its own top class (``near_ties`` says how many);
the bound ``min_argmax_agreement`` applies to the latter, and ``max_accuracy_drop`` to
``accuracy_drop_tol`` (the drop caused by the decisive disagreements; the raw ``accuracy_drop``
is reported next to it). A broken artifact cannot hide behind ties: ``rel_error`` is bounded too.

A threshold is failed when the figure is worse than the bound; :func:`check` returns one
readable line per failure.
"""

from __future__ import annotations

import numpy as np

from export.errors import ExportOptionsError
from zoo.core.introspect import predicted_class

# Bounds per kind of variant, for any target ("*/variant"); each target module declares its own
# "name/variant" bounds (export/targets/), which apply on top of these.
GENERIC_THRESHOLDS: dict[str, dict[str, float]] = {
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


def default_thresholds() -> dict[str, dict[str, float]]:
    """Bounds per (format, variant): the registered targets' own, then the generic ones."""
    from export import targets

    return {**targets.default_thresholds(), **GENERIC_THRESHOLDS}


# Threshold entries that parametrize a figure rather than bound one; "rtol" turns max_abs_diff
# into the atol of an element-wise |out - ref| <= atol + rtol * |ref| bound.
PARAMETERS = ("tie_tolerance", "rtol")
# The figure each bound reads, and whether it is an upper ("max") or lower ("min") bound.
_BOUNDS = {
    "max_abs_diff": ("max_abs_diff", "max"),
    "min_argmax_agreement": ("argmax_agreement_tol", "min"),
    "max_accuracy_drop": ("accuracy_drop_tol", "max"),
    "max_rel_error": ("rel_error", "max"),
    "max_metric_increase": ("metric_increase", "max"),
}


def thresholds_for(fmt: str, variant: str, overrides: dict | None = None) -> dict[str, float]:
    """The bounds for one artifact: defaults, then ``overrides`` keyed like the defaults."""
    out: dict[str, float] = {}
    defaults = default_thresholds()
    for key in (f"*/{variant}", f"{fmt}/{variant}"):
        out.update(defaults.get(key, {}))
        out.update((overrides or {}).get(key, {}))
    return out


def threshold_keys() -> list[str]:
    """Every key ``thresholds`` accepts: "target/variant" of each registered target, and
    "*/variant" for every variant any target has."""
    from export import targets

    keys = [f"{t.format}/{v}" for t in targets.all_targets() for v in t.variants]
    variants = dict.fromkeys(v for t in targets.all_targets() for v in t.variants)
    return keys + [f"*/{v}" for v in variants]


def _close(value: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(value, list(known), n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def validate_thresholds(overrides: dict | None):
    """Refuse, with one line, any key that would be silently ignored: a ``format/variant`` no
    target exports (``onnx/int9``) or a bound no figure has."""
    if overrides is None:
        return
    if not isinstance(overrides, dict):
        raise ExportOptionsError(
            f"thresholds must be a mapping of 'format/variant' to bounds. Received: {overrides!r}"
        )
    keys = threshold_keys()
    known_bounds = sorted(_BOUNDS) + list(PARAMETERS)
    for key, bounds in overrides.items():
        if not isinstance(key, str) or "/" not in key or not isinstance(bounds, dict):
            raise ExportOptionsError(
                f"thresholds are keyed 'format/variant' (or '*/variant') with a dict of bounds. Received: {key!r}: {bounds!r}"
            )
        if key not in keys:
            raise ExportOptionsError(
                f"unknown thresholds key {key!r}: no target exports that variant, so its bounds would "
                f"be ignored.{_close(key, keys)} Known: {', '.join(keys)}."
            )
        for name, value in bounds.items():
            if name not in known_bounds:
                raise ExportOptionsError(
                    f"unknown threshold {name!r} for {key!r}.{_close(str(name), known_bounds)} "
                    f"Known: {', '.join(known_bounds)}."
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ExportOptionsError(
                    f"threshold {key}.{name} must be a number. Received: {value!r}"
                )


def keras_margin(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
    """How much more Keras believes its own class than class ``other`` (probability units)."""
    r = ref.reshape(len(ref), -1)
    if r.shape[1] == 1:  # one sigmoid unit: classes 1 (p) and 0 (1 - p)
        p = r[:, 0]
        return np.where(other == (p > 0.5), 0.0, np.abs(2 * p - 1))
    rows = np.arange(len(r))
    return r[rows, r.argmax(-1)] - r[rows, other]


def allclose_ratio(ref, out, atol: float, rtol: float) -> float:
    """max over elements of ``|out - ref| / (atol + rtol * |ref|)``: <= 1 is numpy.allclose."""
    ref = np.asarray(ref, dtype=np.float64)
    out = np.asarray(out, dtype=np.float64).reshape(ref.shape)
    if not ref.size:
        return 0.0
    return float((np.abs(out - ref) / (atol + rtol * np.abs(ref))).max())


# A reference whose outputs vary less than this, relative to their size, across the test inputs
# (an untrained or collapsed model: every input gets the same answer) makes parity a comparison
# of constants: any artifact that outputs the same constant "passes".
MIN_SPREAD = 1e-3
# ... and a classifier that gives every input the same class with a median top-two margin below
# this is deciding nothing (near-ties everywhere).
MIN_MARGIN = 0.02


def informativeness(
    ref: np.ndarray, task: str, atol: float | None = None, rtol: float | None = None
) -> dict:
    """Whether the reference outputs vary enough across the test inputs for parity to prove
    anything: ``{"informative": bool, "reference_spread": max over outputs of their std over
    the inputs / the largest |output|, "uninformative": why}`` (the last only when not).
    With ``atol``/``rtol`` (a float artifact's element-wise bound), a reference whose mean, given
    for every input, would fail that bound is informative however small its spread. A
    warning-level fact, not a failure."""
    ref = np.asarray(ref, dtype=np.float64)
    if len(ref) < 2 or not ref.size or not np.isfinite(ref).all():
        return {"informative": True, "reference_spread": None}
    flat = ref.reshape(len(ref), -1)
    scale = float(np.abs(flat).max())
    spread = float(flat.std(axis=0).max() / scale) if scale > 0 else 0.0
    out = {"informative": True, "reference_spread": spread}
    # with an element-wise bound: small outputs around a large offset (a regression near 300)
    # still prove something when an artifact answering the mean for every input would fail it
    constant_fails = (
        atol is not None
        and rtol is not None
        and allclose_ratio(ref, np.broadcast_to(ref.mean(0), ref.shape), atol, rtol) > 1.0
    )
    if spread < MIN_SPREAD and not constant_fails:
        out["informative"] = False
        out["uninformative"] = (
            f"the Keras outputs barely vary across the {len(ref)} test inputs (spread "
            f"{spread:.1e} of their scale): an untrained or collapsed model, so agreeing with "
            "it proves little"
        )
    elif task == "classification" and flat.shape[1] > 1:
        top2 = np.sort(flat, axis=1)[:, -2:]
        margin = float(np.median(top2[:, 1] - top2[:, 0]))
        out["median_margin"] = margin
        if len(np.unique(flat.argmax(1))) == 1 and margin < MIN_MARGIN:
            out["informative"] = False
            out["uninformative"] = (
                f"the Keras model gives all {len(ref)} test inputs the same class with near-ties "
                f"(median top-two margin {margin:.3f}): agreeing with it proves little"
            )
    return out


def compare(
    ref: np.ndarray,
    out: np.ndarray,
    *,
    task: str,
    x=None,
    y=None,
    tie_tolerance: float = 0.0,
    atol: float | None = None,
    rtol: float | None = None,
) -> dict:
    """Parity figures of artifact output ``out`` against Keras output ``ref``.

    ``x`` (the inputs) is needed for the reconstruction metric, ``y`` (labels) for accuracy;
    ``atol`` and ``rtol`` given: ``allclose_ratio`` (the scale-aware float bound's figure).
    """
    ref = np.asarray(ref, dtype=np.float64)
    out = np.asarray(out, dtype=np.float64).reshape(ref.shape)
    diff = np.abs(out - ref)
    fig: dict = {
        "n": int(len(ref)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "rel_error": float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-12)),
        "finite": bool(np.isfinite(out).all()),
        **informativeness(ref, task, atol, rtol),
    }
    if atol is not None and rtol is not None:
        fig["allclose_ratio"] = allclose_ratio(ref, out, atol, rtol)
        fig["atol"], fig["rtol"] = float(atol), float(rtol)
    if task == "classification":
        pk, po = predicted_class(ref), predicted_class(out)
        agree = pk == po
        ties = ~agree & (keras_margin(ref, po) <= tie_tolerance)
        fig["argmax_agreement"] = float(agree.mean())
        fig["argmax_agreement_tol"] = float((agree | ties).mean())
        fig["near_ties"] = int(ties.sum())
        fig["tie_tolerance"] = float(tie_tolerance)
        if y is not None:
            y = np.asarray(y).reshape(-1)
            fig["keras_accuracy"] = float((pk == y).mean())
            fig["accuracy"] = float((po == y).mean())
            fig["accuracy_drop"] = fig["keras_accuracy"] - fig["accuracy"]
            fig["accuracy_delta"] = fig["accuracy"] - fig["keras_accuracy"]
            resolved = np.where(ties, pk, po)  # near-ties resolved as Keras decided
            fig["accuracy_drop_tol"] = fig["keras_accuracy"] - float((resolved == y).mean())
    elif task == "reconstruction" and x is not None:
        x = np.asarray(x, dtype=np.float64).reshape(ref.shape)
        mk = float(((ref - x) ** 2).mean())
        mo = float(((out - x) ** 2).mean())
        fig.update(
            {
                "metric": "mse",
                "keras_mse": mk,
                "mse": mo,
                "metric_increase": (mo - mk) / max(mk, 1e-12),
            }
        )
    elif task == "regression" and y is not None:
        y = np.asarray(y, dtype=np.float64).reshape(ref.shape)
        mk, mo = float(((ref - y) ** 2).mean()), float(((out - y) ** 2).mean())
        fig.update(
            {
                "metric": "mse",
                "keras_mse": mk,
                "mse": mo,
                "metric_increase": (mo - mk) / max(mk, 1e-12),
            }
        )
    return fig


def check(figures: dict, bounds: dict[str, float], *, task: str) -> list[str]:
    """One line per failed bound. Bounds on figures the task does not have are not applicable."""
    failures = []
    if not figures.get("finite", True):
        failures.append("non-finite outputs")
    for bound, limit in bounds.items():
        if bound in PARAMETERS:
            continue
        name, kind = _BOUNDS[bound]
        if task != "classification" and name in ("argmax_agreement_tol", "accuracy_drop_tol"):
            continue
        value = figures.get(name)
        if value is None:
            continue
        if bound == "max_abs_diff" and "rtol" in bounds and "allclose_ratio" in figures:
            if not figures["allclose_ratio"] <= 1.0:
                failures.append(
                    f"max_abs_diff {value:.4g} exceeds atol + rtol * |ref| (atol {limit:g}, rtol "
                    f"{bounds['rtol']:g}; worst element {figures['allclose_ratio']:.3g}x its bound)"
                )
            continue
        if (kind == "max" and not value <= limit) or (kind == "min" and not value >= limit):
            op = "<=" if kind == "max" else ">="
            failures.append(f"{name} {value:.4g} (needs {op} {limit:g})")
    return failures
