"""The command line: list, info, train, datasets, and one clear error line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import zoo
from edgezoo.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_has_every_card(capsys):
    code, out, _ = run(capsys, "list", "--json")
    cards = json.loads(out)
    assert code == 0 and [c["name"] for c in cards] == zoo.list_models()
    assert all(
        {"family", "task", "input_shape", "targets", "lecture", "params"} <= set(c) for c in cards
    )


def test_list_table_and_pattern(capsys):
    code, out, _ = run(capsys, "list", "jet_*")
    assert code == 0 and "jet_dnn" in out and "jet_tagger" in out and "lenet5" not in out


def test_info_lenet5_matches_lecture(capsys):
    code, out, _ = run(capsys, "info", "lenet5", "--json")
    info = json.loads(out)
    assert code == 0 and info["params"] == 61_706
    assert info["weights_bytes"] == {"fp32": 61_706 * 4, "fp16": 61_706 * 2, "int8": 61_706}
    conv = {r["name"]: r for r in info["layers"]}["c1_conv"]
    assert conv["output_shape"] == [None, 28, 28, 6] and conv["params"] == 156
    code, out, _ = run(capsys, "info", "lenet5")
    assert "c3_conv" in out and "61,706" in out and "int8" in out


def test_info_with_override(capsys):
    code, out, _ = run(capsys, "info", "mlp", "--set", "widths=[8]", "--json")
    assert json.loads(out)["params"] == 64 * 8 + 8 + 8 * 10 + 10


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["info", "lenet"], "Unknown model 'lenet'"),
        (["train", "mlp", "--dataset", "nope"], "Unknown data set 'nope'"),
        (["train", "mlp", "--epochs", "0"], "epochs=0"),
        (["info", "mlp", "--set", "oops"], "key=value"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_train_command_writes_a_run(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "train",
        "mlp",
        "--epochs",
        "2",
        "--limit",
        "300",
        "--quiet",
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 0 and "accuracy" in out and (tmp_path / "r" / "model.keras").exists()


def test_console_script_entry_point():
    res = subprocess.run(
        [sys.executable, "-m", "edgezoo.cli", "datasets"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "digits" in res.stdout and "jets" in res.stdout
