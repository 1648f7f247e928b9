"""The loop-IR kernel of RecurrentSequence (graphjit.ops.recurrent): the loop over time
inside one native kernel.

Per step and direction, the gate pre-activations (xw + bias) are set in a work buffer
and H·Rᵀ is added in passes over Rᵀ's rows (the inner loop runs along the gates,
contiguous in Rᵀ, so it vectorizes without a horizontal reduction; each pass takes
UNROLL rows of Rᵀ and a tile of TILE batch rows, so a loaded vector of Rᵀ feeds TILE
fused multiply-add chains and the work buffer is loaded and stored once per UNROLL),
the gate activations run in passes along the work rows where they can (LSTM without
peepholes, GRU's z and r), and loops over the hidden units combine the gates and write
Y, Y_h and Y_c. Y_h and Y_c hold the state between steps. The hidden size is baked in
(from the weights, fixed at import); time and batch extents are read from the arrays,
so a new batch size or sequence length compiles nothing; h0, c0 and lens may have a
batch dim of 1, broadcast (a constant where the node has none, so no kernel fills them
per call).
"""

from __future__ import annotations

import numpy as np

from codegen.loopir import Assign, Call, Dim, Fn, Kernel, Load, Loop, Param, Store, Var
from graphjit.lower.exprs import const, int_add, int_mul, int_op
from graphjit.ops.recurrent import DIRECTIONS, GATES, activation_list

UNROLL = 4  # rows of Rᵀ per pass over the work buffer (a load and store of it)
TILE = 4  # batch rows per pass. 4 x 4: 16 broadcast scalars, 4 vectors of Rᵀ and 4
# accumulators, about AVX2's 16 registers (compiled for Haswell it keeps 12 scalars in
# registers and folds 4 into FMAs as stack operands). The whole LSTM kernel (seq 32,
# batch 8, hidden 64; interleaved medians) ran 1.2-1.35x faster than with 1 x 8 on
# AVX-512, 1.15-1.2x compiled for AVX2, GRU's 1.2x; 4 x 8, 8 x 4 and 8 x 2 were within
# the noise of 4 x 4.


class _Builder:
    """Expression helpers for one kernel's float dtype; `width` is a work row's length."""

    def __init__(self, dtype: str, clip, width: int):
        self.dt, self.clip, self.width = dtype, clip, width

    def at(self, row, col) -> tuple:
        """The index of work[row, col]. The work buffer is flat, its row length a literal:
        with a 2-D buffer the row stride is read from the array at run time, LLVM cannot
        tell a tile's batch rows apart, and the step product ran 5x slower. The index is
        unsigned, so Numba adds no negative-index wraparound, which LLVM cannot rule out
        for row * width + col (that made the whole kernel 1.7x slower)."""
        return (Call(Fn.CAST, (int_add(int_mul(row, self.width), col),), "uint64"),)

    def c(self, value: float):
        return const(value, self.dt)

    def f(self, fn: Fn, *args):
        return Call(fn, tuple(args), self.dt)

    def add(self, *terms):
        out = terms[0]
        for t in terms[1:]:
            out = self.f(Fn.ADD, out, t)
        return out

    def mul(self, a, b):
        return self.f(Fn.MUL, a, b)

    def ge(self, a, b):
        return Call(Fn.GREATEREQUAL, (a, b), "bool")

    def activation(self, name: str, alpha: float, beta: float, x):
        """ONNX's activation `name` of x (clipped first when the node has clip)."""
        f, c = self.f, self.c
        if self.clip is not None:
            x = f(Fn.MINIMUM, f(Fn.MAXIMUM, x, c(-self.clip)), c(self.clip))
        if name == "sigmoid":
            return f(Fn.SIGMOID, x)
        if name == "tanh":
            return f(Fn.TANH, x)
        if name == "relu":
            return f(Fn.MAXIMUM, x, c(0))
        if name == "affine":
            return self.add(self.mul(c(alpha), x), c(beta))
        if name == "leakyrelu":
            return f(Fn.SELECT, self.ge(x, c(0)), x, self.mul(c(alpha), x))
        if name == "thresholdedrelu":
            return f(Fn.SELECT, self.ge(x, c(alpha)), x, c(0))
        if name == "scaledtanh":
            return self.mul(c(alpha), f(Fn.TANH, self.mul(c(beta), x)))
        if name == "hardsigmoid":
            return f(Fn.MINIMUM, f(Fn.MAXIMUM, self.add(self.mul(c(alpha), x), c(beta)),
                                   c(0)), c(1))
        if name == "elu":
            return f(Fn.SELECT, self.ge(x, c(0)), x,
                     self.mul(c(alpha), f(Fn.SUB, f(Fn.EXP, x), c(1))))
        if name == "softsign":
            return f(Fn.REALDIV, x, self.add(c(1), f(Fn.ABS, x)))
        if name == "softplus":
            return f(Fn.LOG, self.add(c(1), f(Fn.EXP, x)))
        raise ValueError(f"no loop-IR form of activation {name!r}")


