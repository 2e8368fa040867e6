"""edgezoo deletes, replaces or writes only what it wrote (the safety issue's ownership part).

A directory is edgezoo's only if its marker ``.edgezoo.json`` records what edgezoo wrote; every
replacement is one transaction (build beside, carry the user's entries, swap, remove only the
recorded ones); nothing is written through a symbolic link. Each case is a careless or hostile
user's, on real runs (a perceptron on iris_setosa, 1 epoch) and real ONNX exports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgezoo.cli import main
from zoo.core.claim import own_dir
from zoo.core.locks import DirLockedError, lock_dir
from zoo.core.marker import read_marker
from zoo.core.paths import MARKER, RunDirError

ROOT = Path(__file__).resolve().parents[1]
ONNX = {"to": ("onnx",), "onnx_variants": ("fp32",)}
TRAIN = {"epochs": 1, "verbose": 0}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A finished run (perceptron, iris_setosa), its ONNX export, the user's model file and data."""
    from sklearn.datasets import load_iris

    from export import export_run
    from training.train import train

    root = tmp_path_factory.mktemp("ownership")
    train("perceptron", "iris_setosa", out=root / "run", **TRAIN)
    export_run(root / "run", out=root / "exp", **ONNX)
    user = root / "user"
    user.mkdir()
    shutil.copy(root / "run" / "model.keras", user / "setosa.keras")
    iris = load_iris()
    x, y = iris.data.astype("float32"), (iris.target == 0).astype("int64")
    np.savez(user / "iris.npz", x=x, y=y)
    np.savez(user / "iris2.npz", x=x[::-1].copy(), y=y[::-1].copy())
    return root


@pytest.fixture
def w(base, tmp_path):
    """A private copy of the module's run and export."""
    for name in ("run", "exp"):
        shutil.copytree(base / name, tmp_path / name, symlinks=True)
    return tmp_path


