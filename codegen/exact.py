"""Scalar intrinsics that give generated kernels NumPy's results on special values.

Where Numba's own spelling of an operation differs from NumPy (np.sign(-0.0) is -0.0,
int64 MIN // -1 is 0) or leaves the result undefined (a float -> int8 conversion out of
range is LLVM poison, so the answer depends on whether the loop vectorized), the
backend emits one of these instead. Each is a Numba intrinsic that writes the LLVM
instructions directly: no fast-math flag, inlining decision or undefined behaviour sits
between a kernel and the result. The fast-math policy itself is in the README
("Numerics"): kernels carry no flag but the one on a reduction's accumulation here.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# 'reassoc' on a reduction's accumulating instruction is what lets LLVM split the sum
# into vector lanes; on that one instruction it only reorders the sum (as any parallel
# or vectorized sum does), while kernel-wide it would also rewrite (x - m) - s into
# x - (m + s) and lose log_softmax's precision.
REDUCTION_FLAGS = ("reassoc",)


def _float_pair(typingctx, a, b):
    return isinstance(a, types.Float) and a == b


def _accumulate(op: str):
    def typer(typingctx, a, b):
        if not _float_pair(typingctx, a, b):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1], flags=REDUCTION_FLAGS)
        return a(a, b), codegen
    return typer


#: acc + x for a reduction's accumulator: reassociable, so the loop vectorizes.
reduce_add = intrinsic(_accumulate("fadd"))
#: acc * x for a reduction's accumulator (see reduce_add).
reduce_mul = intrinsic(_accumulate("fmul"))


@intrinsic
def reduce_muladd(typingctx, acc, x, y):
    """acc + x * y for a dot product's accumulator: 'reassoc' on the add (as reduce_add)
    and 'contract' on both, so LLVM may fuse them into one FMA where the CPU has it (a
    register-blocked matrix product ran 1.3x faster so; the fused result rounds once,
    which is closer to the exact sum of products, not further)."""
    if not (isinstance(acc, types.Float) and acc == x == y):
        return None

    def codegen(context, builder, sig, args):
        product = builder.fmul(args[1], args[2], flags=("contract",))
        return builder.fadd(args[0], product, flags=REDUCTION_FLAGS + ("contract",))
    return acc(acc, x, y), codegen


def _reduce_extreme(name: str):
    """llvm.maximum/minimum (NaN propagates) with 'nsz': without it the vector loop pays a
    blend per step to order -0.0 < +0.0 (softmax's row max pass ran 15-20% slower). The
    flag only lets a row max of -0.0 and +0.0 be either zero; NumPy's depends on their
    order anyway."""
    def typer(typingctx, a, b):
        if not _float_pair(typingctx, a, b):
            return None

        def codegen(context, builder, sig, args):
            ty = args[0].type
            fn = builder.module.declare_intrinsic(f"llvm.{name}", [ty],
                                                  ir.FunctionType(ty, [ty, ty]))
            return builder.call(fn, args, fastmath=("nsz",))
        return a(a, b), codegen
    return typer


#: max(acc, x) for a reduction's accumulator: exactly associative, so it vectorizes.
reduce_max = intrinsic(_reduce_extreme("maximum"))
#: min(acc, x) for a reduction's accumulator (see reduce_max).
reduce_min = intrinsic(_reduce_extreme("minimum"))


@intrinsic
def mul_add(typingctx, a, b, c):
    """a * b + c through llvm.fmuladd: one rounding where the CPU has a fused multiply-add
    (the backend's target decides, not this machine), two roundings where it has none.
    Meant for a matrix product's accumulation, whose order and rounding no reference
    fixes (BLAS fuses too); kernel-wide 'contract' would also fuse what NumPy rounds
    twice elsewhere."""
    if not (_float_pair(typingctx, a, b) and a == c):
        return None

    def codegen(context, builder, sig, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.fmuladd", [ty],
                                              ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fn, args)
    return a(a, b, c), codegen


def _select_extreme(pred: str):
    """NumPy's float maximum/minimum: a NaN in either operand propagates, and of two
    equal operands (-0.0 and +0.0) the second is returned, as np.maximum does at every
    length. llvm.maximum would order -0.0 < +0.0 instead."""
    def typer(typingctx, a, b):
        if not _float_pair(typingctx, a, b):
            return None

        def codegen(context, builder, sig, args):
            x, y = args
            pick_x = builder.or_(builder.fcmp_ordered(pred, x, y),
                                 builder.fcmp_unordered("uno", x, x))
            return builder.select(pick_x, x, y)
        return a(a, b), codegen
    return typer


np_maximum = intrinsic(_select_extreme(">"))
np_minimum = intrinsic(_select_extreme("<"))


@intrinsic
def np_sign(typingctx, x):
    """NumPy's sign: 1, -1 or 0; +0.0 for either float zero, NaN for NaN. (Numba's
    np.sign gives -0.0 for -0.0, and 255 for uint8 254.)"""
    if isinstance(x, types.Literal):
        x = x.literal_type
    if not isinstance(x, (types.Float, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        v = args[0]
        c = ir.Constant
        zero = c(v.type, 0.0 if isinstance(x, types.Float) else 0)
        if isinstance(x, types.Float):
            less, more = builder.fcmp_ordered("<", v, zero), builder.fcmp_ordered(">", v, zero)
            out = builder.select(builder.fcmp_ordered("==", v, zero), zero, v)  # NaN stays
            out = builder.select(less, c(v.type, -1.0), out)
            return builder.select(more, c(v.type, 1.0), out)
        more = (builder.icmp_signed if x.signed else builder.icmp_unsigned)(">", v, zero)
        out = builder.select(more, c(v.type, 1), zero)
        if x.signed:
            out = builder.select(builder.icmp_signed("<", v, zero), c(v.type, -1), out)
        return out
    return x(x), codegen


def _to_int(target: types.Integer):
    """Conversion to `target`, defined for every input.

    Floats truncate toward zero into int32 (int64 for an int64 or uint32 target); NaN,
    +-inf and values outside that range give its minimum, x86's "integer indefinite".
    The result then wraps to the target's width like any integer narrowing: float32 300
    -> int8 is 44, as NumPy's (C's) conversion on x86-64 gives at every array length. A
    plain fptosi would be poison out of range, and the vectorized and scalar loops would
    disagree (127 against 44). A uint64 target also takes [2**63, 2**64) exactly.
    """
    def typer(typingctx, x):
        if isinstance(x, types.Literal):
            x = x.literal_type
        if not isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            (src,), v = sig.args, args[0]
            if not isinstance(src, types.Float):
                return context.cast(builder, v, src, target)
            bits = 64 if target.bitwidth == 64 or target == types.uint32 else 32
            wide = ir.IntType(bits)
            lo, hi = ir.Constant(v.type, -2.0 ** (bits - 1)), ir.Constant(v.type, 2.0 ** (bits - 1))
            inside = builder.and_(builder.fcmp_ordered(">=", v, lo),
                                  builder.fcmp_ordered("<", v, hi))
            value = builder.select(inside, builder.fptosi(v, wide),
                                   ir.Constant(wide, -(1 << (bits - 1))))
            if target == types.uint64:  # [2**63, 2**64): the unsigned conversion is exact
                top = ir.Constant(v.type, 2.0 ** 64)
                upper = builder.and_(builder.fcmp_ordered(">=", v, hi),
                                     builder.fcmp_ordered("<", v, top))
                value = builder.select(upper, builder.fptoui(v, wide), value)
            if bits == target.bitwidth:
                return value
            return builder.trunc(value, ir.IntType(target.bitwidth))
        return target(x), codegen
    return intrinsic(typer)


#: Conversions to each integer dtype graphjit has, by dtype name.
TO_INT = {name: _to_int(getattr(types, name))
          for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")}
to_int8, to_int16, to_int32, to_int64, to_uint8, to_uint16, to_uint32, to_uint64 = (
    TO_INT[n] for n in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"))


def _integers(a, b):
    """The integer types of two arguments (a literal stands for its type), else None."""
    a, b = (t.literal_type if isinstance(t, types.Literal) else t for t in (a, b))
    if not (isinstance(a, types.Integer) and isinstance(b, types.Integer)):
        return None
    return a, b


def _int_pair(typingctx, a, b):
    pair = _integers(a, b)
    if pair is None:
        return None
    a, b = pair
    return a if a == b else typingctx.unify_pairs(a, b)


def _rounds_toward_zero(builder, r, d):
    """C's truncating division differs from floor division here: the remainder r is
    nonzero and its sign differs from the divisor d's (then the quotient steps down)."""
    zero = ir.Constant(r.type, 0)
    inexact = builder.icmp_signed("!=", r, zero)
    signs_differ = builder.icmp_signed("<", builder.xor(r, d), zero)
    return builder.and_(inexact, signs_differ)


