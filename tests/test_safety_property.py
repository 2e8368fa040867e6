"""The safety promise, as a property: random sequences of edgezoo commands over random starting
trees, and after every step a check of the whole tree against a snapshot taken before it.

The promise: edgezoo never deletes, replaces or writes through what it did not create; a directory
is edgezoo's only by its marker ``.edgezoo.json``; it never writes outside ``--out``; every
manifest matches its files; every marker's record matches its directory.

The state machine (:class:`SafetyMachine`) starts from a sandbox holding a user's folder with
edgezoo-like names (config.json, manifest.json, pipeline.json, model.keras, model.pt, src/,
thesis.tex, ``.x.new``, ``.model-abc.tmp``, a read-only file), optionally earlier edgezoo runs
(copies of one trained perceptron, its export, a pipeline run), symlinks into and out of the tree
(``checkpoint.keras`` / ``edgezoo.log`` in a run directory pointing at a user's file, ``--out``
candidates that are symlinks to directories) and a read-only directory. Its rules run
``train``/``compress``/``export``/``import``/``bench``/``run`` (in-process through
``edgezoo.cli.main``, with and without ``--force``, ``--out`` drawn from new paths, user
directories, edgezoo's directories, symlinks, files and the source itself), one command as a
subprocess killed with SIGKILL after a random delay, and a user who adds files and symlinks
between the steps. After every step, from snapshots (path, type, mode, bytes, sha256, symlink
target) of the whole sandbox:

1. every file, symlink and directory edgezoo did not write is as it was (the user's);
2. nothing changed outside the command's ``--out`` (new parent directories of ``--out`` aside;
   after a SIGKILL also edgezoo's own marked build directories ``.OUT.*`` beside it), and the
   source it read (config.json, model.keras, data.npz, a manifest and its artifacts) is unchanged;
3. every manifest.json edgezoo wrote lists artifacts that exist with the recorded bytes and sha256;
4. every marker's record (``entries``: files with bytes and sha256, directories with the hash
   of their listing, links with their target, entries about to be written) matches its
   directory;
5. a command that refuses does so with a clear error (exit 2), never an internal error (exit 1).

Draws are ordered so that hypothesis' simplest choice is the dangerous one (the richest starting
tree, ``--force``, ``runs/run`` as source and ``--out``), and half the ``--out`` draws come from
the risky set (the user's folders, symlinks to directories, runs holding the user's files, the
source itself).

Profiles: the default (``make test``) runs 3 sessions of up to 8 steps, derandomized (the same
ones on every run) and without shrinking, in about a minute on 2 cores;
``EDGEZOO_PROPERTY_PROFILE=long`` (and the ``slow`` test, run by ``make test-all``) runs 8
sessions with up to two benchmarks/pipelines and two SIGKILLs each, and shrinks a failure to a
minimal one. ``EDGEZOO_PROPERTY_LOG=1`` prints each session's commands (with ``-s``). Six plain
tests pin the failures known before the property existed.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from edgezoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
MARKER = ".edgezoo.json"


def listing_sha256(root: Path) -> str:
    """sha256 of a directory's listing (every path below it with its kind, a file's size and mtime): how a marker
    records a directory edgezoo wrote."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in sorted(filenames) + [d + "/" for d in dirnames]:
            p = os.path.join(dirpath, name.rstrip("/"))
            st = os.lstat(p)
            size = f"{st.st_size} {st.st_mtime_ns}" if not name.endswith("/") else "0"
            h.update(f"{rel}/{name}\0{size}\n".encode())
    return h.hexdigest()


TRAIN_IDS = {
    "perceptron": ["perceptron", "--dataset", "iris_setosa"],
    "mlp": ["mlp", "--dataset", "iris"],
}
EXPORT_OPTS = ["--to", "onnx,tflite", "--onnx-variants", "fp32", "--tflite-variants", "fp32"]
BENCH_OPTS = ["--batches", "1", "--threads", "1", "--budget", "0.01", "--runs", "5"]
BENCH_OPTS += ["--warmup", "1"]
RECIPE = """\
model: perceptron
dataset: iris_setosa
train: {epochs: 1}
export: {to: [onnx, tflite], onnx_variants: [fp32], tflite_variants: [fp32]}
bench: {batches: [1], threads: [1], budget_s: 0.01, runs: 5, warmup: 1}
"""

# --------------------------------------------------------------------------- assets (once)

_ASSETS: dict[str, Path] = {}


def _in_dir(path: Path):
    @contextlib.contextmanager
    def cm():
        old = os.getcwd()
        os.chdir(path)
        try:
            yield
        finally:
            os.chdir(old)

    return cm()


