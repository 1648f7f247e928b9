"""Every differentiable op's gradient rule against central finite differences in float64,
driven by the registry's Cases (tests/graphjit/cases): for each case with a float64
variant, d(sum(out * W))/d(inputs) from graphjit.gradients, compiled (graphjit.compile)
or by the reference interpreter, vs finite differences of the reference interpreter.

CI budget: every case runs at its default shapes with the reference interpreter and
at hypothesis shapes (static or unknown dims) with a few examples; a subset chosen to
cover every op type runs compiled, with static and with unknown dims.
GRAPHJIT_LONG_TESTS=1 compiles every case and draws many more shapes.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphjit as tf
from graphjit import interpreter
from graphjit.registry import all_op_defs, get_op_def
from tests.graphjit.cases import ALL_CASES
from tests.graphjit.grad_check import (
    analytic_gradients,
    build_problem,
    check_gradients,
    forward_is_finite,
    uses_only_differentiable_ops,
)

LONG = bool(os.environ.get("GRAPHJIT_LONG_TESTS"))

# Cases left out entirely, and inputs whose gradient is None by design.
EXCLUDED = {"round_halves": "its inputs sit on Round's jumps, where differences see a step",
            "gradient_through_unknown_rank": "a gradient itself, of DeferredGrad ops, which "
                                             "have none (second order needs known ranks)"}
NO_GRADIENT = {"stop_gradient": {0}, "softmax_cross_entropy": {0}}  # TF1: none into labels
# (rtol, atol) where the default is too tight; atol also grows with the loss (rounding
# of the finite differences).
RTOL, ATOL = 1e-5, 1e-6
TOLERANCE: dict[str, tuple[float, float]] = {}

CASES = [c for c in ALL_CASES if "float64" in c.dtypes and c.name not in EXCLUDED]
# Compiled in CI: besides the first case of every op type, the ones whose gradients
# take other lowering paths (mirror pads, strided and dilated convolutions, pooling
# windows that overlap, batched matmul, ...).
_COMPILED_EXTRA = {
    "pad_reflect", "pad_symmetric", "getitem_mixed", "getitem_reverse", "split_sizes",
    "matmul_batched", "matmul_adjoint_both", "matmul_batched_transpose_a",
    "conv2d-VALID-s[2, 1]-d2", "conv2d-SAME-s[1, 2, 2, 1]-d[1, 2, 1, 1]",
    "max_pool-SAME-k3-s1", "max_pool-SAME-k3-s2", "avg_pool-SAME-k3-s2",
    "avg_pool-VALID-k[2, 3]-s[1, 2]", "max_pool_negative_same", "conv2d_relu_max_pool",
    "Conv2DBackpropInput-SAME-s2-d2", "Conv2DBackpropFilter-VALID-s[2, 1]-d[1, 2]",
    "softmax_cross_entropy_v2", "layer_normalization_gamma_beta", "batch_normalization",
    "reduce_max_first_keepdims", "reduce_prod_first_last_keepdims", "reduce_mean_tail",
    "gather_axis_last_int64", "where", "bias_add_nchw",
    "transpose_perm", "stack", "tile_zero", "elu", "softplus", "gelu",
}


def _op_types(case) -> set[str]:
    arrays = case.make_inputs(np.random.default_rng(0), case.default_shapes, "float64")
    graph = tf.Graph()
    with graph.as_default():
        case.build(*[tf.placeholder(a.dtype, a.shape) for a in arrays])
    return {op.type for op in graph.get_operations()}


def _compiled_subset() -> list:
    names = [c.name for c in CASES]
    unknown = sorted(_COMPILED_EXTRA - set(names))
    assert not unknown, f"_COMPILED_EXTRA names no case: {unknown}"
    if LONG:
        return CASES
    covered, chosen = set(), []
    for case in CASES:
        types = _op_types(case)
        if case.name in _COMPILED_EXTRA or types - covered:
            chosen.append(case)
            covered |= types
    return chosen


COMPILED = _compiled_subset()


def _ids(case):
    return case.name


def _check(case, shapes, seed: int, unknown_dims: bool, compiled: bool) -> str | None:
    """Check one example; returns why it was skipped, or None."""
    rng = np.random.default_rng(seed)
    arrays = case.make_inputs(rng, shapes, "float64")
    try:
        problem = build_problem(case, arrays, unknown_dims, rng)
    except tf.NotDifferentiableError:
        graph = tf.Graph()
        with graph.as_default():
            case.build(*[tf.placeholder(a.dtype, a.shape) for a in arrays])
        blocking = [op.type for op in graph.get_operations() if op.inputs and (
            not get_op_def(op.type).differentiable
            or (any(t.dtype.is_floating for t in op.inputs)
                and not any(t.dtype.is_floating for t in op.outputs)))]
        assert blocking, f"{case.name}: NotDifferentiableError without a blocking op"
        return f"not differentiable: {sorted(set(blocking))}"
    except tf.UnsupportedError:
        assert unknown_dims, f"{case.name}: gradient unsupported with static shapes"
        return "gradient needs static sizes"
    if problem is None:
        return "no float64 input and output"
    if not forward_is_finite(problem, arrays):
        return "the forward value is not finite"
    feeds = dict(zip(problem.placeholders, arrays))
    loss = abs(float(interpreter.evaluate([problem.loss], feeds)[0]))
    rtol, atol = TOLERANCE.get(case.name, (RTOL, ATOL))
    analytic = analytic_gradients(problem, arrays, compiled)
    check_gradients(problem, arrays, analytic, rng, rtol, atol + 1e-8 * loss,
                    skip_inputs=NO_GRADIENT.get(case.name, ()), name=case.name)
    for position in NO_GRADIENT.get(case.name, ()):
        assert problem.grads[problem.wrt.index(position)] is None, case.name
    return None


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_gradient_default_shapes_reference(case):
    reason = _check(case, case.default_shapes, 0, unknown_dims=False, compiled=False)
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("case", COMPILED, ids=_ids)
def test_gradient_default_shapes_compiled(case):
    reason = _check(case, case.default_shapes, 0, unknown_dims=False, compiled=True)
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("case", COMPILED, ids=_ids)
def test_gradient_unknown_dims_compiled(case):
    """Every dim unknown at build time: broadcasts resolved by SumToShapeOf at plan time."""
    reason = _check(case, case.default_shapes, 1, unknown_dims=True, compiled=True)
    if reason:
        pytest.skip(reason)


def _hypothesis_example(case, data, compiled: bool) -> None:
    shapes = data.draw(case.shape_strategy(), label="shapes")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    unknown = data.draw(st.booleans(), label="unknown_dims")
    _check(case, shapes, seed, unknown, compiled)


HYPOTHESIS_CASES = [c for c in CASES if c.shapes is not None]


@pytest.mark.parametrize("case", HYPOTHESIS_CASES, ids=_ids)
@settings(**({} if LONG else {"max_examples": 3}))
@given(data=st.data())
def test_gradient_hypothesis_shapes(case, data):
    _hypothesis_example(case, data, compiled=False)


@pytest.mark.skipif(not LONG, reason="compiles a plan per example: GRAPHJIT_LONG_TESTS=1")
@pytest.mark.parametrize("case", HYPOTHESIS_CASES, ids=_ids)
@settings(max_examples=10)
@given(data=st.data())
def test_gradient_hypothesis_shapes_compiled(case, data):
    _hypothesis_example(case, data, compiled=True)


def test_every_differentiable_op_is_gradient_checked():
    """The cases checked above reach every op type that has a gradient rule."""
    covered = set()
    for case in CASES:
        covered |= _op_types(case)
    untested = sorted(name for name, op_def in all_op_defs().items()
                      if op_def.differentiable and name not in covered)
    assert not untested, f"differentiable ops no gradient check reaches: {untested}"


def test_fully_differentiable_cases_never_raise():
    """A case built of differentiable ops only gets its gradients (static shapes)."""
    for case in CASES:
        rng = np.random.default_rng(0)
        arrays = case.make_inputs(rng, case.default_shapes, "float64")
        try:
            problem = build_problem(case, arrays, False, rng)
        except tf.NotDifferentiableError:
            graph = tf.Graph()
            with graph.as_default():
                case.build(*[tf.placeholder(a.dtype, a.shape) for a in arrays])
            assert not all(get_op_def(op.type).differentiable
                           for op in graph.get_operations()
                           if op.type not in ("Placeholder", "Const")), case.name
            continue
        if problem is not None and uses_only_differentiable_ops(problem):
            assert all(g is not None for g in problem.grads) or case.name in NO_GRADIENT \
                or _zero_gradient_case(problem), case.name


def _zero_gradient_case(problem) -> bool:
    """Ops whose gradient is None by rule (Floor, Round, shape-only inputs)."""
    zero = {"Floor", "Ceil", "Round", "FillLike", "Shape"}
    return any(op.type in zero for op in problem.graph.get_operations())
