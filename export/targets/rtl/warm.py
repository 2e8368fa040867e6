"""Compile da4ml's numba kernels once, at install time (``make install`` runs
``python -m export.targets.rtl.warm``).

da4ml solves each constant matrix-vector product with numba functions compiled on first use and
cached (``cache=True``) in its own ``__pycache__``. On a fresh environment that compilation costs
one to three minutes of CPU in the first process that traces a model, and every process that
starts before the cache is written pays it again (two test workers, or the demo, each paid it).
Tracing one tiny QKeras model and one tiny HGQ2 model the way the rtl target does compiles every
signature the target uses (numba compiles per argument type, so a warm-up must take the target's
own path, not a call of its own), and later processes load the cache in under a second.
"""

from __future__ import annotations

import time

import numpy as np

import zoo  # noqa: F401  (first: the Keras worlds, tf-keras for QKeras beside Keras 3)


def _qkeras_model():
    import tf_keras as tk
    from qkeras import QActivation, QDense, quantized_bits

    q = quantized_bits(6, 0, alpha=1)
    inp = tk.Input((4,))
    x = QDense(4, kernel_quantizer=q, bias_quantizer=q, name="fc1")(inp)
    x = QActivation("quantized_relu(6)", name="relu1")(x)
    x = QDense(3, kernel_quantizer=q, bias_quantizer=q, name="fc2")(x)
    return tk.Model(inp, x)


def _hgq_model(x):
    import keras
    from hgq.config import LayerConfigScope, QuantizerConfigScope
    from hgq.layers import QDense
    from hgq.utils import trace_minmax

    with (
        QuantizerConfigScope(place="all", default_q_type="kbi", overflow_mode="SAT_SYM"),
        QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP"),
        LayerConfigScope(enable_ebops=True),
    ):
        inp = keras.Input((x.shape[1],))
        h = QDense(4, activation="relu")(inp)
        model = keras.Model(inp, QDense(3)(h))
    trace_minmax(model, x, verbose=0)
    return model


def warm() -> float:
    """Trace both tiny models (no Verilog, no simulator); seconds taken."""
    from da4ml.converter import trace_model
    from da4ml.trace import comb_trace

    from export.targets.rtl.trace import input_kif, quantize_inputs, trace

    t0 = time.perf_counter()
    x = np.random.default_rng(0).uniform(-1, 1, (16, 4))
    kif = input_kif(-1.0, 1.0, 8)
    traced = trace(_qkeras_model(), kif, solver_options={"hard_dc": 2})
    comb_trace(traced.inputs, traced.outputs).predict(quantize_inputs(x, kif), n_threads=1)
    comb_trace(*trace_model(_hgq_model(x.astype("f4")))).predict(x, n_threads=1)
    return time.perf_counter() - t0


if __name__ == "__main__":
    print(f"da4ml's numba kernels compiled and cached in {warm():.0f} s")
