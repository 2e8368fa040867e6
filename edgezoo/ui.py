"""What the user sees while a command works: edgezoo's own lines and progress bars on screen;
TensorFlow / absl / converter logs and third-party warnings in a log file.

Much of the noise is written by C++ straight to file descriptors 1 and 2 (oneDNN notices,
``cuInit``, the TFLite converter's ``fully_quantize: 0, ...``), so :class:`Session` points those
descriptors at the log with ``os.dup2`` for the whole command and gives Python's ``sys.stdout``
a stream to the real terminal. The log lands in ``RUN_DIR/edgezoo.log`` when the command names
a run directory (:func:`log_into`), else it stays in a temporary file that a failure names.
``--verbose`` leaves every stream alone.

Progress: stage code reports ``on_step(label, done, total, info)``; :class:`Steps` draws one
rich bar (with time left) per label on a terminal and prints plain lines otherwise (tests, CI,
pipes), so nothing garbles.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

LOG_NAME = "edgezoo.log"
OWN_PACKAGES = ("zoo", "training", "compress", "export", "edgezoo")
_ROOT = Path(__file__).resolve().parents[1]
_current: Session | None = None


def _is_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def _own_file(filename: str) -> bool:
    try:
        rel = Path(filename).resolve().relative_to(_ROOT)
    except (ValueError, OSError):
        return False
    return rel.parts[0] in OWN_PACKAGES


class Session:
    """One command's output: a log for the libraries, the terminal for edgezoo."""

    def __init__(self, command: str, *, verbose: bool = False):
        self.command, self.verbose = command, verbose
        self.log_path: Path | None = None
        self.log_dir: Path | None = None
        self.steps = Steps(sys.stdout, live=False)
        self.term_err = None
        self._undo = contextlib.ExitStack()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Session:
        global _current
        _current = self
        if self.verbose:
            self.steps = Steps(sys.stdout, live=False)
            return self
        fd, name = tempfile.mkstemp(prefix=f"edgezoo-{self.command}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(name)
        log = self._undo.enter_context(open(self.log_path, "ab", buffering=0))
        _flush(sys.stdout)
        _flush(sys.stderr)
        saved = {}
        for fd in (1, 2):
            try:
                saved[fd] = os.dup(fd)
            except OSError:  # no such descriptor (a detached process): nothing to keep quiet
                saved[fd] = os.open(os.devnull, os.O_WRONLY)
            self._undo.callback(os.close, saved[fd])
            self._undo.callback(os.dup2, saved[fd], fd)
            os.dup2(log.fileno(), fd)
        self._undo.callback(_flush, sys.stderr)
        self._undo.callback(_flush, sys.stdout)
        term_out = term_err = None
        self.term_err = sys.stderr
        if _is_fd(sys.stdout, 1):  # a real process: print() keeps reaching the terminal
            term_out = _text_stream(saved[1], sys.stdout)
            self._undo.enter_context(contextlib.redirect_stdout(term_out))
            self._undo.callback(term_out.flush)
        if _is_fd(sys.stderr, 2):  # library warnings and logging handlers write to fd 2: the log
            term_err = self.term_err = _text_stream(saved[2], sys.stderr)
            self._undo.callback(term_err.flush)
            self._undo.enter_context(_route_warnings(term_err))
        self.steps = Steps(sys.stdout, live=bool(term_out) and term_out.isatty())
        self._undo.callback(self.steps.close)
        return self

    def __exit__(self, exc_type, exc, tb):
        global _current
        _current = None
        self.steps.close()
        self._undo.close()
        self._place_log(failed=exc_type is not None)
        return False

    def _place_log(self, failed: bool):
        if self.log_path is None:
            return
        dest = self._move_log(self.log_dir)
        text = self.log_path.read_bytes()
        if dest is not None:
            self.log_path.unlink()
            self.log_path = dest
        elif not text or not failed:  # nothing logged, or a success without a run directory
            self.log_path.unlink()
            self.log_path = None

    def _move_log(self, directory: Path | None) -> Path | None:
        """Append what the log holds to DIRECTORY/edgezoo.log and empty it; only into a
        directory edgezoo owns (its marker), only into a log edgezoo wrote there (recorded in
        the marker), never through a link: a user's file is never written to."""
        if self.log_path is None or directory is None or not _owned(directory):
            return None
        from zoo.core.marker import is_ours, record
        from zoo.core.paths import RunDirError, check_path

        dest = directory / LOG_NAME
        try:
            check_path(dest)
        except RunDirError:
            return None
        if os.path.lexists(dest) and not is_ours(directory, LOG_NAME):
            return None  # a file of the user's by that name
        _flush(sys.stdout)
        _flush(sys.stderr)
        text = self.log_path.read_bytes()
        fd = os.open(dest, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with open(fd, "ab") as f:
            f.write(f"==== edgezoo {self.command} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            f.write(text)
        os.truncate(self.log_path, 0)  # the descriptors append (O_APPEND): they go on from 0
        with contextlib.suppress(OSError, ValueError):
            record(directory, [LOG_NAME])
        return dest

    def set_log_dir(self, directory: Path):
        if self.log_dir is not None and self.log_dir != directory:
            self._move_log(self.log_dir)  # what was logged so far belongs to the earlier directory
        self.log_dir = directory

    def log_hint(self) -> str:
        """`` (library log: PATH)`` when the log holds something, for the one-line error."""
        if self.log_path is not None and self.log_path.exists() and self.log_path.stat().st_size:
            return f" (library log: {self.log_path})"
        return ""


def _flush(stream):
    with contextlib.suppress(Exception):
        stream.flush()


def _text_stream(fd: int, like) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(
        raw,
        encoding=getattr(like, "encoding", None) or "utf-8",
        errors=getattr(like, "errors", None) or "backslashreplace",
        line_buffering=True,
    )


@contextlib.contextmanager
def _route_warnings(terminal):
    """edgezoo's own warnings stay on screen (one line); everyone else's go to the log."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if _own_file(filename):
            terminal.write(f"warning: {message}\n")
        else:
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


# ---------------------------------------------------------------------- for the commands


def log_into(directory) -> None:
    """The command's run directory: the library log is appended to DIRECTORY/edgezoo.log."""
    if _current is not None and directory is not None:
        _current.set_log_dir(Path(directory))


def _owned(directory: Path) -> bool:
    from zoo.core.marker import owned

    return directory.is_dir() and owned(directory)


def steps() -> Steps:
    """The ``on_step(label, done, total, info="")`` callable to hand to the stage code."""
    return _current.steps if _current is not None else Steps(sys.stdout, live=False)


def say(msg: str) -> None:
    """One progress line of edgezoo's own (a ``progress=`` callable for the stage code)."""
    steps().line(msg)


def note(msg: str) -> None:
    """A line of edgezoo's own on the terminal's stderr (keeps stdout clean for --json).
    Plain ``print(..., file=sys.stderr)`` inside a command goes to the log."""
    stream = getattr(_current, "term_err", None) or sys.stderr
    stream.write(msg + "\n")
    stream.flush()


# ---------------------------------------------------------------------- progress


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 60}:{seconds % 60:02d}"
        if seconds < 3600
        else f"{seconds // 3600}h{seconds // 60 % 60:02d}"
    )


class Steps:
    """``on_step(label, done, total, info="")``: a bar per label. A new label (or ``done``
    going back) closes the previous bar; so does reaching ``total``."""

    PLAIN_EVERY_S = 2.0  # without a terminal: a line per step when there are few, else every 2 s
    PLAIN_ALL = 20

    def __init__(self, stream, *, live: bool):
        self.stream = stream if stream is not None else open(os.devnull, "w")  # no stdout at all
        self.live = live
        self._bar = (
            None  # (label, rich Progress | None, task id, start time, first done, last shown)
        )
        self._state = None

    def __call__(self, label: str, done: int, total: int, info: str = "") -> None:
        total = max(int(total), int(done), 1)
        if self._state and (self._state["label"] != label or done < self._state["done"]):
            self.close()
        if not self._state:
            self._open(label, done, total)
        st = self._state
        st.update(done=done, total=total, info=info)
        if st["progress"] is not None:
            st["progress"].update(st["task"], completed=done, total=total, info=info)
        elif done > st["printed"] and (
            done >= total
            or total <= self.PLAIN_ALL
            or time.monotonic() - st["shown"] >= self.PLAIN_EVERY_S
        ):
            self._plain(st)
        if done >= total:
            self.close()

    def _open(self, label, done, total):
        progress = task = None
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            progress = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("<"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream),
                transient=False,
                redirect_stderr=False,
            )  # fd 2 is the log: keep it there
            progress.start()
            task = progress.add_task(label, total=total, completed=done, info="")
        self._state = {
            "label": label,
            "progress": progress,
            "task": task,
            "t0": time.monotonic(),
            "done0": done,
            "done": done,
            "total": total,
            "info": "",
            "shown": time.monotonic(),
            "printed": done,
        }

    def _plain(self, st):
        elapsed = time.monotonic() - st["t0"]
        rate = (st["done"] - st["done0"]) / elapsed if elapsed > 0 else 0
        left = (
            f", ~{_clock((st['total'] - st['done']) / rate)} left"
            if rate > 0 and st["done"] < st["total"]
            else ""
        )
        info = f"  {st['info']}" if st["info"] else ""
        self.stream.write(
            f"  {st['label']}: {st['done']}/{st['total']} [{_clock(elapsed)}{left}]{info}\n"
        )
        self.stream.flush()
        st["shown"], st["printed"] = time.monotonic(), st["done"]

    def close(self) -> None:
        st, self._state = self._state, None
        if not st:
            return
        if st["progress"] is not None:
            st["progress"].stop()
        elif st["printed"] != st["done"]:
            self._plain(st)

    def line(self, msg: str) -> None:
        """A line of edgezoo's own, printed above any bar."""
        if self._state and self._state["progress"] is not None:
            self._state["progress"].console.print(msg, markup=False, highlight=False)
        else:
            self.stream.write(msg + "\n")
            self.stream.flush()
