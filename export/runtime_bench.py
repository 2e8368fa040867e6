"""Inference benchmarks: every artifact of an export manifest, on this machine.

Method (``measure``): the call is built once (session/interpreter created, input placed),
``warmup`` calls are run and discarded, then the call is timed one invocation at a time
with ``time.perf_counter_ns`` until ``runs`` calls or the ``budget_s`` time budget is
spent (at least ``min_runs``). Reported: p50/p90/p99 and mean latency, throughput
(samples/s = batch / mean), and the number of timed calls.

Each artifact is measured in a fresh child process (``python -m export.runtime_bench``),
so its peak resident memory (VmHWM) is its own and no runtime shares another's process.
The child also times a bare ``for`` loop over the same call, in chunks interleaved with
timed chunks, so the harness's own overhead is measured rather than assumed.

What is timed per runtime (input already in the runtime's input dtype):
* keras ``model(x)``: the eager call; keras ``predict``: ``model.predict(x)`` (batching,
  callbacks and all -- what most users call);
* onnxruntime: ``session.run``;
* LiteRT: ``set_tensor`` + ``invoke`` + ``get_tensor`` (int8 inputs are quantized with the
  scale/zero-point the interpreter reports before timing starts);
* OpenVINO: ``InferRequest.infer`` of a model compiled for "CPU" (f32 precision hint, one
  stream, latency hint, ``INFERENCE_NUM_THREADS`` = threads).

Each measurement records its runtime settings (:func:`settings`).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

from zoo.core.introspect import predicted_class, versions


def measure(
    call, *, warmup: int = 10, runs: int = 2000, budget_s: float = 2.0, min_runs: int = 20
) -> dict:
    """Time ``call()`` after ``warmup`` calls; returns latency percentiles in microseconds."""
    for _ in range(warmup):
        call()
    times = []
    clock = time.perf_counter_ns
    deadline = clock() + int(budget_s * 1e9)
    while len(times) < runs:
        t0 = clock()
        call()
        t1 = clock()
        times.append(t1 - t0)
        if t1 > deadline and len(times) >= min_runs:
            break
    us = np.asarray(times, dtype=np.float64) / 1e3
    return {
        "n": int(len(us)),
        "p50_us": float(np.percentile(us, 50)),
        "p90_us": float(np.percentile(us, 90)),
        "p99_us": float(np.percentile(us, 99)),
        "mean_us": float(us.mean()),
    }


def overhead_check(call, n: int, chunks: int = 10) -> tuple[float, float]:
    """(harness, bare) microseconds per call, each the median of ``chunks`` chunk means, with
    harness chunks (every call timed on its own, as :func:`measure` does) and bare-loop chunks
    (one timer around a plain ``for`` loop) interleaved, so machine drift hits both alike."""
    per = max(1, n // chunks)
    clock = time.perf_counter_ns
    harness, bare = [], []
    for _ in range(chunks):
        t0 = clock()
        for _ in range(per):
            call()
        bare.append((clock() - t0) / per / 1e3)
        total = 0
        for _ in range(per):
            a = clock()
            call()
            total += clock() - a
        harness.append(total / per / 1e3)
    return float(np.median(harness)), float(np.median(bare))


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- runtimes


def _batch(x: np.ndarray, batch: int) -> np.ndarray:
    reps = int(np.ceil(batch / len(x)))
    return np.concatenate([x] * reps)[:batch]


def make_call(runtime: str, path: str, x: np.ndarray, threads: int):
    """Build (call, predict_all) for one runtime: ``call`` runs the batch ``x`` once;
    ``predict_all(xs)`` returns float outputs for any array (for accuracy)."""
    if runtime in ("keras", "keras_predict"):
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        import zoo  # noqa: F401
        from zoo.core.io import load_model

        world = os.environ.get("EDGEZOO_BENCH_WORLD", "keras")
        hgq = os.environ.get("EDGEZOO_BENCH_HGQ") == "1"  # the source is an HGQ2 model
        model = load_model(path, world=world, compile=False, hgq=hgq)
        if runtime == "keras":
            xt = tf.constant(x)
            call = lambda: model(xt, training=False)  # noqa: E731
        else:
            call = lambda: model.predict(x, verbose=0, batch_size=len(x))  # noqa: E731
        return call, lambda xs: np.asarray(model.predict(xs, verbose=0, batch_size=256))
    from export import targets

    target = targets.by_runtime(runtime)
    if target is not None:
        return target.make_call(path, x, threads)
    from export.errors import ExportOptionsError

    known = ["keras", "keras_predict", *targets.runtimes().values()]
    raise ExportOptionsError(f"Unknown runtime {runtime!r}; expected one of {known}.")


def settings(runtime: str, threads: int, path: str | None = None) -> dict:
    """The runtime options a measurement ran with (what :func:`make_call` sets or leaves default)."""
    th = threads or os.cpu_count()
    from export import targets

    target = targets.by_runtime(runtime)
    if target is not None:
        return target.settings(th, path)
    return {"intra_op_parallelism_threads": th, "inter_op_parallelism_threads": 1}


def _child(specs: list[dict]) -> list[dict]:
    """Run the measurements of one artifact (inside its child process), one call object per
    (runtime, batch, threads)."""
    results = []
    for spec in specs:
        try:
            x_all = np.load(spec["inputs"])
            x = _batch(x_all, spec["batch"])
            call, predict_all = make_call(spec["runtime"], spec["path"], x, spec["threads"])
            stats = measure(
                call, warmup=spec["warmup"], runs=spec["runs"], budget_s=spec["budget_s"]
            )
            timed, bare = overhead_check(call, max(20, min(stats["n"], 1000)))
            stats["bare_loop_us"] = bare
            stats["harness_overhead"] = timed / bare - 1.0
            stats["throughput_sps"] = spec["batch"] / (stats["mean_us"] / 1e6)
            stats["settings"] = settings(spec["runtime"], spec["threads"], spec["path"])
            if spec.get("labels"):
                y = np.load(spec["labels"])
                pred = np.asarray(predict_all(x_all))
                stats["accuracy"] = float((predicted_class(pred) == y).mean())
        except Exception as exc:  # noqa: BLE001 - reported per measurement, the others still run
            stats = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        stats["peak_rss_mib"] = peak_rss_mib()
        results.append(stats)
    return results


def run_isolated(specs: list[dict], timeout: float = 600) -> list[dict]:
    """Measure ``specs`` (one artifact) in a fresh child process; one stats dict per spec."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    world = next((s.get("world") for s in specs if s.get("world")), None)
    if world:
        env["EDGEZOO_BENCH_WORLD"] = world
    if any(s.get("hgq") for s in specs):
        env["EDGEZOO_BENCH_HGQ"] = "1"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "export.runtime_bench", json.dumps(specs)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout:.0f} s"} for _ in specs]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return [{"error": f"exit {proc.returncode}: {tail[0][:300]}"} for _ in specs]
    return json.loads(lines[-1])


def conditions() -> dict:
    """Where and with what the figures were measured."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    from export.peak import cpu_info

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "lscpu": cpu_info(),
        "python": platform.python_version(),
        "versions": versions(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


if __name__ == "__main__":
    result = _child(json.loads(sys.argv[1]))  # a list of specs -> a list of results
    print(json.dumps(result))
