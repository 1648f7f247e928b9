"""Cases for MatMul (2-D, transposed, batched with broadcast batch dims) and tensordot.

Expectations are float64 NumPy products (np.matmul, np.einsum for tensordot);
hypothesis draws m, k, n and the batch shapes together so they always agree.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, uniform

NUMERIC = FLOATS + INTS
TOL = {"rtol": {"float32": 1e-5, "float64": 1e-12}, "atol": 1e-5}
_side = st.integers(1, 5)


@st.composite
def matmul_shapes(draw, transpose_a=False, transpose_b=False, batch=False):
    """(a_shape, b_shape) for a @ b: m, k, n drawn once, batch dims mutually broadcastable."""
    m, k, n = draw(_side), draw(_side), draw(_side)
    batch_a, batch_b = (), ()
    if batch:
        batch_a, batch_b = draw(hnp.mutually_broadcastable_shapes(
            num_shapes=2, min_dims=0, max_dims=2, max_side=4)).input_shapes
    a = (k, m) if transpose_a else (m, k)
    b = (n, k) if transpose_b else (k, n)
    return batch_a + a, batch_b + b


def _f64(a):
    return a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64)


def _matmul(transpose_a=False, transpose_b=False):
    def expected(a, b):
        a, b = _f64(a), _f64(b)
        if transpose_a:
            a = np.swapaxes(a, -1, -2)
        if transpose_b:
            b = np.swapaxes(b, -1, -2)
        return np.matmul(a, b)
    return expected


def matmul_case(name, build, transpose_a=False, transpose_b=False, batch=False,
                default_shapes=None):
    if default_shapes is None:
        a = (3, 2) if transpose_a else (2, 3)
        b = (4, 3) if transpose_b else (3, 4)
        default_shapes = ((5, *a), (1, *b)) if batch else (a, b)
    return Case(name, build, _matmul(transpose_a, transpose_b), default_shapes=default_shapes,
                shapes=matmul_shapes(transpose_a, transpose_b, batch), dtypes=NUMERIC,
                inputs=uniform(-3, 3), **TOL)


@st.composite
def tensordot_shapes(draw, a_contracted, b_contracted, a_rank, b_rank):
    """Shapes whose contracted axes (lists of the same length) have equal sizes."""
    sizes = [draw(_side) for _ in a_contracted]
    a = [draw(_side) for _ in range(a_rank)]
    b = [draw(_side) for _ in range(b_rank)]
    for i, j, size in zip(a_contracted, b_contracted, sizes):
        a[i], b[j] = size, size
    return tuple(a), tuple(b)


def tensordot_case(name, axes, a_rank, b_rank):
    if isinstance(axes, int):
        a_axes, b_axes = list(range(a_rank - axes, a_rank)), list(range(axes))
    else:
        a_axes, b_axes = ([x % a_rank for x in axes[0]], [x % b_rank for x in axes[1]])
    shapes = tensordot_shapes(a_axes, b_axes, a_rank, b_rank)
    a_default = [2 + i for i in range(a_rank)]
    b_default = [3 + i for i in range(b_rank)]
    for n, (i, j) in enumerate(zip(a_axes, b_axes)):
        a_default[i] = b_default[j] = 4 + n
    return Case(name, lambda a, b: tf.tensordot(a, b, axes),
                lambda a, b: np.tensordot(_f64(a), _f64(b), axes=(a_axes, b_axes)),
                default_shapes=(tuple(a_default), tuple(b_default)), shapes=shapes,
                dtypes=NUMERIC, **TOL)


CASES = [
    matmul_case("matmul", tf.matmul),
    matmul_case("matmul_operator", lambda a, b: a @ b),
    matmul_case("matmul_transpose_a", lambda a, b: tf.matmul(a, b, transpose_a=True),
                transpose_a=True),
    matmul_case("matmul_transpose_b", lambda a, b: tf.matmul(a, b, transpose_b=True),
                transpose_b=True),
    matmul_case("matmul_adjoint_both", lambda a, b: tf.matmul(a, b, adjoint_a=True,
                                                              adjoint_b=True),
                transpose_a=True, transpose_b=True),
    matmul_case("matmul_batched", tf.matmul, batch=True),
    matmul_case("matmul_batched_operator", lambda a, b: a @ b, batch=True,
                default_shapes=((2, 1, 2, 3), (4, 3, 5))),
    matmul_case("matmul_batched_transpose_b",
                lambda a, b: tf.matmul(a, b, transpose_b=True), transpose_b=True, batch=True),
    matmul_case("matmul_batched_transpose_a",
                lambda a, b: tf.matmul(a, b, transpose_a=True), transpose_a=True, batch=True),
    tensordot_case("tensordot_axes_1", 1, 2, 2),
    tensordot_case("tensordot_axes_2", 2, 3, 3),
    tensordot_case("tensordot_axes_0_outer", 0, 2, 1),
    tensordot_case("tensordot_axis_lists", ([0, 2], [1, 0]), 3, 2),
    tensordot_case("tensordot_negative_axes", ([-1], [-2]), 3, 3),
]


# -- host linear algebra: inverse and determinant --------------------------------

def _well_conditioned(rng, shape, dtype):
    """Random matrices plus n on the diagonal: far from singular."""
    n = shape[-1]
    return (rng.uniform(-1, 1, size=shape) + n * np.eye(n)).astype(dtype)


@st.composite
def _square(draw):
    n = draw(st.integers(1, 4))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    return (batch + (n, n),)


_LINALG_TOL = {"rtol": {"float32": 1e-4, "float64": 1e-10}, "atol": 1e-5}

CASES += [
    Case("matrix_inverse", tf.matrix_inverse, lambda a: np.linalg.inv(_f64(a)),
         default_shapes=((3, 3),), shapes=_square(), inputs=_well_conditioned, **_LINALG_TOL),
    Case("matrix_inverse_adjoint_batched", lambda x: tf.linalg.inv(x, adjoint=True),
         lambda a: np.linalg.inv(np.swapaxes(_f64(a), -1, -2)),
         default_shapes=((2, 4, 4),), shapes=_square(), inputs=_well_conditioned,
         **_LINALG_TOL),
    Case("matrix_determinant", tf.matrix_determinant, lambda a: np.linalg.det(_f64(a)),
         default_shapes=((3, 3),), shapes=_square(), inputs=_well_conditioned, **_LINALG_TOL),
    Case("matrix_determinant_batched", tf.linalg.det, lambda a: np.linalg.det(_f64(a)),
         default_shapes=((2, 3, 2, 2),), shapes=_square(), inputs=_well_conditioned,
         **_LINALG_TOL),
]
