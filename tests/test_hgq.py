"""HGQ2 (learned per-weight precision) beside QKeras: install, compression step, bit-exact export."""

from __future__ import annotations

import json
import subprocess
import sys


def test_qkeras_and_hgq_import_in_one_process():
    """`make install` puts hgq2 in .venv/hgq, appended to sys.path after site-packages by a .pth
    line: one process of the venv's python imports QKeras 0.9.0 (not hgq2's `qkeras` layer) and
    `hgq` together."""
    code = (
        "import json, importlib.metadata as m, qkeras.utils, qkeras, hgq;"
        "print(json.dumps({'qkeras': qkeras.__file__, 'hgq': hgq.__file__,"
        " 'qkeras_version': m.version('qkeras'), 'hgq2_version': m.version('hgq2')}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["qkeras_version"] == "0.9.0" and info["hgq2_version"] == "0.2.0"
    assert "site-packages/qkeras/" in info["qkeras"], info
    assert "site-packages" not in info["hgq"], info  # from the appended directory
