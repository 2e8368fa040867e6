"""``edgezoo bench-distribute``: samples/s of training with no strategy, then MirroredStrategy on
1..n logical CPU devices.

Splitting the CPU into logical devices (:func:`training.distribute.split_cpu`) must happen before
TensorFlow initializes, so :func:`bench_distribute` measures in a fresh process of its own::

    python -m edgezoo.experiments.distribute --cpus 2 --model mlp --epochs 5 --out DIR

which prints one line ``EDGEZOO_RESULT {...}`` with samples/s per replica count; a user error
prints one line and exits with code 2. The training flags are :class:`training.options.TrainOptions`'
(``--epochs``, ``--batch-size``, ``--limit``) with this experiment's own defaults,
:data:`BENCH_DEFAULTS`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from training.options import TrainOptions  # noqa: E402
from zoo.core.options import add_arguments  # noqa: E402
from zoo.core.run_config import RunConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MARK = "EDGEZOO_RESULT "
# This experiment's defaults where they differ from training's (50 epochs, batch 64): short fits,
# and a per-replica batch small enough for 2 replicas on the digits.
BENCH_DEFAULTS = {"epochs": 10, "batch_size": 32}
TRAIN_FLAGS = ("epochs", "batch_size", "limit")  # the TrainOptions this experiment passes on
HEADERS = [
    "strategy",
    "replicas",
    "batch/replica",
    "global batch",
    "epochs",
    "samples",
    "fit s",
    "samples/s",
    "final loss",
    "test acc",
]


def add_bench_arguments(p, *, model=str, dataset=str) -> None:
    """The flags of the measurement (shared by the CLI and the measuring process); ``model`` and
    ``dataset`` parse those names (the CLI checks them against the registries)."""
    p.add_argument("--model", default="mlp", type=model, metavar="MODEL", help="zoo model")
    p.add_argument("--dataset", default="digits", type=dataset, help="data set")
    add_arguments(p, TrainOptions, only=TRAIN_FLAGS, defaults=BENCH_DEFAULTS)
    p.add_argument(
        "--cpus", type=int, default=2, help="logical CPU devices to split the host CPU into"
    )
    p.add_argument("--replicas", default="1,2", help="comma-separated replica counts (<= --cpus)")


def _parser():
    p = argparse.ArgumentParser(prog="python -m edgezoo.experiments.distribute")
    add_bench_arguments(p)
    p.add_argument("--out", required=True)
    return p


def _strategy(name: str, n: int, devices: list[str]):
    import tensorflow as tf

    from training.cluster import DistributeError

    if n > len(devices):
        raise DistributeError(
            f"{n} replicas asked, {len(devices)} logical CPU devices available (--cpus)."
        )
    return "default" if name == "default" else tf.distribute.MirroredStrategy(devices=devices[:n])


def _row(name: str, n: int, run, per_replica_batch: int) -> dict:
    """One measured fit: samples/s = samples fed to ``fit`` / its wall time."""
    m = run.metrics
    n_train = RunConfig.read(run.dir).data["n_train"]
    global_batch = m.get("global_batch_size", per_replica_batch)
    per_epoch = n_train if name == "default" else math.ceil(n_train / global_batch) * global_batch
    samples = per_epoch * m["epochs_run"]
    return {
        "strategy": name,
        "replicas": n,
        "per_replica_batch": per_replica_batch,
        "global_batch": global_batch,
        "epochs": m["epochs_run"],
        "samples": samples,
        "fit_seconds": m["train_seconds"],
        "samples_per_s": round(samples / m["train_seconds"], 1),
        "final_loss": round(run.history["loss"][-1], 4),
        "test_accuracy": round(m.get("accuracy", float("nan")), 4),
    }


def measure(args) -> dict:
    """Samples/s of ``train``: no strategy, then MirroredStrategy over 1..n logical CPU devices
    (first-epoch graph tracing included). Runs in the process that split the CPU."""
    import tensorflow as tf

    from training.train import train

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    runs = [("default", 1)] + [("mirrored", int(r)) for r in args.replicas.split(",")]
    rows = []
    for name, n in runs:
        run = train(
            args.model,
            args.dataset,
            epochs=args.epochs,
            batch_size=args.batch_size,
            limit=getattr(args, "limit", None),
            patience=args.epochs + 1,
            out=os.path.join(args.out, f"{name}{n}"),
            verbose=0,
            strategy=_strategy(name, n, devices),
        )
        rows.append(_row(name, n, run, args.batch_size))
    return {
        "model": args.model,
        "dataset": args.dataset,
        "logical_cpus": len(devices),
        "cores": os.cpu_count(),
        "rows": rows,
    }


def _command(args, out: str) -> list[str]:
    cmd = [sys.executable, "-m", "edgezoo.experiments.distribute", "--out", out]
    cmd += ["--model", args.model, "--dataset", args.dataset, "--epochs", str(args.epochs)]
    cmd += ["--batch-size", str(args.batch_size), "--cpus", str(args.cpus)]
    cmd += ["--replicas", args.replicas]
    if getattr(args, "limit", None):  # absent when not given (TrainOptions' flags)
        cmd += ["--limit", str(args.limit)]
    return cmd


def _result(proc: subprocess.CompletedProcess) -> dict:
    from training.cluster import DistributeError

    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise DistributeError(f"bench-distribute failed (exit {proc.returncode}): {tail[0]}")
    return json.loads(lines[-1][len(MARK) :])


def bench_distribute(args) -> dict:
    """Run :func:`measure` in a fresh process (logical devices must be set before TensorFlow
    initializes; no ``TF_CONFIG``), killed after ``args.timeout`` seconds."""
    from training.cluster import DistributeError

    with tempfile.TemporaryDirectory(prefix="edgezoo-bench-distribute-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            proc = subprocess.run(
                _command(args, tmp),
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=args.timeout,
            )
        except subprocess.TimeoutExpired:
            raise DistributeError(
                f"bench-distribute did not finish within {args.timeout:g} s (--timeout)"
            ) from None
    return _result(proc)


def markdown(result: dict) -> str:
    from zoo.core.tables import markdown_table

    head = (
        f"{result['model']} on {result['dataset']}: {result['logical_cpus']} logical CPU devices on "
        f"{result['cores']} core(s); samples/s over the whole fit (first-epoch tracing included)"
    )
    rows = [
        [
            r["strategy"],
            r["replicas"],
            r["per_replica_batch"],
            r["global_batch"],
            r["epochs"],
            r["samples"],
            f"{r['fit_seconds']:.2f}",
            f"{r['samples_per_s']:.0f}",
            f"{r['final_loss']:.4f}",
            f"{r['test_accuracy']:.4f}",
        ]
        for r in result["rows"]
    ]
    return head + "\n" + markdown_table(rows, HEADERS, "lrrrrrrrrr")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from training.distribute import split_cpu

    split_cpu(args.cpus)
    from zoo.core.errors import EdgezooError

    try:
        result = measure(args)
    except (EdgezooError, FileNotFoundError) as exc:  # the user's to fix; a bug keeps its traceback
        print(f"edgezoo bench-distribute: error: {exc}", file=sys.stderr, flush=True)
        return 2
    print(MARK + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
