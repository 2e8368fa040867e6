"""``edgezoo demo``: the main job on the embedded default data -- the whole pipeline
(train, compress, export, bench, report) for a small MLP and LeNet-5 on the digits.

Each model has its recipe: the MLP's (``demo``) takes it to the FPGA as well -- QKeras and HGQ2,
each as Verilog simulated with Verilator -- and LeNet-5's (``demo_cnn``) stops at hls4ml's C
simulation (the Verilog of a fully unrolled CNN is far beyond a demo's minutes)."""

from __future__ import annotations

import time

from edgezoo import names, ui

RECIPES = {"mlp": "demo", "lenet5": "demo_cnn"}  # the shipped recipe of each default model
OTHERS = "demo_cnn"


def register(sub):
    p = sub.add_parser(
        "demo",
        help="run the pipeline on the embedded digits for mlp and lenet5",
        description="The main job on the embedded digits: for each model, the whole pipeline "
        "(train, compress, export, bench, report) in OUT/MODEL, as `edgezoo run` does.",
    )
    p.add_argument(
        "--out", default="runs/demo", metavar="DIR", help="one run directory per model goes here"
    )
    p.add_argument(
        "--models",
        default="mlp,lenet5",
        type=names.model_names,
        metavar="MODELS",
        help="comma-separated zoo models",
    )
    p.add_argument(
        "--recipe",
        default=None,
        type=names.recipe_name,
        help="YAML recipe path or a shipped recipe name, for every model (default: "
        + ", ".join(f"{m}: {r}" for m, r in RECIPES.items())
        + f", others: {OTHERS})",
    )
    p.set_defaults(func=cmd_demo)


def cmd_demo(args):
    from edgezoo.commands.pipeline_cmds import stage_table
    from edgezoo.pipeline import read_recipe, run_pipeline

    t0 = time.perf_counter()
    recipes = {}  # each recipe read once
    reports = []
    for name in args.models.split(","):
        which = args.recipe or RECIPES.get(name, OTHERS)
        if which not in recipes:
            recipes[which] = read_recipe(which)
        recipe = recipes[which]
        print(f"== {name} on digits")
        ui.log_into(
            f"{args.out}/{name}"
        )  # the libraries' log of each model lands in its run directory
        reports.append(
            run_pipeline(
                name,
                "digits",
                recipe=recipe,
                out=f"{args.out}/{name}",
                progress=ui.say,
                on_step=ui.steps(),
            )
        )
        print(stage_table(reports[-1].parent))
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; reports:")
    for r in reports:
        print(f"  {r}")
    return 0