def _matvec(b: _Builder, d: int, src, hidden: int, rows: tuple[int, int]) -> tuple:
    """work[b, r] += sum_k src(b, k) * rt[d, k, r] for r in `rows`, every batch row b.

    A pass takes UNROLL rows of Rᵀ (then one pass of the rest) and a tile of TILE batch
    rows (then the rows left, one at a time): each vector of Rᵀ loaded feeds TILE
    accumulator chains, and each work vector loaded takes UNROLL multiply-adds, where
    one batch row a pass loads a vector of Rᵀ per multiply-add (the loads, not the
    FMAs, bounded it). The batch loop sits inside the pass over k, so those rows of Rᵀ
    stay in L1 across the batch."""
    lo, hi = rows
    row = Var("r")
    tiles = int_op(Fn.FLOORDIV, Dim("xw", 1), TILE)

    def tile(first, count: int, batch_rows: list) -> tuple:
        ks = [int_add(first, i) for i in range(count)]
        loads = tuple(Assign(f"s{t}_{i}", src(bt, k), b.dt)
                      for t, bt in enumerate(batch_rows) for i, k in enumerate(ks))
        weights = tuple(Assign(f"w{i}", Load("rt", (d, k, row)), b.dt)
                        for i, k in enumerate(ks))
        sums = []
        for t, bt in enumerate(batch_rows):  # fused multiply-adds where the target has them
            acc = Load("work", b.at(bt, row))
            for i in range(count):
                acc = b.f(Fn.MULADD, Var(f"s{t}_{i}"), Var(f"w{i}"), acc)
            sums.append(Assign(f"t{t}", acc, b.dt))
        # every chain computed before any store, so no store stands between the loads
        # of Rᵀ and the chains that share them
        stores = tuple(Store("work", b.at(bt, row), Var(f"t{t}"))
                       for t, bt in enumerate(batch_rows))
        return loads + (Loop("r", lo, hi, weights + tuple(sums) + stores),)

    def passes(first, count: int) -> tuple:
        base = int_mul(Var("bq"), TILE)
        whole = Loop("bq", 0, tiles, (Assign("b", base, "int64"),) + tile(
            first, count, [int_add(Var("b"), t) if t else Var("b") for t in range(TILE)]))
        rest = Loop("b", int_mul(tiles, TILE), Dim("xw", 1), tile(first, count, [Var("b")]))
        return (whole, rest)

    body: tuple = ()
    full = hidden // UNROLL
    if full:
        body += (Loop("kq", 0, full, passes(int_mul(Var("kq"), UNROLL), UNROLL)),)
    if hidden % UNROLL:
        body += passes(full * UNROLL, hidden % UNROLL)
    return body


