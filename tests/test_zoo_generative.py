"""Architecture-specific checks for the VAE, DCGAN, GNN, transformer, RealNVP and LSTM models
(the generic build/save/load/training checks are in test_zoo.py)."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.core.io import atomic_save, load_model

WORLDS = ["keras", "tf_keras"]


def _x(rng, shape, batch=8):
    return rng.standard_normal((batch, *shape)).astype("float32")


# --------------------------------------------------------------------------- VAE


@pytest.mark.parametrize("world", WORLDS)
def test_vae_kl_in_losses_and_sampling_stochastic_only_in_training(world, rng):
    from zoo.models.vae import decoder_of, encoder_of, generate

    model = zoo.create_model("vae", world=world, widths=(16,), latent_dim=3, beta=1.0)
    x = rng.random((8, 8, 8, 1)).astype("float32")
    model(x, training=True)
    assert len(model.losses) == 1
    kl = float(np.asarray(model.losses[0]))
    # The KL term equals beta / n_inputs * mean_batch KL(q(z|x) || N(0, 1)).
    z_mean, z_log_var = (np.asarray(t) for t in encoder_of(model)(x))
    expect = np.mean(-0.5 * np.sum(1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=-1)) / 64
    np.testing.assert_allclose(kl, expect, rtol=1e-5, atol=1e-7)

    sampling = model.get_layer("sampling")
    a = np.asarray(sampling([z_mean, z_log_var], training=True))
    b = np.asarray(sampling([z_mean, z_log_var], training=True))
    assert not np.allclose(a, b), "sampling must be stochastic in training mode"
    np.testing.assert_array_equal(np.asarray(sampling([z_mean, z_log_var], training=False)), z_mean)
    np.testing.assert_array_equal(
        np.asarray(model(x, training=False)), np.asarray(model(x, training=False))
    )

    dec = decoder_of(model)
    assert tuple(dec.inputs[0].shape[1:]) == (3,)
    out = generate(model, 5, seed=0)
    assert out.shape == (5, 8, 8, 1) and np.all((out >= 0) & (out <= 1))


def test_vae_beta_scales_the_kl_term(rng):
    x = rng.random((4, 8, 8, 1)).astype("float32")
    losses = []
    for beta in (1.0, 4.0):
        zoo.get_keras("keras").utils.set_random_seed(0)
        m = zoo.create_model("vae", widths=(8,), latent_dim=2, beta=beta)
        m(x, training=False)
        losses.append(float(np.asarray(m.losses[0])))
    np.testing.assert_allclose(losses[1], 4 * losses[0], rtol=1e-5)


# --------------------------------------------------------------------------- GAN

_GAN_SMALL = dict(base=8, gen_filters=(8, 4), disc_filters=(4, 8))


@pytest.mark.parametrize("world", WORLDS)
def test_dcgan_generator_output_and_both_networks_update(world, rng):
    model = zoo.create_model("dcgan", world=world, **_GAN_SMALL)
    z = _x(rng, (64,), batch=5)
    images = np.asarray(model(z, training=False))
    assert images.shape == (5, 8, 8, 1)
    assert np.all(np.abs(images) <= 1.0)  # tanh
    np.testing.assert_array_equal(images, np.asarray(model.generator(z, training=False)))
    assert tuple(model.inputs[0].shape[1:]) == (64,)
    assert model.get_layer("discriminator") is model.discriminator

    k = zoo.get_keras(world)
    model.compile(optimizer=k.optimizers.Adam(1e-3))  # one optimizer: cloned for the generator
    assert model.g_optimizer is not model.optimizer
    g0 = [np.array(v) for v in model.generator.trainable_weights]
    d0 = [np.array(v) for v in model.discriminator.trainable_weights]
    real = rng.random((8, 8, 8, 1)).astype(
        "float32"
    )  # images in [0, 1], as training.datasets gives
    logs = model.train_on_batch(real, None, return_dict=True)
    assert {"d_loss", "g_loss", "loss"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    assert any(
        not np.array_equal(a, np.array(b)) for a, b in zip(g0, model.generator.trainable_weights)
    )
    assert any(
        not np.array_equal(a, np.array(b))
        for a, b in zip(d0, model.discriminator.trainable_weights)
    )
    # Flattened real images (the training stage adapts data to the latent-sized input) work too.
    assert np.isfinite(model.train_on_batch(real.reshape(8, 64), None, return_dict=True)["d_loss"])
    with pytest.raises(
        Exception, match="cannot be images"
    ):  # ValueError, or TF's when traced loosely
        model.train_on_batch(real.reshape(8, 64)[:, :10], None)
    fresh = zoo.create_model("dcgan", world=world, **_GAN_SMALL)
    fresh.compile(optimizer="adam")
    with pytest.raises(ValueError, match="cannot be images"):
        fresh.train_on_batch(real.reshape(8, 64)[:, :10], None)


@pytest.mark.parametrize("world", WORLDS)
def test_dcgan_trained_save_load_keeps_both_parts(world, rng, tmp_path):
    model = zoo.create_model("dcgan", world=world, **_GAN_SMALL)
    model.compile(optimizer=zoo.get_keras(world).optimizers.Adam(1e-3))
    model.train_on_batch(rng.random((8, 8, 8, 1)).astype("float32"), None)
    again = load_model(atomic_save(model, tmp_path / "gan.keras"), world=world)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    z = _x(rng, (64,), batch=3)
    np.testing.assert_array_equal(np.asarray(model(z)), np.asarray(again(z)))
    logs = again.train_on_batch(rng.random((8, 64)).astype("float32"), None, return_dict=True)
    assert np.isfinite(logs["g_loss"])


# --------------------------------------------------------------------------- GNN


@pytest.mark.parametrize("world", WORLDS)
def test_gnn_is_permutation_invariant(world, rng):
    model = zoo.create_model("gnn", world=world, input_shape=(10, 3), widths=(8, 8), head=8)
    x = _x(rng, (10, 3), batch=4)
    ref = np.asarray(model(x, training=False))
    assert ref.shape == (4, 10)
    np.testing.assert_allclose(ref.sum(-1), 1.0, rtol=1e-5)
    for _ in range(3):
        perm = rng.permutation(10)
        np.testing.assert_allclose(
            np.asarray(model(x[:, perm], training=False)), ref, rtol=1e-5, atol=1e-6
        )
    # ...but not blind to the features: changing one particle changes the output.
    y = x.copy()
    y[:, 0] += 1.0
    assert not np.allclose(np.asarray(model(y, training=False)), ref)


def test_gnn_edgeconv_is_permutation_equivariant(rng):
    model = zoo.create_model("gnn", input_shape=(6, 3), widths=(4,), head=4)
    layer = model.get_layer("edgeconv1")
    x = _x(rng, (6, 3), batch=2)
    perm = rng.permutation(6)
    np.testing.assert_allclose(
        np.asarray(layer(x[:, perm])), np.asarray(layer(x))[:, perm], rtol=1e-5, atol=1e-6
    )


# --------------------------------------------------------------------------- transformer


@pytest.mark.parametrize("world", WORLDS)
def test_transformer_heads_and_parameter_count(world):
    dim, depth, heads, mlp_dim, patch, classes = 16, 3, 4, 24, 4, 10
    model = zoo.create_model(
        "transformer",
        world=world,
        dim=dim,
        depth=depth,
        heads=heads,
        mlp_dim=mlp_dim,
        patch_size=patch,
    )
    mhas = [layer for layer in model.layers if layer.__class__.__name__ == "MultiHeadAttention"]
    assert len(mhas) == depth
    for mha in mhas:
        cfg = mha.get_config()
        assert cfg["num_heads"] == heads and cfg["key_dim"] == dim // heads
    n_patches = (8 // patch) ** 2
    per_block = (
        2 * (2 * dim) + 4 * (dim * dim + dim) + (dim * mlp_dim + mlp_dim) + (mlp_dim * dim + dim)
    )
    expect = (
        patch * patch * 1 * dim
        + dim  # patch embedding
        + n_patches * dim  # position embedding
        + depth * per_block
        + 2 * dim  # final LayerNorm
        + dim * classes
        + classes  # head
    )
    assert model.count_params() == expect
    assert (
        zoo.create_model("transformer", world=world).count_params()
        == zoo.get_card("transformer").params
    )


def test_transformer_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible by heads"):
        zoo.create_model("transformer", dim=10, heads=4)
    with pytest.raises(ValueError, match="patch_size"):
        zoo.create_model("transformer", patch_size=3)


# --------------------------------------------------------------------------- RealNVP


@pytest.mark.parametrize("world", WORLDS)
def test_realnvp_likelihood_inverse_and_sampling(world, rng):
    from zoo.models.flow import forward, inverse, log_prob, sample

    model = zoo.create_model("realnvp", world=world, couplings=4, hidden=(16,))
    x = _x(rng, (2,), batch=32)
    model.compile(optimizer=zoo.get_keras(world).optimizers.Adam(1e-2))
    for _ in range(3):  # move away from the initialization
        model.train_on_batch(x, None)
    lp = log_prob(model, x)
    assert lp.shape == (32,) and np.all(np.isfinite(lp))
    z = np.asarray(model(x, training=False))
    np.testing.assert_allclose(np.asarray(forward(model, x)[0]), z, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(inverse(model, z), x, atol=1e-4)
    # The internal loss is the mean negative log-likelihood.
    model(x)
    np.testing.assert_allclose(float(np.asarray(model.losses[0])), -lp.mean(), rtol=1e-4)
    s = sample(model, 7, seed=0)
    assert s.shape == (7, 2) and np.all(np.isfinite(s))


def test_realnvp_log_det_matches_numerical_jacobian(rng):
    from zoo.models.flow import forward

    model = zoo.create_model("realnvp", couplings=3, hidden=(8,))
    x = _x(rng, (2,), batch=3).astype("float64")
    _, log_det = forward(model, x)
    eps = 1e-3
    for i in range(3):
        jac = np.zeros((2, 2))
        for j in range(2):
            d = np.zeros(2)
            d[j] = eps
            hi = np.asarray(forward(model, (x[i] + d)[None])[0], dtype="float64")[0]
            lo = np.asarray(forward(model, (x[i] - d)[None])[0], dtype="float64")[0]
            jac[:, j] = (hi - lo) / (2 * eps)
        np.testing.assert_allclose(
            np.log(abs(np.linalg.det(jac))), float(np.asarray(log_det)[i]), atol=1e-2
        )


# --------------------------------------------------------------------------- LSTM


@pytest.mark.parametrize("world", WORLDS)
def test_lstm_output_shape(world, rng):
    model = zoo.create_model("lstm", world=world)
    out = np.asarray(model(_x(rng, (8, 8), batch=5), training=False))
    assert out.shape == (5, 10)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    stacked = zoo.create_model("lstm", world=world, input_shape=(12, 3), units=(6, 4), classes=3)
    assert [layer.name for layer in stacked.layers if type(layer).__name__ == "LSTM"] == [
        "lstm1",
        "lstm2",
    ]
    assert np.asarray(stacked(_x(rng, (12, 3), batch=2))).shape == (2, 3)
