"""The ``hgq`` step of a compression chain (``compress(RUN, hgq={...})``, CLI ``--hgq '{}'``,
recipe ``compress: {hgq: {...}}``): the HGQ2 twin of the chain's float (or pruned) model,
fine-tuned with the EBOPs term, written as ``4-hgq/`` by the chain's :class:`StepBook`."""

from __future__ import annotations

from compress.errors import CompressionError

# measured on the digits (jet_tagger, mlp; docs/hgq-fpga-bench.md): weights start at 4 bits and
# activations at 3 fractional bits (the float init of 8/6 leaves EBOPs ~3x higher after the same
# epochs); beta1 above ~1e-4 collapses accuracy once EBOPs x beta outweighs the loss.
DEFAULTS = {
    "beta0": 1e-6,
    "beta1": 6e-5,
    "epochs": None,
    "accuracy_budget": 0.03,
    "weight_bits0": 4,
    "act_f0": 3,
    "batch_size": None,
    "beta_end": None,  # a tail: beta_end and lr/10 for the last 30% of epochs, picked from it
}


def hgq_settings(value) -> dict:
    """The step's settings: ``{}`` or any of beta0, beta1, epochs, accuracy_budget,
    weight_bits0 (initial weight bits), act_f0 (initial activation fractional bits),
    batch_size (None: the chain's), beta_end (None: no tail; see
    :func:`compress.hgq.beta_schedule`)."""
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise CompressionError(f"hgq must be an object of settings. Received: hgq={value!r}")
    unknown = sorted(set(value) - set(DEFAULTS))
    if unknown:
        raise CompressionError(f"hgq: unknown settings {unknown}; known: {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **value}
    for key in ("beta0", "beta1", "beta_end"):
        if key == "beta_end" and s[key] is None:
            continue
        if not isinstance(s[key], (int, float)) or isinstance(s[key], bool) or s[key] < 0:
            raise CompressionError(f"hgq: {key} must be a number >= 0. Received: {s[key]!r}")
    for key in ("epochs", "batch_size", "weight_bits0", "act_f0"):
        v, low = s[key], 0 if key == "act_f0" else 1
        if v is None and key in ("epochs", "batch_size"):
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise CompressionError(f"hgq: {key} must be an integer >= {low}. Received: {v!r}")
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
    twin = hgq_twin(current, beta0=s["beta0"], weight_bits0=s["weight_bits0"], act_f0=s["act_f0"])
    rec = hgq_finetune(
        twin,
        book.ds,
        epochs=s["epochs"] or opts.epochs,
        beta0=s["beta0"],
        beta1=s["beta1"],
        batch_size=s["batch_size"] or fit["batch_size"],
        learning_rate=fit["learning_rate"],
        accuracy_budget=s["accuracy_budget"],
        beta_end=s["beta_end"],
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
    _learned_bits_in_summary(book, bits)
    _plot_bits(book.out / "4-hgq" / "weight_bits.png", bits["layers"])
    return out


def _learned_bits_in_summary(book, bits: dict) -> None:
    """The summary row and the step's ``model`` block count an HGQ2 model's weights as float32
    and none as pruned (their generic measure does not know HGQ2 quantizers): give them the
    learned mean bits per kernel weight (0 for a pruned one), the pruned fraction and the
    kernel bits in bytes, measured on the model."""
    import json

    from zoo.core.io import write_json_atomic

    mean = round(bits["mean_bits"], 4)
    note = "HGQ2: learned bits per kernel weight, mean over all kernels (pruned = 0)"
    kernel_bytes = -(-bits["total_bits"] // 8)
    row = book.summary["rows"][-1]
    pruned = round(bits["pruned_fraction"], 6)  # kernel weights whose learned width is 0
    row.update(bits_per_weight=mean, bits_per_weight_note=note, kernel_bytes=kernel_bytes)
    row["sparsity"] = pruned
    write_json_atomic(book.out / "compression.json", book.summary)
    path = book.out / "4-hgq" / "compression.json"
    rep = json.loads(path.read_text())
    rep["model"].update(bits_per_weight=mean, bits_per_weight_note=note, sparsity=pruned)
    write_json_atomic(path, rep)


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
