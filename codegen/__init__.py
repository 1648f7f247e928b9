"""Loop IR and native backends of graphjit: `codegen.compile(kernels)` turns loop-IR
kernels into native callables.

Numba (and LLVM) load on the first compile, not on import: importing graphjit to
build a graph, run the reference interpreter or load a saved model costs no backend.
"""


def __getattr__(name: str):
    if name == "compile":
        from codegen.numba_backend import compile_kernels
        return compile_kernels
    raise AttributeError(f"module 'codegen' has no attribute {name!r}")
