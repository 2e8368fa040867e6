"""Training: the run directory, callbacks, resume, NaN handling, custom-step models."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoo
from training import TrainingError, load_run, run_dataset, train
from training.tasks import compile_for, evaluate


def test_run_directory_has_every_artifact_and_reloads_with_its_data(mlp_digits_run):
    """The shared dense run (tests/conftest.py) as train() wrote it."""
    names = {p.name for p in mlp_digits_run.iterdir()}
    assert {"model.keras", "history.csv", "history.png", "metrics.json", "config.json"} <= names
    metrics = json.loads((mlp_digits_run / "metrics.json").read_text())
    history = (mlp_digits_run / "history.csv").read_text().strip().splitlines()
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["epochs_run"] == len(history) - 1
    cfg = json.loads((mlp_digits_run / "config.json").read_text())
    assert cfg["model"] == "mlp" and cfg["dataset"] == "digits" and cfg["world"] == "keras"
    assert (mlp_digits_run / "history.png").read_bytes()[:4] == b"\x89PNG"
    # the run reloads with the exact data it was trained on
    model, cfg = load_run(mlp_digits_run)
    ds = run_dataset(cfg)
    acc = float((model.predict(ds.x_test, verbose=0).argmax(-1) == ds.y_test).mean())
    assert acc == pytest.approx(metrics["accuracy"])


def test_mlp_learns_digits_in_15_epochs(mlp_digits_run):
    """The shared dense run (tests/conftest.py: mlp, digits, 15 epochs)."""
    metrics = json.loads((mlp_digits_run / "metrics.json").read_text())
    assert metrics["epochs_run"] <= 15 and metrics["accuracy"] > 0.9


def test_resume_continues_from_backup(tmp_path):
    """An interrupted run (backup left behind) resumes at the saved epoch with BackupAndRestore."""
    import keras

    out = tmp_path / "run"

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    from training import train as train_mod

    original = keras.callbacks.TerminateOnNaN
    keras.callbacks.TerminateOnNaN = lambda: Stop()  # interrupt the first run after epoch 2
    try:
        with pytest.raises(KeyboardInterrupt):
            train_mod("mlp", "digits", epochs=4, out=out, verbose=0, limit=300)
    finally:
        keras.callbacks.TerminateOnNaN = original
    assert (out / "backup").exists()
    run = train_mod("mlp", "digits", epochs=4, out=out, verbose=0, limit=300)
    assert run.metrics["resumed"] is True
    assert len(run.history["loss"]) == 4  # 2 epochs before the interruption + 2 after
    assert not (out / "backup").exists()


def test_nan_loss_is_a_clear_error(tmp_path):
    with pytest.raises(TrainingError, match="NaN/inf loss.*Lower the learning rate"):
        train(
            "mlp",
            "digits",
            epochs=3,
            learning_rate=1e12,
            out=tmp_path / "run",
            verbose=0,
            limit=200,
        )


def test_bad_settings_fail_before_work(tmp_path):
    with pytest.raises(TrainingError, match="epochs=0"):
        train("mlp", "digits", epochs=0, out=tmp_path / "run")
    with pytest.raises(zoo.UnknownModelError):
        train("nope", "digits", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_load_run_of_a_non_run_directory_is_one_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an edgezoo model directory"):
        load_run(tmp_path)


def test_lenet5_trains_on_digits_upsampled_to_32x32(lenet5_digits_run):
    """The shared CNN run (tests/conftest.py: lenet5, digits, 2 epochs on 300 samples)."""
    model, cfg = load_run(lenet5_digits_run)
    assert model.inputs[0].shape[1:] == (32, 32, 1)
    assert cfg.data["input_shape"] == [32, 32, 1]
    assert run_dataset(cfg).x_test.shape[1:] == (32, 32, 1)


def test_binary_perceptron_uses_binary_loss(tmp_path):
    run = train("perceptron", epochs=30, out=tmp_path / "run", verbose=0, learning_rate=0.05)
    assert run.metrics["accuracy"] > 0.9  # setosa is linearly separable


def test_evaluate_reconstruction_metric():
    from training.datasets.registry import load_dataset

    card = zoo.ModelCard(
        name="x",
        family="autoencoder",
        task="reconstruction",
        input_shape=(4,),
        output="x",
        dataset="iris",
        lecture="-",
        params=0,
    )
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(4)(inp))
    compile_for(model, card)
    m = evaluate(model, card, load_dataset("iris"))
    assert m["mse"] > 0 and np.isclose(m["mse"], m["test_loss"], rtol=1e-4)


def test_dense_model_takes_the_data_sets_feature_count(tmp_path):
    """jet_tagger's 16 inputs become the 64 digit pixels when trained on digits (jets absent)."""
    from training import train

    run = train("jet_tagger", "digits", epochs=1, limit=200, out=tmp_path / "jt")
    assert tuple(run.model.input_shape[1:]) == (64,)
    assert run.model.output_shape[-1] == 10


