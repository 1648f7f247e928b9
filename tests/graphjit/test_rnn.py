"""dynamic_rnn, static_rnn and bidirectional_dynamic_rnn against a NumPy loop of TF
1.x's equations, in both engines (batch- and time-major, with and without
sequence_length, stacked cells), gradients through the loop, and tutorial-style
programs that train. Shapes are tiny: each distinct kernel costs a Numba compile."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
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
