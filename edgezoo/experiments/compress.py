"""The compression benchmark of the hls4ml tutorial: float vs. pruned vs. QAT vs. pruned + QAT.

``bench_compress("digits", "mlp")`` trains the float model (``training.train``), then writes

    OUT/float/             the training run
    OUT/pruned/2-prune     compress(float, prune=0.75)
    OUT/qat/3-qat          compress(float, bits=6)
    OUT/pruned-qat/3-qat   compress(OUT/pruned/2-prune, bits=6)   (the chain through directories)
    OUT/bench.json         the rows below

and returns one row per model: test metric, its change against float, parameters, non-zeros,
bits per weight, sizes and BOPs (:mod:`compress.metrics`). The tutorial's target: pruned + 6-bit
within 1% (absolute accuracy) of float.
"""

from __future__ import annotations

import time
from pathlib import Path

from compress.recipe import compress
from zoo.core.io import write_json_atomic

TARGET = 0.01  # pruned + QAT within 1% of float accuracy (the hls4ml tutorial)


def bench_compress(
    dataset: str = "digits",
    model: str = "mlp",
    *,
    train_epochs: int = 60,
    epochs: int = 10,
    prune: float = 0.75,
    bits: int = 6,
    out="runs/bench-compress",
    seed: int = 0,
    limit: int | None = None,
    batch_size: int = 64,
    verbose: int = 0,
) -> dict:
    from training.train import train

    out = Path(out) / f"{model}-{dataset}"
    t0 = time.perf_counter()
    run = train(
        model,
        dataset,
        epochs=train_epochs,
        out=out / "float",
        seed=seed,
        limit=limit,
        verbose=verbose,
        batch_size=batch_size,
    )
    common = dict(epochs=epochs, batch_size=batch_size, verbose=verbose)
    pruned = compress(run.dir, prune=prune, out=out / "pruned", **common)
    quant = compress(run.dir, bits=bits, out=out / "qat", **common)
    both = compress(pruned["prune"].dir, bits=bits, out=out / "pruned-qat", **common)
    metric = pruned.summary["metric"]
    pct = f"{prune:.0%}"
    rows = [
        {"model": "float", **pruned.summary["rows"][0]},
        {"model": f"pruned {pct}", **pruned.summary["rows"][-1]},
        {"model": f"QAT {bits}-bit", **quant.summary["rows"][-1]},
        {"model": f"pruned {pct} + QAT {bits}-bit", **both.summary["rows"][-1]},
    ]
    base = rows[0][metric]
    for r in rows:
        r["delta"] = r[metric] - base if r[metric] is not None and base is not None else None
    result = {
        "dataset": dataset,
        "model": model,
        "metric": metric,
        "prune": prune,
        "bits": bits,
        "train_epochs": train_epochs,
        "finetune_epochs": epochs,
        "seed": seed,
        "limit": limit,
        "rows": rows,
        "target": f"pruned + QAT within {TARGET:.0%} of float {metric}",
        "target_met": rows[-1]["delta"] is not None and abs(rows[-1]["delta"]) <= TARGET,
        "n_test": pruned["prune"].report["before"].get("n_test"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json_atomic(out / "bench.json", result)
    return result
