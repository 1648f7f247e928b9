"""Cases for RecurrentSequence (graphjit.ops.recurrent), each against a plain step loop
written here: a reverse RNN with sequence lengths, and a forward LSTM with peepholes."""

from __future__ import annotations

import numpy as np

import graphjit as tf
from graphjit.ops.recurrent import recurrent_sequence
from tests.graphjit.cases.base import Case

_H = 3
_RNG = np.random.default_rng(7)
_RT = _RNG.uniform(-0.5, 0.5, (1, _H, 4 * _H))
_BIAS = _RNG.uniform(-0.5, 0.5, (1, 4 * _H))
_H0 = _RNG.uniform(-0.5, 0.5, (1, 2, _H))
_PEEP = _RNG.uniform(-0.5, 0.5, (1, 3, _H))
_LENS = np.array([3, 1], np.int32)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _rnn(xw):
    dt = xw.dtype.np
    out = recurrent_sequence("RNN", xw, tf.constant(_BIAS[:, :_H].astype(dt)),
                             tf.constant(_RT[:, :, :_H].astype(dt)), tf.constant(_H0.astype(dt)),
                             tf.constant(_LENS), [], "reverse", [("tanh", 0.0, 0.0)])
    return out


def _rnn_expected(xw):
    steps = xw.shape[0]
    y, h = np.zeros((steps, 1) + _H0.shape[1:]), _H0[0].copy()
    for b in range(2):
        for k in reversed(range(_LENS[b])):  # reverse: from each sequence's last element
            h[b] = np.tanh(xw[k, b] + _BIAS[0, :_H] + h[b] @ _RT[0, :, :_H])
            y[k, 0, b] = h[b]
    return [y, h[None]]


def _lstm(xw):
    dt = xw.dtype.np
    c0 = tf.constant((_H0 * 2).astype(dt))
    out = recurrent_sequence("LSTM", xw, tf.constant(_BIAS.astype(dt)), tf.constant(_RT.astype(dt)),
                             tf.constant(_H0.astype(dt)), tf.constant(np.array([9, 9], np.int32)),
                             [c0, tf.constant(_PEEP.astype(dt))], "forward",
                             [("sigmoid", 0.0, 0.0), ("tanh", 0.0, 0.0), ("tanh", 0.0, 0.0)])
    return out


def _lstm_expected(xw):
    h, c = _H0[0].copy(), _H0[0] * 2
    ys = []
    p_i, p_o, p_f = _PEEP[0]
    for t in range(xw.shape[0]):
        g = xw[t] + _BIAS[0] + h @ _RT[0]
        i = _sigmoid(g[:, :_H] + p_i * c)
        f = _sigmoid(g[:, 2 * _H:3 * _H] + p_f * c)
        c = f * c + i * np.tanh(g[:, 3 * _H:])
        h = _sigmoid(g[:, _H:2 * _H] + p_o * c) * np.tanh(c)
        ys.append(h)
    return [np.stack(ys)[:, None], h[None], c[None]]


CASES = [
    Case("recurrent_sequence_rnn_reverse", _rnn, _rnn_expected, default_shapes=((4, 2, _H),)),
    Case("recurrent_sequence_lstm", _lstm, _lstm_expected, default_shapes=((3, 2, 4 * _H),)),
]
