"""``manifest.json``: what an export wrote, from what, and how well it agrees with Keras.

Schema (``"schema": "edgezoo.export/1"``)::

    {
      "schema": "edgezoo.export/1",
      "created": ISO time, "versions": {tensorflow, keras, tf_keras, onnx, onnxruntime, hls4ml, ...},
      "source": {"dir": path relative to the export dir (or null), "model", "dataset", "world",
                 "task", "quantized", "sparsity", "sha256" (of model.keras, or of the weights when
                 exported from memory: "sha256_of"), "bytes", "keras_metrics"},
      "data": {dataset, calibration_split "train", n_train, calibration_seed, n_calibration,
               parity_split "test", n_parity, labelled},
      "options": the effective export options,
      "artifacts": [
        {"format": a registered target (export/targets/), "variant": one of its variants,
         "path": relative to the export dir, "bytes", "sha256" (a directory: over its sources),
         "source_sha256", "seconds",
         "parity": {"n", "max_abs_diff", "mean_abs_diff", "rel_error", "argmax_agreement",
                    "argmax_agreement_tol", "near_ties", "tie_tolerance", "accuracy", "keras_accuracy",
                    "accuracy_delta", "accuracy_drop", "accuracy_drop_tol" (classifiers) | "mse",
                    "keras_mse", "metric_increase" (reconstruction), "dynamic_batch": {...},
                    "thresholds": {...}, "passed": bool, "failures": [str],
                    "informative": false when the Keras outputs barely vary across the test
                    inputs (a pass then proves little), "reference_spread", "median_margin",
                    "uninformative": why},
         "calibration": {"path", "n", "split"} (int8),
         format-specific: "opset", "io" (TFLite tensor dtypes, scale, zero point),
         "hls4ml" (backend, io_type, strategy, reuse_factor, part, clock_period_ns, precision
                   sources per layer, layer_types, weight_storage bits), "synthesis"
                   ({"run": false, "why"} or {"source": "Vivado/Vitis HLS C-synthesis report",
                   latency_cycles, latency_ns, interval_cycles, resources, "vivado_synth"}),
         "precision_search" (hls4ml precision="auto": keras_accuracy, accuracy_budget, baseline,
                   chosen widths, weight_bits_reduction, precision_check, simulation, n_steps,
                   rounds, confirmations (emulate only), record/plot paths),
         variant "rtl" (made by the rtl target, export/targets/rtl/): "rtl": {"tool": "da4ml", "top", "verilog" files,
                   "input_type", "layers", "latency": {"source": "da4ml estimate", "cycles", "ns",
                   "clock_ns", "interval_cycles"}, "resources": [{"source": "da4ml estimate" |
                   "yosys synth_xilinx", "LUT", "FF", "DSP", "BRAM_18K", ...}], "yosys",
                   "rtl_simulation": {"simulator": "verilator", "verilator" (version), "n",
                   "mismatched_samples", "bit_exact"}, "vs_keras_logits", "vs_hls4ml_csim"}},
        {"format", "variant", "error": "...", "parity": {"passed": false, ...}}  -- could not be produced
      ],
      "passed": bool, "failures": [str]
    }
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from export.common import sha256_file, tree_sha256
from zoo.core.errors import EdgezooError

SCHEMA = "edgezoo.export/1"


def relpath(path, start) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def artifact_entry(
    out_dir, path, *, fmt: str, variant: str, source_sha256: str, parity: dict, **extra
) -> dict:
    """One manifest row for a written artifact (a file, or a directory for an HLS project)."""
    path = Path(path)
    if path.is_dir():
        sha, nbytes = tree_sha256(path)
        extra.setdefault("kind", "directory")
    else:
        sha, nbytes = sha256_file(path), path.stat().st_size
    return {
        "format": fmt,
        "variant": variant,
        "path": relpath(path, out_dir),
        "bytes": int(nbytes),
        "sha256": sha,
        "source_sha256": source_sha256,
        "parity": parity,
        **extra,
    }


class ManifestError(EdgezooError, ValueError):
    """A manifest that cannot be trusted: missing keys, paths leaving its directory, or files that
    changed since the export (sha256 or size)."""


SCHEMAS = (SCHEMA,)  # the schemas this edgezoo reads; a manifest without "schema" is the first
_REEXPORT = "it was not written by `edgezoo export` or was edited; re-export the model."


@dataclass(frozen=True)
class Manifest:
    """A ``manifest.json``, checked and typed (the schema above); ``raw`` is the file as written."""

    schema: str
    source: dict
    artifacts: tuple  # of dicts, one per artifact (an "error" key: it could not be produced)
    passed: bool | None = None  # None: the manifest records no verdict
    failures: tuple = ()
    data: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    raw: Mapping = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d, where: str = "manifest.json") -> Manifest:
        """Check ``d`` (a parsed manifest) and type it; one :class:`ManifestError` line otherwise."""
        if isinstance(d, Manifest):
            return d
        if not isinstance(d, Mapping):
            raise ManifestError(f"{where} is not a JSON object; re-export with `edgezoo export`.")
        schema = d.get("schema", SCHEMA)
        if schema not in SCHEMAS:
            raise ManifestError(
                f"{where} has schema {schema!r}; this edgezoo reads {', '.join(SCHEMAS)}: "
                "re-export the model with this edgezoo."
            )
        missing = [k for k in ("source", "artifacts") if k not in d]
        if missing:
            raise ManifestError(f"{where} lacks {', '.join(map(repr, missing))}: {_REEXPORT}")
        arts = d["artifacts"]
        if not isinstance(arts, list) or not all(isinstance(a, dict) for a in arts):
            raise ManifestError(f"{where}: artifacts is not a list of objects: {_REEXPORT}")
        if not isinstance(d["source"], dict):
            raise ManifestError(f"{where}: source is not an object: {_REEXPORT}")
        passed = d.get("passed")
        return cls(
            schema,
            d["source"],
            tuple(arts),
            passed=None if passed is None else bool(passed),
            failures=tuple(d.get("failures") or ()),
            data=dict(d.get("data") or {}),
            options=dict(d.get("options") or {}),
            versions=dict(d.get("versions") or {}),
            raw=dict(d),
        )

    @classmethod
    def read(cls, path) -> Manifest:
        """The manifest file ``path`` (no file check: :func:`load_manifest` does those)."""
        import json

        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(
                f"{path} is not valid JSON ({exc}); re-export with `edgezoo export`."
            ) from exc
        return cls.from_dict(d, str(path))

    @property
    def produced(self) -> list[dict]:
        """The artifacts that were written (not the ones recorded as errors)."""
        return [a for a in self.artifacts if "error" not in a]


CHANGED = "changed since export"


def load_manifest(export_dir, *, allow_changed: bool = False) -> tuple[Manifest, Path, dict]:
    """Read ``EXPORT_DIR/manifest.json`` and check it against the files before anything uses them.

    Paths are taken relative to the manifest's own directory (never the current directory);
    artifact paths must stay inside it. Every artifact's and the source model's sha256 and size
    are compared with the manifest. Returns (manifest, source model directory, changed) where
    ``changed`` maps an artifact path (or "source") to what differs; a difference is a
    :class:`ManifestError` unless ``allow_changed``.
    """
    export_dir = Path(export_dir)
    path = export_dir / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{export_dir} has no manifest.json: run `edgezoo export RUN_DIR` first."
        )
    manifest = Manifest.read(path)
    src = manifest.source
    if not src.get("dir") or not src.get("sha256"):
        raise ManifestError(f"{path} lacks 'source.dir/source.sha256': {_REEXPORT}")
    changed = changed_files(export_dir, manifest)
    if changed and not allow_changed:
        first = next(iter(changed.items()))
        raise ManifestError(
            f"{len(changed)} file(s) of {export_dir} changed since export ({first[0]}: {first[1]}); "
            "re-export with `edgezoo export`, or pass --allow-changed to use them anyway, marked "
            f'"{CHANGED}".'
        )
    return manifest, (export_dir / src["dir"]).resolve(), changed


def changed_files(export_dir, manifest: Manifest) -> dict[str, str]:
    """{artifact path (or "source"): what differs} between the files of ``export_dir`` now and
    ``manifest`` (sha256 and size); an artifact or source that is missing is a
    :class:`ManifestError`. Run again after using the files to learn whether they changed
    meanwhile."""
    from zoo.core.paths import RunDirError, inside

    export_dir = Path(export_dir)
    path = export_dir / "manifest.json"
    src = manifest.source
    changed: dict[str, str] = {}
    for art in manifest.produced:
        rel = art.get("path")
        if not isinstance(rel, str) or Path(rel).is_absolute():
            raise ManifestError(
                f"{path}: artifact path {rel!r} must be relative to the manifest's directory; "
                "re-export the model."
            )
        try:
            full = inside(export_dir, rel, what=f"{path}: artifact path")
        except RunDirError as exc:
            raise ManifestError(str(exc)) from None
        if not full.exists():
            raise ManifestError(
                f"{full} listed in {path} is missing; re-export with `edgezoo export`."
            )
        why = _differs(full, art)
        if why:
            changed[rel] = why
    src_dir = (export_dir / src["dir"]).resolve()
    src_file = src_dir / str(src.get("sha256_of") or "model.keras")
    if not src_file.is_file():
        raise ManifestError(
            f"the source model {src_file} of {path} is missing (source.dir {src['dir']!r} is "
            "taken relative to the manifest); export again from the model directory."
        )
    if sha256_file(src_file) != src["sha256"]:
        changed["source"] = f"{src_file} sha256 differs from the manifest's"
    return changed


def _differs(full: Path, art: dict) -> str | None:
    if full.is_dir():
        sha, nbytes = tree_sha256(full)
    else:
        sha, nbytes = sha256_file(full), full.stat().st_size
    if art.get("bytes") is not None and int(art["bytes"]) != nbytes:
        return f"{nbytes} bytes, the manifest says {art['bytes']}"
    if sha != art.get("sha256"):
        return "sha256 differs from the manifest's"
    return None


def verdict(parity: dict) -> str:
    """ "pass", "FAIL: ..." -- or, when the reference outputs barely varied (``informative``
    false), "pass (uninformative: ...)": a pass that proves little."""
    if not parity.get("passed", True):
        return "FAIL: " + "; ".join(parity.get("failures", []))
    if parity.get("informative") is False:
        spread = parity.get("reference_spread")
        how = "" if spread is None else f"; reference spread {spread:.1e}"
        return f"pass (uninformative: the Keras outputs barely vary{how})"
    return "pass"


def uninformative(manifest: Manifest) -> str | None:
    """One warning line when the manifest's parity checks compared near-constant outputs."""
    for a in manifest.artifacts:
        p = a.get("parity") or {}
        if p.get("informative") is False:
            return f"parity is uninformative: {p.get('uninformative', 'the Keras outputs barely vary')}."
    return None


