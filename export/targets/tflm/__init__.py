"""The ``tflm`` target: an int8 flatbuffer built for TensorFlow Lite Micro, run on the whole test
split by TFLM's own interpreter (the ``tflite-micro`` wheel), with the figures that decide whether
it ships on a microcontroller -- the tensor arena TFLM allocated, the flash the model takes, a
lower bound of the activation memory -- and the files a firmware compiles (``tflm/``:
``model.int8.tflite``, ``model_data.h``, ``model_data.cc``, ``model_ops.h``).

Verification: the int8 parity gates of every int8 artifact against the Keras model
(:mod:`export.verify`), and agreement with LiteRT in output LSBs (:mod:`.agreement`): the same
file in LiteRT's reference kernels (the goal) and in its optimized kernels (what a phone runs),
the operators that differ (:mod:`.opwise`), and the ``tflite`` int8 artifact of this export when
there is one. A model whose int8 graph uses an operator TFLM
lacks is refused naming it; ``tflm_ram`` / ``tflm_flash`` / ``tflm_board`` budgets refuse an
artifact that does not fit, one line per figure. On request only (``--to ...,tflm``).
"""

from __future__ import annotations

from dataclasses import dataclass

from export.targets import STEM, Target, register
from export.targets.tflm.budgets import BOARDS, limits
from zoo.core.options import option

FOLDER = "tflm"


@dataclass
class Options:
    tflm_ram: int | str | None = option(
        None,
        "RAM budget for the tensor arena (bytes; K/M suffix, e.g. 256K); overrides the board's",
        metavar="BYTES",
    )
    tflm_flash: int | str | None = option(
        None,
        "flash budget for the model (bytes; K/M suffix, e.g. 1M); code size not included",
        metavar="BYTES",
    )
    tflm_board: str | None = option(
        None,
        "board whose published RAM/flash are the budgets (export/targets/tflm/budgets.py)",
        choices=tuple(BOARDS),
        metavar="|".join(BOARDS),
    )

    tflm_dense_per_channel: bool = option(
        False,
        "quantize Dense weights per output channel (default per tensor, as MLPerf Tiny's "
        "files: per channel stores a scale and zero point per output, ~24 B each, in flash)",
    )

    def check(self):
        limits(self.tflm_ram, self.tflm_flash, self.tflm_board)


def _refuse_ops(name: str, graph):
    from export.errors import UnsupportedModelError

    bad = graph.unsupported()
    if not bad and graph.aborts():
        raise UnsupportedModelError("tflm", name, why="; ".join(graph.aborts()))
    if bad:
        raise UnsupportedModelError(
            "tflm",
            name,
            why=f"its int8 graph uses operator{'s' if len(bad) > 1 else ''} {', '.join(bad)}, "
            "which TensorFlow Lite Micro does not have; replace the layer(s) that make it",
        )


def _int8(rec, model, world: str):
    from export.common import sha256_file
    from export.targets.tflm import agreement, budgets, firmware, graph, micro
    from zoo.core.io import write_bytes_atomic

    o = rec.options
    lim = budgets.limits(o.tflm_ram, o.tflm_flash, o.tflm_board)
    data = micro.for_mcu(micro.convert(model, world, rec.data.x_calib, o.tflm_dense_per_channel))
    g = graph.read(data)
    _refuse_ops(model.name, g)  # before anything runs
    budgets.check(0, 0, len(data), lim)  # flash: known before the interpreter runs
    micro.probe(data)  # a TFLM abort ends a child process, not this one
    it = micro.interpreter(data)
    micro.run(it, rec.data.x_test[:1])
    alloc = micro.allocations(it)
    arena = alloc.pop("arena_bytes")
    margin = budgets.margin(arena)
    budgets.check(arena, arena + margin, len(data), lim)  # before the whole split runs
    q, out = micro.run(it, rec.data.x_test)
    folder = rec.out / FOLDER
    folder.mkdir(exist_ok=True)
    path = write_bytes_atomic(folder / f"{STEM}.int8.tflite", data)
    files = firmware.write(folder, model.name, data, g, arena, margin)
    mcu = {
        "arena_bytes": arena,
        "arena_margin_bytes": margin,
        "arena_to_allocate_bytes": arena + margin,
        "arena": alloc,
        "flash_bytes": len(data),
        "flash_note": "the model flatbuffer only; code size (TFLM kernels, application) not included",
        "peak_activation_bytes": g.peak_activation_bytes,
        "peak_activation_note": "lower bound: max over op steps of the live non-constant tensors' "
        "bytes (reshapes in place, scratch buffers not counted)",
        "ops": g.ops,
        "op_set": g.op_set,
        "macs": g.macs,
        "float_ops": g.float_ops,  # run TFLM's float kernels on the MCU (none: all int8)
        "fits": budgets.fits(arena + margin, len(data)),
        "limits": {k: v for k, v in lim.items() if v},
        "firmware": {
            f: {"what": what, "sha256": sha256_file(folder / f)} for f, what in files.items()
        },
    }
    extra = {
        "tflm": mcu,
        "vs_litert": agreement.versus_litert(rec, data, q, out, g),
        "io": g.io,
        "calibration": rec.calibration(path),
        "quantization": {
            "format": "full integer (TFLITE_BUILTINS_INT8), batch 1",
            "weights": "int8; convolutions per channel, Dense "
            + ("per channel" if o.tflm_dense_per_channel else "per tensor"),
            "activations": "int8",
            "rewrites": [],
            "stripped": "tensor and subgraph names, signature defs; buffers 16-byte aligned",
            "why_no_rewrites": "TFLM has AVERAGE_POOL_2D (a depthwise stand-in adds flash) and the "
            "SpaceToDepth stem adds input-sized copies to the arena",
        },
        "runtime": "TFLM Python interpreter (tflite-micro wheel, reference kernels), batch 1",
    }
    return rec.entry(path, "tflm", "int8", rec.parity("tflm", "int8", out), **extra)


def export(rec, model, world: str):
    rec.attempt("tflm", "int8", lambda: _int8(rec, model, world))


TARGET = register(
    Target(
        name="tflm",
        variants=("int8",),
        export=export,
        order=25,
        default=False,
        options=Options,
        description="TensorFlow Lite Micro int8: TFLM-run parity, measured arena, C files, budgets",
    )
)
