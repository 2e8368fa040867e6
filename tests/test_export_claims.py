"""Every export target a model card claims is exported and verified (parametrized over the registry).

A new ``@register_model`` with ``targets=(...)`` is picked up automatically. A claim that fails is a
failing test, never a skip: ``export_run`` raises ``ExportFailed`` naming the artifact and the
threshold (or the unsupported layer).

What each claim is checked on (small, but trained, so that argmax parity means something):

* the card's ``test_overrides`` configuration;
* data sets that are offline (digits, iris, points, moons): the card's own, trained for a few
  epochs with ``training.train`` (a real model directory);
* image data sets that are not offline (MNIST, CIFAR-10): scikit-learn digits adapted to the card's
  input shape (resized, channels tiled) as the stand-in, trained the same way;
* jets (16 tabular features, nothing offline has that shape): random-init weights and
  standard-normal inputs, exported from memory with :func:`export.export_model`.
"""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from export import ExportData, export_model, export_run, targets

# epochs and learning rate per family: enough for confident (not near-uniform) classifiers
TRAINING = {
    "perceptron": (60, 3e-2),
    "dense": (20, 3e-3),
    "rnn": (20, 3e-3),
    "transformer": (20, 3e-3),
    "gnn": (20, 1e-2),
    # reconstruction and density models: no argmax to make confident; parity is on values
    "autoencoder": (8, 3e-3),
    "vae": (8, 3e-3),
    "flow": (8, 3e-3),
    "gan": (3, 1e-3),
}
DEFAULT_TRAINING = (5, 1e-3)  # CNNs (plain VGG-style stacks do not learn at 3e-3), ResNets, U-Net
IMAGE_STAND_IN = "digits"
TRAIN_LIMIT = 2000  # enough for every offline set's full size but mnist5k's 5,000 digits
SLOW_HLS = {"cnn", "resnet", "unet"}  # hls4ml io_stream C simulation builds take 20-40 s each
# TFLM's reference kernels run the whole test split of a conv model slowly; tests/test_tflm.py
# covers a CNN (lenet5) end to end in `make test`, `make test-all` runs every claim
SLOW_TFLM = {"cnn", "resnet", "unet"}
# Models whose every layer type and export path another model's claims cover in `make test`: their
# claims run in `make test-all` (CPU per model's claims in `make test`, 2026-12-05: 11-22 s).
COVERED_BY = {
    "resnet20": "resnet8 (Conv2D, BatchNormalization, ReLU, Add, pooling: the same layers)",
    "vgg16": "alexnet, lenet5, mnist_cnn (Conv2D, MaxPooling2D, Dense, Dropout)",
    "toyadmos_ae": "dense_autoencoder (the same MLPerf Tiny AD architecture, scaled down)",
    "mobilenet_v1": "ds_cnn (DepthwiseConv2D, BatchNormalization, ReLU, average pooling)",
    "jet_tagger": "jet_dnn (Dense, ReLU, softmax; the same 16 jet features, exported from memory)",
}


def _claims():
    out = []
    for name in zoo.list_models():
        card = zoo.get_card(name)
        for target in card.targets:
            marks = [pytest.mark.slow] if name in COVERED_BY else []
            if target == "hls4ml" and card.family in SLOW_HLS:
                marks.append(pytest.mark.slow)
            if target == "tflm" and card.family in SLOW_TFLM:
                marks.append(pytest.mark.slow)
            out.append(pytest.param(name, target, marks=marks, id=f"{name}-{target}"))
    return out


CLAIMS = _claims()


