"""Checks shared by the error tests: an error must point at the test's own line."""

from __future__ import annotations

import inspect
import os


def caller_line() -> int:
    """The line number of the call site (put it on the line that builds the op)."""
    return inspect.currentframe().f_back.f_lineno


def assert_points_here(exc_info, *fragments, line: int) -> None:
    """The message names the calling test file and `line`, and holds every fragment."""
    here = os.path.basename(inspect.currentframe().f_back.f_code.co_filename)
    message = str(exc_info.value)
    assert f"{here}:{line}" in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
