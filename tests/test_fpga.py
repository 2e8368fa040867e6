"""FPGA figures without vendor tools: the synthesis-report parser, RTL via da4ml simulated with
Verilator, resources from yosys, and the automatic precision search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"


def test_parse_report_reads_a_vitis_project(tmp_path):
    """A Vitis HLS project laid out as hls4ml's report reader expects (project.tcl, hls.app,
    solution1/syn/report/myproject_csynth.xml, vivado_synth.rpt), in the real formats."""
    from export.targets.hls4ml.synth import parse_report

    prj = shutil.copytree(DATA / "vitis_project", tmp_path / "prj")
    rep = parse_report(prj)
    assert rep["source"].startswith("Vivado/Vitis HLS")
    assert rep["latency_cycles"] == {"best": 12, "worst": 13}
    assert rep["interval_cycles"] == {"min": 1, "max": 1}
    assert rep["clock_ns"] == {"target": 5.0, "estimated": 3.468}
    assert rep["latency_ns"] == 60.0
    assert rep["resources"] == {"LUT": 42160, "FF": 6824, "DSP": 34, "BRAM_18K": 0, "URAM": 0}
    assert rep["available"]["LUT"] == 1728000 and rep["available"]["DSP"] == 12288
    assert rep["vivado_synth"]["resources"] == {
        "LUT": 36015,
        "FF": 5120,
        "BRAM_18K": 0,
        "URAM": 0,
        "DSP": 30,
    }


def test_parse_report_without_a_report_says_so(tmp_path):
    from export.targets.hls4ml.synth import parse_report

    prj = shutil.copytree(DATA / "vitis_project", tmp_path / "prj")
    (prj / "myproject_prj/solution1/syn/report/myproject_csynth.xml").unlink()
    rep = parse_report(prj)
    assert rep["report"] is None and "no C-synthesis report" in rep["why"]


# --------------------------------------------------------------------------- RTL via da4ml


def qkeras_iris_mlp(widths=(16, 8)):
    """A QKeras 6-bit MLP 4-16-8-3 (tf-keras world; ``widths`` the two hidden layers), quantizers
    as strings (round-trips .keras)."""
    import tf_keras as tk
    from qkeras import QActivation, QDense

    q = "quantized_bits(6,0,alpha=1)"
    inp = tk.Input((4,), name="input")
    x = QDense(widths[0], kernel_quantizer=q, bias_quantizer=q, name="fc1")(inp)
    x = QActivation("quantized_relu(6)", name="relu1")(x)
    x = QDense(widths[1], kernel_quantizer=q, bias_quantizer=q, name="fc2")(x)
    x = QActivation("quantized_relu(6)", name="relu2")(x)
    x = QDense(3, kernel_quantizer=q, bias_quantizer=q, name="output")(x)
    out = tk.layers.Activation("softmax", name="softmax")(x)
    return tk.Model(inp, out, name="mlp")


@pytest.fixture(
    scope="module",
    params=[(4, 4), pytest.param((16, 8), marks=pytest.mark.slow)],
    ids=lambda w: "4-" + "-".join(map(str, w)) + "-3",
)
def rtl_export(request, tmp_path_factory):
    """One QKeras model directory exported to hls4ml and rtl: one hls4ml C-sim
    build, one Verilator build, one yosys run for the whole module.

    Not the shared QKeras run of tests/conftest.py: a small iris model keeps the Verilator
    build and the yosys run small, and its hand-set quantizers are what the checks read.
    ``make test`` builds 4-4-4-3 (about 700 LUTs); the 4-16-8-3 model (about 3,400 LUTs, the
    same checks on five times the logic) is marked slow (``make test-all``)."""
    import tf_keras

    import zoo
    from export import export_run
    from training.datasets.adapt import adapt
    from training.datasets.registry import load_dataset
    from training.model_dir import save_model_dir

    tf_keras.utils.set_random_seed(0)
    ds = adapt(load_dataset("iris"), (4,))
    m = qkeras_iris_mlp(request.param)
    m.compile(tf_keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    m.fit(ds.x_train, ds.y_train, epochs=60, verbose=0)
    cfg = {
        "model": "mlp",
        "dataset": "iris",
        "seed": 0,
        "limit": None,
        "overrides": {"input_shape": [4], "classes": 3},
        "card": zoo.get_card("mlp").to_dict(),
    }
    run = save_model_dir(m, tmp_path_factory.mktemp("fpga") / "qkeras-iris", cfg)
    out = run / "export"
    man = export_run(run, to=("hls4ml", "rtl"), out=out)
    return man, out, ds


def _art(man, variant):
    return next(a for a in man["artifacts"] if a["format"] == "hls4ml" and a["variant"] == variant)


def test_rtl_verilog_is_simulated_bit_exactly_with_sourced_figures(rtl_export):
    """One test over the module's one export (under pytest-xdist each worker running a test of
    the module would build the fixture again): the Verilog, its simulation, the figures and
    their sources, and yosys' counts where yosys is installed (else the recorded skip)."""
    man, out, ds = rtl_export
    assert man["passed"], man["failures"]
    a = _art(man, "rtl")
    rtl = a["rtl"]
    top = out / a["path"] / "src" / "model.v"
    assert "module model" in top.read_text() and "posedge clk" in top.read_text()  # pipelined
    sim = rtl["rtl_simulation"]
    assert sim["run"] and sim["simulator"] == "verilator"
    assert tuple(int(v) for v in sim["verilator"].split(".")) >= (5, 8)
    assert sim["n"] == len(ds.x_test) == a["parity"]["n"]
    assert sim["bit_exact"] and sim["mismatched_samples"] == 0 and sim["max_abs_diff"] == 0.0
    # the same function as the QKeras model (up to round-half-up vs QKeras' half-to-even ties)
    assert a["parity"]["passed"] and a["parity"]["argmax_agreement"] >= 0.9
    # within the rtl target's registered bounds (tests/test_targets.py leaves it to this test)
    from export import parity, verify

    bounds = parity.bounds("hls4ml", "rtl")
    assert bounds["min_argmax_agreement"] == 0.98
    assert verify.check(a["parity"], bounds, task="classification") == []
    assert rtl["vs_keras_logits"]["max_abs_diff"] < 0.25
    assert rtl["vs_hls4ml_csim"]["argmax_agreement"] >= 0.9
    assert rtl["input_type"]["ap_fixed"].startswith("ap_fixed<16,") or rtl["input_type"][
        "ap_fixed"
    ].startswith("ap_ufixed<16,")

    # every figure carries its source
    lat = rtl["latency"]
    assert lat["source"] == "da4ml estimate" and lat["interval_cycles"] == 1
    assert lat["cycles"] >= 2 and lat["ns"] == pytest.approx(lat["cycles"] * lat["clock_ns"])
    est = rtl["resources"][0]
    assert est["source"] == "da4ml estimate" and est["LUT"] > 50 and est["FF"] > 20
    syn = _art(man, "fixed")["synthesis"]
    assert syn["run"] is False  # no vendor tool here: no figure is presented as a Vivado result
    assert man["versions"].get("da4ml") == "0.5.2" and man["versions"].get("verilator") == "5.48.0"

    # open synthesis where yosys is installed (.ci/run installs it as root); else the skip is said
    if shutil.which("yosys") is None:
        assert rtl["yosys"]["run"] is False and "apt-get install yosys" in rtl["yosys"]["why"]
        assert [r["source"] for r in rtl["resources"]] == ["da4ml estimate"]
        return
    assert rtl["yosys"]["run"], rtl["yosys"]
    ys = rtl["resources"][1]
    assert ys["source"] == "yosys synth_xilinx"
    assert ys["LUT"] > 0 and ys["FF"] > 0 and ys["DSP"] == 0 and ys["BRAM_18K"] == 0
    assert 0.5 < ys["LUT"] / est["LUT"] < 2.0  # open synthesis and da4ml's model agree in scale
    assert (out / a["path"] / "yosys_synth.ys").exists()


