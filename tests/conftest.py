"""Shared fixtures. Importing zoo first sets TF_USE_LEGACY_KERAS=1 before TensorFlow loads."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import zoo  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seeds and a fresh Keras session."""
    import keras
    import tf_keras

    keras.utils.set_random_seed(0)
    keras.backend.clear_session()
    tf_keras.backend.clear_session()
    np.random.seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
