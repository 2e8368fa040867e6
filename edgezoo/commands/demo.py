"""``edgezoo demo``: the main job on the embedded default data -- the whole pipeline
(train, compress, export, bench, report) for a small MLP and LeNet-5 on the digits."""

from __future__ import annotations

import time


def register(sub):
    p = sub.add_parser("demo", help="run the pipeline on the embedded digits for mlp and lenet5")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--models", default="mlp,lenet5")
    p.add_argument("--recipe", default="demo")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args):
    from edgezoo.pipeline import run_pipeline

    t0 = time.perf_counter()
    reports = []
    for name in args.models.split(","):
        print(f"== {name} on digits")
        reports.append(run_pipeline(name, "digits", recipe=args.recipe, out=f"{args.out}/{name}"))
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; reports:")
    for r in reports:
        print(f"  {r}")
    return 0
