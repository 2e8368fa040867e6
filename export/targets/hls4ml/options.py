"""hls4ml options, declared once (:mod:`zoo.core.options`): the ``--hls-*`` flags of ``edgezoo export``,
the recipe's ``export.hls4ml`` keys and their checks come from :class:`HlsOptions`.

``ExportOptions.hls4ml`` holds one :class:`HlsOptions`, built and checked once by
:func:`from_values` when the export options are built (from a recipe's ``export: {hls4ml: {...}}``,
the ``--hls-*`` flags or ``export_run(hls4ml={...})``); the export passes that object down."""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from export.errors import ExportOptionsError
from zoo.core.options import option, validate

BACKENDS = ("Vitis", "Vivado")
STRATEGIES = ("Latency", "Resource")
IO_TYPES = ("io_parallel", "io_stream")
SOFTMAX_IMPLEMENTATIONS = ("stable", "latency", "argmax", "legacy")
PRECISION_MODES = ("profile", "default", "auto")  # auto: search.py searches the widths
PRECISION_CHECKS = ("csim", "emulate")  # how precision auto evaluates a candidate
SYNTH_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls"}
RESERVED_NAMES = ("input",)
TABLE_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "selu", "elu", "softplus", "softsign")
DEFAULT_PRECISION = "fixed<16,6>"  # hls4ml's; used only with precision="default"
FALLBACK_PRECISION = "fixed<32,16>"  # for nodes hls4ml adds that no profile covers


ROUNDING = (
    "RND",
    "RND_ZERO",
    "RND_MIN_INF",
    "RND_INF",
    "RND_CONV",
    "TRN",
    "TRN_ZERO",
)  # ap_fixed modes
SATURATION = ("SAT", "SAT_ZERO", "SAT_SYM", "WRAP")
AUTO_YES_NO = ("auto", "yes", "no", True, False)  # "yes"/"no" (the CLI's words) become True/False
_YES_NO = {"yes": True, "no": False}


def _braces(choices) -> str:
    return "{" + ",".join(choices) + "}"


