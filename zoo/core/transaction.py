"""The one replace transaction (:class:`Build`) and the one temporary-directory scheme
(:func:`build_beside` for a result, :func:`scratch_beside` for a step's partial output).

A new result is built in a locked, marked sibling ``.NAME.KIND-PID-HEX`` (:func:`build_beside`;
builds a killed process left are removed by the next one). :meth:`Build.commit` puts it in place:
retarget recorded paths (:func:`retarget`), record the new files, carry over every entry that is
not edgezoo's (:func:`carry_over`), swap atomically (``renameat2(RENAME_EXCHANGE)``), then remove
from the old directory only what its marker recorded plus carried entries verified present in the
new one; anything else stays, in ``NAME.kept-TIME`` beside it. :func:`replace_dir_atomically`
swaps a finished folder into a result being built.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import stat
import sys
import time
import warnings
from pathlib import Path

from zoo.core.io import write_text_atomic
from zoo.core.locks import DirLockedError, lock_dir
from zoo.core.marker import (
    entry_record,
    is_ours,
    new_marker,
    owned,
    proves,
    read_marker,
    remove_entry,
    sha256,
    visible,
    write_marker,
)
from zoo.core.paths import HIDDEN, RunDirError


class Build:
    """A new result being built in ``tmp`` (a locked, marked sibling) to replace ``final``."""

    def __init__(self, tmp: Path, final: Path, kind: str, identity=None, *, earlier=False):
        self.tmp, self.final, self.kind, self.identity = Path(tmp), Path(final), kind, identity
        self.earlier = earlier  # final held a result of edgezoo's before
        self.kept: Path | None = None

    def commit(self, on_retarget=None, *, finished: bool = True) -> Path:
        """The one transaction: retarget the paths tools recorded (``on_retarget(tmp, changed)``
        then fixes what hashes them), record every entry built as edgezoo's, carry over every
        entry of ``final`` that is not edgezoo's, swap atomically, then remove from the old
        directory what its marker recorded and the carried entries found in the new one;
        anything else stays in ``NAME.kept-TIME`` beside it."""
        tmp, final = self.tmp, self.final
        changed = retarget(tmp, final)
        if changed and on_retarget is not None:
            on_retarget(tmp, changed)
        _record_all(tmp, finished=finished)
        carried = set(_carry(final, tmp)) if final.is_dir() else set()
        if final.exists() or final.is_symlink():
            if not _exchange(tmp, final):
                aside = final.with_name(f".{final.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
                os.replace(final, aside)
                try:
                    os.replace(tmp, final)
                except BaseException:
                    os.replace(aside, final)
                    raise
                os.replace(aside, tmp)
        else:
            os.replace(tmp, final)
        marker = read_marker(final)
        marker.pop("build", None)
        write_marker(final, marker)
        if tmp.is_dir() and not tmp.is_symlink():
            self.kept = _dispose_old(tmp, final, carried)
        return final


def _record_all(path: Path, *, finished: bool, top: bool = True):
    """Every entry of a build is edgezoo's: record them, in nested marked directories too."""
    marker = read_marker(path)
    if not proves(marker):
        return
    for name in visible(path):
        p = path / name
        if p.is_dir() and not p.is_symlink() and owned(p):
            _record_all(p, finished=True, top=False)
    marker = read_marker(path)
    marker["entries"] = {name: entry_record(path / name) for name in visible(path)}
    marker["finished"] = finished if top else True
    write_marker(path, marker)


def _carry(old: Path, new: Path, rel: str = "") -> list[str]:
    """Hard-link (or copy) every entry of ``old`` that is not edgezoo's into ``new`` (unless
    ``new`` uses the name); inside edgezoo's nested directories too. Returns the paths."""
    marker = read_marker(old)
    carried = []
    for src in sorted(old.iterdir(), key=lambda p: p.name):
        name, dst = src.name, new / src.name
        if name in HIDDEN:
            continue
        if is_ours(old, name, marker):
            if _marked_dir(src) and _marked_dir(dst):
                carried += _carry(src, dst, f"{rel}{name}/")
            continue
        if os.path.lexists(dst):
            continue  # the new result uses the name: the old entry stays in the kept directory
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif src.is_dir():
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)
        carried.append(f"{rel}{name}")
    return carried


