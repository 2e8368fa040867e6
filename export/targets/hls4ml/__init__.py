"""The ``hls4ml`` target: an HLS project with profiled (or searched) fixed-point precision,
verified by C simulation; synthesis when a vendor tool is on PATH. No CPU runtime: the bench
reports C-simulation accuracy and synthesis figures instead of latency.

Conversion
    Keras 3 models go through hls4ml's Keras-3 parser; tf-keras and QKeras models through its
    Keras-2 parser, which hls4ml 1.3 picks only when ``import keras`` is Keras 2 -- so ``keras``
    is made to resolve to ``tf_keras`` for the duration of the conversion and restored after
    (:func:`export.common.keras_module_as`). hls4ml reserves the layer name ``input``: a model
    whose input layer is called so (every zoo model) is converted through a renamed copy.

Precision (what makes the firmware agree with Keras), per layer (``granularity="name"``)
    * QKeras models: the quantizers' types, as ``config_from_keras_model`` reads them; the
      outputs of quantized Dense/Conv layers stay ``auto`` (hls4ml infers an exact accumulator).
    * Everything else: ranges profiled on calibration data from the training split -- integer
      bits so that the largest magnitude seen fits (plus ``headroom_bits``), the rest of a
      ``width``-bit word fractional; weights and biases sized the same way from their values;
      accumulators ``auto`` (exact). ``precision="auto"`` searches the widths (:mod:`.search`).
    * Softmax: the ``stable`` implementation needs one integer bit more on its input; its tables
      get ``ufixed<18,1>`` types sized for the number of classes (:mod:`.config`).
    * HGQ2 models: the precision of every tensor comes from the model (:mod:`.hgq`).

Modules: :mod:`.options` (HlsOptions), :mod:`.support` (what hls4ml can take, renaming),
:mod:`.profile` (ranges, fixed-point types), :mod:`.config` (the two-pass precision config,
conversion), :mod:`.project` (export_hls: the named steps), :mod:`.synth` (synthesis, report
parsing), :mod:`.search` and :mod:`.emulator` (``precision="auto"``), :mod:`.hgq` (HGQ2 models).
The Verilog of the same model is the ``rtl`` target (export/targets/rtl/).
"""

from __future__ import annotations

from dataclasses import dataclass

from export.targets import Target, register
from export.targets.hls4ml.options import HlsOptions, from_values
from zoo.core.options import option

VARIANTS = ("fixed",)


@dataclass
class Options:
    hls4ml: HlsOptions | dict = option(
        {},
        "hls4ml options (export.targets.hls4ml.options.HlsOptions fields; the CLI's --hls-* flags)",
        cli=False,
    )

    def check(self):
        """Build the one :class:`HlsOptions` of the export (checked here, once); the RTL keys
        that moved to the ``rtl`` target go to its fields, with a deprecation line."""
        from zoo.core.options import validate

        self.hls4ml, moved = from_values(self.hls4ml)
        if moved:
            from export.targets.rtl import Options as RtlOptions

            checked = validate(RtlOptions, moved, where="hls4ml")
            for name in moved:
                setattr(self, name, getattr(checked, name))


def _fixed(rec, model, world: str, opts: HlsOptions):
    from export.targets.hls4ml.project import adopt, export_hls
    from export.targets.hls4ml.search import choose

    chosen, res, search = choose(rec, model, world, opts)  # precision="auto": C-simulated search
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
    from export.targets.hls4ml import hgq

    if hgq.is_hgq(model):  # HGQ2: precision from the model, bit-exact to Keras
        rec.attempt("hls4ml", "fixed", lambda: hgq.fixed_artifact(rec, model))
        return
    rec.attempt("hls4ml", "fixed", lambda: _fixed(rec, model, world, rec.options.hls4ml))


TARGET = register(
    Target(
        name="hls4ml",
        variants=VARIANTS,
        export=export,
        order=30,
        options=Options,
        description="hls4ml HLS project (fixed point), C simulation; synthesis with Vivado/Vitis",
    )
)
