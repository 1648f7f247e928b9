"""RecurrentSequence: a whole LSTM, GRU or RNN recurrence over a sequence as one op.

Its lowering (graphjit.lower.recurrent_kernel) is one native kernel with the loop over
time inside it, so a sequence costs one kernel call however long it is, where a per-step
graph pays a GEMM call and a gates kernel per step (or a while loop's host iterations).
The input projection X·Wᵀ of every step and direction is one matmul before the op; the
op adds the biases, runs H·Rᵀ and the gates per step, and masks by sequence_lens.

Inputs: xw [T, B, D*G*H] (X·Wᵀ of the D directions side by side, G gate blocks each),
bias [D, G*H], rt [D, H, G*H] (each direction's Rᵀ), h0 [D, B, H], lens [B] int32 (h0,
lens and c0 may have a batch dim of 1, broadcast); then
for LSTM c0 [D, B, H] and peepholes [D, 3, H] (i, o, f), for GRU rbh [D, H] (the h gate's
recurrent bias, added inside r * (H·Rhᵀ + Rbh) when linear_before_reset). Outputs: Y
[T, D, B, H], Y_h [D, B, H], and for LSTM Y_c [D, B, H]. The gate order and the meaning
of sequence_lens are ONNX's: past a sequence's length its state is carried unchanged
and its Y rows are zero; the reverse direction starts at each sequence's last element.
Its gradient (graphjit.ops.recurrent_grad) differentiates the same recurrence rebuilt
as per-step ops.
"""

from __future__ import annotations

import numpy as np

from graphjit import dtypes
from graphjit.errors import ShapeError
from graphjit.graph import Tensor
from graphjit.ops._util import check_dtype, graph_of
from graphjit.registry import Attr, AttrKind, Fusion, KernelBuilder, NoOnnx, OpDef, register

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DIRECTIONS = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}
_FLOATS = frozenset({dtypes.float32, dtypes.float64})


def _np_activation(name: str, a: float, b: float):
    """ONNX's named activation `name` with its alpha and beta, on NumPy arrays."""
    return {
        "relu": lambda x: np.maximum(x, 0),
        "tanh": np.tanh,
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "affine": lambda x: a * x + b,
        "leakyrelu": lambda x: np.where(x >= 0, x, a * x),
        "thresholdedrelu": lambda x: np.where(x >= a, x, 0),
        "scaledtanh": lambda x: a * np.tanh(b * x),
        "hardsigmoid": lambda x: np.clip(a * x + b, 0, 1),
        "elu": lambda x: np.where(x >= 0, x, a * (np.exp(x) - 1)),
        "softsign": lambda x: x / (1 + np.abs(x)),
        "softplus": lambda x: np.log(1 + np.exp(x)),
    }[name]


def _clipped(func, clip: float):
    return lambda x: func(np.clip(x, -clip, clip))


ACTIVATION_NAMES = ("relu", "tanh", "sigmoid", "affine", "leakyrelu", "thresholdedrelu",
                    "scaledtanh", "hardsigmoid", "elu", "softsign", "softplus")


def _infer(specs, attrs):
    cell, n_dirs = attrs["cell"], len(DIRECTIONS[attrs["direction"]])
    want = {"LSTM": 7, "GRU": 6, "RNN": 5}[cell]
    if len(specs) != want:
        raise ShapeError(f"a {cell} RecurrentSequence takes {want} inputs, got {len(specs)}")
    (xw, dt), (bias, _), (rt, _), (h0, _), (lens, lens_dt) = specs[:5]
    check_dtype(dt, _FLOATS, "xw")
    check_dtype(lens_dt, frozenset({dtypes.int32}), "lens")
    for i, (_, d) in enumerate(specs):
        if i != 4 and d != dt:
            raise ShapeError(f"input {i} has dtype {d}; the inputs must all be {dt} but lens")
    hidden = rt[1] if len(rt) == 3 else None
    if hidden is None:
        raise ShapeError(f"rt must be [directions, hidden, gates*hidden] with hidden known, "
                         f"got {list(rt)}")
    gh = GATES[cell] * hidden
    t, batch = (xw[0], xw[1]) if len(xw) == 3 else (None, None)
    expected = [("xw", xw, (None, None, n_dirs * gh)), ("bias", bias, (n_dirs, gh)),
                ("rt", rt, (n_dirs, hidden, gh)), ("h0", h0, (n_dirs, batch, hidden)),
                ("lens", lens, (batch,))]
    if cell == "LSTM":
        expected += [("c0", specs[5][0], (n_dirs, batch, hidden)),
                     ("peepholes", specs[6][0], (n_dirs, 3, hidden))]
    if cell == "GRU":
        expected.append(("rbh", specs[5][0], (n_dirs, hidden)))
    broadcast = {"h0": 1, "lens": 0, "c0": 1}  # batch axes that may be 1
    for what, shape, want_shape in expected:
        if len(shape) != len(want_shape) or any(
                a is not None and e is not None and a != e
                and not (a == 1 and broadcast.get(what) == axis)
                for axis, (a, e) in enumerate(zip(shape, want_shape))):
            raise ShapeError(f"{what} has shape {list(shape)}, expected "
                             f"{[e if e is not None else '?' for e in want_shape]}")
    state = ((n_dirs, batch, hidden), dt)
    return [((t, n_dirs, batch, hidden), dt), state] + ([state] if cell == "LSTM" else [])


def activation_list(attrs) -> list:
    """The node's activations as (name, alpha, beta), G-1 (LSTM: 3, GRU: 2, RNN: 1) per
    direction."""
    names = attrs["activations"].split(",")
    return list(zip(names, np.asarray(attrs["alphas"], float).tolist(),
                    np.asarray(attrs["betas"], float).tolist()))


