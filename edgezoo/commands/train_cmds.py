"""``edgezoo train``, ``edgezoo datasets`` and ``edgezoo bench-train``
(:mod:`edgezoo.experiments.train`)."""

from __future__ import annotations

from edgezoo import names, ui
from edgezoo.commands._common import parse_overrides, print_json
from edgezoo.experiments import train as bench
from training.options import TrainOptions
from zoo.core.options import add_arguments, from_args
from zoo.core.tables import markdown_table


def register(sub):
    p = sub.add_parser("train", help="train a zoo model and write a run directory")
    p.add_argument(
        "model", metavar="MODEL", type=names.model_name, help="zoo model name (see `edgezoo list`)"
    )
    p.add_argument(
        "--dataset",
        type=names.dataset_name,
        help="data set (default: the model card's; see `edgezoo datasets`)",
    )
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="builder override, e.g. classes=5"
    )
    p.add_argument(
        "--out",
        metavar="RUN_DIR",
        help="run directory (default runs/<model>-<dataset>-<time>); re-use it to resume",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a finished run of another model in --out, or start an interrupted run "
        "afresh under new settings",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_arguments(
        p, TrainOptions
    )  # --epochs, --batch-size, --lr, ...: declared once in training.options
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("datasets", help="list the data sets")
    p.add_argument("--json", action="store_true", help="machine-readable list")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser(
        "bench-train", help="benchmark: train mlp and lenet5 on digits, print test accuracy"
    )
    p.add_argument(
        "--models",
        default="mlp,lenet5",
        type=names.model_names,
        metavar="MODELS",
        help="comma-separated zoo models",
    )
    p.add_argument("--dataset", default="digits", type=names.dataset_name, help="data set")
    add_arguments(p, TrainOptions, only=bench.TRAIN_FLAGS, defaults=bench.BENCH_DEFAULTS)
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument(
        "--out", default="runs/bench-train", metavar="DIR", help="where the run directories go"
    )
    p.set_defaults(func=cmd_bench_train)


def cmd_train(args):
    from training.train import train

    run = train(
        args.model,
        args.dataset,
        out=args.out,
        overrides=parse_overrides(args.set),
        verbose=1 if args.verbose else 0,
        force=args.force,
        on_step=None if args.quiet or args.verbose else ui.steps(),
        **from_args(TrainOptions, args),
    )
    ui.log_into(run.dir)
    print_metrics(run)
    return 0


def print_metrics(run):
    m = run.metrics
    shown = {k: v for k, v in m.items() if isinstance(v, (int, float))}
    print(
        markdown_table(
            [[k, f"{v:.4f}" if isinstance(v, float) else v] for k, v in shown.items()],
            ["metric", "value"],
            "lr",
        )
    )
    print(
        f"run directory: {run.dir or '(none: not the chief; the chief writes the run directory)'}"
    )


def cmd_datasets(args):
    from training.datasets.registry import DATASETS

    if args.json:
        print_json(
            {n: {"description": s.description, "offline": s.offline} for n, s in DATASETS.items()}
        )
        return 0
    print(
        markdown_table(
            [
                [n, "yes" if s.offline else "cached download", s.description]
                for n, s in DATASETS.items()
            ],
            ["data set", "offline", "description"],
        )
    )
    return 0


def cmd_bench_train(args):
    rows = bench.bench_train(
        args.models.split(","),
        args.dataset,
        [int(s) for s in args.seeds.split(",")],
        args.out,
        on_step=ui.steps(),
        **from_args(TrainOptions, args),
    )
    ui.log_into(args.out)
    print(bench.markdown(rows))
    return 0
