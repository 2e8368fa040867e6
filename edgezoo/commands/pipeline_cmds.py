"""``edgezoo run`` (the end-to-end pipeline) and ``edgezoo bench`` (inference benchmarks)."""

from __future__ import annotations

from edgezoo import names, ui


def register(sub):
    p = sub.add_parser(
        "run", help="train -> compress -> export -> bench -> report, in one run directory"
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        nargs="?",
        type=names.model_name,
        help="zoo model name (see `edgezoo list`); omit it with --model-file",
    )
    p.add_argument(
        "--dataset",
        type=names.dataset_name,
        help="data set (default: the recipe's, else the model card's)",
    )
    p.add_argument(
        "--model-file",
        help="your own .keras/.h5 model: imported (edgezoo import) instead of trained",
    )
    p.add_argument(
        "--data", help="with --model-file: your data (.npz, .csv, or a folder of class subfolders)"
    )
    from edgezoo.commands.import_cmds import add_import_arguments

    add_import_arguments(p, model_positional=False)
    p.add_argument(
        "--recipe",
        type=names.recipe_name,
        help="YAML recipe path or a shipped recipe name (jet_tagger, demo, float_only)",
    )
    p.add_argument(
        "--out",
        metavar="RUN_DIR",
        help="run directory (default runs/<model>-<dataset>-pipeline-<time>); re-use it to resume",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="Keras progress output, TensorFlow / converter logs and library warnings on screen",
    )
    p.add_argument(
        "--force", action="store_true", help="replace a finished pipeline of another model in --out"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "bench", help="benchmark every artifact of an export directory on this machine"
    )
    p.add_argument(
        "export_dir", metavar="EXPORT_DIR", help="an export directory (with manifest.json)"
    )
    from export.bench import BenchOptions
    from zoo.core.options import add_arguments

    add_arguments(p, BenchOptions)  # --batches, --threads, --budget, --runs, --warmup
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where bench.json/bench.md/plots go (default: the export directory)",
    )
    p.add_argument(
        "--allow-changed",
        action="store_true",
        help='benchmark artifacts whose sha256 no longer matches the manifest, marked "changed since export"',
    )
    p.set_defaults(func=cmd_bench)


def cmd_run(args):
    from edgezoo.pipeline import PipelineError, run_pipeline

    if (args.model_file is None) != (args.data is None):
        raise PipelineError("--model-file and --data go together (your model and your data).")
    if args.model_file and (args.model or args.dataset):
        raise PipelineError(
            "Give either a zoo MODEL (and --dataset) or --model-file with --data, not both."
        )
    imported = (
        None
        if args.model_file is None
        else {
            "model_file": args.model_file,
            "data": args.data,
            "task": args.task,
            "label_column": args.label_column,
            "normalize": args.normalize,
            "seed": args.seed,
        }
    )
    report = run_pipeline(
        args.model,
        args.dataset,
        recipe=_read_recipe(args.recipe),
        out=args.out,
        verbose=1 if args.verbose else 0,
        force=args.force,
        progress=ui.say,
        on_step=None if args.verbose else ui.steps(),
        imported=imported,
    )
    ui.log_into(report.parent)
    print(stage_table(report.parent))
    print(f"report: {report}")
    return 0


def cmd_bench(args):
    from export.bench import BenchOptions, bench_export
    from zoo.core.options import from_args

    data = bench_export(
        args.export_dir,
        out=args.out,
        allow_changed=args.allow_changed,
        on_step=ui.steps(),
        progress=lambda m: None,
        **from_args(BenchOptions, args),
    )  # the bar names each artifact
    from pathlib import Path

    out = Path(args.out or args.export_dir)
    ui.log_into(out)
    print((out / "bench.md").read_text())
    print(f"bench.json, bench.md, latency.png, pareto.png in {out}")
    return 0 if not any("error" in r for r in data["results"]) else 1


def _read_recipe(recipe):
    """The command's one read of its recipe: the model and data set names are checked before
    TensorFlow loads, then every section (:class:`edgezoo.recipe_schema.Recipe`)."""
    import argparse

    from edgezoo.pipeline import PipelineError, load_recipe
    from edgezoo.recipe_schema import Recipe

    rec = load_recipe(recipe)
    try:
        for key, check in (("model", names.model_name), ("dataset", names.dataset_name)):
            if rec.get(key) is not None:
                check(str(rec[key]))
    except argparse.ArgumentTypeError as exc:
        raise PipelineError(f"recipe {recipe}: {exc}") from None
    return Recipe.from_dict(rec)


def stage_table(out) -> str:
    """One row per pipeline stage: status, seconds and what it left (from pipeline.json)."""
    import json
    from pathlib import Path

    from zoo.core.tables import markdown_table

    stages = json.loads((Path(out) / "pipeline.json").read_text()).get("stages", {})
    rows = []
    for name, info in stages.items():
        outputs = info.get("outputs") or {}
        what = outputs.get("metrics") and ", ".join(
            f"{k} {v:.4f}"
            for k, v in outputs["metrics"].items()
            if k in ("accuracy", "mse") and isinstance(v, float)
        )
        what = (
            what
            or ", ".join(
                str(k)
                for k in (
                    outputs.get("steps") or outputs.get("exports") or outputs.get("bench") or {}
                )
            )
            or outputs.get("report", "")
        )
        rows.append([name, info.get("status", ""), f"{info.get('seconds', 0):.1f}", what])
    return markdown_table(rows, ["stage", "status", "seconds", "result"], "llrl")
