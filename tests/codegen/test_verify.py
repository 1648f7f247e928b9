"""codegen.loopir.verify: broken kernels are refused with a message naming the rule."""

from __future__ import annotations

import pytest

from codegen.loopir import (
    Assign,
    Call,
    Const,
    Dim,
    Kernel,
    Load,
    Loop,
    Param,
    Store,
    Var,
    VerifyError,
    verify,
)

X = Param("in0", "float32", 2, False)
Y = Param("out0", "float32", 2, True)
Z = Param("out1", "float32", 2, True)
I, J = Var("i0"), Var("j1")


def rows(*body, params=(X, Y)) -> Kernel:
    """for i0: <body> — over rows of in0."""
    return Kernel("k", params, (Loop("i0", 0, Dim("in0", 0), tuple(body)),))


def cols(*body) -> Loop:
    return Loop("j1", 0, Dim("in0", 1), tuple(body))


def tanh(idx=(I, J)) -> Call:
    return Call("tanh", (Load("in0", idx),), "float32")


def test_a_well_formed_kernel_passes():
    verify(rows(cols(Assign("t", tanh(), "float32"), Store("out0", (I, J), Var("t")))))


def test_an_unsigned_index_passes():
    """uint64: an index the emitter knows is not negative (no wraparound check)."""
    flat = Call("cast", (Call("add", (Call("mul", (I, Dim("in0", 1)), "int64"), J), "int64"),),
                "uint64")
    verify(rows(cols(Store("out0", (I, J), Load("flat", (flat,)))),
                params=(X, Param("flat", "float32", 1, False), Y)))


def test_parked_value_read_back_after_its_pass_passes():
    """Softmax's shape: park exp in the output, read it back, overwrite it last."""
    parked = Load("out0", (I, J), "v0")
    verify(rows(
        cols(Store("out0", (I, J), tanh(), "v0")),
        cols(Assign("t", Call("mul", (parked, parked), "float32"), "float32"),
             Store("out1", (I, J), parked),
             Store("out0", (I, J), Var("t"))),
        params=(X, Y, Z)))


@pytest.mark.parametrize("kernel, message", [
    (rows(cols(Store("out0", (I, J), Var("t")))), "'t' is read before it is defined"),
    (rows(cols(Assign("t", tanh(), "float32")), Store("out0", (I, 0), Var("t"))),
     "'t' is read before it is defined"),  # a loop body is a scope
    (rows(cols(Store("out0", (I,), tanh()))), "rank-2"),
    (rows(cols(Store("out0", (I, J), Load("in0", (I, J, 0))))), "rank-2"),
    (rows(cols(Assign("t", tanh(), "float64"))), "float64 assigned a float32"),
    (rows(cols(Store("out0", (I, J), Const(1.0, "float64")))), "store of a float64"),
    (rows(cols(Store("out0", (I, J), Call("add", (tanh(), Const(1, "int32")), "float32")))),
     "arguments of types"),
    (rows(cols(Store("out0", (I, J), Call("select", (tanh(), tanh(), tanh()), "float32")))),
     "select takes"),
    (rows(cols(Store("in0", (I, J), tanh()))), "store into input"),
    (rows(cols(Store("out0", (I, J), Load("out0", (I, J))))), "read before anything is stored"),
    (rows(cols(Store("out0", (I, J), Load("in0", (I, Const(0.5, "float32")))))),
     "not an integer"),
    (rows(cols(Store("out0", (I, J), Call("tanh", (Load("in0", (I, J)),), "float32"))),
          cols(Store("out0", (I, J), Load("out0", (I, J), "v0")))), "reads parked value 'v0'"),
])
def test_broken_kernels_are_refused(kernel, message):
    with pytest.raises(VerifyError, match=message):
        verify(kernel)


def test_a_parked_value_overwritten_before_its_read_is_refused():
    """The bug of wave 1: the output's own store ran before a sibling read the parked value."""
    parked = Load("out0", (I, J), "v0")
    kernel = rows(
        cols(Store("out0", (I, J), tanh(), "v0")),
        cols(Store("out0", (I, J), Call("mul", (parked, parked), "float32")),
             Store("out1", (I, J), parked)),
        params=(X, Y, Z))
    with pytest.raises(VerifyError, match="a store overwrote it before this read"):
        verify(kernel)


