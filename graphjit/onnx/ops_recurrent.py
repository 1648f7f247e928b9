"""ONNX converters for the recurrent ops LSTM, GRU and RNN. Up to NATIVE_MAX_HIDDEN
hidden units a node becomes one RecurrentSequence, the whole recurrence in one native
kernel (graphjit.onnx.recurrent_native); above it, the per-step graph below: a graphjit
while loop over the sequence (graphjit.ops.control_flow, as tf.nn.dynamic_rnn), all
directions stepping in the same loop, LOOP_STEPS steps per iteration; a sequence length
known at import up to UNROLL_STEPS is unrolled instead, because each loop iteration runs
the body's plan from the host (tens of us on a 2-core machine, several times a step's
own work at PyTorch-sized hidden states), while unrolled steps are plain kernel calls
in one plan.

The input projection X·Wᵀ + biases does not depend on the state, so it is one matmul
over every time step before the loop; each step reads its row, adds H·Rᵀ and applies
the gates. The reverse direction of step t reads and writes time index T-1-t, which
also gives ONNX's sequence_lens meaning for free: a sequence is "alive" at index k when
k < its length, and outside that its state is carried unchanged and its output row is
zero (so the reverse direction starts at each sequence's own last element). Y is built
(in the loop a row set per step, unrolled the rows stacked once) only when the node
asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.recurrent_native import NATIVE_MAX_HIDDEN, native_sequence

_ATTRS = ("activation_alpha", "activation_beta", "activations", "clip", "direction",
          "hidden_size", "layout")
UNROLL_STEPS = 64  # a sequence length known at import up to this is unrolled
LOOP_STEPS = 4  # the steps one iteration of the while loop takes (past T: no-ops)
_DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}


# ONNX's named activations: name (lower case) -> (the defaults of the alpha and beta it
# takes, those of the ONNX op of that name; the function of x, alpha, beta). None: no
# default, the node must give it (onnxruntime takes 0 for Affine's, ScaledTanh's and
# ThresholdedRelu's where their ops say 1, so a default would be a guess).
_ACTIVATIONS = {
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


def _activation_specs(ctx: NodeContext, names: list) -> list:
    """The node's activations as (lower-case name, alpha, beta), each taking its alpha
    then beta from the next values of activation_alpha / activation_beta (its ONNX op's
    defaults once a list runs out), as onnxruntime reads them."""
    alphas = list(ctx.attr("activation_alpha") or [])
    betas = list(ctx.attr("activation_beta") or [])
    out = []
    for name in names:
        if name.lower() not in _ACTIVATIONS:
            raise ctx.unsupported(f"activation {name!r} is not supported (ONNX names "
                                  f"{', '.join(sorted(_ACTIVATIONS))}, any case)")
        defaults = _ACTIVATIONS[name.lower()][0]
        ab = [(given.pop(0) if given else default)
              for given, default in zip((alphas, betas), defaults)] + [0.0, 0.0]
        if None in ab:
            raise ctx.unsupported(f"activation {name!r} needs activation_alpha"
                                  f"{' and activation_beta' if len(defaults) > 1 else ''} "
                                  "values (runtimes disagree on its defaults)")
        out.append((name.lower(), float(ab[0]), float(ab[1])))
    return out


def _activations(specs: list, clip: float | None) -> list:
    """The activation functions of `specs` (see _activation_specs) on graph tensors, their
    inputs clipped to [-clip, clip] when the node has `clip`."""
    return [_bind(_ACTIVATIONS[name][1], a, b, clip) for name, a, b in specs]


def _bind(func, alpha: float, beta: float, clip: float | None):
    if clip is None:
        return lambda x: func(x, alpha, beta)
    return lambda x: func(gj.clip_by_value(x, _const(x, -clip), _const(x, clip)), alpha, beta)


@dataclass(frozen=True)
class _Cell:
    """What one recurrent op computes per step, given its activations and attributes."""

    kind: str  # "LSTM", "GRU" or "RNN"
    gates: int  # row blocks of W and R: 4 (i, o, f, c), 3 (z, r, h) or 1
    defaults: tuple[str, ...]  # the default activations of one direction


_CELLS = {"LSTM": _Cell("LSTM", 4, ("Sigmoid", "Tanh", "Tanh")),
          "GRU": _Cell("GRU", 3, ("Sigmoid", "Tanh")),
          "RNN": _Cell("RNN", 1, ("Tanh",))}


@dataclass(frozen=True)
class _Direction:
    """One direction's weights, prepared outside the loop."""

    reverse: bool
    xw: Tensor  # [T, B, G*H]: X·Wᵀ + the biases that can be added before the loop
    r_t: Tensor  # Rᵀ [H, G*H]
    rb_h: Tensor | None  # GRU with linear_before_reset: Rb of the h gate, added after ·Rᵀ
    peep: tuple | None  # LSTM: (Pi, Po, Pf), each [H]
    acts: tuple  # the activation functions