def _listing(d: Path) -> dict:
    return {
        p.relative_to(d).as_posix(): p.read_bytes()
        for p in sorted(d.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != ".edgezoo.lock"
    }


def _cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err.strip()


def _one_line(rc, err, *needles):
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("edgezoo ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _user_dir(path: Path) -> dict:
    """A user's folder that happens to use edgezoo's file names."""
    path.mkdir()
    (path / "config.json").write_text('{"lr": 0.1}')
    (path / "manifest.json").write_text("{}")
    (path / "model.pt").write_bytes(b"torch weights")
    (path / "thesis.tex").write_text("\\chapter{1}")
    (path / "src").mkdir()
    (path / "src" / "main.py").write_text("print(1)")
    return _listing(path)


# ------------------------------------------------------------- ownership by proof, not by name


def test_a_users_folder_with_edgezoo_names_is_never_edgezoos(base, w, capsys):
    from export import export_run
    from training.imports import import_model
    from training.train import train

    d = w / "mine"
    before = _user_dir(d)
    with pytest.raises(RunDirError, match="not written by edgezoo.*edgezoo adopt"):
        export_run(w / "run", out=d, **ONNX)
    with pytest.raises(RunDirError, match="not written by edgezoo"):
        import_model(base / "user" / "setosa.keras", base / "user" / "iris.npz", out=d)
    with pytest.raises(RunDirError, match="not written by edgezoo"):
        train("perceptron", "iris_setosa", out=d, **TRAIN)
    assert _listing(d) == before and read_marker(d) is None
    assert not [p for p in w.iterdir() if p.name.startswith(".mine")]
    rc, err = _cli(capsys, "train", "perceptron", "--epochs", 1, "--out", d, "--quiet")
    _one_line(rc, err, "not written by edgezoo", f"edgezoo adopt {d}")
    assert _listing(d) == before

    # the user asks: adopt records the files as they are now; another kind then needs --force
    rc = main(["adopt", str(d), "--kind", "train"])
    assert rc == 0
    marker = read_marker(d)
    assert marker["kind"] == "train" and sorted(marker["entries"]) == [
        "config.json",
        "manifest.json",
        "model.pt",
        "src",
        "thesis.tex",
    ]
    assert marker["entries"]["model.pt"]["sha256"] and marker["entries"]["src"]["dir"]
    with pytest.raises(RunDirError, match="pass --force"):
        export_run(w / "run", out=d, **ONNX)
    assert {k: v for k, v in _listing(d).items() if not k.startswith(".edgezoo")} == before


def test_b_replacing_another_kind_needs_force_and_keeps_the_users_files(base, w, capsys):
    from export import export_run

    run, other = w / "run", w / "other"
    shutil.copytree(run, other)  # a finished run (of "another" model: another directory)
    (other / "notes.txt").write_text("mine")
    model_sha = read_marker(other)["entries"]["model.keras"]["sha256"]
    with pytest.raises(RunDirError, match="holds a finished run.*--force"):
        export_run(run, out=other, **ONNX)
    assert read_marker(other)["entries"]["model.keras"]["sha256"] == model_sha
    rc, err = _cli(capsys, "export", run, "--out", other, "--to", "onnx", "--onnx-variants", "fp32")
    _one_line(rc, err, "holds a finished run", "--force")
    export_run(run, out=other, force=True, **ONNX)  # edgezoo's run goes, the user's notes stay
    names = sorted(p.name for p in other.iterdir())
    assert names == [".edgezoo.json", ".edgezoo.lock", "manifest.json", "model.onnx", "notes.txt"]
    assert (other / "notes.txt").read_text() == "mine" and read_marker(other)["kind"] == "export"
    assert "notes.txt" not in read_marker(other)["entries"]
    assert sorted(p.name for p in w.iterdir()) == ["exp", "other", "run"]  # nothing aside


def test_c_a_commands_own_source_is_never_replaced(w):
    from compress import compress
    from export import export_run

    run = w / "run"
    before = _listing(run)
    for out in (run, w, run / "model.keras", run / "checkpoint.keras"):
        with pytest.raises(RunDirError):
            export_run(run, out=out, force=True, **ONNX)
    with pytest.raises(RunDirError, match="never replaces a command's own source"):
        export_run(run, out=run, force=True, **ONNX)
    with pytest.raises(RunDirError, match="a directory holding"):
        export_run(run, out=w, force=True, **ONNX)
    with pytest.raises(RunDirError, match="never replaces a command's own source"):
        compress(run, out=run, prune=0.5, epochs=1, force=True)
    assert _listing(run) == before


# ------------------------------------------------------------- re-running into its own directory


def test_d_reimport_and_import_over_an_export_keep_the_users_files(base, w):
    from training.imports import import_model

    user, d = base / "user", w / "imp"
    first = import_model(user / "setosa.keras", user / "iris.npz", out=d)
    (d / "notes.txt").write_text("mine")
    (d / "data").mkdir()
    (d / "data" / "raw.csv").write_text("1,2")
    stored = first.config.data_file["path"]
    old_sha = first.config.data_file["sha256"]
    # the README's re-import when the data changes: same model and file name, no --force
    shutil.copy(user / "iris2.npz", w / "iris.npz")
    again = import_model(user / "setosa.keras", w / "iris.npz", out=d)
    assert again.config.data_file["sha256"] != old_sha and (d / stored).exists()
    assert (d / "notes.txt").read_text() == "mine" and (d / "data" / "raw.csv").read_text() == "1,2"
    assert not [p for p in w.iterdir() if p.name.startswith((".imp", "imp."))]

    exp = w / "exp"
    (exp / "notes.txt").write_text("export notes")
    with pytest.raises(RunDirError, match="finished export of.*--force"):
        import_model(user / "setosa.keras", user / "iris.npz", out=exp)
    import_model(user / "setosa.keras", user / "iris.npz", out=exp, force=True)
    assert (exp / "notes.txt").read_text() == "export notes"
    assert not (exp / "manifest.json").exists() and (exp / "model.keras").exists()


def test_e_reexport_replaces_only_what_it_wrote(w):
    from export import export_run

    run, exp = w / "run", w / "exp"
    with own_dir(exp, "bench"):  # an earlier bench of this export: recorded as edgezoo's
        (exp / "bench.json").write_text("{}")
    assert "bench.json" in read_marker(exp)["entries"]
    mine = {  # the user's, under names edgezoo's old patterns claimed
        "model.mine": "m",
        "bench.md": "my table",
        ".notes-1-0badc0de": "hidden",
        ".x.json-abc.tmp": "t",
        "hls4ml/readme.txt": "mine",
    }
    for name, text in mine.items():
        (exp / name).parent.mkdir(exist_ok=True)
        (exp / name).write_text(text)
    export_run(run, out=exp, opset=13, **ONNX)
    for name, text in mine.items():
        assert (exp / name).read_text() == text, name
    assert not (exp / "bench.json").exists()  # measured the earlier files: edgezoo's, gone
    marker = read_marker(exp)
    assert set(marker["entries"]) == {"manifest.json", "model.onnx"}
    assert json.loads((exp / "manifest.json").read_text())["options"]["opset"] == 13

    # a recorded file the user changed is theirs now: kept beside, not deleted
    (exp / "model.onnx").write_bytes(b"my edit")
    export_run(run, out=exp, **ONNX)
    kept = [p for p in w.iterdir() if p.name.startswith("exp.kept-")]
    assert len(kept) == 1 and (kept[0] / "model.onnx").read_bytes() == b"my edit"
    assert (exp / "model.onnx").read_bytes() != b"my edit" and (exp / "model.mine").exists()


def test_f_force_never_deletes_a_users_file(base, w):
    from training.train import train

    run = w / "run"
    (run / "notes.txt").write_text("mine")
    (run / "plots").mkdir()
    (run / "plots" / "a.png").write_bytes(b"png")
    with pytest.raises(RunDirError, match="--force"):
        train("mlp", "iris_setosa", out=run, **TRAIN)
    train("mlp", "iris_setosa", out=run, force=True, **TRAIN)
    assert (run / "notes.txt").read_text() == "mine" and (run / "plots" / "a.png").exists()
    assert read_marker(run)["identity"]["model"] == "mlp"
    assert json.loads((run / "config.json").read_text())["model"] == "mlp"
    # a user's file where training writes is refused, not overwritten
    (run / "history.csv").unlink()
    (run / "history.csv").write_text("my history")
    with pytest.raises(RunDirError, match="history.csv was not written by edgezoo"):
        train("mlp", "iris_setosa", out=run, **TRAIN)
    assert (run / "history.csv").read_text() == "my history"
    model = (run / "model.keras").read_bytes()
    with pytest.raises(RunDirError, match="history.csv was not written by edgezoo"):
        train("perceptron", "iris_setosa", out=run, force=True, **TRAIN)  # before any change
    assert (run / "model.keras").read_bytes() == model
    assert (run / "history.csv").read_text() == "my history"


# ------------------------------------------------------------- compression: one book, whole


KILL_IN_QAT = textwrap.dedent("""
    import os, signal, sys
    import zoo
    from compress import compress
    def step(label, done, total, info=""):
        if label.startswith("qat") or "qat" in label:
            os.kill(os.getpid(), signal.SIGKILL)
    compress(sys.argv[1], out=sys.argv[2], prune=0.5, bits=6, epochs=1, prune_layers=["perceptron_neuron"], on_step=step)
""")


def test_g_compress_rerun_and_kill_leave_no_stale_step(w):
    from compress import compress

    run, out = w / "run", w / "c"
    first = compress(run, out=out, prune=0.5, bits=6, epochs=1, prune_layers=["perceptron_neuron"])
    assert first.final == out / "3-qat"
    (out / "notes.txt").write_text("mine")
    second = compress(
        run, out=out, prune=0.5, epochs=1, prune_layers=["perceptron_neuron"]
    )  # fewer steps, same source: no --force
    summary = json.loads((out / "compression.json").read_text())
    assert second.final == out / "2-prune" and summary["final"] == "2-prune"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".edgezoo")) == [
        "2-prune",
        "compression.json",
        "notes.txt",
    ]
    report = json.loads((out / "2-prune" / "compression.json").read_text())
    assert report["dir"] == str(out / "2-prune") and ".c.compress-" not in json.dumps(summary)
    before = _listing(out)

    # SIGKILL in the middle of a re-run: the earlier book stays whole and consistent
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_QAT, str(run), str(out)], env=env, capture_output=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert _listing(out) == before
    left = [p for p in w.iterdir() if p.name.startswith(".c.")]
    assert len(left) == 1 and read_marker(left[0])["build"]["of"] == "c"
    compress(
        run, out=out, prune=0.5, epochs=1, prune_layers=["perceptron_neuron"]
    )  # removes the killed build, keeps the notes
    assert not [p for p in w.iterdir() if p.name.startswith(".c.")]
    assert (out / "notes.txt").read_text() == "mine"


