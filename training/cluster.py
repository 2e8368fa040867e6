"""The cluster of a multi-worker run: ``TF_CONFIG`` checked, and a bounded rendezvous of the workers.

Both run before TensorFlow is imported or joins the cluster, so a mistake fails in a second with
one clear error instead of a hang (TensorFlow waits forever for a missing peer and ignores
SIGTERM while it waits).

TF_CONFIG is parsed here, not by ``tf.distribute.cluster_resolver.TFConfigClusterResolver``:
under TF 2.21 the resolver reads only the environment, needs ``import tensorflow`` (seconds)
and checks nothing -- it accepts duplicate addresses, a missing port, an out-of-range task index
and a task type the cluster lacks, which then hang or fail late inside the strategy.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass

from zoo.core.errors import EdgezooError

# Jobs MultiWorkerMirroredStrategy trains with; "ps"/"evaluator" belong to other strategies.
_JOBS = ("chief", "worker")
_TF_CONFIG_KEYS = {"cluster", "task", "rpc_layer", "environment"}
DEFAULT_CONNECT_TIMEOUT = 120.0  # seconds to wait for every peer of a multi-worker cluster


class DistributeError(EdgezooError, ValueError):
    """A distributed-training setting the user must fix (strategy name, devices, cluster)."""


class TFConfigError(DistributeError):
    """``TF_CONFIG`` is missing, not JSON, or not a valid chief/worker cluster description."""


class ClusterUnreachableError(DistributeError):
    """A worker of the cluster did not answer within the connect timeout."""


# --------------------------------------------------------------------------- TF_CONFIG


@dataclass(frozen=True)
class ClusterConfig:
    """A validated ``TF_CONFIG``: the cluster (job -> addresses) and this process's task."""

    cluster: dict
    task_type: str
    task_index: int

    @property
    def tasks(self) -> list[tuple[str, int, str]]:
        """Every training task as (job, index, address), chief first."""
        return [(job, i, addr) for job in _JOBS for i, addr in enumerate(self.cluster.get(job, []))]

    @property
    def num_workers(self) -> int:
        return len(self.tasks)

    @property
    def worker_index(self) -> int:
        """This task's position in :attr:`tasks` (0 = the chief)."""
        return [(j, i) for j, i, _ in self.tasks].index((self.task_type, self.task_index))

    @property
    def address(self) -> str:
        return self.cluster[self.task_type][self.task_index]

    @property
    def is_chief(self) -> bool:
        if "chief" in self.cluster:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def peers(self) -> list[str]:
        return [
            addr for job, i, addr in self.tasks if (job, i) != (self.task_type, self.task_index)
        ]


_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)


