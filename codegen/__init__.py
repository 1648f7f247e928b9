"""Loop IR and native backends of graphjit: `codegen.compile(kernels)` turns loop-IR
kernels into native callables."""

from codegen.numba_backend import compile_kernels as compile  # noqa: A004