def asset(name: str) -> Path:
    """Earlier edgezoo results, made once per session and copied into each sandbox: ``run`` (a
    perceptron trained one epoch), ``exp`` (its ONNX + TFLite fp32 export, source ``../run``),
    ``pipe`` (a whole ``edgezoo run`` of the recipe above)."""
    if "base" not in _ASSETS:
        base = Path(tempfile.mkdtemp(prefix="edgezoo-prop-assets-"))
        atexit.register(shutil.rmtree, base, True)
        _ASSETS["base"] = base
    base = _ASSETS["base"]
    if name in _ASSETS:
        return _ASSETS[name]
    with _in_dir(base):
        if name == "run":
            argv = ["train", *TRAIN_IDS["perceptron"], "--epochs", "1", "--out", "run", "--quiet"]
        elif name == "exp":
            asset("run")
            argv = ["export", "run", *EXPORT_OPTS, "--out", "exp"]
        elif name == "pipe":
            (base / "recipe.yaml").write_text(RECIPE)
            argv = ["run", "--recipe", "recipe.yaml", "--out", "pipe"]
        else:
            raise KeyError(name)
        assert main(argv) == 0, f"building the asset {name} failed: edgezoo {' '.join(argv)}"
    _ASSETS[name] = base / name
    return _ASSETS[name]


def iris_npz(path: Path):
    import numpy as np
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    np.savez(path, x=x.astype("float32"), y=(y == 0).astype("int64"))


# --------------------------------------------------------------------------- snapshots


