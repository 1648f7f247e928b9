"""Gradient checking: analytic gradients (graphjit.gradients) against central finite
differences of the forward graph, computed with the reference interpreter in float64.

A Case's outputs are reduced to the scalar loss sum_k sum(out_k * W_k) with fixed
random weights W_k, so every output element is checked, not only their sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import graphjit as tf
from graphjit import interpreter
from graphjit.registry import get_op_def

EPS = 1e-6
MAX_PROBES = 16  # finite differences per input: a random sample of its elements


@dataclass
class GradProblem:
    graph: tf.Graph
    placeholders: list
    loss: tf.Tensor
    wrt: list  # positions of the float64 inputs
    grads: list  # one per position in wrt (None: no gradient)


def float_outputs(out) -> list:
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return [t for t in outs if t.dtype == tf.float64]


def build_problem(case, arrays, unknown_dims: bool, rng) -> GradProblem | None:
    """The case's graph with a weighted-sum loss and its gradients, or None when the
    case has no float64 output or input to differentiate."""
    graph = tf.Graph()
    with graph.as_default():
        placeholders = [tf.placeholder(a.dtype, [None] * a.ndim if unknown_dims else a.shape,
                                       name=f"in{i}") for i, a in enumerate(arrays)]
        outs = float_outputs(case.build(*placeholders))
        wrt = [i for i, a in enumerate(arrays) if a.dtype == np.float64]
        if not outs or not wrt:
            return None
        terms = []
        for out in outs:
            shape = interpreter.evaluate([out], dict(zip(placeholders, arrays)))[0].shape
            weights = tf.constant(rng.uniform(0.5, 1.5, size=shape))
            terms.append(tf.reduce_sum(out * weights))
        loss = terms[0]
        for t in terms[1:]:
            loss = loss + t
        grads = tf.gradients(loss, [placeholders[i] for i in wrt])
    return GradProblem(graph, placeholders, loss, wrt, grads)


def uses_only_differentiable_ops(problem: GradProblem) -> bool:
    return all(get_op_def(op.type).differentiable for op in problem.graph.get_operations()
               if op.type not in ("Placeholder", "Const"))


def numeric_gradient(problem: GradProblem, arrays, position: int, rng) -> tuple:
    """(flat indices probed, central differences there) for input `position`."""
    x = arrays[position]
    n = x.size
    probes = np.arange(n) if n <= MAX_PROBES else rng.choice(n, MAX_PROBES, replace=False)
    values = []
    for k in probes:
        total = []
        for sign in (1, -1):
            shifted = np.array(x, copy=True)  # 0-d inputs may be NumPy scalars
            shifted.flat[k] += sign * EPS
            feeds = dict(zip(problem.placeholders, arrays))
            feeds[problem.placeholders[position]] = shifted
            total.append(float(interpreter.evaluate([problem.loss], feeds)[0]))
        values.append((total[0] - total[1]) / (2 * EPS))
    return probes, np.array(values)


def forward_is_finite(problem: GradProblem, arrays) -> bool:
    loss = interpreter.evaluate([problem.loss], dict(zip(problem.placeholders, arrays)))[0]
    return bool(np.isfinite(loss))


def analytic_gradients(problem: GradProblem, arrays, compiled: bool) -> list:
    """The gradients' values (zeros for None), compiled or by the reference interpreter."""
    fetches = [g for g in problem.grads if g is not None]
    if compiled:
        values = tf.compile(fetches, feeds=problem.placeholders)(*arrays) if fetches else []
    else:
        values = interpreter.evaluate(fetches, dict(zip(problem.placeholders, arrays)))
    it = iter(values)
    return [np.zeros_like(arrays[i]) if g is None else np.asarray(next(it))
            for i, g in zip(problem.wrt, problem.grads)]


def check_gradients(problem: GradProblem, arrays, analytic: list, rng, rtol: float,
                    atol: float, skip_inputs=(), name: str = "") -> None:
    for position, value in zip(problem.wrt, analytic):
        x = arrays[position]
        assert value.shape == x.shape and value.dtype == x.dtype, \
            f"{name}: input {position}: gradient {value.dtype}{value.shape} for {x.dtype}{x.shape}"
        if position in skip_inputs:
            continue
        probes, numeric = numeric_gradient(problem, arrays, position, rng)
        np.testing.assert_allclose(value.ravel()[probes], numeric, rtol=rtol, atol=atol,
                                   err_msg=f"{name}: gradient of input {position}")
