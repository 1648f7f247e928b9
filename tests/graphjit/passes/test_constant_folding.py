"""Constant folding: structure after the pass, and the same numbers as before it."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.passes import DEFAULT_MAX_FOLDED_BYTES, optimize
from tests.graphjit.passes.util import op_types, optimize_and_compare

FOLD = ["constant_folding", "dce"]


def test_constant_subgraph_becomes_one_constant():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        scale = tf.multiply(tf.sqrt(tf.constant(2.0)) + 1.0, 3.0, name="scale")
        y = tf.add(x, scale, name="y")
    new, report = optimize_and_compare(g, [y], {x: np.array([1, -2, np.nan], np.float32)},
                                       passes=FOLD)
    assert op_types(new) == {"Placeholder": 1, "Const": 1, "Add": 1}
    folded = new.get_tensor_by_name("scale:0")  # the subgraph's root keeps its name
    assert folded.op.type == "Const" and folded.dtype == tf.float32
    np.testing.assert_allclose(folded.op.attrs["value"], (np.sqrt(2) + 1) * 3, rtol=1e-6)
    first = report.runs[0]
    assert first.folded == 3 and first.const_bytes == 4


@pytest.mark.parametrize("dtype", ["int32", "int64", "float64", "bool"])
def test_folding_keeps_dtype(dtype):
    g = tf.Graph()
    with g.as_default():
        a = tf.constant(np.array([1, 0, 3]).astype(dtype))
        b = tf.constant(np.array([2, 1, 0]).astype(dtype))
        if dtype == "bool":
            c = tf.logical_and(a, b)
        else:
            c = tf.maximum(a, b) * tf.constant(np.array(2).astype(dtype))
        out = tf.identity(c, name="out")
    new, _ = optimize_and_compare(g, [out], {}, passes=FOLD)
    assert op_types(new) == {"Const": 1}
    value = new.get_tensor_by_name("out:0").op.attrs["value"]
    assert value.dtype == np.dtype(dtype) and not value.flags.writeable


def test_nan_and_inf_fold_as_computed():
    g = tf.Graph()
    with g.as_default():
        c = tf.constant([-1.0, 0.0, np.inf])
        out = tf.log(c) * tf.constant(0.0)
    new, _ = optimize_and_compare(g, [out], {}, passes=FOLD)
    value = new.get_operations()[0].attrs["value"]
    assert np.isnan(value[0]) and np.isnan(value[1]) and np.isnan(value[2])


def test_size_limit_keeps_huge_constants_out():
    g = tf.Graph()
    with g.as_default():
        big = tf.broadcast_to(tf.constant(1.5), [512, 1024])  # 2 MiB of float32
        total = tf.reduce_sum(big, name="total")
    assert 512 * 1024 * 4 > DEFAULT_MAX_FOLDED_BYTES
    new, report = optimize_and_compare(g, [total], {}, passes=FOLD)
    assert op_types(new) == {"Const": 1, "BroadcastTo": 1, "Sum": 1}
    assert report.runs[0].folded == 0
    new, report = optimize(g, [total], passes=FOLD, max_folded_bytes=4 << 20)
    assert op_types(new) == {"Const": 1}
    assert report.runs[0].const_bytes == 4  # the interior 2 MiB was never materialized


def test_fed_constant_is_not_a_known_value():
    g = tf.Graph()
    with g.as_default():
        c = tf.constant(2.0, name="c")
        y = tf.multiply(c, 3.0, name="y")
    new, report = optimize(g, [y], keep=[c])
    assert op_types(new)["Mul"] == 1
    from graphjit.interpreter import evaluate
    (value,) = evaluate([report.fetch_map[y]], {report.lookup(c): np.float32(5)})
    assert value == 15


def test_fed_intermediate_is_not_folded():
    g = tf.Graph()
    with g.as_default():
        t = tf.add(tf.constant(1.0), 2.0, name="t")
        y = tf.multiply(t, 10.0, name="y")
    new, _ = optimize_and_compare(g, [y], {t: np.float32(-4)})
    assert new.get_tensor_by_name("t:0").op.type == "Add"


def test_reference_errors_are_left_for_run_time():
    g = tf.Graph()
    with g.as_default():
        p = tf.pow(tf.constant([2, 3]), tf.constant([-1, 2]), name="p")
    new, report = optimize(g, [p], passes=FOLD)
    assert op_types(new)["Pow"] == 1 and report.runs[0].folded == 0


def test_static_shape_folds():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 3], name="x")
        u = tf.placeholder(tf.float32, [None, 3], name="u")
        s = tf.shape(x, name="s")
        su = tf.shape(u, name="su")
    feeds = {x: np.zeros((2, 3), np.float32), u: np.zeros((5, 3), np.float32)}
    new, _ = optimize_and_compare(g, [s, su], feeds, passes=FOLD)
    assert new.get_tensor_by_name("s:0").op.type == "Const"
    assert new.get_tensor_by_name("su:0").op.type == "Shape"


def test_placeholders_and_stateless_sources():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [4], name="x")
        r = tf.range(4, dtype=tf.float32)
        z = tf.zeros([4])
        y = tf.add(x * r, z, name="y")
    new, _ = optimize_and_compare(g, [y], {x: np.arange(4, dtype=np.float32)}, passes=FOLD)
    types = op_types(new)
    assert types["Placeholder"] == 1 and "Range" not in types and "Fill" not in types


def test_stateful_ops_are_never_folded(counter_op):
    g = tf.Graph()
    with g.as_default():
        c = tf.constant([1.0, 2.0])
        y = tf.exp(g.create_op(counter_op, [c * 2.0]).outputs[0], name="y")
    new, _ = optimize(g, [y])
    assert op_types(new) == {"Const": 1, counter_op: 1, "Exp": 1}
