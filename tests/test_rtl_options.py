"""The rtl target's options (``--rtl``, ``--rtl-latency-cutoff``, ``--rtl-yosys``) and the
spellings they had as hls4ml options, which keep working: hidden from --help, one deprecation
line each, the same value in the same place."""

from __future__ import annotations

import pytest

from edgezoo.cli import build_parser
from edgezoo.commands.export_cmds import options_from_args
from export import targets
from export.api import ExportOptions
from export.targets.hls4ml import options as hls_options

OLD_FLAGS = [  # (old argv, new flag, ExportOptions field, value it becomes)
    (["--hls-rtl", "yes"], "--rtl", "rtl", True),
    (["--hls-yosys", "no"], "--rtl-yosys", "rtl_yosys", False),
    (["--hls-rtl-latency-cutoff", "3"], "--rtl-latency-cutoff", "rtl_latency_cutoff", 3.0),
]


def _export_parser():
    return build_parser()._subparsers._group_actions[0].choices["export"]


@pytest.mark.parametrize("argv, new, field, value", OLD_FLAGS)
def test_each_old_rtl_flag_works_with_one_deprecation_line(argv, new, field, value, capsys):
    args = build_parser().parse_args(["export", "RUN", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: {argv[0]} is deprecated; use {new}"]
    opts = options_from_args(args)
    assert (
        opts[field]
        == options_from_args(build_parser().parse_args(["export", "RUN", new, argv[1]]))[field]
    )
    assert getattr(ExportOptions.from_kwargs(**opts), field) == value
    assert "hls4ml" not in opts or field not in opts["hls4ml"]


def test_old_rtl_flags_are_hidden_and_the_new_ones_shown():
    text = _export_parser().format_help()
    for argv, new, _, _ in OLD_FLAGS:
        assert argv[0] not in text and new in text
    assert "rtl (fully pipelined Verilog" in text  # the target's own group


def test_old_recipe_keys_work_with_one_deprecation_line_each(monkeypatch, capsys):
    from edgezoo.recipe_schema import validate_recipe

    monkeypatch.setattr(hls_options, "_SAID", set())  # once per process: this test starts afresh
    old = {"rtl": "auto", "yosys": "no", "rtl_latency_cutoff": 4, "reuse_factor": 2}
    validate_recipe({"export": {"to": ["hls4ml"], "hls4ml": dict(old)}}, "mlp")
    opts = ExportOptions.from_kwargs(hls4ml=dict(old))
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "warning: export.hls4ml.rtl is deprecated; use export.rtl (--rtl)",
        "warning: export.hls4ml.rtl_latency_cutoff is deprecated; use export.rtl_latency_cutoff "
        "(--rtl-latency-cutoff)",
        "warning: export.hls4ml.yosys is deprecated; use export.rtl_yosys (--rtl-yosys)",
    ]
    assert (opts.rtl, opts.rtl_yosys, opts.rtl_latency_cutoff) == ("auto", False, 4)
    assert opts.hls4ml.reuse_factor == 2
    # the manifest records the hls4ml options as given, without the keys that moved
    assert opts.record()["hls4ml"] == {"reuse_factor": 2}
    assert opts.record()["rtl"] == "auto"


def test_hls4ml_options_are_one_checked_object():
    from export.errors import ExportOptionsError
    from export.targets.hls4ml.options import HlsOptions

    opts = ExportOptions.from_kwargs(hls4ml={"reuse_factor": 4, "synth": "no"})
    assert isinstance(opts.hls4ml, HlsOptions) and opts.hls4ml.synth is False
    assert opts.record()["hls4ml"] == {"reuse_factor": 4, "synth": "no"}  # as given, as before
    given = HlsOptions(width=8)
    assert ExportOptions.from_kwargs(hls4ml=given).hls4ml is given
    assert ExportOptions.from_kwargs(hls4ml=given).record()["hls4ml"] == {"width": 8}
    with pytest.raises(ExportOptionsError, match="hls4ml: table_size must be a power of two"):
        ExportOptions.from_kwargs(hls4ml={"table_size": 100})
    with pytest.raises(ExportOptionsError, match="hls4ml.reuse_factor must be >= 1"):
        ExportOptions.from_kwargs(hls4ml={"reuse_factor": 0})
    with pytest.raises(ExportOptionsError, match="rtl_latency_cutoff must be a positive"):
        ExportOptions.from_kwargs(rtl_latency_cutoff=0)


def test_the_rtl_target_runs_when_named_or_asked_for_next_to_hls4ml():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    runs = targets.get("rtl").runs
    opts = ExportOptions.from_kwargs
    assert runs(("hls4ml", "rtl"), opts(), model) and runs(("rtl",), opts(rtl="auto"), model)
    assert not runs(("hls4ml",), opts(), model)  # as before: not unless asked for
    assert runs(("hls4ml",), opts(rtl="yes"), model)  # --rtl yes (or the old --hls-rtl yes)
    assert not runs(("hls4ml", "rtl"), opts(rtl="no"), model)
    assert not runs(("onnx",), opts(rtl="yes"), model)  # needs hls4ml or its own name


def test_rtl_parity_bounds_keep_their_manifest_key():
    """The rtl target's artifact is format hls4ml, variant rtl (as in earlier manifests): its
    bounds are keyed so, by the registry and by a user's --thresholds."""
    from export import parity
    from export.errors import ExportOptionsError

    assert targets.get("rtl").format == "hls4ml"
    assert parity.bounds("hls4ml", "rtl") == {
        **parity.bounds("*", "rtl"),
        **targets.get("rtl").thresholds["hls4ml/rtl"],
    }
    opts = ExportOptions.from_kwargs(thresholds={"hls4ml/rtl": {"min_argmax_agreement": 0.9}})
    assert parity.bounds("hls4ml", "rtl", opts.thresholds)["min_argmax_agreement"] == 0.9
    with pytest.raises(ExportOptionsError, match="rtl/rtl"):
        ExportOptions.from_kwargs(thresholds={"rtl/rtl": {"min_argmax_agreement": 0.9}})
