"""``edgezoo demo``: the main job on the embedded default data -- the whole pipeline
(train, compress, export, bench, report) for a small MLP and LeNet-5 on the digits."""

from __future__ import annotations

import time

from edgezoo import names, ui


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
        default="demo",
        type=names.recipe_name,
        help="YAML recipe path or a shipped recipe name",
    )
    p.set_defaults(func=cmd_demo)


def cmd_demo(args):
    from edgezoo.commands.pipeline_cmds import stage_table
    from edgezoo.pipeline import read_recipe, run_pipeline

    t0 = time.perf_counter()
    recipe = read_recipe(args.recipe)  # once, for every model
    reports = []
    for name in args.models.split(","):
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
