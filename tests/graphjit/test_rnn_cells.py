"""tf.nn.rnn_cell's cells one step at a time against NumPy written from TF 1.x's
equations, in both engines; DropoutWrapper; users' RNNCell subclasses; variable
names and scopes as TF's; build-time errors. Shapes are tiny: each distinct kernel
costs a Numba compile."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line
from tests.graphjit.rnn_reference import (
    BATCH,
    DEPTH,
    ENGINES,
    TIME,
    UNITS,
    np_basic_rnn,
    np_gru,
    np_lstm,
    np_rnn,
    rng_inputs,
    session,
    variables_by_name,
)

# -- one step of each cell ----------------------------------------------------------------------

CELLS = {
    "basic_rnn": (lambda: tf.nn.rnn_cell.BasicRNNCell(UNITS), False,
                  np_basic_rnn),
    "basic_lstm": (lambda: tf.nn.rnn_cell.BasicLSTMCell(UNITS, forget_bias=0.5), True,
                   lambda x, s, p: np_lstm(x, s, p, forget_bias=0.5)),
    "lstm_peepholes_projection": (
        lambda: tf.nn.rnn_cell.LSTMCell(UNITS, use_peepholes=True, cell_clip=0.8, num_proj=4,
                                        proj_clip=0.3,
                                        initializer=tf.random_uniform_initializer(-1, 1)),
        True, lambda x, s, p: np_lstm(x, s, p, peepholes=True, cell_clip=0.8, proj_clip=0.3)),
    "gru": (lambda: tf.nn.rnn_cell.GRUCell(UNITS), False, np_gru),
}


@pytest.mark.parametrize("kind", CELLS)
def test_one_step_of_each_cell_is_tfs_equations(kind):
    make_cell, is_lstm, np_step = CELLS[kind]
    rng = np.random.default_rng(1)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        cell = make_cell()
        x = tf.placeholder(tf.float32, [None, DEPTH], name="x")
        if is_lstm:
            state = tf.nn.rnn_cell.LSTMStateTuple(
                tf.placeholder(tf.float32, [None, cell.state_size.c], name="c"),
                tf.placeholder(tf.float32, [None, cell.state_size.h], name="h"))
        else:
            state = tf.placeholder(tf.float32, [None, cell.state_size], name="h")
        output, new_state = cell(x, state)
        assert output.shape.as_list() == [None, cell.output_size]
    feed_x = rng.normal(size=(BATCH, DEPTH)).astype(np.float32)
    if is_lstm:
        feed_state = tuple(rng.normal(size=(BATCH, n)).astype(np.float32)
                           for n in cell.state_size)
        feeds = {x: feed_x, state.c: feed_state[0], state.h: feed_state[1]}
    else:
        feed_state = rng.normal(size=(BATCH, UNITS)).astype(np.float32)
        feeds = {x: feed_x, state: feed_state}
    results = []
    for engine in ENGINES:
        with session(graph, engine) as sess:
            params = variables_by_name(sess, cell.name)
            got_out, got_state = sess.run([output, new_state], feeds)
        want_out, want_state = np_step(feed_x, feed_state, params)
        np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-6)
        for g, w in zip(np.atleast_1d(got_state) if not is_lstm else got_state,
                        np.atleast_1d(want_state) if not is_lstm else want_state):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        results.append(params)
    if kind == "lstm_peepholes_projection":  # the clips bite on these inputs
        assert np.abs(got_out).max() == pytest.approx(0.3)


# -- dropout --------------------------------------------------------------------------------------

class PassThroughCell(tf.nn.rnn_cell.RNNCell):
    """A user's cell: its inputs are its output, its state counts steps."""

    state_size = property(lambda self: 1)
    output_size = property(lambda self: DEPTH)

    def call(self, inputs, state):
        return inputs, state + 1.0


