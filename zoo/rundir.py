"""Run directories that edgezoo owns: a marker, a lock, path containment, atomic replacement.

Every stage writes into a directory it has claimed (:func:`claim_dir`): a new or empty
directory gets the marker file ``.edgezoo.json`` before anything else is written; a
non-empty directory without it is the user's and is never written to, deleted or replaced.
A directory holding a finished run of a *different* identity (another model or data set)
is only taken over with ``force``. :func:`lock_dir` holds an exclusive ``fcntl`` lock on
``DIR/.edgezoo.lock`` while a command writes; a second writer gets one error naming the
holder. :func:`inside` resolves a path taken from a recipe, config or manifest and rejects
it unless it stays inside its root. :func:`replace_dir_atomically` swaps a finished
temporary sibling in for an earlier result.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
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
def lock_dir(path: str | os.PathLike, command: str | None = None):
    """Hold an exclusive lock on directory ``path`` (created if needed) for the block.

    A second writer, in any process, gets :class:`DirLockedError` naming the holder (pid,
    command, host, since when). The lock dies with its process (``flock``), so a killed run
    never leaves a stale lock behind.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
    removed only after the new one is in place."""
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
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final
