"""Variables, assignments, random ops and their state, in both engines: the reference
interpreter and compiled plans must agree on every value, run after run."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.registry import get_op_def

ENGINES = ["compiled", "reference"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def _graph_with_counter():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
        x = tf.placeholder(tf.float32, [2, 3], name="x")
        add = w.assign_add(x)
        init = tf.global_variables_initializer()
    return graph, w, x, add, init


# -- the Variable object ---------------------------------------------------------------

def test_variable_is_a_tensor_with_tf1_attributes():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.zeros((3, 2), np.float32), name="w")
        with tf.name_scope("layer"):
            b = tf.Variable([1.0, 2.0], trainable=False)
        c = tf.Variable(5, dtype=tf.float64, name="w")  # a taken name is uniquified
    assert isinstance(w, tf.Tensor) and isinstance(w, tf.Variable)
    assert w.name == "w:0" and w.op.name == "w" and w.op.type == "VariableV2"
    assert w.shape == [3, 2] and w.get_shape().as_list() == [3, 2] and w.dtype == tf.float32
    assert w.graph is graph and graph.get_tensor_by_name("w:0") is w
    assert b.name == "layer/Variable:0" and c.name == "w_1:0" and c.dtype == tf.float64
    assert w.initializer.type == "Assign" and w.initializer.name == "w/Assign"
    assert tf.global_variables(graph=graph) == [w, b, c]
    assert tf.trainable_variables(graph=graph) == [w, c]
    assert "Variable" in repr(w) and "trainable=False" in repr(b)


def test_variable_goes_wherever_a_tensor_goes(engine):
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.eye(2, dtype=np.float32), name="w")
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        outs = [tf.matmul(x, w), w + 1, 1 + w, np.ones(2, np.float32) * w, -w, w[0],
                tf.reduce_sum(w), w.value(), w.read_value()]
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(w.initializer)
        values = sess.run(outs, {x: [[1, 2]]})
        eye = np.eye(2)
        expected = [[[1, 2]], eye + 1, eye + 1, eye, -eye, eye[0], 2, eye, eye]
        for value, want in zip(values, expected):
            np.testing.assert_allclose(value, want)
        np.testing.assert_allclose(sess.run("w:0"), eye)
        # feeding a variable overrides its value for that run only
        np.testing.assert_allclose(sess.run(w + 1, {w: np.zeros((2, 2))}), np.ones((2, 2)))
        np.testing.assert_allclose(sess.run(w), eye)


def test_initial_value_forms():
    graph = tf.Graph()
    with graph.as_default():
        from_tensor = tf.Variable(tf.ones([2]) * 3, name="t")
        from_callable = tf.Variable(lambda: tf.zeros([2, 2]), name="c")
        from_init = tf.get_variable("g", [4, 5], initializer=tf.zeros_initializer())
        glorot = tf.get_variable("glorot", [40, 60])
        const = tf.Variable(tf.constant_initializer(7.0)([3]), name="k")
        with pytest.raises(tf.Error, match="already exists"):
            tf.get_variable("g", [1])
        with pytest.raises(tf.ShapeError, match="fully known"):
            tf.Variable(tf.placeholder(tf.float32, [None]))
    with tf.Session(graph=graph) as sess:
        sess.run(tf.variables_initializer([from_tensor, from_callable, from_init, glorot,
                                           const]))
        np.testing.assert_array_equal(sess.run(from_tensor), [3, 3])
        np.testing.assert_array_equal(sess.run(from_callable), np.zeros((2, 2)))
        np.testing.assert_array_equal(sess.run(from_init), np.zeros((4, 5)))
        np.testing.assert_array_equal(sess.run(const), [7, 7, 7])
        limit = np.sqrt(6 / (40 + 60))
        g = sess.run(glorot)
        assert np.abs(g).max() <= limit and g.std() > limit / 3


# -- assignment semantics --------------------------------------------------------------

def test_assign_returns_the_new_value_and_persists(engine):
    graph, w, x, add, init = _graph_with_counter()
    with graph.as_default():
        set_w = w.assign(tf.zeros([2, 3]))
        sub = tf.assign_sub(w, 1.0)
    start = np.arange(6, dtype=np.float32).reshape(2, 3)
    with tf.Session(graph=graph, engine=engine) as sess:
        assert sess.run(init) is None
        np.testing.assert_array_equal(sess.run(w), start)
        ones = np.ones((2, 3), np.float32)
        np.testing.assert_array_equal(sess.run(add, {x: ones}), start + 1)
        np.testing.assert_array_equal(sess.run(add, {x: ones}), start + 2)
        np.testing.assert_array_equal(sess.run(w), start + 2)
        np.testing.assert_array_equal(sess.run(sub), start + 1)
        np.testing.assert_array_equal(sess.run(set_w), np.zeros((2, 3)))
        np.testing.assert_array_equal(sess.run(w), np.zeros((2, 3)))
        sess.run(init)  # re-initializing restores the initial value
        np.testing.assert_array_equal(sess.run(w), start)


def test_reads_in_a_run_see_the_value_from_before_the_run(engine):
    graph, w, x, add, init = _graph_with_counter()
    start = np.arange(6, dtype=np.float32).reshape(2, 3)
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(init)
        before, after = sess.run([w, add], {x: np.ones((2, 3))})
        np.testing.assert_array_equal(before, start)
        np.testing.assert_array_equal(after, start + 1)


def test_fetched_values_do_not_alias_the_state(engine):
    graph, w, x, add, init = _graph_with_counter()
    start = np.arange(6, dtype=np.float32).reshape(2, 3)
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(init)
        new, again = sess.run([add, add], {x: np.ones((2, 3))})
        read = sess.run(w)
        new[...] = -1
        again[...] = -2
        read[...] = -3
        np.testing.assert_array_equal(sess.run(w), start + 1)


def test_group_and_no_op(engine):
    graph = tf.Graph()
    with graph.as_default():
        a = tf.Variable(1.0, name="a")
        b = tf.Variable(2.0, name="b")
        both = tf.group(a.assign_add(1.0), [b.assign(10.0)], name="both")
        nothing = tf.no_op()
        init = tf.global_variables_initializer()
    assert both.type == "NoOp" and both.name == "both" and not both.outputs
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(init)
        assert sess.run([both, nothing]) == [None, None]
        assert sess.run([a, b]) == [2.0, 10.0]


def test_assign_errors():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.zeros((2, 3), np.float32), name="w")
        with pytest.raises(tf.ShapeError, match="does not broadcast"):
            w.assign(tf.zeros([3]))
        with pytest.raises(tf.DTypeError):
            w.assign(tf.zeros([2, 3], tf.int32))
        with pytest.raises(tf.GraphError, match="Variable"):
            tf.assign(tf.zeros([2, 3]), 1.0)


def test_load_sets_a_value_directly(engine):
    graph, w, x, add, init = _graph_with_counter()
    with tf.Session(graph=graph, engine=engine) as sess:
        w.load(np.full((2, 3), 4.0), sess)
        np.testing.assert_array_equal(sess.run(add, {x: np.ones((2, 3))}), np.full((2, 3), 5))
        with pytest.raises(tf.Error):
            w.load(np.zeros(3), sess)


# -- uninitialized variables, sessions ------------------------------------------------

def test_uninitialized_read_names_the_variable(engine):
    graph = tf.Graph()
    with graph.as_default():
        ready = tf.Variable(1.0, name="ready")
        weights = tf.Variable(np.ones(3, np.float32), name="layer/weights")
        y = tf.reduce_sum(weights * 2) + ready
    with tf.Session(graph=graph, engine=engine) as sess:
        sess.run(ready.initializer)
        with pytest.raises(tf.FailedPreconditionError, match="'layer/weights'") as info:
            sess.run(y)
        assert isinstance(info.value, tf.Error)
        assert "uninitialized" in str(info.value) and "initializer" in str(info.value)
        assert __file__.rsplit("/", 1)[-1] in str(info.value)  # where it was created
        # assigning never reads: an initializer runs on an uninitialized variable
        sess.run(weights.initializer)
        assert sess.run(y) == 7.0


def test_two_sessions_over_one_graph_keep_separate_values(engine):
    graph, w, x, add, init = _graph_with_counter()
    start = np.arange(6, dtype=np.float32).reshape(2, 3)
    with tf.Session(graph=graph, engine=engine) as one, \
            tf.Session(graph=graph, engine=engine) as two:
        one.run(init)
        two.run(init)
        for _ in range(3):
            one.run(add, {x: np.ones((2, 3))})
        two.run(add, {x: np.full((2, 3), 10.0)})
        np.testing.assert_array_equal(one.run(w), start + 3)
        np.testing.assert_array_equal(two.run(w), start + 10)
    with tf.Session(graph=graph, engine=engine) as three:
        with pytest.raises(tf.FailedPreconditionError, match="'w'"):
            three.run(w)


def test_engines_agree_over_a_sequence_of_runs():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(7)
        w = tf.Variable(tf.random_normal([3, 4], stddev=0.5), name="w")
        b = tf.Variable(tf.truncated_normal([4]), name="b")
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = tf.tanh(tf.matmul(x, w) + b)
        noise = tf.random_uniform([4], -1, 1)
        step = tf.group(w.assign(w * 0.9 + 0.1), b.assign_add(noise))
        init = tf.global_variables_initializer()
    feed = {x: np.random.default_rng(0).standard_normal((5, 3))}
    results = {}
    for engine in ENGINES:
        with tf.Session(graph=graph, engine=engine) as sess:
            sess.run(init)
            trace = []
            for _ in range(3):
                trace.append(sess.run(y, feed))
                sess.run(step)
            trace += sess.run([w, b])
            results[engine] = trace
    for compiled, reference in zip(results["compiled"], results["reference"]):
        np.testing.assert_allclose(compiled, reference, rtol=1e-5, atol=1e-6)


def test_compile_with_a_sessions_state():
    graph, w, x, add, init = _graph_with_counter()
    start = np.arange(6, dtype=np.float32).reshape(2, 3)
    with tf.Session(graph=graph) as sess:
        sess.run(init)
        fn = tf.compile(add, state=sess.state)
        fn(np.ones((2, 3), np.float32))
        np.testing.assert_array_equal(sess.run(w), start + 1)
    own = tf.compile(add)  # a function of its own: its own state
    tf.compile(init)
    with pytest.raises(tf.FailedPreconditionError):
        own(np.ones((2, 3), np.float32))
    tf.compile(init, state=own.state)()
    np.testing.assert_array_equal(own(np.ones((2, 3), np.float32)), start + 1)


# -- compiled updates ----------------------------------------------------------------

def test_each_variable_update_is_one_fused_kernel():
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [8, 4], name="x")
        w = tf.Variable(np.ones((4, 3), np.float32), name="w")
        b = tf.Variable(np.zeros(3, np.float32), name="b")
        y = tf.matmul(x, w) + b
        grad_w = tf.matmul(x, y, transpose_a=True)
        grad_b = tf.reduce_sum(y, 0)
        train = tf.group(w.assign(w - 0.1 * grad_w), b.assign_sub(0.1 * grad_b))
    fn = tf.compile(train, feeds=[x])
    for var in ("w", "b"):
        steps = [s for s in fn.kernels if any(
            op.type == "Assign" and op.inputs[0].op.name == var
            for op in map(graph.get_operation_by_name, s.ops))]
        assert len(steps) == 1 and steps[0].kind == "kernel", fn.kernels
        types = {graph.get_operation_by_name(name).type for name in steps[0].ops}
        assert types == {"Assign", "Sub", "Mul"}, steps[0]


def test_assigning_a_constant_or_a_feed_needs_no_kernel():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.ones(3, np.float32), name="w")
        p = tf.placeholder(tf.float32, [3], name="p")
        set_p = w.assign(p)
    init = tf.compile(w.initializer)
    assert [s.kind for s in init.kernels] == ["view"]
    fn = tf.compile(set_p, state=init.state)
    assert [s.kind for s in fn.kernels] == ["view"]
    fed = np.array([1, 2, 3], np.float32)
    np.testing.assert_array_equal(fn(fed), fed)
    fed[:] = 0  # the state holds its own copy
    np.testing.assert_array_equal(init.state["w"], [1, 2, 3])


# -- random ops ------------------------------------------------------------------------

def _random_graph(graph_seed=None, op_seed=None):
    graph = tf.Graph()
    with graph.as_default():
        if graph_seed is not None:
            tf.set_random_seed(graph_seed)
        tf.zeros([1])  # an op before: op seeds derived from the graph count ops
        r = tf.random_normal([50], seed=op_seed)
        u = tf.random_uniform([50], 2, 3, seed=op_seed)
        t = tf.truncated_normal([200], mean=1, stddev=2, seed=op_seed)
    return graph, [r, u, t]


def _draws(graph, fetches, engine, runs=2):
    with tf.Session(graph=graph, engine=engine) as sess:
        return [sess.run(fetches) for _ in range(runs)]


@pytest.mark.parametrize("seeds", [(1, None), (None, 5), (1, 5)])
def test_seeded_random_ops_are_reproducible(seeds):
    graph, fetches = _random_graph(*seeds)
    first = _draws(graph, fetches, "compiled")
    again = _draws(graph, fetches, "reference")  # another session, the other engine
    rebuilt = _draws(*_random_graph(*seeds), "compiled")  # the same graph, built again
    for a, b, c in zip(first, again, rebuilt):
        for x, y, z in zip(a, b, c):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(x, z)
    # successive runs draw new values; the ops differ from one another
    assert not np.array_equal(first[0][0], first[1][0])
    normal, uniform, truncated = first[0]
    assert normal.dtype == np.float32 and normal.shape == (50,)
    assert uniform.min() >= 2 and uniform.max() < 3
    assert np.abs(truncated - 1).max() <= 4 and truncated.std() > 1


def test_seeds_change_the_values_and_no_seed_is_not_reproducible():
    a = _draws(*_random_graph(1, 5), "compiled", runs=1)[0][0]
    b = _draws(*_random_graph(1, 6), "compiled", runs=1)[0][0]
    c = _draws(*_random_graph(2, 5), "compiled", runs=1)[0][0]
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    graph, fetches = _random_graph()
    assert not np.array_equal(_draws(graph, fetches[0], "compiled", 1)[0],
                              _draws(graph, fetches[0], "compiled", 1)[0])
    assert tf.get_seed(3, graph) == (tf.ops.state_ops.DEFAULT_GRAPH_SEED, 3)


def test_random_op_errors():
    with tf.Graph().as_default():
        with pytest.raises(tf.DTypeError):
            tf.random_normal([2], dtype=tf.int32)


# -- the optimizer leaves state alone ---------------------------------------------------

def test_passes_never_fold_merge_or_remove_stateful_ops():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.ones(3, np.float32), name="w")
        r1 = tf.random_normal([3], seed=1, name="r1")
        r2 = tf.random_normal([3], seed=1, name="r2")  # identical op and attrs
        y = r1 + r2 + w * 1.0
        w.assign(tf.ones([3]) * 2, name="unfetched_assign")
    optimized, _ = tf.optimize(graph, fetches=[y])
    types = [op.type for op in optimized.get_operations()]
    assert types.count("RandomStandardNormal") == 2
    assert types.count("VariableV2") == 1
    names = {op.name for op in optimized.get_operations()}
    assert {"unfetched_assign", "w/Assign"} <= names  # DCE keeps assignments
    with tf.Session(graph=graph) as sess:
        sess.run(w.initializer)
        a, b = sess.run([r1, r2])
        np.testing.assert_array_equal(a, b)  # same seeds: same draws, but two ops
        first, second = sess.run(y), sess.run(y)
        assert not np.array_equal(first, second)  # not folded to a constant


def test_op_registry_marks_state():
    for op_type in ("VariableV2", "Assign", "RandomStandardNormal", "RandomUniform",
                    "TruncatedNormal"):
        assert get_op_def(op_type).stateful, op_type
    assert not get_op_def("NoOp").stateful


def test_default_fetches_leave_assignments_out():
    graph = tf.Graph()
    with graph.as_default():
        w = tf.Variable(np.ones(2, np.float32), name="w")
        y = tf.multiply(w, 3.0, name="y")
        w.assign_add(tf.ones([2]))
    fn = tf.compile(graph)
    assert fn.leaves == [y]
    tf.compile(w.initializer, state=fn.state)()
    np.testing.assert_array_equal(fn(), [3, 3])
    np.testing.assert_array_equal(fn(), [3, 3])  # nothing assigned w
