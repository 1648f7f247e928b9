"""Graph optimization: passes Graph -> Graph and the manager running them.

`optimize(graph, fetches=..., passes=...)` returns a new graph and a report of
what each pass did. Passes: constant_folding, simplify, cse, dce (one module
each); `rebuild` holds the Rewriter every pass edits graphs with.
"""

from graphjit.passes.constant_folding import DEFAULT_MAX_FOLDED_BYTES
from graphjit.passes.manager import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_PASSES,
    PASSES,
    OptimizeReport,
    UnknownPassError,
    graph_outputs,
    optimize,
    resolve_passes,
)
from graphjit.passes.rebuild import PassContext, PassResult, PassStats, Rewriter

__all__ = [
    "optimize", "OptimizeReport", "PassStats", "DEFAULT_PASSES", "PASSES",
    "DEFAULT_MAX_FOLDED_BYTES", "DEFAULT_MAX_ITERATIONS", "UnknownPassError",
    "resolve_passes", "graph_outputs", "PassContext", "PassResult", "Rewriter",
]
