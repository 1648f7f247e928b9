"""Names, scopes, static shapes and build-time errors of reductions, matmul and graphjit.nn.

Default names are TensorFlow's, composites name their final op after their
scope ("probs:0"), and argument errors found before an op exists still name
the op and point at the user's line.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here
from tests.graphjit.error_check import caller_line as _line

# -- default names and scopes ------------------------------------------------------

def test_primitive_default_names(graph):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    w = tf.placeholder(tf.float32, [3, 4], name="w")
    b = tf.placeholder(tf.bool, [2], name="b")
    made = {
        "Sum": tf.reduce_sum(x), "Sum_1": tf.reduce_sum(x, 1), "Mean": tf.reduce_mean(x),
        "Max": tf.reduce_max(x), "Min": tf.reduce_min(x), "Prod": tf.reduce_prod(x),
        "Any": tf.reduce_any(b), "All": tf.reduce_all(b), "ArgMax": tf.argmax(x),
        "ArgMin": tf.argmin(x), "MatMul": tf.matmul(x, w), "MatMul_1": x @ w,
        "Maximum": tf.maximum(x, 0.0), "Relu": tf.nn.relu(x),
    }
    for name, tensor in made.items():
        assert tensor.name == f"{name}:0"
        assert graph.get_tensor_by_name(f"{name}:0") is tensor
    assert made["Sum"].op.type == "Sum" and made["MatMul_1"].op.type == "MatMul"


def test_reduction_over_no_axes_is_still_a_named_op(graph):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    y = tf.reduce_sum(x, axis=[], name="nothing")
    assert y.name == "nothing:0" and y.op.type == "Identity" and y.shape == (2, 3)


def test_nested_scopes(graph):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.placeholder(tf.float32, [3, 4], name="w")
    with tf.name_scope("layer1"):
        h = tf.matmul(x, w)
        with tf.name_scope("inner"):
            s = tf.reduce_sum(h)
        p = tf.nn.softmax(h)
    assert h.name == "layer1/MatMul:0"
    assert s.name == "layer1/inner/Sum:0"
    assert p.name == "layer1/Softmax:0"
    assert all(op.name.startswith("layer1/Softmax/") for op in graph.get_operations()
               if op.name.startswith("layer1/Softmax") and op is not p.op)


@pytest.mark.parametrize("fn, default", [
    (tf.nn.softmax, "Softmax"), (tf.nn.log_softmax, "LogSoftmax"), (tf.nn.relu6, "Relu6"),
    (tf.nn.leaky_relu, "LeakyRelu"), (tf.nn.elu, "Elu"), (tf.nn.gelu, "Gelu"),
    (tf.nn.softplus, "Softplus"), (tf.nn.silu, "silu"), (tf.nn.l2_loss, "L2Loss"),
    (tf.nn.layer_normalization, "LayerNorm"),
])
def test_composite_names(graph, fn, default):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    assert fn(x).name == f"{default}:0"
    assert fn(x).name == f"{default}_1:0"
    named = fn(x, name="probs")
    assert named.name == "probs:0"
    assert graph.get_tensor_by_name("probs:0") is named
    internal = [op.name for op in graph.get_operations() if op.name.startswith("probs/")]
    assert internal or named.op.inputs[0].op.name == "x"  # inner ops live under the scope


def test_loss_and_bias_names(graph):
    x = tf.placeholder(tf.float32, [4, 3], name="x")
    b = tf.placeholder(tf.float32, [3], name="b")
    y = tf.placeholder(tf.float32, [4, 3], name="y")
    assert tf.nn.bias_add(x, b).name == "BiasAdd:0"
    loss = tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=x, name="xent")
    assert loss.name == "xent:0" and loss.shape == (4,)
    mean, variance = tf.nn.moments(x, [0], keepdims=True)
    assert mean.name == "moments/mean:0" and variance.name == "moments/variance:0"
    assert tf.nn.batch_normalization(x, mean, variance, None, None, 1e-3).name == "batchnorm:0"


def test_cross_entropy_takes_keywords_only(graph):
    x = tf.placeholder(tf.float32, [4, 3], name="x")
    with pytest.raises(TypeError):
        tf.nn.softmax_cross_entropy_with_logits(x, x)  # TF1 rejects positional labels too


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16])
def test_composite_constants_keep_the_input_dtype(graph, dtype):
    x = tf.placeholder(dtype, [2, 3], name="x")
    for fn in (tf.nn.gelu, tf.nn.softplus, tf.nn.elu, tf.nn.leaky_relu, tf.nn.softmax,
               tf.nn.l2_loss, tf.nn.layer_normalization,
               lambda t: tf.nn.gelu(t, approximate=True)):
        fn(x)
    dtypes_seen = {t.dtype for op in graph.get_operations() for t in op.outputs}
    assert dtypes_seen <= {dtype, tf.bool}, dtypes_seen


# -- static shapes with unknown dims ---------------------------------------------

def test_static_shapes_with_unknown_dims(graph):
    x = tf.placeholder(tf.float32, [None, 3, None], name="x")
    assert tf.reduce_sum(x, 1).shape == (None, None)
    assert tf.reduce_max(x, [0, -1], keepdims=True).shape == (1, 3, 1)
    assert tf.reduce_mean(x).shape == ()
    assert tf.argmax(x, 1).shape == (None, None) and tf.argmax(x, 1).dtype == tf.int64
    a = tf.placeholder(tf.float32, [None, 1, None, 3], name="a")
    b = tf.placeholder(tf.float32, [5, 3, 2], name="b")
    assert tf.matmul(a, b).shape == (None, 5, None, 2)
    assert tf.matmul(b, a, transpose_a=True, transpose_b=True).shape == (None, 5, 2, None)
    assert tf.nn.softmax(x, axis=1).shape == (None, 3, None)


def test_integer_mean_truncates_toward_zero(graph):
    x = tf.constant(np.array([[-3, 1], [3, 2]], np.int32))
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(tf.reduce_mean(x, 1)), [-1, 2])


# -- errors point at the user's line -----------------------------------------------

def test_reduce_sum_bad_axis(graph):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.reduce_sum(x, axis=2)  # noqa: E702
    assert_points_here(info, "Sum 'Sum'", "axis 2", "rank 2", line=line)
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.reduce_mean(x, axis=[1, -1], name="twice")  # noqa: E702
    assert_points_here(info, "Mean 'twice'", "repeats", line=line)


def test_reduce_any_on_floats(graph):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    with pytest.raises(tf.DTypeError) as info:
        line = _line(); tf.reduce_any(x)  # noqa: E702
    assert_points_here(info, "Any 'Any'", "float32", "bool", line=line)


def test_argmax_bad_axis(graph):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.argmax(x, -3)  # noqa: E702
    assert_points_here(info, "ArgMax 'ArgMax'", "-3", line=line)


def test_matmul_contraction_mismatch(graph):
    a = tf.placeholder(tf.float32, [None, 3], name="a")
    b = tf.placeholder(tf.float32, [4, 5], name="b")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.matmul(a, b, name="logits")  # noqa: E702
    assert_points_here(info, "MatMul 'logits'", "float32[?,3]", "float32[4,5]", "3", "4",
                       line=line)
    with tf.name_scope("layer1"), pytest.raises(tf.ShapeError) as info:
        line = _line(); a @ b  # noqa: E702, B018
    assert_points_here(info, "MatMul 'layer1/MatMul'", line=line)


def test_matmul_rank_and_dtype(graph):
    v = tf.placeholder(tf.float32, [3], name="v")
    m = tf.placeholder(tf.float32, [3, 3], name="m")
    n = tf.placeholder(tf.float64, [3, 3], name="n")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.matmul(v, m)  # noqa: E702
    assert_points_here(info, "MatMul 'MatMul'", "rank", line=line)
    with pytest.raises(tf.DTypeError) as info:
        line = _line(); tf.matmul(m, n)  # noqa: E702
    assert_points_here(info, "MatMul", "float32", "float64", line=line)


def test_matmul_batch_dims_must_broadcast(graph):
    a = tf.placeholder(tf.float32, [2, 3, 4], name="a")
    b = tf.placeholder(tf.float32, [3, 4, 5], name="b")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.matmul(a, b)  # noqa: E702
    assert_points_here(info, "MatMul 'MatMul'", "broadcast", line=line)


def test_bias_add_wrong_bias_shape(graph):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    bias = tf.placeholder(tf.float32, [4], name="bias")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.nn.bias_add(x, bias)  # noqa: E702
    assert_points_here(info, "BiasAdd 'BiasAdd'", "(4,)", "(?, 3)", line=line)
    matrix = tf.placeholder(tf.float32, [1, 3], name="matrix")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.nn.bias_add(x, matrix, name="b2")  # noqa: E702
    assert_points_here(info, "BiasAdd 'b2'", "1-D", line=line)


def test_sparse_cross_entropy_needs_int_labels(graph):
    logits = tf.placeholder(tf.float32, [4, 3], name="logits")
    labels = tf.placeholder(tf.float32, [4], name="labels")
    with pytest.raises(tf.DTypeError) as info:
        line = _line(); tf.nn.sparse_softmax_cross_entropy_with_logits(  # noqa: E702
            labels=labels, logits=logits, name="loss")
    assert_points_here(info, "SparseSoftmaxCrossEntropyWithLogits 'loss'", "labels",
                       "float32", "int32", line=line)


def test_sparse_cross_entropy_label_shape(graph):
    logits = tf.placeholder(tf.float32, [4, 3], name="logits")
    labels = tf.placeholder(tf.int32, [4, 3], name="labels")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.nn.sparse_softmax_cross_entropy_with_logits(  # noqa: E702
            labels=labels, logits=logits)
    assert_points_here(info, "SparseSoftmaxCrossEntropyWithLogits", "class", line=line)


def test_softmax_of_ints(graph):
    n = tf.placeholder(tf.int32, [4, 3], name="n")
    with pytest.raises(tf.DTypeError) as info:
        line = _line(); tf.nn.softmax(n, name="probs")  # noqa: E702
    assert_points_here(info, "Softmax 'probs'", "int32", line=line)


def test_cross_entropy_shape_mismatch(graph):
    logits = tf.placeholder(tf.float32, [4, 3], name="logits")
    labels = tf.placeholder(tf.float32, [4, 2], name="labels")
    with pytest.raises(tf.ShapeError) as info:
        line = _line(); tf.nn.softmax_cross_entropy_with_logits_v2(  # noqa: E702
            labels=labels, logits=logits)
    assert_points_here(info, "softmax_cross_entropy_with_logits", "(4, 2)", line=line)


def test_axis_and_alias_together(graph):
    x = tf.placeholder(tf.float32, [2, 3], name="x")
    with pytest.raises(tf.GraphError) as info:
        line = _line(); tf.reduce_sum(x, axis=0, reduction_indices=0)  # noqa: E702
    assert_points_here(info, "Sum", "reduction_indices", line=line)
