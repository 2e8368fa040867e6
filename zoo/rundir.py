"""Run directories that edgezoo owns: a marker, a lock, path containment, atomic replacement.

Every stage writes into a directory it has claimed (:func:`claim_dir`): a new or empty
directory gets the marker file ``.edgezoo.json`` before anything else is written; a
non-empty directory without it is the user's and is never written to, deleted or replaced.
A directory holding a finished run of a *different* identity (another model or data set)
is only taken over with ``force``. :func:`lock_dir` holds an exclusive ``fcntl`` lock on
``DIR/.edgezoo.lock`` while a command writes; a second writer gets one error naming the
holder. :func:`inside` resolves a path taken from a recipe, config or manifest and rejects
it unless it stays inside its root. :func:`build_beside` yields a locked temporary sibling to
build a new result in, :func:`retarget` and :func:`carry_over` prepare it, and
:func:`replace_dir_atomically` swaps it in for an earlier result.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import glob
import json
import os
import re
import secrets
import shutil
import socket
import stat
import sys
import time
from pathlib import Path

from zoo.errors import EdgezooError

MARKER = ".edgezoo.json"
LOCK = ".edgezoo.lock"
# Files that mark a directory written by an edgezoo version from before the marker.
LEGACY_SIGNS = ("pipeline.json", "config.json", "manifest.json", "compression.json", "bench.json")


class RunDirError(EdgezooError, ValueError):
    """A directory edgezoo must not write (not its own, a file, unwritable) or a path outside its root."""


class DirLockedError(RunDirError):
    """Another process is writing the directory."""


def check_writable(path: str | os.PathLike, what: str = "--out") -> Path:
    """Fail early, with one line, when ``path`` cannot become a directory edgezoo writes."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{what} {path} is a file, not a directory: give a directory path.")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise RunDirError(
            f"{what} {path} cannot be created: {probe} is a file, not a directory; "
            "choose another path."
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunDirError(
            f"{what} {path} cannot be written: {probe} is read-only for this user; "
            "choose a writable path."
        )
    return path


def read_marker(path: str | os.PathLike) -> dict | None:
    """The marker of ``path`` ({"kind", "identity", ...}), or None when there is none."""
    marker = Path(path) / MARKER
    if not marker.exists():
        return None
    try:
        data = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return {"kind": "unknown", "identity": None}
    return data if isinstance(data, dict) else {"kind": "unknown", "identity": None}


def held_identity(path: str | os.PathLike):
    """The identity a directory was claimed with (older edgezoo runs: from config.json or
    pipeline.json), or None."""
    path = Path(path)
    marker = read_marker(path)
    if marker is not None:
        return marker.get("identity")
    for name in ("pipeline.json", "config.json"):
        try:
            data = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            ident = data.get("identity") if name == "pipeline.json" else data
            if isinstance(ident, dict) and "model" in ident:
                return {"model": ident.get("model"), "dataset": ident.get("dataset")}
    return None


def owned(path: str | os.PathLike) -> bool:
    """True when ``path`` carries edgezoo's marker (or an older edgezoo's signature files)."""
    path = Path(path)
    return read_marker(path) is not None or any((path / f).exists() for f in LEGACY_SIGNS)


def _visible(path: Path) -> list[str]:
    return [p.name for p in path.iterdir() if p.name not in (MARKER, LOCK)]


def claim_dir(
    path: str | os.PathLike,
    kind: str,
    identity: dict | None = None,
    *,
    force: bool = False,
    what: str = "--out",
    finished: str | None = None,
) -> Path:
    """Make ``path`` a directory of edgezoo's, or refuse with one line.

    A missing or empty directory is created and marked. A marked (or older edgezoo) directory
    is accepted when its identity matches ``identity`` (None: any). A different identity is a
    finished run of something else: refused unless ``force`` (or unless the file ``finished``,
    e.g. "model.keras", is absent: an unfinished attempt). Anything else is the user's: refused.
    """
    path = check_writable(path, what)
    if path.is_dir() and _visible(path):
        marker = read_marker(path)
        if marker is None and not any((path / f).exists() for f in LEGACY_SIGNS):
            raise RunDirError(
                f"{what} {path} exists, is not empty and was not written by edgezoo: it is left "
                "untouched. Choose a new or empty directory."
            )
        held = held_identity(path)
        if identity is not None and held is not None and held != identity and not force:
            if finished is None or (path / finished).exists():
                raise RunDirError(
                    f"{what} {path} holds a finished run of {_describe(held)}, not {_describe(identity)}; "
                    "choose another directory, or pass --force to replace it."
                )
    path.mkdir(parents=True, exist_ok=True)
    marker = read_marker(path)
    if marker is None or (identity is not None and marker.get("identity") != identity):
        from zoo.io import write_json_atomic

        write_json_atomic(
            path / MARKER,
            {
                "kind": kind,
                "identity": identity,
                "created": _now(),
                "note": "written by edgezoo: this directory is edgezoo's to "
                "replace; do not keep your own files in it",
            },
        )
    return path


def _describe(identity) -> str:
    if isinstance(identity, dict):
        return ", ".join(f"{k} {v}" for k, v in identity.items())
    return str(identity)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@contextlib.contextmanager
def lock_dir(path: str | os.PathLike, command: str | None = None, *, shared: bool = False):
    """Hold an exclusive lock on directory ``path`` (created if needed) for the block; with
    ``shared``, a shared one (readers: many may hold it, no writer while they do).

    A second writer, in any process, gets :class:`DirLockedError` naming the holder (pid,
    command, host, since when). The lock dies with its process (``flock``), so a killed run
    never leaves a stale lock behind.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError:
        try:
            holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        except (OSError, ValueError):
            holder = {}
        os.close(fd)
        raise DirLockedError(
            f"{path} is being written by another edgezoo process (pid {holder.get('pid', '?')}, "
            f"`{holder.get('command', '?')}` on host {holder.get('host', '?')}, since "
            f"{holder.get('since', '?')}); wait for it to finish or choose another directory."
        ) from None
    try:
        info = {
            "pid": os.getpid(),
            "command": command or " ".join(["edgezoo", *sys.argv[1:]]),
            "host": socket.gethostname(),
            "since": _now(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
    finally:
        if not shared:  # another reader may still hold it
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def own_dir(
    path,
    kind: str,
    identity: dict | None = None,
    *,
    force: bool = False,
    what: str = "--out",
    command: str | None = None,
    finished: str | None = None,
):
    """:func:`claim_dir` then :func:`lock_dir`, re-checking ownership under the lock. A directory
    this call created is removed again when the block fails before writing anything into it."""
    path = Path(path)
    created = not path.exists()
    try:
        claim_dir(path, kind, identity, force=force, what=what, finished=finished)
        with lock_dir(path, command):
            claim_dir(path, kind, identity, force=force, what=what, finished=finished)
            yield path
    except BaseException:
        remove_if_untouched(path, created)
        raise


def remove_if_untouched(path: Path, created: bool):
    """A directory this call created that holds nothing but the marker and lock goes again."""
    if created and path.is_dir() and all(p.name in (MARKER, LOCK) for p in path.iterdir()):
        shutil.rmtree(path, ignore_errors=True)


def inside(root: str | os.PathLike, path: str | os.PathLike, what: str = "path") -> Path:
    """``path`` (relative paths taken against ``root``) resolved; it must stay inside ``root``."""
    root_r = Path(root).resolve()
    p = Path(path)
    resolved = (p if p.is_absolute() else root_r / p).resolve()
    if resolved != root_r and root_r not in resolved.parents:
        raise RunDirError(
            f"{what} {str(path)!r} leads outside {root}; edgezoo only reads and writes "
            "inside its run directory. Use a relative path inside it."
        )
    return resolved


def safe_name(name: str, what: str = "name") -> str:
    """A single path component: no separators, not '.', '..' or empty."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
    ):
        raise RunDirError(f"{what} {name!r} is not a plain name (no '/', '..' or empty names).")
    return name


