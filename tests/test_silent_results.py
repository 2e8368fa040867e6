"""Silent wrong results and late or misleading errors: each case a user met, with what edgezoo
does now. Real TensorFlow/Keras training, export and benchmark runs (tiny: an mlp on 200 digits,
one or two epochs); a full disk on a real small tmpfs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgezoo.cli import main
from zoo.core.run_config import RunConfig

TINY = {"epochs": 1, "limit": 200, "verbose": 0}
ONNX_FP32 = {"to": ["onnx"], "onnx_variants": ["fp32"]}
BENCH_FAST = {"batches": [1], "threads": [1], "budget_s": 0.02, "runs": 5, "warmup": 1}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """One trained mlp (digits, 200 samples, 1 epoch) and its ONNX fp32 export."""
    from export import export_run
    from training.train import train

    base = tmp_path_factory.mktemp("silent")
    train("mlp", "digits", out=base / "run", **TINY)
    export_run(base / "run", out=base / "exp", **ONNX_FP32)
    return base


@pytest.fixture
def copy(work, tmp_path):
    shutil.copytree(work / "run", tmp_path / "run")
    shutil.copytree(work / "exp", tmp_path / "exp")
    (tmp_path / "exp" / "manifest.json").write_text(
        (tmp_path / "exp" / "manifest.json").read_text()
    )
    return tmp_path


def _cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.err.strip(), captured.out


def _one_line_error(rc: int, err: str, *needles: str):
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("edgezoo ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _edit_onnx_weight(path: Path):
    """Another valid ONNX model at the same path: one weight of the first initializer changed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = model.graph.initializer[0]
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += 1.0
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, str(path))


# ---------------------------------------------------------------- resume under other settings


def test_resume_with_other_settings_is_refused_or_starts_afresh(tmp_path):
    from training.errors import TrainingError
    from training.train import train

    run = tmp_path / "run"

    def interrupt(label, done, total, info):
        if done == 2:  # epoch 1's backup is written, epoch 2's not
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("mlp", "digits", out=run, epochs=4, limit=200, verbose=0, on_step=interrupt)
    assert (run / "backup").exists() and json.loads((run / "config.json").read_text())["seed"] == 0
    # another seed (another split: most of the new test digits were trained on): refused
    with pytest.raises(TrainingError, match=r"seed 0 -> 1.*--force to start afresh"):
        train("mlp", "digits", out=run, epochs=4, limit=200, seed=1, verbose=0)
    with pytest.raises(TrainingError, match=r"limit 200 -> 150"):
        train("mlp", "digits", out=run, epochs=4, limit=150, verbose=0)
    with pytest.raises(TrainingError, match=r"input_noise 0.0 -> 0.1"):
        train("mlp", "digits", out=run, epochs=4, limit=200, input_noise=0.1, verbose=0)
    # nothing was changed by the refusals: the old settings still describe the weights
    assert json.loads((run / "config.json").read_text())["seed"] == 0
    assert (run / "backup").exists()
    # --force: a fresh run, and config.json describes it
    result = train("mlp", "digits", out=run, epochs=1, limit=200, seed=1, verbose=0, force=True)
    assert result.metrics["resumed"] is False and result.metrics["epochs_run"] == 1
    assert json.loads((run / "config.json").read_text())["seed"] == 1


def test_resume_conflicts_names_each_setting():
    from training.run_dir import resume_conflicts

    card = {"task": "classification", "input_shape": [64]}
    old = {"model": "mlp", "dataset": "digits", "seed": 0, "limit": None, "overrides": {}}
    old = {**old, "card": card, "input_noise": 0.0, "data": {"n_train": 8}}
    new = {**old, "seed": 2, "overrides": {"classes": 5}, "data": {"n_train": 10}}
    old, new = RunConfig.from_dict(old), RunConfig.from_dict(new)
    assert resume_conflicts(old, new) == [
        "seed 0 -> 2",
        "overrides {} -> {'classes': 5}",
        "data.n_train 8 -> 10",
    ]
    assert resume_conflicts(old, RunConfig.from_dict(old.to_dict())) == []
    assert resume_conflicts(None, old)  # unreadable config.json: never resumed silently
    older = old.without("input_noise")  # before input noise existed
    assert resume_conflicts(older, old) == []
    noisy = old.replace(input_noise=0.05)
    assert resume_conflicts(older, noisy) == ["input_noise 0.0 -> 0.05"]


