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
from export.manifest import PARITY_HEADERS, parity_rows
from training.datasets.downloads import jets_available
from zoo.core.io import write_json_atomic, write_text_atomic

JETS_SUBSTITUTE = {"input_shape": [64], "classes": 10}


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
    from training.train import train

    out = Path(out)
    notes: list[str] = []
    if jets_available():
        jt_data, jt_over, jt_label = "jets", {}, "jet_tagger / jets"
    else:
        jt_data, jt_over = "digits", dict(JETS_SUBSTITUTE)
        jt_label = "jet_tagger* / digits"
        notes.append(
            "* jets is not available offline here (not cached; nothing was downloaded): jet_tagger was "
            "trained on scikit-learn digits with input_shape=(64,), classes=10 -- a 64-64-32-32-10 MLP, "
            "not the 16-64-32-32-5 jet tagger."
        )
    sources: list[tuple[str, Path]] = []
    t0 = time.perf_counter()
    progress(f"train {jt_label} ({epochs} epochs)")
    run = train(
        "jet_tagger",
        jt_data,
        epochs=epochs,
        seed=seed,
        overrides=jt_over,
        limit=limit,
        verbose=0,
        out=out / "jet_tagger" / "float",
    )
    sources.append((f"{jt_label} float", run.dir))
    try:
        from compress import compress
    except ImportError as exc:  # the compression stage is not there: float only, and say so
        notes.append(f"compress is not importable ({exc}): pruned and QKeras rows are missing.")
    else:
        progress(
            f"compress {jt_label}: prune 75%, then QKeras 6-bit ({compress_epochs} epochs each)"
        )
        res = compress(
            run.dir,
            prune=0.75,
            bits=6,
            epochs=compress_epochs,
            out=out / "jet_tagger" / "compressed",
            seed=seed,
        )
        steps = {s.name: s.dir for s in res.steps}
        sources.append((f"{jt_label} pruned 75%", Path(steps["prune"])))
        sources.append((f"{jt_label} QKeras 6-bit + pruned 75%", Path(steps["qat"])))
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

    rows, manifests = [], {}
    for label, src in sources:
        progress(f"export {label}")
        dest = src.parent / (src.name + "-export")
        manifest = export_run(src, to=to, out=dest, fail_on_parity=False, **export_opts)
        manifests[label] = str(dest / "manifest.json")
        for r in parity_rows(manifest):
            rows.append([label, *r])
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