def entry(path: Path):
    """(type, ...) of one path, never following a symlink: ("file", mode, bytes, sha256),
    ("dir", mode), ("link", target) or ("other", mode)."""
    st_ = os.lstat(path)
    mode = stat.S_IMODE(st_.st_mode)
    if stat.S_ISLNK(st_.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st_.st_mode):
        return ("dir", mode)
    if stat.S_ISREG(st_.st_mode):
        try:
            data = path.read_bytes()
        except PermissionError:  # an unreadable file: its size and mode stand for it
            return ("file", mode, st_.st_size, None)
        return ("file", mode, st_.st_size, hashlib.sha256(data).hexdigest())
    return ("other", mode)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` (relative, posix) -> :func:`entry`."""
    out = {}
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            children = list(os.scandir(d))
        except PermissionError:
            continue
        for c in children:
            p = Path(c.path)
            e = entry(p)
            out[p.relative_to(root).as_posix()] = e
            if e[0] == "dir":
                stack.append(p)
    return out


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def describe(e) -> str:
    if e is None:
        return "missing"
    if e[0] == "file":
        return f"file mode {oct(e[1])}, {e[2]} bytes, sha256 {str(e[3])[:12]}"
    if e[0] == "dir":
        return f"directory mode {oct(e[1])}"
    if e[0] == "link":
        return f"symlink -> {e[1]}"
    return str(e)


# --------------------------------------------------------------------------- the sandbox


class Sandbox:
    """A tree to run edgezoo commands in, with the user's paths known and the promise checked
    after each command. ``home/`` is the user's, ``runs/`` holds edgezoo's runs (and symlinks),
    ``cwd/`` is the working directory of every command (a stray relative write lands there)."""

    commands_checked = 0  # commands run and checked, in this process

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="edgezoo-prop-"))
        for d in ("home", "runs", "cwd"):
            (self.root / d).mkdir()
        self.user: dict[str, tuple] = {}  # path -> entry: what edgezoo did not write
        self.log: list[str] = []

    # ---- building
    def p(self, rel: str) -> Path:
        return self.root / rel

    def user_file(self, rel: str, data: bytes | str = b"", mode: int | None = None):
        path = self.p(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        if mode is not None:
            os.chmod(path, mode)
        self.own(rel)

    def user_dir(self, rel: str, mode: int | None = None):
        self.p(rel).mkdir(parents=True, exist_ok=True)
        if mode is not None:
            os.chmod(self.p(rel), mode)
        self.own(rel)

    def user_link(self, rel: str, target: str):
        path = self.p(rel)
        if path.is_symlink() or path.exists():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        os.symlink(target, path)
        self.own(rel)

    def own(self, rel: str):
        """``rel`` and every path below it are the user's, as they are now."""
        self.user[rel] = entry(self.p(rel))
        if self.user[rel][0] == "dir":
            for sub, e in snapshot(self.p(rel)).items():
                self.user[f"{rel}/{sub}"] = e
        # its parent directories exist because of the user too (edgezoo may not remove them)
        parent = Path(rel).parent
        while str(parent) not in (".", ""):
            self.user.setdefault(parent.as_posix(), entry(self.p(parent.as_posix())))
            parent = parent.parent

    def copy_asset(self, name: str, rel: str):
        shutil.copytree(asset(name), self.p(rel), symlinks=True)

    def user_folder(self, edgezoo_like_config: bool = False):
        """The user's project with edgezoo-like names, the inputs of import/run, the targets of
        the symlinks and an empty directory."""
        cfg = (
            {"model": "perceptron", "dataset": "iris_setosa", "lr": 0.1}
            if edgezoo_like_config
            else {"lr": 0.1, "epochs": 3}
        )
        self.user_file("home/proj/config.json", json.dumps(cfg))
        self.user_file("home/proj/manifest.json", '{"name": "my-app", "version": "1.0"}\n')
        self.user_file("home/proj/pipeline.json", '{"stages": ["mine"]}\n')
        self.user_file("home/proj/model.keras", b"PK\x03\x04 not really a keras file")
        self.user_file("home/proj/model.pt", b"\x80\x02torch pickle, the user's")
        self.user_file("home/proj/thesis.tex", "\\documentclass{article} my thesis\n")
        self.user_file("home/proj/src/main.py", "print('mine')\n")
        self.user_file("home/proj/.x.new/keep.txt", "a user's folder with a temp-like name\n")
        self.user_file("home/proj/.model-abc.tmp", "a user's file with a temp-like name\n")
        self.user_file("home/proj/ro.txt", "read-only\n", mode=0o444)
        self.user_file("home/notes/thesis.tex", "chapter 1\n")
        self.user_file("home/notes/src/a.py", "x = 1\n")
        self.user_dir("home/empty")
        self.user_file("home/secret.txt", "the user's secret, outside every run\n")
        self.user_file("home/diary.txt", "the user's diary\n")
        self.user_file("home/mine.keras", (asset("run") / "model.keras").read_bytes())
        self.user_file("home/other.keras", (asset("run") / "model.keras").read_bytes())
        iris_npz(self.p("home/data.npz"))
        self.own("home/data.npz")
        self.user_file("home/recipe.yaml", RECIPE)

    # ---- checking
    def run(
        self,
        argv: list[str],
        *,
        out: str,
        sources=(),
        kill_after: float | None = None,
        kill_when: str | None = None,
    ):
        """Run ``edgezoo ARGV`` (in-process, or as a subprocess SIGKILLed ``kill_after`` seconds
        after its start, or after a new path matching the glob ``kill_when`` appeared) and
        check the promise. ``out`` is the effective ``--out`` (sandbox-relative); ``sources`` the
        files the command reads that must stay as they are."""
        before = snapshot(self.root)
        out_lex = out
        out_real = os.path.relpath(os.path.realpath(self.p(out)), self.root)
        src_before = {s: before.get(s) for s in sources}
        when = f" {kill_when} appeared" if kill_when else ""
        self.log.append(
            f"edgezoo {' '.join(argv)}"
            + (f"  [SIGKILL {kill_after}s after{when or ' the start'}]" if kill_after else "")
        )
        argv = [str(self.root / a) if a.startswith(("runs/", "home/")) else a for a in argv]
        killed, err = False, ""
        if kill_after is None:
            with _in_dir(self.p("cwd")):
                rc = main(argv)
        else:
            rc, killed, err = self._killed(argv, kill_after, kill_when)
            if not killed:
                self.log[-1] += " (finished first)"
        after = snapshot(self.root)
        try:
            self.check(before, after, out_lex, out_real, killed=killed)
            for s, e in src_before.items():
                assert after.get(s) == e, (
                    f"{self.log[-1]}: the source {s} it reads changed: {describe(e)} -> "
                    f"{describe(after.get(s))}"
                )
            if not killed:
                assert rc in (0, 2), f"{self.log[-1]}: exit {rc} (an internal error){err}"
        except AssertionError as exc:
            session = "\n  ".join(self.log)
            raise AssertionError(f"{exc}\nthe session so far:\n  {session}") from None
        Sandbox.commands_checked += 1
        return rc

    def _killed(self, argv, delay: float, when: str | None = None) -> tuple[int, bool, str]:
        """(exit status, whether the SIGKILL came first, the tail of its stderr)."""
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
        earlier = set(self.root.glob(when)) if when else set()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edgezoo", *argv],
                cwd=self.p("cwd"),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
            killed = False
            deadline = time.monotonic() + 120
            while when and proc.poll() is None and not set(self.root.glob(when)) - earlier:
                assert time.monotonic() < deadline, f"{self.log[-1]}: {when} never appeared"
                time.sleep(0.05)
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this test started (bench's)
                proc.wait(timeout=60)
                killed = True
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
        return proc.returncode, killed, f"\n{tail}" if tail else ""

    def check(self, before, after, out_lex, out_real, *, killed: bool):
        step = self.log[-1]
        # 1. the user's paths are as they were
        for rel, e in sorted(self.user.items()):
            got = after.get(rel)
            if e[0] == "dir":  # a directory's contents are checked path by path
                ok = got is not None and got[0] == "dir" and got[1] == e[1]
            else:
                ok = got == e
            assert ok, (
                f"{step}: a path edgezoo did not write changed: {rel}: {describe(e)} -> "
                f"{describe(got)}"
            )
        # 2. nothing changed outside --out
        allowed = [out_lex, out_real]
        for rel in sorted(set(before) | set(after)):
            if before.get(rel) == after.get(rel):
                continue
            if any(under(rel, a) for a in allowed):
                continue
            new_parent = (
                rel not in before and after[rel][0] == "dir" and any(under(a, rel) for a in allowed)
            )
            if new_parent:
                continue
            if killed and rel not in before and self._own_build_dir(rel, allowed, after):
                continue
            if rel not in after and self._own_build_dir(rel, allowed, before):
                continue  # an abandoned build a killed run left, removed by this one
            raise AssertionError(
                f"{step}: wrote outside --out {out_lex}"
                + (f" (= {out_real})" if out_real != out_lex else "")
                + f": {rel}: {describe(before.get(rel))} -> {describe(after.get(rel))}"
            )
        # 3. manifests and 4. markers
        self.check_records(after)

    def _own_build_dir(self, rel, allowed, snap) -> bool:
        """A build directory of edgezoo's beside --out (``.OUT.*``, carrying the marker) that a
        SIGKILL left, or a path inside one, as ``snap`` has it."""
        for a in allowed:
            parent, name = os.path.split(a)
            prefix = (parent + "/" if parent else "") + f".{name}."
            if rel.startswith(prefix):
                top = rel.split("/")[: len(Path(prefix).parts)]
                top_dir = "/".join(top)
                if snap.get(f"{top_dir}/{MARKER}", (None,))[0] == "file":
                    return True
        return False

    def check_records(self, after):
        step = self.log[-1] if self.log else "start"
        for rel, e in sorted(after.items()):
            name = rel.rsplit("/", 1)[-1]
            if rel in self.user or e[0] != "file":
                continue
            if name == "manifest.json":
                self._check_manifest(step, rel)
            elif name == MARKER:
                self._check_marker(step, rel)

    def _check_manifest(self, step, rel):
        path = self.p(rel)
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise AssertionError(f"{step}: {rel}, written by edgezoo, is not JSON: {exc}") from None
        assert isinstance(data, dict), f"{step}: {rel} is not a JSON object"
        for a in data.get("artifacts") or []:
            if not isinstance(a, dict) or "sha256" not in a or "path" not in a:
                continue  # an artifact that could not be produced: no file claimed
            f = path.parent / a["path"]
            assert f.exists() or f.is_symlink(), (
                f"{step}: {rel} lists {a['path']}, which does not exist"
            )
            assert not f.is_symlink(), f"{step}: {rel} lists {a['path']}, which is a symlink"
            if f.is_dir():
                from export.common import tree_sha256

                sha, nbytes = tree_sha256(f)
            else:
                sha, nbytes = sha256_file(f), f.stat().st_size
            assert (sha, nbytes) == (a["sha256"], a.get("bytes", nbytes)), (
                f"{step}: {rel} lists {a['path']} with {a.get('bytes')} bytes, sha256 "
                f"{a['sha256'][:12]}; the file has {nbytes} bytes, sha256 {sha[:12]}"
            )

    def _check_marker(self, step, rel):
        path = self.p(rel)
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise AssertionError(f"{step}: the marker {rel} is not JSON: {exc}") from None
        assert isinstance(data, dict), f"{step}: the marker {rel} is not a JSON object"
        d = path.parent
        base = Path(rel).parent.as_posix()
        entries = data.get("entries")
        if entries is None:
            return
        assert isinstance(entries, dict), f"{step}: the marker {rel} records no entries mapping"
        for name, rec in entries.items():
            f = d / name
            frel = os.path.normpath(f"{base}/{name}" if base != "." else name)
            assert "/" not in name and name not in ("", ".", ".."), (
                f"{step}: the marker {rel} records {name!r}, not an entry of its directory"
            )
            assert isinstance(rec, dict), f"{step}: the marker {rel} records {name} as {rec!r}"
            if rec.get("pending"):  # about to be written (a run in progress or one that failed)
                continue
            assert os.path.lexists(f), f"{step}: the marker {rel} records {name}, which is missing"
            if frel in self.user:  # the user's own edit of an edgezoo file: no longer edgezoo's
                continue
            if "link" in rec:
                assert f.is_symlink() and os.readlink(f) == rec["link"], (
                    f"{step}: the marker {rel} records {name} as a link to {rec['link']}"
                )
            elif rec.get("dir"):
                assert f.is_dir() and not f.is_symlink(), (
                    f"{step}: the marker {rel} records {name} as a directory; it is "
                    f"{describe(entry(f))}"
                )
                if not (f / MARKER).exists() and rec.get("tree") is not None:
                    assert rec["tree"] == listing_sha256(f), (
                        f"{step}: the marker {rel} records directory {name} with another listing"
                    )
            else:
                assert f.is_file() and not f.is_symlink(), (
                    f"{step}: the marker {rel} records {name}, which is {describe(entry(f))}"
                )
                got = (f.stat().st_size, sha256_file(f))
                assert got == (rec.get("bytes"), rec.get("sha256")), (
                    f"{step}: the marker {rel} records {name} as "
                    f"{(rec.get('bytes'), rec.get('sha256'))}; the file is {got}"
                )

    def close(self):
        if os.environ.get("EDGEZOO_PROPERTY_LOG"):  # each session's commands, to see what ran
            print("session:\n  " + "\n  ".join(self.log), file=sys.__stderr__, flush=True)
        for dirpath, dirnames, _ in os.walk(self.root):
            for dn in dirnames:
                with contextlib.suppress(OSError):
                    p = os.path.join(dirpath, dn)
                    if not os.path.islink(p):
                        os.chmod(p, 0o755)
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------- commands


def train_cmd(model: str, out: str, *, force=False, epochs=1):
    argv = ["train", *TRAIN_IDS[model], "--epochs", str(epochs), "--out", out, "--quiet"]
    return argv + (["--force"] if force else [])


def export_cmd(src: str, out: str):
    return ["export", src, *EXPORT_OPTS, "--out", out]


def import_cmd(model_file: str, out: str, *, force=False):
    argv = ["import", model_file, "--data", "home/data.npz", "--out", out]
    return argv + (["--force"] if force else [])


def compress_cmd(src: str, out: str, how: str):
    opts = ["--bits", "6"] if how == "qat" else ["--prune", "0.5", "--prune-layers"]
    if how == "prune":
        opts.append("perceptron_neuron")
    return ["compress", src, *opts, "--epochs", "1", "--out", out]


def run_cmd(out: str, *, imported=False, force=False):
    argv = ["run", "--recipe", "home/recipe.yaml", "--out", out]
    if imported:
        argv[1:1] = ["--model-file", "home/mine.keras", "--data", "home/data.npz"]
    return argv + (["--force"] if force else [])


def bench_cmd(src: str, out: str | None):
    return ["bench", src, *BENCH_OPTS, *(["--out", out] if out else [])]


MODEL_SOURCES = ("config.json", "model.keras", "data.npz")


# --------------------------------------------------------------------------- the state machine

OUT_CANDIDATES = (
    "runs/run",
    "runs/exp",
    "runs/imp",
    "runs/comp",
    "runs/pipe",
    "runs/new",
    "runs/deep/a/b",
    "runs/linkdir",
    "runs/linkproj",
    "home/proj",
    "home/notes",
    "home/empty",
    "home/proj/sub",
    "home/rodir/x",
    "home/secret.txt",
)
# The most dangerous first: hypothesis' simplest draw is the first element.
RISKY_OUTS = (
    "runs/run",
    "runs/linkdir",
    "home/proj",
    "runs/linkproj",
    "runs/exp",
    "home/notes",
    "home/empty",
)
USER_NAMES = (
    "notes.txt",
    "config.json",
    "manifest.json",
    "pipeline.json",
    "model.keras",
    "model.pt",
    "thesis.tex",
    ".x.new",
    ".model-abc.tmp",
    ".export.new",
    "src",
    "checkpoint.keras",
    "edgezoo.log",
)


class SafetyMachine(RuleBasedStateMachine):
    """Random edgezoo sessions over a random starting tree; the promise checked after each."""

    def __init__(self):
        super().__init__()
        self.box = Sandbox()
        self.expensive = 0  # bench / run (each ~10 s: benchmark subprocesses)
        self.kills = 0

    def teardown(self):
        self.box.close()

    # ---- the starting tree
    @initialize(data=st.data())
    def start(self, data):
        # Each draw is "leave this out": hypothesis' simplest value (False) is the richest tree.
        tree = []

        def without(what: str) -> bool:
            left_out = data.draw(st.booleans(), label=f"without {what}")
            if not left_out:
                tree.append(what)
            return left_out

        b = self.box
        b.user_folder(edgezoo_like_config=not without("edgezoo-like home/proj/config.json"))
        if not without("earlier train run runs/run"):
            b.copy_asset("run", "runs/run")
            if not without("runs/run/checkpoint.keras -> home/secret.txt"):
                b.user_link("runs/run/checkpoint.keras", "../../home/secret.txt")
            if not without("runs/run/edgezoo.log -> home/diary.txt"):
                b.user_link("runs/run/edgezoo.log", "../../home/diary.txt")
            if not without("user's runs/run/notes.txt"):
                b.user_file("runs/run/notes.txt", "my notes on this run\n")
            if not without("earlier export runs/exp"):
                b.copy_asset("exp", "runs/exp")
                if not without("user's runs/exp/deploy.sh"):
                    b.user_file("runs/exp/deploy.sh", "#!/bin/sh\nscp model.onnx board:\n")
        if not without("earlier pipeline runs/pipe"):
            b.copy_asset("pipe", "runs/pipe")
        if not without("runs/linkdir -> home/empty"):
            b.user_link("runs/linkdir", "../home/empty")
        if not without("runs/linkproj -> home/proj"):
            b.user_link("runs/linkproj", "../home/proj")
        if not without("user's runs/.imp.import/ and runs/.exp.new/"):
            b.user_file("runs/.imp.import/keep.txt", "mine\n")
            b.user_file("runs/.exp.new/keep.txt", "mine\n")
        if not without("read-only directory home/rodir"):
            b.user_file("home/rodir/data.txt", "read-only dir\n")
            os.chmod(b.p("home/rodir"), 0o555)
            b.own("home/rodir")
        b.log.append("start: home/ (the user's folder), " + ", ".join(tree))
        b.check_records(snapshot(b.root))

    # ---- helpers
    def _dirs_with(self, name: str) -> list[str]:
        snap = snapshot(self.box.root)
        return sorted(
            Path(rel).parent.as_posix()
            for rel, e in snap.items()
            if rel.rsplit("/", 1)[-1] == name and e[0] == "file" and not rel.startswith("cwd/")
        )

    def _out(self, data, src: str | None = None) -> str:
        marked = [d for d in self._dirs_with(MARKER) if d.count("/") <= 3]
        choices = sorted(set(OUT_CANDIDATES) | set(marked) | ({src} if src else set()))
        # half the draws from where the promise is at stake: the user's folders, symlinks to
        # directories, runs holding the user's files or symlinks, the source itself
        risky = [src] * bool(src) + [o for o in RISKY_OUTS if o != src]
        return data.draw(st.one_of(st.sampled_from(risky), st.sampled_from(choices)), label="--out")

    def _src(self, data, name="model.keras") -> str | None:
        dirs = sorted(
            self._dirs_with(name),
            key=lambda d: (d not in ("runs/run", "runs/exp"), not d.startswith("runs/"), d),
        )
        return data.draw(st.sampled_from(dirs), label="source") if dirs else None

    # ---- commands (hypothesis orders rules by name and takes the first as the simplest: the
    # expensive ones, ~10 s each, are named slow_* so that shrinking drops them first)
    @rule(data=st.data(), model=st.sampled_from(sorted(TRAIN_IDS)), no_force=st.booleans())
    def train(self, data, model, no_force):
        force = not no_force
        out = self._out(data)
        self.box.run(train_cmd(model, out, force=force), out=out)

    @rule(data=st.data())
    def export(self, data):
        src = self._src(data)
        if src is None:
            return
        out = self._out(data, src)
        self.box.run(export_cmd(src, out), out=out, sources=[f"{src}/{n}" for n in MODEL_SOURCES])

    @rule(data=st.data(), how=st.sampled_from(["qat", "prune"]))
    def compress(self, data, how):
        src = self._src(data)
        if src is None:
            return
        out = self._out(data, src)
        self.box.run(
            compress_cmd(src, out, how), out=out, sources=[f"{src}/{n}" for n in MODEL_SOURCES]
        )

    @rule(
        data=st.data(),
        model_file=st.sampled_from(["home/mine.keras", "home/other.keras"]),
        no_force=st.booleans(),
    )
    def import_(self, data, model_file, no_force):
        force = not no_force
        out = self._out(data)
        self.box.run(import_cmd(model_file, out, force=force), out=out)

    @precondition(lambda self: self.expensive < MAX_EXPENSIVE)
    @rule(data=st.data())
    def slow_bench(self, data):
        src = self._src(data, "manifest.json")
        if src is None:
            return
        self.expensive += 1
        out = self._out(data, src) if data.draw(st.booleans(), label="--out given") else None
        manifest = self.box.p(src) / "manifest.json"
        sources = [f"{src}/manifest.json"]
        with contextlib.suppress(ValueError, OSError):
            for a in json.loads(manifest.read_text()).get("artifacts", []):
                if isinstance(a, dict) and isinstance(a.get("path"), str):
                    sources.append(os.path.normpath(f"{src}/{a['path']}"))
        self.box.run(bench_cmd(src, out), out=out or src, sources=sources)

    @precondition(lambda self: self.expensive < MAX_EXPENSIVE)
    @rule(data=st.data(), imported=st.booleans(), no_force=st.booleans())
    def slow_run(self, data, imported, no_force):
        force = not no_force
        self.expensive += 1
        out = self._out(data)
        self.box.run(run_cmd(out, imported=imported, force=force), out=out)

    @precondition(lambda self: self.kills < MAX_KILLS)
    @rule(
        data=st.data(),
        command=st.sampled_from(["train", "export", "import", "run"]),
        delay=st.sampled_from([5.0, 7.0, 9.0]),
    )
    def slow_killed(self, data, command, delay):
        self.kills += 1
        src = None
        if command == "export":
            src = self._src(data)
            if src is None:
                return
        out = self._out(data, src)
        argv = {
            "train": lambda: train_cmd("perceptron", out, epochs=30),
            "export": lambda: export_cmd(src, out),
            "import": lambda: import_cmd("home/mine.keras", out),
            "run": lambda: run_cmd(out),
        }[command]()
        sources = [f"{src}/{n}" for n in MODEL_SOURCES] if src else []
        self.box.run(argv, out=out, sources=sources, kill_after=delay)

    # ---- the user, between the commands
    @rule(data=st.data(), name=st.sampled_from(USER_NAMES))
    def user_adds(self, data, name):
        b = self.box
        snap = snapshot(b.root)
        dirs = sorted(
            rel
            for rel, e in snap.items()
            if e[0] == "dir"
            and not rel.startswith("cwd")
            and rel.count("/") <= 3
            and os.access(b.p(rel), os.W_OK)
        )
        where = data.draw(st.sampled_from(dirs), label="into")
        rel = f"{where}/{name}"
        if name in ("checkpoint.keras", "edgezoo.log"):
            if rel in b.user:
                return
            depth = "../" * where.count("/") + "../"
            b.user_link(rel, f"{depth}home/secret.txt")  # replaces edgezoo's own, if there
        elif rel in snap:
            return
        elif name in (".x.new", ".export.new", "src"):
            b.user_file(f"{rel}/keep.txt", "the user's\n")
        else:
            b.user_file(rel, f"the user's {name}\n")
        b.log.append(f"user adds {rel}")


MAX_EXPENSIVE = 1
MAX_KILLS = 1

PROFILES = {
    "default": settings(
        max_examples=3,
        stateful_step_count=8,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    ),
    "long": settings(
        max_examples=8,
        stateful_step_count=8,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    ),
}


def _run(profile: str):
    global MAX_EXPENSIVE, MAX_KILLS
    MAX_EXPENSIVE, MAX_KILLS = (1, 1) if profile == "default" else (2, 2)
    before = Sandbox.commands_checked
    run_state_machine_as_test(SafetyMachine, settings=PROFILES[profile])
    return Sandbox.commands_checked - before  # commands run and checked


def test_safety_property():
    """Random edgezoo sessions keep the promise (profile from EDGEZOO_PROPERTY_PROFILE)."""
    assert _run(os.environ.get("EDGEZOO_PROPERTY_PROFILE", "default")) > 0


@pytest.mark.slow
def test_safety_property_long():
    """The long profile: more and longer sessions, a failure shrunk to a minimal one."""
    assert _run("long") > 0


# --------------------------------------------------------------------------- known failures


@pytest.fixture
def box():
    b = Sandbox()
    b.user_folder()
    yield b
    b.close()


def test_export_out_user_dir_with_config_and_model_pt(box):
    box.copy_asset("run", "runs/run")
    box.run(export_cmd("runs/run", "home/proj"), out="home/proj", sources=["runs/run/model.keras"])
    assert box.p("home/proj/model.pt").is_file() and box.p("home/proj/config.json").is_file()


def test_import_out_dir_with_src_and_thesis(box):
    box.run(import_cmd("home/mine.keras", "home/notes"), out="home/notes")
    box.run(import_cmd("home/mine.keras", "home/notes", force=True), out="home/notes")
    box.user_file("home/notes/config.json", '{"latexmk": true}\n')  # a name edgezoo also writes
    box.run(import_cmd("home/mine.keras", "home/notes"), out="home/notes")
    box.run(import_cmd("home/mine.keras", "home/notes", force=True), out="home/notes")
    assert box.p("home/notes/thesis.tex").is_file() and box.p("home/notes/src").is_dir()
    assert box.p("home/notes/config.json").read_text() == '{"latexmk": true}\n'


def test_export_run_into_itself(box):
    box.copy_asset("run", "runs/run")
    box.user_file("runs/run/notes.txt", "my notes\n")
    srcs = [f"runs/run/{n}" for n in MODEL_SOURCES]
    box.run(export_cmd("runs/run", "runs/run"), out="runs/run", sources=srcs)
    box.run(export_cmd("runs/run", "runs/run"), out="runs/run", sources=srcs)
    assert box.p("runs/run/model.keras").is_file() and box.p("runs/run/notes.txt").is_file()


def test_reimport_keeps_users_notes(box):
    box.run(import_cmd("home/mine.keras", "runs/imp"), out="runs/imp")
    box.user_file("runs/imp/notes.txt", "what I learnt from this model\n")
    box.run(import_cmd("home/mine.keras", "runs/imp"), out="runs/imp")
    box.run(import_cmd("home/other.keras", "runs/imp", force=True), out="runs/imp")
    assert box.p("runs/imp/notes.txt").read_text() == "what I learnt from this model\n"


def test_checkpoint_symlink_in_run_dir(box):
    box.copy_asset("run", "runs/run")
    box.user_link("runs/run/checkpoint.keras", "../../home/secret.txt")
    box.user_link("runs/run/edgezoo.log", "../../home/diary.txt")
    box.run(train_cmd("perceptron", "runs/run"), out="runs/run")
    box.run(train_cmd("mlp", "runs/run", force=True), out="runs/run")
    assert (
        box.p("runs/run/checkpoint.keras").is_symlink()
        and box.p("runs/run/edgezoo.log").is_symlink()
    )


def test_out_symlink_to_directory_keeps_link(box):
    box.copy_asset("run", "runs/run")
    box.user_link("runs/linkdir", "../home/empty")
    box.run(export_cmd("runs/run", "runs/linkdir"), out="runs/linkdir")
    box.run(export_cmd("runs/run", "runs/linkdir"), out="runs/linkdir")
    assert box.p("runs/linkdir").is_symlink()


# --------------------------------------------------------------------------- the checker itself


def test_checker_catches_each_violation():
    """The checks are not vacuous: each kind of violation, made by hand, is reported."""
    b = Sandbox()
    try:
        b.user_file("home/proj/config.json", "{}\n")
        b.user_link("runs/link", "../home/proj")
        b.log.append("by hand")

        def check(change, out="runs/out", killed=False):
            before = snapshot(b.root)
            change()
            b.check(before, snapshot(b.root), out, out, killed=killed)

        def expect(pattern, change, **kw):
            with pytest.raises(AssertionError, match=pattern):
                check(change, **kw)

        expect(
            "did not write changed: home/proj/config.json",
            lambda: b.p("home/proj/config.json").write_text('{"model": 1}\n'),
        )
        b.own("home/proj/config.json")
        expect(
            "did not write changed: runs/link",
            lambda: (b.p("runs/link").unlink(), b.p("runs/link").mkdir()),
        )
        b.p("runs/link").rmdir()
        b.user_link("runs/link", "../home/proj")
        expect("wrote outside --out runs/out: cwd/stray", lambda: b.p("cwd/stray").write_text(""))
        b.p("runs/out").mkdir()
        b.p(f"runs/out/{MARKER}").write_text("{}")
        check(lambda: b.p("runs/out/model.onnx").write_bytes(b"onnx"))  # inside --out: fine
        manifest = {"artifacts": [{"path": "model.onnx", "bytes": 4, "sha256": "0" * 64}]}
        expect(
            "lists model.onnx with 4 bytes",
            lambda: b.p("runs/out/manifest.json").write_text(json.dumps(manifest)),
        )
        b.p("runs/out/manifest.json").unlink()
        marker = {"kind": "export", "entries": {"model.onnx": {"bytes": 5, "sha256": None}}}
        expect(
            "records model.onnx as",
            lambda: b.p(f"runs/out/{MARKER}").write_text(json.dumps(marker)),
        )
        marker["entries"] = {"../../home/proj/config.json": {"bytes": 0}}
        expect(
            "not an entry of its directory",
            lambda: b.p(f"runs/out/{MARKER}").write_text(json.dumps(marker)),
        )
        marker["entries"] = {"gone.onnx": {"bytes": 0, "sha256": "0" * 64}}
        expect("which is missing", lambda: b.p(f"runs/out/{MARKER}").write_text(json.dumps(marker)))
        marker["entries"] = {"model.onnx": {"link": "elsewhere"}}
        expect("as a link to", lambda: b.p(f"runs/out/{MARKER}").write_text(json.dumps(marker)))
        b.p(f"runs/out/{MARKER}").write_text("{}")
        expect("wrote outside", lambda: b.p("runs/.out.export-1").mkdir())  # not killed
        b.p("runs/.out.export-2").mkdir()
        check(lambda: b.p(f"runs/.out.export-2/{MARKER}").write_text("{}"), killed=True)
    finally:
        b.close()


def test_killed_reexport_keeps_earlier_export(box):
    """SIGKILL during a re-export (half a second into writing its build): the earlier export
    and its manifest stay as they were, the user's file in it too, nothing lands outside."""
    box.copy_asset("run", "runs/run")
    box.copy_asset("exp", "runs/exp")
    box.user_file("runs/exp/deploy.sh", "#!/bin/sh\n")
    srcs = [f"runs/run/{n}" for n in MODEL_SOURCES]
    builds = []
    for _ in range(2):  # killed while its build is being written, beside runs/exp
        box.run(
            export_cmd("runs/run", "runs/exp"),
            out="runs/exp",
            sources=srcs,
            kill_after=0.5,
            kill_when="runs/.exp.export-*",
        )
        assert "finished first" not in box.log[-1], box.log[-1]
        builds.append({p.name for p in box.p("runs").glob(".exp.export-*")})
    # the second run removed the build the first one left (abandoned: marked, no longer locked)
    assert len(builds[0]) == 1 and len(builds[1]) == 1 and builds[0] != builds[1], builds
    assert box.p("runs/exp/deploy.sh").is_file() and box.p("runs/exp/manifest.json").is_file()
