"""tf.nn.rnn_cell, dynamic_rnn and static_rnn against NumPy written from TF 1.x's
equations, in both engines: each cell's step, whole sequences (batch- and time-major,
with and without sequence_length), stacked cells, gradients through the loop, dropout,
variable names, and a tutorial-style program that trains.

Shapes are tiny and graphs few: each distinct kernel costs a Numba compile."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.error_check import assert_points_here, caller_line

ENGINES = ("reference", "compiled")
BATCH, TIME, DEPTH, UNITS = 2, 4, 3, 5


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


# -- NumPy steps, from TF 1.x's documented equations -----------------------------------------

def np_basic_rnn(x, h, p):
    h = np.tanh(np.concatenate([x, h], 1) @ p["kernel"] + p["bias"])
    return h, h


def np_lstm(x, state, p, forget_bias=1.0, peepholes=False, cell_clip=None, proj_clip=None):
    c, h = state
    i, j, f, o = np.split(np.concatenate([x, h], 1) @ p["kernel"] + p["bias"], 4, axis=1)
    if peepholes:
        c = sigmoid(f + forget_bias + p["w_f_diag"] * c) * c + \
            sigmoid(i + p["w_i_diag"] * c) * np.tanh(j)
    else:
        c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(j)
    if cell_clip is not None:
        c = np.clip(c, -cell_clip, cell_clip)
    m = sigmoid(o + p["w_o_diag"] * c) * np.tanh(c) if peepholes else sigmoid(o) * np.tanh(c)
    if "projection/kernel" in p:
        m = m @ p["projection/kernel"]
        if proj_clip is not None:
            m = np.clip(m, -proj_clip, proj_clip)
    return m, (c, m)


def np_gru(x, h, p):
    r, u = np.split(sigmoid(np.concatenate([x, h], 1) @ p["gates/kernel"] + p["gates/bias"]),
                    2, axis=1)
    cand = np.tanh(np.concatenate([x, r * h], 1) @ p["candidate/kernel"] + p["candidate/bias"])
    h = u * h + (1 - u) * cand
    return h, h


def np_rnn(step, xs, state, lengths=None):
    """Outputs [batch, time, units] and the final state of `step` over xs [batch, time,
    depth]; past a sequence's length its output is zero and its state is kept."""
    outputs = []
    for t in range(xs.shape[1]):
        out, new = step(xs[:, t], state)
        if lengths is not None:
            alive = (t < lengths)[:, None]
            out = np.where(alive, out, 0.0)
            new = _tree_map(lambda n, o, alive=alive: np.where(alive, n, o), new, state)
        outputs.append(out)
        state = new
    return np.stack(outputs, 1), state


def _tree_map(fn, a, b):
    if isinstance(a, tuple):
        return tuple(_tree_map(fn, x, y) for x, y in zip(a, b))
    return fn(a, b)


def variables_by_name(sess, scope: str) -> dict:
    """The current values of the variables under `scope`, by their name inside it."""
    found = tf.global_variables()
    values = sess.run(found)
    return {v.name[len(scope) + 1:-2]: value for v, value in zip(found, values)
            if v.name.startswith(scope + "/")}


def session(graph, engine):
    sess = tf.Session(graph=graph, engine=engine)
    with graph.as_default():
        sess.run(tf.global_variables_initializer())
    return sess


