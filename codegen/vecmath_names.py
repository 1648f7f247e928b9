"""Which vectorized math functions codegen.vecmath provides, and the kernel-wide
fastmath flags, without importing it: codegen.vecmath imports Numba, and generating a
kernel's source (codegen.render, codegen.passes) must not (a warm start loads cached
kernels without Numba, codegen.native)."""

FUNCTIONS = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "erf", "sin", "cos")
SUFFIXES = (("float32", "f32"), ("float64", "f64"))

#: (function name, dtype name) pairs codegen.vecmath implements (its VECMATH's keys).
PROVIDED = frozenset((name, dtype) for name in FUNCTIONS for dtype, _ in SUFFIXES)

#: fastmath flags of generated kernels: none (codegen.vecmath says what each would break).
KERNEL_FASTMATH = frozenset()
