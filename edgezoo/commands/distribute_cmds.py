"""``edgezoo bench-distribute``: samples/s of training with 1 vs. 2 replicas (MirroredStrategy).

The experiment is :mod:`edgezoo.experiments.distribute`."""

from __future__ import annotations

from edgezoo import names
from edgezoo.commands._common import print_json
from edgezoo.experiments.distribute import add_bench_arguments


def register(sub):
    p = sub.add_parser(
        "bench-distribute",
        help="benchmark: samples/s training with no strategy, then MirroredStrategy on 1 and 2 logical CPU devices",
    )
    add_bench_arguments(p, model=names.model_name, dataset=names.dataset_name)
    p.add_argument(
        "--timeout", type=float, default=900, help="seconds before the benchmark process is killed"
    )
    p.add_argument(
        "--json", action="store_true", help="print the result as JSON instead of a table"
    )
    p.set_defaults(func=cmd_bench_distribute)


def cmd_bench_distribute(args):
    from edgezoo.experiments.distribute import bench_distribute, markdown

    result = bench_distribute(args)
    if args.json:
        print_json(result)
    else:
        print(markdown(result))
    return 0
