"""RAM and flash budgets of a microcontroller: sizes with K/M suffixes, named boards, fit checks.

What is compared: RAM -- the tensor arena to allocate (the measured arena plus :func:`margin`);
flash -- the model flatbuffer's bytes. Neither includes the firmware's code (the TFLM kernels and
your application), its stack or other buffers: a model that fits leaves that much less room.
"""

from __future__ import annotations

import re

from export.errors import ExportError
from zoo.core.options import OptionError

KIB, MIB = 1024, 1024 * 1024

# name: (RAM bytes, flash bytes, what it is, the published source of the figures)
BOARDS: dict[str, tuple[int, int, str, str]] = {
    "nucleo-l4r5zi": (
        640 * KIB,
        2 * MIB,
        "STM32L4R5ZI, Cortex-M4 @120 MHz: MLPerf Tiny's reference board",
        "ST STM32L4R5xx datasheet DS12023: 2 Mbytes flash, 640 Kbytes SRAM",
    ),
    "stm32h747": (
        1 * MIB,
        2 * MIB,
        "STM32H747 (e.g. STM32H747I-DISCO), Cortex-M7 @480 MHz + M4",
        "ST STM32H747xI/G datasheet DS12930: up to 2 Mbytes flash, 1 Mbyte RAM",
    ),
    "cortex-m4": (
        256 * KIB,
        1 * MIB,
        "a generic Cortex-M4F: nRF52840 (Arduino Nano 33 BLE Sense, the TinyML book's board)",
        "Nordic nRF52840 product specification v1.7: 1 MB flash, 256 KB RAM",
    ),
    "nucleo-f401re": (
        96 * KIB,
        512 * KIB,
        "STM32F401RE, Cortex-M4 @84 MHz: a small Cortex-M4",
        "ST STM32F401xD/E datasheet DS10086: 512 Kbytes flash, 96 Kbytes SRAM",
    ),
}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:i?[bB])?\s*$")


def parse_bytes(value, what: str) -> int | None:
    """``value`` in bytes: an int, or a string with an optional K (1024) or M (1024^2) suffix."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        if value is not None and value <= 0:
            raise OptionError(f"{what} must be a positive number of bytes. Received: {value!r}")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise OptionError(
            f"{what} must be bytes with an optional K or M suffix (e.g. 256K, 2M). "
            f"Received: {value!r}"
        )
    n = float(m.group(1)) * {"": 1, "k": KIB, "m": MIB}[m.group(2).lower()]
    if n <= 0:
        raise OptionError(f"{what} must be a positive number of bytes. Received: {value!r}")
    return int(n)


def margin(arena: int) -> int:
    """The margin added to a measured arena: 10%, at least 1 KiB, the sum rounded up to 16 B.
    Why: the arena was measured on a 64-bit host build; a 32-bit MCU build with optimized kernels
    (CMSIS-NN) asks for other scratch buffers than the reference kernels did."""
    total = arena + max(KIB, (arena + 9) // 10)
    return (total + 15) // 16 * 16 - arena


def limits(ram, flash, board) -> dict:
    """``{"ram": bytes|None, "flash": bytes|None, "from": ...}``; explicit limits win over the board."""
    out = {"ram": None, "flash": None, "from": {}}
    if board is not None:
        out["ram"], out["flash"] = BOARDS[board][0], BOARDS[board][1]
        out["from"] = {"ram": f"board {board}", "flash": f"board {board}"}
    for key, value, flag in (("ram", ram, "--tflm-ram"), ("flash", flash, "--tflm-flash")):
        if value is not None:
            out[key] = parse_bytes(value, f"tflm_{key}")
            out["from"][key] = f"{flag} {value}"
    return out


def fits(arena_alloc: int, flash: int) -> dict[str, bool]:
    """{board: whether the arena to allocate fits its RAM and the model its flash}."""
    return {b: arena_alloc <= r and flash <= f for b, (r, f, _, _) in BOARDS.items()}


class BudgetExceeded(ExportError, ValueError):
    """A TFLM artifact larger than the RAM or flash it was given."""


def check(arena: int, alloc: int, flash: int, lim: dict):
    """Raise :class:`BudgetExceeded`, one line per figure over its limit."""
    lines = []
    if lim["ram"] is not None and alloc > lim["ram"]:
        lines.append(
            f"tensor arena {alloc:,} B (measured {arena:,} B + margin) exceeds the RAM limit "
            f"{lim['ram']:,} B ({lim['from']['ram']}) by {alloc - lim['ram']:,} B"
        )
    if lim["flash"] is not None and flash > lim["flash"]:
        lines.append(
            f"model {flash:,} B exceeds the flash limit {lim['flash']:,} B "
            f"({lim['from']['flash']}) by {flash - lim['flash']:,} B"
        )
    if lines:
        raise BudgetExceeded("tflm: " + "; ".join(lines) + " (code size not included)")
