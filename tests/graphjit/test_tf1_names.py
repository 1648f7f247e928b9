"""TF1 names of issue #13, used as TF1 scripts use them, in both engines, against NumPy:
clipping, reduce_logsumexp, embedding_lookup, einsum, placeholder_with_default,
check_numerics, Print/print, top_k/sort/argsort, boolean_mask, the inert session
configuration, tf.math, graphjit.compat.v1, and the error for a name graphjit lacks."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line
from tests.graphjit.tf1_ops_check import run

ENGINES = ["reference", "compiled"]



RNG = np.random.default_rng(13)
X = RNG.standard_normal((4, 5)).astype(np.float32)


# -- clipping ----------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_clip_by_value_and_norm(graph, engine):
    x = tf.placeholder(tf.float32, [None, 5], name="x")
    lo = tf.placeholder(tf.float32, [5], name="lo")
    by_value = tf.clip_by_value(x, lo, 0.5)
    by_norm = tf.clip_by_norm(x, 1.5, axes=[1])
    whole = tf.clip_by_norm(x * 0.0, 1.0)  # a zero norm: zeros, no NaN
    lows = np.linspace(-1, 0, 5).astype(np.float32)
    v, n, w = run(engine, [by_value, by_norm, whole], {x: X, lo: lows})
    np.testing.assert_allclose(v, np.minimum(np.maximum(X, lows), 0.5))
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(n, X * 1.5 / np.maximum(norms, 1.5), rtol=1e-6)
    np.testing.assert_array_equal(w, np.zeros_like(X))
    assert by_value.name == "clip_by_value:0" and by_value.shape == (None, 5)


def test_clip_by_value_refuses_to_broadcast_t(graph):
    x = tf.placeholder(tf.float32, [3], name="x")
    with pytest.raises(tf.ShapeError, match="keeps t's shape"):
        tf.clip_by_value(x, tf.zeros([2, 3]), 1.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_clip_by_global_norm_of_gradients(graph, engine):
    w = tf.Variable(X, name="w")
    b = tf.Variable(np.ones(5, np.float32), name="b")
    unused = tf.Variable(0.0, name="unused")
    loss = tf.reduce_sum(tf.square(w * 3.0)) + tf.reduce_sum(b)
    grads = tf.gradients(loss, [w, b, unused])
    assert grads[2] is None
    clipped, norm = tf.clip_by_global_norm(grads, 2.0)
    assert clipped[2] is None
    with tf.Session(engine=engine) as sess:
        sess.run(tf.global_variables_initializer())
        gw, gb, total = sess.run([clipped[0], clipped[1], norm])
    raw = [18.0 * X, np.ones(5)]
    expected_norm = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in raw))
    np.testing.assert_allclose(total, expected_norm, rtol=1e-5)
    np.testing.assert_allclose(gw, raw[0] * 2.0 / expected_norm, rtol=1e-5)
    np.testing.assert_allclose(gb, raw[1] * 2.0 / expected_norm, rtol=1e-5)


@pytest.mark.parametrize("engine", ENGINES)
def test_clip_by_global_norm_of_an_infinite_norm_is_nan(graph, engine):
    x = tf.placeholder(tf.float32, [2], name="x")
    (clipped,), norm = tf.clip_by_global_norm([x], 1.0)
    c, n = run(engine, [clipped, norm], {x: [np.inf, 1.0]})
    assert np.isinf(n) and np.isnan(c).all()


# -- reduce_logsumexp ---------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_reduce_logsumexp(graph, engine):
    x = tf.placeholder(tf.float64, [None, 3], name="x")
    values = np.array([[1000.0, 1000.0, -5.0], [-np.inf, -np.inf, -np.inf],
                       [0.5, -1.0, 2.0]])
    rows = tf.reduce_logsumexp(x, axis=1)
    kept = tf.math.reduce_logsumexp(x, axis=[0], keepdims=True)
    r, k = run(engine, [rows, kept], {x: values[[0, 2]]})
    finite = values[[0, 2]]
    m = finite.max(axis=1, keepdims=True)
    np.testing.assert_allclose(r, (m + np.log(np.exp(finite - m).sum(1, keepdims=True)))[:, 0])
    np.testing.assert_allclose(k, np.logaddexp.reduce(finite, axis=0, keepdims=True),
                               rtol=1e-12)
    assert run(engine, rows, {x: values})[1] == -np.inf  # log(0), not NaN
    assert rows.name == "ReduceLogSumExp:0" and kept.shape == (1, 3)


# -- embedding_lookup ---------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_embedding_lookup_partitioned(graph, engine, strategy):
    table = RNG.standard_normal((10, 4)).astype(np.float32)
    parts = [table[p::3] for p in range(3)] if strategy == "mod" else \
        [table[:4], table[4:7], table[7:]]
    params = [tf.Variable(p, name=f"part{i}") for i, p in enumerate(parts)]
    ids = tf.placeholder(tf.int64, [None, 2], name="ids")
    rows = tf.nn.embedding_lookup(params, ids, partition_strategy=strategy)
    grads = tf.gradients(tf.reduce_sum(rows), params)
    some = np.array([[9, 0], [3, 3], [7, 4]])
    with tf.Session(engine=engine) as sess:
        sess.run(tf.global_variables_initializer())
        found, *g = sess.run([rows] + grads, {ids: some})
    np.testing.assert_array_equal(found, table[some])
    counts = np.bincount(some.ravel(), minlength=10)[:, None] * np.ones(4)
    expected = [counts[p::3] for p in range(3)] if strategy == "mod" else \
        [counts[:4], counts[4:7], counts[7:]]
    for got, want in zip(g, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("engine", ENGINES)
def test_embedding_lookup_one_table_and_bad_ids(graph, engine):
    table = tf.constant(X, name="table")
    ids = tf.placeholder(tf.int32, [None], name="ids")
    line = caller_line() + 1
    rows = tf.nn.embedding_lookup(table, ids, max_norm=1.0)
    got = run(engine, rows, {ids: [3, 0]})
    norms = np.linalg.norm(X[[3, 0]], axis=1, keepdims=True)
    np.testing.assert_allclose(got, X[[3, 0]] / np.maximum(norms, 1.0), rtol=1e-6)
    assert rows.name == "embedding_lookup:0"
    with pytest.raises(tf.ShapeError) as info:
        run(engine, rows, {ids: [4]})
    assert_points_here(info, "out of range [0, 4)", line=line)


# -- einsum -----------------------------------------------------------------------

EINSUMS = [("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
           ("ij->ji", [(3, 4)]), ("ij->j", [(3, 4)]), ("i,i->", [(5,), (5,)]),
           ("i,j->ij", [(3,), (4,)]), ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
           ("btd,de->bte", [(2, 3, 4), (4, 6)]), ("ij,jk,kl", [(2, 3), (3, 4), (4, 2)])]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("equation, shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum(graph, engine, equation, shapes):
    arrays = [RNG.standard_normal(s) for s in shapes]
    inputs = [tf.placeholder(tf.float64, [None] * len(s), name=f"in{i}")
              for i, s in enumerate(shapes)]
    out = tf.einsum(equation, *inputs)
    np.testing.assert_allclose(run(engine, out, dict(zip(inputs, arrays))),
                               np.einsum(equation, *arrays), rtol=1e-12)


def test_einsum_refuses_what_it_does_not_lower(graph):
    x = tf.placeholder(tf.float32, [3, 3], name="x")
    line = caller_line() + 2
    with pytest.raises(tf.UnsupportedError) as info:
        tf.einsum("ii->i", x)
    assert_points_here(info, "trace or diagonal", line=line)
    with pytest.raises(tf.UnsupportedError, match="ellipses"):
        tf.einsum("...ij,jk->...ik", x, x)
    with pytest.raises(tf.ShapeError, match="rank 2"):
        tf.einsum("ijk->i", x)


# -- placeholder_with_default, check_numerics, Print --------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_placeholder_with_default(graph, engine):
    x = tf.placeholder_with_default(tf.constant([[1.0, 2.0]]), shape=[None, 2], name="x")
    y = x * 10.0
    assert x.shape == (None, 2) and x.name == "x:0"
    np.testing.assert_array_equal(run(engine, y), [[10.0, 20.0]])
    np.testing.assert_array_equal(run(engine, y, {x: np.ones((3, 2))}), np.full((3, 2), 10.0))
    fn = tf.compile(y, feeds=[x])
    np.testing.assert_array_equal(fn(np.zeros((2, 2), np.float32)), np.zeros((2, 2)))
    with pytest.raises(tf.ShapeError, match="does not fit the declared shape"):
        tf.placeholder_with_default(tf.constant([1.0, 2.0]), [3])


@pytest.mark.parametrize("engine", ENGINES)
def test_check_numerics(graph, engine):
    x = tf.placeholder(tf.float32, [None], name="x")
    line = caller_line() + 1
    checked = tf.check_numerics(tf.log(x), "log of x")
    y = checked * 2.0
    np.testing.assert_allclose(run(engine, y, {x: [1.0, np.e]}), [0.0, 2.0], rtol=1e-6)
    for bad, what in (([-1.0, 1.0], "NaN"), ([0.0], "Inf"), ([0.0, -1.0], "Inf and NaN")):
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            run(engine, y, {x: bad})
        assert_points_here(info, "CheckNumerics", f"log of x : Tensor had {what} values",
                           line=line)
    (grad,) = tf.gradients(checked, [x])
    assert "CheckNumerics" in {op.type for op in graph.get_operations()
                               if op.name.startswith("gradients")}
    np.testing.assert_allclose(run(engine, grad, {x: [2.0]}), [0.5])


@pytest.mark.parametrize("engine", ENGINES)
def test_tf1_print_passes_its_input_and_prints_when_run(graph, engine, capsys):
    x = tf.placeholder(tf.float32, [None], name="x")
    n = tf.placeholder(tf.int32, [], name="n")
    y = tf.Print(x, [x, n], "x, n = ") * 2
    with tf.Session(engine=engine) as sess:
        for value in ([1.0, 2.5, -3.0, 4.0], [0.1]):
            np.testing.assert_array_equal(sess.run(y, {x: value, n: 7}),
                                          np.float32(value) * 2)
        sess.run(x * 3, {x: [1.0]})  # does not need the print
    assert capsys.readouterr().err == "x, n = [1 2.5 -3...][7]\nx, n = [0.1][7]\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_tf_print_op_under_control_dependencies(graph, engine, capsys):
    x = tf.placeholder(tf.int32, [None], name="x")
    op = tf.print("sum:", tf.reduce_sum(x), "of", x, summarize=2, output_stream=sys.stdout)
    with tf.control_dependencies([op]):
        y = tf.identity(x + 1)
    assert isinstance(op, tf.Operation)
    np.testing.assert_array_equal(run(engine, y, {x: np.arange(6)}), np.arange(1, 7))
    run(engine, op, {x: [5]})
    assert capsys.readouterr().out == "sum: 15 of [0 1 ... 4 5]\nsum: 5 of [5]\n"


# -- top_k, sort, argsort ----------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_top_k_sort_argsort(graph, engine):
    x = tf.placeholder(tf.int32, [None, None], name="x")
    values, indices = tf.nn.top_k(x, k=3)
    ascending = tf.sort(x, axis=0)
    order = tf.argsort(x, direction="DESCENDING")
    a = np.array([[3, 1, 3, -2**31, 2**31 - 1], [0, 0, 5, 0, -1]], np.int32)
    v, i, s, o = run(engine, [values, indices, ascending, order], {x: a})
    np.testing.assert_array_equal(i, [[4, 0, 2], [2, 0, 1]])  # ties: lower index first
    np.testing.assert_array_equal(v, np.take_along_axis(a, i, 1))
    np.testing.assert_array_equal(s, np.sort(a, axis=0))
    np.testing.assert_array_equal(o, [[4, 0, 2, 1, 3], [2, 0, 1, 3, 4]])
    assert indices.dtype == tf.int32 and values.shape == (None, 3)


@pytest.mark.parametrize("engine", ENGINES)
def test_top_k_gradient_goes_to_the_chosen_positions(graph, engine):
    x = tf.placeholder(tf.float64, [2, 4], name="x")
    values, _ = tf.nn.top_k(x, 2)
    (grad,) = tf.gradients(tf.reduce_sum(values * [[1.0, 10.0]]), [x])
    a = np.array([[0.5, 3.0, 2.0, -1.0], [1.0, 0.0, 4.0, 2.0]])
    np.testing.assert_array_equal(run(engine, grad, {x: a}),
                                  [[0, 1, 10, 0], [0, 0, 1, 10]])


# -- boolean_mask -------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_boolean_mask_then_more_math(graph, engine):
    scores = tf.placeholder(tf.float32, [None, 3], name="scores")
    keep = scores[:, 0] > 0
    kept = tf.boolean_mask(scores, keep)
    mean = tf.reduce_mean(kept, axis=0)
    (grad,) = tf.gradients(tf.reduce_sum(kept * kept), [scores])
    with tf.Session(engine=engine) as sess:
        for a in (X[:, :3], -np.abs(X[:, :3]), np.abs(X[:, :3])):
            k, m, g = sess.run([kept, mean, grad], {scores: a})
            rows = a[a[:, 0] > 0]
            np.testing.assert_array_equal(k, rows)
            np.testing.assert_allclose(m, rows.mean(0) if len(rows) else np.full(3, np.nan),
                                       rtol=1e-6)
            np.testing.assert_allclose(g, 2 * a * (a[:, :1] > 0))
    assert kept.shape == (None, 3) and kept.name == "boolean_mask:0"


@pytest.mark.parametrize("engine", ENGINES)
def test_boolean_mask_2d_mask_and_axis(graph, engine):
    x = tf.placeholder(tf.int64, [2, 3, 4], name="x")
    m = tf.placeholder(tf.bool, [3, 4], name="m")
    a = np.arange(24).reshape(2, 3, 4)
    mask = (a[0] % 3) == 0
    assert tf.boolean_mask(x, m, axis=1).shape == (2, None)
    np.testing.assert_array_equal(run(engine, tf.boolean_mask(x, m, axis=1), {x: a, m: mask}),
                                  a[:, mask])
    with pytest.raises(tf.ShapeError, match="does not match"):
        tf.boolean_mask(x, m)


def test_compiled_function_of_a_boolean_mask(graph):
    x = tf.placeholder(tf.float32, [None], name="x")
    y = tf.reduce_sum(tf.boolean_mask(x, x > 1.0) ** 2)
    fn = tf.compile(y)
    for values in ([0.0, 2.0, 3.0], [5.0], [0.0]):
        assert fn(np.float32(values)) == sum(v * v for v in values if v > 1)
    with pytest.raises(tf.UnsupportedError, match="in stages.*BooleanMask 'boolean_mask'"):
        fn.kernels  # noqa: B018


# -- configuration, namespaces, compat.v1 and missing names --------------------------

def test_session_config_is_accepted_and_inert(graph):
    config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False,
                            gpu_options=tf.GPUOptions(per_process_gpu_memory_fraction=0.5))
    config.gpu_options.allow_growth = True
    config.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    with tf.Session(config=config) as sess:
        assert sess.run(tf.constant(2.0) * 3, options=options,
                        run_metadata=tf.RunMetadata()) == 6.0
    assert "allow_growth=True" in repr(config.gpu_options)
    with pytest.raises(tf.InvalidArgumentError, match="no 'allow_grwoth' field"):
        tf.GPUOptions(allow_grwoth=True)


def test_tf_math_holds_the_same_functions():
    assert tf.math.add is tf.add and tf.math.reduce_sum is tf.reduce_sum
    assert tf.math.cumsum is tf.cumsum and tf.math.sigmoid is tf.sigmoid
    assert tf.math.top_k is tf.nn.top_k and tf.math.softplus is tf.nn.softplus
    assert tf.math.is_nan is tf.is_nan


@pytest.mark.parametrize("engine", ENGINES)
def test_compat_v1_script(engine):
    import graphjit.compat.v1 as tf1
    tf1.disable_v2_behavior()
    tf1.disable_eager_execution()
    assert not tf1.executing_eagerly()
    assert tf.compat.v1 is tf1 and tf1.placeholder is tf.placeholder
    assert tf1.nn.relu is tf.nn.relu and tf1.train is tf.train and tf1.float32 is tf.float32
    graph = tf1.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf1.float32, [None, 2], name="x")
        w = tf1.get_variable("w", initializer=tf1.constant([[1.0], [2.0]]))
        y = tf1.nn.relu(tf1.matmul(x, w))
        with tf1.Session(engine=engine) as sess:
            sess.run(tf1.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(y, {x: [[1.0, 1.0], [-3.0, 1.0]]}),
                                          [[3.0], [0.0]])
    with pytest.raises(tf.UnsupportedError, match="eager"):
        tf1.enable_eager_execution()


@pytest.mark.parametrize("module, prefix", [
    (tf, "tf"), (tf.nn, "tf.nn"), (tf.train, "tf.train"), (tf.math, "tf.math"),
    (tf.compat.v1, "tf.compat.v1"), (tf.errors, "tf.errors"), (tf.layers, "tf.layers"),
    (tf.losses, "tf.losses"), (tf.summary, "tf.summary")])
def test_a_missing_name_says_graphjit_does_not_support_it(module, prefix):
    with pytest.raises(tf.UnsupportedNameError) as info:
        module.while_loop_of_dreams  # noqa: B018
    assert str(info.value).startswith(f"graphjit does not support {prefix}."
                                      "while_loop_of_dreams (yet); see README 'What runs'")
    assert isinstance(info.value, AttributeError) and isinstance(info.value, tf.Error)
    assert info.value.name == "while_loop_of_dreams"
    assert not hasattr(module, "while_loop_of_dreams")
    assert getattr(module, "while_loop_of_dreams", 42) == 42
    with pytest.raises(AttributeError) as private:
        module._not_a_tf_name  # noqa: B018
    assert not isinstance(private.value, tf.Error)  # (pickle, pytest and hasattr probes)
