"""hls4ml options, declared once (:mod:`zoo.options`): the ``--hls-*`` flags of ``edgezoo export``,
the recipe's ``export.hls4ml`` keys and their checks come from :class:`HlsOptions`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export.errors import ExportOptionsError

BACKENDS = ("Vitis", "Vivado")
STRATEGIES = ("Latency", "Resource")
IO_TYPES = ("io_parallel", "io_stream")
SOFTMAX_IMPLEMENTATIONS = ("stable", "latency", "argmax", "legacy")
PRECISION_MODES = ("profile", "default", "auto")  # auto: export/precision.py searches the widths
SYNTH_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls"}
RESERVED_NAMES = ("input",)
TABLE_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "selu", "elu", "softplus", "softsign")
DEFAULT_PRECISION = "fixed<16,6>"  # hls4ml's; used only with precision="default"
FALLBACK_PRECISION = "fixed<32,16>"  # for nodes hls4ml adds that no profile covers


@dataclass
class HlsOptions:
    """Everything that decides the HLS project. Validated by :meth:`check`."""

    backend: str = "Vitis"
    io_type: str | None = None  # None: io_parallel for dense models, io_stream for CNNs
    reuse_factor: int = 1
    strategy: str = "Latency"
    part: str | None = None  # None: the backend's default part
    clock_period: float = 5.0  # ns
    precision: str = "profile"  # or "default": hls4ml's ap_fixed<16,6> everywhere (for comparison)
    width: int = 16  # bits of activations
    weight_width: int | None = None  # bits of weights and biases (default: width)
    headroom_bits: int = 0  # integer bits added above the profiled range
    rounding: str = "RND"
    saturation: str = "SAT"
    softmax_implementation: str = "stable"
    softmax_table_size: int = 4096
    table_size: int = 4096
    table_width: int = 18
    profile_samples: int = 4096  # training samples profiled for ranges
    project_name: str = "myproject"
    synth: str | bool = "auto"  # "auto": build() when the vendor tool is on PATH
    # RTL via da4ml (export/rtl.py), the "hls4ml"/"rtl" artifact: False (default), "auto" (for
    # quantized models: QKeras twins) or True (required; an error for a float model)
    rtl: str | bool = False
    rtl_latency_cutoff: float = 5.0  # adder delays per pipeline stage of the generated Verilog
    yosys: str | bool = "auto"  # open synthesis of the RTL (yosys synth_xilinx) when yosys is on PATH
    accuracy_budget: float = 0.005  # precision="auto": the largest accuracy drop vs Keras allowed
    auto_max_steps: int = 24  # precision="auto": at most this many C-simulated candidates
    # per hls4ml layer: {"fc1": {"weight": 6, "bias": 6, "result": 10}} (widths in bits) over
    # weight_width / width; precision="auto" writes its choice here
    layer_widths: dict | None = None

    def check(self) -> HlsOptions:
        def bad(name, why):
            raise ExportOptionsError(f"hls4ml: {name} {why}. Received: {name}={getattr(self, name)!r}")

        if self.backend not in BACKENDS:
            bad("backend", f"must be one of {BACKENDS}")
        if self.io_type is not None and self.io_type not in IO_TYPES:
            bad("io_type", f"must be one of {IO_TYPES} (or None for automatic)")
        if self.strategy not in STRATEGIES:
            bad("strategy", f"must be one of {STRATEGIES}")
        if self.precision not in PRECISION_MODES:
            bad("precision", f"must be one of {PRECISION_MODES}")
        if self.softmax_implementation not in SOFTMAX_IMPLEMENTATIONS:
            bad("softmax_implementation", f"must be one of {SOFTMAX_IMPLEMENTATIONS}")
        for name, lo in (("reuse_factor", 1), ("width", 4), ("auto_max_steps", 1), ("table_width", 4), ("profile_samples", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                bad(name, f"must be an integer >= {lo}")
        if self.weight_width is not None and (not isinstance(self.weight_width, int) or self.weight_width < 2):
            bad("weight_width", "must be an integer >= 2 or None")
        if not isinstance(self.headroom_bits, int) or self.headroom_bits < 0:
            bad("headroom_bits", "must be an integer >= 0")
        for name in ("softmax_table_size", "table_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 2 or v & (v - 1):
                bad(name, "must be a power of two >= 2")
        if not isinstance(self.clock_period, (int, float)) or not self.clock_period > 0:
            bad("clock_period", "must be a positive number of nanoseconds")
        for name in ("synth", "rtl", "yosys"):
            if getattr(self, name) not in ("auto", True, False):
                bad(name, "must be 'auto', True or False")
        if not isinstance(self.rtl_latency_cutoff, (int, float)) or not self.rtl_latency_cutoff > 0:
            bad("rtl_latency_cutoff", "must be a positive number (adder delays per pipeline stage)")
        if self.layer_widths is not None and not (
                isinstance(self.layer_widths, dict) and all(
                    isinstance(v, dict) and all(k in ("weight", "bias", "result") and isinstance(b, int)
                                                and not isinstance(b, bool) and b >= 2 for k, b in v.items())
                    for v in self.layer_widths.values())):
            bad("layer_widths", 'must be {layer: {"weight"|"bias"|"result": bits >= 2}}')
        if not isinstance(self.accuracy_budget, (int, float)) or not 0 <= self.accuracy_budget < 1:
            bad("accuracy_budget", "must be a number in [0, 1) (an accuracy drop, e.g. 0.005)")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.project_name):
            bad("project_name", "must be a C identifier")
        return self


@dataclass
class HlsResult:
    project_dir: Path
    outputs: np.ndarray  # C-simulation outputs on the parity inputs
    info: dict = field(default_factory=dict)
