"""The CLI's two kinds of failure: the user's error is one line (exit 2); a bug keeps its traceback
and asks to be reported (exit 1). Run in-process through ``edgezoo.cli.main``."""

from __future__ import annotations

import argparse

import pytest

import edgezoo.cli as cli
from compress.errors import CompressionError
from edgezoo.commands import _common
from edgezoo.pipeline import PipelineError
from edgezoo.recipe_schema import RecipeError
from export.errors import ExportError, ExportFailed, ExportOptionsError, UnsupportedModelError
from export.manifest import ManifestError
from training.cluster import ClusterUnreachableError, DistributeError, TFConfigError
from training.datasets.registry import DatasetError, DatasetUnavailableError
from training.errors import TrainingError
from training.imports import ModelImportError
from zoo.core.errors import EdgezooError
from zoo.core.io import ModelFileError
from zoo.core.locks import DirLockedError
from zoo.core.options import OptionError
from zoo.core.paths import RunDirError
from zoo.core.run_config import RunConfigError
from zoo.registry import ModelConfigError, UnknownModelError, UnknownOverrideError


def _run(monkeypatch, command) -> int:
    parsed = argparse.Namespace(func=command, command="x")
    monkeypatch.setattr(
        cli, "build_parser", lambda: argparse.Namespace(parse_args=lambda argv: parsed)
    )
    return cli.main([])


def test_bug_prints_traceback_and_report_hint(capsys, monkeypatch):
    def command(args):
        return 1 / 0

    assert _run(monkeypatch, command) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "ZeroDivisionError: division by zero" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("edgezoo x: internal error:") and "report it" in last


@pytest.mark.parametrize("exc", [ValueError("a bug"), TypeError("a bug"), KeyError("a bug")])
def test_plain_value_type_key_errors_are_bugs(capsys, monkeypatch, exc):
    """Before, every ValueError/TypeError was printed as one line: a bug lost its traceback."""

    def command(args):
        raise exc

    assert _run(monkeypatch, command) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and f"{type(exc).__name__}:" in err


@pytest.mark.parametrize(
    "exc",
    [
        EdgezooError("named thing: what to do"),
        OptionError("named thing: what to do"),
        FileNotFoundError(2, "No such file or directory", "my_data.npz"),
    ],
)
def test_user_error_is_one_line(capsys, monkeypatch, exc):
    def command(args):
        raise exc

    assert _run(monkeypatch, command) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("edgezoo x: error: ") and err.endswith(("what to do", "'my_data.npz'"))


def test_every_user_error_class_derives_from_edgezoo_error():
    """One base for the CLI; the second base (ValueError, KeyError, ...) keeps the Python API."""
    classes = {
        UnknownModelError: KeyError,
        ModelConfigError: ValueError,
        UnknownOverrideError: TypeError,
        ModelFileError: ValueError,
        RunDirError: ValueError,
        DirLockedError: ValueError,
        OptionError: ValueError,
        DatasetError: ValueError,
        DatasetUnavailableError: ValueError,
        TrainingError: RuntimeError,
        RunConfigError: ValueError,
        ModelImportError: ValueError,
        DistributeError: ValueError,
        TFConfigError: ValueError,
        ClusterUnreachableError: ValueError,
        CompressionError: ValueError,
        ExportError: RuntimeError,
        ExportOptionsError: ValueError,
        UnsupportedModelError: ValueError,
        ExportFailed: RuntimeError,
        ManifestError: ValueError,
        RecipeError: ValueError,
        PipelineError: ValueError,
    }
    for cls, second in classes.items():
        assert issubclass(cls, EdgezooError) and issubclass(cls, second), cls
        assert issubclass(cls, _common.USER_ERRORS), cls
    assert not issubclass(ValueError, _common.USER_ERRORS)
    assert not issubclass(TypeError, _common.USER_ERRORS)


def _write_into(path):
    """A real write that the file system refuses (the commands write like this)."""
    with open(path, "w") as f:
        f.write("x")


def test_a_full_disk_anywhere_in_the_chain_is_one_line(capsys, monkeypatch):
    """ENOSPC as libraries raise it: an OSError, or wrapped (h5py, TensorFlow) in another error.
    /dev/full is a real device that answers every write with ENOSPC."""

    def command(args):
        try:
            _write_into("/dev/full")
        except OSError as exc:
            raise RuntimeError("Unable to synchronously write data") from exc

    assert _run(monkeypatch, command) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("edgezoo x: error: no space left on the device")


def test_an_over_long_path_is_one_line(capsys, monkeypatch, tmp_path):
    def command(args):
        _write_into(tmp_path / ("n" * 300))

    assert _run(monkeypatch, command) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    long = str(tmp_path / ("n" * 300))
    assert "a path is too long" in err and long not in err  # shortened, with its length
    assert f"({len(long)} characters)" in err and "choose a shorter --out" in err
