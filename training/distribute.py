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
created -- TensorFlow itself would wait forever (and ignores SIGTERM while it waits). Those
checks live in :mod:`training.cluster`; the model rebuilt as Keras 3 after a distributed ``fit``
in :mod:`training.rebuild`.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field

from training.cluster import (
    DEFAULT_CONNECT_TIMEOUT,
    ClusterUnreachableError,
    DistributeError,
    _env_float,
    _watchdog,
    parse_tf_config,
    wait_for_peers,
)
from training.options import STRATEGIES

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
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * n
        )
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


def make_strategy(
    name: str = "default",
    *,
    devices=None,
    connect_timeout: float | None = None,
    collective_timeout: float | None = None,
):
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
    with _watchdog(
        max(30.0, connect_timeout),
        f"worker(s) {', '.join(config.peers)} answered but did not join "
        f"the TensorFlow cluster; a worker probably exited. Restart all workers.",
    ):
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
        raise DistributeError(
            f"Unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}."
        )
    return name


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
        return {
            "strategy": self.name,
            "replicas": self.replicas,
            "per_replica_batch_size": self.per_replica_batch,
            "global_batch_size": self.global_batch,
            "num_workers": self.num_workers,
            "trained_in": self.world,
            "devices": list(self.devices),
        }


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
            raise DistributeError(
                f"strategy must be one of {STRATEGIES} or a tf.distribute.Strategy. "
                f"Received: {type(strategy).__name__}"
            )
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
        name = (
            "mirrored"
            if isinstance(strategy, tf.distribute.MirroredStrategy)
            else type(strategy).__name__
        )
    devices = list(getattr(ext, "worker_devices", ()))
    return Plan(
        name,
        strategy,
        int(strategy.num_replicas_in_sync),
        batch_size,
        num_workers,
        index,
        chief,
        "tf_keras" if multi else "keras",
        devices,
    )


# --------------------------------------------------------------------------- input


def sharded_dataset(plan_: Plan, x, y=None, *, seed: int = 0, input_noise: float = 0.0):
    """The training input: a distributed ``tf.data`` pipeline and its steps per epoch.

    Built per worker by ``distribute_datasets_from_function``: each worker keeps
    ``shard(num_workers, worker_index)`` of the samples (first cut to a multiple of the workers,
    so every worker runs the same number of steps), shuffles its shard with ``seed`` (a new order
    every pass), repeats it and cuts it into full per-replica batches (equal shapes on every
    replica; a batch may span two passes). An epoch is ``ceil(shard / (batch x local replicas))``
    steps. ``input_noise``: :func:`training.datasets.adapt.with_input_noise` on every batch. Returns
    ``(distributed_dataset, steps_per_epoch)``.
    """
    import tensorflow as tf

    from training.datasets.adapt import with_input_noise

    n_workers = plan_.num_workers
    n = len(x) - len(x) % n_workers
    if n < n_workers:
        raise DistributeError(
            f"{len(x)} training samples cannot be split over {n_workers} workers."
        )
    per_worker = n // n_workers
    local_replicas = max(1, plan_.replicas // n_workers)
    steps = max(1, math.ceil(per_worker / (plan_.per_replica_batch * local_replicas)))
    data = (x[:n],) if y is None else (x[:n], y[:n])

    def fn(ctx: tf.distribute.InputContext):
        ds = tf.data.Dataset.from_tensor_slices(data)
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        ds = ds.shuffle(per_worker, seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.batch(ctx.get_per_replica_batch_size(plan_.global_batch), drop_remainder=True)
        ds = with_input_noise(ds, input_noise, seed)
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
        raise DistributeError(
            f"The validation split has {n} sample(s), fewer than the {r} replicas: use more data "
            "(a larger --limit) or fewer replicas."
        )
    batch = plan_.global_batch if n >= plan_.global_batch else n - n % r
    data = (x,) if y is None else (x, y)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch)
    return ds.with_options(_options(tf, shard=True))


def _options(tf, *, shard: bool):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
        if shard
        else tf.data.experimental.AutoShardPolicy.OFF
    )
    options.deterministic = True
    return options


@contextlib.contextmanager
def peer_errors(plan_: Plan):
    """Turn TensorFlow's "a peer died" errors during a multi-worker ``fit`` into one clear error."""
    import tensorflow as tf

    try:
        yield
    except (
        tf.errors.UnavailableError,
        tf.errors.DeadlineExceededError,
        tf.errors.AbortedError,
    ) as exc:
        if not plan_.multiworker:
            raise
        detail = " ".join(str(exc.message).split())
        raise ClusterUnreachableError(
            f"Worker {plan_.worker_index} of {plan_.num_workers}: a peer stopped during training "
            f"({type(exc).__name__}: {detail[:300]}). Restart every worker with the same TF_CONFIG and --out "
            "to resume from the last epoch backup."
        ) from None


# --------------------------------------------------------------------------- backups


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
    if (
        not plan_.is_chief
    ):  # a non-chief on its own disk: remove the run folder tf-keras made for it
        try:
            backup.parent.rmdir()
        except OSError:
            pass


def scratch_dir(plan_: Plan):
    """A private directory for a non-chief worker's transient files (never the run directory)."""
    import tempfile

    return tempfile.mkdtemp(prefix=f"edgezoo-worker{plan_.worker_index}-")