def test_g2_the_pipelines_reexport_keeps_the_users_notes(tmp_path):
    from edgezoo.pipeline import run_pipeline

    out = tmp_path / "p"
    recipe = {
        "train": {"epochs": 1},
        "export": {"to": ["onnx"], "onnx_variants": ["fp32"]},
        "bench": {"batches": [1], "threads": [1], "budget_s": 0.02, "runs": 5, "warmup": 1},
    }
    run_pipeline("perceptron", "iris_setosa", recipe=recipe, out=out, progress=lambda m: None)
    (out / "export" / "notes.md").write_text("my notes")
    (out / "export" / "float" / "mine.txt").write_text("mine")
    (out / "notes.txt").write_text("top")
    recipe["export"]["opset"] = 13  # a changed section: export, bench and report run again
    log: list[str] = []
    run_pipeline("perceptron", "iris_setosa", recipe=recipe, out=out, progress=log.append)
    assert any("recipe section changed" in line for line in log)
    manifest = json.loads((out / "export" / "float" / "manifest.json").read_text())
    assert manifest["options"]["opset"] == 13
    assert (out / "export" / "notes.md").read_text() == "my notes"
    assert (out / "export" / "float" / "mine.txt").read_text() == "mine"
    assert (out / "notes.txt").read_text() == "top"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
    assert not [p for p in out.iterdir() if p.name.startswith((".export", "export."))]