def test_a_plain_read_of_an_output_holding_a_parked_value_is_refused():
    kernel = rows(cols(Store("out0", (I, J), tanh(), "v0")),
                  cols(Store("out1", (I, J), Load("out0", (I, J)))), params=(X, Y, Z))
    with pytest.raises(VerifyError, match="own value while it holds the parked value"):
        verify(kernel)


def test_a_store_at_another_index_after_a_parked_read_is_refused():
    """out0[i, j + 1] = ... would overwrite what the next iteration reads as parked."""
    parked = Load("out0", (I, J), "v0")
    kernel = rows(cols(Store("out0", (I, J), tanh(), "v0")),
                  cols(Store("out1", (I, J), parked),
                       Store("out0", (I, Call("add", (J, 1), "int64")), parked)),
                  params=(X, Y, Z))
    with pytest.raises(VerifyError, match="another index than a parked read"):
        verify(kernel)


def test_accumulating_into_an_output_passes():
    """reduce kernels: initialise, then out[i] = out[i] + x[i, j]."""
    acc = Param("out0", "float32", 1, True)
    kernel = Kernel("k", (X, acc), (
        Loop("o0", 0, Dim("out0", 0), (Store("out0", (Var("o0"),), Const(0.0, "float32")),)),
        Loop("i0", 0, Dim("in0", 0), (cols(Store("out0", (I,), Call(
            "add", (Load("out0", (I,)), Load("in0", (I, J))), "float32"))),)),
    ))
    verify(kernel)


def test_duplicate_parameter_names_are_refused():
    with pytest.raises(VerifyError, match="duplicate parameter"):
        verify(Kernel("k", (X, Param("in0", "float32", 2, True)), ()))


PANELS = Param("in1", "float32", 3, False)


def _tile(**change) -> Kernel:
    """One matmul tile of in0 by the panels in1 into out0 (codegen.microkernel)."""
    from dataclasses import replace

    from codegen.loopir import MatmulTile
    tile = MatmulTile("in0", "in1", "", ("out0",), (0,), False, I, 0, 8, 0, Dim("in0", 1),
                      8, 32, 16)
    return rows(replace(tile, **change), params=(X, PANELS, Y))


def test_a_matmul_tile_passes():
    verify(_tile())


@pytest.mark.parametrize("change, message", [
    ({"panels": "in0"}, "'in0' is no input of rank 3"),
    ({"outs": ("in0",)}, "'in0' is no output of rank 2"),
    ({"stores": (1,)}, r"stores \(1,\) for outputs \('out0',\) of 1 stages"),
    ({"outs": ("out0", "out0"), "stores": (0,)}, "stores"),
    ({"bias": "in9"}, "'in9' is no input of rank 1"),
    ({"rows": Const(1.0, "float32")}, "is not an integer"),
    ({"width": 24}, "width 24 in vectors of 16"),
])
def test_broken_matmul_tiles_are_refused(change, message):
    with pytest.raises(VerifyError, match=message):
        verify(_tile(**change))


def test_a_product_tile_over_stacks_of_rows_needs_both_of_one_rank():
    """(An RNN's inputs for every step, (T, B, K), by constant weights into (T, B, N).)"""
    from dataclasses import replace
    tile = _tile().body[0].body[0]
    stack, out = Param("in0", "float32", 3, False), Param("out0", "float32", 3, True)
    verify(rows(tile, params=(stack, PANELS, out)))
    with pytest.raises(VerifyError, match="'out0' is no output of rank 3"):
        verify(rows(tile, params=(stack, PANELS, Y)))
    with pytest.raises(VerifyError, match="no output of rank"):
        verify(rows(replace(tile, outs=("out0", "out1"), stores=(0, 0)),
                    params=(stack, PANELS, out, Param("out1", "float32", 2, True))))
