"""``docs/compatibility.md``: the bench-compat matrix as Markdown (written by the command)."""

from __future__ import annotations

import os

from edgezoo.experiments.archs import ARCHS

COLUMNS = ("onnx/fp32", "onnx/int8", "tflite/fp32", "tflite/int8", "openvino/fp32", "openvino/int8")


# Causes found by measurement while building this matrix (2026-12-04/05, AMD EPYC, 2 shared cores).
NOTES = (
    "ONNX (and OpenVINO, converted from it): EfficientNet's `Normalization` mean and variance were "
    "tensors captured by the traced function, which tf2onnx made extra graph inputs "
    "(`.../normalization_1/Sub/y:0`, `.../Sqrt/x:0`). `export/targets/onnx/convert.py` now makes them numpy "
    "constants for the export (`constant_statistics`) and fails any graph that still asks for an "
    "extra input in one line (`check_self_contained`).",
    "Inputs as the architecture expects them: fed [0, 1] images, MobileNetV3's built-in "
    "`Rescaling` mapped them to [-1, -0.992], two int8 steps, and TFLite int8 agreed with Keras "
    "on 12% of the argmaxes; fed `preprocess_input(0-255 images)` it agreed on 96%.",
    "Fresh weights are uninformative (the manifest's `informative` false, spread 0.00 for "
    "EfficientNetB0); a fit with BatchNormalization momentum 0 and then statistics of 256 samples "
    "under the final weights makes outputs depend on the input (reference spread in the table).",
    "TFLite int8 of MobileNetV3: LiteRT 2.3's XNNPACK delegate does not take int8 `HARD_SWISH` "
    "(conv -> hard_swish -> conv int8 splits into 2 delegate partitions, fp32 into 1; "
    "MobileNetV3Small's int8 file has 20 partitions against fp32's 2), so its int8 runs slower "
    "than fp32. Written as MUL/ADD/MINIMUM/RELU or MINIMUM/MAXIMUM/MUL/ADD it still splits.",
    "OpenVINO int8, batch 1 against batch 16 (the dynamic-batch check failed on every model, "
    "0.09-0.45): OpenVINO 2026.4.1's CPU plugin, given an NNCF int8 IR compiled with a dynamic "
    "batch, miscomputes batch 1 where a feature map is 1x1 (bisected by tapping outputs: "
    "MobileNet's `conv_dw_13` depthwise on [?,256,1,1], ResNet50V2's `conv5_block1_preact` ReLU "
    "on [?,1024,1,1], off by up to 424 on values of scale 2.6). Compiled for a static batch, "
    "batch 1 equals batch N exactly (ResNet50V2's argmax agreement with fp32 0.953 at batch 1, "
    "against 0.078 compiled dynamic). `export/openvino.py` now compiles every run for a static "
    "batch (the IR keeps `?`; reshape it before `compile_model`); "
    "`tests/test_compat.py` holds a small IR that shows it at a 4x4 input (not at 8x8).",
    "int8 that cannot hold a model: the Keras model itself moves under half an int8 input step "
    "by the row's `half-LSB input sensitivity`; over the int8 gate's rel_error 0.10 no runtime "
    "can pass. It tracks the fit: 3 epochs at Adam 1e-3 gave MobileNetV2 accuracy 0.33 and "
    "sensitivity 0.28 (all int8 failed), MobileNetV3Small 0.91 and 0.013 (ONNX and TFLite int8 "
    "passed); the fit is now 10 epochs at 3e-3 (MobileNetV2: 0.79, 0.048).",
    "EfficientNet int8: after the 10-epoch fit EfficientNetB0 has accuracy 0.84 and sensitivity "
    "0.012, yet every int8 misses (rel_error 0.17-0.26, argmax agreement 0.91-0.94). ONNX QDQ "
    "against fp32, every tensor compared in onnxruntime: no layer jumps; the error grows block "
    "by block (0.021 after the stem, 0.045 after block1a's depthwise, 0.15 at block4a, 0.30 at "
    "block7a's SE output). It is not the swish tensors alone: the 09:09 UTC row's EfficientNetB0 "
    "ONNX file quantized again on its first 128 training samples (rel_error 0.107, argmax 0.961; "
    "the export's own calibration samples gave 0.142), keeping all 65 Sigmoid and 83 Mul nodes "
    "float (`nodes_to_exclude`) gave 0.114; 256 calibration samples 0.129; percentile (99.99) "
    "calibration 0.098; signed activations 0.108. Per-tensor int8 of ~80 convolution outputs in "
    "series: the family's known limit (EfficientNet-Lite drops swish and SE for it). Only "
    "EfficientNetV2B0 passes int8 at all, run by run: in all three runtimes at 09:09 and 15:30 "
    "UTC, ONNX only at 13:05, ONNX and TFLite at 16:04.",
    "OpenVINO int8 against the other int8: NNCF's default activation ranges (per-sample, "
    "averaged) clipped ResNet50's activations: relative error 0.37 against fp32, while the ONNX "
    "QDQ file of the same run passed (0.073 in onnxruntime, 0.071 run by OpenVINO itself, so "
    "not the plugin). With `RangeEstimatorParametersSet.MINMAX` (min/max over the calibration "
    "set, as ONNX and TFLite take them) 0.047; bias correction on or off changed nothing "
    "(0.37-0.38). `export/openvino.py` uses MINMAX since 2026-12-05 01:01 UTC: openvino/int8 "
    "cells of rows dated before that were quantized with NNCF's default.",
    "VGG16 (no BatchNormalization) did not learn at Adam 3e-3 (accuracy 0.12, reference spread "
    "0.001: its passes said nothing). It now fits at Adam 1e-4 (`archs.py`, the architecture's "
    "own rate): accuracy 0.92, spread 0.32, all six artifacts pass (row of 2026-12-05 09:51 UTC).",
    "mnist_cnn: the SpaceToDepth stem rewrite (export/rewrite.py) on its 3x3 `same` stem made "
    "TFLite int8 slower; it now applies to kernels >= 5 only (lenet5's 5x5 keeps its gain).",
    "ConvNeXt import: its `LayerScale` and `StochasticDepth` live in "
    "`keras.src.applications.convnext`, outside Keras' public namespaces, so the safe loader "
    "refused the `.keras` file as custom code. Keras Applications' own layers now load as Keras "
    "code (`zoo/imported/policy.py`); the same names from another module are still refused.",
    "ConvNeXt export: its depthwise convolutions are `Conv2D(groups=channels)`, which Keras' "
    "TensorFlow backend runs as a nested XLA function; tf2onnx left it as a "
    "`StatefulPartitionedCall` node and `onnx.checker` refused the file. The ONNX export writes "
    "them as `DepthwiseConv2D` (`export/rewrite.py`, `grouped_conv`); any other grouped Conv2D "
    "is refused naming the layer.",
    "EfficientNetV2 `.h5`: tf-keras writes its `tf.constant_initializer(0)` under TensorFlow's "
    "`init_ops_v2` module, which the import refused as foreign code; Keras' initializer names "
    "from that module now load (any other TensorFlow module is still refused).",
    "ConvNeXt after those two fixes (ConvNeXtTiny row of 2026-12-05 08:01 UTC): its exact GELU "
    "(`Activation('gelu')`) reached ONNX as an `Erfc` node, which is no ONNX operator, and the "
    "export was refused. The ONNX export now computes Keras' exact GELU as "
    "`0.5 x (1 + erf(x / sqrt 2))` (ONNX `Erf`, the same function; "
    "`export/targets/onnx/convert.py`, `erf_gelu`); ConvNeXtTiny's six artifacts then passed "
    "(re-export of that row's import: fp32 max|diff| 2.1e-06 ONNX, 4.0e-06 TFLite, 4.1e-06 "
    "OpenVINO; int8 argmax agreement 1.000 / 0.992 / 0.992).",
    "`.h5` of MobileNetV3 and ConvNeXt: tf-keras records their `x + 3.0`, `x * (1/6)`, `x * y` "
    "and residual `a + b` as raw TensorFlow ops (`TFOpLambda`), which the import refused. A file "
    "whose raw ops are only elementwise arithmetic (`zoo/imported/policy.py`, `PURE_TF_OPS`) now "
    "loads in the tf-keras world (Keras 3 has no TFOpLambda); a `TFOpLambda` naming any other "
    "TensorFlow function is still refused by name. ConvNeXt's `.h5` also names `LayerScale` by "
    "class name only, which tf-keras did not find: Keras Applications' own layers are now in "
    "every loader's custom objects, per world.",
    "`.h5` of DenseNet121: tf-keras names layers `conv1/conv`, and Keras 3 refuses a `/` in a "
    "layer name, so the rebuild in Keras 3 failed. Such names are renamed `conv1_conv` (unique) "
    "everywhere the config names them, the weights follow, and `config.json` records the "
    "renaming (`renamed_layers`).",
    "MobileNet (alpha 0.25, 32x32) int8 comes and goes with the fit: five 10-epoch fits with "
    "the same options gave test accuracy 0.67-0.82 and half-LSB input sensitivity 0.022-0.106 "
    "(the fit is not bit-reproducible across thread schedules), and its int8 rows passed 5 of 6 "
    "or 0 of 6 accordingly. Alpha 0.5 (0.044-0.049), 20 epochs (0.019-0.060), 48x48 inputs "
    "(0.074-0.140) or a cosine-decayed rate (0.065-0.157) did not make it reliably smaller "
    "(2 seeds each, measured 2026-12-05).",
    "Input-sensitive fits are redone with input noise (since 2026-12-05 12:21 UTC; "
    "`compat_fit.fit_informative`): a clean fit whose model moves more than 0.02 (a fifth of the int8 "
    "gate's rel_error 0.10) under half an int8 input step is fit again from fresh weights with "
    "Gaussian noise of 0.05 of the input range on every training batch (training's "
    "`input_noise`), and the less sensitive of the two models is kept; the row's fit line says "
    "which. Measured on TFLite int8 of the same fit with and without noise: MobileNet rel_error "
    "0.130 -> 0.089 and 0.152 -> 0.082 (seeds 0 and 1), MobileNetV2 0.180 -> 0.059. Noise on "
    "every row's fit instead (12:11 UTC run) passed MobileNetV2 and MobileNetV3Large in all three "
    "runtimes but cost EfficientNetV2B0 (accuracy 0.91 -> 0.77) and ResNet50V2 (0.92 -> 0.86) "
    "their int8 passes, so rows under the bound keep their clean fit. Label smoothing 0.1 or "
    "AdamW weight decay 0.05 did not help EfficientNetB0 (TFLite int8 rel_error 0.154 and 0.142 "
    "against 0.128 clean, same seed). In the 13:05 UTC whole-list run two rows were over the "
    "bound: MobileNetV2 (0.036) was refit to 0.011 and passed int8 in all three runtimes; "
    "MobileNet's refit came out more sensitive (0.044 against 0.038), so its clean fit was kept, "
    "and its int8 missed in all three. In the 16:04 UTC run both were refit again: MobileNetV2 "
    "(0.013 kept) passed in all three, MobileNet (0.049 kept) missed in all three.",
    "The fit ends after the first epoch whose training accuracy reaches 0.9 (`bench-compat "
    "--until-accuracy`, since 2026-12-05 14:51 UTC; at most `--epochs` 10): the big models are "
    "informative after 2-6 epochs and spent the rest of a fixed 10. Measured alone first "
    "(training / test accuracy and seconds by epoch): Xception 0.92 / 0.88 at 81 s of 251 s, "
    "ConvNeXtTiny 0.93 / 0.84 at 98 s of 229 s, ResNet50 0.93 / 0.86 at 36 s (epoch 4). In the "
    "whole-list runs the fits went from 2,278 s (13:05 UTC, 10 epochs each) to 1,366 s (16:04 "
    "UTC), and the eight big models (ResNet50 and after) kept their int8 passes in all three "
    "runtimes at a lower test accuracy (0.85-0.91 at 16:04 UTC against 0.82-0.96 at 13:05); "
    "EfficientNetB1-B3, V2B1 and V2B2 never reached 0.9 and ran all 10 epochs.",
    "OpenVINO int8 bias correction (since 2026-12-05 14:51 UTC; the room to spare since 16:04 "
    "UTC): NNCF's fast one first, the full "
    "one (`fast_bias_correction=False`) unless the fast model meets the int8 bounds with half "
    "their relative error and disagreement on 128 training samples outside the calibration set "
    "(never the parity samples; the manifest records which, why and the fast model's figures). "
    "The full one took DenseNet121 73.6 s against 9.9 s; the fast one alone failed ResNet-8 "
    "(agreement 0.72, rel_error 0.33 there) and, held to the bounds themselves, passed "
    "InceptionV3 on the selection samples and missed its parity gate (rel_error 0.105, 15:30 "
    "UTC run). In the "
    "16:04 UTC run 6 rows kept the fast one (Xception, ConvNeXtTiny, VGG16, ResNet50V2, "
    "InceptionV3, MobileNetV3Small), all passing.",
    "Why EfficientNet B0-B3, V2B1 and V2B2 miss int8 in every runtime (16:04 UTC run), as far "
    "as measured: no "
    "layer is at fault. LiteRT's QuantizationDebugger on EfficientNetB0's TFLite int8 (the 09:09 "
    "UTC row's model) puts every tensor's rounding error at 0.30-0.53 of its quantization step "
    "(0.29 is plain rounding), the 25 worst spread over SE reductions, sigmoids and depthwise "
    "outputs. The family's layer outputs are heavy-tailed: range over standard deviation (128 "
    "training samples, each Keras layer's output) has a median of 16.5-19.8 in the seven "
    "EfficientNets against 8.7-11.8 in ResNet50, DenseNet121, NASNetMobile, Xception and VGG16, "
    "which pass with room to spare, so a per-tensor int8 range set by the tails leaves about half "
    "as many steps per standard deviation, over about 80 quantized convolutions in series. It is "
    "not the whole reason: EfficientNetV2B0 (median 17.0) passed in all three in its 09:09 UTC "
    "row, and ConvNeXtTiny "
    "(19.5; 90th percentile 63.4, the highest) passes with argmax agreement 0.99 (models of the "
    "09:09 UTC run; the converters quantize convolutions after folding BatchNormalization into "
    "them, which these Keras outputs precede).",
    "Time: the whole list ran in 1,906 s (31 min 46 s) of wall time with `--jobs 2` "
    "(2026-12-05 16:04 UTC; 2,895 s user + 400 s system CPU; the rows' own times sum to 3,451 s, "
    "two at a time: fits 1,366 s, exports 1,443 s, the two imports 335 s, the int8 timings, run "
    "alone after the rows, 191 s). The 30-minute goal is not met, by 106 s. The same list took "
    "2,681 s at 13:05 UTC; since then the fit ends at training accuracy 0.9 (above), OpenVINO "
    "int8 takes NNCF's fast bias correction where it has room (above), the TFLite int8 reuses "
    "the float variants' SavedModel when no rewrite applies (a second one took DenseNet121 "
    "18 s), each worker's TensorFlow uses one thread of the two cores (two fits at once: 53 -> "
    "48 s), and the int8 timing at batch 256 warms up once and takes at least 3 calls "
    "(Xception's fp32 calls take 2.8 s: 91 samples/s). Runs in between, with part of these changes: 2,027 s "
    "(14:51 UTC) and 1,932 s (15:30 UTC). A fit's first epoch carries the tracing of the train function "
    "(ResNet50 alone: 21 s, then 4 s per epoch; XLA, `jit_compile=True`, was slower: 34 s, "
    "then 10 s). What is left is mostly conversion: tf2onnx's graph optimizer took 27.5 s of "
    "a 52-s ONNX fp32 export of ConvNeXtTiny (profiled), and an import traces Keras' predict and "
    "test functions (14 of NASNetMobile's 30 s).",
    "int8 slower than fp32 or under 1.5x (the speed column's exceptions, 16:04 UTC run: 7 of "
    "the 12 timed rows meet both goals), by measurement in the same row: MobileNetV3Small and "
    "Large (int8 HARD_SWISH, above: 20 and 22 XNNPACK partitions against 2; the best verified "
    "int8 is OpenVINO's at 0.81x, batch-1 p50 203 against 78 us, and ONNX Runtime's at 0.34x); "
    "NASNetMobile's OpenVINO int8 is 2.08x at batch 256 but its batch-1 p50 1,108 us against "
    "1,093 (1.4% slower); ConvNeXtTiny's best int8 within the accuracy goal is ONNX Runtime's at "
    "1.48x; MobileNetV2 1.45x (TFLite int8 against TFLite fp32, batch-1 p50 32 against 51 us): "
    "both files run as one XNNPACK partition, so it is not the delegate, and no per-op profile "
    "was taken: that reason is not measured.",
    "EfficientNet's TFLite files, fp32 as well as int8, have 17-27 XNNPACK partitions: each "
    "squeeze-and-excitation block's `Reshape((1, 1, C))` takes its batch size from the dynamic "
    "batch dimension (`SHAPE`, `STRIDED_SLICE`, `PACK` before `RESHAPE`: 16 of each in "
    "EfficientNetB0), ops the delegate does not take. Written as a reshape to `(-1, 1, 1, C)` "
    "the int8 graph was one partition with the same outputs, but no faster (EfficientNetV2B0, "
    "1 thread: 6,037 vs 6,186 samples/s at batch 256, p50 242 vs 245 us at batch 1): the "
    "partitions cost nothing measurable here, so the rewrite was not kept. NASNetMobile's int8 file has 37 partitions "
    "against fp32's 16: its `same`-padded AVERAGE_POOL_2D (28 left in int8) has no int8 XNNPACK "
    "kernel, and only valid-padded pools are rewritten as depthwise convolutions.",
    "The int8 timing column: after the redesign the row's timing read the export manifest as a "
    "dict, and every row's bench step failed (`'Manifest' object is not subscriptable`) until "
    "2026-12-05 07:40 UTC; rows dated after that are timed.",
)