# ------------------------------------------------------------- links


def test_h_no_write_through_a_link(w, tmp_path, capsys):
    from training.train import train
    from zoo.core.io import write_json_atomic

    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"precious")
    run = w / "run"
    (run / "checkpoint.keras").unlink()
    (run / "checkpoint.keras").symlink_to(outside)
    with pytest.raises(RunDirError, match="symbolic link"):
        train("perceptron", "iris_setosa", out=run, **TRAIN)
    assert outside.read_bytes() == b"precious" and (run / "checkpoint.keras").is_symlink()
    with pytest.raises(RunDirError, match="symbolic link"):
        write_json_atomic(run / "checkpoint.keras", {})
    (run / "sub").symlink_to(tmp_path)  # a folder of the run that leads outside it
    with pytest.raises(RunDirError, match="leads outside"):
        write_json_atomic(run / "sub" / "x.json", {})
    assert not (tmp_path / "x.json").exists()

    # the library log: never appended through a link
    exp = w / "exp"
    (exp / "edgezoo.log").symlink_to(outside)
    rc, _ = _cli(capsys, "export", run, "--out", exp, "--to", "onnx", "--onnx-variants", "fp32")
    assert rc == 0 and outside.read_bytes() == b"precious"
    assert (exp / "edgezoo.log").is_symlink()


def test_i_out_that_is_a_link_to_a_directory_keeps_pointing_at_the_result(w):
    from export import export_run

    target = w / "real"
    target.mkdir()
    link = w / "link"
    link.symlink_to(target)
    export_run(w / "run", out=link, **ONNX)
    export_run(w / "run", out=link, opset=13, **ONNX)  # a re-export through the link
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert (target / "manifest.json").exists() and (link / "model.onnx").exists()
    assert sorted(p.name for p in w.iterdir()) == ["exp", "link", "real", "run"]


def test_j_shared_locks_for_readers(w):
    d = w / "exp"
    with lock_dir(d, "bench", shared=True), lock_dir(d, "bench 2", shared=True):
        with pytest.raises(DirLockedError):
            with lock_dir(d, "export"):
                pass
    with lock_dir(d, "export"):
        with pytest.raises(DirLockedError, match="export"):
            with lock_dir(d, "bench", shared=True):
                pass
    assert MARKER in os.listdir(d)