def _expect_shape(ctx: NodeContext, what: str, t: Tensor | None, shape: tuple) -> None:
    """ONNX's shape for input `what` (None dims unchecked), else an error naming it."""
    if t is None:
        return
    if t.ndim != len(shape) or any(a is not None and e is not None and a != e
                                   for a, e in zip(t.shape, shape)):
        want = [(e if e is not None else "?") for e in shape]
        raise ctx.invalid(f"input {what} has shape {t.shape}; X, hidden_size, direction "
                          f"and layout give {want}")


def _pick(t: Tensor | None, d: int) -> Tensor | None:
    return None if t is None else gj.gather(t, d)


def _convert(ctx: NodeContext, cell: _Cell) -> list:
    x, w, r = ctx.inputs[:3]
    b, lens, h0 = ctx.input(3), ctx.input(4), ctx.input(5)
    c0 = ctx.input(6) if cell.kind == "LSTM" else None
    peep = ctx.input(7) if cell.kind == "LSTM" else None
    if x.dtype not in (gj.float32, gj.float64):
        raise ctx.unsupported(f"X is {x.dtype}; graphjit implements float32 and float64")
    if x.ndim != 3 or w.ndim != 3 or r.ndim != 3:
        raise ctx.invalid(f"X, W and R must have rank 3, got shapes {x.shape}, {w.shape}, "
                          f"{r.shape}")
    hidden = ctx.attr("hidden_size")
    if hidden is None:
        hidden = r.shape[2] if r.shape[2] is not None else ctx.require_shape(2, "hidden_size")[2]
    hidden = int(hidden)
    direction = ctx.attr("direction", "forward")
    directions = _DIRECTIONS[direction]
    layout = ctx.attr("layout", 0)
    n_dirs, batch, gh = len(directions), x.shape[0 if layout else 1], cell.gates * hidden
    state = (batch, n_dirs, hidden) if layout == 1 else (n_dirs, batch, hidden)
    for what, t, shape in (("W", w, (n_dirs, gh, x.shape[2])), ("R", r, (n_dirs, gh, hidden)),
                           ("B", b, (n_dirs, 2 * gh)), ("initial_h", h0, state),
                           ("initial_c", c0, state), ("P", peep, (n_dirs, 3 * hidden)),
                           ("sequence_lens", lens, (batch,))):
        _expect_shape(ctx, what, t, shape)
    if layout == 1:  # [B, T, I] and states [B, D, H]
        x = gj.transpose(x, [1, 0, 2])
        h0 = None if h0 is None else gj.transpose(h0, [1, 0, 2])
        c0 = None if c0 is None else gj.transpose(c0, [1, 0, 2])
    names = ctx.attr("activations") or list(cell.defaults) * len(directions)
    per_dir = len(cell.defaults)
    if len(names) != per_dir * len(directions):
        raise ctx.invalid(f"activations lists {len(names)} functions; a {direction} "
                          f"{cell.kind} needs {per_dir * len(directions)}")
    specs = _activation_specs(ctx, names)
    linear_before_reset = ctx.attr("linear_before_reset", 0) if cell.kind == "GRU" else 0
    input_forget = bool(ctx.attr("input_forget", 0)) if cell.kind == "LSTM" else False
    if hidden <= NATIVE_MAX_HIDDEN:
        y, y_h, y_c = native_sequence(
            ctx, cell.kind, x, w, r, b, lens, h0, c0, peep, specs, hidden, direction,
            input_forget, bool(linear_before_reset))
        return _outputs(ctx, y, y_h, y_c, layout)
    acts = _activations(specs, ctx.attr("clip"))
    dirs = []
    for d, reverse in enumerate(directions):
        w_t = gj.transpose(gj.gather(w, d))  # [I, G*H]
        xw = gj.matmul(x, w_t)
        rb_h = None
        if b is not None:
            wb, rb = gj.gather(b, d)[:gh], gj.gather(b, d)[gh:]
            if linear_before_reset:  # the h gate's Rb goes inside r * (H·Rhᵀ + Rbh)
                rb_h = rb[2 * hidden:]
                rb = gj.concat([rb[:2 * hidden], gj.zeros_like(rb_h)], 0)
            xw = xw + (wb + rb)
        p = _pick(peep, d)
        peeps = None if p is None else (p[:hidden], p[hidden:2 * hidden], p[2 * hidden:])
        dirs.append(_Direction(reverse, xw, gj.transpose(gj.gather(r, d)), rb_h, peeps,
                               tuple(acts[d * per_dir:(d + 1) * per_dir])))
    return _run(ctx, cell, x, dirs, hidden, lens, h0, c0, layout,
                input_forget=input_forget, linear_before_reset=bool(linear_before_reset))