def rng_inputs(seed=0, shape=(BATCH, TIME, DEPTH), dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


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


# -- whole sequences ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lstm_sequences():
    """One BasicLSTMCell run by dynamic_rnn (batch- and time-major, with and without
    sequence_length) and by static_rnn: all share the cell's variables."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [None, TIME, DEPTH], name="x")
        lengths = tf.placeholder(tf.int32, [None], name="lengths")
        cell = tf.nn.rnn_cell.BasicLSTMCell(UNITS)
        runs = {
            "dynamic": tf.nn.dynamic_rnn(cell, x, dtype=tf.float32),
            "dynamic_lengths": tf.nn.dynamic_rnn(cell, x, sequence_length=lengths,
                                                 dtype=tf.float32),
            "time_major": tf.nn.dynamic_rnn(cell, tf.transpose(x, [1, 0, 2]),
                                            dtype=tf.float32, time_major=True),
            "time_major_lengths": tf.nn.dynamic_rnn(cell, tf.transpose(x, [1, 0, 2]),
                                                    sequence_length=lengths,
                                                    dtype=tf.float32, time_major=True),
        }
        outputs, state = tf.nn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float32)
        runs["static"] = (tf.stack(outputs, axis=1), state)
        outputs, state = tf.nn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float32,
                                          sequence_length=lengths)
        runs["static_lengths"] = (tf.stack(outputs, axis=1), state)
    return graph, x, lengths, cell, runs


@pytest.mark.parametrize("engine", ENGINES)
def test_dynamic_rnn_static_rnn_and_numpy_agree(lstm_sequences, engine):
    graph, x, lengths, cell, runs = lstm_sequences
    assert [v.name for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)] == \
        ["rnn/basic_lstm_cell/kernel:0", "rnn/basic_lstm_cell/bias:0"]
    xs, lens = rng_inputs(2), np.array([4, 2], np.int32)
    with session(graph, engine) as sess:
        params = variables_by_name(sess, "rnn/basic_lstm_cell")
        got = sess.run(runs, {x: xs, lengths: lens})
    zeros = (np.zeros((BATCH, UNITS), np.float32),) * 2
    for name, (outputs, (c, h)) in got.items():
        with_lengths = name.endswith("lengths")
        want_out, (want_c, want_h) = np_rnn(lambda v, s: np_lstm(v, s, params), xs, zeros,
                                            lens if with_lengths else None)
        if name.startswith("time_major"):
            outputs = outputs.transpose(1, 0, 2)
        np.testing.assert_allclose(outputs, want_out, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(c, want_c, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(h, want_h, rtol=1e-5, atol=1e-6, err_msg=name)
        if with_lengths:  # the short sequence: zeros after its end, its state kept
            assert not outputs[1, 2:].any() and outputs[1, 1].any()
            np.testing.assert_array_equal(h, outputs[np.arange(BATCH), lens - 1])


def test_dynamic_rnn_static_shapes(lstm_sequences):
    _, _, _, _, runs = lstm_sequences
    outputs, state = runs["dynamic"]
    assert outputs.shape.as_list() == [None, TIME, UNITS]
    assert isinstance(state, tf.nn.rnn_cell.LSTMStateTuple)
    assert state.h.shape.as_list() == [None, UNITS]
    assert runs["time_major"][0].shape.as_list() == [TIME, None, UNITS]


def test_multi_rnn_cell_of_two_cells_with_unknown_time_steps():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [None, None, DEPTH], name="x")
        cell = tf.nn.rnn_cell.MultiRNNCell([tf.nn.rnn_cell.BasicLSTMCell(UNITS),
                                            tf.nn.rnn_cell.GRUCell(4)])
        outputs, state = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
        names = [v.name for v in tf.global_variables()]
    assert names == ["rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel:0",
                     "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias:0",
                     "rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel:0",
                     "rnn/multi_rnn_cell/cell_1/gru_cell/gates/bias:0",
                     "rnn/multi_rnn_cell/cell_1/gru_cell/candidate/kernel:0",
                     "rnn/multi_rnn_cell/cell_1/gru_cell/candidate/bias:0"]
    assert outputs.shape.as_list() == [None, None, 4] and len(state) == 2
    xs = rng_inputs(3, (BATCH, 3, DEPTH))
    for engine in ENGINES:
        with session(graph, engine) as sess:
            lstm = variables_by_name(sess, "rnn/multi_rnn_cell/cell_0/basic_lstm_cell")
            gru = variables_by_name(sess, "rnn/multi_rnn_cell/cell_1/gru_cell")
            np.testing.assert_array_equal(gru["gates/bias"], np.ones(8))  # TF's initial value
            got_out, (got_lstm, got_gru) = sess.run([outputs, state], {x: xs})

        def step(v, s, lstm=lstm, gru=gru):
            out, s0 = np_lstm(v, s[0], lstm)
            out, s1 = np_gru(out, s[1], gru)
            return out, (s0, s1)
        start = ((np.zeros((BATCH, UNITS)),) * 2, np.zeros((BATCH, 4)))
        want_out, (want_lstm, want_gru) = np_rnn(step, xs, start)
        np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_lstm.h, want_lstm[1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_gru, want_gru, rtol=1e-5, atol=1e-6)


def test_a_state_that_is_not_a_tuple_is_the_concatenation_of_c_and_h():
    """A second cell with reuse=True in the same scope shares the first one's variables,
    and a built cell keeps them when stacked later."""
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [None, TIME, DEPTH], name="x")
        as_tuple = tf.nn.rnn_cell.LSTMCell(4, num_proj=3)
        as_one = tf.nn.rnn_cell.LSTMCell(4, num_proj=3, state_is_tuple=False, reuse=True)
        out_tuple, (c, h) = tf.nn.dynamic_rnn(as_tuple, x, dtype=tf.float32, scope="a")
        out_one, state = tf.nn.static_rnn(as_one, tf.unstack(x, axis=1), dtype=tf.float32,
                                          scope="a")
        out_one = tf.stack(out_one, 1)
        stacked = tf.nn.rnn_cell.MultiRNNCell([as_one], state_is_tuple=False)
        out_stacked, state_stacked = tf.nn.dynamic_rnn(stacked, x, dtype=tf.float32)
        names = [v.name for v in tf.global_variables()]
    assert names == ["a/lstm_cell/kernel:0", "a/lstm_cell/bias:0",
                     "a/lstm_cell/projection/kernel:0"]
    assert state.shape.as_list() == [None, 7] and stacked.state_size == 7
    for engine in ENGINES:
        with session(graph, engine) as sess:
            got = sess.run([out_tuple, c, h, out_one, state, out_stacked,
                            state_stacked], {x: rng_inputs(7)})
        np.testing.assert_allclose(got[3], got[0], rtol=1e-6)
        np.testing.assert_allclose(got[5], got[0], rtol=1e-6)
        np.testing.assert_allclose(got[4], np.concatenate([got[1], got[2]], 1), rtol=1e-6)
        np.testing.assert_allclose(got[6], got[4], rtol=1e-6)


# -- gradients ------------------------------------------------------------------------------------

def test_gradients_through_dynamic_rnn_equal_static_rnns_and_finite_differences():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float64, [BATCH, 3, DEPTH], name="x")
        lengths = tf.constant([3, 2])
        cell = tf.nn.rnn_cell.GRUCell(3)
        dyn_out, dyn_state = tf.nn.dynamic_rnn(cell, x, sequence_length=lengths,
                                               dtype=tf.float64)
        outs, st_state = tf.nn.static_rnn(cell, tf.unstack(x, axis=1), dtype=tf.float64,
                                          sequence_length=lengths)
        weights = tf.constant(np.linspace(-1, 1, 9).reshape(3, 3))
        dyn_loss = tf.reduce_sum(dyn_out * dyn_out) + tf.reduce_sum(dyn_state * weights[:1])
        st_loss = tf.reduce_sum(tf.stack(outs, 1) ** 2) + tf.reduce_sum(st_state * weights[:1])
        wrt = [x] + tf.trainable_variables()
        dyn_grads = tf.gradients(dyn_loss, wrt)
        st_grads = tf.gradients(st_loss, wrt)
    xs = rng_inputs(4, (BATCH, 3, DEPTH), np.float64)
    for engine in ENGINES:
        with session(graph, engine) as sess:
            got_dyn, got_st = sess.run([dyn_grads, st_grads], {x: xs})
            for d, s in zip(got_dyn, got_st):
                np.testing.assert_allclose(d, s, rtol=1e-10, atol=1e-12)
            assert not got_dyn[0][1, 2].any()  # past the short sequence's end: no gradient
            eps, probe = 1e-6, (0, 1, 2)
            moved = [xs.copy(), xs.copy()]
            moved[0][probe] += eps
            moved[1][probe] -= eps
            up, down = (sess.run(dyn_loss, {x: m}) for m in moved)
            assert got_dyn[0][probe] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


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


# -- bidirectional ---------------------------------------------------------------------------------

def test_bidirectional_dynamic_rnn_reverses_each_sequence_within_its_length():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(0)  # initial values: the same each run
        x = tf.placeholder(tf.float32, [None, TIME, DEPTH], name="x")
        lengths = tf.placeholder(tf.int64, [None], name="lengths")
        (fw, bw), (state_fw, state_bw) = tf.nn.bidirectional_dynamic_rnn(
            tf.nn.rnn_cell.BasicRNNCell(3), tf.nn.rnn_cell.BasicRNNCell(3), x,
            sequence_length=lengths, dtype=tf.float32)
    assert [v.name for v in tf.global_variables(graph=graph)] == [
        f"bidirectional_rnn/{d}/basic_rnn_cell/{v}:0" for d in ("fw", "bw")
        for v in ("kernel", "bias")]
    xs, lens = rng_inputs(5), np.array([3, 4])
    for engine in ENGINES:
        with session(graph, engine) as sess:
            pf = variables_by_name(sess, "bidirectional_rnn/fw/basic_rnn_cell")
            pb = variables_by_name(sess, "bidirectional_rnn/bw/basic_rnn_cell")
            got = sess.run([fw, bw, state_fw, state_bw], {x: xs, lengths: lens})
        h0 = np.zeros((BATCH, 3), np.float32)
        want_fw, want_state_fw = np_rnn(lambda v, s, p=pf: np_basic_rnn(v, s, p), xs, h0, lens)
        rev = np.stack([np.concatenate([xs[b, :n][::-1], xs[b, n:]]) for b, n in
                        enumerate(lens)])
        out_rev, want_state_bw = np_rnn(lambda v, s, p=pb: np_basic_rnn(v, s, p), rev, h0, lens)
        want_bw = np.stack([np.concatenate([out_rev[b, :n][::-1], out_rev[b, n:]])
                            for b, n in enumerate(lens)])
        for g, w in zip(got, [want_fw, want_bw, want_state_fw, want_state_bw]):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


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
    with pytest.raises(tf.UnsupportedNameError, match="tf.contrib.layers"):
        tf.contrib.layers  # noqa: B018
    with pytest.raises(tf.UnsupportedNameError, match="tf.contrib.rnn.AttentionCellWrapper"):
        tf.contrib.rnn.AttentionCellWrapper  # noqa: B018


# -- a tutorial-style program ----------------------------------------------------------------------

def test_tensorflow_examples_recurrent_network_trains_the_same_in_both_engines():
    """aymericdamien's TensorFlow-Examples recurrent_network.py on tiny random data."""
    from graphjit.contrib import rnn
    timesteps, num_input, num_hidden, num_classes = 3, 4, 6, 2
    rng = np.random.default_rng(0)
    batch_x = rng.normal(size=(8, timesteps * num_input)).astype(np.float32)
    batch_y = np.eye(num_classes, dtype=np.float32)[(batch_x.sum(1) > 0).astype(int)]
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(1)
        X = tf.placeholder("float", [None, timesteps, num_input])
        Y = tf.placeholder("float", [None, num_classes])
        weights = {"out": tf.Variable(tf.random_normal([num_hidden, num_classes]))}
        biases = {"out": tf.Variable(tf.random_normal([num_classes]))}

        def RNN(x, weights, biases):
            x = tf.unstack(x, timesteps, 1)
            lstm_cell = rnn.BasicLSTMCell(num_hidden, forget_bias=1.0)
            outputs, states = rnn.static_rnn(lstm_cell, x, dtype=tf.float32)
            return tf.matmul(outputs[-1], weights["out"]) + biases["out"]

        logits = RNN(X, weights, biases)
        prediction = tf.nn.softmax(logits)
        loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits,
                                                                         labels=Y))
        train_op = tf.train.GradientDescentOptimizer(learning_rate=0.5).minimize(loss_op)
        correct_pred = tf.equal(tf.argmax(prediction, 1), tf.argmax(Y, 1))
        accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))
        init = tf.global_variables_initializer()
    losses = {}
    for engine in ENGINES:
        with tf.Session(graph=graph, engine=engine) as sess:
            sess.run(init)
            feed = {X: batch_x.reshape((-1, timesteps, num_input)), Y: batch_y}
            losses[engine] = [sess.run([loss_op, train_op], feed)[0] for _ in range(8)]
            final, acc = sess.run([loss_op, accuracy], feed)
            losses[engine].append(final)
        assert 0.0 <= acc <= 1.0
    np.testing.assert_allclose(losses["compiled"], losses["reference"], rtol=1e-4)
    assert losses["compiled"][-1] < 0.8 * losses["compiled"][0]


def test_an_lstm_trained_through_dynamic_rnn_with_adam_lowers_its_loss():
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(2)
        x = tf.placeholder(tf.float32, [None, TIME, DEPTH])
        y = tf.placeholder(tf.float32, [None, 1])
        outputs, state = tf.nn.dynamic_rnn(tf.nn.rnn_cell.BasicLSTMCell(4), x,
                                           dtype=tf.float32)
        prediction = tf.layers.dense(state.h, 1)
        loss = tf.reduce_mean((prediction - y) ** 2)
        train = tf.train.AdamOptimizer(0.05).minimize(loss)
        init = tf.global_variables_initializer()
    xs = rng_inputs(6, (4, TIME, DEPTH))
    ys = xs[:, :, 0].sum(1, keepdims=True)
    losses = {}
    for engine in ENGINES:
        with tf.Session(graph=graph, engine=engine) as sess:
            sess.run(init)
            losses[engine] = [sess.run([loss, train], {x: xs, y: ys})[0] for _ in range(6)]
    np.testing.assert_allclose(losses["compiled"], losses["reference"], rtol=1e-4)
    assert losses["compiled"][-1] < 0.7 * losses["compiled"][0]