def test_rtl_rejects_float_layers():
    """A float Dense has no fixed-point weights to build: one clear error naming the layer."""
    import tf_keras as tk

    from export.errors import UnsupportedModelError
    from export.targets.rtl.trace import trace

    inp = tk.Input((4,))
    m = tk.Model(inp, tk.layers.Dense(3, name="float_fc")(inp))
    with pytest.raises(UnsupportedModelError, match="float_fc"):
        trace(m, (1, 2, 13))


# --------------------------------------------------------------------------- automatic precision


AUTO_STEPS = 3  # the all-C-simulation search, bounded: 3 g++ builds (the last 2 at once)


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    """A small float MLP (64-16-10) trained on digits.

    Not the shared dense run of tests/conftest.py (64-64-32-10): the precision search compiles
    and C-simulates AUTO_STEPS hls4ml projects, and one 16-wide layer keeps each g++ build short.
    It also writes its export into the run directory."""
    from training.train import train

    run = tmp_path_factory.mktemp("fpga") / "mlp-digits"
    train("mlp", "digits", epochs=12, verbose=0, out=run, overrides={"widths": (16,)}, patience=100)
    return run


@pytest.fixture(scope="module")
def auto_export(auto_run):
    """The MLP exported with precision="auto" (budget 0.005): every step C-simulated, two
    candidates built at once."""
    from export import export_run

    out = auto_run / "export"
    man = export_run(
        auto_run,
        to=("hls4ml",),
        out=out,
        hls4ml={
            "precision": "auto",
            "accuracy_budget": 0.005,
            "auto_max_steps": AUTO_STEPS,
            "auto_jobs": 2,  # the threaded path; the g++ builds are the same either way
        },
    )
    return man, out


