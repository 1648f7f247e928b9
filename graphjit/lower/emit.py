"""Emit loop IR for a fused region.

Every tensor of a region is an expression of the loop indices: `value(t, idx)`
builds it, reading region inputs with index expressions (broadcasts, transposes,
slices and pads are just index arithmetic) and assigning each intermediate to a
scalar temporary once per loop body. Row regions add per-row accumulators: each
reduction gets its own inner loop that recomputes its producers, so no
full-size intermediate is ever written to memory.
"""

from __future__ import annotations

import numpy as np

from codegen.loopir import (
    PARALLEL,
    SERIAL,
    Assign,
    Call,
    Const,
    Dim,
    Fn,
    Kernel,
    Load,
    Loop,
    Param,
    Store,
    Var,
)
from graphjit.errors import CompileError
from graphjit.graph import Tensor
from graphjit.lower.exprs import broadcast_index, const, int_mul
from graphjit.lower.partition import Region, row_scalar_shapes
from graphjit.registry import ElementRule, KernelBuilder, RowReduce, Scalar, get_op_def

PARALLEL_MIN_ELEMENTS = 1 << 15  # below this, threads cost more than they save



def reduction_of(op) -> RowReduce | None:
    """The op's reduction rule when it is a reduction (the registry's RowReduce)."""
    lowering = get_op_def(op.type).lowering
    return lowering if isinstance(lowering, RowReduce) else None


def is_expensive(op) -> bool:
    """Worth computing once and parking rather than recomputing per pass (exp, pow...)."""
    lowering = get_op_def(op.type).lowering
    return isinstance(lowering, (Scalar, ElementRule)) and lowering.expensive


class _Block:
    def __init__(self):
        self.stmts: list = []
        self.memo: dict = {}


