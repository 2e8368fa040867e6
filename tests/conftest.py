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
# One TensorFlow (and OpenMP) thread per process: `make test` runs three xdist workers on two
# cores, plus the notebook kernels, CLI commands and bench children they start. With TF's default
# pools (one thread per core each, spinning while they wait) the processes took each other's
# cores; one thread each cut the CPU of the export claims by ~10% (measured: 150 s -> 135 s of
# user + sys for 22 claims on -n 3). A test or benchmark that sets its threads explicitly
# (the bench children, tf.distribute's workers) still gets what it sets.
for _var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

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


# --------------------------------------------------------------------------- xdist schedule

# Rough seconds per test module in `make test` (the module's setup + call + teardown summed, from
# a `--durations=0` run of 2026-12-05 on a loaded machine, divided by 4). Only the ordering below
# reads them; a module not listed counts LIGHT_S per test. Every module with an expensive
# module-scoped fixture is listed, so that it runs whole at the start of one worker's queue.
MODULE_COST_S = {
    "tests/test_export_claims.py": 330,
    "tests/test_pipeline.py": 100,
    "tests/test_fpga.py": 60,
    "tests/test_import.py": 72,
    "tests/test_ownership.py": 68,
    "tests/test_hgq.py": 57,
    "tests/test_int8.py": 38,
    "tests/test_distribute.py": 38,
    "tests/test_mlperf.py": 35,
    "tests/test_safety_property.py": 25,
    "tests/test_hostile_models.py": 21,
    "tests/test_silent_results.py": 13,
    "tests/test_export.py": 12,
    "tests/test_compress.py": 11,
    "tests/test_tflm.py": 10,
    "tests/test_reliability.py": 7,
    "tests/test_zoo_cnn.py": 6,
    "tests/test_report.py": 5,
    "tests/test_imported_readers.py": 1,
    "notebooks/05_compression.ipynb": 75,  # with the QKeras and HGQ2 Verilog
    "notebooks/07_inference_benchmarks.ipynb": 25,
    "notebooks/06_export_and_hls4ml.ipynb": 23,
    "notebooks/02_dnn_with_callbacks.ipynb": 18,
    "notebooks/03_cnns_and_parameter_counting.ipynb": 17,
    "notebooks/04_autoencoder_anomaly_detection.ipynb": 15,
    "notebooks/08_your_own_model.ipynb": 11,
    "notebooks/01_perceptron_and_gradient_descent.ipynb": 9,
}
LIGHT_S = 0.4


def xdist_order(items: list, workers: int) -> list:
    """``items`` reordered for ``--dist worksteal`` over ``workers`` workers.

    worksteal hands worker i the i-th contiguous chunk of the collection (sizes n // workers,
    as xdist computes them) and later moves the *end* of a busy worker's queue to an idle one.
    So each chunk starts with the listed (long) modules, shared out longest first to the chunk
    with the least work so far, and ends with unlisted short tests: the steals at the end move
    short tests, a long module never becomes the tail, and a module with a module-scoped fixture
    is not split between the workers (which would build the fixture twice). The order within a
    module is kept."""
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(item.nodeid.split("::")[0], []).append(item)
    sizes, left = [], len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    heavy = sorted((m for m in groups if m in MODULE_COST_S), key=lambda m: -MODULE_COST_S[m])
    chunks: list[list] = [[] for _ in range(workers)]
    work = [0.0] * workers
    for m in heavy:
        fits = [i for i in range(workers) if len(chunks[i]) + len(groups[m]) <= sizes[i]]
        if not fits:
            return items  # a chunk too small for a module: keep the collection order
        i = min(fits, key=lambda i: (work[i], i))
        chunks[i].extend(groups[m])
        work[i] += MODULE_COST_S[m]
    light = [item for m, group in groups.items() if m not in MODULE_COST_S for item in group]
    for chunk, size in zip(chunks, sizes):
        take = size - len(chunk)
        chunk.extend(light[:take])
        light = light[take:]
    return [item for chunk in chunks for item in chunk]


@pytest.hookimpl(trylast=True)  # after -m / -k deselection: the chunks are of what runs
def pytest_collection_modifyitems(config, items):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        items[:] = xdist_order(items, workers)