def parity_rows(manifest: Manifest) -> list[list]:
    """Rows of the parity table: artifact, bytes, max|diff|, agreement / rel. error, metric, verdict."""
    rows = []
    for a in manifest.artifacts:
        name = f"{a['format']} {a['variant']}"
        if "error" in a:
            rows.append([name, "", "", "", "", "", "ERROR: " + a["error"][:70]])
            continue
        p = a["parity"]
        agree = p.get("argmax_agreement")
        if agree is None:
            agree = f"rel {p['rel_error']:.2e}"
        else:
            ties = p.get("near_ties") or 0
            agree = f"{agree:.4f}" + (
                f" ({ties} near-tie{'s' if ties > 1 else ''})" if ties else ""
            )
        if p.get("accuracy") is not None:
            metric = f"acc {p['accuracy']:.4f} ({p['accuracy_delta'] + 0.0:+.4f})"
        elif p.get("mse") is not None:
            metric = f"mse {p['mse']:.4g} ({p['metric_increase']:+.2%})"
        else:
            metric = ""
        rows.append(
            [
                name,
                f"{a['bytes']:,}",
                f"{p['max_abs_diff']:.2e}",
                agree,
                metric,
                p["n"],
                verdict(p),
            ]
        )
    return rows


PARITY_HEADERS = [
    "artifact",
    "bytes",
    "max|diff|",
    "argmax agree / rel err",
    "test metric (vs Keras)",
    "n",
    "verdict",
]
