"""Cases for control flow (If, While, WhileStack, ScanStack): conds on a fed bool, loops
with fixed and with data-dependent trip counts, rows stacked over iterations. The
expectations branch and loop in NumPy. Programs beyond one op (nesting, shape
invariants, gradients) are in tests/graphjit/test_control_flow.py."""

from __future__ import annotations

import numpy as np
from hypothesis.extra import numpy as hnp

import graphjit as tf
from graphjit.ops.scan_stack import scan_stack
from graphjit.ops.while_stack import while_stack
from tests.graphjit.cases.base import FLOATS, INTS, Case, uniform


def _shapes(n_scalars: int, n_arrays: int = 1):
    return hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4).map(
        lambda s: ((),) * n_scalars + (s,) * n_arrays)


def _cond(pred, x):
    return tf.cond(pred, lambda: x * x + 1.0, lambda: tf.sin(x) * 2.0)


def _cond_expected(pred, x):
    return x * x + 1.0 if pred else np.sin(x) * 2.0


def _cond_structure(pred, x, y):
    pair = tf.cond(pred, lambda: (x + y, [x * y, y]), lambda: (x - y, [y, x]))
    return [pair[0], pair[1][0], pair[1][1]]


def _cond_structure_expected(pred, x, y):
    return [x + y, x * y, y] if pred else [x - y, y, x]


def _while_sum(x):
    """acc = sum of i * x for i < 5: a fixed trip count."""
    def body(i, acc):
        return i + 1, acc + tf.cast(i, x.dtype) * x
    return tf.while_loop(lambda i, acc: i < 5, body, [tf.constant(0), tf.zeros_like(x)])[1]


def _newton_sqrt(x):
    """Newton's method for sqrt(x), iterated until it stops moving (at most 40 steps)."""
    def body(y, step):
        new = 0.5 * (y + x / y)
        return new, tf.reduce_max(tf.abs(new - y))
    y, _ = tf.while_loop(lambda y, step: step > 0, body,
                         [tf.ones_like(x) + x, tf.constant(1.0, dtype=x.dtype)],
                         maximum_iterations=40)
    return y


def _halve_until(x):
    """A trip count the values decide: halve while the largest element is above 1."""
    return tf.while_loop(lambda v: tf.reduce_max(tf.abs(v)) > 1, lambda v: v // 2, [x])


def _halve_until_expected(a):
    while a.size and np.abs(a).max() > 1:
        a = a // 2
    return a


def _power_gradient(x):
    """d/dx sum(x**4) through a loop multiplying by x four times: the loop's gradient
    (WhileHistory and a backward loop)."""
    _, y = tf.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, v * x),
                         [tf.constant(0), tf.ones_like(x)])
    return tf.gradients(tf.reduce_sum(y), [x])[0]


def _halvings(x):
    """Each halving of x while its largest element is above 1, stacked (WhileStack: a
    trip count the values decide, and rows beside the loop variable)."""
    (v,), (rows,) = while_stack(lambda v: tf.reduce_max(tf.abs(v)) > 1,
                                lambda v: ([v / 2], [v / 2]), [x])
    return [v, rows]


def _halvings_expected(a):
    rows = []
    while a.size and np.abs(a).max() > 1:
        a = a / 2
        rows.append(a)
    return [a, np.stack(rows) if rows else np.zeros((0, *a.shape), a.dtype)]


def _running_sums(x):
    """The running sum of x's rows and each partial sum, by ScanStack over x's rows."""
    (total,), (sums,) = scan_stack(lambda acc, row: ([acc + row], [acc + row]),
                                   [tf.zeros_like(x[0])], [x])
    return [total, sums]


def _running_sums_expected(a):
    sums = np.cumsum(a, axis=0, dtype=a.dtype)
    return [sums[-1], sums]


CASES = [
    Case("cond", _cond, _cond_expected, default_shapes=((), (2, 3)), shapes=_shapes(1),
         input_dtypes={0: "bool"}),
    Case("cond_structure", _cond_structure, _cond_structure_expected,
         default_shapes=((), (3,), (3,)), shapes=_shapes(1, 2), input_dtypes={0: "bool"},
         dtypes=FLOATS + INTS),
    Case("while_sum", _while_sum, lambda a: a * 10, default_shapes=((2, 3),),
         shapes=_shapes(0), dtypes=FLOATS + INTS),
    Case("while_newton_sqrt", _newton_sqrt, np.sqrt, default_shapes=((4,),),
         shapes=_shapes(0), inputs=uniform(0.25, 9.0)),
    Case("while_halve_until", _halve_until, _halve_until_expected, default_shapes=((5,),),
         shapes=_shapes(0), dtypes=INTS, inputs=uniform(-50, 50)),
    Case("while_halve_until_float", _halve_until, _halve_until_expected,
         default_shapes=((3, 2),), shapes=_shapes(0), dtypes=FLOATS,
         inputs=uniform(-40, 40)),
    Case("while_stack_halvings", _halvings, _halvings_expected, default_shapes=((2, 3),),
         shapes=_shapes(0), inputs=uniform(-40, 40)),
    Case("scan_stack_running_sums", _running_sums, _running_sums_expected,
         default_shapes=((5, 2),), dtypes=FLOATS + INTS),
    Case("while_gradient", _power_gradient, lambda a: 4 * a ** 3, default_shapes=((2, 3),),
         shapes=_shapes(0)),
]
