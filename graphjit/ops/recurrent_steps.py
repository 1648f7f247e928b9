"""The per-step graph of an LSTM, GRU or RNN recurrence, built of ordinary (differentiable)
graphjit ops: one step of one direction (`step`), and the steps over time (`run_steps`:
a graphjit while loop over the sequence, all directions stepping in the same loop,
LOOP_STEPS steps per iteration; a sequence length known when the graph is built, up to
UNROLL_STEPS, unrolled instead, because each loop iteration runs the body's plan from
the host while unrolled steps are plain kernel calls in one plan).

Two users: the ONNX converters (graphjit.onnx.ops_recurrent) build it for hidden sizes
where a BLAS call per step beats RecurrentSequence's one kernel, and RecurrentSequence's
gradient rule (graphjit.ops.recurrent_grad) rebuilds the op's recurrence with it to
differentiate. The reverse direction of step t reads and writes time index T-1-t, which
gives ONNX's sequence_lens meaning: a sequence is "alive" at index k when k < its length;
outside it its state is carried unchanged and its output row is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor

UNROLL_STEPS = 64  # a sequence length known when built, up to this, is unrolled
LOOP_STEPS = 4  # the steps one iteration of the while loop takes (past T: no-ops)

# ONNX's named activations: name (lower case) -> (the defaults of the alpha and beta it
# takes, those of the ONNX op of that name; the function of x, alpha, beta). None: no
# default, the node must give it (onnxruntime takes 0 for Affine's, ScaledTanh's and
# ThresholdedRelu's where their ops say 1, so a default would be a guess).
ACTIVATIONS = {
    "relu": ((), lambda x, a, b: gj.maximum(x, _const(x, 0))),
    "tanh": ((), lambda x, a, b: gj.tanh(x)),
    "sigmoid": ((), lambda x, a, b: gj.sigmoid(x)),
    "affine": ((None, None), lambda x, a, b: x * _const(x, a) + _const(x, b)),
    "leakyrelu": ((0.01,), lambda x, a, b: gj.where(x >= _const(x, 0), x, x * _const(x, a))),
    "thresholdedrelu": ((None,), lambda x, a, b: gj.where(x >= _const(x, a), x, _const(x, 0))),
    "scaledtanh": ((None, None), lambda x, a, b: _const(x, a) * gj.tanh(x * _const(x, b))),
    "hardsigmoid": ((0.2, 0.5), lambda x, a, b: gj.clip_by_value(
        x * _const(x, a) + _const(x, b), _const(x, 0), _const(x, 1))),
    "elu": ((1.0,), lambda x, a, b: gj.where(x >= _const(x, 0), x,
                                             _const(x, a) * (gj.exp(x) - _const(x, 1)))),
    "softsign": ((), lambda x, a, b: x / (_const(x, 1) + gj.abs(x))),
    "softplus": ((), lambda x, a, b: gj.log(_const(x, 1) + gj.exp(x))),
}


def _const(x: Tensor, value: float) -> np.ndarray:
    return np.asarray(value, x.dtype.np)


def activations(specs: list, clip: float | None) -> list:
    """The activation functions of `specs` (each (lower-case ONNX name, alpha, beta)) on
    graph tensors, their inputs clipped to [-clip, clip] when `clip` is given."""
    return [_bind(ACTIVATIONS[name][1], a, b, clip) for name, a, b in specs]


def _bind(func, alpha: float, beta: float, clip: float | None):
    if clip is None:
        return lambda x: func(x, alpha, beta)
    return lambda x: func(gj.clip_by_value(x, _const(x, -clip), _const(x, clip)), alpha, beta)



@dataclass(frozen=True)
class Direction:
    """One direction's weights, prepared outside the loop."""

    reverse: bool
    xw: Tensor  # [T, B, G*H]: X·Wᵀ + the biases that can be added before the loop
    r_t: Tensor  # Rᵀ [H, G*H]
    rb_h: Tensor | None  # GRU with linear_before_reset: Rb of the h gate, added after ·Rᵀ
    peep: tuple | None  # LSTM: (Pi, Po, Pf), each [H]
    acts: tuple  # the activation functions


def step(kind: str, dr: Direction, x_row: Tensor, h: Tensor, c: Tensor | None,
          hidden: int, input_forget: bool, linear_before_reset: bool):
    """One step of one direction: (new H, new C or None). Gate g's pre-activation is
    x_row[:, g] + (H·Rᵀ)[:, g], sliced before the add so that the add fuses into the
    gates' elementwise kernel (one kernel per step besides the matmul)."""
    def gate(i: int, mm: Tensor, j: int | None = None) -> Tensor:
        j = i if j is None else j
        return x_row[:, i * hidden:(i + 1) * hidden] + mm[:, j * hidden:(j + 1) * hidden]

    if kind == "RNN":
        (f,) = dr.acts
        return f(gate(0, gj.matmul(h, dr.r_t))), None
    if kind == "GRU":
        f, g = dr.acts
        if linear_before_reset:  # one matmul for the three gates
            hr = gj.matmul(h, dr.r_t)
            lin = hr[:, 2 * hidden:] if dr.rb_h is None else hr[:, 2 * hidden:] + dr.rb_h
            z, r = f(gate(0, hr)), f(gate(1, hr))
            cand = g(x_row[:, 2 * hidden:] + r * lin)
        else:  # the h gate multiplies H by r before its matmul
            hr = gj.matmul(h, dr.r_t[:, :2 * hidden])
            z, r = f(gate(0, hr)), f(gate(1, hr))
            cand = g(gate(2, gj.matmul(r * h, dr.r_t[:, 2 * hidden:]), 0))
        return (1 - z) * cand + z * h, None
    f, g, act_h = dr.acts
    hr = gj.matmul(h, dr.r_t)
    pre_i, pre_o, pre_f, pre_c = (gate(i, hr) for i in range(4))
    if dr.peep is not None:
        p_i, p_o, p_f = dr.peep
        pre_i, pre_f = pre_i + p_i * c, pre_f + p_f * c
    i = f(pre_i)
    forget = 1 - i if input_forget else f(pre_f)
    c_new = forget * c + i * g(pre_c)
    if dr.peep is not None:
        pre_o = pre_o + p_o * c_new
    return f(pre_o) * act_h(c_new), c_new


