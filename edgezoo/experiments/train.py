"""``edgezoo bench-train``: train each model on a data set for each seed and report test accuracy.

The training flags are :class:`training.options.TrainOptions`' (``--epochs``) with this
experiment's own default, :data:`BENCH_DEFAULTS`.
"""

from __future__ import annotations

import time

from zoo.core.tables import markdown_table

# This experiment's defaults where they differ from training's (50 epochs): a longer cap, so
# EarlyStopping rather than the cap ends each run.
BENCH_DEFAULTS = {"epochs": 60}
TRAIN_FLAGS = ("epochs",)  # the TrainOptions this experiment passes on
HEADERS = ["model", "data", "seed", "params", "epochs", "test accuracy", "wall s"]


def bench_train(
    models: list[str], dataset: str, seeds: list[int], out: str, *, on_step=None, **options
) -> list[list]:
    """One row per (model, seed): ``training.train.train`` into ``out/<model>-<dataset>-seed<s>``,
    ``options`` passed on (fields of :class:`~training.options.TrainOptions`)."""
    from training.train import train

    rows = []
    for name in models:
        for seed in seeds:
            t0 = time.perf_counter()
            run = train(
                name,
                dataset,
                seed=seed,
                verbose=0,
                out=f"{out}/{name}-{dataset}-seed{seed}",
                on_step=on_step,
                **options,
            )
            m = run.metrics
            rows.append(
                [
                    name,
                    dataset,
                    seed,
                    m["params"],
                    m["epochs_run"],
                    f"{m['accuracy']:.4f}",
                    f"{time.perf_counter() - t0:.1f}",
                ]
            )
    return rows


def markdown(rows: list[list]) -> str:
    return markdown_table(rows, HEADERS, "lllrrrr")
