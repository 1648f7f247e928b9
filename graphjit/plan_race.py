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
and runs the two plans in turn, call by call, for PAIRS pairs of calls (after one
untimed call of each: a plan's first call after a build loads its kernels). The BLAS
plan comes back only if it was the faster in at least WINS of the pairs: a sign test,
so that a few stalls from bursts of other work, in either plan, decide nothing, and
plans about as fast keep the packed one. It runs on the calling thread alone, where
BLAS's faster calls, on a quiet machine, are those on its threads, which wait for a
descheduled worker once other work holds the cores (the MLP above: 0.43 ms median on
two threads quiet and beside two busy processes, but a mean of 4.3-60 ms loaded,
against 0.41-0.44 ms median and 1.1-1.3 ms mean packed), and the site that then keeps
BLAS on one thread runs it slower than the packed kernel (0.60-0.68 ms).
"""

from __future__ import annotations

PAIRS = 16
# At least this many of the PAIRS won by BLAS: were the plans equally fast, each pair a
# coin toss, 12 or more of 16 would come up 3.8% of the time (the binomial tail).
WINS = 12


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
        """Book a call of `entry`; whether both plans have run their calls."""
        for plan, times in zip(self.plans, self.times):
            if entry is plan:
                times.append(seconds)
        return all(len(t) > PAIRS for t in self.times)

    def packed_won(self) -> bool:
        """Whether the BLAS plan was the faster in fewer than WINS of the pairs (the
        first call of each not counted)."""
        blas, packed = self.times
        pairs = zip(packed[1:PAIRS + 1], blas[1:PAIRS + 1])
        return sum(b < p for p, b in pairs) < WINS