def _cell(key: str, a: dict | None) -> str:
    if a is None:
        return "-"
    if a["status"] != "pass":
        return "**fail**"
    if key.endswith("fp32") and a.get("max_abs_diff") is not None:
        return f"pass {a['max_abs_diff']:.1e}"
    agree = a.get("argmax_agreement")
    return "pass" if agree is None else f"pass {agree:.3f}"


def _step(row: dict, what: str) -> str:
    s = row["steps"].get(what)
    return "-" if s is None else s["status"]


def _informative(row: dict) -> str:
    a = (row.get("artifacts") or {}).get("onnx/fp32") or {}
    if "informative" not in a:
        return "-"
    spread = a.get("reference_spread")
    return (
        f"{'yes' if a['informative'] else 'NO'} ({spread:.2f})" if spread else str(a["informative"])
    )


def _bench(row: dict) -> str:
    b = row.get("int8_bench") or {}
    if not b:
        return "-"
    if "error" in b:
        return "no int8 verified"
    return (
        f"{b['best_int8_b256']} {b['int8_b256_sps']:,.0f} vs {b['best_fp32_b256']} "
        f"{b['fp32_b256_sps']:,.0f} ({b['speedup_b256']:.2f}x); b1 p50 {b['int8_b1_p50_us']:,.0f} "
        f"vs {b['fp32_b1_p50_us']:,.0f} us"
    )


