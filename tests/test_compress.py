"""Compression: tfmot pruning, QKeras QAT twins, distillation, recipes, metrics, errors.

Real tfmot / QKeras / keras.distillation on small data (digits, a few epochs); no mocks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import COMPRESS_DIGITS

import zoo
from compress import (
    CompressionError,
    UnsupportedLayerError,
    compress,
    graph,
    model_stats,
    prune,
    qkeras_twin,
    sparsity_report,
)
from training import Dataset, load_run, save_model_dir
from zoo.core.run_config import RunConfig

TARGET = 0.75
BITS = 6


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def float_run(mlp_digits_run):
    """The shared float mlp trained on digits (tests/conftest.py; the hls4ml-tutorial recipe's
    starting point), as ``train`` returns it: .dir and .metrics."""
    from types import SimpleNamespace

    metrics = json.loads((mlp_digits_run / "metrics.json").read_text())
    return SimpleNamespace(dir=mlp_digits_run, metrics=metrics)


@pytest.fixture(scope="module")
def chain(mlp_digits_compressed):
    """prune 75% -> 6-bit QAT from one call: the shared chain (conftest.COMPRESS_DIGITS)."""
    assert (COMPRESS_DIGITS["prune"], COMPRESS_DIGITS["bits"]) == (TARGET, BITS)
    return mlp_digits_compressed


def _mac_kernels(model) -> dict[str, np.ndarray]:
    return {
        layer.name: layer.kernel.numpy() for layer in graph.layers(model) if graph.is_mac(layer)
    }


# ----------------------------------------------------------------------------- pruning


def test_pruning_reaches_target_and_zeros_survive_save_load(chain):
    step = chain["prune"]
    assert step.dir.name == "2-prune"
    rep = step.report["achieved_sparsity"]
    assert step.report["pruned_layers"] == ["fc1", "fc2"]  # the output layer is skipped by default
    assert abs(rep["pruned_layers"] - TARGET) <= 0.02
    for name in ("fc1", "fc2"):
        assert abs(rep["layers"][name]["sparsity"] - TARGET) <= 0.02
    assert rep["layers"]["output"]["sparsity"] < 0.02 and rep["layers"]["output"]["pruned"] is False
    # reloaded from disk: an ordinary Keras 3 model with the same zeros
    model, cfg = load_run(step.dir)
    assert cfg.world == "keras" and zoo.world_of(model) == "keras"
    assert cfg.compression[-1]["step"] == "prune"
    reloaded = sparsity_report(model, ["fc1", "fc2"])
    assert reloaded["layers"]["fc1"]["nonzero"] == rep["layers"]["fc1"]["nonzero"]
    assert abs(reloaded["pruned_layers"] - TARGET) <= 0.02
    assert step.report["after"]["accuracy"] > 0.85


def _config(name: str) -> RunConfig:
    """The config of a run of zoo model ``name`` built with its card's test overrides."""
    card = zoo.get_card(name)
    return RunConfig(name, "noise", card.to_dict(), overrides=dict(card.test_overrides))


def test_pruning_a_conv_bn_model_with_chosen_layers():
    """ResNet-8 (Conv2D, BatchNormalization, Add): prune only the stage-1 convs, constant schedule."""
    cfg = _config("resnet8")
    model = zoo.create_model("resnet8", **cfg.overrides)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 64)
    ds = Dataset(
        "noise", "image", x, y, x[:16], y[:16], x[:16], y[:16], [str(i) for i in range(10)]
    )
    pruned, rep = prune(
        model,
        cfg,
        ds,
        target=0.5,
        layers=["stack1_*"],
        epochs=2,
        batch_size=16,
        schedule="constant",
    )
    assert rep["pruned_layers"] == ["stack1_block1_1_conv", "stack1_block1_2_conv"]
    kernels = _mac_kernels(pruned)
    for name in rep["pruned_layers"]:
        assert abs(1 - np.count_nonzero(kernels[name]) / kernels[name].size - 0.5) <= 0.02
    assert np.count_nonzero(kernels["conv1_conv"]) == kernels["conv1_conv"].size
    assert zoo.world_of(pruned) == "keras"


# ----------------------------------------------------------------------------- QAT


def test_qat_keeps_pruned_zeros_through_training_and_reload(chain):
    pruned, _ = load_run(chain["prune"].dir)
    qmodel, cfg = load_run(chain["qat"].dir)
    assert cfg.world == "tf_keras" and chain["qat"].dir.name == "3-qat"
    classes = {layer.name: type(layer).__name__ for layer in qmodel.layers}
    assert classes["fc1"] == "QDense" and classes["relu1"] == "QActivation"
    assert classes["softmax"] == "Activation"  # softmax stays float for hls4ml
    before, after = _mac_kernels(pruned), _mac_kernels(qmodel)
    for name in ("fc1", "fc2"):
        zeros = before[name] == 0
        assert zeros.mean() >= TARGET - 0.02
        assert np.all(after[name][zeros] == 0), f"{name}: a pruned weight came back during QAT"
    assert chain["qat"].report["reload_max_abs_diff"] == 0.0
    assert chain["qat"].report["masked_layers"] == ["fc1", "fc2"]


