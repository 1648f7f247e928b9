"""The `graphjit` command: inspect, profile, run and draw saved or ONNX models, run the
benchmarks and manage the kernel cache (`graphjit --help`).

Every failure is one line on stderr, `graphjit: error: ...`, with exit status 1 (2 for
a wrong command line); GRAPHJIT_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import os
import sys

from graphjit.cli.model import UsageError
from graphjit.errors import Error

DEBUG_VARIABLE = "GRAPHJIT_DEBUG"


def _debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def _message(exc: BaseException) -> str:
    """graphjit's own errors and OS errors say what is wrong already; anything else is
    named by its type, as it may be a bug."""
    if isinstance(exc, (Error, OSError)):
        return str(exc)
    return (f"{type(exc).__name__}: {exc} (set {DEBUG_VARIABLE}=1 for the traceback; "
            "if it is a graphjit bug, please report it with the model)")


def main(argv: list[str] | None = None) -> int:
    """Run one command line (default: sys.argv[1:]); returns the exit status."""
    from graphjit.cli.parser import build_parser
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse said it all
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    try:
        return args.command(args, print)
    except KeyboardInterrupt:
        if _debugging():
            raise
        sys.stderr.write("graphjit: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the command line shows every failure as a line
        if _debugging():
            raise
        sys.stderr.write(f"graphjit: error: {_message(exc)}\n")
        return 2 if isinstance(exc, UsageError) else 1


__all__ = ["main"]
