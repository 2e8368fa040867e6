"""Shared fixtures. Importing zoo first sets TF_USE_LEGACY_KERAS=1 before TensorFlow loads.

Session fixtures: one trained model per kind, built once per test session and shared.

=====================  ==========================================================  =========
fixture                what it is                                                  returns
=====================  ==========================================================  =========
mlp_digits_run         the dense model: zoo ``mlp`` (64-64-32-10) on digits        Path
lenet5_digits_run      the CNN: zoo ``lenet5`` on upsampled digits                 Path
mlp_digits_compressed  ``compress`` of the dense run: prune 75% -> 6-bit QAT       result
qkeras_digits_run      that chain's QKeras model directory (``3-qat``)             Path
mlp_digits_export      ``export_run`` of the dense run, every default target       Path
=====================  ==========================================================  =========

They are read-only: a test that writes into one copies it first (:func:`writable_copy`, or
``shutil.copytree``; the ``.edgezoo.json`` marker a run directory carries lists its files, so a
copy stays a valid run directory). Under pytest-xdist the workers of a session share one
directory (the parent of each worker's base temp) and build each fixture under a file lock:
whichever worker needs it first builds it, the other waits and reads it (training is seeded, so
either would build the same thing).
"""

import fcntl
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import zoo  # noqa: E402,F401

# The settings of the shared runs, for tests that assert on them (accuracy after N epochs ...).
MLP_DIGITS = {"epochs": 15}  # zoo defaults otherwise: widths (64, 32), patience, seed 0
LENET5_DIGITS = {"epochs": 2, "limit": 300}
COMPRESS_DIGITS = {"prune": 0.75, "bits": 6, "epochs": 4}


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seeds and a fresh Keras session.

    ``free_memory=False``: the same reset of Keras' global state (layer-name counters, the TF
    graph, eager caches) without the full ``gc.collect()`` Keras 3 runs by default, which costs
    0.2 s of CPU per test in a process that has imported TensorFlow (more as the heap grows):
    about two minutes of the suite's CPU. Python's own collector still runs."""
    import keras
    import tf_keras

    keras.utils.set_random_seed(0)
    keras.backend.clear_session(free_memory=False)
    tf_keras.backend.clear_session()
    np.random.seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- shared, built once


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    """A directory every xdist worker of this session sees (one session's only)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / "shared-fixtures"
    folder.mkdir(exist_ok=True)
    return folder


def build_once(shared_dir: Path, name: str, build) -> Path:
    """``shared_dir/name``, made by ``build(path)`` by the first worker to ask, under a lock.

    A ``name.done`` file records success; a build that raised leaves none, so the next worker
    to ask tries again (and fails the same way, in its own tests) instead of reading half a
    directory."""
    folder = shared_dir / name
    done = shared_dir / f"{name}.done"
    with open(shared_dir / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                if folder.exists():
                    shutil.rmtree(folder)
                build(folder)
                done.write_text("built\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


def writable_copy(src: Path, tmp_path: Path) -> Path:
    """A copy of a shared run or export directory that a test may change."""
    dst = tmp_path / src.name
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(scope="session")
def mlp_digits_run(shared_dir) -> Path:
    """The dense model: zoo ``mlp`` with its default widths (64, 32) trained on digits."""

    def build(out):
        from training.train import train

        train("mlp", "digits", out=out, verbose=0, **MLP_DIGITS)

    return build_once(shared_dir, "mlp-digits", build)


@pytest.fixture(scope="session")
def lenet5_digits_run(shared_dir) -> Path:
    """The CNN: zoo ``lenet5`` (32x32x1 input; digits upsampled) trained briefly."""

    def build(out):
        from training.train import train

        train("lenet5", "digits", out=out, verbose=0, **LENET5_DIGITS)

    return build_once(shared_dir, "lenet5-digits", build)


def load_compression(out: Path):
    """The :class:`compress.book.CompressionResult` of a finished chain, read back from its files
    (each step's report is its ``compression.json``)."""
    from compress.book import CompressionResult, StepResult

    summary = json.loads((out / "compression.json").read_text())
    steps = [
        StepResult(
            s["step"], out / s["dir"], json.loads((out / s["dir"] / "compression.json").read_text())
        )
        for s in summary["steps"]
    ]
    return CompressionResult(out, steps=steps, summary=summary)


@pytest.fixture(scope="session")
def mlp_digits_compressed(shared_dir, mlp_digits_run):
    """The dense run pruned to 75% sparsity, then 6-bit QAT (QKeras): a CompressionResult."""

    def build(out):
        from compress import compress

        compress(mlp_digits_run, out=out, **COMPRESS_DIGITS)

    return load_compression(build_once(shared_dir, "mlp-digits-compressed", build))


@pytest.fixture(scope="session")
def qkeras_digits_run(mlp_digits_compressed) -> Path:
    """The QKeras model directory (world "tf_keras") of the shared compression chain."""
    return mlp_digits_compressed["qat"].dir


@pytest.fixture(scope="session")
def mlp_digits_export(shared_dir, mlp_digits_run) -> Path:
    """``export_run`` of the dense run to every default target, built and swapped in the way the
    pipeline does it: exported to ``.export.new/exp``, then :func:`export.api.retarget_exports`
    and a rename to ``export/exp`` (the path returned; manifest.json inside)."""

    def build(folder):
        from export import export_run
        from export.api import retarget_exports

        export_run(mlp_digits_run, out=folder / ".export.new" / "exp")
        retarget_exports(folder / ".export.new", folder / "export")
        (folder / ".export.new").rename(folder / "export")

    return build_once(shared_dir, "mlp-digits-export", build) / "export" / "exp"
