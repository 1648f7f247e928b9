"""Numba intrinsics for bit reinterpretation and select, which Numba does not expose.

vecmath builds 2**n from exponent bits and reads exponents out of floats; both need an
LLVM ``bitcast``. ``select`` emits an LLVM ``select`` so branch-free code stays
branch-free without relying on SimplifyCFG to flatten a Python conditional expression.
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


def _to_width(builder: ir.IRBuilder, value: ir.Value, from_type: types.Integer, bits: int):
    # Numba widens integer arithmetic to int64; callers pass such values back here,
    # so truncate (or extend) to the float's width instead of refusing them.
    width = from_type.bitwidth
    if width > bits:
        return builder.trunc(value, ir.IntType(bits))
    if width < bits:
        return (builder.sext if from_type.signed else builder.zext)(value, ir.IntType(bits))
    return value


def _float_to_bits(ftype: types.Float, itype: types.Integer):
    def typer(typingctx, x):
        if x != ftype:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.IntType(itype.bitwidth))

        return itype(ftype), codegen

    return typer


def _bits_to_float(ftype: types.Float, bits: int):
    def typer(typingctx, i):
        if not isinstance(i, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            raw = _to_width(builder, args[0], sig.args[0], bits)
            return builder.bitcast(raw, context.get_value_type(ftype))

        return ftype(i), codegen

    return typer


#: float32 -> int32 with the same bits.
as_int32 = intrinsic(_float_to_bits(types.float32, types.int32))
#: float64 -> int64 with the same bits.
as_int64 = intrinsic(_float_to_bits(types.float64, types.int64))
#: integer (low 32 bits) -> float32 with those bits.
as_float32 = intrinsic(_bits_to_float(types.float32, 32))
#: integer (low 64 bits) -> float64 with those bits.
as_float64 = intrinsic(_bits_to_float(types.float64, 64))


@intrinsic
def select(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM select; ``a`` and ``b`` must have the same type."""
    if not isinstance(cond, types.Boolean) or a != b:
        return None

    def codegen(context, builder, sig, args):
        return builder.select(args[0], args[1], args[2])

    return a(cond, a, b), codegen


@intrinsic
def ldexp(typingctx, x, n):
    """x * 2**n rounded once (overflow to inf, a denormal result rounded once), as LLVM's
    llvm.ldexp. Only where the target scales in hardware: AVX-512's vscalefps/pd, one
    instruction per vector. Elsewhere LLVM has no vector form and calls libm's ldexp per
    element (codegen.vecmath chooses by the target's features)."""
    if not (isinstance(x, types.Float) and isinstance(n, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        value, exponent = args
        exponent = _to_width(builder, exponent, sig.args[1], 32)
        fn = builder.module.declare_intrinsic(
            "llvm.ldexp", [value.type, exponent.type],
            ir.FunctionType(value.type, [value.type, exponent.type]))
        return builder.call(fn, [value, exponent])

    return x(x, n), codegen
