"""edgezoo never loses or corrupts a user's data (issue 14): each case a careless or hostile user
tried, with what edgezoo does now. Real training, export and benchmark runs; SIGKILL in a real
subprocess; a full disk on a real (small) tmpfs when this machine lets the test mount one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgezoo.cli import main
from edgezoo.pipeline import run_pipeline
from edgezoo.recipe_schema import RecipeError
from zoo.core.locks import DirLockedError
from zoo.core.paths import MARKER, RunDirError

ROOT = Path(__file__).resolve().parents[1]
TINY_TRAIN = {"epochs": 1, "limit": 200}
ONNX_ONLY = {"to": ["onnx"], "onnx_variants": ["fp32"]}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """One trained mlp (digits, 200 samples, 1 epoch) and its ONNX export, in a pipeline-like
    layout: ``run/`` and ``exports/float/`` (the manifest's source.dir is ``../../run``)."""
    from export import export_run
    from training.train import train

    base = tmp_path_factory.mktemp("reliability")
    train("mlp", "digits", out=base / "run", verbose=0, **TINY_TRAIN)
    export_run(base / "run", out=base / "exports" / "float", **ONNX_ONLY)
    return base


@pytest.fixture
def copy(work, tmp_path):
    """A private copy of the module's run and export (tests change files in it)."""
    shutil.copytree(work / "run", tmp_path / "run")
    shutil.copytree(work / "exports", tmp_path / "exports")
    return tmp_path


def _cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return rc, err


def _one_line_error(rc: int, err: str, *needles: str):
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("edgezoo ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# ---------------------------------------------------------------- 1. directories it does not own


def test_1_directory_not_written_by_edgezoo_is_never_adopted(tmp_path, capsys):
    d = tmp_path / "D"
    (d / "train").mkdir(parents=True)
    (d / "train" / "important.txt").write_text("x")
    with pytest.raises(RunDirError, match="not written by edgezoo"):
        run_pipeline(
            "mlp",
            "digits",
            recipe={"train": TINY_TRAIN, "export": ONNX_ONLY},
            out=d,
            progress=lambda m: None,
        )
    assert (d / "train" / "important.txt").read_text() == "x"
    assert sorted(p.name for p in d.iterdir()) == ["train"]  # nothing written into it
    rc, err = _cli(
        capsys,
        "train",
        "mlp",
        "--dataset",
        "digits",
        "--epochs",
        1,
        "--out",
        d / "train",
        "--quiet",
    )
    _one_line_error(rc, err, "not written by edgezoo")
    assert sorted(p.name for p in (d / "train").iterdir()) == ["important.txt"]


# ---------------------------------------------------------------- 2. a recipe typo


def test_2_recipe_typo_fails_before_any_stage(tmp_path):
    d = tmp_path / "D"
    typo = {"train": TINY_TRAIN, "export": {"to": ["onnx", "tflitee"]}}
    with pytest.raises(RecipeError, match="tflitee"):
        run_pipeline("mlp", "digits", recipe=typo, out=d, progress=lambda m: None)
    assert not d.exists()  # not even the run directory: nothing trained, nothing deleted
    for bad, needle in (
        (({"train": {"epochs": "3"}}), "train.epochs must be int. Received: epochs='3'"),
        ({"bench": {"runs": -1}}, "bench.runs must be >= 1"),
        ({"compress": {"prune": 1.5}}, "sparsity"),
        ({"export": {"models": ["qat"]}}, "export.models"),
        ({"train": {"epoch": 3}}, "train: unknown option(s) ['epoch']"),
    ):
        with pytest.raises(RecipeError) as info:
            run_pipeline("mlp", "digits", recipe=bad, out=d, progress=lambda m: None)
        assert needle in str(info.value) and "\n" not in str(info.value)
        assert not d.exists()


# ---------------------------------------------------------------- 3. paths leaving the run directory


def test_3_paths_from_recipes_state_and_names_stay_inside(copy, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "anywhere"
    with pytest.raises(RecipeError, match="bench: unknown option"):
        run_pipeline(
            "mlp",
            "digits",
            recipe={"bench": {"out": str(elsewhere)}},
            out=tmp_path / "P",
            progress=lambda m: None,
        )
    assert not elsewhere.exists() and not (tmp_path / "P").exists()

    # a step name in pipeline.json that climbs out of the run directory
    d = tmp_path / "D"
    d.mkdir()
    shutil.copytree(copy / "run", d / "train")
    compress = {"prune": 0.5, "epochs": 1}
    (d / "pipeline.json").write_text(
        json.dumps(
            {
                "identity": {"model": "mlp", "dataset": "digits"},
                "stages": {
                    "train": {"status": "done", "recipe": TINY_TRAIN, "outputs": {}},
                    "compress": {
                        "status": "done",
                        "recipe": compress,
                        "outputs": {"steps": {"../../x": str(d / "train")}},
                    },
                },
            }
        )
    )
    from zoo.core.marker import adopt_dir

    adopt_dir(d)  # an older edgezoo's pipeline (no marker): edgezoo's only once adopted
    with pytest.raises(RunDirError, match=r"'\.\./\.\./x' is not a plain name"):
        run_pipeline(
            "mlp",
            "digits",
            recipe={"train": TINY_TRAIN, "compress": compress, "export": ONNX_ONLY},
            out=d,
            progress=lambda m: None,
        )
    assert not (tmp_path / "x").exists() and not (d / "x").exists()

    # a data set name that is a path: rejected before any directory is made of it
    cwd = tmp_path / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    rc, err = _cli(capsys, "run", "mlp", "--dataset", "../../../x")
    _one_line_error(rc, err, "Unknown data set")
    assert list(cwd.iterdir()) == []  # no runs/, no runs/mlp-.., no x-pipeline-...


# ---------------------------------------------------------------- 4. two writers, one directory


@pytest.fixture
def holder():
    """Hold edgezoo's lock on a directory from another process; yields (lock(path) -> pid)."""
    procs = []

    def lock(path: Path) -> int:
        code = textwrap.dedent("""
            import sys, time
            from zoo.core.locks import lock_dir
            ctx = lock_dir(sys.argv[1], command="edgezoo held-by-test")
            ctx.__enter__()
            print("locked", flush=True)
            time.sleep(120)
        """)
        p = subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        procs.append(p)
        assert p.stdout.readline().strip() == "locked"
        return p.pid

    yield lock
    for p in procs:
        p.kill()
        p.wait()


def test_4_second_writer_gets_one_error_naming_the_holder(copy, tmp_path, holder, capsys):
    out = tmp_path / "E"
    pid = holder(out)
    rc, err = _cli(
        capsys, "export", copy / "run", "--to", "onnx", "--onnx-variants", "fp32", "--out", out
    )
    _one_line_error(rc, err, f"pid {pid}", "held-by-test", "being written")
    assert not (out / "manifest.json").exists() and not (out / "model.onnx").exists()

    run = copy / "run"
    before = (run / "model.keras").read_bytes()
    pid = holder(run)
    rc, err = _cli(
        capsys,
        "train",
        "mlp",
        "--dataset",
        "digits",
        "--epochs",
        1,
        "--limit",
        100,
        "--out",
        run,
        "--quiet",
    )
    _one_line_error(rc, err, f"pid {pid}")
    assert (run / "model.keras").read_bytes() == before  # the first run's work is intact

    exp = copy / "exports" / "float"
    holder(exp)
    with pytest.raises(DirLockedError):
        from export.bench import bench_export

        bench_export(exp, batches=[1], threads=[1], budget_s=0.01, runs=5, warmup=1)
    with pytest.raises(DirLockedError):
        from compress import compress

        compress(copy / "run", prune=0.5, epochs=1, out=out)


# ---------------------------------------------------------------- 5. bench verifies before it trusts


def _edit_manifest(exp: Path, fn):
    m = json.loads((exp / "manifest.json").read_text())
    fn(m)
    (exp / "manifest.json").write_text(json.dumps(m))


def test_5_bench_checks_sha256_bytes_and_paths(work, copy, tmp_path, monkeypatch, capsys):
    import onnx

    from export.bench import bench_export
    from export.manifest import ManifestError

    exp = copy / "exports" / "float"
    pristine = (exp / "manifest.json").read_text()
    # an artifact changed after export, still a valid ONNX model
    m = onnx.load(exp / "model.onnx")
    m.doc_string = "edited by someone after the export"
    onnx.save(m, exp / "model.onnx")
    rc, err = _cli(capsys, "bench", exp, "--batches", 1, "--threads", 1, "--budget", 0.01)
    _one_line_error(rc, err, "changed since export", "model.onnx", "--allow-changed")
    assert not (exp / "bench.json").exists()

    # --allow-changed measures it, marked
    data = bench_export(
        exp,
        batches=[1],
        threads=[1],
        budget_s=0.02,
        runs=10,
        warmup=1,
        allow_changed=True,
        progress=lambda m: None,
    )
    rows = [r for r in data["results"] if r["artifact"] == "onnx-fp32"]
    assert rows and all(r.get("note") == "changed since export" and "p50_us" in r for r in rows)
    assert all("note" not in r for r in data["results"] if r["artifact"] == "keras")
    assert "onnx-fp32 (changed since export)" in (exp / "bench.md").read_text()
    assert rows[0]["bytes"] == (exp / "model.onnx").stat().st_size

    # false bytes, a path outside the directory, a missing source
    shutil.copy(work / "exports" / "float" / "model.onnx", exp / "model.onnx")
    for edit, needle in (
        (lambda m: m["artifacts"][0].update(path="../../../etc/hostname"), "leads outside"),
        (lambda m: m["artifacts"][0].update(path=str(exp / "model.onnx")), "must be relative"),
        (lambda m: m["source"].pop("sha256"), "lacks"),
        (lambda m: m.pop("source"), "lacks 'source'"),
    ):
        (exp / "manifest.json").write_text(pristine)
        _edit_manifest(exp, edit)
        with pytest.raises(ManifestError, match=needle):
            bench_export(exp, batches=[1], threads=[1], progress=lambda m: None)
    (exp / "manifest.json").write_text(pristine)
    _edit_manifest(exp, lambda m: m["artifacts"][0].update(bytes=m["artifacts"][0]["bytes"] + 1))
    with pytest.raises(ManifestError, match="changed since export.*bytes"):
        bench_export(exp, batches=[1], threads=[1], progress=lambda m: None)

    # a moved export directory: its source is resolved against the manifest, never the current directory
    moved = tmp_path / "elsewhere" / "deeper" / "float"
    shutil.copytree(copy / "exports" / "float", moved)
    (moved / "manifest.json").write_text(pristine)
    monkeypatch.chdir(copy / "exports" / "float")  # where ../../run would find a model
    from export.manifest import load_manifest

    with pytest.raises(
        ManifestError, match="source model .* is missing .*relative to the manifest"
    ):
        load_manifest(moved, allow_changed=True)


# ---------------------------------------------------------------- 6. a re-export that fails halfway


def _snapshot(d: Path) -> dict:
    """Every file under ``d`` (but the lock) -> its bytes' sha256."""
    from export.common import sha256_file

    return {
        p.relative_to(d).as_posix(): sha256_file(p)
        for p in sorted(d.rglob("*"))
        if p.is_file() and p.name != ".edgezoo.lock"
    }


def test_6_a_reexport_replaces_the_earlier_export_only_when_complete(copy, tmp_path, monkeypatch):
    from export import ExportFailed, export_run
    from export.manifest import load_manifest
    from zoo.core.claim import own_dir
    from zoo.core.io import write_json_atomic
    from zoo.core.locks import lock_dir
    from zoo.core.marker import new_marker
    from zoo.core.transaction import Build

    run, exp = copy / "run", copy / "exports" / "float"
    # stands for an earlier `edgezoo bench` of this export (a real one takes ~15 s: test 5):
    # written under the lock, so recorded in the marker as edgezoo's
    with own_dir(exp, "bench"):
        write_json_atomic(exp / "bench.json", {"export_dir": ".", "results": []})
    (exp / "notes.txt").write_text("my notes")  # a user's files in edgezoo's directory
    (exp / "mine").mkdir()
    (exp / "mine" / "plot.py").write_text("print('mine')")
    before = _snapshot(exp)
    assert {"manifest.json", "model.onnx", "bench.json", "notes.txt", "mine/plot.py"} <= set(before)
    onnx = {"to": ("onnx",), "onnx_variants": ("fp32",), "opset": 13}  # a new model.onnx

    def siblings():  # the temporary build directory never outlives the export
        return sorted(p.name for p in exp.parent.iterdir() if p.name != "float")

    # a parity gate fails: the earlier export and its bench results stay, byte for byte
    strict = {"onnx/fp32": {"min_argmax_agreement": 1.01}}
    with pytest.raises(ExportFailed, match="keeps its earlier export, unchanged.*argmax_agreement"):
        export_run(run, out=exp, thresholds=strict, **onnx)
    assert _snapshot(exp) == before and siblings() == []

    # interrupted (Ctrl-C; a kill alike) after the new model.onnx was written, before the manifest
    def interrupt(msg):
        if msg.endswith(": pass"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_run(run, out=exp, progress=interrupt, **onnx)
    assert _snapshot(exp) == before and siblings() == []

    # what a killed build left beside it (marked as a build of float/, no longer locked) goes
    # with the next export; a hidden folder of the user's of a like name stays
    left = exp.parent / ".float.export-1-0badc0de"
    left.mkdir()
    write_json_atomic(
        left / MARKER, new_marker("export", build={"of": "float", "token": "0badc0de"})
    )
    (left / "model.onnx").write_text("half")
    look_alike = exp.parent / ".float.export-2-0badc0de"
    look_alike.mkdir()
    (look_alike / "mine.txt").write_text("mine")

    # complete: locked while it builds, through the swap, until it returns; the user's files kept
    probes = []

    def probe(msg=None):
        try:
            with lock_dir(exp):
                probes.append("free")
        except DirLockedError:
            probes.append("locked")

    commit = Build.commit

    def commit_then_probe(self, *a, **kw):
        commit(self, *a, **kw)
        probe()

    monkeypatch.setattr(Build, "commit", commit_then_probe)
    export_run(run, out=exp, progress=probe, **onnx)
    assert len(probes) > 2 and set(probes) == {"locked"}, probes
    probe()
    assert probes[-1] == "free"
    after = _snapshot(exp)
    for name in ("notes.txt", "mine/plot.py"):
        assert after[name] == before[name]
    assert after["model.onnx"] != before["model.onnx"]
    assert "bench.json" not in after  # it measured the earlier files
    text = (exp / "manifest.json").read_text()
    assert ".float.export-" not in text and str(copy) not in text  # relative to the final place
    assert siblings() == [".float.export-2-0badc0de"]  # the user's look-alike is no build
    assert (look_alike / "mine.txt").read_text() == "mine"
    manifest, src, changed = load_manifest(exp)  # bench's checks: sha256, sizes, the source
    assert changed == {} and src.resolve() == run.resolve()
    assert manifest.artifacts[0]["sha256"] == after["model.onnx"]

    # a directory edgezoo did not write is refused, nothing written into it or beside it
    user = tmp_path / "user"
    user.mkdir()
    (user / "important.txt").write_text("x")
    with pytest.raises(RunDirError, match="not written by edgezoo"):
        export_run(run, out=user, **onnx)
    assert os.listdir(user) == ["important.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".user")]


# ---------------------------------------------------------------- 7. resume after SIGKILL / a full disk


def _history_epochs(run: Path) -> list[int]:
    import csv

    with open(run / "history.csv") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


KILL_ON_SECOND_BACKUP = textwrap.dedent("""
    import os, signal, sys
    import zoo  # sets up the two Keras worlds before TensorFlow loads
    import keras
    original = keras.callbacks.BackupAndRestore._save_model
    saves = []
    def save(self):
        saves.append(1)
        if len(saves) == 2:  # epoch 2 is in history.csv, its backup not yet written
            os.kill(os.getpid(), signal.SIGKILL)
        original(self)
    keras.callbacks.BackupAndRestore._save_model = save
    from edgezoo.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_7_resume_after_sigkill_counts_each_epoch_once(tmp_path):
    from training.train import train

    run = tmp_path / "run"
    args = [
        "train",
        "mlp",
        "--dataset",
        "digits",
        "--limit",
        "200",
        "--epochs",
        "3",
        "--out",
        str(run),
        "--quiet",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_ON_SECOND_BACKUP, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert _history_epochs(run) == [0, 1] and not (run / "model.keras").exists()
    result = train("mlp", "digits", limit=200, epochs=3, out=run, verbose=0)
    assert result.metrics["resumed"] is True
    assert _history_epochs(run) == [0, 1, 2]
    assert result.metrics["epochs_run"] == 3


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here to fill the disk ({done.stderr.decode().strip()[:100]})"
        )
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_7_disk_full_during_training_is_one_error_and_resumes(small_tmpfs):
    from training.errors import TrainingError
    from training.train import train

    run = small_tmpfs / "run"
    with pytest.raises(TrainingError, match="is full.*run the same command again"):
        train("mlp", "digits", limit=200, epochs=3, out=run, verbose=0)
    assert not (run / "model.keras").exists()
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_tmpfs)], check=True)
    result = train("mlp", "digits", limit=200, epochs=3, out=run, verbose=0)
    assert _history_epochs(run) == [0, 1, 2] and result.metrics["epochs_run"] == 3


# ---------------------------------------------------------------- 8. ordinary mistakes


def test_8_ordinary_mistakes_are_one_line_before_the_work(copy, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    run, exp = copy / "run", copy / "exports" / "float"

    rc, err = _cli(capsys, "train", "mlp", "--dataset", "digits", "--out", a_file)
    _one_line_error(rc, err, "is a file")
    t0 = time.perf_counter()
    rc, err = _cli(capsys, "compress", run, "--prune", 0.5, "--out", a_file / "sub")
    _one_line_error(rc, err, "is a file")
    rc, err = _cli(capsys, "bench", exp, "--out", a_file / "sub")
    _one_line_error(rc, err, "is a file")
    rc, err = _cli(capsys, "export", run, "--to", "onnx", "--out", a_file / "sub")
    _one_line_error(rc, err, "is a file")
    assert time.perf_counter() - t0 < 30  # checked before fine-tuning, measuring or exporting
    assert a_file.read_text() == "mine"

    raw = (run / "config.json").read_bytes()
    cfg = json.loads(raw)
    (run / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k != "card"}))
    rc, err = _cli(capsys, "export", run, "--to", "onnx", "--out", tmp_path / "e2")
    _one_line_error(rc, err, "lacks 'card'", "config.json")
    (run / "config.json").write_bytes(raw)  # as edgezoo wrote it (an edited one is the user's)

    _edit_manifest(exp, lambda m: m.pop("source"))
    rc, err = _cli(capsys, "bench", exp)
    _one_line_error(rc, err, "lacks 'source'")

    rc, err = _cli(
        capsys,
        "train",
        "mlp",
        "--dataset",
        "digits",
        "--set",
        "classes=3",
        "--epochs",
        1,
        "--out",
        tmp_path / "t3",
        "--quiet",
    )
    _one_line_error(rc, err, "labels 0..9", "classes=10")
    assert not (tmp_path / "t3").exists()  # no empty history left behind

    # a finished run of another model (or data set) is replaced only with --force
    before = (run / "model.keras").read_bytes()
    rc, err = _cli(capsys, "train", "perceptron", "--epochs", 1, "--out", run, "--quiet")
    _one_line_error(rc, err, "finished run of model mlp, dataset digits", "--force")
    assert (run / "model.keras").read_bytes() == before
    rc, err = _cli(capsys, "train", "perceptron", "--epochs", 1, "--out", run, "--quiet", "--force")
    assert rc == 0, err
    assert json.loads((run / "config.json").read_text())["model"] == "perceptron"
    assert _history_epochs(run) == [0]


def test_8_run_directory_files_are_ordinary_files(work):
    files = [
        work / "run" / n
        for n in ("model.keras", "config.json", "metrics.json", "history.csv", MARKER)
    ]
    files += [work / "exports" / "float" / n for n in ("manifest.json", "model.onnx")]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
