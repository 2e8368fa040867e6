"""bench-compat: Keras Applications models through import and the export targets (a fast subset:
EfficientNetB0's ONNX regression, one MobileNetV3Small row end to end)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.xdist_group("export")


def test_efficientnet_onnx_is_self_contained(tmp_path):
    """EfficientNet's Normalization statistics used to become extra ONNX graph inputs."""
    import keras
    import onnx

    import zoo  # noqa: F401
    from export.targets.onnx.convert import export_onnx, run_onnx

    m = keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10)
    norm = next(la for la in m.layers if type(la).__name__ == "Normalization")
    norm.mean = norm.mean + 0.25  # a statistic that is not the default 0, so a dropped one shows
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    ref = np.asarray(m(x))
    path = export_onnx(m, tmp_path / "m.onnx", sample=x)
    inputs = [i.name for i in onnx.load(str(path)).graph.input]
    assert len(inputs) == 1, inputs
    assert np.abs(run_onnx(path, x) - ref).max() < 1e-4
    assert not isinstance(norm.mean, np.ndarray)  # the layer is as it was


@pytest.mark.slow  # a whole matrix row (fit, save, import twice, six artifacts): make test-all
def test_bench_compat_row(tmp_path):
    from edgezoo.experiments.compat import bench_compat

    doc = tmp_path / "compat.md"
    res = bench_compat(
        tmp_path / "run",
        models=["MobileNetV3Small"],
        epochs=2,
        n_train=256,
        n_test=32,
        rounds=1,
        budget_s=0.02,
        doc=doc,
        progress=lambda m: None,
    )
    row = res["rows"][0]
    assert row["steps"]["fit"]["status"] == "pass"
    assert row["steps"]["import .keras"]["status"] == "pass"
    # tf-keras' MobileNetV3 records raw TF ops: the .h5 import refuses them in one line
    h5 = row["steps"]["import .h5"]
    assert h5["status"] == "refused" and "TFOpLambda" in h5["error"]
    arts = row["artifacts"]
    for k in ("onnx/fp32", "tflite/fp32", "openvino/fp32"):
        assert arts[k]["status"] == "pass", (k, arts[k])
        assert arts[k]["informative"] is True, (k, arts[k])
    assert set(arts) >= {"onnx/int8", "tflite/int8", "openvino/int8"}
    assert not row["hls4ml"]["accepted"] and "parameters >" in row["hls4ml"]["reason"]
    text = doc.read_text()
    assert "| MobileNetV3Small | 32x32x3 |" in text and "tensorflow 2.21" in text
    assert json.loads((tmp_path / "run" / "compat.json").read_text())["rows"][0]["model"]


def test_bench_compat_unknown_model_is_one_line():
    p = subprocess.run(
        [sys.executable, "-m", "edgezoo", "bench-compat", "--models", "MobileNetV9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0
    err = [line for line in p.stderr.splitlines() if line.strip()]
    assert "MobileNetV9" in p.stderr and "MobileNetV3Small" in p.stderr
    assert not any("Traceback" in line for line in err), p.stderr