def carry_over(old, new) -> list[str]:
    """Carry the entries of ``old`` that edgezoo did not write into ``new`` (see :class:`Build`)."""
    return _carry(Path(old), Path(new))


def _marked_dir(p: Path) -> bool:
    return p.is_dir() and not p.is_symlink() and owned(p)


def _link_or_copy(src, dst):
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(src, dst, follow_symlinks=False)
    return dst


def _same(a: Path, b: Path) -> bool:
    """``b`` holds what ``a`` holds (a carried entry arrived whole)."""
    if a.is_symlink():
        return b.is_symlink() and os.readlink(a) == os.readlink(b)
    if b.is_symlink() or not os.path.lexists(b):
        return False
    if a.is_dir():
        if not b.is_dir():
            return False
        names = sorted(os.listdir(a))
        return names == sorted(os.listdir(b)) and all(_same(a / n, b / n) for n in names)
    if not b.is_file():
        return False
    if os.path.samefile(a, b):
        return True
    return a.stat().st_size == b.stat().st_size and sha256(a) == sha256(b)


def _clean(old: Path, new: Path, carried: set, rel: str = "") -> bool:
    """Remove from ``old`` what its marker records and what was carried into ``new`` whole.
    True when nothing visible is left."""
    marker = read_marker(old)
    for src in sorted(old.iterdir(), key=lambda p: p.name):
        name = src.name
        if name in HIDDEN:
            continue
        key = f"{rel}{name}"
        if key in carried:
            if _same(src, new / name):
                remove_entry(src)
        elif is_ours(old, name, marker):
            if _marked_dir(src):
                if _clean(src, new / name, carried, key + "/"):
                    remove_entry(src)
            else:
                remove_entry(src)
    return not visible(old)


def _dispose_old(old: Path, final: Path, carried: set) -> Path | None:
    """After the swap: the old result's recorded and carried entries go; the directory goes
    when nothing else is left, else it stays beside ``final`` as the user's ``NAME.kept-TIME``."""
    if _clean(old, final, carried):
        shutil.rmtree(old, ignore_errors=True)
        return None
    for name in HIDDEN:
        with contextlib.suppress(OSError):
            (old / name).unlink()
    kept = final.with_name(f"{final.name}.kept-{time.strftime('%Y%m%d-%H%M%S')}")
    while kept.exists():
        kept = kept.with_name(kept.name + "x")
    os.replace(old, kept)
    warnings.warn(
        f"{final} was replaced; what edgezoo did not write there and could not carry over "
        f"(or you changed) is kept in {kept}: {', '.join(visible(kept)[:5])}",
        stacklevel=2,
    )
    return kept


@contextlib.contextmanager
def build_beside(final, kind: str, identity=None, command: str | None = None):
    """A new, empty, marked and locked directory next to ``final`` (``.NAME.KIND-PID-HEX``), its
    marker recording it as a build of ``final``; hand it to :meth:`Build.commit`. The caller
    holds ``final``'s lock; the lock held here travels with the directory through the swap.
    Builds of ``final`` that a killed process left (marked as such, no longer locked) are
    removed first; this build is removed when the block ends without being swapped in."""
    final = Path(final)
    _remove_abandoned(final)
    token = secrets.token_hex(4)
    tmp = final.with_name(f".{final.name}.{kind}-{os.getpid()}-{token}")
    tmp.mkdir()  # a fresh name (mkdir fails on an existing one)
    write_marker(tmp, new_marker(kind, identity, build={"of": final.name, "token": token}))
    try:
        with lock_dir(tmp, command):
            yield tmp
    finally:
        marker = read_marker(tmp) if tmp.is_dir() and not tmp.is_symlink() else None
        if marker and (marker.get("build") or {}).get("token") == token:
            shutil.rmtree(tmp, ignore_errors=True)