@dataclass
class HlsOptions:
    """Everything that decides the HLS project, declared once: ``edgezoo export --hls-<name>``,
    the recipe's ``export: {hls4ml: {<name>: ...}}`` and ``export_run(hls4ml={...})``."""

    backend: str = option(
        "Vitis",
        "hls4ml backend (the vendor tool the project is written for)",
        choices=BACKENDS,
        metavar=_braces(BACKENDS),
    )
    io_type: str | None = option(
        None,
        "None: io_parallel for dense models, io_stream for CNNs",
        choices=IO_TYPES,
        metavar=_braces(IO_TYPES),
    )
    reuse_factor: int = option(
        1, "multiplications per multiplier (1 = fully parallel, lowest latency)", min=1, metavar="N"
    )
    strategy: str = option(
        "Latency",
        "Latency (unrolled) or Resource (reuses multipliers)",
        choices=STRATEGIES,
        metavar=_braces(STRATEGIES),
    )
    part: str | None = option(None, "FPGA part (None: the backend's)", metavar="PART")
    clock_period: float = option(5.0, "target clock period in ns", metavar="NS")
    precision: str = option(
        "profile",
        "profile: from calibration ranges / QKeras quantizers; default: hls4ml's "
        "ap_fixed<16,6>; auto: the smallest widths within --hls-accuracy-budget "
        "(every step C-simulated; see --hls-precision-check)",
        choices=PRECISION_MODES,
        metavar=_braces(PRECISION_MODES),
    )
    width: int = option(
        16, "fixed-point word width of activations (and weights)", min=4, metavar="BITS"
    )
    weight_width: int | None = option(
        None, "bits of weights and biases (None: width)", min=2, metavar="BITS"
    )
    headroom_bits: int = option(
        0, "integer bits added above the profiled range", min=0, metavar="BITS"
    )
    rounding: str = option(
        "RND", "fixed-point rounding mode", choices=ROUNDING, metavar=_braces(ROUNDING)
    )
    saturation: str = option(
        "SAT", "fixed-point saturation mode", choices=SATURATION, metavar=_braces(SATURATION)
    )
    softmax_implementation: str = option(
        "stable",
        "hls4ml softmax implementation",
        choices=SOFTMAX_IMPLEMENTATIONS,
        metavar=_braces(SOFTMAX_IMPLEMENTATIONS),
    )
    softmax_table_size: int = option(
        4096, "entries of the softmax tables (a power of two)", min=2, metavar="N"
    )
    table_size: int = option(
        4096, "entries of the tanh/sigmoid tables (a power of two)", min=2, metavar="N"
    )
    table_width: int = option(18, "bits of the table entries", min=4, metavar="BITS")
    profile_samples: int = option(4096, "training samples profiled for ranges", min=1, metavar="N")
    project_name: str = option(
        "myproject", "HLS project and top function name (a C identifier)", metavar="NAME"
    )
    synth: str | bool = option(
        "auto",
        "C synthesis: auto = when vitis-run / vivado_hls is on PATH",
        choices=AUTO_YES_NO,
        metavar="{auto,yes,no}",
    )
    accuracy_budget: float = option(
        0.005,
        "--hls-precision auto: largest test-accuracy drop vs Keras allowed",
        min=0,
        metavar="DROP",
    )
    auto_max_steps: int = option(
        24, "--hls-precision auto: at most this many candidates", min=1, metavar="N"
    )
    precision_check: str = option(
        "csim",
        "--hls-precision auto: csim = every candidate compiled (g++) and C-simulated; emulate = "
        "candidates on a numpy emulation of the hls4ml types (dense models only), the baseline "
        "and the choice C-simulated",
        choices=PRECISION_CHECKS,
        metavar=_braces(PRECISION_CHECKS),
    )
    auto_jobs: int = option(
        1,
        "--hls-precision auto: candidates C-simulated at once (their g++ builds in parallel; "
        "2 pays off only with a second idle core)",
        min=1,
        metavar="N",
    )
    layer_widths: dict | None = option(
        None,
        "per hls4ml layer, widths in bits over --hls-weight-width/--hls-width, "
        'JSON: {"fc1": {"weight": 6, "bias": 6, "result": 10}} '
        "(precision auto writes its choice here)",
    )

    def __post_init__(self):
        if isinstance(self.synth, str) and self.synth in _YES_NO:
            self.synth = _YES_NO[self.synth]

    def check(self) -> HlsOptions:
        """The rules a single field's declaration cannot say (types, choices and ranges are
        checked by :func:`zoo.core.options.validate` where the options come in)."""

        def bad(name, why):
            raise ExportOptionsError(
                f"hls4ml: {name} {why}. Received: {name}={getattr(self, name)!r}"
            )

        for name in ("softmax_table_size", "table_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 2 or v & (v - 1):
                bad(name, "must be a power of two >= 2")
        if not isinstance(self.clock_period, (int, float)) or not self.clock_period > 0:
            bad("clock_period", "must be a positive number of nanoseconds")
        if self.synth not in ("auto", True, False):
            bad("synth", "must be 'auto', True or False")
        if self.layer_widths is not None and not (
            isinstance(self.layer_widths, dict)
            and all(
                isinstance(v, dict)
                and all(
                    k in ("weight", "bias", "result")
                    and isinstance(b, int)
                    and not isinstance(b, bool)
                    and b >= 2
                    for k, b in v.items()
                )
                for v in self.layer_widths.values()
            )
        ):
            bad("layer_widths", 'must be {layer: {"weight"|"bias"|"result": bits >= 2}}')
        if not isinstance(self.accuracy_budget, (int, float)) or not 0 <= self.accuracy_budget < 1:
            bad("accuracy_budget", "must be a number in [0, 1) (an accuracy drop, e.g. 0.005)")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.project_name):
            bad("project_name", "must be a C identifier")
        return self

    def record(self) -> dict:
        """What a manifest records: the options as given (a recipe's or the flags' dict), or,
        for an object built in Python, the fields that differ from their defaults."""
        given = getattr(self, "given", None)
        if given is not None:
            return dict(given)
        default = HlsOptions()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}


# The RTL options that were hls4ml's before RTL became a target of its own (export/targets/rtl/):
# still accepted in ``hls4ml``, each with one deprecation line naming its new spelling.
MOVED_TO_RTL = {"rtl": "rtl", "rtl_latency_cutoff": "rtl_latency_cutoff", "yosys": "rtl_yosys"}
_SAID: set[str] = set()


def deprecated(old: str, new: str) -> None:
    """One line on stderr, once per process, for an old spelling that still works."""
    if old not in _SAID:
        _SAID.add(old)
        print(f"warning: {old} is deprecated; use {new}", file=sys.stderr)


def from_values(values: dict | HlsOptions | None) -> tuple[HlsOptions, dict]:
    """(:class:`HlsOptions` from a recipe section, the flags or keyword arguments, every key
    checked; the moved RTL keys found in ``values``, by their new ExportOptions field name)."""
    if isinstance(values, HlsOptions):
        return values.check(), {}
    values = dict(values or {})
    moved = {}
    for old, new in MOVED_TO_RTL.items():
        if old in values:
            deprecated(f"export.hls4ml.{old}", f"export.{new} (--{new.replace('_', '-')})")
            moved[new] = values.pop(old)
    opts = validate(HlsOptions, values, where="hls4ml")
    opts.given = values
    return opts, moved


@dataclass
class HlsResult:
    project_dir: Path
    outputs: np.ndarray  # C-simulation outputs on the parity inputs
    info: dict = field(default_factory=dict)
