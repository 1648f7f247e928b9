"""The shape of codegen.microkernel's matrix product tile for the CPU compiled for, read
without importing Numba: lowering asks while a first call plans, and a warm process
loads Numba in the background (codegen.warm_start)."""

from __future__ import annotations

from codegen.native import environment


def vector_bits() -> int:
    """The widest vector register the target has: 512 (AVX-512), 256 (AVX, AVX2) or 128
    (SSE, NEON and the rest); the features are Numba's (its NUMBA_CPU_FEATURES override,
    else the host's)."""
    features = {f[1:] for f in environment()[1].split("|", 1)[1].split(",")
                if f.startswith("+")}
    if "avx512f" in features:
        return 512
    if "avx" in features:
        return 256
    return 128


def tile_shape(dtype: str) -> tuple[int, int, int]:
    """(rows, width, lanes) of the tile for `dtype` on this target: `width` columns are
    two vectors of `lanes`; rows x 2 accumulators, two weight vectors and a broadcast fit
    the register file (32 vector registers with AVX-512, 16 below)."""
    bits = vector_bits()
    lanes = bits // (8 * (4 if dtype == "float32" else 8))
    return (8 if bits == 512 else 4), 2 * lanes, lanes