def parse_tf_config(raw: str | None = None) -> ClusterConfig:
    """Parse and validate ``TF_CONFIG`` (default: the environment variable).

    Checks what TensorFlow would otherwise fail on late or hang on: JSON syntax, a ``cluster``
    of ``chief`` (at most one) and ``worker`` jobs with ``host:port`` addresses, no duplicate
    address, and a ``task`` whose ``type`` is one of the cluster's jobs and whose ``index`` is
    in range. Raises :class:`TFConfigError` naming the problem.
    """
    if raw is None:
        raw = os.environ.get("TF_CONFIG", "")
    if not raw or not raw.strip():
        raise TFConfigError(
            "--strategy multiworker needs the TF_CONFIG environment variable on every worker, e.g. "
            f"{_EXAMPLE} (same cluster everywhere, a different task index per worker)."
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TFConfigError(
            f"TF_CONFIG is not valid JSON ({exc}). Expected e.g. {_EXAMPLE}"
        ) from None
    if not isinstance(data, dict):
        raise TFConfigError(
            f"TF_CONFIG must be a JSON object with 'cluster' and 'task'. Received: {raw!r}"
        )
    unknown = sorted(set(data) - _TF_CONFIG_KEYS)
    if unknown:
        raise TFConfigError(
            f"TF_CONFIG has unknown keys {unknown}; known: {sorted(_TF_CONFIG_KEYS)}."
        )
    cluster, task = data.get("cluster"), data.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise TFConfigError(
            f"TF_CONFIG['cluster'] must be a non-empty object of job name -> list of 'host:port'. "
            f"Received: {cluster!r}"
        )
    other = sorted(set(cluster) - set(_JOBS))
    if other:
        raise TFConfigError(
            f"TF_CONFIG['cluster'] has jobs {other}: MultiWorkerMirroredStrategy trains with 'chief' and "
            "'worker' tasks only (no parameter servers or evaluators)."
        )
    seen: dict[str, str] = {}
    for job, addrs in cluster.items():
        if not isinstance(addrs, list) or not addrs:
            raise TFConfigError(
                f"TF_CONFIG['cluster'][{job!r}] must be a non-empty list of 'host:port'. "
                f"Received: {addrs!r}"
            )
        if job == "chief" and len(addrs) != 1:
            raise TFConfigError(
                f"TF_CONFIG['cluster']['chief'] must hold exactly one address. Received: {addrs!r}"
            )
        for i, addr in enumerate(addrs):
            where = f"TF_CONFIG['cluster'][{job!r}][{i}]"
            _check_address(addr, where)
            if addr in seen:
                raise TFConfigError(
                    f"{where} = {addr!r} is also {seen[addr]}: every task needs its own address."
                )
            seen[addr] = where
    if not isinstance(task, dict):
        raise TFConfigError(
            f'TF_CONFIG[\'task\'] must be an object like {{"type": "worker", "index": 0}}. Received: {task!r}'
        )
    ttype, index = task.get("type"), task.get("index")
    if ttype not in cluster:
        raise TFConfigError(
            f"TF_CONFIG['task']['type'] = {ttype!r} is not a job of the cluster "
            f"({sorted(cluster)})."
        )
    if isinstance(index, bool) or not isinstance(index, int):
        raise TFConfigError(f"TF_CONFIG['task']['index'] must be an integer. Received: {index!r}")
    if not 0 <= index < len(cluster[ttype]):
        raise TFConfigError(
            f"TF_CONFIG['task']['index'] = {index} is out of range: cluster job {ttype!r} has "
            f"{len(cluster[ttype])} task(s) (indices 0..{len(cluster[ttype]) - 1})."
        )
    return ClusterConfig({job: list(cluster[job]) for job in _JOBS if job in cluster}, ttype, index)


def _check_address(addr, where: str) -> tuple[str, int]:
    if not isinstance(addr, str) or ":" not in addr:
        raise TFConfigError(f"{where} must be a 'host:port' string. Received: {addr!r}")
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TFConfigError(
            f"{where} must be 'host:port' with a port in 1..65535. Received: {addr!r}"
        )
    return host, int(port)


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------- cluster check


def wait_for_peers(
    config: ClusterConfig, timeout: float = DEFAULT_CONNECT_TIMEOUT, *, interval: float = 0.25
):
    """Bounded rendezvous before TensorFlow joins the cluster.

    This task listens on its own port (so peers see it) and connects to every peer until each
    accepts or ``timeout`` seconds pass. Raises :class:`ClusterUnreachableError` naming the
    peers that never answered, :class:`DistributeError` if this task's own port is taken or a
    host name does not resolve. The listener is closed before returning, so TensorFlow can bind
    the port.
    """
    for addr in config.peers:
        host, port = _split(addr)
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ClusterUnreachableError(
                f"TF_CONFIG worker address {addr!r}: host {host!r} does not resolve ({exc})."
            ) from None
    _, own_port = _split(config.address)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", own_port))
    except OSError as exc:
        listener.close()
        raise DistributeError(
            f"This task ({config.task_type} {config.task_index}, {config.address}) cannot listen on port "
            f"{own_port}: {exc.strerror or exc}. Another process holds it; pick a free port in TF_CONFIG."
        ) from None
    listener.listen(64)
    try:
        pending = list(config.peers)
        deadline = time.monotonic() + timeout
        while pending:
            for addr in list(pending):
                try:
                    with socket.create_connection(
                        _split(addr), timeout=min(2.0, max(0.1, timeout))
                    ):
                        pending.remove(addr)
                except OSError:
                    pass
            if not pending:
                break
            if time.monotonic() >= deadline:
                raise ClusterUnreachableError(
                    f"Worker(s) {', '.join(pending)} of TF_CONFIG did not answer within {timeout:g} s "
                    f"(this task: {config.task_type} {config.task_index} at {config.address}). Start every "
                    "worker with the same cluster and its own task index, check host names, ports and "
                    "firewalls, or raise EDGEZOO_CONNECT_TIMEOUT."
                )
            time.sleep(interval)
    finally:
        listener.close()


@contextlib.contextmanager
def _watchdog(seconds: float, message: str):
    """Exit the process with ``message`` if the body blocks in native code for ``seconds``.

    TensorFlow's cluster join cannot be interrupted from Python (and ignores SIGTERM): when a
    peer dies between the rendezvous and the join, this is the only bounded way out.
    """
    done = threading.Event()

    def fire():
        if not done.wait(seconds):
            sys.stderr.write(f"edgezoo: error: {message}\n")
            sys.stderr.flush()
            os._exit(3)

    t = threading.Thread(target=fire, daemon=True, name="edgezoo-join-watchdog")
    t.start()
    try:
        yield
    finally:
        done.set()


def _env_float(var: str, default):
    value = os.environ.get(var, "")
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise DistributeError(f"{var} must be a number of seconds. Received: {value!r}") from None