class RegionEmitter:
    """Builds one Kernel for a fused region."""

    def __init__(self, region: Region, shapes: dict[Tensor, tuple], inputs: list[Tensor],
                 outputs: list[Tensor], const_values: dict[Tensor, np.ndarray]):
        self.region = region
        self.shapes = shapes
        self.members = {t for op in region.ops for t in op.outputs}
        self.const_values = const_values
        self.param_of: dict[Tensor, str] = {}
        params = []
        for i, t in enumerate(inputs):
            self.param_of[t] = f"in{i}"
            params.append(Param(f"in{i}", t.dtype.name, len(shapes[t]), False))
        self.outputs = outputs
        self._output_position = {t: i for i, t in enumerate(outputs)}
        for i, t in enumerate(outputs):
            params.append(Param(f"out{i}", t.dtype.name, len(shapes[t]), True))
        self.params = tuple(params)
        self.shape_of_param = {f"in{i}": shapes[t] for i, t in enumerate(inputs)}
        self.shape_of_param |= {f"out{i}": shapes[t] for i, t in enumerate(outputs)}
        self.counter = 0
        # analyses memoized per tensor: compile time stays linear in the region's size
        self._row_values: dict[Tensor, bool] = {}
        self._expensive_memo: dict[Tensor, bool] = {}
        self._feeds_memo: dict[tuple[Tensor, Tensor], bool] = {}
        self.block = _Block()
        self.row_block = self.block

    # -- helpers -----------------------------------------------------------
    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def domain_extent(self, axis: int):
        src = self._dim_source(axis)
        return src if src is not None else self.region.domain[axis]

    def _dim_source(self, axis: int):
        domain = self.region.domain
        size = domain[axis]
        for name, shape in self.shape_of_param.items():
            offset = len(domain) - len(shape)
            j = axis - offset
            if len(shape) == len(domain) and shape[j] == size:
                return Dim(name, j)
        for name, shape in self.shape_of_param.items():
            offset = len(domain) - len(shape)
            j = axis - offset
            if 0 <= j < len(shape) and shape[j] == size and size != 1:
                return Dim(name, j)
        return None

    def is_row_value(self, t: Tensor) -> bool:
        """Computed once per row (reductions and what depends only on them)?"""
        known = self._row_values.get(t)
        if known is None:
            known = self._row_values[t] = self._is_row_value(t)
        return known

    def _is_row_value(self, t: Tensor) -> bool:
        r = self.region
        if not (r.is_row and t in self.members):
            return False
        if reduction_of(t.op):
            return True
        shape = self.shapes[t]
        if shape not in row_scalar_shapes(r.domain, r.split):
            return False
        # when every reduced dim has size 1 the shapes cannot tell: follow the inputs, to
        # a reduction (an op of external inputs alone, a slice of them, is full-size)
        inside = [i for i in t.op.inputs if i in self.members]
        return shape != r.domain or (bool(inside) and all(self.is_row_value(i) for i in inside))

    def row_index(self, t: Tensor) -> tuple:
        lead = self.row_vars
        return tuple(lead) + (0,) * (len(self.shapes[t]) - len(lead))

    # -- values ------------------------------------------------------------
    def value(self, t: Tensor, idx: tuple):
        if t in self.param_of:
            return Load(self.param_of[t], tuple(idx))
        if t in self.const_values:  # size-1 constants become literals
            return const(self.const_values[t].reshape(()).item(), t.dtype.name)
        if self.is_row_value(t):
            return self.row_value(t)
        key = (t, tuple(idx))
        block = self.block
        if key in block.memo:
            return block.memo[key]
        expr = self.lower_op(t, tuple(idx))
        if isinstance(expr, (Var, Const, Load)):
            block.memo[key] = expr
            return expr
        name = self.fresh("t")
        block.stmts.append(Assign(name, expr, t.dtype.name))
        block.memo[key] = Var(name)
        return Var(name)

    def temp(self, expr, dtype: str = "int64"):
        """Name `expr` once in the current loop body (index arithmetic used several times)."""
        if isinstance(expr, (Var, Const, int)):
            return expr
        key = ("temp", expr)
        if key not in self.block.memo:
            name = self.fresh("k")
            self.block.stmts.append(Assign(name, expr, dtype))
            self.block.memo[key] = Var(name)
        return self.block.memo[key]

    def row_value(self, t: Tensor):
        memo = self.row_block.memo
        if t in memo:
            return memo[t]
        if reduction_of(t.op):
            result = self.emit_row_reduction(t)
        else:
            saved, self.block = self.block, self.row_block
            expr = self.lower_op(t, self.row_index(t))
            self.block = saved
            name = self.fresh("r")
            self.row_block.stmts.append(Assign(name, expr, t.dtype.name))
            result = Var(name)
        memo[t] = result
        return result

    def emit_row_reduction(self, t: Tensor) -> Var:
        op = t.op
        reduction = reduction_of(op)
        x = op.inputs[0]
        dtype = t.dtype.name
        acc = self.fresh("acc")
        self.row_block.stmts.append(
            Assign(acc, const(reduction.init(t.dtype.np), dtype), dtype))
        inner = _Block()
        saved, self.block = self.block, inner
        split = self.region.split
        inner_vars = [Var(f"j{a}") for a in range(split, len(self.region.domain))]
        full_idx = tuple(self.row_vars) + tuple(inner_vars)
        for e in self.scratch_written:  # parked by an earlier pass: read, don't recompute
            inner.memo[(e, full_idx)] = Load(self.param_of_out(self.scratch[e]), full_idx,
                                             self.parked(e))
        v = self.value(x, full_idx)
        inner.stmts.append(Assign(acc, Call(reduction.combine, (Var(acc), v), dtype),
                                  dtype))
        holder = self.scratch.get(x)
        if holder is not None and x not in self.scratch_written:
            inner.stmts.append(Store(self.param_of_out(holder), full_idx, v, self.parked(x)))
            self.scratch_written.add(x)
        self.block = saved
        body = tuple(inner.stmts)
        for axis in reversed(range(split, len(self.region.domain))):
            body = (Loop(f"j{axis}", 0, self.domain_extent(axis), body),)
        self.row_block.stmts.extend(body)
        if reduction.mean:
            count = 1
            for axis in range(split, len(self.region.domain)):
                count = int_mul(count, self.domain_extent(axis))
            mean = self.fresh("mean")
            self.row_block.stmts.append(Assign(mean, Call(Fn.REALDIV, (
                Var(acc), Call(Fn.CAST, (count,), dtype)), dtype), dtype))
            return Var(mean)
        return Var(acc)

    def lower_op(self, t: Tensor, idx: tuple):
        """Element `idx` of `t`, by its op's lowering in the registry."""
        op = t.op
        lowering = get_op_def(op.type).lowering
        dtype, out_shape = t.dtype.name, self.shapes[t]
        if isinstance(lowering, Scalar):
            return Call(lowering.fn, tuple(
                self.value(x, broadcast_index(self.shapes[x], out_shape, idx))
                for x in op.inputs), dtype)
        if isinstance(lowering, ElementRule):
            return lowering.rule(self, op, idx, out_shape, dtype)
        if isinstance(lowering, KernelBuilder) and lowering.identity_if_same_shape:
            return self.value(op.inputs[0], idx)  # fused only when its shapes match
        raise CompileError(f"{op.describe()}: op type {op.type} has no element rule")

    # -- kernels -------------------------------------------------------------
    def kernel(self, name: str) -> Kernel:
        r = self.region
        domain = r.domain
        size = int(np.prod(domain)) if domain else 1
        split = r.split if r.is_row else len(domain)
        outer_vars = [Var(f"i{a}") for a in range(split)]
        self.row_vars = outer_vars
        top = _Block()
        self.row_block = self.block = top
        full = [t for t in self.outputs if not self.is_row_value(t)]
        rows = [t for t in self.outputs if self.is_row_value(t)]
        self.scratch = self.scratch_outputs(full)
        self.scratch_written = set()
        if r.is_row:
            # Every reduction's pass first, in graph order, then the fetched per-row values:
            # the final pass then reads each value a reduction pass parked instead of
            # computing it again (softmax's exp).
            for op in r.ops:
                if reduction_of(op):
                    self.row_value(op.outputs[0])
            for t in rows:
                self.row_value(t)
            if full:
                inner = _Block()
                self.block = inner
                full_idx = tuple(outer_vars) + tuple(
                    Var(f"j{a}") for a in range(split, len(domain)))
                for e in self.scratch_written:
                    inner.memo[(e, full_idx)] = Load(self.param_of_out(self.scratch[e]),
                                                     full_idx, self.parked(e))
                stores = [self.final_store(t, full_idx) for t in full]
                body = tuple(inner.stmts) + tuple(stores)
                for axis in reversed(range(split, len(domain))):
                    body = (Loop(f"j{axis}", 0, self.domain_extent(axis), body),)
                top.stmts.extend(body)
            for t in rows:
                top.stmts.append(Store(self.param_of_out(t), self.row_index(t),
                                       self.row_value(t)))
        else:
            for t in full:
                top.stmts.append(Store(self.param_of_out(t), tuple(outer_vars),
                                       self.value(t, tuple(outer_vars))))
        body = tuple(top.stmts)
        parallel = size >= PARALLEL_MIN_ELEMENTS
        for axis in reversed(range(split)):
            kind = PARALLEL if parallel and axis == 0 and domain[0] > 1 else SERIAL
            body = (Loop(f"i{axis}", 0, self.domain_extent(axis), body, kind),)
        return Kernel(name, self.params, body)

    def parked(self, e: Tensor) -> str:
        """The name a parked value goes by in the IR (structural: its place in the plan)."""
        return f"v{self._output_position[self.scratch[e]]}"

    def final_store(self, t: Tensor, idx: tuple) -> Store:
        """The store of a full-size output. Every one of them comes after all the loop body's
        reads, so no output overwrites a value parked in it before that value's last read;
        a parked value stored as it is gets a name first, for the same reason."""
        v = self.value(t, idx)
        if isinstance(v, Load) and v.holds:
            name = self.fresh("t")
            self.block.stmts.append(Assign(name, v, t.dtype.name))
            v = Var(name)
        return Store(self.param_of_out(t), idx, v)

    def scratch_outputs(self, full: list[Tensor]) -> dict:
        """Reduction inputs worth keeping between passes, and the output that holds them.

        Softmax reads exp(x - max) in its sum pass and again in its final pass;
        writing it into the output during the sum pass and reading it back is
        cheaper than evaluating exp twice (the final pass then reads what it
        overwrites, element by element).
        """
        r = self.region
        if not r.is_row:
            return {}
        reduced = [op.inputs[0] for op in r.ops if reduction_of(op)]
        plan: dict[Tensor, Tensor] = {}
        for y in full:
            if self.shapes[y] != r.domain or y in plan.values():
                continue
            for e in reduced:
                if e not in plan and e in self.members and e.dtype == y.dtype \
                        and self.shapes[e] == r.domain and not self.is_row_value(e) \
                        and self._expensive(e) and self._feeds(e, y):
                    plan[e] = y
                    break
        return plan

    def _expensive(self, t: Tensor) -> bool:
        known = self._expensive_memo.get(t)
        if known is None:
            known = t in self.members and not self.is_row_value(t) and (
                is_expensive(t.op) or any(self._expensive(i) for i in t.op.inputs))
            self._expensive_memo[t] = known
        return known

    def _feeds(self, e: Tensor, y: Tensor) -> bool:
        """Does y (at full level, same index) use e?"""
        if y is e:
            return True
        known = self._feeds_memo.get((e, y))
        if known is None:
            known = y in self.members and not self.is_row_value(y) and any(
                self._feeds(e, i) for i in y.op.inputs)
            self._feeds_memo[(e, y)] = known
        return known

    def param_of_out(self, t: Tensor) -> str:
        return f"out{self._output_position[t]}"

