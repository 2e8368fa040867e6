"""``edgezoo bench-compat --jobs N``: the matrix's rows in N worker processes at once (a row's
conversions leave the second core idle about half the time), each a fresh process that dies with
the run; :func:`edgezoo.experiments.compat.bench_compat` times the rows afterwards, alone."""

from __future__ import annotations

import os
from pathlib import Path

from edgezoo.experiments.compat import one_line, run_model


def _die_with_parent() -> None:
    """A worker ends when the run that started it ends (killed, interrupted): Linux'
    ``PR_SET_PDEATHSIG``. Without it a killed run's workers went on writing their rows."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the worker ends with its row
        return
    if os.getppid() == 1:  # the parent was gone before the call
        os._exit(1)


def _share_cores(jobs: int) -> None:
    """TensorFlow's threads in a worker: the cores shared by the ``jobs`` rows running at once.
    Measured (2 cores, two fits at once, 2026-12-05): with TensorFlow's default threads in each,
    MobileNetV2 (10 epochs) and ResNet50 (4) took 26.3 s and 46.7 s; with one thread each, 20.3 s
    and 41.5 s."""
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    tf.config.threading.set_intra_op_parallelism_threads(max(1, (cores or 1) // max(1, jobs)))
    tf.config.threading.set_inter_op_parallelism_threads(1)


def row_in_subprocess(name: str, out: str, opts: dict, supported: set) -> dict:
    """:func:`run_model` in a worker process of :func:`bench_compat` (``jobs`` > 1): the
    libraries' logs go to ``out/<name>/worker.log``; the row comes back to the parent."""
    import sys

    _die_with_parent()
    path = Path(out) / name
    path.mkdir(parents=True, exist_ok=True)
    log = open(path / "worker.log", "w")  # noqa: SIM115 - open for the process' life
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    _share_cores(int(opts.get("jobs", 1)))
    load = os.getloadavg()
    row = run_model(name, path, opts, supported, progress=lambda m: print(m, flush=True))
    return {**row, "load_before": load}


def _row_alone(row_fn, name: str, out: str, opts, supported, ctx) -> dict:
    """``row_fn(name, out, opts, supported)`` in a fresh process of its own; a process that dies
    (out of memory, a crash) breaks only this row's pool, and the row says so in one line."""
    import concurrent.futures as cf

    with cf.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        try:
            return pool.submit(row_fn, name, out, opts, supported).result()
        except Exception as exc:  # noqa: BLE001 - recorded in the row
            return {"model": name, "steps": {"worker": {"status": "fail", "error": one_line(exc)}}}


def parallel_rows(
    models,
    out: Path,
    opts,
    supported,
    jobs: int,
    kept: dict,
    progress,
    on_row=None,
    row_fn=row_in_subprocess,
) -> dict:
    """Rows of ``models`` by ``jobs`` fresh processes at a time, each row in its own, the
    longest first (by the last measured row time in ``kept``; rows never measured first, in the
    order given): name -> row. A worker that dies leaves its row saying so; the other rows go on.
    ``on_row(name, row)`` is called as each row is done (the run's compat.json is written then,
    so a run cut short keeps its finished rows). ``row_fn``: what a worker runs
    (:func:`row_in_subprocess`)."""
    import concurrent.futures as cf
    import multiprocessing

    order = sorted(models, key=lambda n: -float((kept.get(n) or {}).get("seconds") or "inf"))
    rows: dict = {}
    ctx = multiprocessing.get_context("spawn")
    with cf.ThreadPoolExecutor(jobs) as threads:  # in order: the longest rows start first
        futures = {
            threads.submit(_row_alone, row_fn, n, str(out), opts, supported, ctx): n for n in order
        }
        for n in order:
            progress(f"{n}: build, fit, save, import, export (in a worker: {out / n}/worker.log)")
        for fut in cf.as_completed(futures):
            name = futures[fut]
            rows[name] = fut.result()
            progress(f"{name}: row done in {rows[name].get('seconds', '?')} s")
            if on_row is not None:
                on_row(name, rows[name])
    return rows
