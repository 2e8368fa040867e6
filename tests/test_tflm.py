"""The ``tflm`` export target with the real ``tflite-micro`` wheel, real files and the system g++:
TFLM-run parity, LiteRT agreement in LSB, the measured arena, compilable firmware files,
budgets and the refusal of operators TFLM lacks."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

pytestmark = pytest.mark.xdist_group("export")


@pytest.fixture(scope="module")
def tflm_export(tmp_path_factory):
    """LeNet-5 trained 3 epochs on the digits, exported to TFLite int8 and TFLM."""
    from export import export_run
    from training.train import train

    root = tmp_path_factory.mktemp("tflm")
    train("lenet5", "digits", epochs=3, verbose=0, out=root / "run", patience=100)
    man = export_run(
        root / "run", to=("tflite", "tflm"), tflite_variants=("int8",), out=root / "export"
    )
    art = next(a for a in man["artifacts"] if a["format"] == "tflm")
    return root, man, art


def test_tflm_runs_the_whole_test_split_and_passes_the_int8_gates(tflm_export):
    root, man, art = tflm_export
    p = art["parity"]
    assert p["passed"] and p["n"] == man["data"]["n_parity"] > 100
    assert p["thresholds"]["min_argmax_agreement"] == 0.95  # the generic int8 gates
    assert p["argmax_agreement_tol"] >= 0.95 and p["accuracy"] > 0.5
    assert art["runtime"].startswith("TFLM Python interpreter")
    assert art["quantization"]["rewrites"] == []  # built without LiteRT's rewrites
    assert art["io"]["input"]["shape"][0] == 1 and art["io"]["input"]["dtype"] == "int8"
    assert man["versions"]["tflite-micro"]  # the interpreter that ran it is recorded


def test_agreement_with_litert_is_recorded_in_lsb(tflm_export):
    _, _, art = tflm_export
    v = art["vs_litert"]
    ref, same, other = v["same_file_reference"], v["same_file"], v["tflite_int8"]
    for fig in (ref, same, other):
        assert fig["n"] > 100 and 0 <= fig["max_abs_diff_lsb"] <= 8
        assert fig["within_1_lsb"] >= 0.9 and fig["argmax_agreement"] >= 0.97
    # the goal (>= 99% within 1 LSB, argmax >= 0.99) against LiteRT's reference kernels, the
    # arithmetic TFLM's kernels implement; the optimized kernels' figures stay beside it
    assert v["goal"]["judged_on"] == "same_file_reference" and v["goal"]["met"] is True
    assert ref["within_1_lsb"] >= 0.99 and ref["argmax_agreement"] >= 0.99
    assert "BUILTIN_REF" in ref["what"] and "what a phone runs" in same["what"]
    assert other["rewrites"]  # lenet5's LiteRT file is rewritten (thin conv, avg pools)
    # the rewritten LiteRT file costs TFLM more arena and flash than the TFLM build
    assert other["tflm_arena_bytes"] > art["tflm"]["arena_bytes"]
    assert other["bytes"] > art["tflm"]["flash_bytes"]


def test_every_operator_alone_agrees_with_litert_reference_within_1_lsb(tflm_export):
    """Op by op on the same inputs: TFLM's kernels are LiteRT's reference arithmetic up to one
    rounding step, and so are LiteRT's optimized kernels; what differs is named by operator."""
    _, _, art = tflm_export
    ob = art["vs_litert"]["op_by_op"]
    assert ob["n"] == 16 and ob["ops"] == len(art["tflm"]["ops"])
    assert ob["cut_exact"] is True  # each operator alone reproduces the whole model's tensor
    for row in ob["differ"]:
        assert row["name"] == art["tflm"]["ops"][row["op"]]
        for k in ("tflm_vs_reference", "litert_optimized_vs_reference"):
            assert row[k]["max_lsb"] <= 1 and row[k]["differ"] < 0.01


def test_memory_figures_are_measured(tflm_export):
    root, _, art = tflm_export
    m = art["tflm"]
    path = root / "export" / art["path"]
    assert m["flash_bytes"] == art["bytes"] == path.stat().st_size
    assert m["arena_bytes"] > 0
    assert m["arena_bytes"] == m["arena"]["head_bytes"] + m["arena"]["tail_bytes"]
    assert m["arena"]["by_kind"]["TfLiteEvalTensor data"]["bytes"] > 0
    # the lower bound: the input (32x32 int8) and C1's output (28x28x6) are live together
    assert 32 * 32 + 28 * 28 * 6 <= m["peak_activation_bytes"] <= m["arena"]["head_bytes"]
    assert m["arena_to_allocate_bytes"] == m["arena_bytes"] + m["arena_margin_bytes"]
    assert m["arena_to_allocate_bytes"] % 16 == 0 and m["arena_margin_bytes"] >= 1024
    assert m["macs"] > 400_000 and "CONV_2D" in m["op_set"] and "AVERAGE_POOL_2D" in m["op_set"]
    assert m["fits"]["nucleo-l4r5zi"] is True and m["float_ops"] == []  # all int8