def _step(cell: _Cell, dr: _Direction, x_row: Tensor, h: Tensor, c: Tensor | None,
          hidden: int, input_forget: bool, linear_before_reset: bool):
    """One step of one direction: (new H, new C or None). Gate g's pre-activation is
    x_row[:, g] + (H·Rᵀ)[:, g], sliced before the add so that the add fuses into the
    gates' elementwise kernel (one kernel per step besides the matmul)."""
    def gate(i: int, mm: Tensor, j: int | None = None) -> Tensor:
        j = i if j is None else j
        return x_row[:, i * hidden:(i + 1) * hidden] + mm[:, j * hidden:(j + 1) * hidden]

    if cell.kind == "RNN":
        (f,) = dr.acts
        return f(gate(0, gj.matmul(h, dr.r_t))), None
    if cell.kind == "GRU":
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


def _run(ctx: NodeContext, cell: _Cell, x: Tensor, dirs: list, hidden: int, lens, h0, c0,
         layout: int, input_forget: bool, linear_before_reset: bool) -> list:
    """The steps over time (a while loop, or unrolled), every direction per step, and
    the ONNX outputs."""
    want_y = ctx.num_outputs > 0 and bool(ctx.node.output[0])
    lstm = cell.kind == "LSTM"
    steps = x.shape[0] if x.shape[0] is not None else gj.shape(x)[0]
    # [B, H]; a constant when B is static, so the first step's H·Rᵀ folds away
    zero_state = (gj.zeros([x.shape[1], hidden], x.dtype) if x.shape[1] is not None
                  else gj.zeros_like(x[0, :, :1]) + np.zeros([hidden], x.dtype.np))
    states = []
    for d in range(len(dirs)):
        states.append(zero_state if h0 is None else gj.gather(h0, d))
        if lstm:
            states.append(zero_state if c0 is None else gj.gather(c0, d))
    per = 2 if lstm else 1
    lens = None if lens is None or _full(ctx, lens, x) else gj.cast(lens, gj.int32)

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
            h_new, c_new = _step(cell, dr, x_row, h, c, hidden,
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
                               [gj.constant(0, dtype=gj.int32), *states, *ys], name=ctx.name)
        final, accs = result[1:1 + n_state], result[1 + n_state:]
    y_h = gj.stack([final[per * d] for d in range(len(dirs))], 0)  # [D, B, H]
    y_c = gj.stack([final[per * d + 1] for d in range(len(dirs))], 0) if lstm else None
    y = gj.stack(accs, 1) if want_y else None  # [T, D, B, H]
    return _outputs(ctx, y, y_h, y_c, layout)


def _outputs(ctx: NodeContext, y, y_h, y_c, layout: int) -> list:
    """The node's outputs from Y [T, D, B, H] and the final states [D, B, H] (None where
    the node does not ask for them), in the node's layout."""
    if not (ctx.num_outputs > 0 and ctx.node.output[0]):
        y = None
    if layout == 1:
        y = None if y is None else gj.transpose(y, [2, 0, 1, 3])  # [B, T, D, H]
        y_h = gj.transpose(y_h, [1, 0, 2])
        y_c = None if y_c is None else gj.transpose(y_c, [1, 0, 2])
    outs = [y, y_h, y_c][:ctx.num_outputs]
    return [None if o is None or not n else gj.identity(o, name=f"{ctx.name}/{n}")
            for o, n in zip(outs, ctx.node.output)]


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


def _full(ctx: NodeContext, lens: Tensor, x: Tensor) -> bool:
    """Whether sequence_lens is known to be T for every sequence (no masking needed)."""
    value = ctx.static(4)
    return value is not None and x.shape[0] is not None and bool(np.all(value == x.shape[0]))


@converter("LSTM", attrs=_ATTRS + ("input_forget",))
def convert_lstm(ctx: NodeContext) -> list:
    """ONNX LSTM: gates i, o, f, c (W, R rows in that order), optional peepholes P."""
    return _convert(ctx, _CELLS["LSTM"])


@converter("GRU", attrs=_ATTRS + ("linear_before_reset",))
def convert_gru(ctx: NodeContext) -> list:
    """ONNX GRU: gates z, r, h; linear_before_reset=1 (PyTorch's) applies r after ·Rhᵀ."""
    return _convert(ctx, _CELLS["GRU"])


@converter("RNN", attrs=_ATTRS)
def convert_rnn(ctx: NodeContext) -> list:
    """ONNX RNN: H = f(X·Wᵀ + H·Rᵀ + Wb + Rb)."""
    return _convert(ctx, _CELLS["RNN"])
