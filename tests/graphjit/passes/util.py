"""Shared checks of the optimizer tests: op counts, and results compared under the oracle."""

from __future__ import annotations

from collections import Counter

import numpy as np

from graphjit.graph import Graph
from graphjit.interpreter import evaluate
from graphjit.passes import optimize

# Rewrites such as x**3 -> x*x*x round differently from pow by an ulp or so.
TOLERANCE = {"float16": (1e-2, 1e-3), "float32": (2e-4, 1e-5), "float64": (1e-9, 1e-12)}


def op_types(graph: Graph) -> Counter:
    return Counter(op.type for op in graph.get_operations())


def assert_same_values(expected: np.ndarray, actual: np.ndarray, what: str = "") -> None:
    """Equal dtype and shape; floats within dtype tolerance, NaN and inf in the same places."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    assert expected.dtype == actual.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert expected.shape == actual.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan, err_msg=f"{what}: NaN positions")
    inf = np.isinf(expected)
    np.testing.assert_array_equal(actual[inf], expected[inf], err_msg=f"{what}: infinities")
    finite = ~(nan | inf)
    rtol, atol = TOLERANCE[expected.dtype.name]
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=atol,
                               err_msg=what)


def optimize_and_compare(graph: Graph, fetches, feeds: dict, **kwargs):
    """Optimize for `fetches` (feeds kept), check both graphs agree; (new graph, report)."""
    before_text = graph.as_text()
    new, report = optimize(graph, fetches, keep=list(feeds), **kwargs)
    assert graph.as_text() == before_text, "optimize changed its input graph"
    expected = evaluate(list(fetches), dict(feeds))
    new_feeds = {report.lookup(t): v for t, v in feeds.items()}
    actual = evaluate([report.fetch_map[f] for f in fetches], new_feeds)
    for f, e, a in zip(fetches, expected, actual):
        if e is not None:
            assert_same_values(e, a, f.name)
    return new, report
