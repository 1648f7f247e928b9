"""Helpers for TF1-style tests of composites: run a graph in both engines, and check a
composite's gradient against finite differences (tests/graphjit/grad_check.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import graphjit as tf
from tests.graphjit.grad_check import analytic_gradients, build_problem, check_gradients

ENGINES = ("compiled", "reference")


def session(engine: str, graph=None) -> tf.Session:
    """A Session running compiled kernels, or the NumPy reference interpreter."""
    return tf.Session(graph=graph) if engine == "compiled" else \
        tf.Session(graph=graph, engine="reference")


def run_both(fetches, feed_dict=None, init: bool = False) -> list:
    """The fetches' values from each engine (variables initialized first with init)."""
    out = []
    for engine in ENGINES:
        with session(engine, tf.get_default_graph()) as sess:
            if init:
                sess.run(tf.global_variables_initializer())
            out.append(sess.run(fetches, feed_dict))
    return out


def check_gradient(build, *arrays, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """The compiled gradient of build(*placeholders) (float64 inputs) against central
    finite differences, as the registry-wide gradient check does for primitives."""
    rng = np.random.default_rng(0)
    arrays = [np.asarray(a) for a in arrays]
    problem = build_problem(SimpleNamespace(build=build), arrays, False, rng)
    assert problem is not None and any(g is not None for g in problem.grads)
    analytic = analytic_gradients(problem, arrays, compiled=True)
    check_gradients(problem, arrays, analytic, rng, rtol, atol, name="composite")
