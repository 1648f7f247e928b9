"""A long compile's progress on a terminal: one stderr line, rewritten as kernels compile.

Compiling a large graph's kernels from scratch can take minutes with nothing printed;
past PROGRESS_AFTER seconds a plan being compiled shows `kernels done/total` on stderr,
when stderr is a terminal. GRAPHJIT_PROGRESS=1 forces it (from the first kernel, on any
stream: for logs and tests), GRAPHJIT_PROGRESS=0 switches it off.
"""

from __future__ import annotations

import os
import sys
from time import perf_counter

PROGRESS_AFTER = 1.0  # seconds of compiling before the line appears
_open_lines: dict[int, int] = {}  # id(stream) -> width of the progress line shown on it


def clear_line(stream) -> None:
    """Blank a progress line shown on `stream`, so other output starts at the margin (the
    next kernel writes it again)."""
    width = _open_lines.pop(id(stream), 0)
    if width:
        stream.write("\r" + " " * width + "\r")


def _mode() -> str:
    """'on' (forced), 'off', or 'tty' (shown on a terminal)."""
    value = os.environ.get("GRAPHJIT_PROGRESS", "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return "on"
    if value in ("0", "false", "no", "off"):
        return "off"
    return "tty"


class CompileProgress:
    """`starting(name)` before each kernel, `finish()` after the last; writes nothing
    unless shown (see the module docstring)."""

    def __init__(self, total: int, stream=None):
        self.total, self.done = total, 0
        self.stream = sys.stderr if stream is None else stream
        mode = _mode()
        self.forced = mode == "on"
        self.enabled = total > 0 and (self.forced or (mode == "tty" and _isatty(self.stream)))
        self.start = perf_counter()
        self.shown = False

    def starting(self, name: str) -> None:
        if self.enabled and (self.forced or perf_counter() - self.start >= PROGRESS_AFTER):
            self._write(f"graphjit: compiling kernel {self.done + 1}/{self.total} {name} "
                        f"({perf_counter() - self.start:.1f} s)")

    def finished_one(self) -> None:
        self.done += 1

    def finish(self) -> None:
        """End the line (only if one was shown): the terminal's next output starts clean."""
        if self.shown:
            self._write(f"graphjit: compiled {self.done}/{self.total} kernels in "
                        f"{perf_counter() - self.start:.1f} s")
            self.stream.write("\n")
            self.stream.flush()
            _open_lines.pop(id(self.stream), None)

    def _write(self, line: str) -> None:
        # A carriage return and spaces over a longer previous line: no terminal codes, so a
        # forced line in a log file stays plain text.
        width = max(_open_lines.get(id(self.stream), 0), len(line))
        self.stream.write("\r" + line.ljust(width))
        self.stream.flush()
        _open_lines[id(self.stream)] = width
        self.shown = True


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