def test_precision_auto_beats_16_bits_within_the_budget(auto_export):
    man, out = auto_export
    a = _art(man, "fixed")
    ps = a["precision_search"]
    assert ps["searched"] and ps["accuracy_budget"] == 0.005 and ps["precision_check"] == "csim"
    keras_acc, chosen = ps["keras_accuracy"], ps["chosen"]
    record = json.loads((out / ps["record"]).read_text())
    steps = record["steps"]
    assert steps[0]["weight_width"] == 16 and len(steps) == ps["n_steps"] == AUTO_STEPS
    # every recorded step was compiled and C-simulated; nothing emulated, nothing confirmed after
    assert [st["simulation"] for st in steps] == ["C simulation"] * AUTO_STEPS
    assert record["confirmations"] == [] and ps["rounds"] < AUTO_STEPS  # two builds at once
    assert all({"accuracy", "weight_bits", "bops", "types"} <= set(st) for st in steps)
    # each weighted layer's accumulator type is recorded per step (hls4ml's exact 'auto')
    for st in steps:
        weighted = [t for t in st["types"].values() if "weight" in t]
        assert weighted and all(t["accum"].startswith("fixed<") for t in weighted)
    # the choice: the step with the fewest weight bits whose C-simulated accuracy is in budget
    ok = [st for st in steps if st["accuracy"] >= keras_acc - 0.005 - 1e-9]
    assert [st["within_budget"] for st in steps] == [st in ok for st in steps]
    best = steps[chosen["step"]]
    assert best["weight_bits"] == min(st["weight_bits"] for st in ok) == chosen["weight_bits"]
    assert best["accuracy"] == chosen["accuracy"] >= keras_acc - 0.005 - 1e-9
    assert ps["weight_bits_reduction"] >= 2.0, ps["weight_bits_reduction"]
    # the exported artifact is that C-simulated project, adopted (not rebuilt): same accuracy
    assert a["parity"]["accuracy"] == chosen["accuracy"]
    assert a["hls4ml"]["weight_storage"]["bits"] == chosen["weight_bits"]
    assert a["hls4ml"]["precision"]["weight_width"] == chosen["weight_width"]
    assert "precision search" in a["hls4ml"]["c_simulation"]
    assert (out / ps["plot"]).stat().st_size > 10_000  # the Pareto plot
    assert a["synthesis"] == {"run": False, "why": "vitis-run (Vitis HLS) not on PATH"}
    assert not [
        p for p in out.iterdir() if p.name.startswith((".precision", ".hls4ml"))
    ]  # no scratch left