@pytest.mark.parametrize("engine", ENGINES)
def test_dropout_wrapper_draws_a_mask_per_step_inside_dynamic_rnn(engine):
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(3)
        x = tf.placeholder(tf.float32, [None, 6, DEPTH], name="x")
        keep = tf.placeholder(tf.float32, [], name="keep")
        cell = tf.nn.rnn_cell.DropoutWrapper(PassThroughCell(), input_keep_prob=keep)
        outputs, steps = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
        static, _ = tf.contrib.rnn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float32)
    ones = np.ones((BATCH, 6, DEPTH), np.float32)
    with session(graph, engine) as sess:
        dropped, counted = sess.run([outputs, steps], {x: ones, keep: 0.5})
        unrolled = np.stack(sess.run(static, {x: ones, keep: 0.5}), 1)
        kept = sess.run(outputs, {x: ones, keep: 1.0})
    np.testing.assert_array_equal(counted, np.full((BATCH, 1), 6.0))
    np.testing.assert_array_equal(kept, ones)
    for got in (dropped, unrolled):
        assert set(np.unique(got)) == {0.0, 2.0}  # dropped, or kept and scaled by 1/keep
        masks = {got[:, t].tobytes() for t in range(6)}
        assert len(masks) > 1  # the steps drew different masks


def test_a_keep_prob_of_one_adds_no_ops():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [None, DEPTH])
        wrapped = tf.nn.rnn_cell.DropoutWrapper(tf.nn.rnn_cell.BasicRNNCell(2),
                                                input_keep_prob=1.0, output_keep_prob=1.0)
        before = len(graph.get_operations())
        wrapped.ensure_built([None, DEPTH], tf.float32)
        after_build = len(graph.get_operations())
        wrapped(x, wrapped.zero_state(2, tf.float32))
    types = {op.type for op in graph.get_operations()[after_build:]}
    assert after_build > before and "RandomUniform" not in types
    assert [v.name for v in tf.global_variables(graph=graph)] == \
        ["basic_rnn_cell/kernel:0", "basic_rnn_cell/bias:0"]  # no wrapper scope, as TF


class ScaledTanhCell(tf.nn.rnn_cell.RNNCell):
    """A user's cell as TF's are written: variables in build, made once."""

    def __init__(self, units):
        super().__init__()
        self.units = units

    state_size = property(lambda self: self.units)
    output_size = property(lambda self: self.units)

    def build(self, inputs_shape):
        self.w = tf.get_variable("w", [inputs_shape[-1], self.units])

    def call(self, inputs, state):
        h = tf.tanh(tf.matmul(inputs, self.w) + 0.5 * state)
        return h, h


class OldStyleCell(ScaledTanhCell):
    """A user's cell asking get_variable in call, as TF1 code before cells had build."""

    def build(self, inputs_shape):
        pass

    def call(self, inputs, state):
        self.w = tf.get_variable("w", [inputs.shape[-1], self.units])
        return super().call(inputs, state)


def test_a_users_cell_subclass_runs_in_dynamic_and_static_rnn():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, TIME, DEPTH])
        cell = ScaledTanhCell(2)
        dynamic, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
        static, _ = tf.nn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float32)
        static = tf.stack(static, 1)
        old_static, _ = tf.nn.static_rnn(OldStyleCell(2), tf.unstack(x, axis=1),
                                         dtype=tf.float32, scope="old")
        with pytest.raises(tf.VariableError) as info:
            line = caller_line(); tf.nn.dynamic_rnn(OldStyleCell(2), x, dtype=tf.float32)  # noqa: E702
        assert_points_here(info, "tf.nn.dynamic_rnn", "build(inputs_shape)", line=line)
    assert [v.name for v in tf.global_variables(graph=graph)] == \
        ["rnn/scaled_tanh_cell/w:0", "old/old_style_cell/w:0"]
    xs = rng_inputs(8)
    with session(graph, "reference") as sess:
        w = sess.run(cell.w)
        got_dynamic, got_static = sess.run([dynamic, static], {x: xs})
        assert len(sess.run(old_static, {x: xs})) == TIME
    want, _ = np_rnn(lambda v, s: (np.tanh(v @ w + 0.5 * s),) * 2, xs,
                     np.zeros((BATCH, 2), np.float32))
    np.testing.assert_allclose(got_dynamic, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_static, want, rtol=1e-5, atol=1e-6)


# -- names, scopes and errors ----------------------------------------------------------------------

