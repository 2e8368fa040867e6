"""``edgezoo bench-int8``: best int8 vs best fp32 artifact, measured side by side."""

from __future__ import annotations

from edgezoo import names, ui
from edgezoo.commands._common import print_json


def register(sub):
    p = sub.add_parser(
        "bench-int8",
        help="benchmark: export lenet5/resnet8/mnist_cnn to ONNX, TFLite and OpenVINO (fp32 "
        "and int8), time them interleaved; print best int8 vs best fp32",
    )
    p.add_argument(
        "--out",
        default="runs/bench-int8",
        metavar="DIR",
        help="where the runs, exports and int8.md go",
    )
    p.add_argument(
        "--models",
        default="lenet5,resnet8,mnist_cnn",
        type=names.model_names,
        metavar="MODELS",
        help="comma-separated zoo models, trained briefly on digits",
    )
    p.add_argument(
        "--epochs",
        type=int,
        help="training epochs on digits (default: lenet5 5, resnet8 15, ds_cnn 15 at batch 16, "
        "mobilenet_v1 20 at batch 16 with input noise 0.05, others 5)",
    )
    p.add_argument("--threads", type=int, default=1, help="inference threads (0 = all cores)")
    p.add_argument(
        "--rounds", type=int, default=5, help="interleaved timing rounds (medians are reported)"
    )
    p.add_argument("--budget", type=float, default=0.2, help="seconds per call per round")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")
    p.set_defaults(func=cmd_bench_int8)


def cmd_bench_int8(args):
    from edgezoo.experiments.int8 import bench_int8, markdown

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    res = bench_int8(
        args.out,
        models=models,
        epochs=args.epochs,
        threads=args.threads,
        rounds=args.rounds,
        budget_s=args.budget,
        progress=ui.note,
    )
    if args.json:
        print_json(res)
    else:
        print(markdown(res))
        ui.note(f"written: {args.out}/int8.json, {args.out}/int8.md")
    return 0