def _partitions(row: dict) -> str:
    parts = row.get("xnnpack_partitions") or {}
    if not parts:
        return ""
    return "; XNNPACK partitions " + ", ".join(f"{k} {v}" for k, v in sorted(parts.items()))


def _ran(result: dict) -> list[str]:
    """The rows the last run made (dated from its start on; the others are kept from earlier)."""
    start = result.get("created") or ""
    return [r["model"] for r in result["rows"] if (r.get("created") or "") >= start]


def _load(load) -> str:
    return "-" if not load else "/".join(f"{x:.1f}" for x in load)


def column_counts(result: dict) -> dict:
    """``{column: "passed/rows"}`` for the imports and every artifact column."""
    rows, n = result["rows"], len(result["rows"])
    out = {k: sum(_step(r, k) == "pass" for r in rows) for k in ("import .keras", "import .h5")}
    for k in COLUMNS:
        out[k] = sum(
            ((r.get("artifacts") or {}).get(k) or {}).get("status") == "pass" for r in rows
        )
    return {k: f"{v}/{n}" for k, v in out.items()}


def summary(result: dict) -> dict:
    rows = [r for r in result["rows"] if r.get("artifacts")]
    n = len(result["rows"])

    def ok(r, keys):
        return all((r["artifacts"].get(k) or {}).get("status") == "pass" for k in keys)

    fp32 = sum(
        _step(r, "import .keras") == "pass"
        and ok(r, ("onnx/fp32", "tflite/fp32", "openvino/fp32"))
        and (r["artifacts"]["onnx/fp32"].get("informative") is True)
        for r in rows
    )
    int8 = sum(ok(r, ("onnx/int8", "tflite/int8", "openvino/int8")) for r in rows)
    any8 = sum(
        any(
            (r["artifacts"].get(k) or {}).get("status") == "pass"
            for k in ("onnx/int8", "tflite/int8", "openvino/int8")
        )
        for r in rows
    )
    benches = [r.get("int8_bench") or {} for r in rows]
    timed = [b for b in benches if "speedup_b256" in b]
    fast = sum(
        b["speedup_b256"] >= 1.5 and b["int8_b1_p50_us"] <= b["fp32_b1_p50_us"] for b in timed
    )
    return {
        "models": n,
        "fp32_all_informative": fp32,
        "int8_all_three": int8,
        "int8_any": any8,
        "int8_timed": len(timed),
        "int8_fast": fast,
    }


