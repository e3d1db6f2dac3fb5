"""LibRaw's own messages, captured from standard error and logged instead of printed.

LibRaw reports damaged data ("Unexpected end of file", "data corrupted at 1378") with
``fprintf(stderr, ...)`` in C, past Python's ``sys.stderr``: the lines would land in the
progress bar of ``rawproc process`` and, bare, in the worker log, even for files that then
render fine. While ``captured()`` is active, file descriptor 2 points at a temporary file;
on exit it is restored and every line is logged at debug level on ``rawproc.imaging.libraw``
and handed to the caller, which may quote them in a technical ``detail``.

File descriptor 2 belongs to the whole process, so nested and concurrent captures (threads)
share one redirection, undone by the last to leave; a child forked during a capture gets its
standard error back at once. Python code that writes to standard error meanwhile is captured
too, and logged the same way, so nothing is lost.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO

logger = logging.getLogger("rawproc.imaging.libraw")

# Bytes of captured output kept; a garbled file can make LibRaw print a line per row.
_MAX_BYTES = 64 * 1024
_MAX_LINES = 20


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved: int | None = None
        self.sink: IO[bytes] | None = None
        self.fork_hook = False


_state = _State()


class Capture:
    """What LibRaw wrote: ``so_far()`` while the capture runs, ``lines`` once it has ended
    (filled for the outermost capture of the process only)."""

    def __init__(self, sink: IO[bytes] | None) -> None:
        self.lines: list[str] = []
        self._sink = sink

    def so_far(self) -> str:
        if self._sink is None:
            return "\n".join(self.lines)
        try:
            return os.pread(self._sink.fileno(), _MAX_BYTES, 0).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""


@contextmanager
def captured() -> Iterator[Capture]:
    """Redirect file descriptor 2 while the block runs, then log what was written."""
    with _state.lock:
        owner = _begin()
        capture = Capture(_state.sink)
    try:
        yield capture
    finally:
        with _state.lock:
            capture._sink = None
            capture.lines.extend(_end(owner))
        for line in capture.lines:
            logger.debug("LibRaw: %s", line)


def summary(lines: list[str]) -> str:
    """The captured lines for a ``detail`` field: without file paths, at most a few."""
    said = [line.rsplit(": ", 1)[-1] for line in lines[:_MAX_LINES]]
    more = len(lines) - len(said)
    text = "; ".join(dict.fromkeys(said))
    return f"LibRaw said: {text}" + (f" (and {more} more lines)" if more > 0 else "")


def _begin() -> bool:
    """Start redirecting unless a capture is already active; whether this call owns it."""
    _state.depth += 1
    if _state.depth > 1:
        return False
    if not _state.fork_hook:
        os.register_at_fork(after_in_child=_reset_in_child)
        _state.fork_hook = True
    try:
        saved = os.dup(2)
    except OSError:  # no standard error at all: nothing to capture
        return False
    sink = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _end)
    _flush_python_stderr()
    os.dup2(sink.fileno(), 2)
    _state.saved, _state.sink = saved, sink
    return True


def _end(owner: bool) -> list[str]:
    _state.depth -= 1
    if not owner:
        return []
    saved, sink = _state.saved, _state.sink
    assert saved is not None and sink is not None
    _flush_python_stderr()
    os.dup2(saved, 2)
    os.close(saved)
    _state.saved = _state.sink = None
    with sink:
        sink.seek(0)
        data = sink.read(_MAX_BYTES)
    text = data.decode("utf-8", "replace")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _flush_python_stderr() -> None:
    with suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()


def _reset_in_child() -> None:
    """A forked child starts with the real standard error and no capture of its own."""
    global _state
    if _state.saved is not None:
        os.dup2(_state.saved, 2)
        os.close(_state.saved)
    if _state.sink is not None:
        _state.sink.close()
    fresh = _State()  # the parent's lock may have been held by another thread at the fork
    fresh.fork_hook = _state.fork_hook
    _state = fresh