def _reference(xw, bias, rt, h0, lens, *extra, cell, direction, activations, alphas, betas,
               input_forget, linear_before_reset, clip=None):
    acts = activation_list({"activations": activations, "alphas": alphas, "betas": betas})
    funcs = [_np_activation(*a) for a in acts]
    if clip is not None:
        funcs = [_clipped(f, clip) for f in funcs]
    steps, batch = xw.shape[:2]
    n_dirs, hidden = rt.shape[:2]
    gh = GATES[cell] * hidden
    dt = xw.dtype
    y = np.zeros((steps, n_dirs, batch, hidden), dt)
    y_h = np.array(np.broadcast_to(h0, (n_dirs, batch, hidden)), dt)
    y_c = np.array(np.broadcast_to(extra[0], y_h.shape), dt) if cell == "LSTM" else None
    lens = np.broadcast_to(lens, (batch,))
    per = len(funcs) // n_dirs
    for d, reverse in enumerate(DIRECTIONS[direction]):
        f = funcs[d * per:(d + 1) * per]
        for s in range(steps):
            k = steps - 1 - s if reverse else s
            alive = (k < lens)[:, None]
            h = y_h[d]
            pre = xw[k, :, d * gh:(d + 1) * gh] + bias[d]
            if cell == "GRU" and not linear_before_reset:
                rec = h @ rt[d, :, :2 * hidden]
                z, r = f[0](pre[:, :hidden] + rec[:, :hidden]), f[0](pre[:, hidden:2 * hidden]
                                                                    + rec[:, hidden:])
                cand = f[1](pre[:, 2 * hidden:] + (r * h) @ rt[d, :, 2 * hidden:])
                h_new, c_new = (1 - z) * cand + z * h, None
            elif cell == "GRU":
                rec = h @ rt[d]
                z = f[0](pre[:, :hidden] + rec[:, :hidden])
                r = f[0](pre[:, hidden:2 * hidden] + rec[:, hidden:2 * hidden])
                cand = f[1](pre[:, 2 * hidden:] + r * (rec[:, 2 * hidden:] + extra[0][d]))
                h_new, c_new = (1 - z) * cand + z * h, None
            elif cell == "RNN":
                h_new, c_new = f[0](pre + h @ rt[d]), None
            else:
                g = pre + h @ rt[d]
                c, p = y_c[d], extra[1][d]
                i = f[0](g[:, :hidden] + p[0] * c)
                forget = 1 - i if input_forget else f[0](g[:, 2 * hidden:3 * hidden] + p[2] * c)
                c_new = forget * c + i * f[1](g[:, 3 * hidden:])
                h_new = f[0](g[:, hidden:2 * hidden] + p[1] * c_new) * f[2](c_new)
                y_c[d] = np.where(alive, c_new, c)
            y[k, d] = np.where(alive, h_new, 0)
            y_h[d] = np.where(alive, h_new, h)
    return (y, y_h) + ((y_c,) if cell == "LSTM" else ())


def _grad(op, grads):
    from graphjit.ops.recurrent_grad import recurrent_sequence_grad
    return recurrent_sequence_grad(op, grads)


def _build(lw, op, outputs, out_slots, names):
    from graphjit.lower.recurrent_kernel import lower_recurrent_sequence
    lower_recurrent_sequence(lw, op, outputs, out_slots, names)


register(OpDef(
    "RecurrentSequence", _infer, _reference, Fusion.STANDALONE,
    KernelBuilder("recurrent", _build),
    attrs={"cell": Attr(AttrKind.STR), "direction": Attr(AttrKind.STR),
           "activations": Attr(AttrKind.STR), "alphas": Attr(AttrKind.ARRAY),
           "betas": Attr(AttrKind.ARRAY), "clip": Attr(AttrKind.NUMBER, required=False),
           "input_forget": Attr(AttrKind.BOOL), "linear_before_reset": Attr(AttrKind.BOOL)},
    onnx=NoOnnx("graphjit's fused form of ONNX's LSTM, GRU and RNN, which its importer "
                "builds; the exporter does not rebuild those nodes"),
    grad=_grad))


def recurrent_sequence(cell: str, xw, bias, rt, h0, lens, extra: list, direction: str,
                       activations: list, clip: float | None = None,
                       input_forget: bool = False, linear_before_reset: bool = False,
                       name: str | None = None) -> list[Tensor]:
    """[Y, Y_h(, Y_c)] of a `cell` recurrence (see the module docstring for the inputs);
    `activations` a list of (ONNX name in lower case, alpha, beta)."""
    if cell not in GATES:
        raise ValueError(f"cell must be one of {sorted(GATES)}, got {cell!r}")
    unknown = [a[0] for a in activations if a[0] not in ACTIVATION_NAMES]
    if unknown:
        raise ValueError(f"activations {unknown} are not among {ACTIVATION_NAMES}")
    attrs = {"cell": cell, "direction": direction,
             "activations": ",".join(a[0] for a in activations),
             "alphas": np.array([a[1] for a in activations], np.float64),
             "betas": np.array([a[2] for a in activations], np.float64),
             "input_forget": bool(input_forget),
             "linear_before_reset": bool(linear_before_reset)}
    if clip is not None:
        attrs["clip"] = float(clip)
    graph = graph_of(xw)
    op = graph.create_op("RecurrentSequence", [xw, bias, rt, h0, lens, *extra], attrs,
                         name=name, default_name="RecurrentSequence")
    return list(op.outputs)


__all__ = ["recurrent_sequence"]
