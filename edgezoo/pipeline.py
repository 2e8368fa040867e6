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
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import yaml

import zoo

STAGES = ("train", "compress", "export", "bench", "report")
RECIPE_KEYS = {"model", "dataset", "train", "compress", "export", "bench"}
RECIPES_DIR = Path(__file__).parent / "recipes"


class PipelineError(ValueError):
    """A recipe or run directory the pipeline cannot use."""


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
            raise PipelineError(f"Recipe {recipe!r} not found: give a YAML path or one of: {shipped}.")
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
            raise PipelineError(f"Recipe section {key!r} must be a mapping. Received: {data[key]!r}")
    return data


class _State:
    def __init__(self, out: Path, identity: dict):
        self.path = out / "pipeline.json"
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise PipelineError(f"{self.path} is damaged ({exc}); delete it to start the pipeline afresh.") from exc
            if data.get("identity") != identity:
                raise PipelineError(
                    f"{out} holds the pipeline of {data.get('identity')}, not {identity}; choose another "
                    "--out or delete it."
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
        tmp = self.path.with_name(".pipeline.json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)


def run_pipeline(model: str, dataset: str | None = None, *, recipe=None, out=None, progress=print,
                 verbose: int = 0) -> Path:
    """Run (or resume) the whole pipeline; returns the path of report.md."""
    rec = load_recipe(recipe)
    model = model or rec.get("model")
    if not model:
        raise PipelineError("No model: give MODEL on the command line or `model:` in the recipe.")
    card = zoo.get_card(model)  # unknown model -> clear error before any work
    dataset = dataset or rec.get("dataset") or card.dataset
    out = Path(out or Path("runs") / f"{model}-{dataset}-pipeline-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out, {"model": model, "dataset": dataset})

    stages = {"train": _train, "compress": _compress, "export": _export, "bench": _bench, "report": _report}
    stale = False  # once a stage re-runs, every later stage re-runs too
    for i, stage in enumerate(STAGES, start=1):
        section = rec.get(stage) if stage != "report" else None
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
            outputs = stages[stage](model, dataset, rec, out, state, progress, verbose)
        except BaseException as exc:
            state.record(stage, status="failed", error=f"{type(exc).__name__}: {exc}",
                         seconds=round(time.perf_counter() - t0, 1), recipe=section)
            raise
        state.record(stage, status="done", seconds=round(time.perf_counter() - t0, 1), outputs=outputs,
                     recipe=section)
        progress(f"{label}: done in {time.perf_counter() - t0:.1f} s")
    return out / "report.md"


# --------------------------------------------------------------------------- stages

def _train(model, dataset, rec, out, state, progress, verbose):
    from training.train import train

    opts = dict(rec.get("train") or {})
    run_dir = out / "train"
    if run_dir.exists() and not (run_dir / "backup").exists():
        shutil.rmtree(run_dir)  # a half-finished earlier attempt without a resumable backup
    run = train(model, dataset, out=run_dir, verbose=verbose,
                overrides=opts.pop("overrides", None), **opts)
    progress(f"    test metrics: {_short(run.metrics)}")
    return {"run_dir": str(run_dir), "metrics": run.metrics}


def _compress(model, dataset, rec, out, state, progress, verbose):
    from compress import compress

    opts = dict(rec["compress"])
    teacher = opts.pop("distill_from", None)
    shutil.rmtree(out / "compress", ignore_errors=True)  # no stale steps from an earlier recipe
    result = compress(out / "train", distill_from=teacher, out=out / "compress", **opts)
    steps = {step.name: str(step.dir) for step in result.steps}
    for name, path in steps.items():
        progress(f"    {name}: {path}")
    return {"steps": steps}


def _models_to_export(out, state, which="all") -> dict:
    """``which``: "all" (float and every compression step) or a list of names among
    float, final (the last compression step), distill, prune, qat."""
    steps = {k: Path(v) for k, v in state.outputs("compress").get("steps", {}).items()}
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
            raise PipelineError(f"export.models: {name!r} was not produced; choose among {['final', *models]}.")
    return chosen


def _export(model, dataset, rec, out, state, progress, verbose):
    from export import export_run

    opts = dict(rec.get("export") or {})
    to = opts.pop("to", "card")
    which = opts.pop("models", "all")
    if to == "card":
        to = list(zoo.get_card(model).targets)
    exported = {}
    shutil.rmtree(out / "export", ignore_errors=True)  # no stale artifacts from an earlier recipe
    for name, src in _models_to_export(out, state, which).items():
        dest = out / "export" / name
        progress(f"    {name} -> {', '.join(to)}")
        export_run(src, to=tuple(to), out=dest, **opts)
        exported[name] = str(dest)
    return {"exports": exported}


def _bench(model, dataset, rec, out, state, progress, verbose):
    from export.bench import bench_export

    opts = dict(rec.get("bench") or {})
    benched = {}
    for name, dest in state.outputs("export").get("exports", {}).items():
        progress(f"    {name}")
        data = bench_export(dest, progress=lambda m: progress("  " + m), **opts)
        benched[name] = str(Path(dest) / "bench.json")
        failed = [f"{r['artifact']}/{r['runtime']} batch {r['batch']}: {r['error']}"
                  for r in data["results"] if "error" in r]
        if failed:  # bench.json keeps every figure; the stage still fails, loudly
            raise PipelineError(f"bench: {len(failed)} measurement(s) of {name} failed: " + "; ".join(failed[:3]))
    return {"bench": benched}


def _report(model, dataset, rec, out, state, progress, verbose):
    from edgezoo.report import write_report

    path = write_report(out, state.data)
    progress(f"    report: {path}")
    return {"report": str(path)}


def _short(metrics: dict) -> str:
    keys = [k for k in ("accuracy", "mse", "test_loss") if k in metrics]
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in keys)
