"""``edgezoo bench-distribute``: samples/s of training with 1 vs. 2 replicas (MirroredStrategy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from edgezoo import names
from edgezoo.commands._common import print_json
from zoo.core.tables import markdown_table

ROOT = Path(__file__).resolve().parents[2]


def register(sub):
    p = sub.add_parser(
        "bench-distribute",
        help="benchmark: samples/s training with no strategy, then MirroredStrategy on 1 and 2 logical CPU devices",
    )
    p.add_argument(
        "--model", default="mlp", type=names.model_name, metavar="MODEL", help="zoo model"
    )
    p.add_argument("--dataset", default="digits", type=names.dataset_name, help="data set")
    p.add_argument("--epochs", type=int, default=10, help="epochs per measured fit")
    p.add_argument(
        "--batch-size", type=int, default=32, help="per-replica batch (global = batch x replicas)"
    )
    p.add_argument("--limit", type=int, help="use only this many samples")
    p.add_argument(
        "--cpus", type=int, default=2, help="logical CPU devices to split the host CPU into"
    )
    p.add_argument("--replicas", default="1,2", help="comma-separated replica counts")
    p.add_argument(
        "--timeout", type=float, default=900, help="seconds before the benchmark process is killed"
    )
    p.add_argument(
        "--json", action="store_true", help="print the result as JSON instead of a table"
    )
    p.set_defaults(func=cmd_bench_distribute)


def cmd_bench_distribute(args):
    from training.cluster import DistributeError

    # Logical devices must be set before TensorFlow initializes: run in a fresh process.
    with tempfile.TemporaryDirectory(prefix="edgezoo-bench-distribute-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "training._worker",
            "bench",
            "--model",
            args.model,
            "--dataset",
            args.dataset,
            "--epochs",
            str(args.epochs),
            "--batch-size",
            str(args.batch_size),
            "--cpus",
            str(args.cpus),
            "--replicas",
            args.replicas,
            "--out",
            tmp,
        ]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout
            )
        except subprocess.TimeoutExpired:
            raise DistributeError(
                f"bench-distribute did not finish within {args.timeout:g} s (--timeout)"
            ) from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("EDGEZOO_RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise DistributeError(f"bench-distribute failed (exit {proc.returncode}): {tail[0]}")
    result = json.loads(lines[-1][len("EDGEZOO_RESULT ") :])
    if args.json:
        print_json(result)
        return 0
    print(
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
    print(
        markdown_table(
            rows,
            [
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
            ],
            "lrrrrrrrrr",
        )
    )
    return 0
