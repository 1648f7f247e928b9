"""NumPy recurrent steps written from TF 1.x's documented equations, and the helpers
the recurrent-network tests share (tests/graphjit/test_rnn*.py)."""

from __future__ import annotations

import numpy as np

import graphjit as tf

ENGINES = ("reference", "compiled")
BATCH, TIME, DEPTH, UNITS = 2, 4, 3, 5


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


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