def _safe_divisor(builder, b, signed: bool):
    """b, with 0 (and -1 when signed) replaced by 1: the hardware divide traps on x / 0
    and MIN / -1, and LLVM calls both undefined."""
    bad = builder.icmp_signed("==", b, ir.Constant(b.type, 0))
    if signed:
        bad = builder.or_(bad, builder.icmp_signed("==", b, ir.Constant(b.type, -1)))
    return builder.select(bad, ir.Constant(b.type, 1), b)


def _int_binary(emit):
    """An intrinsic of two integers computed in their common type by
    `emit(builder, x, y, ty)`: Numba's own integer arithmetic is marked 'nsw' (overflow
    is poison, so LLVM folds MAX + 1 < MAX to False) and widens int8/int16/int32 to int64,
    where NumPy wraps in the operands' width."""
    def typer(typingctx, a, b):
        ty = _int_pair(typingctx, a, b)
        if ty is None:
            return None

        def codegen(context, builder, sig, args):
            x, y = (context.cast(builder, v, t, ty) for v, t in zip(args, sig.args))
            return emit(builder, x, y, ty)
        return ty(ty, ty), codegen
    return intrinsic(typer)


wrap_add = _int_binary(lambda builder, x, y, ty: builder.add(x, y))
wrap_sub = _int_binary(lambda builder, x, y, ty: builder.sub(x, y))
wrap_mul = _int_binary(lambda builder, x, y, ty: builder.mul(x, y))


