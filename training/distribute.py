"""Distributed training with ``tf.distribute``: strategies, ``TF_CONFIG``, sharded input.

:func:`training.train.train` takes ``strategy="default" | "mirrored" | "multiworker"``:

* ``default`` -- no strategy: one device, the plain numpy ``fit`` (unchanged behaviour);
* ``mirrored`` -- :class:`tf.distribute.MirroredStrategy`, synchronous data parallelism over
  the devices of one host (all GPUs; without GPUs, all *logical* CPU devices, see
  :func:`split_cpu`). Trained by **Keras 3**;
* ``multiworker`` -- :class:`tf.distribute.MultiWorkerMirroredStrategy` across processes or
  hosts described by the standard ``TF_CONFIG`` environment variable. Keras 3's ``fit`` fails
  under this strategy (keras-team/keras#20585, "Attempt to convert a value (PerReplica...)"),
  tf-keras' works, so the **tf-keras twin** of the zoo model is built and trained inside the
  strategy scope and converted back to Keras 3 by layer name (:func:`zoo.transfer_weights`)
  before anything is saved: downstream stages see an ordinary Keras 3 run directory.

``batch_size`` is the *per-replica* batch; the global batch is ``batch_size x replicas``.
The learning rate is used as given (see docs/scaling.md for scaling it with the batch).

Input is a ``tf.data`` pipeline built per worker by
:meth:`tf.distribute.Strategy.distribute_datasets_from_function`: each worker keeps only its
shard (``Dataset.shard(num_workers, worker_index)``), shuffles it with the run's seed and
batches it with the per-replica batch size. Only the chief (``chief`` task, else worker 0)
writes the run directory.

Bad input fails fast with a :class:`DistributeError` (a ``ValueError``): a malformed
``TF_CONFIG`` (:class:`TFConfigError`) before TensorFlow starts, a peer that does not answer
within ``connect_timeout`` seconds (:class:`ClusterUnreachableError`) before the strategy is
created -- TensorFlow itself would wait forever (and ignores SIGTERM while it waits).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from zoo.errors import EdgezooError

STRATEGIES = ("default", "mirrored", "multiworker")
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
        return [addr for job, i, addr in self.tasks if (job, i) != (self.task_type, self.task_index)]


_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\'')


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
        raise TFConfigError(f"TF_CONFIG is not valid JSON ({exc}). Expected e.g. {_EXAMPLE}") from None
    if not isinstance(data, dict):
        raise TFConfigError(f"TF_CONFIG must be a JSON object with 'cluster' and 'task'. Received: {raw!r}")
    unknown = sorted(set(data) - _TF_CONFIG_KEYS)
    if unknown:
        raise TFConfigError(f"TF_CONFIG has unknown keys {unknown}; known: {sorted(_TF_CONFIG_KEYS)}.")
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
            raise TFConfigError(f"TF_CONFIG['cluster'][{job!r}] must be a non-empty list of 'host:port'. "
                                f"Received: {addrs!r}")
        if job == "chief" and len(addrs) != 1:
            raise TFConfigError(f"TF_CONFIG['cluster']['chief'] must hold exactly one address. Received: {addrs!r}")
        for i, addr in enumerate(addrs):
            where = f"TF_CONFIG['cluster'][{job!r}][{i}]"
            _check_address(addr, where)
            if addr in seen:
                raise TFConfigError(f"{where} = {addr!r} is also {seen[addr]}: every task needs its own address.")
            seen[addr] = where
    if not isinstance(task, dict):
        raise TFConfigError(
            f"TF_CONFIG['task'] must be an object like {{\"type\": \"worker\", \"index\": 0}}. Received: {task!r}"
        )
    ttype, index = task.get("type"), task.get("index")
    if ttype not in cluster:
        raise TFConfigError(f"TF_CONFIG['task']['type'] = {ttype!r} is not a job of the cluster "
                            f"({sorted(cluster)}).")
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
        raise TFConfigError(f"{where} must be 'host:port' with a port in 1..65535. Received: {addr!r}")
    return host, int(port)


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------- cluster check

def wait_for_peers(config: ClusterConfig, timeout: float = DEFAULT_CONNECT_TIMEOUT, *, interval: float = 0.25):
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
            raise ClusterUnreachableError(f"TF_CONFIG worker address {addr!r}: host {host!r} does not resolve "
                                          f"({exc}).") from None
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
                    with socket.create_connection(_split(addr), timeout=min(2.0, max(0.1, timeout))):
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


# --------------------------------------------------------------------------- strategies

def split_cpu(n: int) -> list:
    """Split the host CPU into ``n`` logical devices (to run ``MirroredStrategy`` without GPUs).

    Must run before TensorFlow initializes its devices, i.e. early in a fresh process.
    """
    import tensorflow as tf

    if n < 1:
        raise DistributeError(f"split_cpu needs n >= 1. Received: n={n}")
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as exc:
        if len(tf.config.list_logical_devices("CPU")) == n:
            return tf.config.list_logical_devices("CPU")
        raise DistributeError(
            f"Cannot split the CPU into {n} logical devices: TensorFlow has already initialized its devices "
            f"({exc}). Call split_cpu first thing in a fresh process."
        ) from None
    return tf.config.list_logical_devices("CPU")


def mirrored_devices() -> list[str]:
    """The devices ``mirrored`` uses: every GPU, else every logical CPU device."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]


