"""Run a Case through a graph and compare with its independent NumPy expectation."""

from __future__ import annotations

import numpy as np

import graphjit as tf

RTOL = {"float16": 1e-2, "float32": 2e-5, "float64": 1e-12}


def build_case(case, arrays, unknown_dims: bool = False):
    """A graph with one placeholder per input array and the case's output(s)."""
    graph = tf.Graph()
    with graph.as_default():
        placeholders = [
            tf.placeholder(a.dtype, [None] * a.ndim if unknown_dims else a.shape, name=f"in{i}")
            for i, a in enumerate(arrays)
        ]
        out = case.build(*placeholders)
    return graph, placeholders, out


def as_array(value) -> np.ndarray:
    """np.asarray, but a bytes value (a string scalar) stays whole: NumPy's "S" dtype
    would drop its trailing NUL bytes."""
    if isinstance(value, bytes):
        out = np.empty((), object)
        out[()] = value
        return out
    return np.asarray(value)


def assert_close(actual, expected, case):
    """Same shape, dtype-aware tolerance, NaN in the same places; ints and bools exact."""
    actual = as_array(actual)
    expected = as_array(expected)
    assert actual.shape == expected.shape, f"{case.name}: shape {actual.shape} != {expected.shape}"
    if actual.dtype.kind in "fc":
        rtol = case.rtol.get(actual.dtype.name, RTOL[actual.dtype.name])
        np.testing.assert_allclose(actual, expected.astype(np.float64), rtol=rtol,
                                   atol=case.atol, equal_nan=True, err_msg=case.name)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=case.name)


def run_interpreted(case, arrays, unknown_dims=False):
    graph, placeholders, out = build_case(case, arrays, unknown_dims)
    with tf.Session(graph=graph, engine="reference") as sess:
        return sess.run(out, dict(zip(placeholders, arrays)))


def check_outputs(case, arrays, result):
    expected = case.expected(*arrays)
    if isinstance(expected, (list, tuple)):
        assert len(result) == len(expected), case.name
        for r, e in zip(result, expected):
            assert_close(r, e, case)
    else:
        assert_close(result, expected, case)
