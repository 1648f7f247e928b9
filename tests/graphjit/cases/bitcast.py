"""Cases for bitcast (the primitive Bitcast): the expectation reads the input's bytes
back with np.frombuffer and reshapes them as TF's tf.bitcast says."""

from __future__ import annotations

import numpy as np
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case

# the same-width partner of each case dtype
_SAME = {"float32": "int32", "float64": "int64", "int32": "float32", "int64": "float64"}


def _reread(a, to: str, shape) -> np.ndarray:
    return np.frombuffer(a.tobytes(), dtype=to).reshape(shape)


def _same_width(x):
    return tf.bitcast(x, _SAME[x.dtype.name]) * 1  # a compiled op after the host step


CASES = [
    Case("bitcast_same_width", _same_width,
         lambda a: _reread(a, _SAME[a.dtype.name], a.shape) * 1, default_shapes=((2, 3),),
         shapes=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4).map(lambda s: (s,)),
         dtypes=FLOATS + INTS),
    Case("bitcast_narrower", lambda x: tf.bitcast(x, "int16"),
         lambda a: _reread(a, "int16", a.shape + (a.itemsize // 2,)),
         default_shapes=((3,),), dtypes=FLOATS + INTS),
    Case("bitcast_wider", lambda x: tf.bitcast(x, "int64"),
         lambda a: _reread(a, "int64", a.shape[:-1]), default_shapes=((3, 2),),
         dtypes=("int32", "float32")),
]