def scratch_beside(final, tag: str) -> Path:
    """A fresh, empty directory next to ``final`` (``.NAME.TAG-PID-HEX``, the naming of
    :func:`build_beside`) for a step's partial output or scratch files, inside the build being
    written (so a killed export leaves it only inside its own abandoned build). The caller
    removes it, or swaps it in with :func:`replace_dir_atomically`."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir(mode=0o700)  # a fresh name (mkdir fails on an existing one)
    return tmp


def _remove_abandoned(final: Path):
    """Builds of ``final`` (by their marker) whose process is gone (the lock is free) go."""
    parent = final.parent
    if not parent.is_dir():
        return
    for path in parent.iterdir():
        if path == final or path.is_symlink() or not path.is_dir():
            continue
        marker = read_marker(path)
        build = (marker or {}).get("build") or {}
        if build.get("of") != final.name or not _build_name(path.name, final, build.get("token")):
            continue  # a marker alone (anyone can write one) never makes a directory a build
        try:
            with lock_dir(path, "edgezoo: removing an abandoned build"):
                shutil.rmtree(path)
        except DirLockedError:  # still being written: not abandoned
            pass


def _build_name(name: str, final: Path, token) -> bool:
    """``name`` is the one :func:`build_beside` gives a build of ``final`` with ``token``
    (``.NAME.KIND-PID-TOKEN``)."""
    return (
        isinstance(token, str)
        and re.fullmatch(r"[0-9a-f]{8}", token) is not None
        and re.fullmatch(rf"\.{re.escape(final.name)}\..+-\d+-{token}", name) is not None
    )


def replace_dir_atomically(tmp: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Move the finished directory ``tmp`` to ``final`` inside a result being built (an
    export's hls4ml/, rtl/ or OpenVINO folder). An existing ``final`` must be a real directory
    inside an edgezoo-marked directory; it trades places with ``tmp`` atomically and goes."""
    tmp, final = Path(tmp), Path(final)
    if os.path.lexists(final):
        if final.is_symlink() or not final.is_dir() or not owned(final.parent):
            raise RunDirError(
                f"{final} was not written by edgezoo: it is left untouched "
                f"(the new result stays in {tmp})."
            )
        if _exchange(tmp, final):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now names the old folder
            return final
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
        os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            os.replace(old, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``). False, with
    nothing changed, where the system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc without renameat2 (glibc < 2.28, musl < 1.2.1)
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def retarget(tmp: str | os.PathLike, final: str | os.PathLike) -> list[Path]:
    """The one retarget routine: text files under ``tmp`` (a sibling of ``final``) that name
    ``tmp`` name ``final`` instead, as written by tools that record absolute paths (hls4ml's
    ``hls4ml_config.yml``) and by edgezoo's own JSON. Only the directory's own name changes
    (``/p/.NAME.kind-x/f`` -> ``/p/NAME/f``), so relative, absolute and resolved spellings all
    follow. Binary files and links are left alone. Returns the files changed."""
    tmp, final = Path(tmp), Path(final)
    pairs = {tmp.name: final.name, json.dumps(tmp.name)[1:-1]: json.dumps(final.name)[1:-1]}
    needle = tmp.name.encode()
    changed = []
    for path in sorted(tmp.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 16 << 20:
            continue
        if path.name in HIDDEN:
            continue
        data = path.read_bytes()
        if needle not in data or b"\0" in data:
            continue
        try:
            text = data.decode()
        except UnicodeDecodeError:
            continue
        for a, b in pairs.items():
            text = text.replace(a, b)
        mode = stat.S_IMODE(path.stat().st_mode)
        write_text_atomic(path, text)
        os.chmod(path, mode)
        changed.append(path)
    return changed
