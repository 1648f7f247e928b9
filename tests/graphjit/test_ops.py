"""Every registered op, through the public API and the reference interpreter, against
an independent NumPy expectation over hypothesis shapes and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphjit as tf
from graphjit.registry import all_op_defs
from tests.graphjit.cases import ALL_CASES, MISSING_EXTRAS
from tests.graphjit.op_check import as_array, build_case, check_outputs, run_interpreted

PARAMS = [pytest.param(case, dtype, id=f"{case.name}-{dtype}")
          for case in ALL_CASES for dtype in case.dtypes]


def _inputs(case, dtype, shapes, seed):
    return case.make_inputs(np.random.default_rng(seed), shapes, dtype)


@pytest.mark.parametrize("case, dtype", PARAMS)
def test_default_shapes(case, dtype):
    arrays = _inputs(case, dtype, case.default_shapes, 0)
    check_outputs(case, arrays, run_interpreted(case, arrays))


@pytest.mark.parametrize("case, dtype", PARAMS)
@given(data=st.data())
def test_hypothesis_shapes(case, dtype, data):
    shapes = data.draw(case.shape_strategy(), label="shapes")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    unknown = data.draw(st.booleans(), label="unknown_dims")
    arrays = _inputs(case, dtype, shapes, seed)
    check_outputs(case, arrays, run_interpreted(case, arrays, unknown_dims=unknown))


def test_every_registered_op_has_a_case():
    covered = set()
    for case in ALL_CASES:
        arrays = _inputs(case, case.dtypes[0], case.default_shapes, 0)
        graph, _, _ = build_case(case, arrays)
        covered |= {op.type for op in graph.get_operations()}
    missing = set(all_op_defs()) - covered - MISSING_EXTRAS  # (their extra not installed)
    assert not missing, f"registered ops without a test case: {sorted(missing)}"


def test_static_shapes_match_run_time_shapes():
    """Inferred static shapes agree with what the reference computes."""
    for case in ALL_CASES:
        arrays = _inputs(case, case.dtypes[0], case.default_shapes, 1)
        graph, placeholders, out = build_case(case, arrays)
        outs = out if isinstance(out, (list, tuple)) else [out]
        with tf.Session(graph=graph, engine="reference") as sess:
            values = sess.run(outs, dict(zip(placeholders, arrays)))
        for tensor, value in zip(outs, values):
            assert tensor.shape.is_compatible_with(np.shape(value)), case.name
            assert as_array(value).dtype == tensor.dtype.np, case.name
