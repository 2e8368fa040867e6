"""Paths edgezoo writes: the names it reserves in a directory (its marker and lock), and the
checks that keep every write where it belongs -- a writable directory (:func:`check_writable`),
no write through a symbolic link or out of the edgezoo directory (:func:`check_path`), a path
inside its root (:func:`inside`), a plain name (:func:`safe_name`)."""

from __future__ import annotations

import os
from pathlib import Path

from zoo.core.errors import EdgezooError

MARKER = ".edgezoo.json"


LOCK = ".edgezoo.lock"


SCHEMA = 2


HIDDEN = (MARKER, LOCK)


class RunDirError(EdgezooError, ValueError):
    """A directory edgezoo must not write (not its own, a file, unwritable, a link leading out)
    or a path outside its root."""


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
    # resolved: "." and ".." name their directory (a build goes beside it), and "x/link/.." is
    # where the system would write, not where its spelling seems to point
    path = Path(os.path.realpath(path))
    if path.parent == path:
        raise RunDirError(
            f"{what} {path} is the root of the file system; give a directory to write into."
        )
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{what} {path} is a file, not a directory: give a directory path.")
    for name in HIDDEN:
        if os.path.lexists(path / name) and (
            os.path.islink(path / name) or not os.path.isfile(path / name)
        ):
            raise RunDirError(
                f"{what} {path}: {name}, the name edgezoo keeps its record (or lock) under, is "
                "a link or a directory there, not edgezoo's file; remove it or choose another "
                "directory."
            )
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