def run_steps(kind: str, x: Tensor, dirs: list, hidden: int, states: list, lens,
              want_y: bool, input_forget: bool, linear_before_reset: bool,
              name: str | None = None) -> tuple:
    """(Y [T, D, B, H] or None, Y_h [D, B, H], Y_c [D, B, H] or None): the steps over time
    of every direction. `x` is any [T, B, ...] tensor (its first dims give T and B);
    `states` each direction's [B, H] initial H (and C for an LSTM), in direction order;
    `lens` the sequence lengths [B] (int32), or None where every sequence is T long."""
    lstm = kind == "LSTM"
    steps = x.shape[0] if x.shape[0] is not None else gj.shape(x)[0]
    per = 2 if lstm else 1
    n_state = per * len(dirs)

    def advance(t, state: list, live=None) -> tuple[list, list]:
        """Step t of every direction: (the new state, each direction's (index, output)).
        `live` (a bool scalar, in the loop) says whether t < T: a step past the end reads
        a clamped row and keeps the state, and its index matches no row of Y."""
        state, rows = list(state), []
        for d, dr in enumerate(dirs):
            k = (steps - 1 - t) if dr.reverse else t
            h, c = state[per * d], (state[per * d + 1] if lstm else None)
            # (a static index is a slice, which fuses into the step's kernel; a gather not)
            if isinstance(k, int):
                x_row = dr.xw[k]
            else:
                x_row = gj.gather(dr.xw, k if live is None else
                                  gj.minimum(gj.maximum(k, 0), steps - 1))
            h_new, c_new = step(kind, dr, x_row, h, c, hidden,
                                input_forget, linear_before_reset)
            out = h_new
            alive = None if lens is None else gj.less(k, lens)[:, None]  # [B, 1]
            if live is not None:
                alive = live if alive is None else gj.logical_and(alive, live)
            if alive is not None:
                h_new = gj.where(alive, h_new, h)
                c_new = None if c is None else gj.where(alive, c_new, c)
                if lens is not None:
                    out = gj.where(alive, out, gj.zeros_like(out))
            state[per * d] = h_new
            if lstm:
                state[per * d + 1] = c_new
            rows.append((k, out))
        return state, rows

    if isinstance(steps, int) and steps <= UNROLL_STEPS:
        final, accs = _unrolled(advance, states, steps, len(dirs))
        accs = accs if want_y else []
    else:
        ys = [gj.zeros_like(x[:, :, :1]) + np.zeros([hidden], x.dtype.np)
              for _ in dirs] if want_y else []

        # Y's row k is set by a select against the time positions [T, 1, 1]: one fused
        # pass over Y per step (a scatter into zeros plus an add took two)
        positions = gj.reshape(gj.range(steps), [-1, 1, 1]) if want_y else None

        def body(t, *carried):
            state, accs = list(carried[:n_state]), list(carried[n_state:])
            for j in range(LOOP_STEPS):  # (T need not be a multiple: see advance's live)
                state, rows = advance(t + j, state, gj.less(t + j, steps) if j else None)
                accs = [gj.where(gj.equal(positions, k), out[None], acc)
                        for acc, (k, out) in zip(accs, rows)]
            return [t + LOOP_STEPS, *state, *accs]

        result = gj.while_loop(lambda t, *_: t < steps, body,
                               [gj.constant(0, dtype=gj.int32), *states, *ys], name=name)
        final, accs = result[1:1 + n_state], result[1 + n_state:]
    y_h = gj.stack([final[per * d] for d in range(len(dirs))], 0)  # [D, B, H]
    y_c = gj.stack([final[per * d + 1] for d in range(len(dirs))], 0) if lstm else None
    y = gj.stack(accs, 1) if want_y else None  # [T, D, B, H]
    return y, y_h, y_c


def _unrolled(advance, state: list, steps: int, n_dirs: int) -> tuple[list, list]:
    """The steps built one after another (no loop): (final state, Y [T, B, H] per
    direction), Y stacked once at the end."""
    outs = [[None] * steps for _ in range(n_dirs)]
    for t in range(steps):
        state, rows = advance(t, state)
        for d, (k, out) in enumerate(rows):
            outs[d][k] = out
    return state, [_stack(o) for o in outs]


def _stack(rows: list) -> Tensor:
    """gj.stack(rows, 0) as a tree of stacks and concats of at most 4 inputs: one concat
    kernel of T inputs is new Numba code for every T (seconds to compile) and tests a
    chain of T conditions per element; small ones are the same few kernels for any T."""
    if len(rows) <= 4:
        return gj.stack(rows, 0)
    size = -(-len(rows) // 4)
    return gj.concat([_stack(rows[i:i + size]) for i in range(0, len(rows), size)], 0)
