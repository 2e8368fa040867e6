"""The ownership marker: what edgezoo wrote in a directory, proved, never guessed.

A directory is edgezoo's only if it carries the marker ``.edgezoo.json``::

    {"schema": 2, "kind": "train" | "import" | "compress" | "export" | "bench" | "pipeline" | ...,
     "identity": {"model": ..., "dataset": ...}, "finished": true,
     "entries": {"model.keras": {"bytes": N, "sha256": "..."},      # a file edgezoo wrote
                 "hls4ml": {"dir": true, "tree": "<sha256 of its listing>"},
                 "backup": {"pending": true}},                      # about to be written
     "build": {"of": "NAME", "token": "..."}}                        # only on a build directory

edgezoo deletes or replaces only the entries its marker records (a recorded file whose bytes
changed since is the user's edit and is kept, :func:`is_ours`); every other entry is the user's
and survives every command, ``--force`` included. A non-empty directory without the marker (or
with a marker of an older edgezoo that recorded nothing) is never written to
(:func:`claim_dir`); ``edgezoo adopt DIR`` records its current files as edgezoo's when the user
asks (:func:`adopt_dir`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from zoo.core.io import write_json_atomic
from zoo.core.locks import lock_dir, now
from zoo.core.paths import HIDDEN, MARKER, SCHEMA, RunDirError, adopt_hint, check_writable


def read_marker(path: str | os.PathLike) -> dict | None:
    """The marker of ``path``, or None when there is none (a damaged one reads as a marker of
    kind "unknown" recording nothing)."""
    marker = Path(path) / MARKER
    if not marker.is_file() or marker.is_symlink():
        return None
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {"kind": "unknown", "identity": None}
    return data if isinstance(data, dict) else {"kind": "unknown", "identity": None}


def proves(marker: dict | None) -> bool:
    """A marker that records what edgezoo wrote (an older edgezoo's marker recorded nothing)."""
    return (
        bool(marker) and marker.get("schema") == SCHEMA and isinstance(marker.get("entries"), dict)
    )


def owned(path: str | os.PathLike) -> bool:
    """True when ``path`` carries edgezoo's marker recording what it wrote."""
    return proves(read_marker(path))


def held_identity(path: str | os.PathLike):
    """The identity a directory was claimed with, or None."""
    marker = read_marker(path)
    return marker.get("identity") if marker else None


def write_marker(path: Path, marker: dict):
    write_json_atomic(path / MARKER, marker)


def new_marker(kind: str, identity=None, **extra) -> dict:
    return {
        "schema": SCHEMA,
        "kind": kind,
        "identity": identity,
        "created": now(),
        "finished": False,
        "entries": {},
        "note": "written by edgezoo: it replaces or deletes only the entries recorded here; "
        "anything else in this directory is yours and is kept",
        **extra,
    }


def entry_record(p: Path) -> dict:
    """What the marker records of one entry: a file's bytes and sha256, a directory's flag and
    the hash of its listing, a link's target."""
    if p.is_symlink():
        return {"link": os.readlink(p)}
    if p.is_dir():
        return {"dir": True, "tree": tree_hash(p)}
    return {"bytes": p.stat().st_size, "sha256": sha256(p)}


def sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hash(root: Path) -> str:
    """sha256 of a directory's listing: every path below it with its kind, and a file's size and
    modification time (so the user's edit of a file inside, even of the same size, counts)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in sorted(filenames) + [d + "/" for d in dirnames]:
            p = os.path.join(dirpath, name.rstrip("/"))
            st = os.lstat(p)
            size = f"{st.st_size} {st.st_mtime_ns}" if not name.endswith("/") else "0"
            h.update(f"{rel}/{name}\0{size}\n".encode())
    return h.hexdigest()


def record(path: str | os.PathLike, names, *, pending: bool = False) -> dict:
    """Record ``names`` (top-level entries of ``path``) in its marker as edgezoo's: as they are
    now, or (``pending``) as about to be written. The caller holds the lock."""
    path = Path(path)
    marker = read_marker(path)
    if not proves(marker):
        return marker or {}
    entries = marker["entries"]
    for name in names:
        if name in HIDDEN:
            continue
        p = path / name
        if pending:
            entries[name] = {"pending": True}
        elif os.path.lexists(p):
            entries[name] = entry_record(p)
    write_marker(path, marker)
    return marker


def is_ours(path: str | os.PathLike, name: str, marker: dict | None = None) -> bool:
    """True when the entry ``name`` of ``path`` is recorded in its marker as edgezoo's and is
    still what edgezoo wrote (a pending entry counts; a recorded file whose bytes changed is the
    user's edit and does not)."""
    path = Path(path)
    marker = read_marker(path) if marker is None else marker
    if not proves(marker):
        return False
    rec = marker["entries"].get(name)
    if not isinstance(rec, dict):
        return False
    p = path / name
    if rec.get("pending"):
        return True
    if "link" in rec:
        return p.is_symlink() and os.readlink(p) == rec["link"]
    if p.is_symlink():
        return False
    if rec.get("dir"):
        # a record without its listing (forged, or hand-written) proves nothing
        return p.is_dir() and (
            owned(p) or (rec.get("tree") is not None and rec["tree"] == tree_hash(p))
        )
    return p.is_file() and p.stat().st_size == rec.get("bytes") and sha256(p) == rec.get("sha256")


def remove_ours(path: str | os.PathLike, names) -> list[str]:
    """Remove those of ``names`` (top-level entries of ``path``) that :func:`is_ours` proves
    edgezoo's; anything else stays. The caller holds the lock. Returns the names removed."""
    path, removed = Path(path), []
    marker = read_marker(path)
    for name in names:
        if os.path.lexists(path / name) and is_ours(path, name, marker):
            remove_entry(path / name)
            removed.append(name)
    return removed


def remove_entry(p: Path):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink()


def visible(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.name not in HIDDEN)


def claim_dir(
    path: str | os.PathLike,
    kind: str,
    identity: dict | None = None,
    *,
    force: bool = False,
    what: str = "--out",
    finished: str | None = None,
) -> Path:
    """Make ``path`` a directory of edgezoo's, or refuse with one line: a missing or empty
    directory is created and marked; a marked one is accepted as it is (:func:`own_dir` decides
    about replacing it); anything else is the user's and is refused. ``force`` and ``finished``
    are accepted for older callers and not used here."""
    path = check_writable(path, what)
    if path.is_dir() and visible(path) and not owned(path):
        raise RunDirError(
            f"{what} {path} exists, is not empty and was not written by edgezoo (no record of "
            f"its files): it is left untouched; {adopt_hint(path)}."
        )
    path.mkdir(parents=True, exist_ok=True)
    if read_marker(path) is None or not owned(path):
        write_marker(path, new_marker(kind, identity))
    return path


def describe(identity) -> str:
    if isinstance(identity, dict):
        return ", ".join(f"{k} {v}" for k, v in identity.items())
    return str(identity)


def adopt_dir(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Mark ``path`` (an older edgezoo's unmarked run, on the user's request) as edgezoo's,
    recording its current files as edgezoo's own. Returns the marker."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if not path.is_dir():
        raise RunDirError(f"adopt: {path} is not a directory; give the run directory to adopt.")
    if owned(path):
        raise RunDirError(f"adopt: {path} is edgezoo's already (it has {MARKER}); nothing to do.")
    home = Path(os.path.realpath(Path.home()))
    real = Path(os.path.realpath(path))
    if real == home or real in home.parents or real.parent == real:
        raise RunDirError(
            f"adopt: {path} is {'your home directory' if real == home else 'a folder above your home directory'}"
            f"{'' if real.parent != real else ' (the root)'}; adopting it would let a later command "
            "delete every file in it. Adopt the run directory itself."
        )
    ident, guessed = None, "adopted"
    for name, k in (
        ("pipeline.json", "pipeline"),
        ("manifest.json", "export"),
        ("compression.json", "compress"),
        ("config.json", "train"),
    ):
        try:
            data = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        guessed = k
        src = data.get("identity") or data.get("source") or data
        if isinstance(src, dict) and "model" in src:
            ident = {"model": src.get("model"), "dataset": src.get("dataset")}
        break
    if guessed == "adopted" and kind is None:
        raise RunDirError(
            f"adopt: {path} holds none of the files an edgezoo run writes (config.json, "
            "compression.json, manifest.json, pipeline.json); it does not look like an older "
            "edgezoo's run, and every file recorded could be deleted later. If it is one, pass "
            "--kind."
        )
    with lock_dir(path, f"adopt {path}"):
        marker = new_marker(kind or guessed, ident, adopted=now())
        marker["finished"] = True
        marker["entries"] = {name: entry_record(path / name) for name in visible(path)}
        write_marker(path, marker)
    return marker