def test_firmware_files_compile_and_hold_the_model(tflm_export, tmp_path):
    root, _, art = tflm_export
    folder = (root / "export" / art["path"]).parent
    ops = art["tflm"]["firmware"]["model_ops.h"]["what"].split(": ", 1)[1].split(", ")
    fake = "\n".join(f'  Status {m}() {{ added.push_back("{m}"); return kOk; }}' for m in ops)
    (tmp_path / "main.cc").write_text(
        f"""#include <cstdio>
#include <string>
#include <vector>
#include "model_data.h"
#include "model_ops.h"
enum Status {{ kOk = 0, kError = 1 }};
struct Resolver {{
  std::vector<std::string> added;
{fake}
}};
int main() {{
  Resolver r;
  if (edgezoo_model::RegisterOps(r) != kOk || r.added.size() != edgezoo_model::kNumOps) return 1;
  if (reinterpret_cast<unsigned long>(edgezoo_model::g_model_data) % 16 != 0) return 2;
  std::fwrite(edgezoo_model::g_model_data, 1, edgezoo_model::g_model_data_len, stdout);
  return edgezoo_model::kTensorArenaSize >= edgezoo_model::kTensorArenaMeasured ? 0 : 3;
}}
"""
    )
    gxx = ["g++", "-std=c++17", "-Wall", "-Werror", f"-I{folder}"]
    subprocess.run(
        [*gxx, "-c", str(folder / "model_data.cc"), "-o", str(tmp_path / "md.o")], check=True
    )
    subprocess.run(
        [*gxx, str(tmp_path / "main.cc"), str(tmp_path / "md.o"), "-o", str(tmp_path / "main")],
        check=True,
    )
    out = subprocess.run([str(tmp_path / "main")], capture_output=True, check=True).stdout
    assert out == (root / "export" / art["path"]).read_bytes()
    header = (folder / "model_data.h").read_text()
    assert f"kTensorArenaSize = {art['tflm']['arena_to_allocate_bytes']};" in header
    assert f"kInputZeroPoint = {art['io']['input']['zero_point']};" in header


def test_a_budget_too_small_is_refused_with_one_line(tflm_export):
    from export import ExportFailed, export_run

    root, _, _ = tflm_export
    with pytest.raises(ExportFailed) as exc:
        export_run(root / "run", to=("tflm",), tflm_ram="2K", out=root / "small-ram")
    msg = str(exc.value)
    assert "\n" not in msg and "exceeds the RAM limit 2,048 B (--tflm-ram 2K) by " in msg
    with pytest.raises(ExportFailed, match=r"model [\d,]+ B exceeds the flash limit 10,240 B"):
        export_run(root / "run", to=("tflm",), tflm_flash="10K", out=root / "small-flash")
    man = json.loads((root / "small-flash" / "manifest.json").read_text())
    assert "flash limit" in man["artifacts"][0]["error"]


def test_budget_options_are_checked_before_any_work():
    from edgezoo.cli import build_parser
    from edgezoo.commands.export_cmds import options_from_args
    from export.api import ExportOptions
    from export.errors import ExportOptionsError
    from export.targets.tflm import budgets

    assert (
        budgets.parse_bytes("640K", "x") == 640 * 1024 and budgets.parse_bytes("2M", "x") == 2**21
    )
    with pytest.raises(ExportOptionsError, match="tflm_ram must be bytes with an optional K or M"):
        ExportOptions.from_kwargs(tflm_ram="12Q")
    with pytest.raises(ExportOptionsError, match="tflm_board must be one of"):
        ExportOptions.from_kwargs(tflm_board="esp32")
    args = build_parser().parse_args(
        ["export", "R", "--to", "tflm", "--tflm-board", "nucleo-l4r5zi", "--tflm-ram", "512K"]
    )
    opts = ExportOptions.from_kwargs(**options_from_args(args))
    lim = budgets.limits(opts.tflm_ram, opts.tflm_flash, opts.tflm_board)
    assert lim["ram"] == 512 * 1024 and lim["flash"] == 2 * 1024 * 1024  # --tflm-ram wins
    from edgezoo.recipe_schema import RecipeError, validate_recipe

    ok = {"export": {"to": ["tflite", "tflm"], "tflm_board": "stm32h747", "tflm_flash": "1M"}}
    validate_recipe(ok, "lenet5")
    with pytest.raises(RecipeError, match="tflm_ram must be bytes") as exc:
        validate_recipe({"export": {"to": ["tflm"], "tflm_ram": "lots"}}, "lenet5")
    assert "\n" not in str(exc.value)


