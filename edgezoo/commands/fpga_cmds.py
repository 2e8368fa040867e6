"""``edgezoo bench-fpga``: QKeras 6-bit + 75% pruned against HGQ2 on RTL figures (da4ml,
Verilator, yosys), beside the published rows (:mod:`edgezoo.experiments.fpga`)."""

from __future__ import annotations

from edgezoo import names, ui
from edgezoo.commands._common import print_json


def _floats(s: str) -> tuple[float, ...]:
    return tuple(float(p) for p in s.split(",") if p.strip())


def _model_names_or_none(value: str) -> str:
    return value if not value.strip() else names.model_names(value)


def register(sub):
    p = sub.add_parser(
        "bench-fpga",
        help="benchmark: float, QKeras 6-bit + 75%% pruned and HGQ2 at several betas as "
        "bit-exact RTL (accuracy, cycles, LUT/FF/DSP, weight bits)",
    )
    p.add_argument(
        "--out", default="runs/bench-fpga", metavar="DIR", help="runs, fpga.json, fpga.md"
    )
    p.add_argument(
        "--models",
        default="jet_tagger,mlp",
        type=names.model_names,
        metavar="MODELS",
        help="comma-separated dense zoo models, trained on the digits",
    )
    p.add_argument(
        "--conv-models",
        default="lenet5",
        type=_model_names_or_none,
        metavar="MODELS",
        help="comma-separated small CNNs: float, hls4ml io_stream C simulation only ('' = none)",
    )
    p.add_argument(
        "--betas", default="2e-5,6e-5", type=_floats, metavar="B1,B2", help="final HGQ2 betas"
    )
    p.add_argument("--hgq-epochs", type=int, default=100, help="HGQ2 fine-tuning epochs")
    p.add_argument(
        "--yosys-cache",
        metavar="DIR",
        default=None,
        help="yosys results by the RTL's sha256, reused for identical RTL (default OUT/yosys-cache)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_bench_fpga)


def cmd_bench_fpga(args):
    from edgezoo.experiments.fpga import bench_fpga, markdown

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    res = bench_fpga(
        args.out,
        models=models,
        conv_models=[m.strip() for m in args.conv_models.split(",") if m.strip()],
        betas=args.betas,
        hgq_epochs=args.hgq_epochs,
        yosys_cache=args.yosys_cache,
        progress=ui.note,
    )
    if args.json:
        print_json(res)
    else:
        print(markdown(res))
        ui.note(f"written: {args.out}/fpga.json, {args.out}/fpga.md")
    return 0