def test_qkeras_weights_lie_on_their_grid(chain):
    qmodel, _ = load_run(chain["qat"].dir)
    checked = 0
    for layer in qmodel.layers:
        for attr, qattr in (
            ("kernel", "kernel_quantizer_internal"),
            ("bias", "bias_quantizer_internal"),
        ):
            q = getattr(layer, qattr, None)
            if q is None:
                continue
            w = getattr(layer, attr).numpy()
            np.testing.assert_array_equal(
                w, np.asarray(q(w)), err_msg=f"{layer.name}.{attr} is off its grid"
            )
            step = 2.0 ** -(
                q.bits - 1 - q.integer
            )  # quantized_bits(bits, integer): signed fixed point
            assert np.all(np.mod(w / step, 1.0) == 0)
            assert q.bits == BITS
            checked += 1
    assert checked == 6  # kernel + bias of fc1, fc2, output


def test_compression_json_reports_every_number(chain, float_run):
    summary = json.loads((chain.out / "compression.json").read_text())
    assert summary["final"] == "3-qat" and [r["stage"] for r in summary["rows"]] == [
        "input",
        "prune",
        "qat",
    ]
    step = json.loads((chain["qat"].dir / "compression.json").read_text())
    for key in (
        "before",
        "after",
        "delta",
        "model",
        "model_before",
        "layers",
        "quantizers",
        "metric",
    ):
        assert key in step
    for key in (
        "params",
        "nonzero_params",
        "bits_per_weight",
        "size_bytes",
        "size_bytes_nonzero",
        "bops",
    ):
        assert key in step["model"]
    assert step["before"]["accuracy"] == pytest.approx(chain["prune"].report["after"]["accuracy"])
    # an all-QDense model: every weight has 6 bits
    assert step["model"]["bits_per_weight"] == BITS
    assert step["model"]["size_bytes"] == -(-6570 * BITS // 8)  # ceil(bits / 8)
    # BOPs = nonzero(kernel) * b_w * b_in per Dense layer; relu1 feeds fc2 at 6 bits
    fc2 = step["layers"]["fc2"]
    assert fc2["input_bits"] == BITS and fc2["bops"] == fc2["kernel_nonzero"] * BITS * BITS
    assert step["layers"]["fc1"]["input_bits"] == 32  # the model input is not quantized
    rows = {r["stage"]: r for r in summary["rows"]}
    assert rows["input"]["bops"] > rows["prune"]["bops"] > rows["qat"]["bops"]
    assert rows["input"]["accuracy"] == pytest.approx(float_run.metrics["accuracy"])
    assert rows["qat"]["accuracy"] > 0.85


def test_model_stats_counts_conv_positions_and_float_bits():
    m = zoo.create_model("mnist_cnn", input_shape=(8, 8, 1), filters=(2, 3), dense=4)
    w = m.get_layer("conv1").get_weights()
    w[0][..., 0] = 0.0  # zero one of two output channels
    m.get_layer("conv1").set_weights(w)
    stats = model_stats(m)
    conv1, conv2 = stats["layers"]["conv1"], stats["layers"]["conv2"]
    assert (
        conv1["positions"] == 64 and conv2["positions"] == 16
    )  # 'same' padding, 2x2 pooling between
    assert conv1["kernel_nonzero"] == 9 and conv1["bops"] == 9 * 64 * 32 * 32
    assert stats["bits_per_weight"] == 32 and stats["size_bytes"] == stats["params"] * 4
    assert stats["params"] == m.count_params()


# ----------------------------------------------------------------------------- twins of the zoo

QUANTIZABLE = [n for n in zoo.list_models() if zoo.get_card(n).quantizable]
NOT_QUANTIZABLE = [n for n in zoo.list_models() if not zoo.get_card(n).quantizable]


@pytest.mark.parametrize("name", QUANTIZABLE)
def test_qkeras_twin_of_every_quantizable_model(name):
    cfg = _config(name)
    model = zoo.create_model(name, **cfg.overrides)
    x = np.random.default_rng(0).random((4, *model.inputs[0].shape[1:])).astype("float32")
    q, plan = qkeras_twin(model, cfg, bits=4, calibration=x)
    assert zoo.world_of(q) == "tf_keras"
    q_layers = [layer for layer in q.layers if type(layer).__name__.startswith("Q")]
    assert q_layers, f"{name}: no layer was quantized"
    macs = [layer for layer in graph.layers(model) if graph.is_mac(layer)]
    assert {layer.name for layer in macs} <= {layer.name for layer in q_layers}
    # initialized from the float weights (before any fine-tuning)
    first = macs[0]
    np.testing.assert_array_equal(q.get_layer(first.name).kernel.numpy(), first.kernel.numpy())
    y = q.predict(x, verbose=0)
    assert y.shape == tuple(model(x).shape) and np.all(np.isfinite(y))


@pytest.mark.parametrize("name", NOT_QUANTIZABLE)
def test_non_quantizable_models_raise_a_clear_error(name):
    cfg = _config(name)
    model = zoo.create_model(name, **cfg.overrides)
    with pytest.raises(CompressionError) as err:
        qkeras_twin(model, cfg, bits=6)
    msg = str(err.value)
    assert msg.startswith("qat:") and zoo.get_card(name).not_quantizable_because in msg
    if isinstance(err.value, UnsupportedLayerError):  # names a real layer of the model
        assert err.value.layer in {layer.name for layer in graph.layers(model)}
        assert repr(err.value.layer) in msg


# ----------------------------------------------------------------------------- distillation


def test_distillation_trains_a_working_student(float_run, tmp_path):
    res = compress(
        float_run.dir,
        student="mlp",
        student_overrides={"widths": [16]},
        distill_epochs=8,
        out=tmp_path / "d",
    )
    step = res["distill"]
    assert step.dir.name == "1-distill" and step.report["mode"] == "logits"
    assert step.report["after"]["accuracy"] > 0.6  # 10 classes: chance is 0.1
    assert step.report["student_scratch"]["accuracy"] > 0.3  # the baseline, same epochs and data
    assert step.report["before"]["accuracy"] == pytest.approx(float_run.metrics["accuracy"])
    student, cfg = load_run(step.dir)
    assert cfg.model == "mlp" and cfg.overrides["widths"] == [16] and cfg.overrides["classes"] == 10
    assert (
        student.count_params() < 6570 and step.report["model"]["params"] == student.count_params()
    )
    # the other form: RUN_DIR is the student, --distill-from the teacher; then prune it in the same call
    res2 = compress(
        step.dir,
        distill_from=float_run.dir,
        prune=0.5,
        epochs=2,
        scratch_baseline=False,
        out=tmp_path / "d2",
    )
    assert [s.name for s in res2.steps] == ["distill", "prune"]
    assert res2["distill"].report["teacher"] == str(float_run.dir)
    assert res2["distill"].report["student_scratch"] is None
    assert abs(res2["prune"].report["achieved_sparsity"]["pruned_layers"] - 0.5) <= 0.02


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"prune": 1.0}, "[0, 1)"),
        ({"prune": -0.1}, "[0, 1)"),
        ({"bits": 1}, ">= 2"),
        ({"bits": 6, "layer_bits": {"fc1": 1}}, "layer_bits['fc1']"),
        ({}, "Nothing to do"),
        ({"prune": 0.5, "prune_layers": ["nope"]}, "'nope'"),
        ({"prune": 0.5, "prune_layers": ["relu1"]}, "prune: layer 'relu1' (Activation)"),
        ({"bits": 6, "layer_bits": {"softmax": 8}}, "get no quantizer"),
        ({"student": "dense_autoencoder"}, "different tasks"),
        ({"student": "mlp", "distill_from": "x"}, "not both"),
    ],
)
def test_bad_requests_fail_before_any_training(float_run, tmp_path, kwargs, needle):
    out = tmp_path / "never"
    with pytest.raises(CompressionError) as err:
        compress(float_run.dir, out=out, **kwargs)
    assert needle in str(err.value)
    assert not out.exists()


def test_a_layer_qat_cannot_handle_is_named_before_training(tmp_path):
    card = zoo.get_card("alexnet")
    model = zoo.create_model("alexnet", **card.test_overrides)
    cfg = {
        "model": "alexnet",
        "dataset": "digits",
        "seed": 0,
        "limit": None,
        "overrides": dict(card.test_overrides),
        "card": card.to_dict(),
    }
    save_model_dir(model, tmp_path / "alex", cfg)
    with pytest.raises(UnsupportedLayerError) as err:
        compress(tmp_path / "alex", bits=6, out=tmp_path / "out")
    assert err.value.step == "qat" and err.value.layer == "norm1" and "norm1" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_cli_compress_and_its_errors(float_run, tmp_path, capsys):
    from edgezoo.cli import main

    assert main(["compress", str(float_run.dir), "--prune", "1.5"]) == 2
    assert "[0, 1)" in capsys.readouterr().err
    assert main(["compress", str(float_run.dir), "--bits", "1"]) == 2
    assert (
        main(
            [
                "compress",
                str(float_run.dir),
                "--prune",
                "0.5",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "achieved sparsity" in out and "2-prune" in out
    assert (tmp_path / "c" / "2-prune" / "model.keras").exists()