def test_precision_auto_emulation_is_opt_in_and_checked(auto_run):
    """precision_check="emulate": steps on the numpy emulation, which must reproduce the C
    simulation at the baseline; the choice is C-simulated (and that project exported)."""
    from export import export_run

    out = auto_run / "export-emulated"
    man = export_run(
        auto_run,
        to=("hls4ml",),
        out=out,
        hls4ml={"precision": "auto", "precision_check": "emulate", "auto_max_steps": 3},
    )
    a = _art(man, "fixed")
    ps = a["precision_search"]
    assert ps["precision_check"] == "emulate" and "numpy emulation" in ps["simulation"]
    steps = json.loads((out / ps["record"]).read_text())["steps"]
    assert len(steps) == 3
    assert all(st["simulation"].startswith("numpy emulation") for st in steps)
    base, last = ps["confirmations"][0], ps["confirmations"][-1]
    assert base["weight_width"] == base["width"] == 16
    # the emulation agrees with the C simulation at the baseline (else every step is C-simulated)
    assert abs(base["csim_accuracy"] - base["emulated_accuracy"]) <= 1 / ps["n_test"] + 1e-12
    assert base["argmax_agreement_with_emulation"] >= 0.97
    assert last["within_budget"] and a["parity"]["accuracy"] == last["csim_accuracy"]
    assert last["argmax_agreement_with_emulation"] >= 0.97


def test_quantize_type_follows_ap_fixed():
    from hls4ml.model.types import FixedPrecisionType

    from export.targets.hls4ml.emulator import quantize_type

    t = FixedPrecisionType(
        6, 2, signed=True, rounding_mode="RND", saturation_mode="SAT"
    )  # lsb 1/16
    x = np.array([0.03125, -0.03125, 0.09, 1.96875, 5.0, -5.0])
    assert quantize_type(x, t).tolist() == [0.0625, 0.0, 0.0625, 1.9375, 1.9375, -2.0]
    w = FixedPrecisionType(4, 1, signed=False)  # TRN, WRAP: ufixed<4,1>, lsb 1/8, range [0, 2)
    assert quantize_type(np.array([0.2, 2.125, 1.99]), w).tolist() == [0.125, 0.125, 1.875]


def test_rtl_conv_trace_computes_the_qkeras_function(rng):
    """QConv2D ("same" padding) -> quantized_relu -> MaxPooling2D -> QDense, traced into da4ml
    logic: its emulation equals the QKeras model's outputs (no ties on these random inputs)."""
    import tf_keras as tk
    from da4ml.trace import comb_trace
    from qkeras import QActivation, QConv2D, QDense

    from export.targets.rtl.trace import quantize_inputs, trace

    q = "quantized_bits(6,0,alpha=1)"
    inp = tk.Input((4, 4, 1))
    x = QConv2D(2, 3, padding="same", use_bias=False, kernel_quantizer=q, name="conv")(inp)
    x = QActivation("quantized_relu(6,1)", name="relu")(x)
    x = tk.layers.MaxPooling2D(2, name="pool")(x)
    x = tk.layers.Flatten(name="flat")(x)
    x = QDense(4, use_bias=False, kernel_quantizer=q, name="out")(x)
    m = tk.Model(inp, x)
    kif = (1, 0, 11)  # ap_fixed<12,1>
    xq = quantize_inputs(rng.uniform(-1, 1, (200, 16)), kif)
    t = trace(m, kif)
    y = comb_trace(t.inputs, t.outputs).predict(xq, n_threads=1)
    ref = m.predict(xq.reshape(-1, 4, 4, 1).astype(np.float32), verbose=0)
    same = np.all(y == ref, axis=1)
    assert same.mean() >= 0.95, same.mean()
    assert np.abs(y - ref).max() < 0.2