def test_an_operator_tflm_lacks_is_refused_naming_it(tmp_path):
    import keras

    from export import ExportData, ExportFailed, export_model

    i = keras.Input((16,))
    x = keras.layers.Dense(8, activation="gelu")(i)
    model = keras.Model(i, keras.layers.Dense(3, activation="softmax")(x), name="gelu_mlp")
    rng = np.random.default_rng(0)
    data = ExportData.from_arrays(
        rng.random((32, 16), dtype=np.float32), rng.random((16, 16), dtype=np.float32), None
    )
    with pytest.raises(ExportFailed) as exc:
        export_model(model, tmp_path / "out", data=data, to=("tflm",))
    assert "model 'gelu_mlp'" in str(exc.value) and "operator GELU" in str(exc.value)
    assert not (tmp_path / "out" / "tflm" / "model.int8.tflite").exists()  # refused before writing


def test_mcu_figures_table_reads_the_manifest(tflm_export):
    from export.targets.tflm import tables

    root, _, art = tflm_export
    lines = tables.section([root / "export" / "manifest.json"])
    text = "\n".join(lines)
    assert lines[0] == "## MCU figures (TFLM)" and "code size" in text
    m = art["tflm"]
    row = next(ln for ln in text.splitlines() if ln.startswith("| export"))
    for v in (m["arena_bytes"], m["flash_bytes"], m["peak_activation_bytes"], m["macs"]):
        assert f"{v:,}" in row
    assert "nucleo-l4r5zi" in row and "pass" in row
    v = art["vs_litert"]
    ref, opt = v["same_file_reference"], v["same_file"]
    assert (
        f"{100 * ref['within_1_lsb']:.1f}% / {100 * opt['within_1_lsb']:.1f}% "
        f"(max {ref['max_abs_diff_lsb']} / {opt['max_abs_diff_lsb']} LSB)" in row
    )
    assert "what a phone runs" in text and "reference kernels" in text
    from export.manifest import Manifest

    bench_rows = tables.rows(Manifest.read(root / "export" / "manifest.json"), "lenet5")
    assert "| lenet5 " in "\n".join(tables.bench_lines({"mcu": bench_rows}))
    # a bench.json from before the vs-LiteRT column still renders, with "-" in it
    old = [r[:-2] + r[-1:] for r in bench_rows]
    old_text = "\n".join(tables.bench_lines({"mcu": old}))
    assert "| lenet5 " in old_text and re.search(r"\|\s+-\s+\|", old_text)
    assert tables.section([]) == []
    line = tables.summary_line(art)
    assert line.startswith(f"tflm: arena {m['arena_bytes']:,} B measured") and "\n" not in line


def test_report_md_has_the_mcu_figures_table(tflm_export, tmp_path):
    """``edgezoo run``'s report.md reads the export's manifest: the "MCU figures" section."""
    import shutil

    from edgezoo.report import write_report

    root, _, art = tflm_export
    shutil.copytree(root / "export", tmp_path / "export" / "lenet5-tflm")
    state = {"identity": {"model": "lenet5", "dataset": "digits"}, "stages": {}}
    text = write_report(tmp_path, state).read_text()
    section = text.split("## MCU figures (TFLM)", 1)[1]
    assert "| lenet5-tflm " in section and f"{art['tflm']['arena_bytes']:,}" in section
    assert "what a phone runs" in section


@pytest.mark.slow  # ~50 s here: bench measures the GEMM peak and the LiteRT/Keras rows too
def test_bench_md_has_the_mcu_figures_table(tflm_export, tmp_path):
    """``edgezoo bench`` of an export with a TFLM artifact: bench.json's "mcu" rows and the
    "MCU figures" table in bench.md, read from the manifest (no CPU runtime for TFLM)."""
    from export.bench import bench_export

    root, _, art = tflm_export
    data = bench_export(
        root / "export",
        out=tmp_path / "bench",
        batches=(1,),
        threads=(1,),
        budget_s=0.05,
        runs=20,
        warmup=1,
        progress=lambda *a: None,
    )
    assert len(data["mcu"]) == 1 and data["mcu"][0][1] == f"{art['tflm']['arena_bytes']:,}"
    text = (tmp_path / "bench" / "bench.md").read_text()
    assert "MCU figures (TFLM):" in text and f"{art['tflm']['flash_bytes']:,}" in text
    assert "code size" in text and "No microcontroller latency" in text