def test_a_limit_that_empties_a_split_is_one_line_before_training(tmp_path, capsys):
    out = tmp_path / "l5"
    rc, err, _ = _cli(capsys, "train", "mlp", "--dataset", "digits", "--limit", "5", "--out", out)
    _one_line_error(rc, err, "limit=5", "validation", "at least 10")
    assert not out.exists()


# ---------------------------------------------------------------- bench: only what it verified


def test_bench_reports_only_what_it_verified(copy):
    """The export directory is locked (shared) while measured: an export cannot replace it
    meanwhile. A file changed by a writer that ignores the lock is found by the hashes taken
    again after measuring: nothing is written. With --allow-changed the changed artifact is
    measured but never "verified" nor "best", and marked changed in bench.json and bench.md."""
    from export import best, export_run
    from export.bench import bench_export
    from export.manifest import ManifestError
    from zoo.core.locks import DirLockedError

    seen = []

    def meanwhile(label, done, total, info):
        if done == 1 and not seen:  # the Keras source is measured, the ONNX file not yet
            with pytest.raises(DirLockedError):
                export_run(copy / "run", out=copy / "exp", **ONNX_FP32)
            _edit_onnx_weight(copy / "exp" / "model.onnx")
            seen.append(1)

    with pytest.raises(ManifestError, match="changed while they were measured"):
        bench_export(
            copy / "exp", out=copy / "b1", progress=lambda m: None, on_step=meanwhile, **BENCH_FAST
        )
    assert seen and not (copy / "b1" / "bench.json").exists()

    data = bench_export(
        copy / "exp", out=copy / "b", allow_changed=True, progress=lambda m: None, **BENCH_FAST
    )
    onnx_rows = [r for r in data["results"] if r["artifact"] == "onnx-fp32"]
    assert onnx_rows and all(r["changed"] and not r["verified"] for r in onnx_rows)
    assert all("error" not in r for r in onnx_rows)  # measured all the same
    rows = {r["artifact"]: r for r in best.best_rows(data)}
    assert not rows["onnx-fp32"]["best"] and "changed since export" in rows["onnx-fp32"]["why"]
    assert rows["keras"]["best"]  # the unchanged source is the verified one
    saved = json.loads((copy / "b" / "bench.json").read_text())
    assert all(
        r["changed"] and not r["verified"] for r in saved["results"] if r["artifact"] == "onnx-fp32"
    )
    md = (copy / "b" / "bench.md").read_text()
    assert "onnx-fp32 (changed since export)" in md and "**onnx-fp32" not in md


# ---------------------------------------------------------------- unknown keys are refused


def test_a_mistyped_thresholds_key_is_refused(copy, capsys):
    from export import export_run
    from export.errors import ExportError

    with pytest.raises(ExportError, match=r"'onnx/int9'.*Did you mean: onnx/int8"):
        export_run(
            copy / "run",
            out=copy / "e2",
            thresholds={"onnx/int9": {"max_rel_error": 0.01}},
            **ONNX_FP32,
        )
    with pytest.raises(ExportError, match=r"'max_rel_eror'.*Did you mean: max_rel_error"):
        export_run(
            copy / "run",
            out=copy / "e2",
            thresholds={"*/int8": {"max_rel_eror": 0.01}},
            **ONNX_FP32,
        )
    rc, err, _ = _cli(
        capsys, "export", copy / "run", "--to", "onnx", "--out", copy / "e3",
        "--thresholds", '{"onnx/int9": {"min_argmax_agreement": 0.99}}',
    )  # fmt: skip
    _one_line_error(rc, err, "onnx/int9", "onnx/int8")
    assert not (copy / "e2").exists() and not (copy / "e3").exists()


