"""graphjit's op library: importing this package registers every primitive op."""

from graphjit.ops import core, elementwise, overloads  # noqa: F401  (registration)
