"""``edgezoo compress`` and ``edgezoo bench-compress``."""

from __future__ import annotations

from compress.options import CompressOptions
from edgezoo import names, ui
from edgezoo.commands._common import parse_overrides, print_json
from zoo.core.options import add_arguments, from_args
from zoo.core.tables import markdown_table


def register(sub):
    p = sub.add_parser(
        "compress",
        help="distill -> prune -> quantize (QKeras QAT) a model directory, any subset",
        description=(
            "Writes OUT/1-distill, OUT/2-prune, OUT/3-qat (only the requested steps), each a model directory "
            "with compression.json, and OUT/compression.json. With --distill-from, RUN_DIR is the student "
            "(its architecture is retrained from fresh weights with the teacher); with --student, RUN_DIR is the "
            "teacher and MODEL a new zoo student."
        ),
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="model directory (a training run or an earlier step)"
    )
    add_arguments(
        p, CompressOptions
    )  # --prune, --bits, --epochs, ...: declared once in compress.options
    p._option_string_actions[
        "--student"
    ].type = names.model_name  # a wrong name: close matches, no TF import
    p.add_argument(
        "--student-set",
        action="append",
        metavar="KEY=VALUE",
        help="builder override of the --student model, e.g. widths=[16]",
    )
    p.add_argument(
        "--layer-bits",
        action="append",
        dest="layer_bits_items",
        metavar="LAYER=BITS",
        help="per-layer bit width override",
    )
    p.add_argument("--out", metavar="OUT", help="output directory (default RUN_DIR-compressed)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a finished result of another model or command in --out (your files stay)",
    )
    p.add_argument(
        "--json", action="store_true", help="print OUT/compression.json instead of a table"
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="Keras progress bars, TensorFlow / converter logs and library warnings on screen",
    )
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser(
        "bench-compress",
        help="benchmark: float vs. pruned vs. QAT vs. pruned+QAT (accuracy, sizes, BOPs)",
    )
    p.add_argument("--dataset", default="digits", type=names.dataset_name, help="data set")
    p.add_argument(
        "--model", default="mlp", type=names.model_name, metavar="MODEL", help="zoo model"
    )
    p.add_argument(
        "--train-epochs", type=int, default=60, help="epochs of the float model's training"
    )
    p.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs per step")
    p.add_argument(
        "--prune", type=float, default=0.75, metavar="SPARSITY", help="target sparsity of pruning"
    )
    p.add_argument("--bits", type=int, default=6, help="QAT bit width")
    p.add_argument("--limit", type=int, help="use only this many samples")
    p.add_argument("--seed", type=int, default=0, help="seed of every run")
    p.add_argument(
        "--jets",
        choices=("auto", "yes", "no"),
        default="auto",
        help="also run jet_tagger on jets: auto = when the data is on disk",
    )
    p.add_argument(
        "--jets-limit", type=int, default=200_000, help="jets samples used by the jets run"
    )
    p.add_argument("--out", default="runs/bench-compress", metavar="DIR", help="where the runs go")
    p.set_defaults(func=cmd_bench)


def _layer_bits(items) -> dict:
    from zoo.core.options import OptionError

    out = {}
    for item in items or []:
        for part in item.split(","):
            if "=" not in part:
                raise OptionError(f"--layer-bits expects LAYER=BITS. Received: {part!r}")
            name, bits = part.split("=", 1)
            try:
                out[name] = int(bits)
            except ValueError:
                raise OptionError(
                    f"--layer-bits {name}: bits must be an integer. Received: {bits!r}"
                ) from None
    return out


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def compression_table(rows: list[dict], metric: str, first: str = "stage") -> str:
    cols = [
        first,
        metric,
        "params",
        "nonzero_params",
        "bits_per_weight",
        "size_bytes",
        "size_bytes_nonzero",
        "bops",
    ]
    heads = [first, metric, "params", "non-zero", "bits/w", "size B", "size B (non-zero)", "BOPs"]
    if rows and "delta" in rows[0]:
        cols.insert(2, "delta")
        heads.insert(2, f"Δ {metric}")
    body = [
        [f"{r.get(c):.1f}" if c == "bits_per_weight" else _fmt(r.get(c)) for c in cols]
        for r in rows
    ]
    return markdown_table(body, heads, "l" + "r" * (len(cols) - 1))


def cmd_compress(args):
    from compress import compress

    res = compress(
        args.run_dir,
        student_overrides=parse_overrides(args.student_set) or None,
        layer_bits=_layer_bits(args.layer_bits_items) or None,
        out=args.out,
        force=args.force,
        verbose=1 if args.verbose else 0,
        on_step=None if args.verbose or args.json else ui.steps(),
        **from_args(CompressOptions, args),
    )
    ui.log_into(res.out)
    if args.json:
        print_json(res.summary)
        return 0
    print(compression_table(res.summary["rows"], res.summary["metric"]))
    for step in res.steps:
        if step.name == "distill" and step.report.get("student_scratch"):
            m = res.summary["metric"]
            print(
                f"student from scratch: {m} {step.report['student_scratch'][m]:.4f}; "
                f"distilled: {step.report['after'][m]:.4f} (same epochs and data)"
            )
        if step.name == "prune":
            a = step.report["achieved_sparsity"]
            print(
                f"achieved sparsity: {a['pruned_layers']:.4f} over the pruned layers, {a['all_kernels']:.4f} "
                "over all kernels"
            )
    print(f"output: {res.out} (final model: {res.final})")
    return 0


def cmd_bench(args):
    from edgezoo.experiments.compress import bench_compress
    from training.datasets.downloads import jets_available

    runs = [(args.dataset, args.model, args.limit)]
    if args.jets == "yes" or (args.jets == "auto" and jets_available() and args.dataset != "jets"):
        runs.append(("jets", "jet_tagger", args.jets_limit))
    elif args.jets == "auto" and args.dataset != "jets":
        print("jets: data not on disk, skipped (see `edgezoo datasets`)")
    for dataset, model, limit in runs:
        res = bench_compress(
            dataset,
            model,
            train_epochs=args.train_epochs,
            epochs=args.epochs,
            prune=args.prune,
            bits=args.bits,
            out=args.out,
            seed=args.seed,
            limit=limit,
        )
        print(f"\n{model} on {dataset} (test n={res['n_test']}, {res['seconds']} s)")
        print(compression_table(res["rows"], res["metric"], first="model"))
        print(f"target: {res['target']}: {'met' if res['target_met'] else 'NOT met'}")
    return 0