def fresh_sibling(final: str | os.PathLike, kind: str, tag: str = "new") -> Path:
    """An empty, marked temporary directory next to ``final`` (``.NAME.tag``), replacing an
    earlier leftover of the same name (it is edgezoo's: the parent is locked and owned)."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.{tag}")
    if tmp.exists():
        shutil.rmtree(tmp)
    return claim_dir(tmp, kind, what="temporary directory")


def replace_dir_atomically(tmp: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Put the finished directory ``tmp`` at ``final``; an older ``final`` (edgezoo's own) is
    removed only after the new one is in place. On Linux the two trade places in one atomic
    step (``renameat2(RENAME_EXCHANGE)``): no moment exists where ``final`` is missing or half
    old, half new; elsewhere the old one is renamed aside first (and back if the second rename
    fails)."""
    tmp, final = Path(tmp), Path(final)
    if final.exists():
        # edgezoo's by layout: a pipeline's stage directory (its parent holds pipeline.json), or a
        # part of a directory edgezoo claimed (an export's hls4ml/, rtl/ or OpenVINO folder)
        parent_owned = owned(final.parent) or (final.parent / "pipeline.json").exists()
        if not final.is_dir() or not (owned(final) or parent_owned):
            raise RunDirError(
                f"{final} was not written by edgezoo: it is left untouched "
                f"(the new result stays in {tmp})."
            )
        if _exchange(tmp, final):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now names the old result
            return final
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
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