def _cell_update(b: _Builder, cell: str, d: int, acts, hidden: int, attrs, k, alive,
                 activated: bool) -> tuple:
    """The loop over hidden units j: gates from the work buffer (`activated`: an LSTM's
    gates already through their activations; a GRU's z and r always are), then Y, Y_h
    (and Y_c)."""
    j, h = Var("j"), Var("h")
    w = lambda offset: Load("work", b.at(Var("b"), int_add(j, offset)))  # noqa: E731
    act = [lambda x, a=a: b.activation(*a, x) for a in acts]
    body = [Assign("h", Load("yh", (d, Var("b"), j)), b.dt)]
    if cell == "LSTM" and activated:
        # new C and H into the work rows of f and o first (a loop whose only stores are
        # to work vectorizes), then a loop of selects stores the state and Y
        forget = b.f(Fn.SUB, b.c(1), w(0)) if attrs["input_forget"] else w(2 * hidden)
        c_at, h_at = b.at(Var("b"), int_add(j, 2 * hidden)), b.at(Var("b"), int_add(j, hidden))
        new_c = b.add(b.mul(forget, Load("yc", (d, Var("b"), j))), b.mul(w(0), w(3 * hidden)))
        gates = Loop("j", 0, hidden, (
            Store("work", c_at, new_c),
            Store("work", h_at, b.mul(w(hidden), act[2](Load("work", c_at))))))
        body += [Assign("c", Load("yc", (d, Var("b"), j)), b.dt),
                 Assign("cn", Load("work", c_at), b.dt), Assign("hn", Load("work", h_at), b.dt),
                 Store("yc", (d, Var("b"), j), b.f(Fn.SELECT, alive, Var("cn"), Var("c")))]
    elif cell == "LSTM":
        c = Var("c")
        peep = lambda gate: Load("peep", (d, gate, j))  # noqa: E731
        body += [Assign("c", Load("yc", (d, Var("b"), j)), b.dt),
                 Assign("i", act[0](b.add(w(0), b.mul(peep(0), c))), b.dt)]
        forget = (b.f(Fn.SUB, b.c(1), Var("i")) if attrs["input_forget"]
                  else act[0](b.add(w(2 * hidden), b.mul(peep(2), c))))
        body += [Assign("cn", b.add(b.mul(forget, c), b.mul(Var("i"), act[1](w(3 * hidden)))),
                        b.dt),
                 Assign("hn", b.mul(act[0](b.add(w(hidden), b.mul(peep(1), Var("cn")))),
                                    act[2](Var("cn"))), b.dt),
                 Store("yc", (d, Var("b"), j), b.f(Fn.SELECT, alive, Var("cn"), c))]
    elif cell == "GRU":  # (z and r activated already)
        body.append(Assign("z", w(0), b.dt))
        if attrs["linear_before_reset"]:
            r = w(hidden)
            cand = act[1](b.add(w(3 * hidden),
                                b.mul(r, b.add(w(2 * hidden), Load("rbh", (d, j))))))
        else:
            cand = act[1](w(2 * hidden))
        body.append(Assign("hn", b.add(b.mul(b.f(Fn.SUB, b.c(1), Var("z")), cand),
                                       b.mul(Var("z"), h)), b.dt))
    else:
        body.append(Assign("hn", act[0](w(0)), b.dt))
    body += [Store("y", (k, d, Var("b"), j), b.f(Fn.SELECT, alive, Var("hn"), b.c(0))),
             Store("yh", (d, Var("b"), j), b.f(Fn.SELECT, alive, Var("hn"), h))]
    if cell == "LSTM" and activated:
        return (gates, Loop("j", 0, hidden, tuple(body)))
    return (Loop("j", 0, hidden, tuple(body)),)


def _direction_step(b: _Builder, cell: str, d: int, reverse: bool, acts, hidden: int,
                    attrs, peepholes: bool) -> tuple:
    """Step s of direction d, every batch row. GRU's z and r gates, and an LSTM's gates
    where it has no peepholes, go through their activations in passes along the work
    buffer's rows, which vectorize whatever the hidden size (the loop over hidden units
    is too short to at PyTorch-sized ones)."""
    gh = GATES[cell] * hidden
    k = Var("k")
    time = int_op(Fn.SUB, int_add(Dim("xw", 0), -1), Var("s")) if reverse else Var("s")
    row, bb = Var("r"), Var("b")
    pre = lambda r: b.add(Load("xw", (k, bb, int_add(r, d * gh))), Load("bias", (d, r)))  # noqa: E731
    h_at = lambda bt, kk: Load("yh", (d, bt, kk))  # noqa: E731
    gru_split = cell == "GRU" and attrs["linear_before_reset"]
    if gru_split:  # the h gate's x part at 3H, its recurrent part (from 0) at 2H
        init = (Loop("r", 0, 2 * hidden, (Store("work", b.at(bb, row), pre(row)),)),
                Loop("r", 2 * hidden, gh, (Store("work", b.at(bb, row), b.c(0)),
                                           Store("work", b.at(bb, int_add(row, hidden)),
                                                 pre(row)))))
    else:
        init = (Loop("r", 0, gh, (Store("work", b.at(bb, row), pre(row)),)),)
    body: list = [Loop("b", 0, Dim("xw", 1), init)]
    at = b.at(bb, row)
    first, second = (Store("work", at, b.activation(*a, Load("work", at)))
                     for a in (acts * 2)[:2])  # (an RNN has one activation and uses neither)
    # GRU's z and r by its first activation (in place, once their sums are complete)
    gru_gates = Loop("b", 0, Dim("xw", 1), (Loop("r", 0, 2 * hidden, (first,)),))
    if cell == "GRU" and not attrs["linear_before_reset"]:  # r * H goes into the h gate
        body += _matvec(b, d, h_at, hidden, (0, 2 * hidden))
        body.append(gru_gates)
        j = Var("j")
        reset = Load("work", b.at(bb, int_add(j, hidden)))
        rh = Store("work", b.at(bb, int_add(j, 3 * hidden)), b.mul(reset, h_at(bb, j)))
        body.append(Loop("b", 0, Dim("xw", 1), (Loop("j", 0, hidden, (rh,)),)))
        rh_at = lambda bt, kk: Load("work", b.at(bt, int_add(kk, 3 * hidden)))  # noqa: E731
        body += _matvec(b, d, rh_at, hidden, (2 * hidden, gh))
    else:
        body += _matvec(b, d, h_at, hidden, (0, gh))
        if cell == "GRU":
            body.append(gru_gates)
    activated = cell == "GRU" or (cell == "LSTM" and not peepholes)
    if cell == "LSTM" and activated:  # i, o, f by the first activation, c by the second
        body.append(Loop("b", 0, Dim("xw", 1), (Loop("r", 0, 3 * hidden, (first,)),
                                                 Loop("r", 3 * hidden, gh, (second,)))))
    length = Load("lens", (_batch_row("lens", 0),))
    alive = Assign("alive", int_op(Fn.LESS, k, Call(Fn.CAST, (length,), "int64")),
                   "bool")
    update = (alive,) + _cell_update(b, cell, d, acts, hidden, attrs, k, Var("alive"),
                                     activated)
    body.append(Loop("b", 0, Dim("xw", 1), update))
    return (Assign("k", time, "int64"), *body)


