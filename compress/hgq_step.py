"""The ``hgq`` step of a compression chain (``compress(RUN, hgq={...})``, CLI ``--hgq '{}'``,
recipe ``compress: {hgq: {...}}``): the HGQ2 twin of the chain's float (or pruned) model,
fine-tuned with the EBOPs term, written as ``4-hgq/`` by the chain's :class:`StepBook`."""

from __future__ import annotations

from compress.errors import CompressionError

DEFAULTS = {"beta0": 1e-6, "beta1": 1e-4, "epochs": None, "accuracy_budget": 0.01}


def hgq_settings(value) -> dict:
    """The step's settings: ``{}`` or any of beta0, beta1, epochs, accuracy_budget."""
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise CompressionError(f"hgq must be an object of settings. Received: hgq={value!r}")
    unknown = sorted(set(value) - set(DEFAULTS))
    if unknown:
        raise CompressionError(f"hgq: unknown settings {unknown}; known: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **value}
    for key in ("beta0", "beta1"):
        if not isinstance(s[key], (int, float)) or isinstance(s[key], bool) or s[key] < 0:
            raise CompressionError(f"hgq: {key} must be a number >= 0. Received: {s[key]!r}")
    if s["epochs"] is not None and (not isinstance(s["epochs"], int) or s["epochs"] < 1):
        raise CompressionError(f"hgq: epochs must be an integer >= 1. Received: {s['epochs']!r}")
    if not 0 <= s["accuracy_budget"] < 1:
        raise CompressionError(
            f"hgq: accuracy_budget must lie in [0, 1). Received: {s['accuracy_budget']!r}"
        )
    return s


def plan_hgq(model) -> None:
    """Fail before any training when the model has no HGQ2 twin."""
    from compress.hgq import hgq_twin

    hgq_twin(model)


def hgq_step(book, src, opts, fit: dict, current, metrics, source):
    """Twin, fine-tune, calibrate, record; the step's model directory is ``4-hgq/``."""
    import keras

    from compress.hgq import hgq_finetune, hgq_twin, weight_bits

    s = hgq_settings(opts.hgq)
    keras.utils.set_random_seed(int(src.work_cfg.seed if opts.seed is None else opts.seed))
    twin = hgq_twin(current, beta0=s["beta0"])
    rec = hgq_finetune(
        twin,
        book.ds,
        epochs=s["epochs"] or opts.epochs,
        beta0=s["beta0"],
        beta1=s["beta1"],
        batch_size=fit["batch_size"],
        learning_rate=fit["learning_rate"],
        accuracy_budget=s["accuracy_budget"],
        verbose=fit["verbose"],
    )
    bits = weight_bits(twin)
    info = {
        "settings": s,
        "outputs": "logits (the float model's final softmax is dropped; argmax unchanged)",
        "ebops": rec["ebops"],
        "bits_per_weight_mean": bits["mean_bits"],
        "weight_bits_total": bits["total_bits"],
        "pruned_fraction": bits["pruned_fraction"],
        "weight_bits": bits["layers"],
        "pareto_front": rec["pareto_front"],
        "chosen": rec["chosen"],
        "epochs": rec["epochs"],
        "hgq2": _version("hgq2"),
    }
    cfg = src.work_cfg.replace(hgq=True)
    out = book.write("hgq", twin, cfg, current, metrics, info, source)
    _plot_bits(book.out / "4-hgq" / "weight_bits.png", bits["layers"])
    return out


def _version(name: str):
    from importlib.metadata import version

    return version(name)


def _plot_bits(path, layers: dict) -> None:
    """Per-layer histogram of the learned weight bit widths (0 = pruned)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, entry in layers.items():
        xs = sorted(int(b) for b in entry["histogram"])
        ax.plot(xs, [entry["histogram"][str(b)] for b in xs], marker="o", label=name)
    ax.set_xlabel("weight bits (0 = pruned)")
    ax.set_ylabel("weights")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
