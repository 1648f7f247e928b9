"""Random graphs on inputs of 32768+ elements (generate(..., large=True)): their row
kernels run as parallel chunked row loops, which codegen.pipeline software-pipelines;
the fuzzer's usual small graphs never get there. A few graphs aimed at the row builders
(softmax, moments, layer norm, reductions) must equal the reference, and at least one
row loop must have been pipelined (else the test no longer tests the pipeline)."""

from __future__ import annotations

import codegen.passes
from graphjit.testing.differential import check
from graphjit.testing.program import reproducer
from graphjit.testing.random_graphs import LARGE_ELEMENTS, generate

SEED = 20261204
GRAPHS = 4
ROW_BUILDERS = "softmax,moments,layer_norm,reduce,cross_entropy"


def test_large_random_graphs_pipelined_equal_the_reference(monkeypatch):
    pipelined = []
    original = codegen.passes.pipeline_rows

    def spy(loop, outputs):
        result = original(loop, outputs)
        pipelined.append(result is not loop)
        return result

    monkeypatch.setattr(codegen.passes, "pipeline_rows", spy)
    failures = []
    for index in range(GRAPHS):
        program = generate(SEED, index, 5, focus=ROW_BUILDERS, large=True)
        assert max(i.value.size for i in program.inputs) >= LARGE_ELEMENTS
        outcome = check(program)
        if outcome.failed:
            failures.append(outcome)
    assert not failures, "\n\n".join(
        f"{o.program.key} {o.status}: {o.message}\n{reproducer(o.program)}" for o in failures)
    assert any(pipelined), f"no row loop was pipelined ({len(pipelined)} seen)"
