"""A register-blocked matrix product tile, written as LLVM vector code: the inner loop
of graphjit's packed matrix products (graphjit.lower.packed_matmul).

Numba's loop vectorizer turns a dot product into vector code, but the best form of a
small matrix product is an outer product: a tile of ROWS rows x WIDTH columns of the
output kept in vector registers, updated at each k by WIDTH/LANES contiguous vector
loads of the weights and one broadcast per row of the input, each load feeding ROWS (or
WIDTH/LANES) fused multiply-adds. No loop in Python source reliably compiles to that
(a tile of scalars depends on the SLP vectorizer and costs Numba's typing hundreds of
statements), so `matmul_tile` emits it directly: accumulators are SSA values (phis), the
k loop is a few basic blocks, and the vector type comes from the target.

The weights are packed once as panels (P, K, WIDTH): panel p holds columns p*WIDTH ..
p*WIDTH+WIDTH-1 of the weights, zero beyond N, so the k loop reads one contiguous stream.
The tile handles the edges itself: rows past the input's last are clamped (computed
again, not stored), and columns past N are not stored (masked vector stores), so the
loop nest around it has no remainder loops. Its shape for the target CPU is
codegen.tile_shape's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# At least this many independent accumulators keep both FMA ports busy through an FMA's
# latency (2 ports x 4 cycles on recent x86): a tile with fewer (one row) splits k into
# that many interleaved partial sums.
_CHAINS = 8
# The k loop's body is this many steps (into the same partial sums): one step of an
# 8x32 tile is 16 FMAs, 10 loads and ~8 scalar instructions of addressing and loop
# control; four share one loop's control. AVX-512 Xeon, one thread, 64-byte-aligned
# panels (min of bursts): 32x784x256 76.1-77.0 -> 72.6-73.3 us, 8x784x256 20.9 -> 18.0-
# 19.3, 1x784x256 6.7-7.0 -> 6.2-6.3 (two steps: about half of that). Products' tiles
# only: a conv tile's loop per tap is a few steps (Cin).
UNROLL = 4
# A convolution's tile with at most this many k steps (KH*KW*Cin) writes them all out
# where every tap of its rows is inside the input: with few channels a tap's k loop is
# a step or two, and the loop and the tap's pointers (a zero row in the padding) would
# cost more than its multiply-adds. Bounded for code size.
UNROLLED_DEPTH = 32


def _literal(t, kind):
    return t.literal_value if isinstance(t, kind) else None


@intrinsic(prefer_literal=True)
def matmul_tile(typingctx, a, panels, bias, outs, row, panel, rows, k0, k1, rows_max, width,
                lanes, epilogue):
    """outs[o][row:row+rows, panel*width:...] = epilogue(a[row:row+rows] @ panel's
    weights), `rows` <= rows_max; a (M, K) (or a C-contiguous stack of rows (..., K),
    the outputs alike), panels (P, K, width), bias a (P*width,) row or None; rows_max,
    width, lanes and epilogue are literals, epilogue as "bias+relu:0,2": add the bias
    row, then relu; the first output gets stage 0 (the product), the second stage 2
    (after relu).

    Over k in [k0, k1) only (blocks of K whose panel rows stay in the L1 cache while
    every row tile passes them): a block after the first adds to the partial sums the
    one before left in outs[0], and only the last (k1 == K) applies the epilogue."""
    shape = (_literal(rows_max, types.IntegerLiteral), _literal(width, types.IntegerLiteral),
             _literal(lanes, types.IntegerLiteral), _literal(epilogue, types.StringLiteral))
    if None in shape or not isinstance(outs, types.BaseTuple) or not all(
            isinstance(t, types.Array) for t in (a, panels, *outs)):
        return None
    dtype = a.dtype
    # (a convolution's NHWC arrays; else a product's, rank 2 or a stack of rows)
    rank = 4 if shape[3].count(":") > 1 else max(2, getattr(a, "ndim", 2))
    if panels.dtype != dtype or any(t.dtype != dtype for t in outs) or a.ndim != rank \
            or panels.ndim != 3 or any(t.ndim != rank for t in outs) \
            or not (bias == types.none or isinstance(bias, types.Array) and bias.ndim == 1
                    and bias.dtype == dtype) \
            or not all(isinstance(t, types.Integer) for t in (row, panel, rows, k0, k1)) \
            or shape[1] % shape[2]:
        return None
    sig = types.void(a, panels, bias, outs, row, panel, rows, k0, k1, rows_max, width,
                     lanes, epilogue)

    def codegen(context, builder, sig, args):
        _Tile(context, builder, sig, args, *shape).emit()
        return context.get_dummy_value()
    return sig, codegen


class _Tile:
    """The LLVM IR of one matmul_tile call (see there)."""

    def __init__(self, context, builder, sig, args, rows_max, width, lanes, epilogue):
        self.b = builder
        self.rows_max, self.width, self.lanes = rows_max, width, lanes
        steps, stores, *conv = epilogue.split(":")
        self.bias, self.relu = "bias" in steps.split("+"), "relu" in steps.split("+")
        self.stores = tuple(int(s) for s in stores.split(","))
        self.conv = ConvGeometry(*(int(g) for g in conv[0].split(","))) if conv else None
        self.fty = context.get_value_type(sig.args[0].dtype)
        self.vty = ir.VectorType(self.fty, lanes)
        self.i64 = ir.IntType(64)
        bits = 32 if isinstance(self.fty, ir.FloatType) else 64
        self.vname = f"v{lanes}f{bits}"
        arrays = [context.make_array(t)(context, builder, v)
                  for t, v in zip(sig.args[:2], args[:2])]
        self.a, self.panels = arrays
        self.k = self.const(self.conv.depth) if self.conv else \
            cgutils.unpack_tuple(builder, self.a.shape)[-1]  # (C-contiguous: row r at r*K)
        self.bias_data = context.make_array(sig.args[2])(context, builder, args[2]).data \
            if self.bias else None
        self.outs = [context.make_array(t)(context, builder, v) for t, v in
                     zip(sig.args[3], cgutils.unpack_tuple(builder, args[3]))]
        self.row, self.panel = (self._int(v, t) for v, t in zip(args[4:6], sig.args[4:6]))
        self.rows, self.k0, self.k1 = (self._int(v, t) for v, t in zip(args[6:9],
                                                                        sig.args[6:9]))
        self.n = cgutils.unpack_tuple(builder, self.outs[0].shape)[-1]

    def _int(self, value, ty):
        if value.type.width == 64:
            return value
        return (self.b.sext if ty.signed else self.b.zext)(value, self.i64)

    def const(self, n: int):
        return ir.Constant(self.i64, n)

    def emit(self) -> None:
        """Branch on the rows present to a tile of rows_max, about half as many, or one
        row, so few rows do not pay for a whole tile."""
        b = self.b
        sizes = sorted({self.rows_max, max(1, self.rows_max // 2), 1}, reverse=True)
        done = b.append_basic_block("tile.done")
        for size, smaller in zip(sizes, sizes[1:] + [None]):
            if smaller is None:
                self.tile(size)
                b.branch(done)
                break
            here = b.append_basic_block(f"tile.rows{size}")
            other = b.append_basic_block(f"tile.rows{smaller}.test")
            b.cbranch(b.icmp_signed(">", self.rows, self.const(smaller)), here, other)
            b.position_at_end(here)
            self.tile(size)
            b.branch(done)
            b.position_at_end(other)
        b.position_at_end(done)

    # -- the k loop ---------------------------------------------------------------------

    def tile(self, size: int) -> None:
        if self.conv:
            self.conv_tile(size)
            return
        b = self.b
        nv = self.width // self.lanes
        a_rows = [b.gep(self.a.data, [b.mul(r, self.k)]) for r in self.row_ids(size)]
        zero = ir.Constant(self.vty, None)
        edges = self.edges()
        first = b.icmp_signed("==", self.k0, self.const(0))
        # the partial sums of the k blocks before (none before the first: zero)
        carried = [[b.select(first, zero, self.vector_at(self.outs[0], a_row, v, edges))
                    for v in range(nv)] for a_row in self.row_ids(size)]
        total = self.k_loop(a_rows, self.k0, self.k1, carried, UNROLL)
        with b.if_else(b.icmp_signed(">=", self.k1, self.k), likely=True) as (last, more):
            with last:
                self.store(total, edges)
            with more:  # partial sums for the next k block, in the first output
                self.store([[[s] for s in sums_r] for sums_r in total], edges, ((0, 0),))

    def weights(self):
        """The start of the panel's (K, width) weights."""
        b = self.b
        return b.gep(self.panels.data, [b.mul(b.mul(self.panel, self.k),
                                              self.const(self.width))])

    def k_loop(self, a_rows, k0, k1, carried, unroll: int = 1) -> list:
        """carried[r][v] + the sums over k in [k0, k1) of a_rows[r][k] * the panel's row
        k: the loop's blocks, the builder left after them."""
        b = self.b
        size, nv = len(carried), len(carried[0])
        split = max(1, -(-_CHAINS // (size * nv)))
        steps = split * unroll
        weights = self.weights()
        zero = ir.Constant(self.vty, None)
        fn = b.function
        head, body = fn.append_basic_block("tile.k"), fn.append_basic_block("tile.k.body")
        rest_head = fn.append_basic_block("tile.k.rest")
        rest_body = fn.append_basic_block("tile.k.rest.body")
        end = fn.append_basic_block("tile.k.end")
        k_main = b.sub(k1, b.srem(b.sub(k1, k0), self.const(steps)))
        start = b.basic_block
        b.branch(head)

        b.position_at_end(head)
        k = b.phi(self.i64)
        k.add_incoming(k0, start)
        sums = [[[b.phi(self.vty) for _ in range(nv)] for _ in range(size)]
                for _ in range(split)]
        for u, part in enumerate(sums):
            for phi, init in zip(_flat(part), _flat(carried)):
                phi.add_incoming(init if u == 0 else zero, start)
        b.cbranch(b.icmp_signed("<", k, k_main), body, rest_head)

        b.position_at_end(body)
        stepped = [list(part) for part in sums]
        for u in range(steps):
            stepped[u % split] = self.step(a_rows, weights, b.add(k, self.const(u)),
                                           stepped[u % split])
        k.add_incoming(b.add(k, self.const(steps)), body)
        for phi, value in zip(_flat(sums), _flat(stepped)):
            phi.add_incoming(value, body)
        b.branch(head)

        b.position_at_end(rest_head)  # k % split steps left, into the first partial sums
        k_rest = b.phi(self.i64)
        k_rest.add_incoming(k, head)
        acc = [[b.phi(self.vty) for _ in range(nv)] for _ in range(size)]
        for phi, value in zip(_flat(acc), _flat(sums[0])):
            phi.add_incoming(value, head)
        b.cbranch(b.icmp_signed("<", k_rest, k1), rest_body, end)

        b.position_at_end(rest_body)
        stepped = self.step(a_rows, weights, k_rest, acc)
        k_rest.add_incoming(b.add(k_rest, self.const(1)), rest_body)
        for phi, value in zip(_flat(acc), _flat(stepped)):
            phi.add_incoming(value, rest_body)
        b.branch(rest_head)

        b.position_at_end(end)
        total = [list(r) for r in acc]
        for part in sums[1:]:
            total = [[b.fadd(x, y) for x, y in zip(tr, pr)] for tr, pr in zip(total, part)]
        return total

    # -- convolutions -------------------------------------------------------------------

    def conv_tile(self, size: int) -> None:
        """The tile's rows are output cells of the convolution (row = (n*OH + oh)*OW + ow
        of the NHWC output); row r's k = tap*Cin + ci reads the input at the tap's cell,
        or a zero row where the tap falls in the padding. Per tap, a k loop over the
        input channels (contiguous in NHWC) from a pointer per row."""
        b, g = self.b, self.conv
        cells = self.cells(size)
        limits = (g.h - 1 - (g.kh - 1) * g.dh, g.w - 1 - (g.kw - 1) * g.dw)
        if g.depth > UNROLLED_DEPTH or min(limits) < 0:
            sums = self.checked_taps(cells)
        else:  # every tap of every row inside the input: the unrolled steps
            inside = ir.Constant(ir.IntType(1), 1)
            for _, oh, ow in cells:
                for at, stride, pad, limit in ((oh, g.sh, g.top, limits[0]),
                                               (ow, g.sw, g.left, limits[1])):
                    first = b.sub(b.mul(at, self.const(stride)), self.const(pad))
                    inside = b.and_(inside, b.icmp_unsigned("<=", first, self.const(limit)))
            with b.if_else(inside, likely=True) as (fast, slow):
                with fast:
                    quick = self.unrolled_taps(cells)
                    quick_end = b.basic_block
                with slow:
                    checked = self.unrolled_taps(cells, checked=True)
                    checked_end = b.basic_block
            sums = [[b.phi(self.vty) for _ in row] for row in quick]
            for phi, x, y in zip(_flat(sums), _flat(quick), _flat(checked)):
                phi.add_incoming(x, quick_end)
                phi.add_incoming(y, checked_end)
        if g.pkh * g.pkw == 1:
            self.store(sums, self.edges())
            return
        window = self.const(g.pkh * g.pkw)  # (row and rows count whole windows)
        self.store(self.pool(sums), self.edges(), row=b.sdiv(self.row, window),
                   rows=b.sdiv(self.rows, window))

    def unrolled_taps(self, cells, checked: bool = False) -> list:
        """The sums of the rows' products, one step per k: each row's input at a
        constant offset from its first tap's, every tap inside the input; `checked`: a
        tap in the padding reads a zero row instead."""
        b, g = self.b, self.conv
        nv = self.width // self.lanes
        zeros = self.zero_row() if checked else None
        firsts, corners = [], []
        for n, oh, ow in cells:
            ih = b.sub(b.mul(oh, self.const(g.sh)), self.const(g.top))
            iw = b.sub(b.mul(ow, self.const(g.sw)), self.const(g.left))
            at = b.mul(b.add(b.mul(b.add(b.mul(n, self.const(g.h)), ih), self.const(g.w)),
                             iw), self.const(g.cin))
            firsts.append(b.gep(self.a.data, [at]))
            corners.append((ih, iw))
        weights = self.weights()
        sums = [[ir.Constant(self.vty, None)] * nv for _ in cells]
        k = 0
        for i in range(g.kh):
            for j in range(g.kw):
                tap = (i * g.dh * g.w + j * g.dw) * g.cin
                rows = [b.gep(first, [self.const(tap)]) for first in firsts]
                if checked:
                    rows = [b.select(b.and_(
                        b.icmp_unsigned("<", b.add(ih, self.const(i * g.dh)), self.const(g.h)),
                        b.icmp_unsigned("<", b.add(iw, self.const(j * g.dw)), self.const(g.w))),
                        row, zeros) for row, (ih, iw) in zip(rows, corners)]
                for ci in range(g.cin):
                    sums = self.step(rows, weights, self.const(k), sums, self.const(ci))
                    k += 1
        return sums

    def zero_row(self):
        """Cin zeros on the stack: what a tap in the padding reads."""
        b, g = self.b, self.conv
        zeros = cgutils.alloca_once(b, self.fty, size=self.const(g.cin), name="zero_row")
        item = 4 if isinstance(self.fty, ir.FloatType) else 8
        cgutils.memset(b, zeros, self.const(g.cin * item), 0)
        return zeros

    def checked_taps(self, cells) -> list:
        """The sums of the rows' products, a tap in the padding reading a zero row: a
        loop over the taps, each a k loop over the input channels."""
        b, g = self.b, self.conv
        nv = self.width // self.lanes
        size = len(cells)
        zeros = self.zero_row()
        zero = ir.Constant(self.vty, None)
        start = b.basic_block
        fn = b.function
        head, body = fn.append_basic_block("conv.tap"), fn.append_basic_block("conv.tap.body")
        end = fn.append_basic_block("conv.tap.end")
        b.branch(head)

        b.position_at_end(head)
        t = b.phi(self.i64)
        t.add_incoming(self.const(0), start)
        sums = [[b.phi(self.vty) for _ in range(nv)] for _ in range(size)]
        for phi in _flat(sums):
            phi.add_incoming(zero, start)
        b.cbranch(b.icmp_signed("<", t, self.const(g.kh * g.kw)), body, end)

        b.position_at_end(body)
        i, j = b.udiv(t, self.const(g.kw)), b.urem(t, self.const(g.kw))
        k0 = b.mul(t, self.const(g.cin))
        back = b.neg(k0)  # (the k loop reads a_row[k], k counted from the tap's first)
        a_rows = []
        for n, oh, ow in cells:
            ih = b.sub(b.add(b.mul(oh, self.const(g.sh)), b.mul(i, self.const(g.dh))),
                       self.const(g.top))
            iw = b.sub(b.add(b.mul(ow, self.const(g.sw)), b.mul(j, self.const(g.dw))),
                       self.const(g.left))
            inside = b.and_(b.icmp_unsigned("<", ih, self.const(g.h)),
                            b.icmp_unsigned("<", iw, self.const(g.w)))
            at = b.mul(b.add(b.mul(b.add(b.mul(n, self.const(g.h)), ih), self.const(g.w)),
                             iw), self.const(g.cin))
            row = b.select(inside, b.gep(self.a.data, [at]), zeros)
            a_rows.append(b.gep(row, [back]))
        stepped = self.k_loop(a_rows, k0, b.add(k0, self.const(g.cin)), sums)
        t.add_incoming(b.add(t, self.const(1)), b.basic_block)
        for phi, value in zip(_flat(sums), _flat(stepped)):
            phi.add_incoming(value, b.basic_block)
        b.branch(head)

        b.position_at_end(end)
        return sums

    def cells(self, size: int) -> list:
        """(n, oh, ow) of the conv cell each row computes: with a pool, rows go by
        windows, each window's cells (PKH*PKW rows, row-major) one after the other,
        windows in the pooled output's order (one division per window, not per row)."""
        b, g = self.b, self.conv
        window = g.pkh * g.pkw
        plane = self.const(g.ph * g.pw)
        cells = []
        for first in self.row_ids(size)[::window]:  # (clamped: the last window again)
            pooled = b.sdiv(first, self.const(window))
            rest = b.srem(pooled, plane)
            n, ph = b.sdiv(pooled, plane), b.sdiv(rest, self.const(g.pw))
            pw = b.srem(rest, self.const(g.pw))
            oh0, ow0 = b.mul(ph, self.const(g.psh)), b.mul(pw, self.const(g.psw))
            cells += [(n, b.add(oh0, self.const(e // g.pkw)), b.add(ow0, self.const(e % g.pkw)))
                      for e in range(window)]
        return cells

    def pool(self, sums) -> list:
        """Each window's maximum, vector by vector (NaN if any is: the reference's
        max)."""
        b = self.b
        window = self.conv.pkh * self.conv.pkw
        pooled = []
        for first in range(0, len(sums), window):
            best = list(sums[first])
            for row in sums[first + 1:first + window]:
                for v, x in enumerate(row):
                    y = best[v]  # y if it is NaN or above x, else x
                    best[v] = b.select(b.or_(b.fcmp_unordered("!=", y, y),
                                             b.fcmp_ordered(">", y, x)), y, x)
            pooled.append(best)
        return pooled

    def step(self, a_rows, weights, k, sums, a_at=None) -> list:
        """sums[r][v] + a_rows[r][k] (or [a_at]) * weights[k, v*lanes : (v+1)*lanes],
        fused."""
        b = self.b
        nv = len(sums[0])
        fma = cgutils.get_or_insert_function(
            b.module, ir.FunctionType(self.vty, [self.vty] * 3), f"llvm.fmuladd.{self.vname}")
        base = b.gep(weights, [b.mul(k, self.const(self.width))])
        w = [self.vector(b.gep(base, [self.const(v * self.lanes)])) for v in range(nv)]
        undef = ir.Constant(self.vty, ir.Undefined)
        lane0 = ir.Constant(ir.IntType(32), 0)
        splat = ir.Constant(ir.VectorType(ir.IntType(32), self.lanes), None)
        out = []
        for a_row, row_sums in zip(a_rows, sums):
            x = b.load(b.gep(a_row, [k if a_at is None else a_at]))
            x = b.shuffle_vector(b.insert_element(undef, x, lane0), undef, splat)
            out.append([b.call(fma, [x, wv, s]) for wv, s in zip(w, row_sums)])
        return out

    def vector(self, ptr):
        return self.b.load(self.b.bitcast(ptr, self.vty.as_pointer()), align=1)

    def row_ids(self, size: int) -> list:
        """The input rows a tile of `size` reads: rows past the last are clamped (computed
        again, never stored)."""
        b = self.b
        last = b.add(self.row, b.sub(self.rows, self.const(1)))
        return [b.add(self.row, self.const(r)) if r == 0 else b.select(
            b.icmp_signed("<", self.const(r), self.rows), b.add(self.row, self.const(r)),
            last) for r in range(size)]

    # -- the epilogue ---------------------------------------------------------------------

    def edges(self):
        """(whether the panel lies inside the output's N columns, and per vector the
        mask of its lanes that do)."""
        b = self.b
        col0 = b.mul(self.panel, self.const(self.width))
        left = b.sub(self.n, col0)
        lane = ir.Constant(ir.VectorType(self.i64, self.lanes), list(range(self.lanes)))
        masks = []
        for v in range(self.width // self.lanes):  # lane < left - v*lanes
            limit = b.sub(left, self.const(v * self.lanes))
            masks.append(b.icmp_signed("<", lane, self._splat(limit, lane.type)))
        return b.icmp_signed(">=", left, self.const(self.width)), masks

    def _splat(self, value, ty):
        b = self.b
        undef = ir.Constant(ty, ir.Undefined)
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), self.lanes), None)
        return b.shuffle_vector(b.insert_element(undef, value, ir.Constant(ir.IntType(32), 0)),
                                undef, zeros)

    def _address(self, out, row, v: int):
        b = self.b
        at = b.add(b.mul(row, self.n), b.mul(self.panel, self.const(self.width)))
        return b.bitcast(b.gep(out.data, [b.add(at, self.const(v * self.lanes))]),
                         self.vty.as_pointer())

    def vector_at(self, out, row, v: int, edges):
        """out[row, the panel's vector v], zero in lanes past N (a masked load)."""
        return self.masked_load(self._address(out, row, v), v, edges)

    def masked_load(self, ptr, v: int, edges):
        """The panel's vector v at `ptr`, zero in lanes past N, which are not read."""
        whole, masks = edges
        every = ir.Constant(masks[v].type, [1] * self.lanes)
        return self._masked(ptr, self.b.select(whole, every, masks[v]))

    def _masked(self, ptr, mask):
        b = self.b
        ptr = b.bitcast(ptr, self.vty.as_pointer())
        masked = cgutils.get_or_insert_function(
            b.module, ir.FunctionType(self.vty, [ptr.type, ir.IntType(32), mask.type,
                                                 self.vty]),
            f"llvm.masked.load.{self.vname}.p0")
        return b.call(masked, [ptr, ir.Constant(ir.IntType(32), 1), mask,
                               ir.Constant(self.vty, None)])

    def store(self, total, edges, stores=None, row=None, rows=None) -> None:
        """Bias and relu on each row present, then its stores (`stores`: (output, stage)
        pairs, the epilogue's by default): whole vectors where the panel is within N,
        masked ones in the last panel. `total[r][v]` is a row's vector of sums, or the
        list of its stages already."""
        b = self.b
        nv = self.width // self.lanes
        stores = stores or tuple(enumerate(self.stores))
        bias = []
        if self.bias and not isinstance(total[0][0], list):  # (no lane past N is read)
            at = b.gep(self.bias_data, [b.mul(self.panel, self.const(self.width))])
            bias = [self.masked_load(b.gep(at, [self.const(v * self.lanes)]), v, edges)
                    for v in range(nv)]
        zero = ir.Constant(self.vty, None)
        whole, masks = edges
        first, rows = (self.row, self.rows) if row is None else (row, rows)
        for r, sums in enumerate(total):
            present = b.icmp_signed("<", self.const(r), rows)
            with b.if_then(present, likely=True):
                row = b.add(first, self.const(r))
                stages = []
                for v, s in enumerate(sums):
                    if isinstance(s, list):
                        stages.append(s)
                        continue
                    values = [s]
                    if self.bias:
                        values.append(b.fadd(values[-1], bias[v]))
                    if self.relu:  # NumPy's maximum(x, 0): NaN stays, -0.0 gives +0.0
                        x = values[-1]
                        values.append(b.select(b.fcmp_unordered(">", x, zero), x, zero))
                    stages.append(values)
                with b.if_else(whole, likely=True) as (full, part):
                    with full:
                        self._stores(row, stages, stores, None)
                    with part:
                        self._stores(row, stages, stores, masks)

    def _stores(self, row, stages, stores, masks) -> None:
        b = self.b
        for o, stage in stores:
            for v, values in enumerate(stages):
                ptr = self._address(self.outs[o], row, v)
                if masks is None:
                    b.store(values[stage], ptr, align=1)
                else:
                    masked = cgutils.get_or_insert_function(
                        b.module, ir.FunctionType(ir.VoidType(), [
                            self.vty, ptr.type, ir.IntType(32), masks[v].type]),
                        f"llvm.masked.store.{self.vname}.p0")
                    b.call(masked, [values[stage], ptr,
                                    ir.Constant(ir.IntType(32), 1), masks[v]])


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution's constants, as the tile's spec carries them (after the epilogue's,
    comma-separated in this order): the input's H, W, Cin, the conv output's OH, OW,
    the filter's KH, KW, strides, dilations and the padding before the first row and
    column; then the max pool after it: window, strides and the pooled PH, PW (1, 1, 1,
    1, OH, OW: none)."""

    h: int
    w: int
    cin: int
    oh: int
    ow: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    top: int
    left: int
    pkh: int
    pkw: int
    psh: int
    psw: int
    ph: int
    pw: int

    @property
    def depth(self) -> int:
        return self.kh * self.kw * self.cin

    def spec(self) -> str:
        return ",".join(str(getattr(self, f.name)) for f in fields(self))


def _flat(nested):
    for x in nested:
        if isinstance(x, list):
            yield from _flat(x)
        else:
            yield x
