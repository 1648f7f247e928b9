"""Loop IR and native backends of graphjit."""

from codegen import target  # noqa: F401 - sets Numba's CPU features before any compile