def markdown(result: dict) -> str:
    c = result["conditions"]
    cpu = (c.get("lscpu") or {}).get("model") or c.get("cpu") or "?"
    v = result["versions"]
    s = summary(result)
    lines = [
        "# Keras Applications compatibility matrix",
        "",
        f"Generated by `edgezoo bench-compat` on {result['created']}; machine: {cpu}, "
        f"{os.cpu_count()} cores, load {c.get('load_before')} before, {c.get('load_after')} "
        f"after (a shared, loaded machine: timings compare only within one row's interleaved "
        f"run). Versions: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)) + ".",
        "",
        f"Options: {result['options']}; {len(result['rows'])} of the {len(ARCHS)} listed "
        f"architectures ({', '.join(r['model'] for r in result['rows'])}), "
        f"{sum(r.get('seconds') or 0 for r in result['rows']):,.0f} s summed over their rows "
        f"(each row's own time, date and load below; the last run, of "
        f"{', '.join(_ran(result)) or '?'}, took {result.get('seconds', '?')} s of wall time with "
        f"{(result.get('options') or {}).get('jobs', 1)} row(s) at once). Not run: "
        f"{', '.join(a for a in ARCHS if a not in {r['model'] for r in result['rows']}) or 'none'}.",
        "",
        f"Summary: {s['models']} models; import + ONNX/TFLite/OpenVINO fp32 parity passed on "
        f"informative outputs: {s['fp32_all_informative']}/{s['models']}; int8 passed its gates "
        f"in all three runtimes: {s['int8_all_three']}/{s['models']}, in at least one: "
        f"{s['int8_any']}/{s['models']}; best verified int8 >= 1.5x best fp32 at batch 256 "
        f"with a batch-1 p50 no slower: {s['int8_fast']} of the {s['int8_timed']} timed.",
        "",
        "Passed per column: " + ", ".join(f"{k} {v}" for k, v in column_counts(result).items()),
        "",
        "Cells: fp32 `pass max|diff|`; int8 `pass argmax agreement`; informative: the "
        "manifest's `informative` (reference spread).",
        "",
        "| model | input | params | fit acc | informative | import .keras | .h5 | "
        + " | ".join(COLUMNS)
        + " | hls4ml |",
        "|" + "---|" * (8 + len(COLUMNS)),
    ]
    for r in result["rows"]:
        arts = r.get("artifacts") or {}
        h5 = _step(r, "import .h5") if _step(r, "save .h5") == "pass" else "not written"
        hls = r.get("hls4ml") or {}
        lines.append(
            f"| {r['model']} | {'x'.join(map(str, r['input']))} | {r.get('params', 0):,} | "
            f"{r.get('keras_accuracy_after_fit')} | {_informative(r)} | "
            f"{_step(r, 'import .keras')} | {h5} | "
            + " | ".join(_cell(k, arts.get(k)) for k in COLUMNS)
            + f" | {'accepted' if hls.get('accepted') else 'refused'} |"
        )
    lines += ["", "## Causes found and what was done", ""] + [f"- {n}" for n in NOTES]
    lines += ["", "## int8 against fp32 (batch 256 samples/s, batch 1 p50; 1 thread)", ""]
    lines += [
        f"- **{r['model']}** (half-LSB input sensitivity {r.get('input_sensitivity', '-')}): "
        f"{_bench(r)}{_partitions(r)}"
        for r in result["rows"]
    ]
    lines += ["", "## Failures, refusals and sizes", ""]
    for r in result["rows"]:
        lines.append(
            f"- **{r['model']}** ({r.get('seconds', '?')} s, {r.get('created', '?')}, "
            f"at most {(r.get('options') or {}).get('epochs', '?')} fit epochs, load "
            f"{_load(r.get('load_before'))}): hls4ml "
            f"{'accepted' if (r.get('hls4ml') or {}).get('accepted') else 'refused'}: "
            f"{(r.get('hls4ml') or {}).get('reason')}"
        )
        if r.get("informative_by"):
            lines.append(f"  - made informative by: {r['informative_by']}")
        times = [f"{k} {v['seconds']}" for k, v in r["steps"].items() if v.get("seconds")]
        lines.append(f"  - seconds per step: {', '.join(times)}")
        for what, st in r["steps"].items():
            if st.get("status") in ("fail", "refused"):
                lines.append(f"  - {what}: {st['status']}: {st.get('error')}")
        for k, a in (r.get("artifacts") or {}).items():
            extra = f" -- {a['error']}" if a.get("error") else ""
            lines.append(f"  - {k}: {a['status']}, {a.get('bytes', 0):,} B{extra}")
    return "\n".join(lines)
