"""Claiming a directory for a command: in place, or by replacing it.

:func:`own_dir` claims and locks a directory a command writes in place (training resumes in it)
and records what the block wrote; :func:`replacing` claims and locks one and yields a
:class:`~zoo.core.transaction.Build` to build the new result beside it. A finished result of
another kind or identity is replaced only with ``force``; a command's own source never
(:func:`check_sources`); a name the command writes that is a link or the user's file is refused
before anything changes (:func:`check_writes`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from zoo.core.locks import lock_dir
from zoo.core.marker import (
    claim_dir,
    describe,
    entry_record,
    is_ours,
    proves,
    read_marker,
    visible,
    write_marker,
)
from zoo.core.paths import RunDirError, check_path, check_writable
from zoo.core.transaction import Build, build_beside


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
            if not (proves(marker) and first in marker["entries"]):
                continue  # a new folder inside the source (RUN/export): the source is untouched
            relation = "a part of"
        else:
            continue
        raise RunDirError(
            f"{what} {out} is {relation} {src}, what this command reads: edgezoo never replaces "
            "a command's own source (not even with --force); choose another directory."
        )


def check_not_cwd(path, what: str = "--out"):
    """Refuse, with one line, to replace the current directory or one above it: the swap would
    leave this process and the user's shell in a removed folder (which looks empty)."""
    try:
        cwd = Path(os.path.realpath(os.getcwd()))
    except OSError:
        return
    p = Path(os.path.realpath(path))
    if p == cwd or p in cwd.parents:
        raise RunDirError(
            f"{what} {path} is the current directory{'' if p == cwd else ' or holds it'}: edgezoo "
            "replaces a result by swapping in a new directory, which would leave your shell in a "
            "removed folder. Give a folder below it (e.g. --out ./out) or run from elsewhere."
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
            f"{what} {path} holds a finished {held} of {describe(marker.get('identity'))}, "
            f"not {_NOUNS.get(kind, kind)} of {describe(identity)}; choose "
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
                check_not_cwd(path, what)
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
    before = {name: _stat_key(path / name) for name in visible(path)}
    marker = read_marker(path)
    if marker.get("kind") == kind and identity is not None and marker.get("identity") is None:
        marker["identity"] = identity
        write_marker(path, marker)
    ok = False
    try:
        yield
        ok = True
    finally:
        if path.is_dir():
            marker = read_marker(path) or {}
            if proves(marker):
                entries = marker["entries"]
                for name in visible(path):
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
                write_marker(path, marker)


def _stat_key(p: Path):
    st = os.lstat(p)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def remove_if_untouched(path: Path, created: bool):
    """A directory this call created that holds nothing but the marker and lock goes again."""
    path = Path(path)
    if created and path.is_dir() and not path.is_symlink() and not visible(path):
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
    check_not_cwd(final, what)
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
