"""``edgezoo bench-mlperf``: the MLPerf Tiny reference models beside MLPerf's published figures."""

from __future__ import annotations

from edgezoo import ui
from edgezoo.commands._common import print_json


def register(sub):
    p = sub.add_parser(
        "bench-mlperf",
        help="benchmark: MLPerf Tiny's four reference models -- parameters, MACs, TFLite int8 size "
        "beside MLPerf's published size, LiteRT/onnxruntime batch-1 p50, accuracy when the data is here",
    )
    p.add_argument(
        "--models",
        metavar="MODELS",
        help="comma-separated (default: every zoo model with an MLPerf reference)",
    )
    p.add_argument(
        "--run",
        action="append",
        metavar="MODEL=RUN_DIR",
        help="a trained run directory of MODEL: its accuracy is measured (Keras and TFLite int8)",
    )
    p.add_argument(
        "--train-epochs",
        type=int,
        default=0,
        help="train a model whose data set is present for this many epochs first (default 0: no)",
    )
    p.add_argument("--budget", type=float, default=1.0, help="seconds of timing per runtime")
    p.add_argument(
        "--out", default="runs/bench-mlperf", metavar="DIR", help="where the results and exports go"
    )
    p.add_argument(
        "--json", action="store_true", help="print the result as JSON instead of a table"
    )
    p.set_defaults(func=cmd_bench_mlperf)


def cmd_bench_mlperf(args):
    from edgezoo.experiments.mlperf import bench_mlperf, markdown, mlperf_models
    from zoo.core.options import OptionError

    runs = {}
    for item in args.run or []:
        if "=" not in item:
            raise OptionError(f"--run expects MODEL=RUN_DIR. Received: {item!r}")
        model, path = item.split("=", 1)
        runs[model] = path
    models = [m.strip() for m in args.models.split(",")] if args.models else mlperf_models()
    unknown = sorted(set(models) - set(mlperf_models())) + sorted(set(runs) - set(models))
    if unknown:
        raise OptionError(
            f"not an MLPerf reference model of this run: {unknown}. Known: {mlperf_models()}"
        )
    result = bench_mlperf(
        args.out,
        models=models,
        runs=runs,
        train_epochs=args.train_epochs,
        budget_s=args.budget,
        progress=ui.note,
    )
    if args.json:
        print_json(result)
    else:
        print(markdown(result))
    return 0