@contextlib.contextmanager
def build_beside(final: str | os.PathLike, kind: str, tag: str, command: str | None = None):
    """A new, empty, marked and locked directory next to ``final`` (``.NAME.TAG-<random>``) to
    build a replacement of ``final`` in; hand it to :func:`replace_dir_atomically` inside the
    block. The caller must hold ``final``'s lock: the lock held here then travels with the
    directory, so ``final`` is never unlocked, before or after the swap, until the block ends.
    Left-overs of a killed earlier build (marked, no longer locked) are removed first; the
    directory is removed when the block ends without having swapped it in."""
    final = Path(final)
    prefix = f".{final.name}.{tag}-"
    for left in final.parent.glob(f"{glob.escape(prefix)}*"):
        _remove_abandoned(left)
    tmp = final.with_name(f"{prefix}{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()  # a fresh name (mkdir fails on an existing one); the umask's mode, as final's
    try:
        claim_dir(tmp, kind, what="temporary directory")
        with lock_dir(tmp, command):
            yield tmp
    finally:
        if tmp.is_dir() and read_marker(tmp) is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _remove_abandoned(path: Path):
    """A build directory of edgezoo's whose process is gone (its lock is free) goes."""
    if path.is_symlink() or not path.is_dir() or read_marker(path) is None:
        return
    try:
        with lock_dir(path, "edgezoo: removing an abandoned build"):
            shutil.rmtree(path)
    except DirLockedError:  # still being written: not abandoned
        pass


def retarget(tmp: str | os.PathLike, final: str | os.PathLike) -> list[Path]:
    """Text files under ``tmp`` (a sibling of ``final``) that name ``tmp`` name ``final``
    instead, as written by tools that record absolute paths (hls4ml's ``hls4ml_config.yml``).
    Only the directory's own name changes (``/p/.NAME.tag-x/f`` -> ``/p/NAME/f``), so relative,
    absolute and resolved spellings all follow. Binary files are left alone. Returns the files
    changed."""
    tmp, final = Path(tmp), Path(final)
    from zoo.io import write_text_atomic

    pairs = {tmp.name: final.name, json.dumps(tmp.name)[1:-1]: json.dumps(final.name)[1:-1]}
    needle = tmp.name.encode()
    changed = []
    for path in sorted(tmp.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 16 << 20:
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


def carry_over(old: str | os.PathLike, new: str | os.PathLike, ours) -> list[str]:
    """Copy each top-level entry of ``old`` that edgezoo did not write (``ours(name)`` is False,
    and ``new`` has nothing of that name) into ``new``, so that replacing ``old`` by ``new``
    keeps it: hard links where the file system allows, copies otherwise; symbolic links as
    links. ``old`` is not changed. Returns the names carried."""
    old, new = Path(old), Path(new)
    carried = []
    for src in sorted(old.iterdir(), key=lambda p: p.name):
        dst = new / src.name
        if src.name in (MARKER, LOCK) or ours(src.name) or os.path.lexists(dst):
            continue
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif src.is_dir():
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)
        carried.append(src.name)
    return carried


def _link_or_copy(src, dst):
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(src, dst, follow_symlinks=False)
    return dst


# edgezoo's own temporaries, by name: what a killed command may leave in a run directory
# (build_beside's .NAME.TAG-PID-HEX, replace_dir's .NAME.old-PID, zoo.io's .NAME-XXX.tmp,
# the precision search's .precision-search-XXX / .precision-chosen-XXX, ...)
_TEMPORARY = re.compile(
    r"^\.(precision-(search|chosen)-|.+(\.partial-|\.scratch-|\.old-\d+$|\.new$|\.tmp|-\d+-[0-9a-f]{8}$))"
)


def temporary(name: str) -> bool:
    """True for the name of a temporary file or directory edgezoo makes (hidden, patterned)."""
    return bool(_TEMPORARY.match(name))
