"""Full-width vectors for graphjit's kernels on AVX-512 machines, without touching
Numba's CPU settings.

LLVM's tuning for recent Intel cores (Skylake-X through Emerald Rapids) sets
"prefer-256-bit", so loops that could use 16 float32 lanes use 8. graphjit's
kernels are vectorized math over long rows, where the width decides the speed:
a softmax row kernel took 1.90 ms with 256-bit and 1.16 ms with 512-bit vectors
((2048, 1024) float32, one thread, Xeon Emerald Rapids). Numba's CPU features are
one setting for the whole process (read when it creates its code generator), so
instead each generated kernel calls `prefer_wide_vectors()`, which puts LLVM's
per-function attribute "prefer-vector-width"="512" (clang's -mprefer-vector-width)
on the function being compiled: the kernel, or a `prange` loop's body, which Numba
compiles as a function of its own. Other Numba code in the process is unaffected;
on CPUs without AVX-512 (or not x86) LLVM ignores the attribute.
"""

from __future__ import annotations

import contextlib

import numba
from llvmlite import binding
from numba import types
from numba.core.compiler_lock import global_compiler_lock
from numba.extending import intrinsic

_WIDE = '"prefer-vector-width"="512"'


@intrinsic
def prefer_wide_vectors(typingctx):
    """Ask LLVM to vectorize the calling function with up to 512-bit vectors; emits no
    instruction."""
    def codegen(context, builder, sig, args):
        # llvmlite only accepts the attributes it lists; a string attribute is printed
        # into the IR as it is, which LLVM parses.
        set.add(builder.function.attributes, _WIDE)
        return context.get_dummy_value()
    return types.none(), codegen


def cpu_key() -> str:
    """What the native code depends on: the CPU name and the features compiled for."""
    return (numba.config.CPU_NAME or binding.get_host_cpu_name()) + "|" + (
        numba.config.CPU_FEATURES or binding.get_host_cpu_features().flatten())


@contextlib.contextmanager
def compile_switches(single_interleave: bool = False):
    """Compile with LLVM's loop peeling off, and with loop interleaving off where asked;
    then restore LLVM's defaults.

    LLVM 22 (llvmlite 0.50) aborts the whole process, an assertion in LoopPeel.cpp
    ("when peeling the last iteration ... can only peel a single iteration"), on a
    loop with a concat select on the loop index and another on the reversed index
    (`concat(...)` fetched beside `concat(...)[::-1]`). Peeling only saves a compare
    in the first or last iterations of graphjit's loops.

    `single_interleave` (codegen.vplan_budget decides it per kernel) sets an interleave
    count of 1: LLVM 22's vectorizer otherwise spends time exponential in a chain of
    inlined vecmath calls on a value it finds uniform (minutes, seemingly a hang). 0,
    the value restored, is "not forced": LLVM's cost model chooses again.

    LLVM's switches belong to the process, so this holds Numba's compiler lock: no
    other Numba compile sees them.
    """
    with global_compiler_lock:
        binding.set_option("graphjit", "-unroll-allow-peeling=false")
        if single_interleave:
            binding.set_option("graphjit", "-force-vector-interleave=1")
        try:
            yield
        finally:
            if single_interleave:
                binding.set_option("graphjit", "-force-vector-interleave=0")
            binding.set_option("graphjit", "-unroll-allow-peeling=true")
