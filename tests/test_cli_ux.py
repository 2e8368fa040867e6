"""The command line as a person meets it, run in subprocesses: complete --help with defaults,
one-line errors for wrong names before TensorFlow loads, no library noise on screen without
--verbose, progress lines that do not garble without a terminal, --version, python -m edgezoo."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from edgezoo import names
from edgezoo.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
NOISE = re.compile(
    r"oneDNN|cuInit|cuda|absl|I0000|W0000|E0000|fully_quantize|inference_type|tf2onnx|"
    r"Warning|WARNING|Traceback|\x1b\[|\r"
)


def env() -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100")
    e.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a person's shell: TensorFlow's defaults
    return e


def edgezoo(*argv, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "edgezoo", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
        timeout=timeout,
    )


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_and_flag_has_help_and_defaults_show():
    cmds = commands()
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "edgezoo", name, "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env(),
        )
        for name in cmds
    }
    main_help = edgezoo("--help").stdout
    for name, parser in cmds.items():
        out, err = procs[name].communicate(timeout=120)
        assert procs[name].returncode == 0 and not err, (name, err)
        assert name in main_help and f"usage: edgezoo {name}" in out
        flat = "".join(out.split())  # help text wraps (also at hyphens)
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (
                f"edgezoo {name}: {action.option_strings or action.dest} has no help text"
            )
            if action.option_strings:
                assert action.option_strings[0] in out, (name, action.option_strings)
                if (
                    action.default is not None
                    and action.default is not False
                    and "(default" not in action.help
                ):
                    assert f"(default:{action.default})".replace(" ", "") in flat, (
                        name,
                        action.option_strings,
                    )
            else:
                assert action.metavar and action.metavar.isupper(), (
                    f"edgezoo {name}: positional {action.dest}"
                )


def test_flag_names_mean_one_thing():
    cmds = commands()
    export_flags = cmds["export"]._option_string_actions
    assert {"--hls-strategy", "--hls-io-type", "--hls-backend", "--hls-reuse-factor"} <= set(
        export_flags
    )
    assert (
        export_flags["--strategy"].help == argparse.SUPPRESS
    )  # the old spelling: hidden, still parsed
    assert "tf.distribute" in cmds["train"]._option_string_actions["--strategy"].help
    from edgezoo.commands.export_cmds import options_from_args

    args = build_parser().parse_args(
        ["export", "RUN", "--hls-strategy", "Resource", "--hls-io-type", "io_stream"]
    )
    assert options_from_args(args)["hls4ml"] == {
        "strategy": "Resource",
        "io_type": "io_stream",
    }  # the rest: defaults
    old = build_parser().parse_args(
        ["export", "RUN", "--strategy", "Resource", "--reuse-factor", "4"]
    )
    assert options_from_args(old)["hls4ml"] == {
        "strategy": "Resource",
        "reuse_factor": 4,
    }  # converted like the new flag
    res = edgezoo("export", "--help")
    assert "--strategy " not in res.stdout and "--hls-strategy" in res.stdout


def test_static_name_index_equals_the_registries():
    from export import TARGETS
    from training.datasets.registry import DATASETS

    assert list(names.models()) == zoo.list_models()
    assert list(names.datasets()) == sorted(DATASETS)
    assert names.targets() == tuple(TARGETS)
    assert set(names.recipes()) == {p.stem for p in (ROOT / "edgezoo" / "recipes").glob("*.yaml")}


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "mlpp"], "Unknown model 'mlpp'. Did you mean: mlp?"),
        (["train", "mlp", "--dataset", "digit"], "Unknown data set 'digit'. Did you mean: digits"),
        (["info", "lenet"], "Unknown model 'lenet'. Did you mean: lenet5"),
        (["run", "mlp", "--recipe", "dmeo"], "Unknown recipe 'dmeo'. Did you mean: demo"),
        (
            ["export", "RUN", "--to", "onnx,tflit"],
            "Unknown export target 'tflit'. Did you mean: tflite",
        ),
        (["demo", "--models", "mlp,lenet"], "Unknown model 'lenet'"),
        (["train"], "the following arguments are required: MODEL"),
        (["export", "RUN", "--hls-strategy", "Fast"], "invalid choice: 'Fast'"),
    ],
)
def test_bad_names_are_one_line_and_never_load_tensorflow(argv, needle):
    """In a fresh interpreter, as `edgezoo ...` runs: exit 2, one line, TensorFlow never imported."""
    code = (
        "import sys; from edgezoo.cli import main; rc = main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules, rc)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env(),
        timeout=120,
    )
    assert res.stdout.split() == ["False", "2"], res.stdout + res.stderr
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith(f"edgezoo {argv[0]}: error: ")


def test_version_and_python_m():
    res = edgezoo("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"edgezoo {_version()}"
    script = Path(sys.executable).with_name("edgezoo")
    if script.exists():  # the console script prints the same
        assert (
            subprocess.run(
                [script, "--version"], capture_output=True, text=True, env=env(), timeout=60
            ).stdout
            == res.stdout
        )


def _version():
    from edgezoo import __version__

    return __version__


def test_verbose_shows_the_library_logs():
    """The quiet side is checked by the train/export test below."""
    loud = edgezoo("info", "mlp", "--verbose")
    assert loud.returncode == 0 and "parameters: 6,570" in loud.stdout
    assert loud.stderr.strip(), "--verbose shows TensorFlow's own start-up lines"


def test_train_and_export_print_only_edgezoo_lines(tmp_path):
    """A real small training and a TFLite export: progress lines and tables on screen, the
    libraries' logs in RUN_DIR/edgezoo.log."""
    run = tmp_path / "run"
    res = edgezoo(
        "train", "mlp", "--dataset", "digits", "--epochs", "2", "--limit", "200", "--out", run
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == "" and not NOISE.search(res.stdout), res.stdout + res.stderr
    assert re.search(r"^  train: 2/2 \[", res.stdout, re.M) and "| accuracy" in res.stdout
    log = (run / "edgezoo.log").read_text()
    assert log.startswith("==== edgezoo train")

    exp = tmp_path / "export"
    res = edgezoo("export", run, "--to", "tflite", "--tflite-variants", "fp32,int8", "--out", exp)
    assert res.returncode == 0, res.stderr
    assert res.stderr == "" and not NOISE.search(res.stdout), res.stdout + res.stderr
    assert "export: 2/2" in res.stdout and "tflite int8" in res.stdout and "manifest:" in res.stdout
    assert (exp / "edgezoo.log").read_text().startswith("==== edgezoo export")


def test_own_warnings_stay_on_screen_and_the_libraries_go_to_the_log(capsys):
    import io
    import warnings

    from edgezoo import ui

    screen = io.StringIO()
    with ui._route_warnings(screen):
        warnings.showwarning(
            "one replica only", UserWarning, str(ROOT / "training" / "distribute.py"), 1
        )
        warnings.showwarning(
            "distutils is deprecated", DeprecationWarning, "/site-packages/tfmot/__init__.py", 66
        )
    assert screen.getvalue() == "warning: one replica only\n"
    assert (
        "distutils is deprecated" in capsys.readouterr().err
    )  # sys.stderr: fd 2, the log, in a command