_MULTIWORKER = {}  # TF_CONFIG -> strategy: TensorFlow allows one cluster join per process


def make_strategy(name: str = "default", *, devices=None, connect_timeout: float | None = None,
                  collective_timeout: float | None = None):
    """A ``tf.distribute`` strategy for ``name`` ("default" gives ``tf.distribute.get_strategy()``).

    ``multiworker`` validates ``TF_CONFIG`` and waits (at most ``connect_timeout`` s, default
    ``$EDGEZOO_CONNECT_TIMEOUT`` or 120) for every peer before joining; ``collective_timeout``
    (default ``$EDGEZOO_COLLECTIVE_TIMEOUT``, unset = none) bounds each all-reduce.
    """
    import tensorflow as tf

    check_strategy_name(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = list(devices) if devices else mirrored_devices()
        if len(devices) == 1:
            import warnings

            warnings.warn(
                f"--strategy mirrored found one device ({devices[0]}): training runs on 1 replica. Without GPUs, "
                "split the CPU first (training.distribute.split_cpu(n), in a fresh process).",
                RuntimeWarning,
                stacklevel=3,
            )
        return tf.distribute.MirroredStrategy(devices=devices)
    raw = os.environ.get("TF_CONFIG", "")
    if raw in _MULTIWORKER:
        return _MULTIWORKER[raw]
    config = parse_tf_config(raw)
    if connect_timeout is None:
        connect_timeout = _env_float("EDGEZOO_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)
    if collective_timeout is None:
        collective_timeout = _env_float("EDGEZOO_COLLECTIVE_TIMEOUT", None)
    if config.num_workers > 1:
        wait_for_peers(config, connect_timeout)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout)
    with _watchdog(max(30.0, connect_timeout), f"worker(s) {', '.join(config.peers)} answered but did not join "
                   f"the TensorFlow cluster; a worker probably exited. Restart all workers."):
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except (RuntimeError, ValueError) as exc:
            raise DistributeError(
                f"Could not join the cluster of TF_CONFIG as {config.task_type} {config.task_index}: {exc}. "
                "MultiWorkerMirroredStrategy must be created once, at the start of a process, before other "
                "TensorFlow work: run each worker as its own `edgezoo train ... --strategy multiworker`."
            ) from exc
    _MULTIWORKER[raw] = strategy
    return strategy


def check_strategy_name(name) -> str:
    if name not in STRATEGIES:
        raise DistributeError(f"Unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}.")
    return name


def _env_float(var: str, default):
    value = os.environ.get(var, "")
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise DistributeError(f"{var} must be a number of seconds. Received: {value!r}") from None


# --------------------------------------------------------------------------- plan

@dataclass
class Plan:
    """How one ``train`` call runs: the strategy, replicas, batch sizes, who writes, which Keras."""

    name: str
    strategy: object = None  # None for "default"
    replicas: int = 1
    per_replica_batch: int = 64
    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True
    world: str = "keras"  # the Keras the model is trained in ("tf_keras" for multiworker)
    devices: list = field(default_factory=list)

    @property
    def global_batch(self) -> int:
        return self.per_replica_batch * self.replicas

    @property
    def distributed(self) -> bool:
        return self.strategy is not None

    @property
    def multiworker(self) -> bool:
        return self.name == "multiworker"

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def summary(self) -> dict:
        return {"strategy": self.name, "replicas": self.replicas, "per_replica_batch_size": self.per_replica_batch,
                "global_batch_size": self.global_batch, "num_workers": self.num_workers,
                "trained_in": self.world, "devices": list(self.devices)}


def plan(strategy="default", batch_size: int = 64, **strategy_kw) -> Plan:
    """Resolve ``strategy`` (a name from :data:`STRATEGIES` or a ``tf.distribute.Strategy``)."""
    if isinstance(strategy, str):
        check_strategy_name(strategy)
        if strategy == "default":
            return Plan("default", per_replica_batch=batch_size)
        strategy_obj = make_strategy(strategy, **strategy_kw)
    else:
        import tensorflow as tf

        if not isinstance(strategy, tf.distribute.Strategy):
            raise DistributeError(f"strategy must be one of {STRATEGIES} or a tf.distribute.Strategy. "
                                  f"Received: {type(strategy).__name__}")
        strategy_obj = strategy
    return plan_for(strategy_obj, batch_size)


def plan_for(strategy, batch_size: int) -> Plan:
    import tensorflow as tf

    # Keras 3 fit fails under MultiWorkerMirroredStrategy even for a one-worker cluster (#20585).
    multi = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    ext = strategy.extended
    if multi:
        if ext._in_multi_worker_mode():  # noqa: SLF001 - no public accessor for the cluster position
            num_workers, index = ext._num_workers, ext._id_in_cluster
        else:
            num_workers, index = 1, 0
        chief = bool(ext.should_checkpoint)
        name = "multiworker"
    else:
        num_workers, index, chief = 1, 0, True
        name = "mirrored" if isinstance(strategy, tf.distribute.MirroredStrategy) else type(strategy).__name__
    devices = list(getattr(ext, "worker_devices", ()))
    return Plan(name, strategy, int(strategy.num_replicas_in_sync), batch_size, num_workers, index, chief,
                "tf_keras" if multi else "keras", devices)


# --------------------------------------------------------------------------- input

def sharded_dataset(plan_: Plan, x, y=None, *, seed: int = 0):
    """The training input: a distributed ``tf.data`` pipeline and its steps per epoch.

    Built per worker by ``distribute_datasets_from_function``: each worker keeps
    ``shard(num_workers, worker_index)`` of the samples (first cut to a multiple of the workers,
    so every worker runs the same number of steps), shuffles its shard with ``seed`` (a new order
    every pass), repeats it and cuts it into full per-replica batches (equal shapes on every
    replica; a batch may span two passes). An epoch is ``ceil(shard / (batch x local replicas))``
    steps. Returns ``(distributed_dataset, steps_per_epoch)``.
    """
    import tensorflow as tf

    n_workers = plan_.num_workers
    n = len(x) - len(x) % n_workers
    if n < n_workers:
        raise DistributeError(f"{len(x)} training samples cannot be split over {n_workers} workers.")
    per_worker = n // n_workers
    local_replicas = max(1, plan_.replicas // n_workers)
    steps = max(1, math.ceil(per_worker / (plan_.per_replica_batch * local_replicas)))
    data = (x[:n],) if y is None else (x[:n], y[:n])

    def fn(ctx: tf.distribute.InputContext):
        ds = tf.data.Dataset.from_tensor_slices(data)
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        ds = ds.shuffle(per_worker, seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.batch(ctx.get_per_replica_batch_size(plan_.global_batch), drop_remainder=True)
        return ds.prefetch(tf.data.AUTOTUNE).with_options(_options(tf, shard=False))

    return plan_.strategy.distribute_datasets_from_function(fn), steps


def validation_dataset(plan_: Plan, x, y=None):
    """Validation input: every sample once, in global batches the strategy splits over replicas
    (and, across workers, shards by data). The first batch splits evenly (Keras 3 builds the
    model from it), so a split smaller than the global batch gets a batch of a multiple of the
    replicas."""
    import tensorflow as tf

    n, r = len(x), plan_.replicas
    if n < r:
        raise DistributeError(f"The validation split has {n} sample(s), fewer than the {r} replicas: use more data "
                              "(a larger --limit) or fewer replicas.")
    batch = plan_.global_batch if n >= plan_.global_batch else n - n % r
    data = (x,) if y is None else (x, y)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch)
    return ds.with_options(_options(tf, shard=True))


def _options(tf, *, shard: bool):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA if shard else tf.data.experimental.AutoShardPolicy.OFF
    )
    options.deterministic = True
    return options


@contextlib.contextmanager
def peer_errors(plan_: Plan):
    """Turn TensorFlow's "a peer died" errors during a multi-worker ``fit`` into one clear error."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError) as exc:
        if not plan_.multiworker:
            raise
        detail = " ".join(str(exc.message).split())
        raise ClusterUnreachableError(
            f"Worker {plan_.worker_index} of {plan_.num_workers}: a peer stopped during training "
            f"({type(exc).__name__}: {detail[:300]}). Restart every worker with the same TF_CONFIG and --out "
            "to resume from the last epoch backup."
        ) from None


# --------------------------------------------------------------------------- multiworker results

def to_keras3(net, model: str, overrides: dict, *, card=None, learning_rate: float = 1e-3):
    """A plain (not distributed) Keras 3 copy of a model trained under a strategy.

    Weights move by layer name (:func:`zoo.transfer_weights`), from the tf-keras twin of a
    multi-worker run or from the mirrored variables of a Keras 3 one. With ``card`` the copy is
    compiled as :func:`training.train.compile_for` does; a Keras 3 source's optimizer state
    comes along, a tf-keras one's does not (a later fine-tuning starts with fresh Adam moments).
    """
    import numpy as np

    import zoo

    twin = zoo.create_model(model, world=zoo.KERAS3, **overrides)
    zoo.transfer_weights(net, twin)
    if card is not None:
        from training.train import compile_for

        compile_for(twin, card, learning_rate=learning_rate)
        if getattr(twin, "optimizer", None) is not None:
            twin.optimizer.build(twin.trainable_variables)
            src = list(getattr(getattr(net, "optimizer", None), "variables", []) or [])
            dst = list(twin.optimizer.variables)
            if zoo.world_of(net) == zoo.KERAS3 and len(src) == len(dst) and all(
                    tuple(a.shape) == tuple(b.shape) for a, b in zip(src, dst)):
                for a, b in zip(src, dst):
                    b.assign(np.asarray(a))
    return twin


def has_backup(backup) -> bool:
    """Whether a run's ``backup/`` folder holds a checkpoint to resume from (not just an empty folder)."""
    from pathlib import Path

    backup = Path(backup)
    return backup.is_dir() and any(p.is_file() for p in backup.rglob("*"))


def tidy_backup(plan_: Plan, backup, scratch=None):
    """After ``fit``: drop the non-chief's scratch folder and the empty ``backup/`` folders tf-keras
    leaves behind (an empty one would otherwise look resumable)."""
    import shutil
    from pathlib import Path

    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    backup = Path(backup)
    if backup.is_dir() and not has_backup(backup):
        shutil.rmtree(backup, ignore_errors=True)
    if not plan_.is_chief:  # a non-chief on its own disk: remove the run folder tf-keras made for it
        try:
            backup.parent.rmdir()
        except OSError:
            pass


def scratch_dir(plan_: Plan):
    """A private directory for a non-chief worker's transient files (never the run directory)."""
    import tempfile

    return tempfile.mkdtemp(prefix=f"edgezoo-worker{plan_.worker_index}-")


def checkpoint_to_keras3(path, model: str, overrides: dict):
    """Rewrite the chief's tf-keras best-model checkpoint as a Keras 3 ``.keras`` file."""
    import zoo
    from zoo.io import atomic_save, load_model

    atomic_save(to_keras3(load_model(path, world=zoo.TF_KERAS, compile=False), model, overrides), path)
