"""The packed tier's race: a plan with packed kernels beyond the packed rule against the
BLAS plan it would replace, timed call by call on the machine that runs them.

Whether a packed kernel beats BLAS on a product of many rows depends on the machine:
its tile against BLAS's kernel, BLAS repacking the weights on every call, BLAS's
threads against the packed kernel's one, and what else holds the cores. The rule of
graphjit.lower.packed_matmul (MAX_ROWS) was measured on one machine with an earlier
tile; on a 2-core AVX-512 Xeon with the tile of codegen.microkernel, a 784-256-256-10
MLP at batch 128 took 0.42 ms packed on one thread against 0.50 ms for NumPy on
OpenBLAS's two (and 0.60 on one). So the tier, when it switches a hot plan to packed
kernels (graphjit.api), also packs the products the rule leaves to BLAS for their rows,
runs the two plans in turn for ROUNDS calls each, and keeps the packed plan only if its
median call was no slower. A median: one call's stall from a burst of other work must
not decide for the life of the plan (BLAS's sites judge their own stalls: on a busy
machine they run BLAS on one thread, codegen.blas).
"""

from __future__ import annotations

import statistics

ROUNDS = 9  # calls of each plan; the first of each is not counted (a plan's first call
# after a build loads its kernels)


class Race:
    """Two plans of one signature, `blas` and `packed`, taking calls in turn."""

    __slots__ = ("plans", "times", "calls")

    def __init__(self, blas, packed):
        self.plans = (blas, packed)
        self.times: tuple[list, list] = ([], [])
        self.calls = 0

    def entry(self):
        """The plan for the next call (racing threads may take one twice: harmless)."""
        self.calls += 1
        return self.plans[self.calls % 2]

    def record(self, entry, seconds: float) -> bool:
        """Book a call of `entry`; whether both plans have run ROUNDS calls."""
        for plan, times in zip(self.plans, self.times):
            if entry is plan:
                times.append(seconds)
        return all(len(t) >= ROUNDS for t in self.times)

    def packed_won(self) -> bool:
        """Whether the packed plan's median call (its first not counted) was no slower."""
        blas, packed = (statistics.median(t[1:]) for t in self.times)
        return packed <= blas
