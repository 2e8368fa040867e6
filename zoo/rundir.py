"""Run directories that edgezoo owns: a marker that records what edgezoo wrote, a lock, path
containment, and one transaction for every replacement.

Ownership is proved, never guessed. A directory is edgezoo's only if it carries the marker
``.edgezoo.json``::

    {"schema": 2, "kind": "train" | "import" | "compress" | "export" | "bench" | "pipeline" | ...,
     "identity": {"model": ..., "dataset": ...}, "finished": true,
     "entries": {"model.keras": {"bytes": N, "sha256": "..."},      # a file edgezoo wrote
                 "hls4ml": {"dir": true, "tree": "<sha256 of its listing>"},
                 "backup": {"pending": true}},                      # about to be written
     "build": {"of": "NAME", "token": "..."}}                        # only on a build directory

edgezoo deletes or replaces only the entries its marker records (a recorded file whose bytes
changed since is the user's edit and is kept); every other entry is the user's and survives
every command, ``--force`` included. A non-empty directory without the marker (or with a marker
of an older edgezoo that recorded nothing) is never written to; ``edgezoo adopt DIR`` records
its current files as edgezoo's when the user asks.

:func:`own_dir` claims and locks a directory a command writes in place (training resumes in
it); :func:`replacing` builds a new result in a locked, marked sibling and :meth:`Build.commit`
puts it in place in one transaction: retarget recorded paths, record the new files, carry over
every entry that is not edgezoo's, swap atomically (``renameat2(RENAME_EXCHANGE)``), then remove
from the old directory only what its marker recorded plus carried entries verified present in
the new one; anything else stays, in ``NAME.kept-TIME`` beside it. A finished result of another
kind or identity is replaced only with ``force``; a command's own source never
(:func:`check_sources`). :func:`check_path` refuses to write through a symbolic link.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import socket
import stat
import sys
import time
import warnings
from pathlib import Path

from zoo.errors import EdgezooError

MARKER = ".edgezoo.json"
LOCK = ".edgezoo.lock"
SCHEMA = 2
_HIDDEN = (MARKER, LOCK)


class RunDirError(EdgezooError, ValueError):
    """A directory edgezoo must not write (not its own, a file, unwritable, a link leading out)
    or a path outside its root."""


class DirLockedError(RunDirError):
    """Another process is writing the directory."""


def adopt_hint(path) -> str:
    return (
        f"if an older edgezoo wrote it, `edgezoo adopt {path}` records its files as edgezoo's; "
        "else choose a new or empty directory"
    )


def check_writable(path: str | os.PathLike, what: str = "--out") -> Path:
    """Fail early, with one line, when ``path`` cannot become a directory edgezoo writes. A
    symbolic link to a directory is resolved once: edgezoo writes into its target and never
    replaces the link (it keeps pointing at the result)."""
    path = Path(path)
    if path.is_symlink():
        if not path.exists():
            raise RunDirError(
                f"{what} {path} is a symbolic link to {os.readlink(path)}, which does not exist; "
                "create the target or give another path."
            )
        path = Path(os.path.realpath(path))
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


# --------------------------------------------------------------------------- the marker


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


def _proves(marker: dict | None) -> bool:
    """A marker that records what edgezoo wrote (an older edgezoo's marker recorded nothing)."""
    return (
        bool(marker) and marker.get("schema") == SCHEMA and isinstance(marker.get("entries"), dict)
    )


def owned(path: str | os.PathLike) -> bool:
    """True when ``path`` carries edgezoo's marker recording what it wrote."""
    return _proves(read_marker(path))


def held_identity(path: str | os.PathLike):
    """The identity a directory was claimed with, or None."""
    marker = read_marker(path)
    return marker.get("identity") if marker else None


def _write_marker(path: Path, marker: dict):
    from zoo.io import write_json_atomic

    write_json_atomic(path / MARKER, marker)


def _new_marker(kind: str, identity=None, **extra) -> dict:
    return {
        "schema": SCHEMA,
        "kind": kind,
        "identity": identity,
        "created": _now(),
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
    return {"bytes": p.stat().st_size, "sha256": _sha256(p)}


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hash(root: Path) -> str:
    """sha256 of a directory's listing: every path below it with its kind and size."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in sorted(filenames) + [d + "/" for d in dirnames]:
            p = os.path.join(dirpath, name.rstrip("/"))
            size = os.lstat(p).st_size if not name.endswith("/") else 0
            h.update(f"{rel}/{name}\0{size}\n".encode())
    return h.hexdigest()


def record(path: str | os.PathLike, names, *, pending: bool = False) -> dict:
    """Record ``names`` (top-level entries of ``path``) in its marker as edgezoo's: as they are
    now, or (``pending``) as about to be written. The caller holds the lock."""
    path = Path(path)
    marker = read_marker(path)
    if not _proves(marker):
        return marker or {}
    entries = marker["entries"]
    for name in names:
        if name in _HIDDEN:
            continue
        p = path / name
        if pending:
            entries[name] = {"pending": True}
        elif os.path.lexists(p):
            entries[name] = entry_record(p)
    _write_marker(path, marker)
    return marker


def is_ours(path: str | os.PathLike, name: str, marker: dict | None = None) -> bool:
    """True when the entry ``name`` of ``path`` is recorded in its marker as edgezoo's and is
    still what edgezoo wrote (a pending entry counts; a recorded file whose bytes changed is the
    user's edit and does not)."""
    path = Path(path)
    marker = read_marker(path) if marker is None else marker
    if not _proves(marker):
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
        return p.is_dir() and (owned(p) or rec.get("tree") in (None, tree_hash(p)))
    return p.is_file() and p.stat().st_size == rec.get("bytes") and _sha256(p) == rec.get("sha256")


def remove_ours(path: str | os.PathLike, names) -> list[str]:
    """Remove those of ``names`` (top-level entries of ``path``) that :func:`is_ours` proves
    edgezoo's; anything else stays. The caller holds the lock. Returns the names removed."""
    path, removed = Path(path), []
    marker = read_marker(path)
    for name in names:
        if os.path.lexists(path / name) and is_ours(path, name, marker):
            _remove(path / name)
            removed.append(name)
    return removed


def _visible(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.name not in _HIDDEN)


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
    if path.is_dir() and _visible(path) and not owned(path):
        raise RunDirError(
            f"{what} {path} exists, is not empty and was not written by edgezoo (no record of "
            f"its files): it is left untouched; {adopt_hint(path)}."
        )
    path.mkdir(parents=True, exist_ok=True)
    if read_marker(path) is None or not owned(path):
        _write_marker(path, _new_marker(kind, identity))
    return path


def _describe(identity) -> str:
    if isinstance(identity, dict):
        return ", ".join(f"{k} {v}" for k, v in identity.items())
    return str(identity)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --------------------------------------------------------------------------- locks


@contextlib.contextmanager
def lock_dir(path: str | os.PathLike, command: str | None = None, *, shared: bool = False):
    """Hold a lock on directory ``path`` (created if needed) for the block: exclusive for a
    writer, ``shared`` (``LOCK_SH``) for readers that must not see it change (bench).

    A conflicting holder, in any process, gets :class:`DirLockedError` naming the writer (pid,
    command, host, since when). The lock dies with its process (``flock``), so a killed run
    never leaves a stale lock behind."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:  # a link (ELOOP) or no permission: never followed, one line
        raise RunDirError(
            f"{lock} cannot be opened as edgezoo's lock ({exc.strerror}); it must be a plain "
            "file: remove it or choose another directory."
        ) from None
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError:
        try:
            holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        except (OSError, ValueError):
            holder = {}
        os.close(fd)
        raise DirLockedError(
            f"{path} is being {'read' if not holder else 'written'} by another edgezoo process "
            f"(pid {holder.get('pid', '?')}, `{holder.get('command', '?')}` on host "
            f"{holder.get('host', '?')}, since {holder.get('since', '?')}); wait for it to finish "
            "or choose another directory."
        ) from None
    try:
        if not shared:
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
        if not shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# --------------------------------------------------------------------------- claiming


def check_sources(out, sources, what: str = "--out"):
    """Refuse, even with --force, an ``out`` that would replace a command's own source: the same
    directory, one that holds the source, or a recorded part of the source."""
    o = Path(os.path.realpath(out))
    for src in sources or ():
        if src is None:
            continue
        s = Path(os.path.realpath(src))
        if o == s:
            relation = "the same directory as"
        elif o in s.parents:
            if not s.is_dir() and not is_ours(o, s.relative_to(o).parts[0]):
                continue  # a user's file in out: kept anyway
            relation = "a directory holding"
        elif s in o.parents and s.is_dir():
            marker = read_marker(s)
            first = o.relative_to(s).parts[0]
            if not (_proves(marker) and first in marker["entries"]):
                continue  # a new folder inside the source (RUN/export): the source is untouched
            relation = "a part of"
        else:
            continue
        raise RunDirError(
            f"{what} {out} is {relation} {src}, what this command reads: edgezoo never replaces "
            "a command's own source (not even with --force); choose another directory."
        )


_NOUNS = {
    "train": "run",
    "import": "import",
    "compress": "compression",
    "export": "export",
    "pipeline": "pipeline",
    "model": "model directory",
}


def _check_replace(path: Path, kind: str, identity, force: bool, what: str) -> bool:
    """True when ``path`` holds a result that a command of ``kind``/``identity`` must replace
    (another kind or identity); raises unless that result is unfinished or ``force``."""
    marker = read_marker(path) or {}
    if not marker.get("entries"):
        return False
    same_kind = marker.get("kind") == kind
    same_id = identity is None or marker.get("identity") in (None, identity)
    if same_kind and same_id:
        return False
    if marker.get("finished") and not force:
        held = _NOUNS.get(marker.get("kind"), f"{marker.get('kind')} result")
        raise RunDirError(
            f"{what} {path} holds a finished {held} of {_describe(marker.get('identity'))}, "
            f"not {_NOUNS.get(kind, kind)} of {_describe(identity)}; choose "
            "another directory, or pass --force to replace it (files edgezoo did not write are kept)."
        )
    return True


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
    sources=(),
    writes=(),
):
    """Claim and lock ``path`` for a command that writes in place (training resumes in its run
    directory; ``identity`` None: a command writing beside what is there, as bench). A result of
    another kind or identity is first replaced by an empty directory (:class:`Build`: the
    user's files carried over), with ``force`` where it is finished. What the block writes is
    recorded in the marker when it ends; the marker says ``finished`` when it ends without error.
    A directory this call created is removed again when the block fails before writing into it.
    ``writes``: the names the command writes in ``path``; one that is a link or a file edgezoo
    did not write is refused before anything changes. ``finished`` is accepted for older
    callers and not used."""
    path = check_writable(path, what)
    check_sources(path, sources, what)
    created = not path.exists()
    try:
        claim_dir(path, kind, what=what)
        with lock_dir(path, command):
            claim_dir(path, kind, what=what)
            check_writes(path, writes, what)
            if identity is not None and _check_replace(path, kind, identity, force, what):
                with build_beside(path, kind, identity, command) as tmp:
                    Build(tmp, path, kind, identity).commit(finished=False)
                    with _recording(path, kind, identity):
                        yield path
            else:
                with _recording(path, kind, identity):
                    yield path
    except BaseException:
        remove_if_untouched(path, created)
        raise


def check_writes(path, names, what: str = "--out"):
    """Refuse, with one line, to write ``names`` in ``path`` where one is a symbolic link or a
    file edgezoo did not write (or one the user changed since)."""
    path = Path(path)
    marker = read_marker(path)
    for name in names:
        check_path(path / name)
        if os.path.lexists(path / name) and not is_ours(path, name, marker):
            raise RunDirError(
                f"{path / name} was not written by edgezoo: the command would overwrite it; "
                f"move it away or choose another {what}."
            )


@contextlib.contextmanager
def _recording(path: Path, kind: str, identity):
    """Record in ``path``'s marker the entries the block wrote (new ones, and recorded ones that
    changed); an entry that was there, unrecorded, is the user's and stays unrecorded."""
    before = {name: _stat_key(path / name) for name in _visible(path)}
    marker = read_marker(path)
    if marker.get("kind") == kind and identity is not None and marker.get("identity") is None:
        marker["identity"] = identity
        _write_marker(path, marker)
    ok = False
    try:
        yield
        ok = True
    finally:
        if path.is_dir():
            marker = read_marker(path) or {}
            if _proves(marker):
                entries = marker["entries"]
                for name in _visible(path):
                    if name not in before or (
                        name in entries and before[name] != _stat_key(path / name)
                    ):
                        entries[name] = entry_record(path / name)
                    elif entries.get(name, {}).get("pending"):
                        entries[name] = entry_record(path / name)
                for name in [n for n, r in entries.items() if r.get("pending")]:
                    if not os.path.lexists(path / name):
                        del entries[name]
                if ok and marker.get("kind") == kind:
                    marker["finished"] = True
                _write_marker(path, marker)


def _stat_key(p: Path):
    st = os.lstat(p)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def remove_if_untouched(path: Path, created: bool):
    """A directory this call created that holds nothing but the marker and lock goes again."""
    path = Path(path)
    if created and path.is_dir() and not path.is_symlink() and not _visible(path):
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def replacing(
    final,
    kind: str,
    identity: dict | None = None,
    *,
    force: bool = False,
    what: str = "--out",
    command: str | None = None,
    sources=(),
):
    """Claim and lock ``final`` and yield a :class:`Build`: a locked, marked, empty sibling to
    build the new result in. :meth:`Build.commit` inside the block puts it in place in one
    transaction; a block that ends without committing (an error, Ctrl-C) leaves ``final`` as
    it was and removes the build (a killed one is removed by the next build of ``final``)."""
    final = check_writable(final, what)
    check_sources(final, sources, what)
    created = not final.exists()
    try:
        claim_dir(final, kind, what=what)
        with lock_dir(final, command):
            claim_dir(final, kind, what=what)
            _check_replace(final, kind, identity, force, what)
            earlier = bool((read_marker(final) or {}).get("entries"))
            with build_beside(final, kind, identity, command) as tmp:
                yield Build(tmp, final, kind, identity, earlier=earlier)
    except BaseException:
        remove_if_untouched(final, created)
        raise


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
        _write_marker(final, marker)
        if tmp.is_dir() and not tmp.is_symlink():
            self.kept = _dispose_old(tmp, final, carried)
        return final


def replace_with_empty(path, kind: str, identity=None, command: str | None = None) -> Path:
    """Replace the result in ``path`` by an empty directory of ``kind``/``identity`` in one
    :class:`Build` transaction (the user's entries carried over). The caller checked with
    :func:`check_replace` that it may."""
    with build_beside(path, kind, identity, command) as tmp:
        return Build(tmp, path, kind, identity).commit(finished=False)


def check_replace(path, kind: str, identity, *, force: bool = False, what: str = "--out") -> bool:
    """True when ``path`` holds a result of another kind or identity that may be replaced (it is
    unfinished, or ``force``); a finished one without ``force`` is refused with one line."""
    return _check_replace(Path(path), kind, identity, force, what)


def _record_all(path: Path, *, finished: bool, top: bool = True):
    """Every entry of a build is edgezoo's: record them, in nested marked directories too."""
    marker = read_marker(path)
    if not _proves(marker):
        return
    for name in _visible(path):
        p = path / name
        if p.is_dir() and not p.is_symlink() and owned(p):
            _record_all(p, finished=True, top=False)
    marker = read_marker(path)
    marker["entries"] = {name: entry_record(path / name) for name in _visible(path)}
    marker["finished"] = finished if top else True
    _write_marker(path, marker)


def _carry(old: Path, new: Path, rel: str = "") -> list[str]:
    """Hard-link (or copy) every entry of ``old`` that is not edgezoo's into ``new`` (unless
    ``new`` uses the name); inside edgezoo's nested directories too. Returns the paths."""
    marker = read_marker(old)
    carried = []
    for src in sorted(old.iterdir(), key=lambda p: p.name):
        name, dst = src.name, new / src.name
        if name in _HIDDEN:
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
    return a.stat().st_size == b.stat().st_size and _sha256(a) == _sha256(b)


def _clean(old: Path, new: Path, carried: set, rel: str = "") -> bool:
    """Remove from ``old`` what its marker records and what was carried into ``new`` whole.
    True when nothing visible is left."""
    marker = read_marker(old)
    for src in sorted(old.iterdir(), key=lambda p: p.name):
        name = src.name
        if name in _HIDDEN:
            continue
        key = f"{rel}{name}"
        if key in carried:
            if _same(src, new / name):
                _remove(src)
        elif is_ours(old, name, marker):
            if _marked_dir(src):
                if _clean(src, new / name, carried, key + "/"):
                    _remove(src)
            else:
                _remove(src)
    return not _visible(old)


def _remove(p: Path):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink()


def _dispose_old(old: Path, final: Path, carried: set) -> Path | None:
    """After the swap: the old result's recorded and carried entries go; the directory goes
    when nothing else is left, else it stays beside ``final`` as the user's ``NAME.kept-TIME``."""
    if _clean(old, final, carried):
        shutil.rmtree(old, ignore_errors=True)
        return None
    for name in _HIDDEN:
        with contextlib.suppress(OSError):
            (old / name).unlink()
    kept = final.with_name(f"{final.name}.kept-{time.strftime('%Y%m%d-%H%M%S')}")
    while kept.exists():
        kept = kept.with_name(kept.name + "x")
    os.replace(old, kept)
    warnings.warn(
        f"{final} was replaced; what edgezoo did not write there and could not carry over "
        f"(or you changed) is kept in {kept}: {', '.join(_visible(kept)[:5])}",
        stacklevel=2,
    )
    return kept


# --------------------------------------------------------------------------- building beside


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
    _write_marker(tmp, _new_marker(kind, identity, build={"of": final.name, "token": token}))
    try:
        with lock_dir(tmp, command):
            yield tmp
    finally:
        marker = read_marker(tmp) if tmp.is_dir() and not tmp.is_symlink() else None
        if marker and (marker.get("build") or {}).get("token") == token:
            shutil.rmtree(tmp, ignore_errors=True)


def _remove_abandoned(final: Path):
    """Builds of ``final`` (by their marker) whose process is gone (the lock is free) go."""
    parent = final.parent
    if not parent.is_dir():
        return
    for path in parent.iterdir():
        if path == final or path.is_symlink() or not path.is_dir():
            continue
        marker = read_marker(path)
        if not marker or (marker.get("build") or {}).get("of") != final.name:
            continue
        try:
            with lock_dir(path, "edgezoo: removing an abandoned build"):
                shutil.rmtree(path)
        except DirLockedError:  # still being written: not abandoned
            pass


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
    from zoo.io import write_text_atomic

    pairs = {tmp.name: final.name, json.dumps(tmp.name)[1:-1]: json.dumps(final.name)[1:-1]}
    needle = tmp.name.encode()
    changed = []
    for path in sorted(tmp.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 16 << 20:
            continue
        if path.name in _HIDDEN:
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


# --------------------------------------------------------------------------- paths


def check_path(path: str | os.PathLike, what: str = "file") -> Path:
    """Refuse, with one line, to write ``path`` when it is a symbolic link or when its folder
    leads (through a link) outside the edgezoo directory it lies in."""
    path = Path(path)
    if path.is_symlink():
        raise RunDirError(
            f"{path} is a symbolic link (to {os.readlink(path)}): edgezoo does not write through "
            "links; remove the link or choose another directory."
        )
    root = path.parent if path.parent.is_absolute() else Path.cwd() / path.parent
    probe = root
    for _ in range(64):
        if (probe / MARKER).is_file():
            real_root, real = os.path.realpath(probe), os.path.realpath(path.parent)
            if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
                raise RunDirError(
                    f"{path}: its folder {path.parent} leads outside the edgezoo directory "
                    f"{probe} (a symbolic link, to {real}); edgezoo does not write through links. "
                    "Remove the link or choose another directory."
                )
            break
        if probe.parent == probe:
            break
        probe = probe.parent
    return path


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


# --------------------------------------------------------------------------- adopt


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
    with lock_dir(path, f"adopt {path}"):
        marker = _new_marker(kind or guessed, ident, adopted=_now())
        marker["finished"] = True
        marker["entries"] = {name: entry_record(path / name) for name in _visible(path)}
        _write_marker(path, marker)
    return marker
