"""Cases for unique and unique_with_counts (the primitive Unique): the expectation walks
the values in plain Python, giving each new one the next index. Small integer ranges
make repeats likely."""

from __future__ import annotations

import numpy as np
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, uniform


def _first_occurrence(a):
    seen: dict = {}
    for v in a.tolist():
        seen.setdefault(v, len(seen))
    values = np.array(list(seen), a.dtype)
    idx = np.array([seen[v] for v in a.tolist()], np.int32)
    counts = np.array([a.tolist().count(v) for v in seen], np.int32)
    return values, idx, counts


def _vectors():
    return hnp.array_shapes(min_dims=1, max_dims=1, min_side=0, max_side=8).map(lambda s: (s,))


CASES = [
    Case("unique", lambda x: list(tf.unique(x)), lambda a: list(_first_occurrence(a)[:2]),
         default_shapes=((7,),), shapes=_vectors(), dtypes=FLOATS + INTS,
         inputs=uniform(-2, 2)),
    Case("unique_with_counts", lambda x: [t * 2 for t in tf.unique_with_counts(x)],
         lambda a: [t * 2 for t in _first_occurrence(a)], default_shapes=((6,),),
         shapes=_vectors(), dtypes=INTS, inputs=uniform(0, 3)),
]
