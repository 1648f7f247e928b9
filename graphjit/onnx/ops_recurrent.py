"""ONNX converters for the recurrent ops LSTM, GRU and RNN. Up to NATIVE_MAX_HIDDEN
hidden units a node becomes one RecurrentSequence, the whole recurrence in one native
kernel (graphjit.onnx.recurrent_native); above it, the per-step graph of
graphjit.ops.recurrent_steps (a while loop over the sequence, or steps unrolled when the
length is known at import), which RecurrentSequence's gradient rule also rebuilds.

The input projection X·Wᵀ + biases does not depend on the state, so it is one matmul
over every time step before the steps; each step reads its row, adds H·Rᵀ and applies
the gates. Y is built only when the node asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.onnx.recurrent_native import NATIVE_MAX_HIDDEN, native_sequence
from graphjit.ops.recurrent_steps import ACTIVATIONS as _ACTIVATIONS
from graphjit.ops.recurrent_steps import Direction, activations, run_steps

_ATTRS = ("activation_alpha", "activation_beta", "activations", "clip", "direction",
          "hidden_size", "layout")
_DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}


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


@dataclass(frozen=True)
class _Cell:
    """What one recurrent op computes per step, given its activations and attributes."""

    kind: str  # "LSTM", "GRU" or "RNN"
    gates: int  # row blocks of W and R: 4 (i, o, f, c), 3 (z, r, h) or 1
    defaults: tuple[str, ...]  # the default activations of one direction


_CELLS = {"LSTM": _Cell("LSTM", 4, ("Sigmoid", "Tanh", "Tanh")),
          "GRU": _Cell("GRU", 3, ("Sigmoid", "Tanh")),
          "RNN": _Cell("RNN", 1, ("Tanh",))}


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
    acts = activations(specs, ctx.attr("clip"))
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
        dirs.append(Direction(reverse, xw, gj.transpose(gj.gather(r, d)), rb_h, peeps,
                               tuple(acts[d * per_dir:(d + 1) * per_dir])))
    return _run(ctx, cell, x, dirs, hidden, lens, h0, c0, layout,
                input_forget=input_forget, linear_before_reset=bool(linear_before_reset))


def _run(ctx: NodeContext, cell: _Cell, x: Tensor, dirs: list, hidden: int, lens, h0, c0,
         layout: int, input_forget: bool, linear_before_reset: bool) -> list:
    """The steps over time (graphjit.ops.recurrent_steps), every direction per step, and
    the ONNX outputs."""
    want_y = ctx.num_outputs > 0 and bool(ctx.node.output[0])
    lstm = cell.kind == "LSTM"
    # [B, H]; a constant when B is static, so the first step's H·Rᵀ folds away
    zero_state = (gj.zeros([x.shape[1], hidden], x.dtype) if x.shape[1] is not None
                  else gj.zeros_like(x[0, :, :1]) + np.zeros([hidden], x.dtype.np))
    states = []
    for d in range(len(dirs)):
        states.append(zero_state if h0 is None else gj.gather(h0, d))
        if lstm:
            states.append(zero_state if c0 is None else gj.gather(c0, d))
    lens = None if lens is None or _full(ctx, lens, x) else gj.cast(lens, gj.int32)
    y, y_h, y_c = run_steps(cell.kind, x, dirs, hidden, states, lens, want_y,
                            input_forget, linear_before_reset, name=ctx.name)
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
