"""A fresh-process entry point for distributed training runs: ``python -m training._worker``.

Splitting the CPU into logical devices (:func:`training.distribute.split_cpu`) and joining a
multi-worker cluster must happen before TensorFlow initializes, so tests run them here, in a
process of their own::

    python -m training._worker train mlp --dataset digits --strategy mirrored --cpus 2 --json

``train`` calls :func:`training.train.train` and, with ``--json``, prints one line
``EDGEZOO_RESULT {...}`` (run directory, metrics, SHA-256 of the final weights, and with
``--weights`` the weights themselves). A user error prints one line and exits with code 2.
The training flags are :class:`training.options.TrainOptions`' with the worker's own defaults,
:data:`WORKER_DEFAULTS`. (``edgezoo bench-distribute`` measures in a process of its own:
:mod:`edgezoo.experiments.distribute`.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from training.options import TrainOptions  # noqa: E402
from zoo.core.options import add_arguments, from_args  # noqa: E402

MARK = "EDGEZOO_RESULT "
# The worker's defaults where they differ from training's (50 epochs, batch 64): short test runs.
WORKER_DEFAULTS = {"epochs": 3, "batch_size": 32}


def _parser():
    p = argparse.ArgumentParser(prog="python -m training._worker")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("model")
    t.add_argument("--dataset")
    t.add_argument("--out")
    t.add_argument(
        "--cpus", type=int, default=0, help="split the CPU into this many logical devices first"
    )
    t.add_argument("--json", action="store_true")
    t.add_argument("--weights", action="store_true", help="include the final weights in the JSON")
    add_arguments(t, TrainOptions, defaults=WORKER_DEFAULTS)
    return p


def weights_digest(model) -> tuple[str, list]:
    import numpy as np

    flat = np.concatenate([np.asarray(w, dtype="float32").ravel() for w in model.get_weights()])
    return hashlib.sha256(flat.tobytes()).hexdigest(), flat


def cmd_train(args) -> dict:
    from training.train import train

    run = train(args.model, args.dataset, out=args.out, verbose=0, **from_args(TrainOptions, args))
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


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.cpus:
        from training.distribute import split_cpu

        split_cpu(args.cpus)
    from zoo.core.errors import EdgezooError

    try:
        result = cmd_train(args)
    except (EdgezooError, FileNotFoundError) as exc:  # the user's to fix; a bug keeps its traceback
        print(f"edgezoo worker: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if args.json:
        print(MARK + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