def test_recipe_types_and_unknown_keys_fail_before_training(tmp_path, capsys):
    from edgezoo.pipeline import run_pipeline
    from edgezoo.recipe_schema import RecipeError

    cases = [
        ({"export": {"to": "onnx"}}, r"export.to must be a list of targets, e.g. to: \[onnx\]"),
        ({"train": {"epoch": 1}}, r"unknown option\(s\) \['epoch'\]. Did you mean: epochs\?"),
        ({"bench": {"batch": [1]}}, r"unknown option\(s\) \['batch'\]. Did you mean: batches\?"),
        ({"train": {"epochs": "3"}}, r"train.epochs must be int"),
        ({"export": {"thresholds": {"tflite/int9": {}}}}, r"'tflite/int9'.*tflite/int8"),
    ]
    for i, (recipe, match) in enumerate(cases):
        out = tmp_path / f"p{i}"
        with pytest.raises(RecipeError, match=match):
            run_pipeline("mlp", "digits", recipe=recipe, out=out, progress=lambda m: None)
        assert not out.exists()  # nothing trained, no .export.new
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train: {epochs: 1, limit: 200}\nexport: {to: onnx}\n")
    rc, err, _ = _cli(
        capsys, "run", "mlp", "--dataset", "digits", "--recipe", recipe, "--out", tmp_path / "p"
    )
    _one_line_error(rc, err, "export.to", "[onnx]")
    assert not (tmp_path / "p").exists()


# ---------------------------------------------------------------- data problems at load


def test_non_finite_and_malformed_data_are_refused_at_load(tmp_path):
    from training.datasets.registry import DatasetError
    from training.datasets.userdata import read_user_data

    x = np.random.default_rng(0).random((50, 4)).astype("float32")
    x[7, 2], x[9, 1], x[30, 0] = np.nan, np.inf, -np.inf
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(50) % 2)
    with pytest.raises(
        DatasetError, match=r"nan.npz: array x holds 3 non-finite .* 3 row\(s\), the first in row 7"
    ):
        read_user_data(tmp_path / "nan.npz", input_shape=(4,))
    y = (np.arange(50) % 2).astype("float32")
    y[12] = np.nan
    np.savez(tmp_path / "ynan.npz", x=np.ones((50, 4), "float32"), y=y)
    with pytest.raises(DatasetError, match=r"array y holds 1 non-finite .* row 12"):
        read_user_data(tmp_path / "ynan.npz", input_shape=(4,))
    (tmp_path / "inf.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,inf,0\n")
    with pytest.raises(DatasetError, match=r"inf.csv: the feature columns .* row 2"):
        read_user_data(tmp_path / "inf.csv", input_shape=(2,))
    (tmp_path / "header.csv").write_text("a,b,label\n")
    with pytest.raises(DatasetError, match=r"header.csv has no data rows"):
        read_user_data(tmp_path / "header.csv", input_shape=(2,))
    np.savez(tmp_path / "text.npz", x=np.ones((50, 4), "float32"), y=np.array(["cat", "dog"] * 25))
    with pytest.raises(DatasetError, match=r"array y holds text \(labels are text, e.g. 'cat'\)"):
        read_user_data(tmp_path / "text.npz", input_shape=(4,))


def test_text_labels_and_header_only_csv_through_import(work, tmp_path, capsys):
    np.savez(tmp_path / "text.npz", x=np.ones((50, 64), "float32"), y=np.array(["a", "b"] * 25))
    rc, err, _ = _cli(
        capsys,
        "import",
        work / "run" / "model.keras",
        "--data",
        tmp_path / "text.npz",
        "--out",
        tmp_path / "i1",
    )
    _one_line_error(rc, err, "labels are text")
    (tmp_path / "h.csv").write_text(",".join(f"f{i}" for i in range(64)) + ",label\n")
    rc, err, _ = _cli(
        capsys,
        "import",
        work / "run" / "model.keras",
        "--data",
        tmp_path / "h.csv",
        "--out",
        tmp_path / "i2",
    )
    _one_line_error(rc, err, "has no data rows")
    assert not (tmp_path / "i1").exists() and not (tmp_path / "i2").exists()


# ---------------------------------------------------------------- uninformative parity


