"""The ``hls4ml`` target: an HLS project with profiled (or searched) fixed-point precision,
verified by C simulation (:mod:`export.hls`, :mod:`export.precision`; synthesis when a vendor
tool is on PATH), and on request the same model as fully pipelined Verilog (variant ``rtl``,
:mod:`export.rtl`: da4ml, Verilator-simulated). No CPU runtime: the bench reports C-simulation
accuracy and synthesis figures instead of latency."""

from __future__ import annotations

from dataclasses import dataclass

from export.targets import Target, register
from zoo.core.options import option

VARIANTS = ("fixed", "rtl")


@dataclass
class Options:
    hls4ml: dict = option(
        {}, "hls4ml options (export.hls.HlsOptions fields; the CLI's --hls-* flags)", cli=False
    )

    def check(self):
        from export.hls.options import validated

        validated(self.hls4ml)


def _fixed(rec, model, world: str, opts):
    from export.hls.project import adopt, export_hls
    from export.precision import choose

    chosen, res, search = choose(
        rec, model, world, opts
    )  # precision="auto": C-simulated width search
    x_prof = rec.data.profile_set(chosen.profile_samples)
    if res is not None:  # the search's C-simulated project of the chosen widths
        res = adopt(res, rec.out / "hls4ml", chosen)
    else:
        res = export_hls(
            model,
            rec.out / "hls4ml",
            world=world,
            x_profile=x_prof,
            x_test=rec.data.x_test,
            opts=chosen,
        )
    rec.csim_outputs = res.outputs
    # precision="auto" trades agreement for bits: the bound is the accuracy budget asked for
    budget = (
        {"max_accuracy_drop": chosen.accuracy_budget, "tie_tolerance": 0.01} if search else None
    )
    parity = rec.parity("hls4ml", "fixed", res.outputs, defaults=budget)
    info = dict(res.info)
    synthesis = info.pop("synthesis")
    extra = {"precision_search": search} if search else {}
    return rec.entry(
        res.project_dir,
        "hls4ml",
        "fixed",
        parity,
        hls4ml=info,
        synthesis=synthesis,
        calibration={"profiled_on": "train", "n": int(len(x_prof))},
        **extra,
    )


def export(rec, model, world: str):
    from export import hgq, rtl
    from export.hls.options import validated

    if hgq.is_hgq(model):  # HGQ2: precision from the model, both variants bit-exact to Keras
        return hgq.target_export(rec, model)
    opts = validated(rec.options.hls4ml)
    csim = rec.attempt("hls4ml", "fixed", lambda: _fixed(rec, model, world, opts))
    if rtl.wanted(model, opts.rtl):  # the same model as Verilog (da4ml), Verilator-simulated
        rec.attempt("hls4ml", "rtl", lambda: rtl.artifact(rec, model, opts, csim))


TARGET = register(
    Target(
        name="hls4ml",
        variants=VARIANTS,
        export=export,
        order=30,
        default_variants=("fixed",),
        options=Options,
        thresholds={
            "hls4ml/rtl": {
                "min_argmax_agreement": 0.98,
                "max_accuracy_drop": 0.01,
                "max_rel_error": 0.02,
                "tie_tolerance": 0.01,
            }
        },
        description="hls4ml HLS project (fixed point), C simulation; synthesis with Vivado/Vitis; Verilog (rtl)",
    )
)
