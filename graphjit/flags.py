"""TF1's tf.flags (also tf.app.flags): command-line flags, on argparse.

TF 1.x re-exports absl's flags; graphjit keeps absl's behavior for what TF1 scripts
use without depending on it: `DEFINE_string/integer/float/boolean/enum/list/
multi_string(name, default, help)`, `FLAGS.name` (read, or set), `--name=value`,
`--name value`, `--flag`/`--noflag` for booleans, `--` ending the flags. As TF 1.x,
reading a flag before any parse parses sys.argv; `FLAGS(argv)` parses explicitly
and returns argv[0] and the arguments that are no flags. An unknown flag is an
UnrecognizedFlagError naming it (`known_only=True`, as tf.app.run uses, keeps it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphjit.errors import Error, InvalidArgumentError


class FlagsError(Error):
    """Base of the flag errors (absl's flags.Error)."""


class DuplicateFlagError(FlagsError, InvalidArgumentError):
    """A flag of this name is defined already."""


class IllegalFlagValueError(FlagsError, InvalidArgumentError):
    """A flag's value (default or from the command line) does not parse or fit."""


class UnrecognizedFlagError(FlagsError, InvalidArgumentError):
    """The command line holds a flag no DEFINE_* defined."""


class UndefinedFlagError(FlagsError, AttributeError):
    """No flag of the name read is defined (an AttributeError, as absl's)."""


Error = FlagsError  # noqa: F811 - absl's name, flags.Error


@dataclass
class Flag:
    """One defined flag: its parser turns a command-line string into its value."""

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any]
    kind: str  # "bool", "multi" or "value"
    value: Any = None


class _ArgumentParser(argparse.ArgumentParser):
    """Splits the command line only (values are parsed by each Flag); argparse would
    print and exit on an error, a flag error raises instead."""

    def error(self, message):
        raise IllegalFlagValueError(f"flags: {message}")