def test_input_noise_reaches_the_inputs_only(tmp_path):
    """input_noise adds N(0, sigma^2) to each training batch's inputs: new noise every batch,
    targets (an autoencoder's clean input) untouched, the saved model unchanged."""
    from training.datasets.adapt import check_input_noise, noisy_batches
    from training.datasets.registry import DatasetError

    rng = np.random.default_rng(0)
    x = rng.random((64, 8), dtype=np.float32)
    (xa, ya), (xb, yb) = list(noisy_batches(x, x, 32, 0.1, seed=0))
    for xn, y in ((xa, ya), (xb, yb)):
        d = xn.numpy() - y.numpy()  # y is the clean x of the same rows
        assert abs(d.mean()) < 0.03 and 0.07 < d.std() < 0.13
        assert any(np.allclose(y.numpy()[0], row) for row in x)
    assert sorted(np.concatenate([ya.numpy(), yb.numpy()]).sum(1)) == pytest.approx(
        sorted(x.sum(1))
    )  # every row once per epoch
    (x0,) = next(iter(noisy_batches(x, None, 64, 0.0)))
    assert np.allclose(np.sort(x0.numpy().sum(1)), np.sort(x.sum(1)))  # sigma 0: clean

    run = train(
        "mlp", "digits", epochs=2, out=tmp_path / "run", verbose=0, limit=300, input_noise=0.05
    )
    cfg = json.loads((run.dir / "config.json").read_text())
    assert cfg["input_noise"] == 0.05
    assert [layer.__class__.__name__ for layer in run.model.layers] == [
        layer.__class__.__name__
        for layer in zoo.create_model("mlp", classes=10, input_shape=(64,)).layers
    ]
    with pytest.raises(TrainingError, match="input_noise"):
        train("mlp", "digits", epochs=1, out=tmp_path / "bad", input_noise=-1)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(DatasetError, match="input_noise=0.1 needs one floating-point input"):
        check_input_noise(np.zeros((4, 3), np.int32), 0.1, "tokens")
    check_input_noise(np.zeros((4, 3), np.int32), 0.0, "tokens")  # no noise: any input

    # the tf.distribute pipeline adds it too (a one-device strategy, in process)
    import tensorflow as tf

    from training import distribute

    shards, steps = distribute.sharded_dataset(
        distribute.plan(tf.distribute.OneDeviceStrategy("/cpu:0"), 16),
        x,
        x,
        seed=0,
        input_noise=0.1,
    )
    xn, y = next(iter(shards))
    assert steps == 4 and 0.07 < float(np.std(xn.numpy() - y.numpy())) < 0.13


def test_unsettled_batchnorm_is_named_in_a_warning(tmp_path):
    """A run too short for BatchNormalization's moving averages (ds_cnn, 5 steps at batch 64)
    warns, names the layer and the remedy, and records it in metrics.json; a layer whose moving
    variance matches its input's is not flagged."""
    import keras

    from training import batchnorm

    with pytest.warns(UserWarning, match=r"moving statistics have not settled.*--batch-size"):
        run = train("ds_cnn", "digits", epochs=1, out=tmp_path / "run", verbose=0, limit=300)
    saved = json.loads((run.dir / "metrics.json").read_text())
    assert saved["batchnorm_unsettled_layers"] >= 1

    x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32") * 0.05
    inp = keras.Input((4,))
    h = keras.layers.Dense(6, name="d")(inp)
    model = keras.Model(inp, keras.layers.BatchNormalization(name="bn")(h))
    measured = model.get_layer("d")(x).numpy().var(0)
    bn = model.get_layer("bn")
    bn.moving_variance.assign(measured)
    assert batchnorm.unsettled(model, x) == []
    bn.moving_variance.assign(measured * 100)
    (found,) = batchnorm.unsettled(model, x)
    assert found["layer"] == "bn" and found["moving_variance"] > 50 * found["measured_variance"]


def test_a_backup_cut_mid_write_resumes_from_the_previous_one(tmp_path):
    """Keras writes training_metadata.json in place: a kill mid-write leaves it empty. The resumed
    run takes the previous backup (double_checkpoint), as for a cut weights file, instead of ending
    in a JSONDecodeError (seen once in tests/test_distribute.py's kill test)."""
    import keras

    from training.callbacks import backup_callback

    def fit(epochs):
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        m.compile("adam", "mse")
        cb = backup_callback(keras, str(tmp_path), double_checkpoint=True, delete_checkpoint=False)
        return m.fit(
            np.ones((8, 4), "f4"), np.zeros((8, 2), "f4"), epochs=epochs, verbose=0, callbacks=[cb]
        )

    fit(2)
    assert json.loads((tmp_path / "training_metadata.json.bkp").read_text())["epoch"] == 1
    (tmp_path / "training_metadata.json").write_text("")  # the kill
    assert len(fit(3).history["loss"]) == 2  # epochs 2 and 3: from the previous backup (epoch 1)