def test_the_anomaly_detection_autoencoder_takes_no_more_flash_than_mlperfs(tmp_path):
    """Dense weights per tensor and no names: the AD file is at most MLPerf's 276,976 B; per
    channel, every output's scale and int64 zero point (weights and bias) cost ~40 KB more."""
    import zoo
    from export import ExportData, export_model

    model = zoo.create_model("toyadmos_ae")
    rng = np.random.default_rng(0)
    for layer in model.layers:  # biases and BN statistics away from their initial zeros
        if layer.get_weights():
            ws = [
                w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype) for w in layer.get_weights()
            ]
            if type(layer).__name__ == "BatchNormalization":
                ws[3] = np.abs(ws[3]) + 0.5
            layer.set_weights(ws)
    x = rng.standard_normal((48, 640)).astype(np.float32)
    data = ExportData.from_arrays(x[:32], x[32:], None)
    sizes = {}
    for per_channel in (False, True):
        man = export_model(
            model,
            tmp_path / str(per_channel),
            data=data,
            task="reconstruction",
            to=("tflm",),
            tflm_dense_per_channel=per_channel,
            fail_on_parity=False,
        )
        sizes[per_channel] = man["artifacts"][0]["tflm"]["flash_bytes"]
    assert sizes[False] <= 276_976 < 300_000 < sizes[True]
    assert man["artifacts"][0]["tflm"]["arena_bytes"] > 0


def test_a_softmax_tflm_would_abort_on_is_refused_before_the_interpreter(tmp_path):
    """Constant logits calibrate to a scale TFLM's int8 softmax aborts the process on."""
    import keras

    from export import ExportData, ExportFailed, export_model

    i = keras.Input((8,))
    logits = keras.layers.Dense(3, kernel_initializer="zeros")(i)
    model = keras.Model(i, keras.layers.Softmax()(logits), name="flat")
    x = np.random.default_rng(0).random((24, 8), dtype=np.float32)
    with pytest.raises(ExportFailed, match=r"SOFTMAX input scale .*\(TFLM would abort\)"):
        export_model(model, tmp_path / "o", data=ExportData.from_arrays(x, x, None), to=("tflm",))
    # without that check, TFLM aborts: the probe's child process dies, this one reports it
    from export.errors import ExportError
    from export.targets.tflm import micro

    with pytest.raises(ExportError, match="TFLM interpreter was killed by SIGABRT"):
        micro.probe(micro.convert(model, "keras", x))


def test_a_qkeras_model_runs_in_tflm_at_batch_one(tmp_path):
    """The tf-keras world (QKeras) converts from a batch-1 concrete function; its quantizers'
    float ops are TFLM ops too."""
    import tf_keras as k
    from qkeras import QActivation, QDense

    from export import ExportData, export_model

    q = "quantized_bits(6,0,alpha=1)"
    i = k.Input((16,))
    x = QActivation("quantized_relu(6)", name="r1")(
        QDense(16, kernel_quantizer=q, bias_quantizer=q, name="fc1")(i)
    )
    x = QDense(4, kernel_quantizer=q, bias_quantizer=q, name="fc2")(x)
    model = k.Model(i, k.layers.Activation("softmax")(x), name="qmlp")
    x = np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)
    man = export_model(
        model, tmp_path / "o", data=ExportData.from_arrays(x, x[:32], None), to=("tflm",)
    )
    art = man["artifacts"][0]
    assert man["source"]["world"] == "tf_keras" and art["parity"]["passed"]
    assert art["io"]["input"]["shape"] == [1, 16] and art["tflm"]["arena_bytes"] > 0
    assert "FULLY_CONNECTED" in art["tflm"]["op_set"]
    assert "DEQUANTIZE" in art["tflm"]["float_ops"]  # QKeras' quantizers stay float math
    # LiteRT's reference kernels lack the float ROUND: said, and the goal judged on the optimized
    v = art["vs_litert"]
    assert "ROUND" in v["same_file_reference"]["error"] and v["goal"]["judged_on"] == "same_file"
    assert v["same_file"]["n"] == 32 and v["same_file"]["within_1_lsb"] >= 0.99


def test_bench_mlperf_has_the_tflm_arena_of_every_mlperf_reference_file():
    """MLPerf's own int8 files through the same TFLM: a figure per MLPerf model of the zoo."""
    from edgezoo.experiments.mlperf import MLPERF_TFLM_ARENA, mlperf_models

    assert set(MLPERF_TFLM_ARENA) == set(mlperf_models())
    assert MLPERF_TFLM_ARENA["ds_cnn"] == 24_272  # kws_ref_model.tflite (53,936 B)
