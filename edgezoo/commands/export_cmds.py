"""``edgezoo export`` and ``edgezoo bench-export``."""

from __future__ import annotations

import argparse
import sys

from edgezoo import names, ui
from edgezoo.commands._common import print_json
from zoo.core.tables import markdown_table


def register(sub):
    p = sub.add_parser(
        "export",
        help="export a model directory to ONNX / TFLite / hls4ml, each verified against Keras",
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="a model directory (config.json + model.keras)"
    )
    p.add_argument(
        "--to",
        default=",".join(names.default_targets()),
        type=names.target_names,
        metavar="TARGETS",
        help=f"comma-separated export targets: {', '.join(names.targets())} "
        f"(default: {','.join(names.default_targets())})",
    )
    p.add_argument("--out", metavar="EXPORT_DIR", help="output directory (default RUN_DIR/export)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a finished result of another model or command in --out (your files stay)",
    )
    _export_options(p)
    p.add_argument(
        "--json", action="store_true", help="print the manifest instead of the parity table"
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "bench-export",
        help="benchmark: export jet_tagger (float, pruned, QKeras+pruned) and "
        "lenet5 to every target; print the parity table",
    )
    p.add_argument(
        "--out",
        default="runs/bench-export",
        metavar="DIR",
        help="where the runs, exports and parity.md go",
    )
    p.add_argument(
        "--to",
        default=",".join(names.default_targets()),
        type=names.target_names,
        metavar="TARGETS",
        help=f"comma-separated export targets: {', '.join(names.targets())}",
    )
    p.add_argument(
        "--epochs", type=int, default=30, help="training epochs (EarlyStopping may stop sooner)"
    )
    p.add_argument(
        "--compress-epochs", type=int, default=10, help="fine-tuning epochs of pruning and QAT"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of training, compression and calibration"
    )
    p.add_argument("--limit", type=int, help="use only this many samples (quick runs)")
    p.add_argument("--quiet", action="store_true", help="no progress lines, only the parity table")
    p.set_defaults(func=cmd_bench_export)


def _export_options(p):
    from export import targets
    from export.api import _ExportOptions
    from zoo.core.options import add_arguments

    # Derived from the declarations: the common options, then each target's (export/targets/).
    add_arguments(p, _ExportOptions, group="parity and calibration")
    for t in targets.all_targets():
        if t.options is not None:
            add_arguments(
                p, t.options, group=f"{t.name} ({t.description})" if t.description else t.name
            )
    p.add_argument(
        "--allow-parity-failures",
        action="store_true",
        help="record failed parity thresholds in the manifest without failing the export",
    )
    from export.targets.hls4ml.options import HlsOptions

    add_arguments(
        p,
        HlsOptions,
        prefix="hls-",
        group="hls4ml (--hls-<option>: export.targets.hls4ml.options.HlsOptions)",
    )
    g = p._action_groups[-1]
    for old in (
        "backend",
        "io-type",
        "reuse-factor",
        "strategy",
        "part",
        "clock-period",
        "width",
        "precision",
        "synth",
    ):  # the spellings before --hls-*: accepted, hidden, with a warning
        g.add_argument(
            f"--{old}",
            dest="hls_" + old.replace("-", "_"),
            action=_Deprecated,
            new=f"--hls-{old}",
            help=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
        )
    for old, new in (
        ("rtl", "rtl"),
        ("yosys", "rtl_yosys"),
        ("rtl-latency-cutoff", "rtl_latency_cutoff"),
    ):
        g.add_argument(  # RTL became a target of its own (export/targets/rtl/): its --rtl-* flags
            f"--hls-{old}",
            dest=new,
            action=_Deprecated,
            new="--" + new.replace("_", "-"),
            help=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
        )


class _Deprecated(argparse.Action):
    """An old flag spelling: parsed (through the new flag's type and choices), with a warning."""

    def __init__(self, option_strings, dest, new, **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        new = parser._option_string_actions[self.new]
        value = parser._get_values(new, [values])
        print(f"warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, value)


def options_from_args(args) -> dict:
    from export.api import ExportOptions
    from export.targets.hls4ml.options import HlsOptions
    from zoo.core.options import from_args

    return {
        **from_args(ExportOptions, args),
        "fail_on_parity": not args.allow_parity_failures,
        "hls4ml": from_args(HlsOptions, args, prefix="hls-"),
    }


def _csv(s: str) -> tuple:
    return tuple(x.strip() for x in s.split(",") if x.strip())


def cmd_export(args):

    from export import ExportFailed, export_run
    from export.manifest import PARITY_HEADERS, Manifest, parity_rows, uninformative

    opts = options_from_args(args)
    if not args.json:
        opts["on_step"] = ui.steps()
    try:
        manifest = export_run(
            args.run_dir, to=_csv(args.to), out=args.out, force=args.force, **opts
        )
    except ExportFailed as exc:
        if exc.manifest and not args.json:
            print(
                markdown_table(parity_rows(Manifest.read(exc.manifest)), PARITY_HEADERS, "lrrllrl")
            )
        raise
    if args.json:
        print_json(manifest)
        return 0
    written = Manifest.from_dict(manifest)
    print(markdown_table(parity_rows(written), PARITY_HEADERS, "lrrllrl"))
    warn = uninformative(written)
    if warn:
        print(f"warning: {warn}")
    out = args.out or f"{args.run_dir.rstrip('/')}/export"
    ui.log_into(out)
    for a in written.artifacts:
        if (
            a.get("format") == "hls4ml"
            and a.get("variant") == "fixed"
            and not (a.get("synthesis") or {"run": 1}).get("run")
        ):
            print(f"hls4ml: synthesis not run ({a['synthesis'].get('why')}); C simulation only.")
        from export.targets.hls4ml.search import summary_line as precision_line
        from export.targets.rtl.artifact import summary_line as rtl_line
        from export.targets.tflm.tables import summary_line as tflm_line

        for line in (rtl_line(a), precision_line(a), tflm_line(a)):
            if line:
                print(line)
    print(f"manifest: {out}/manifest.json")
    return 0


def cmd_bench_export(args):
    from edgezoo.experiments.parity import bench_export_parity, markdown

    progress = (lambda m: None) if args.quiet else ui.say
    result = bench_export_parity(
        args.out,
        epochs=args.epochs,
        compress_epochs=args.compress_epochs,
        to=_csv(args.to),
        seed=args.seed,
        limit=args.limit,
        progress=progress,
        on_step=None if args.quiet else ui.steps(),
    )
    ui.log_into(args.out)
    print(markdown(result))
    print(f"written: {args.out}/parity.md, {args.out}/parity.json ({result['seconds']} s)")
    return 0
