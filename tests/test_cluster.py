"""training/cluster.py: TF_CONFIG parsed into a ClusterConfig, and every mistake one TFConfigError
that names it -- without TensorFlow (the parser runs before it is imported)."""

from __future__ import annotations

import json

import pytest

from training.cluster import ClusterConfig, DistributeError, TFConfigError, parse_tf_config


def tf_config(cluster, task_type="worker", index=0, **extra) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}, **extra})


def test_chief_and_workers_are_ordered_chief_first():
    cfg = parse_tf_config(
        tf_config(
            {"worker": ["w0:2222", "w1:2222"], "chief": ["c:2222"]}, "worker", 1, rpc_layer="grpc"
        )
    )
    assert isinstance(cfg, ClusterConfig) and list(cfg.cluster) == ["chief", "worker"]
    assert cfg.tasks == [("chief", 0, "c:2222"), ("worker", 0, "w0:2222"), ("worker", 1, "w1:2222")]
    assert cfg.num_workers == 3 and cfg.worker_index == 2 and cfg.address == "w1:2222"
    assert cfg.is_chief is False and cfg.peers == ["c:2222", "w0:2222"]


def test_without_a_chief_job_worker_0_is_the_chief():
    first = parse_tf_config(tf_config({"worker": ["a:1", "b:2"]}, "worker", 0))
    second = parse_tf_config(tf_config({"worker": ["a:1", "b:2"]}, "worker", 1))
    assert first.is_chief and not second.is_chief
    assert (first.worker_index, second.worker_index) == (0, 1)
    assert first.peers == ["b:2"] and second.peers == ["a:1"]


def test_ipv6_addresses_in_brackets_are_accepted():
    cfg = parse_tf_config(tf_config({"worker": ["[::1]:2222", "[::1]:2223"]}))
    assert cfg.address == "[::1]:2222"


def test_the_environment_variable_is_read_by_default(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config({"chief": ["c:1"]}, "chief", 0))
    assert parse_tf_config().is_chief
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(TFConfigError, match="needs the TF_CONFIG environment variable"):
        parse_tf_config()


@pytest.mark.parametrize(
    "raw, needle",
    [
        ("   ", "needs the TF_CONFIG environment variable"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (
            json.dumps({"cluster": {"worker": ["a:1"]}, "task": {}, "colour": 1}),
            "unknown keys ['colour']",
        ),
        (json.dumps({"cluster": {}, "task": {"type": "worker", "index": 0}}), "non-empty object"),
        (tf_config({"worker": ["a:1"], "ps": ["p:1"]}), "has jobs ['ps']"),
        (tf_config({"worker": []}), "must be a non-empty list"),
        (tf_config({"chief": ["a:1", "b:1"]}, "chief"), "exactly one address"),
        (tf_config({"worker": ["nohost"]}), "must be a 'host:port' string. Received: 'nohost'"),
        (tf_config({"worker": ["a:0"]}), "port in 1..65535. Received: 'a:0'"),
        (tf_config({"worker": ["a:70000"]}), "port in 1..65535"),
        (tf_config({"worker": [":80"]}), "port in 1..65535"),
        (tf_config({"worker": ["a:1", "a:1"]}), "is also TF_CONFIG['cluster']['worker'][0]"),
        (json.dumps({"cluster": {"worker": ["a:1"]}, "task": "worker"}), "must be an object like"),
        (tf_config({"worker": ["a:1"]}, "chief"), "is not a job of the cluster (['worker'])"),
        (tf_config({"worker": ["a:1"]}, "worker", True), "must be an integer. Received: True"),
        (tf_config({"worker": ["a:1"]}, "worker", "0"), "must be an integer. Received: '0'"),
        (tf_config({"worker": ["a:1", "b:1"]}, "worker", 2), "index'] = 2 is out of range"),
        (tf_config({"worker": ["a:1"]}, "worker", -1), "(indices 0..0)"),
    ],
)
def test_each_tf_config_mistake_is_one_error_naming_it(raw, needle):
    with pytest.raises(TFConfigError) as info:
        parse_tf_config(raw)
    assert needle in str(info.value)
    # the user's to fix: one line under the CLI, and a ValueError for API callers
    assert isinstance(info.value, DistributeError) and isinstance(info.value, ValueError)
