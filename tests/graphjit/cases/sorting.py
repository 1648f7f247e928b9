"""Cases for top_k, sort and argsort (the primitive TopKV2).

Expectations order each row in plain Python by the key (-value, index) for descending
order and (value, index) for ascending: TF's tie rule, equal values in index order. Int
inputs from a small range have many ties.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case

NUMERIC = FLOATS + INTS


def _order(a, axis: int, descending: bool):
    """Per row along `axis`: the indices in sorted order, ties by index."""
    moved = np.moveaxis(a, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]) if moved.size else moved.reshape(0, 0)
    out = np.array([sorted(range(len(r)), key=lambda j, r=r: (-r[j] if descending else r[j], j))
                    for r in rows.tolist()], dtype=np.int64).reshape(moved.shape)
    return np.moveaxis(out, -1, axis)


def _top_k(a, k: int):
    order = _order(a, -1, descending=True)[..., :k]
    return [np.take_along_axis(a, order, -1), order.astype(np.int32)]


def _sorted(a, axis, descending):
    return np.take_along_axis(a, _order(a, axis, descending), axis)


def _shapes(min_rank=1, max_rank=3, min_side=1):
    return st.tuples(hnp.array_shapes(min_dims=min_rank, max_dims=max_rank, min_side=min_side,
                                      max_side=5))


def case(name, build, expected, default, strategy, **kw):
    return Case(name, build, expected, default_shapes=default, shapes=strategy,
                dtypes=NUMERIC, **kw)


CASES = [
    case("top_k", lambda x: list(tf.nn.top_k(x, k=2)), lambda a: _top_k(a, 2), ((3, 5),),
         _shapes(min_side=2)),
    case("top_k_default_k_1d", lambda x: list(tf.math.top_k(x)), lambda a: _top_k(a, 1),
         ((6,),), _shapes(1, 1)),
    case("top_k_zero", lambda x: list(tf.nn.top_k(x, 0, sorted=False)), lambda a: _top_k(a, 0),
         ((2, 3),), _shapes(min_side=0)),
    case("sort", tf.sort, lambda a: _sorted(a, -1, False), ((3, 4),), _shapes()),
    case("sort_axis0_descending", lambda x: tf.sort(x, axis=0, direction="DESCENDING"),
         lambda a: _sorted(a, 0, True), ((4, 3),), _shapes()),
    case("argsort", tf.argsort, lambda a: _order(a, -1, False).astype(np.int32), ((3, 5),),
         _shapes()),
    case("argsort_middle_descending",
         lambda x: tf.argsort(x, axis=1, direction="DESCENDING", stable=True),
         lambda a: _order(a, 1, True).astype(np.int32), ((2, 4, 3),), _shapes(2, 3)),
]
