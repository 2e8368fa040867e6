"""``edgezoo bench-export``: the hls4ml tutorial's models through every export target, one parity table.

* ``jet_tagger``: float, pruned 75 % and QKeras 6-bit + pruned 75 % (the compression stage's
  ``compress(run, prune=0.75, bits=6)``). The jets data set when it is on disk; otherwise it is
  *not* downloaded and jet_tagger is trained on scikit-learn's digits with jet_tagger's own
  overrides ``input_shape=(64,)``, ``classes=10`` -- every row says so.
* ``lenet5`` trained on digits.

Every model directory is exported with :func:`export.export_run` (parity failures recorded, not
raised) and the rows of all manifests are written to ``OUT/parity.md`` and ``OUT/parity.json``.
"""

from __future__ import annotations

import time
from pathlib import Path

from export.api import DEFAULT_TARGETS, export_run
from export.manifest import PARITY_HEADERS, Manifest, parity_rows
from training.datasets.downloads import jets_available
from zoo.core.io import write_json_atomic, write_text_atomic

JETS_SUBSTITUTE = {"input_shape": [64], "classes": 10}


def _jet_tagger_data() -> tuple[str, dict, str, list[str]]:
    """(data set, builder overrides, label, notes) for jet_tagger: jets, or digits in its place."""
    if jets_available():
        return "jets", {}, "jet_tagger / jets", []
    note = (
        "* jets is not available offline here (not cached; nothing was downloaded): jet_tagger was "
        "trained on scikit-learn digits with input_shape=(64,), classes=10 -- a 64-64-32-32-10 MLP, "
        "not the 16-64-32-32-5 jet tagger."
    )
    return "digits", dict(JETS_SUBSTITUTE), "jet_tagger* / digits", [note]


def _compressed_sources(run_dir, label: str, out: Path, *, epochs, seed, notes, progress):
    """(label, directory) of jet_tagger pruned 75%, then QKeras 6-bit + pruned; none (and a
    note) when the compression stage is not importable."""
    try:
        from compress import compress
    except ImportError as exc:  # the compression stage is not there: float only, and say so
        notes.append(f"compress is not importable ({exc}): pruned and QKeras rows are missing.")
        return []
    progress(f"compress {label}: prune 75%, then QKeras 6-bit ({epochs} epochs each)")
    res = compress(
        run_dir, prune=0.75, bits=6, epochs=epochs, out=out / "jet_tagger" / "compressed", seed=seed
    )
    steps = {s.name: s.dir for s in res.steps}
    return [
        (f"{label} pruned 75%", Path(steps["prune"])),
        (f"{label} QKeras 6-bit + pruned 75%", Path(steps["qat"])),
    ]


def _train_sources(out: Path, *, epochs, compress_epochs, seed, limit, notes, progress):
    """The (label, model directory) pairs to export: jet_tagger float (and compressed), lenet5."""
    from training.train import train

    data, overrides, label, jet_notes = _jet_tagger_data()
    notes.extend(jet_notes)
    progress(f"train {label} ({epochs} epochs)")
    run = train(
        "jet_tagger",
        data,
        epochs=epochs,
        seed=seed,
        overrides=overrides,
        limit=limit,
        verbose=0,
        out=out / "jet_tagger" / "float",
    )
    sources = [(f"{label} float", run.dir)]
    sources += _compressed_sources(
        run.dir, label, out, epochs=compress_epochs, seed=seed, notes=notes, progress=progress
    )
    progress(f"train lenet5 / digits ({epochs} epochs)")
    lenet = train(
        "lenet5",
        "digits",
        epochs=epochs,
        seed=seed,
        limit=limit,
        verbose=0,
        out=out / "lenet5" / "float",
    )
    sources.append(("lenet5 / digits float", lenet.dir))
    return sources


def _export_sources(sources, *, to, progress, **export_opts) -> tuple[list, dict]:
    """(parity rows, manifest path by label): each source exported next to itself."""
    rows, manifests = [], {}
    for label, src in sources:
        progress(f"export {label}")
        dest = src.parent / (src.name + "-export")
        manifest = export_run(src, to=to, out=dest, fail_on_parity=False, **export_opts)
        manifests[label] = str(dest / "manifest.json")
        rows += [[label, *r] for r in parity_rows(Manifest.from_dict(manifest))]
    return rows, manifests


def bench_export_parity(
    out="runs/bench-export",
    *,
    epochs: int = 30,
    compress_epochs: int = 10,
    to=DEFAULT_TARGETS,
    seed: int = 0,
    limit: int | None = None,
    progress=print,
    **export_opts,
) -> dict:
    """Train, compress and export the benchmark models; returns ``{"rows", "notes", "manifests"}``."""
    out = Path(out)
    notes: list[str] = []
    t0 = time.perf_counter()
    sources = _train_sources(
        out,
        epochs=epochs,
        compress_epochs=compress_epochs,
        seed=seed,
        limit=limit,
        notes=notes,
        progress=progress,
    )
    rows, manifests = _export_sources(sources, to=to, progress=progress, **export_opts)
    result = {
        "rows": rows,
        "headers": ["source", *PARITY_HEADERS],
        "notes": notes,
        "manifests": manifests,
        "seconds": round(time.perf_counter() - t0, 1),
        "epochs": epochs,
        "compress_epochs": compress_epochs,
    }
    write_json_atomic(out / "parity.json", result)
    write_text_atomic(out / "parity.md", markdown(result) + "\n")
    return result


def markdown(result: dict) -> str:
    from zoo.core.tables import markdown_table

    table = markdown_table(result["rows"], result["headers"], "llrrllrl")
    return "\n\n".join([table, *result["notes"]])