def test_variable_names_and_shapes_are_tfs():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [None, TIME, DEPTH])
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.LSTMCell(UNITS, use_peepholes=True, num_proj=2),
                          x, dtype=tf.float32)
        tf.nn.dynamic_rnn(tf.nn.rnn_cell.GRUCell(UNITS), x, dtype=tf.float32, scope="gru")
        tf.contrib.rnn.static_rnn(tf.contrib.rnn.BasicLSTMCell(UNITS, forget_bias=1.0),
                                  tf.unstack(x, axis=1), dtype=tf.float32, scope="static")
        second = tf.nn.rnn_cell.BasicRNNCell(2)
        second(x[:, 0], second.zero_state(tf.shape(x)[0], tf.float32), scope="given")
        third = tf.nn.rnn_cell.BasicRNNCell(2, name="mine")
        third(x[:, 0], third.zero_state(tf.shape(x)[0], tf.float32))
    shapes = {v.name: v.shape.as_list() for v in tf.global_variables(graph=graph)}
    assert shapes == {
        "rnn/lstm_cell/kernel:0": [DEPTH + 2, 4 * UNITS], "rnn/lstm_cell/bias:0": [4 * UNITS],
        "rnn/lstm_cell/w_f_diag:0": [UNITS], "rnn/lstm_cell/w_i_diag:0": [UNITS],
        "rnn/lstm_cell/w_o_diag:0": [UNITS], "rnn/lstm_cell/projection/kernel:0": [UNITS, 2],
        "gru/gru_cell/gates/kernel:0": [DEPTH + UNITS, 2 * UNITS],
        "gru/gru_cell/gates/bias:0": [2 * UNITS],
        "gru/gru_cell/candidate/kernel:0": [DEPTH + UNITS, UNITS],
        "gru/gru_cell/candidate/bias:0": [UNITS],
        "static/basic_lstm_cell/kernel:0": [DEPTH + UNITS, 4 * UNITS],
        "static/basic_lstm_cell/bias:0": [4 * UNITS],
        "given/kernel:0": [DEPTH + 2, 2], "given/bias:0": [2],
        "mine/kernel:0": [DEPTH + 2, 2], "mine/bias:0": [2]}


def test_two_cells_in_one_scope_get_unique_names_and_a_cell_reuses_its_own():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [2, DEPTH])
        a, b = tf.nn.rnn_cell.GRUCell(2), tf.nn.rnn_cell.GRUCell(2)
        with tf.variable_scope("model"):
            a(x, a.zero_state(2, tf.float32))
            b(x, b.zero_state(2, tf.float32))
        a(x, a.zero_state(2, tf.float32))  # elsewhere: still its variables
    names = [v.name for v in tf.global_variables(graph=graph)]
    assert len(names) == 8 and names[0] == "model/gru_cell/gates/kernel:0"
    assert names[4] == "model/gru_cell_1/gates/kernel:0"


def test_zero_state_takes_a_run_time_batch_size():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [None, DEPTH])
        state = tf.nn.rnn_cell.BasicLSTMCell(UNITS).zero_state(tf.shape(x)[0], tf.float32)
    assert isinstance(state, tf.nn.rnn_cell.LSTMStateTuple)
    with tf.Session(graph=graph) as sess:
        c = sess.run(state.c, {x: np.ones((3, DEPTH))})
    np.testing.assert_array_equal(c, np.zeros((3, UNITS)))


def test_errors_name_the_function_and_the_users_line():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [None, TIME, DEPTH])
        cell = tf.nn.rnn_cell.BasicLSTMCell(UNITS)
        with pytest.raises(tf.InvalidArgumentError) as info:
            line = caller_line(); tf.nn.dynamic_rnn(cell, x)  # noqa: E702
        assert_points_here(info, "tf.nn.dynamic_rnn", "you must give a dtype", line=line)
        with pytest.raises(tf.ShapeError) as info:
            line = caller_line(); tf.nn.dynamic_rnn(cell, x[:, 0], dtype=tf.float32)  # noqa: E702
        assert_points_here(info, "[batch, time, depth]", line=line)
        with pytest.raises(tf.UnsupportedError) as info:
            line = caller_line(); tf.nn.rnn_cell.LSTMCell(3, num_unit_shards=2)  # noqa: E702
        assert_points_here(info, "num_unit_shards", line=line)
        with pytest.raises(tf.InvalidArgumentError) as info:
            line = caller_line(); tf.nn.rnn_cell.DropoutWrapper(cell, output_keep_prob=1.5)  # noqa: E702
        assert_points_here(info, "output_keep_prob", line=line)
    with pytest.raises(tf.UnsupportedNameError, match="tf.contrib.learn"):
        tf.contrib.learn  # noqa: B018
    with pytest.raises(tf.UnsupportedNameError, match="tf.contrib.rnn.AttentionCellWrapper"):
        tf.contrib.rnn.AttentionCellWrapper  # noqa: B018
