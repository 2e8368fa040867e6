"""The end-to-end pipeline: train -> compress -> export -> bench -> report, in one run directory.

``edgezoo run MODEL --dataset D --recipe FILE.yaml --out DIR``. A recipe is YAML with the
same options as the stage commands (see ``edgezoo/recipes/``)::

    model: jet_tagger          # optional; the command line's MODEL wins
    dataset: jets              # optional; --dataset wins, else the card's
    train:    {epochs: 30, batch_size: 1024, learning_rate: 0.001, overrides: {}}
    compress: {prune: 0.75, bits: 6, epochs: 10}          # any subset; omit to skip
    export:   {to: [onnx, tflite, hls4ml], models: all}   # to: or "card" (the card's claims);
                                                          # models: all, or e.g. [float, final]
    bench:    {batches: [1, 256], threads: [1, 0], budget_s: 1.0}

Layout of ``DIR``: ``pipeline.json`` (stage status), ``train/`` (the run directory),
``compress/<step>/`` (model directories), ``export/<model>/`` (artifacts + manifest.json +
bench.json/bench.md/plots), ``report.md``. A failing stage stops the run with its error and
leaves the earlier stages' outputs intact; running the command again resumes after the last
completed stage. A stage whose recipe section changed since it ran is re-run, with every
stage after it (as ``make`` would); training itself resumes from its last epoch when it was
interrupted (Keras ``BackupAndRestore``).

Your data is safe: the whole recipe is checked (:mod:`edgezoo.recipe_schema`) before any stage
runs; ``DIR`` must be new, empty or an earlier edgezoo pipeline of the same model and data set
(another one only with ``force``); it is locked while the pipeline runs; ``compress/`` and
``export/`` are rebuilt in locked, marked siblings and put in place only when complete, in one
transaction (:class:`zoo.core.transaction.Build`) that keeps every file edgezoo did not write; every path
read back from ``pipeline.json`` must stay inside ``DIR``.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import yaml

import zoo
from edgezoo.recipe_schema import Recipe
from zoo.core.claim import own_dir, replacing
from zoo.core.errors import EdgezooError
from zoo.core.io import write_json_atomic
from zoo.core.paths import check_writable, inside, safe_name
from zoo.core.run_config import RunConfig

STAGES = ("train", "compress", "export", "bench", "report")
RECIPE_KEYS = {"model", "dataset", "train", "compress", "export", "bench"}
RECIPES_DIR = Path(__file__).parent / "recipes"


class PipelineError(EdgezooError, ValueError):
    """A recipe or run directory the pipeline cannot use."""


def read_recipe(recipe) -> Recipe:
    """The checked, typed recipe of a dict, a shipped recipe name or a YAML path (a
    :class:`Recipe` is returned as it is: a command reads its recipe once)."""
    if isinstance(recipe, Recipe):
        return recipe
    return Recipe.from_dict(load_recipe(recipe))


def load_recipe(recipe) -> dict:
    """A recipe from a dict, a shipped recipe name (``jet_tagger``) or a YAML path."""
    if recipe is None:
        return {}
    if isinstance(recipe, dict):
        data = recipe
    else:
        path = Path(recipe)
        if not path.exists() and (RECIPES_DIR / f"{recipe}.yaml").exists():
            path = RECIPES_DIR / f"{recipe}.yaml"
        if not path.exists():
            shipped = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
            raise PipelineError(
                f"Recipe {recipe!r} not found: give a YAML path or one of: {shipped}."
            )
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise PipelineError(f"Recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PipelineError(f"A recipe is a YAML mapping. Received: {type(data).__name__}")
    unknown = set(data) - RECIPE_KEYS
    if unknown:
        raise PipelineError(f"Unknown recipe keys {sorted(unknown)}; known: {sorted(RECIPE_KEYS)}.")
    for key in ("train", "compress", "export", "bench"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise PipelineError(
                f"Recipe section {key!r} must be a mapping. Received: {data[key]!r}"
            )
    return data


class _State:
    def __init__(self, out: Path, identity: dict, force: bool = False):
        self.path = out / "pipeline.json"
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise PipelineError(
                    f"{self.path} is damaged ({exc}); delete it to start the pipeline afresh."
                ) from exc
            if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
                raise PipelineError(
                    f"{self.path} is damaged (no stages); delete it to start the pipeline afresh."
                )
            if (
                data.get("identity") != identity and force
            ):  # --force: another model's pipeline, start over
                data = {"identity": identity, "stages": {}}
            if data.get("identity") != identity:
                raise PipelineError(
                    f"{out} holds the pipeline of {data.get('identity')}, not {identity}; choose another "
                    "--out, or pass --force to replace it."
                )
            self.data = data
        else:
            self.data = {"identity": identity, "stages": {}}
        self.save()

    def done(self, stage):
        return self.data["stages"].get(stage, {}).get("status") == "done"

    def record(self, stage, **info):
        self.data["stages"][stage] = info
        self.save()

    def outputs(self, stage):
        return self.data["stages"].get(stage, {}).get("outputs", {})

    def save(self):
        write_json_atomic(self.path, self.data)


def run_pipeline(
    model: str | None,
    dataset: str | None = None,
    *,
    recipe=None,
    out=None,
    progress=print,
    verbose: int = 0,
    force: bool = False,
    on_step=None,
    imported: dict | None = None,
) -> Path:
    """Run (or resume) the whole pipeline; returns the path of report.md.

    Everything that can be checked without training is checked first (recipe, data set name,
    whether ``out`` can be written and is edgezoo's); ``force`` replaces a pipeline of another
    model or data set in ``out``. ``progress(line)`` gets the stage lines, ``on_step(label,
    done, total, info)`` the epochs, artifacts and measurements. ``imported``: ``{"model_file": F,
    "data": D, ...}`` (``import_model`` arguments): the first stage imports the user's model and
    data (``edgezoo import``) instead of training. ``recipe``: a :class:`Recipe` (read once by
    the command), or what :func:`read_recipe` reads."""
    from training.train import load_dataset_name_check

    rec = read_recipe(recipe)
    identity = None
    if imported:
        from training.imports import model_name_of

        model, dataset = model_name_of(Path(imported["model_file"])), Path(imported["data"]).name
        identity = {
            "model": model,
            "dataset": dataset,
            "model_file": str(Path(imported["model_file"]).resolve()),
            "data": str(Path(imported["data"]).resolve()),
        }
    model = model or rec.model
    if not model:
        raise PipelineError("No model: give MODEL on the command line or `model:` in the recipe.")
    if not isinstance(model, str):
        raise PipelineError(f"recipe model must be a model name. Received: model={model!r}")
    if not imported:
        card = zoo.get_card(model)  # unknown model -> clear error before any work
        dataset = dataset or rec.dataset or card.dataset
        load_dataset_name_check(dataset)  # before the name becomes part of a path
    rec.check_for(model, imported=bool(imported))
    if out is None:
        runs = Path("runs")
        out = inside(
            runs,
            runs / f"{model}-{dataset}-pipeline-{time.strftime('%Y%m%d-%H%M%S')}",
            "run directory",
        )
    out = check_writable(out)
    identity = identity or {"model": model, "dataset": dataset}
    with own_dir(out, "pipeline", identity, force=force, command=f"run {model}"):
        state = _State(out, identity, force=force)
        return _run_stages(
            model, dataset, rec, out, state, progress, verbose, force, on_step, imported
        )


def _run_stages(
    model, dataset, rec, out, state, progress, verbose, force, on_step=None, imported=None
) -> Path:
    stages = {
        "train": _train,
        "compress": _compress,
        "export": _export,
        "bench": _bench,
        "report": _report,
    }
    if imported:
        stages["train"] = functools.partial(_import, imported)
    stages = {name: functools.partial(fn, on_step=on_step) for name, fn in stages.items()}
    stale = False  # once a stage re-runs, every later stage re-runs too
    for i, stage in enumerate(STAGES, start=1):
        section = rec.sections.get(stage) if stage != "report" else None
        label = f"[{i}/{len(STAGES)}] {stage}"
        if stage == "compress" and not section:
            if state.data["stages"].pop("compress", None) is not None:
                state.save()
                stale = True
            continue
        if stage != "report" and state.done(stage) and not stale:
            if state.data["stages"][stage].get("recipe") == section:
                progress(f"{label}: done earlier, skipped")
                continue
            progress(f"{label}: recipe section changed, re-running it and the stages after it")
        stale = True
        progress(f"{label} ...")
        t0 = time.perf_counter()
        try:
            outputs = stages[stage](model, dataset, rec, out, state, progress, verbose, force)
        except BaseException as exc:
            state.record(
                stage,
                status="failed",
                error=f"{type(exc).__name__}: {exc}",
                seconds=round(time.perf_counter() - t0, 1),
                recipe=section,
            )
            raise
        state.record(
            stage,
            status="done",
            seconds=round(time.perf_counter() - t0, 1),
            outputs=outputs,
            recipe=section,
        )
        progress(f"{label}: done in {time.perf_counter() - t0:.1f} s")
    return out / "report.md"


# --------------------------------------------------------------------------- stages


def _train(model, dataset, rec, out, state, progress, verbose, force, on_step=None):
    from training.train import train

    opts = rec.given("train")
    run_dir = out / "train"  # train() resumes a half-finished attempt of the same model
    run = train(model, dataset, out=run_dir, verbose=verbose, force=force, on_step=on_step, **opts)
    progress(f"    test metrics: {_short(run.metrics)}")
    return {"run_dir": str(run_dir), "metrics": run.metrics}


def _import(imported, model, dataset, rec, out, state, progress, verbose, force, on_step=None):
    from training.imports import import_model

    if rec.sections.get("train"):
        progress("    the recipe's train section is not used: the model comes from --model-file")
    result = import_model(
        out=out / "train", force=True, progress=lambda m: progress("  " + m), **imported
    )
    progress(f"    {result.config.imported['route']}; test metrics: {_short(result.metrics)}")
    return {"run_dir": str(out / "train"), "metrics": result.metrics}


def _compress(model, dataset, rec, out, state, progress, verbose, force, on_step=None):
    from compress import compress

    opts = rec.given("compress")
    teacher = opts.pop("distill_from", None)
    # built beside compress/ and put in place whole (zoo.core.transaction.Build): the earlier steps stay
    # until the new ones are complete; files of yours in compress/ are kept
    result = compress(
        out / "train",
        distill_from=teacher,
        out=out / "compress",
        force=force,
        on_step=on_step,
        **opts,
    )
    steps = {step.name: str(step.dir) for step in result.steps}
    for name, path in steps.items():
        progress(f"    {name}: {path}")
    return {"steps": steps}


def _models_to_export(out, state, which="all") -> dict:
    """``which``: "all" (float and every compression step) or a list of names among
    float, final (the last compression step), distill, prune, qat."""
    steps = {
        safe_name(k, "pipeline.json: compress step"): inside(
            out, Path(v).resolve(), "pipeline.json: compress step path"
        )
        for k, v in state.outputs("compress").get("steps", {}).items()
    }
    models = {"float": out / "train", **steps}
    if which == "all":
        return models
    names = [which] if isinstance(which, str) else list(which)
    chosen = {}
    for name in names:
        if name == "final":
            last = next(reversed(steps), "float")
            chosen[last] = models[last]
        elif name in models:
            chosen[name] = models[name]
        else:
            raise PipelineError(
                f"export.models: {name!r} was not produced; choose among {['final', *models]}."
            )
    return chosen


def _export(model, dataset, rec, out, state, progress, verbose, force, on_step=None):
    from export import export_run
    from export.api import refresh_manifests

    opts, to, which = rec.given("export"), rec.export_to, rec.export_models
    if to == "card":
        to = list(RunConfig.read(out / "train").card["targets"])
    exported = {}
    final = out / "export"
    # built beside export/ and put in place whole (zoo.core.transaction.Build): the earlier export stays
    # until the new one is complete; files of yours in export/ (and in its model folders) stay
    with replacing(
        final, "export", state.data.get("identity"), force=force, command=f"run {model}: export"
    ) as build:
        for name, src in _models_to_export(out, state, which).items():
            model_to = _targets_of(src, to)
            if not model_to:
                progress(f"    {name}: not exported (an HGQ2 model exports to hls4ml/rtl only)")
                continue
            progress(f"    {name} -> {', '.join(model_to)}")
            export_run(
                src, to=model_to, out=build.tmp / name, on_step=on_step, **opts
            )  # same depth: manifests' relative paths hold
            exported[name] = str(final / name)
        build.commit(on_retarget=refresh_manifests)  # hls4ml's recorded paths name export/
    return {"exports": exported}


def _targets_of(src: Path, to) -> tuple:
    """The recipe's targets that apply to the model in ``src``: all of them, but for an HGQ2
    model (compress step ``hgq``) only the FPGA ones, which the report says."""
    if not RunConfig.read(src).hgq:
        return tuple(to)
    from export.targets.hls4ml.hgq import FPGA_TARGETS

    return tuple(t for t in to if t in FPGA_TARGETS)


def _bench(model, dataset, rec, out, state, progress, verbose, force, on_step=None):
    from export.bench import bench_export

    opts = rec.given("bench")
    benched = {}
    for name, dest in state.outputs("export").get("exports", {}).items():
        safe_name(name, "pipeline.json: export name")
        dest = inside(out / "export", Path(dest).resolve(), "pipeline.json: export path")
        progress(f"    {name}")
        lines = (
            (lambda m: None) if on_step else (lambda m: progress("  " + m))
        )  # a bar says it already
        data = bench_export(dest, progress=lines, on_step=on_step, **opts)
        benched[name] = str(Path(dest) / "bench.json")
        failed = [
            f"{r['artifact']}/{r['runtime']} batch {r['batch']}: {r['error']}"
            for r in data["results"]
            if "error" in r
        ]
        if failed:  # bench.json keeps every figure; the stage still fails, loudly
            raise PipelineError(
                f"bench: {len(failed)} measurement(s) of {name} failed: " + "; ".join(failed[:3])
            )
    return {"bench": benched}


def _report(model, dataset, rec, out, state, progress, verbose, force, on_step=None):
    from edgezoo.report import write_report
    from export.manifest import load_manifest

    for dest in (
        state.outputs("export").get("exports", {}).values()
    ):  # report only what was verified
        load_manifest(inside(out / "export", Path(dest).resolve(), "pipeline.json: export path"))
    path = write_report(out, state.data)
    progress(f"    report: {path}")
    return {"report": str(path)}


def _short(metrics: dict) -> str:
    keys = [k for k in ("accuracy", "mse", "test_loss") if k in metrics]
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in keys)
