"""A fresh-process entry point for distributed runs: ``python -m training._worker``.

Splitting the CPU into logical devices (:func:`training.distribute.split_cpu`) and joining a
multi-worker cluster must happen before TensorFlow initializes, so tests and
``edgezoo bench-distribute`` run them here, in a process of their own::

    python -m training._worker train mlp --dataset digits --strategy mirrored --cpus 2 --json
    python -m training._worker bench --cpus 2 --model mlp --epochs 5

``train`` calls :func:`training.train.train` and, with ``--json``, prints one line
``EDGEZOO_RESULT {...}`` (run directory, metrics, SHA-256 of the final weights, and with
``--weights`` the weights themselves). ``bench`` prints ``EDGEZOO_RESULT`` with samples/s per
replica count. A user error prints one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

MARK = "EDGEZOO_RESULT "


def _parser():
    p = argparse.ArgumentParser(prog="python -m training._worker")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("model")
    t.add_argument("--dataset")
    t.add_argument("--strategy", default="default")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int)
    t.add_argument("--patience", type=int, default=10)
    t.add_argument("--out")
    t.add_argument(
        "--cpus", type=int, default=0, help="split the CPU into this many logical devices first"
    )
    t.add_argument("--json", action="store_true")
    t.add_argument("--weights", action="store_true", help="include the final weights in the JSON")
    b = sub.add_parser("bench")
    b.add_argument("--model", default="mlp")
    b.add_argument("--dataset", default="digits")
    b.add_argument("--cpus", type=int, default=2)
    b.add_argument("--replicas", default="1,2", help="comma-separated replica counts (<= --cpus)")
    b.add_argument("--batch-size", type=int, default=32, help="per-replica batch")
    b.add_argument("--epochs", type=int, default=5)
    b.add_argument("--limit", type=int)
    b.add_argument("--out", required=True)
    return p


def weights_digest(model) -> tuple[str, list]:
    import numpy as np

    flat = np.concatenate([np.asarray(w, dtype="float32").ravel() for w in model.get_weights()])
    return hashlib.sha256(flat.tobytes()).hexdigest(), flat


def cmd_train(args) -> dict:
    from training.train import train

    run = train(
        args.model,
        args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        out=args.out,
        seed=args.seed,
        limit=args.limit,
        patience=args.patience,
        verbose=0,
        strategy=args.strategy,
    )
    sha, flat = weights_digest(run.model)
    out = {
        "dir": None if run.dir is None else str(run.dir),
        "metrics": run.metrics,
        "history": run.history,
        "weights_sha256": sha,
    }
    if args.weights:
        out["weights"] = [float(v) for v in flat]
    return out


def cmd_bench(args) -> dict:
    """Samples/s of ``train``: no strategy, then MirroredStrategy over 1..n logical CPU devices.

    Samples/s = samples fed to ``fit`` / its wall time (first-epoch graph tracing included).
    """
    import math

    import tensorflow as tf

    from training.cluster import DistributeError
    from training.train import train

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    runs = [("default", 1)] + [("mirrored", int(r)) for r in args.replicas.split(",")]
    rows = []
    for name, n in runs:
        if n > len(devices):
            raise DistributeError(
                f"{n} replicas asked, {len(devices)} logical CPU devices available (--cpus)."
            )
        strategy = (
            "default" if name == "default" else tf.distribute.MirroredStrategy(devices=devices[:n])
        )
        run = train(
            args.model,
            args.dataset,
            epochs=args.epochs,
            batch_size=args.batch_size,
            limit=args.limit,
            patience=args.epochs + 1,
            out=os.path.join(args.out, f"{name}{n}"),
            verbose=0,
            strategy=strategy,
        )
        m = run.metrics
        n_train = json.loads((run.dir / "config.json").read_text())["data"]["n_train"]
        global_batch = m.get("global_batch_size", args.batch_size)
        per_epoch = (
            n_train if name == "default" else math.ceil(n_train / global_batch) * global_batch
        )
        samples = per_epoch * m["epochs_run"]
        rows.append(
            {
                "strategy": name,
                "replicas": n,
                "per_replica_batch": args.batch_size,
                "global_batch": global_batch,
                "epochs": m["epochs_run"],
                "samples": samples,
                "fit_seconds": m["train_seconds"],
                "samples_per_s": round(samples / m["train_seconds"], 1),
                "final_loss": round(run.history["loss"][-1], 4),
                "test_accuracy": round(m.get("accuracy", float("nan")), 4),
            }
        )
    return {
        "model": args.model,
        "dataset": args.dataset,
        "logical_cpus": len(devices),
        "cores": os.cpu_count(),
        "rows": rows,
    }


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "cpus", 0):
        from training.distribute import split_cpu

        split_cpu(args.cpus)
    from zoo.core.errors import EdgezooError

    try:
        result = cmd_train(args) if args.cmd == "train" else cmd_bench(args)
    except (EdgezooError, FileNotFoundError) as exc:  # the user's to fix; a bug keeps its traceback
        print(f"edgezoo worker: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if args.cmd == "bench" or args.json:
        print(MARK + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
