"""The CPU features Numba compiles for: full-width vectors on AVX-512 machines.

LLVM's tuning for recent Intel cores (Skylake-X through Emerald Rapids) sets
"prefer-256-bit", so loops that could use 16 float32 lanes use 8. graphjit's
kernels are vectorized math over long rows, where the width decides the speed:
a softmax row kernel took 1.90 ms with 256-bit and 1.16 ms with 512-bit vectors
((2048, 1024) float32, one thread, Xeon Emerald Rapids). So, unless the user
chose features with NUMBA_CPU_FEATURES or NUMBA_CPU_NAME, graphjit asks Numba
for the host's features minus that preference. The setting is read when Numba
creates its code generator (the first @njit of the process), so this module runs
when `codegen` is first imported; it applies to other Numba code of the process
too, which it only tunes, and Numba's on-disk caches key on it.
"""

from __future__ import annotations

import os

import numba
from llvmlite import binding


def prefer_wide_vectors() -> str | None:
    """Set Numba's CPU features to the host's minus prefer-256-bit; returns them, or
    None when the user chose features or the CPU has no AVX-512."""
    if os.environ.get("NUMBA_CPU_FEATURES") or os.environ.get("NUMBA_CPU_NAME") \
            or numba.config.CPU_FEATURES is not None:
        return None
    try:
        features = binding.get_host_cpu_features()
    except RuntimeError:  # pragma: no cover - hosts LLVM cannot describe
        return None
    if not features.get("avx512f"):
        return None
    numba.config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"
    return numba.config.CPU_FEATURES


def cpu_key() -> str:
    """What the native code depends on: the CPU name and the features compiled for."""
    return (numba.config.CPU_NAME or binding.get_host_cpu_name()) + "|" + (
        numba.config.CPU_FEATURES or binding.get_host_cpu_features().flatten())


prefer_wide_vectors()
