"""The lock of a directory edgezoo writes: one writer (or several readers) at a time, across
processes; the holder is named in the error of whoever waits (:func:`lock_dir`)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from zoo.core.paths import LOCK, RunDirError


class DirLockedError(RunDirError):
    """Another process is writing the directory."""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


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
                "since": now(),
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