def _batch_row(param: str, axis: int):
    """Batch row b of `param`, whose batch axis is B or 1 (broadcast): min(b, size - 1)."""
    return int_op(Fn.MINIMUM, Var("b"), int_add(Dim(param, axis), -1))


def recurrent_kernel(name: str, op, hidden: int, peepholes: bool = True) -> Kernel:
    """The whole recurrence of `op` (a RecurrentSequence) as one kernel; `peepholes`
    False where an LSTM's are known to be zero (a constant), which the kernel then skips."""
    attrs, cell = op.attrs, op.attrs["cell"]
    dt = op.inputs[0].dtype.name
    b = _Builder(dt, attrs.get("clip"), (GATES[cell] + 1) * hidden)
    directions = DIRECTIONS[attrs["direction"]]
    acts = activation_list(attrs)
    per = len(acts) // len(directions)
    ins = ["xw", "bias", "rt", "h0", "lens"] + {"LSTM": ["c0", "peep"], "GRU": ["rbh"],
                                                 "RNN": []}[cell]
    ranks = {"xw": 3, "bias": 2, "rt": 3, "h0": 3, "lens": 1, "c0": 3, "peep": 3, "rbh": 2}
    outs = ["y", "yh"] + (["yc"] if cell == "LSTM" else [])
    params = tuple(Param(n, "int32" if n == "lens" else dt, ranks[n], False) for n in ins) + \
        tuple(Param(n, dt, 4 if n == "y" else 3, True) for n in outs) + \
        (Param("work", dt, 1, True),)
    at = (Var("d"), Var("b"), Var("j"))
    state = (Store("yh", at, Load("h0", (Var("d"), _batch_row("h0", 1), Var("j")))),)
    if cell == "LSTM":
        state += (Store("yc", at, Load("c0", (Var("d"), _batch_row("c0", 1), Var("j")))),)
    init = Loop("d", 0, len(directions), (Loop("b", 0, Dim("xw", 1),
                                               (Loop("j", 0, hidden, state),)),))
    steps: tuple = ()
    for d, reverse in enumerate(directions):
        steps += _direction_step(b, cell, d, reverse, acts[d * per:(d + 1) * per], hidden,
                                 attrs, peepholes)
    return Kernel(name, params, (init, Loop("s", 0, Dim("xw", 0), steps)))


def lower_recurrent_sequence(lw, op, outputs, out_slots, names) -> None:
    """One kernel step; outputs nothing reads still get planned buffers (the kernel
    writes them all), and so does its work buffer."""
    from graphjit.lower.standalone import identifier
    hidden = lw.shapes[op.inputs[2]][1]
    slots = []
    for t in op.outputs:
        slots.append(out_slots[outputs.index(t)] if t in outputs
                     else lw.buffer(lw.shapes[t], t.dtype.np))
    steps, batch, _ = lw.shapes[op.inputs[0]]
    work = lw.buffer((batch * (GATES[op.attrs["cell"]] + 1) * hidden,), op.inputs[0].dtype.np)
    in_slots = tuple(lw.input_or_const_slot(t) for t in op.inputs)
    n_dirs = len(DIRECTIONS[op.attrs["direction"]])
    flops = 2 * steps * batch * n_dirs * GATES[op.attrs["cell"]] * hidden * hidden
    peep = op.inputs[6] if op.attrs["cell"] == "LSTM" else None
    peepholes = peep is not None and not (peep in lw.const_values
                                          and not np.any(lw.const_values[peep]))
    kernel = recurrent_kernel(identifier("recurrent", op), op, hidden, peepholes)
    lw.add_kernel(kernel, in_slots,
                  (*slots, work), names, flops, lw.bytes_of(op.inputs, op.outputs))
