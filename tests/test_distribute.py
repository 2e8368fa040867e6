"""Distributed training: MirroredStrategy on 2 logical CPU devices, MultiWorkerMirroredStrategy
with 2 worker processes on 127.0.0.1, TF_CONFIG validation and unreachable peers.

Every run that needs TensorFlow set up differently (logical devices, a cluster join) runs in a
fresh process (``python -m training._worker``), bounded by a timeout that kills it.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training import distribute
from training.cluster import (
    ClusterUnreachableError,
    DistributeError,
    TFConfigError,
    parse_tf_config,
)

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 150  # seconds for any one worker process
# A small, fast, real run: the MLP on 400 digits (320 train = 10 global batches of 32).
TRAIN = ["mlp", "--dataset", "digits", "--limit", "400", "--batch-size", "16"]

pytestmark = pytest.mark.xdist_group("distribute")  # the subprocess tests want both cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tf_config(ports, index: int) -> str:
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def start_worker(args, *, tf_config_value=None, log=None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(
        {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "EDGEZOO_CONNECT_TIMEOUT": "60"}
    )
    if tf_config_value is not None:
        env["TF_CONFIG"] = tf_config_value
    return subprocess.Popen(
        [sys.executable, "-m", "training._worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(procs, timeout=TIMEOUT) -> list[dict]:
    """Wait for every worker (killing all at the deadline) and return their JSON results."""
    deadline = time.monotonic() + timeout
    outputs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
            outputs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, f"worker exited with {p.returncode}:\n{out[-4000:]}"
        lines = [ln for ln in out.splitlines() if ln.startswith("EDGEZOO_RESULT ")]
        assert lines, f"no result line:\n{out[-4000:]}"
        results.append(json.loads(lines[-1][len("EDGEZOO_RESULT ") :]))
    return results


def csv_epochs(path: Path) -> list[int]:
    with open(path) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


# --------------------------------------------------------------------------- TF_CONFIG

GOOD = {
    "cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]},
    "task": {"type": "worker", "index": 1},
}


@pytest.mark.parametrize(
    "raw, message",
    [
        ("", "needs the TF_CONFIG environment variable"),
        ("{cluster: 1", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({**GOOD, "clusterr": {}}), r"unknown keys \['clusterr'\]"),
        (json.dumps({"task": GOOD["task"]}), r"TF_CONFIG\['cluster'\] must be a non-empty object"),
        (json.dumps({**GOOD, "cluster": {"worker": []}}), r"\['worker'\] must be a non-empty list"),
        (
            json.dumps({**GOOD, "cluster": {"worker": "127.0.0.1:2222"}}),
            r"\['worker'\] must be a non-empty list",
        ),
        (
            json.dumps({**GOOD, "cluster": {"worker": ["127.0.0.1"]}}),
            r"\['worker'\]\[0\] must be a 'host:port'",
        ),
        (
            json.dumps({**GOOD, "cluster": {"worker": ["a:2222", "b:99999"]}}),
            r"\[1\] must be 'host:port' with a port",
        ),
        (
            json.dumps({**GOOD, "cluster": {"worker": ["a:1", "a:1"]}}),
            "every task needs its own address",
        ),
        (
            json.dumps({**GOOD, "cluster": {"worker": ["a:1"], "ps": ["b:2"]}}),
            r"jobs \['ps'\].*no parameter servers",
        ),
        (json.dumps({**GOOD, "cluster": {"chief": ["a:1", "b:2"]}}), "exactly one address"),
        (json.dumps({"cluster": GOOD["cluster"]}), r"TF_CONFIG\['task'\] must be an object"),
        (
            json.dumps({**GOOD, "task": {"type": "chief", "index": 0}}),
            "'chief' is not a job of the cluster",
        ),
        (
            json.dumps({**GOOD, "task": {"type": "worker", "index": "1"}}),
            "index'] must be an integer",
        ),
        (
            json.dumps({**GOOD, "task": {"type": "worker", "index": 2}}),
            r"index'\] = 2 is out of range.*0\.\.1",
        ),
        (json.dumps({**GOOD, "task": {"type": "worker", "index": -1}}), "out of range"),
    ],
)
def test_malformed_tf_config_is_a_clear_error(raw, message):
    with pytest.raises(TFConfigError, match=message) as info:
        parse_tf_config(raw)
    assert isinstance(info.value, ValueError)  # the CLI prints it as one line, exit code 2


def test_tf_config_roles():
    cfg = parse_tf_config(json.dumps(GOOD))
    assert (cfg.num_workers, cfg.worker_index, cfg.is_chief) == (2, 1, False)
    assert cfg.address == "127.0.0.1:2223" and cfg.peers == ["127.0.0.1:2222"]
    with_chief = {
        "cluster": {"chief": ["c:1"], "worker": ["w:1", "w:2"]},
        "task": {"type": "worker", "index": 0},
    }
    cfg = parse_tf_config(json.dumps(with_chief))
    assert (cfg.num_workers, cfg.worker_index, cfg.is_chief) == (3, 1, False)
    chief = parse_tf_config(json.dumps({**with_chief, "task": {"type": "chief", "index": 0}}))
    assert chief.is_chief and chief.worker_index == 0 and chief.peers == ["w:1", "w:2"]


def test_unknown_strategy_fails_before_any_work(tmp_path):
    from training import train

    with pytest.raises(
        DistributeError, match="Unknown strategy 'horovod'.*default, mirrored, multiworker"
    ):
        train("mlp", "digits", out=tmp_path / "run", strategy="horovod")
    assert not (tmp_path / "run").exists()


def test_cli_bad_tf_config_and_unreachable_worker(tmp_path, monkeypatch, capsys):
    """A malformed TF_CONFIG and a peer that never answers: exit code 2 and one clear line, fast."""
    from edgezoo.cli import main

    args = [
        "train",
        *TRAIN,
        "--epochs",
        "1",
        "--strategy",
        "multiworker",
        "--out",
        str(tmp_path / "run"),
    ]
    monkeypatch.setenv(
        "TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker"}}'
    )
    assert main(args) == 2
    assert "TF_CONFIG['task']['index'] must be an integer" in capsys.readouterr().err

    own, peer = free_port(), free_port()  # nobody listens on `peer`
    monkeypatch.setenv("TF_CONFIG", tf_config([own, peer], 0))
    monkeypatch.setenv("EDGEZOO_CONNECT_TIMEOUT", "2")
    t0 = time.monotonic()
    assert main(args) == 2
    assert time.monotonic() - t0 < 20
    err = capsys.readouterr().err
    assert f"127.0.0.1:{peer}" in err and "did not answer within 2 s" in err
    assert not (tmp_path / "run").exists()


def test_own_port_taken_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("", 0))
        s.listen(1)
        taken = s.getsockname()[1]
        cfg = parse_tf_config(tf_config([taken, free_port()], 0))
        with pytest.raises(DistributeError, match=f"cannot listen on port {taken}"):
            distribute.wait_for_peers(cfg, timeout=1)
        with pytest.raises(ClusterUnreachableError, match="did not answer"):
            distribute.wait_for_peers(
                parse_tf_config(tf_config([free_port(), free_port()], 1)), timeout=0.5
            )


# --------------------------------------------------------------------------- MirroredStrategy


def test_mirrored_two_replicas_matches_single_device(tmp_path):
    """2 replicas x 16 on 2 logical CPU devices == 1 device x 32 through the same pipeline."""
    from training import load_run

    two = start_worker(
        [
            "train",
            *TRAIN,
            "--strategy",
            "mirrored",
            "--cpus",
            "2",
            "--epochs",
            "3",
            "--out",
            str(tmp_path / "two"),
            "--json",
            "--weights",
        ]
    )
    one = start_worker(
        [
            "train",
            *TRAIN[:-1],
            "32",
            "--strategy",
            "mirrored",
            "--cpus",
            "1",
            "--epochs",
            "3",
            "--out",
            str(tmp_path / "one"),
            "--json",
            "--weights",
        ]
    )
    r2, r1 = finish([two, one])
    assert (r2["metrics"]["replicas"], r2["metrics"]["global_batch_size"]) == (2, 32)
    assert (r1["metrics"]["replicas"], r1["metrics"]["global_batch_size"]) == (1, 32)
    loss = r2["history"]["loss"]
    assert all(b < a for a, b in zip(loss, loss[1:])), f"loss does not decrease: {loss}"
    np.testing.assert_allclose(loss, r1["history"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(r2["weights"], r1["weights"], atol=1e-5)
    # an ordinary Keras 3 run directory that records the strategy
    model, cfg = load_run(tmp_path / "two")
    assert cfg.raw["strategy"] == "mirrored" and cfg.world == "keras"
    assert cfg.raw["distribute"]["replicas"] == 2 and len(cfg.raw["distribute"]["devices"]) == 2
    np.testing.assert_allclose(
        np.concatenate([w.ravel() for w in model.get_weights()]), r2["weights"], atol=1e-7
    )
    assert (
        int(model.optimizer.iterations.numpy()) == 3 * 10
    )  # the Adam state came along (10 steps x 3 epochs)


def interrupt_when(procs, ready, what: str):
    """SIGKILL every process as soon as ``ready()`` holds (fails if one ends first or time runs out)."""
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            if ready():
                break
            time.sleep(0.05)
        assert all(p.poll() is None for p in procs), "a worker ended before it could be interrupted"
        assert ready(), f"no {what} within the time limit"
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.communicate()


def assert_resumed(out: Path, epochs: int):
    seen = csv_epochs(out / "history.csv")
    # resumed, not restarted: every epoch once (at most one logged twice: killed before its backup)
    assert set(seen) == set(range(epochs)) and seen[0] == 0 and seen[-1] == epochs - 1
    assert len(seen) <= epochs + 1
    assert not (out / "backup").exists()


def test_mirrored_resumes_after_a_kill(tmp_path):
    out, epochs = tmp_path / "run", 4
    args = [
        "train",
        *TRAIN,
        "--strategy",
        "mirrored",
        "--cpus",
        "2",
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        "--json",
    ]
    meta = out / "backup" / "training_metadata.json"
    interrupt_when(
        [start_worker(args)],
        lambda: meta.exists() and len(csv_epochs(out / "history.csv")) >= 1,
        "backup",
    )
    assert 1 <= len(csv_epochs(out / "history.csv")) < epochs
    (run,) = finish([start_worker(args)])
    assert run["metrics"]["resumed"] is True and run["metrics"]["replicas"] == 2
    assert_resumed(out, epochs)


# --------------------------------------------------------------------------- MultiWorkerMirroredStrategy


def test_multiworker_two_processes_train_in_sync(tmp_path):
    """2 workers on 127.0.0.1: both finish, identical weights, only the chief writes."""
    from training import load_run

    ports = [free_port(), free_port()]
    outs = [
        tmp_path / "chief",
        tmp_path / "other",
    ]  # separate disks: the non-chief must leave no trace
    procs = [
        start_worker(
            [
                "train",
                *TRAIN,
                "--strategy",
                "multiworker",
                "--epochs",
                "3",
                "--out",
                str(outs[i]),
                "--json",
                "--weights",
            ],
            tf_config_value=tf_config(ports, i),
        )
        for i in (0, 1)
    ]
    chief, other = finish(procs)
    assert chief["metrics"]["chief"] is True and other["metrics"]["chief"] is False
    assert chief["metrics"]["num_workers"] == 2 and chief["metrics"]["global_batch_size"] == 32
    assert chief["weights_sha256"] == other["weights_sha256"]
    assert chief["history"]["loss"] == pytest.approx(other["history"]["loss"], rel=1e-6)
    assert chief["history"]["loss"][-1] < chief["history"]["loss"][0]
    assert other["dir"] is None and not outs[1].exists()
    # edgezoo's own ownership marker and lock (zoo.core) are dot files; the run's files are these
    assert sorted(p.name for p in outs[0].iterdir() if not p.name.startswith(".")) == [
        "checkpoint.keras",
        "config.json",
        "history.csv",
        "history.png",
        "metrics.json",
        "model.keras",
    ]
    # the chief's run directory is an ordinary Keras 3 one, with the weights both workers hold
    model, cfg = load_run(outs[0])
    assert type(model).__module__.startswith("keras.") and cfg.world == "keras"
    assert (
        cfg.raw["strategy"] == "multiworker" and cfg.raw["distribute"]["trained_in"] == "tf_keras"
    )
    np.testing.assert_array_equal(
        np.concatenate([w.ravel() for w in model.get_weights()]),
        np.asarray(other["weights"], dtype="float32"),
    )
    assert csv_epochs(outs[0] / "history.csv") == [0, 1, 2]


# `make test-all` only: four TensorFlow processes, 45-52 s of a 2-core `make test`. `make test`
# keeps a two-worker run in sync (above) and a killed run resuming from its backup (mirrored).
@pytest.mark.slow
def test_multiworker_lost_worker_then_resume(tmp_path):
    """Kill worker 1 after a backed-up epoch: the chief stops with a clear error (no hang);
    restarting both resumes from the backup."""
    out, epochs = tmp_path / "run", 3
    ports = [free_port(), free_port()]
    args = [
        "train",
        *TRAIN,
        "--strategy",
        "multiworker",
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        "--json",
    ]
    procs = [start_worker(args, tf_config_value=tf_config(ports, i)) for i in (0, 1)]
    ckpt = out / "backup" / "chief" / "checkpoint"
    interrupt_when(
        procs[1:], lambda: ckpt.exists() and len(csv_epochs(out / "history.csv")) >= 1, "backup"
    )
    try:
        log, _ = procs[0].communicate(timeout=90)
    finally:
        procs[0].kill()
    assert procs[0].returncode == 2, log[-3000:]
    assert "a peer stopped during training" in log and "Restart every worker" in log
    done_before = len(csv_epochs(out / "history.csv"))
    assert 1 <= done_before < epochs

    ports = [free_port(), free_port()]
    chief, other = finish([start_worker(args, tf_config_value=tf_config(ports, i)) for i in (0, 1)])
    assert chief["metrics"]["resumed"] is True and other["metrics"]["resumed"] is True
    assert chief["weights_sha256"] == other["weights_sha256"]
    assert_resumed(out, epochs)


def test_bench_distribute_cli(capsys):
    from edgezoo.cli import main

    assert (
        main(["bench-distribute", "--epochs", "1", "--limit", "200", "--replicas", "2", "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    rows = {(r["strategy"], r["replicas"]): r for r in result["rows"]}
    assert set(rows) == {("default", 1), ("mirrored", 2)} and result["logical_cpus"] == 2
    assert rows[("mirrored", 2)]["global_batch"] == 2 * rows[("default", 1)]["global_batch"] == 64
    assert all(r["samples_per_s"] > 0 and np.isfinite(r["final_loss"]) for r in rows.values())