@pytest.fixture(scope="session")
def claims_dir(shared_dir):
    """Where this session's claim models and exports are built (shared by the xdist workers)."""
    folder = shared_dir / "export-claims"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def sources(claims_dir):
    """name -> what to export, built once per test session and model.

    Under pytest-xdist the workers share one directory and a file lock per model, so a model is
    trained by whichever worker needs it first and reused by the other (training is seeded, so
    either would train the same model).
    """
    import fcntl

    cache: dict = {}

    def get(name):
        if name not in cache:
            with open(claims_dir / f"{name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    cache[name] = _source(name, claims_dir / name)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        return cache[name]

    return get


def _source(name, tmp):
    from training.datasets.adapt import adapt
    from training.datasets.registry import DATASETS, load_dataset
    from training.train import train

    card = zoo.get_card(name)
    overrides = dict(card.test_overrides)
    dataset = card.dataset
    if not DATASETS[dataset].offline:
        try:
            adapt(load_dataset(IMAGE_STAND_IN), overrides.get("input_shape", card.input_shape))
            dataset = IMAGE_STAND_IN
        except (
            ValueError
        ):  # no offline stand-in of this shape (jets): random init, standard-normal inputs
            model = zoo.create_model(name, **overrides)
            shape = tuple(model.inputs[0].shape[1:])
            rng = np.random.default_rng(0)
            data = ExportData.from_arrays(
                rng.standard_normal((512, *shape)).astype("f4"),
                rng.standard_normal((128, *shape)).astype("f4"),
                None,
                info={"dataset": "standard-normal"},
            )
            return ("memory", model, data)
    else:
        try:
            adapt(load_dataset(dataset), overrides.get("input_shape", card.input_shape))
        except (
            ValueError
        ):  # a test-size input shape the card's data cannot take (gnn: fewer points)
            overrides.pop("input_shape", None)
    run_dir = tmp / "run"
    if (run_dir / "model.keras").exists() and (run_dir / "metrics.json").exists():
        return ("run", run_dir)  # trained by the other worker
    epochs, lr = TRAINING.get(card.family, DEFAULT_TRAINING)
    train(
        name,
        dataset,
        epochs=epochs,
        learning_rate=lr,
        overrides=overrides,
        out=run_dir,
        verbose=0,
        patience=5,
        limit=TRAIN_LIMIT,
    )
    return ("run", run_dir)


@pytest.fixture(scope="session")
def exports(request, sources, claims_dir):
    """name -> (manifest, export directory): ONE export per model to every target it claims in
    this session (the slow claims join under ``make test-all``), shared by that model's tests.

    Exported once, under the model's lock, by whichever worker asks first; the other reads the
    manifest (a failed export too: :class:`export.errors.ExportFailed` names the manifest that
    records the failure, and each target's test judges only its own artifacts and lines)."""
    import fcntl
    import json

    from export.errors import ExportFailed

    wanted: dict[str, list[str]] = {}
    for item in request.session.items:
        spec = getattr(item, "callspec", None)
        if (
            getattr(item, "originalname", None) == "test_claimed_target_exports_with_parity"
            and spec
        ):
            wanted.setdefault(spec.params["name"], []).append(spec.params["target"])
    cache: dict = {}

    def get(name):
        if name not in cache:
            src = sources(name)
            out = claims_dir / f"{name}-export"
            to = tuple(t for t in targets.names() if t in wanted[name])
            with open(claims_dir / f"{name}-export.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    if not (out / "manifest.json").exists():
                        _export(name, src, to, out, ExportFailed)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
            cache[name] = (json.loads((out / "manifest.json").read_text()), out)
        return cache[name]

    return get


def _export(name, src, to, out, failed):
    card = zoo.get_card(name)
    try:
        if src[0] == "run":
            export_run(src[1], to=to, out=out)
        else:
            export_model(src[1], out, data=src[2], task=card.task, to=to)
    except failed as exc:  # recorded in the manifest; each target's test reads its own part
        if exc.manifest is None:
            raise


@pytest.mark.parametrize("name, target", CLAIMS)
def test_claimed_target_exports_with_parity(name, target, exports):
    manifest, _ = exports(name)
    mine = [a for a in manifest["artifacts"] if a["format"] == target]
    assert not [f for f in manifest["failures"] if f.startswith(f"{target} ")], manifest["failures"]
    registered = targets.get(target)  # the default variants, read from the registry
    assert {a["variant"] for a in mine} == set(registered.default_variants or registered.variants)
    for a in mine:
        assert "error" not in a and a["parity"]["passed"] and a["parity"]["n"] > 0, a


def test_every_hls4ml_claim_is_on_a_card_that_says_so():
    """hls4ml claims are exactly the cards listing "hls4ml" (no model is converted unasked)."""
    claimed = {p.values[0] for p in CLAIMS if p.values[1] == "hls4ml"}
    assert claimed == {n for n in zoo.list_models() if "hls4ml" in zoo.get_card(n).targets}


def test_claims_left_to_make_test_all_are_covered_in_make_test():
    """A claim moved to `make test-all` by COVERED_BY has no layer type that the claims still in
    `make test` for the same target lack (so the move drops no converter path)."""

    import functools

    @functools.cache
    def layer_types(name):
        model = zoo.create_model(name, **zoo.get_card(name).test_overrides)
        return {type(layer).__name__ for layer in model.layers}

    def in_make_test(p):
        return not any(m.name == "slow" for m in p.marks)

    moved = [p.values for p in CLAIMS if p.values[0] in COVERED_BY]
    assert {n for n, _ in moved} == set(COVERED_BY)
    for name, target in moved:
        if (target == "hls4ml" and zoo.get_card(name).family in SLOW_HLS) or (  # slow in any case
            target == "tflm" and zoo.get_card(name).family in SLOW_TFLM
        ):
            continue
        kept = {p.values[0] for p in CLAIMS if p.values[1] == target and in_make_test(p)}
        covered = set().union(*(layer_types(n) for n in kept))
        assert layer_types(name) <= covered, (name, target, layer_types(name) - covered)
