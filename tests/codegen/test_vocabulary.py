"""The loop IR's vocabulary (codegen.loopir.Fn, LoopKind): verify refuses what is outside
it, and a member prints and hashes as its string."""

from __future__ import annotations

import pytest

from codegen.loopir import (
    PARALLEL,
    Call,
    Dim,
    Fn,
    Kernel,
    Load,
    Loop,
    LoopKind,
    Param,
    Store,
    Var,
    VerifyError,
    format_kernel,
    kernel_hash,
    verify,
)

I = Var("i")


def one_call(value: Call) -> Kernel:
    params = (Param("x", "float32", 1, False), Param("out0", value.dtype, 1, True))
    return Kernel("k", params, (Loop("i", 0, Dim("x", 0), (Store("out0", (I,), value),)),))


X = Load("x", (I,))


@pytest.mark.parametrize("value, message", [
    (Call("gelu", (X,), "float32"), "no scalar function"),
    (Call("exp", (X, X), "float32"), "takes 1 arguments"),
    (Call("select", (X, X), "float32"), "takes 3 arguments"),
    (Call("tanh", (Call("cast", (X,), "int32"),), "int32"), "function of floats"),
    (Call("reduce_add", (Call("cast", (X,), "int32"),) * 2, "int32"), "function of floats"),
    (Call("add", (Call("cast", (X,), "bool"),) * 2, "bool"), "function of numbers"),
    (Call("less", (Call("cast", (X,), "bool"),) * 2, "bool"), "orders numbers"),
])
def test_verify_refuses_what_is_outside_the_vocabulary(value, message):
    with pytest.raises(VerifyError, match=message):
        verify(one_call(value))


def test_verify_refuses_an_unknown_loop_kind():
    kernel = one_call(Call(Fn.IDENTITY, (X,), "float32"))
    kernel = Kernel("k", kernel.params, (Loop("i", 0, Dim("x", 0), kernel.body[0].body,
                                              "vectorized"),))
    with pytest.raises(VerifyError, match="unknown kind"):
        verify(kernel)


def test_members_print_and_hash_as_their_strings():
    """Kernel hashes key the on-disk cache: the enum must not change them."""
    def kernel(fn, kind):
        value = Call(fn, (Call("mul", (X, X), "float32"),), "float32")
        k = one_call(value)
        return Kernel("k", k.params, (Loop("i", 0, Dim("x", 0), k.body[0].body, kind),))
    typed, plain = kernel(Fn.TANH, LoopKind.PARALLEL), kernel("tanh", "parallel")
    assert typed == plain and hash(typed) == hash(plain)
    assert format_kernel(typed) == format_kernel(plain)
    assert "out0[i] = tanh(mul(x[i], x[i]))" in format_kernel(typed)
    assert kernel_hash(typed) == kernel_hash(plain) == "9c52f6553f7a4d96b5ffc86f"
    assert PARALLEL is LoopKind.PARALLEL and f"{PARALLEL}" == "parallel"