def test_parity_against_a_constant_reference_is_marked_uninformative(copy, capsys):
    import keras

    from edgezoo.report import write_report
    from export import export_run

    path = copy / "run" / "model.keras"
    model = keras.models.load_model(path)
    last = model.get_layer("output")  # the last Dense, before the softmax
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])  # every class 0.1, always
    model.save(path)
    manifest = export_run(copy / "run", out=copy / "pipe" / "export" / "float", **ONNX_FP32)
    parity = manifest["artifacts"][0]["parity"]
    assert parity["passed"] and parity["max_abs_diff"] < 1e-6  # it "passes" ...
    assert (
        parity["informative"] is False and parity["reference_spread"] < 1e-3
    )  # ... proving nothing
    from export.manifest import Manifest, parity_rows

    assert parity_rows(Manifest.from_dict(manifest))[0][-1].startswith("pass (uninformative")
    report = write_report(
        copy / "pipe", {"identity": {"model": "mlp", "dataset": "digits"}, "stages": {}}
    )
    text = Path(report).read_text()
    assert "pass (uninformative)" in text and "parity is uninformative" in text
    # the trained model's parity is informative
    trained = json.loads((copy / "exp" / "manifest.json").read_text())["artifacts"][0]["parity"]
    assert trained["informative"] is True
    rc, _, out = _cli(
        capsys,
        "export",
        copy / "run",
        "--to",
        "onnx",
        "--onnx-variants",
        "fp32",
        "--out",
        copy / "e4",
    )
    assert rc == 0 and "warning: parity is uninformative" in out


# ---------------------------------------------------------------- full disk, long paths


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)], capture_output=True
    )
    assert done.returncode == 0, f"cannot mount a tmpfs (root needed): {done.stderr.decode()[:200]}"
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_first_export_onto_a_full_disk_is_one_line_and_leaves_nothing(work, tiny_tmpfs, capsys):
    out = tiny_tmpfs / "exp"
    rc, err, _ = _cli(capsys, "export", work / "run", "--to", "onnx,tflite", "--out", out)
    _one_line_error(rc, err, "no space left on the device")
    assert list(tiny_tmpfs.iterdir()) == []


def test_an_over_long_out_is_one_line(work, tmp_path, capsys):
    long = tmp_path / ("x" * 300)
    rc, err, _ = _cli(
        capsys,
        "train",
        "mlp",
        "--dataset",
        "digits",
        "--limit",
        "200",
        "--epochs",
        "1",
        "--out",
        long,
    )
    _one_line_error(rc, err, "path is too long", "choose a shorter --out")
    rc, err, _ = _cli(capsys, "export", work / "run", "--to", "onnx", "--out", long)
    _one_line_error(rc, err, "path is too long")
    deep = tmp_path / "/".join(["y" * 200] * 25)  # each name fine, the path over PATH_MAX
    rc, err, _ = _cli(
        capsys, "bench", work / "exp", "--out", deep, "--batches", "1", "--threads", "1"
    )
    _one_line_error(rc, err, "path is too long")
    assert "y" * 200 not in os.listdir(tmp_path)  # nothing half-made of the deep path


def test_informativeness_of_a_reference():
    from export.verify import informativeness

    rng = np.random.default_rng(0)
    uniform = np.full((30, 10), 0.1)
    assert informativeness(uniform, "classification")["informative"] is False
    # one class for every input, by a hair: the classifier decides nothing
    tie = uniform + rng.normal(0, 0.002, uniform.shape)
    tie[:, 3] += 0.01
    found = informativeness(tie, "classification")
    assert found["informative"] is False and "same class with near-ties" in found["uninformative"]
    trained = rng.dirichlet(np.full(10, 0.3), 30)
    assert informativeness(trained, "classification")["informative"] is True
    # a regression around 300 varying by 0.2: a constant artifact would fail the fp32 bound
    kelvin = 300 + rng.normal(0, 0.2, (30, 1))
    assert informativeness(kelvin, "regression", atol=1e-4, rtol=1e-5)["informative"] is True
    assert informativeness(kelvin, "regression")["informative"] is False  # e.g. int8's rel. error
