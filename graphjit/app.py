"""TF1's tf.app: `tf.app.run()` and `tf.app.flags` (graphjit.flags).

`tf.app.run(main=None, argv=None)` parses the flags from argv (sys.argv when None),
calls `main(remaining_argv)` (the `main` of the script by default) and exits with
its return value through sys.exit, as TF 1.15's does; as there, command-line flags
no DEFINE_* defined are left in the argv main gets. `--help` prints the flags.
"""

from __future__ import annotations

import sys

from graphjit import flags
from graphjit.errors import InvalidArgumentError

_HELP = ("-h", "--help", "--helpshort", "--helpfull")


def run(main=None, argv=None):
    """Parse flags, run `main(argv)` and `sys.exit` with what it returns (never returns)."""
    argv = list(sys.argv if argv is None else argv)
    if main is None:
        main = getattr(sys.modules.get("__main__"), "main", None)
        if main is None:
            raise InvalidArgumentError("tf.app.run() found no main: pass main= or define "
                                       "a function main(argv) in the script")
    flag_args = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    if any(arg in _HELP for arg in flag_args):
        print(f"usage: {argv[0] if argv else 'program'} [flags]\n\nflags:\n"
              f"{flags.FLAGS.get_help()}")
        sys.exit(0)
    try:
        remaining = flags.FLAGS(argv, known_only=True)
    except flags.FlagsError as exc:
        print(f"FATAL Flags parsing error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(main(remaining))


from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.app")