def _divide(builder, x, y, ty, floor: bool):
    """x / y as NumPy's floor_divide (floor) or TF's integer Mean (truncated):
    x / 0 = 0, MIN / -1 = MIN (it wraps)."""
    zero = ir.Constant(x.type, 0)
    d = _safe_divisor(builder, y, ty.signed)
    if not ty.signed:
        return builder.select(builder.icmp_unsigned("==", y, zero), zero, builder.udiv(x, d))
    q = builder.sdiv(x, d)
    if floor:
        q = builder.select(_rounds_toward_zero(builder, builder.srem(x, d), d),
                           builder.sub(q, ir.Constant(q.type, 1)), q)
    q = builder.select(builder.icmp_signed("==", y, ir.Constant(y.type, -1)),
                       builder.sub(zero, x), q)
    return builder.select(builder.icmp_signed("==", y, zero), zero, q)


def _remainder(builder, x, y, ty):
    """NumPy's integer remainder (the divisor's sign): x % 0 = 0, MIN % -1 = 0."""
    d = _safe_divisor(builder, y, ty.signed)  # x % 1 = 0, NumPy's answer for both
    if not ty.signed:
        return builder.urem(x, d)
    r = builder.srem(x, d)
    return builder.select(_rounds_toward_zero(builder, r, d), builder.add(r, d), r)


int_floordiv = _int_binary(lambda builder, x, y, ty: _divide(builder, x, y, ty, floor=True))
int_truncdiv = _int_binary(lambda builder, x, y, ty: _divide(builder, x, y, ty, floor=False))
int_floormod = _int_binary(_remainder)


@intrinsic
def int_pow(typingctx, a, b):
    """NumPy's integer power by repeated squaring in a's width (wrapping). For a negative
    exponent NumPy raises; a kernel cannot, and gives 1 / a**-b truncated: 1 for a = 1,
    +-1 for a = -1, else 0 (0 also for 0, as x // 0 is)."""
    pair = _integers(a, b)
    if pair is None:
        return None
    a, b = pair

    def codegen(context, builder, sig, args):
        x, n = args
        ty, nty = x.type, n.type
        one, zero = ir.Constant(ty, 1), ir.Constant(nty, 0)
        entry = builder.block
        loop = builder.append_basic_block("int_pow.loop")
        done = builder.append_basic_block("int_pow.done")
        start = builder.icmp_signed(">", n, zero) if b.signed else \
            builder.icmp_unsigned(">", n, zero)
        builder.cbranch(start, loop, done)
        builder.position_at_end(loop)
        result, base, left = builder.phi(ty), builder.phi(ty), builder.phi(nty)
        odd = builder.trunc(left, ir.IntType(1))
        new_result = builder.select(odd, builder.mul(result, base), result)
        new_base = builder.mul(base, base)
        new_left = builder.lshr(left, ir.Constant(nty, 1))
        result.add_incoming(one, entry)
        base.add_incoming(x, entry)
        left.add_incoming(n, entry)
        result.add_incoming(new_result, loop)
        base.add_incoming(new_base, loop)
        left.add_incoming(new_left, loop)
        builder.cbranch(builder.icmp_unsigned("!=", new_left, zero), loop, done)
        builder.position_at_end(done)
        power = builder.phi(ty)
        power.add_incoming(one, entry)
        power.add_incoming(new_result, loop)
        if not b.signed:
            return power
        # a negative exponent: 1 for a = 1, (-1)**n for a = -1, else 0
        minus_one = ir.Constant(ty, -1)
        sign = builder.select(builder.trunc(n, ir.IntType(1)), minus_one, one)
        inverse = builder.select(builder.icmp_signed("==", x, minus_one), sign,
                                 ir.Constant(ty, 0))
        inverse = builder.select(builder.icmp_signed("==", x, one), one, inverse)
        return builder.select(builder.icmp_signed("<", n, zero), inverse, power)
    return a(a, b), codegen
