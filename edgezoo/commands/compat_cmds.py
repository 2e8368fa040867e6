"""``edgezoo bench-compat``: Keras Applications models through import and every export target."""

from __future__ import annotations

from edgezoo import ui
from edgezoo.commands._common import print_json


def _models(text: str) -> list[str]:
    import argparse

    from edgezoo.experiments.archs import UnknownArchError, check_names

    try:
        return check_names(text)
    except UnknownArchError as exc:  # argparse prints its own message only for this type
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub):
    from edgezoo.experiments.archs import ARCHS
    from edgezoo.experiments.compat_fit import INPUT_NOISE, SENSITIVE, UNTIL_ACCURACY

    p = sub.add_parser(
        "bench-compat",
        help="compatibility matrix: Keras Applications (fresh weights, a short fit) through "
        "import, ONNX, TFLite and OpenVINO (fp32 and int8); hls4ml decided up front",
    )
    p.add_argument(
        "--out",
        default="runs/bench-compat",
        metavar="DIR",
        help="working directory (rows of earlier runs there for other models are kept)",
    )
    p.add_argument(
        "--models",
        default=",".join(ARCHS),
        type=_models,
        metavar="MODELS",
        help=f"comma-separated architectures (default all: {', '.join(ARCHS)})",
    )
    p.add_argument("--epochs", type=int, default=10, help="most fit epochs on the upsampled digits")
    p.add_argument(
        "--until-accuracy",
        type=float,
        default=UNTIL_ACCURACY,
        metavar="FRACTION",
        help="the fit ends after the first epoch whose training accuracy reaches this "
        f"(default {UNTIL_ACCURACY}; 1: every epoch)",
    )
    p.add_argument("--train", type=int, default=512, help="training samples")
    p.add_argument("--test", type=int, default=128, help="test (parity) samples")
    p.add_argument(
        "--input-noise",
        type=float,
        default=INPUT_NOISE,
        metavar="FRACTION",
        help=f"a fit whose model moves more than {SENSITIVE} under half an int8 input step is "
        "redone with Gaussian noise of this std on its inputs, as a fraction of their range "
        f"(default {INPUT_NOISE}; 0: never)",
    )
    p.add_argument("--rounds", type=int, default=1, help="int8 timing rounds (0: no timing)")
    p.add_argument("--budget", type=float, default=0.05, help="seconds per call per round")
    p.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="rows at once, each in its own process (the int8 timings run afterwards, alone)",
    )
    p.add_argument("--doc", default="docs/compatibility.md", help="the Markdown matrix ('' none)")
    p.add_argument(
        "--doc-only",
        action="store_true",
        help="run nothing: write --doc from the compat.json in --out (rows of earlier runs)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_bench_compat)


def cmd_bench_compat(args):
    from edgezoo.experiments.compat import bench_compat
    from edgezoo.experiments.compat_doc import markdown

    if args.doc_only:
        from edgezoo.experiments.compat import rewrite_doc

        res = rewrite_doc(args.out, args.doc or "docs/compatibility.md")
        print_json(res) if args.json else print(markdown(res))
        return 0
    res = bench_compat(
        args.out,
        models=args.models,
        epochs=args.epochs,
        n_train=args.train,
        n_test=args.test,
        input_noise=args.input_noise,
        until_accuracy=args.until_accuracy,
        rounds=args.rounds,
        budget_s=args.budget,
        jobs=max(1, args.jobs),
        doc=args.doc or None,
        progress=ui.note,
    )
    print_json(res) if args.json else print(markdown(res))
    return 0