class FlagValues:
    """The defined flags and their values (absl's FlagValues; `FLAGS` is the global one)."""

    def __init__(self):
        object.__setattr__(self, "_flags", {})
        object.__setattr__(self, "_parsed", False)

    # -- defining ---------------------------------------------------------------------
    def _define(self, flag: Flag) -> None:
        if flag.name in self._flags:
            raise DuplicateFlagError(f"the flag '{flag.name}' is defined twice")
        flag.value = flag.default
        self._flags[flag.name] = flag

    # -- parsing ----------------------------------------------------------------------
    def __call__(self, argv, known_only: bool = False) -> list[str]:
        """Parse `argv` (argv[0] is the program) into the flags; returns argv[0] and the
        arguments that are not flags (and unknown flags too, with known_only)."""
        argv = list(argv)
        if not argv:
            raise InvalidArgumentError("argv must hold at least the program name")
        args, after_dashes = argv[1:], []
        if "--" in args:
            cut = args.index("--")
            args, after_dashes = args[:cut], args[cut + 1:]
        parser = _ArgumentParser(prog=argv[0], add_help=False, allow_abbrev=False,
                                 argument_default=argparse.SUPPRESS)
        for flag in self._flags.values():
            parser.add_argument(f"--{flag.name}", dest=flag.name,
                                action="append" if flag.kind == "multi" else "store")
        found, rest = parser.parse_known_args([self._normalize(a) for a in args])
        values = {name: [self._flags[name].parse(v) for v in text] if isinstance(text, list)
                  else self._flags[name].parse(text) for name, text in vars(found).items()}
        unknown = [a for a in rest if a.startswith("-") and not _is_number(a)]
        if unknown and not known_only:
            raise UnrecognizedFlagError(
                f"unknown command line flag{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(a.split('=')[0]) for a in unknown)} (defined flags: "
                f"{', '.join(sorted(self._flags)) or 'none'})")
        for name, value in values.items():
            self._flags[name].value = value
        object.__setattr__(self, "_parsed", True)
        return [argv[0]] + rest + after_dashes

    def _normalize(self, arg: str) -> str:
        """absl's spellings argparse lacks, as `--name=value`: `-name`, `--bool`, `--nobool`."""
        if not arg.startswith("-") or _is_number(arg):
            return arg
        body = arg.lstrip("-")
        name, has_value, _ = body.partition("=")
        flag = self._flags.get(name)
        if flag is None and name.startswith("no") and not has_value:
            negated = self._flags.get(name[2:])
            if negated is not None and negated.kind == "bool":
                return f"--{negated.name}=false"
        if flag is None:
            return arg
        if flag.kind == "bool" and not has_value:
            return f"--{name}=true"
        return "--" + body

    def is_parsed(self) -> bool:
        return self._parsed

    def mark_as_parsed(self) -> None:
        object.__setattr__(self, "_parsed", True)

    def unparse_flags(self) -> None:
        """Every flag back to its default, unparsed (absl's; tests use it)."""
        for flag in self._flags.values():
            flag.value = flag.default
        object.__setattr__(self, "_parsed", False)

    # -- reading ----------------------------------------------------------------------
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        flags = self._flags
        if name not in flags:
            raise UndefinedFlagError(f"no flag named '{name}' is defined (defined: "
                                          f"{', '.join(sorted(flags)) or 'none'})")
        if not self._parsed:
            self(sys.argv)  # TF 1.x's flags parse the command line on first read
        return flags[name].value

    def __setattr__(self, name: str, value) -> None:
        if name not in self._flags:
            raise UndefinedFlagError(f"no flag named '{name}' is defined, so it cannot "
                                          "be set")
        self._flags[name].value = value

    def __delattr__(self, name: str) -> None:
        if name not in self._flags:
            raise UndefinedFlagError(f"no flag named '{name}' is defined")
        del self._flags[name]

    def __contains__(self, name: str) -> bool:
        return name in self._flags

    def __iter__(self):
        return iter(list(self._flags))

    def __getitem__(self, name: str) -> Flag:
        return self._flags[name]

    def get_flag_value(self, name: str, default):
        return self._flags[name].value if name in self._flags else default

    def flag_values_dict(self) -> dict:
        return {name: flag.value for name, flag in self._flags.items()}

    def get_help(self) -> str:
        """One entry per flag: `--name: help` and its default (what --help prints)."""
        lines = []
        for flag in self._flags.values():
            lines.append(f"  --{flag.name}: {flag.help}")
            lines.append(f"    (default: {flag.default!r})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"FlagValues({self.flag_values_dict()})"


FLAGS = FlagValues()


def _is_number(arg: str) -> bool:
    try:
        float(arg)
    except ValueError:
        return False
    return True


def _parse_bool(text):
    if isinstance(text, bool):
        return text
    lowered = str(text).lower()
    if lowered in ("true", "t", "1", "yes", "y"):
        return True
    if lowered in ("false", "f", "0", "no", "n"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false/1/0)")


def _checked(name: str, parse: Callable, lower=None, upper=None) -> Callable:
    """`parse` that names the flag and checks absl's lower_bound/upper_bound."""

    def parse_checked(text):
        try:
            value = parse(text)
        except (ValueError, TypeError) as exc:
            raise IllegalFlagValueError(f"flag --{name}={text}: {exc}") from None
        if (lower is not None and value < lower) or (upper is not None and value > upper):
            raise IllegalFlagValueError(f"flag --{name}={text}: not in [{lower}, {upper}]")
        return value

    return parse_checked


def _define(name, default, help, parse, kind, flag_values, lower=None, upper=None):
    """Define a flag whose default is checked as a command-line value would be."""
    parse = _checked(name, parse, lower, upper)
    if default is not None and kind in ("value", "bool"):
        default = parse(default if isinstance(default, (str, bool)) else str(default))
    (flag_values or FLAGS)._define(Flag(name, default, help, parse, kind))


def DEFINE_string(name, default, help, flag_values=None, **_):  # noqa: N802 - TF's names
    _define(name, default, help, str, "value", flag_values)


def DEFINE_integer(name, default, help, lower_bound=None, upper_bound=None,  # noqa: N802
                   flag_values=None, **_):
    _define(name, default, help, int, "value", flag_values, lower_bound, upper_bound)


def DEFINE_float(name, default, help, lower_bound=None, upper_bound=None,  # noqa: N802
                 flag_values=None, **_):
    _define(name, default, help, float, "value", flag_values, lower_bound, upper_bound)


def DEFINE_boolean(name, default, help, flag_values=None, **_):  # noqa: N802
    _define(name, default, help, _parse_bool, "bool", flag_values)


DEFINE_bool = DEFINE_boolean


def DEFINE_enum(name, default, enum_values, help, flag_values=None, **_):  # noqa: N802
    choices = list(enum_values)

    def parse_enum(text):
        if text not in choices:
            raise ValueError(f"must be one of {choices}")
        return text

    _define(name, default, help, parse_enum, "value", flag_values)


def DEFINE_list(name, default, help, flag_values=None, **_):  # noqa: N802
    """A comma-separated list of strings (`--layers=64,32` -> ['64', '32'])."""
    if isinstance(default, str):
        default = _split_list(default)
    _define(name, None if default is None else list(default), help, _split_list, "list",
            flag_values)


def _split_list(text):
    return [part.strip() for part in text.split(",")] if text else []


def DEFINE_multi_string(name, default, help, flag_values=None, **_):  # noqa: N802
    """A flag given any number of times (`--x=a --x=b` -> ['a', 'b'])."""
    if isinstance(default, str):
        default = [default]
    _define(name, None if default is None else list(default), help, str, "multi", flag_values)


from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.flags")
