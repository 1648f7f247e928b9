"""MatMul by constant weights with few rows: the packed loop kernel (graphjit.lower.
packed_matmul) equals the reference interpreter on odd sizes, transposed weights, K=1,
float32 and float64, with several fetched values; more rows, or weights that are not
constant, stay BLAS calls."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from graphjit.interpreter import evaluate
from graphjit.lower import packed_matmul

K = 5
RNG = np.random.default_rng(7)


@pytest.fixture(scope="module", autouse=True)
def packed_from_the_first_call():
    """These tests check the packed kernels themselves: no BLAS-first tier (graphjit.api;
    tests/graphjit/test_packed_tier.py checks the tier)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(packed_matmul, "PACKED_AFTER_CALLS", 0)
        yield


def _graph(dtype):
    """Products of one fed input by constant weights: N of 7 and 6 (not multiples of
    the tile's columns), transposed weights, K=1, a bias and relu after one, and a
    product by a fed (not constant) matrix, which stays BLAS's."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [None, K])
        x1 = tf.placeholder(dtype, [None, 1])
        w = tf.placeholder(dtype, [K, 3])
        w1 = tf.constant(RNG.standard_normal((K, 7)).astype(dtype))
        w2 = tf.constant(RNG.standard_normal((6, K)).astype(dtype))
        w3 = tf.constant(RNG.standard_normal((1, 9)).astype(dtype))
        bias = tf.constant(RNG.standard_normal(7).astype(dtype))
        fetches = [tf.nn.relu(tf.matmul(x, w1) + bias), tf.matmul(x, w2, transpose_b=True),
                   tf.matmul(x1, w3), tf.matmul(x, w), tf.matmul(x, w1)]
    return (x, x1, w), fetches


@pytest.fixture(scope="module", params=["float32", "float64"])
def compiled(request):
    feeds, fetches = _graph(np.dtype(request.param).type)
    return request.param, feeds, fetches, tf.compile(fetches, feeds=list(feeds))


@pytest.mark.parametrize("rows", [1, 3, packed_matmul.MAX_ROWS - 1, packed_matmul.MAX_ROWS,
                                  packed_matmul.MAX_ROWS + 1])
def test_products_by_constant_weights_equal_the_reference(compiled, rows):
    dtype, feeds, fetches, fn = compiled
    arrays = [RNG.standard_normal((rows, K)).astype(dtype),
              RNG.standard_normal((rows, 1)).astype(dtype),
              RNG.standard_normal((K, 3)).astype(dtype)]
    got = fn(*arrays)
    want = evaluate(fetches, dict(zip(feeds, arrays)))
    tol = 1e-5 if dtype == "float32" else 1e-12
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def test_the_rule_picks_the_packed_kernel_for_few_rows_only(compiled):
    dtype, feeds, fetches, fn = compiled
    few = fn.ir("loops", shapes=[(3, K), (3, 1), (K, 3)])
    rows = packed_matmul.blas_rows()
    many = fn.ir("loops", shapes=[(rows, K), (rows, 1), (K, 3)])
    assert few.count("extern matmul") == 1  # the product by the fed matrix
    assert few.count(" of tile ") > 0
    # (the second x @ w1 is the first one's, CSE: four products)
    assert many.count("extern matmul") == 4 and " of tile " not in many


# Tile shapes (rows, width, lanes): this CPU's, and AVX2's and SSE's for float32 and
# float64, which any x86 CPU runs, so their edges are checked here too.
SHAPES = [None, (4, 16, 8), (4, 8, 4), (2, 4, 2), (1, 8, 8)]
# (M, K, N); K of 300 and 784 is three and seven blocks of 128 (float32 in 32 columns)
SIZES = [(1, 1, 1), (1, 784, 10), (3, 5, 7), (9, 17, 33), (33, 1, 5), (13, 31, 40),
         (13, 300, 40), (17, 256, 64), (0, 3, 4), (2, 0, 3), (139, 20, 9)]


@pytest.fixture(scope="module")
def tile_kernels():
    """{(dtype, shape): the compiled kernel of x @ w, and of relu(x @ w + bias) storing
    the product and the relu}."""
    from codegen.numba_backend import compile_kernel
    epi = packed_matmul.Epilogue(bias=True, relu=True, stores=(0, 2))
    return {(dtype, shape): (
        compile_kernel(packed_matmul.packed_matmul_kernel("mm", dtype, shape=shape)).fn,
        compile_kernel(packed_matmul.packed_matmul_kernel("mm", dtype, epi, shape)).fn)
        for dtype in ("float32", "float64") for shape in SHAPES
        if shape is None or shape[1] * np.dtype(dtype).itemsize <= 64}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
def test_tile_kernels_equal_numpy_on_edges(tile_kernels, dtype, shape):
    """Rows not a multiple of the tile's (one row, clamped rows), columns not a multiple
    of the panel width, K=1, K not a multiple of the split partial sums nor of the K
    block, K of several blocks (partial sums carried in the output), no rows, K=0, rows
    in three row blocks, the last one partial; the
    relu keeps NaN and gives +0.0 for -0.0, as the reference's maximum(x, 0)."""
    if (dtype, shape) not in tile_kernels:
        pytest.skip("a panel wider than 512 bits")
    plain, fused = tile_kernels[dtype, shape]
    width = (shape or packed_matmul.tile_shape(dtype))[1]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for m, k, n in SIZES:
        a = RNG.standard_normal((m, k)).astype(dtype)
        w = RNG.standard_normal((k, n)).astype(dtype)
        bias = RNG.standard_normal(n).astype(dtype)
        if m > 2 and n > 2:
            a[1, :] = np.nan  # a NaN row: NaN through relu
            bias[2] = -(a[0].astype(np.float64) @ w[:, 2])  # about zero before relu
        panels = packed_matmul.pack_panels(w, width)
        row = np.zeros(panels.shape[0] * width, dtype)
        row[:n] = bias
        want = a @ w
        # summation order differs from BLAS's: error bound scaled by sum |a| |w|
        atol = tol * max(1.0, np.nanmax(np.abs(a) @ np.abs(w), initial=0))
        got = np.full((m, n), 7, dtype)
        plain(a, panels, got)
        np.testing.assert_allclose(got, want, rtol=tol, atol=atol, err_msg=f"{m, k, n}")
        product, relu = np.full((m, n), 7, dtype), np.full((m, n), 7, dtype)
        fused(a, panels, row, product, relu)
        np.testing.assert_allclose(product, want, rtol=tol, atol=atol)
        np.testing.assert_allclose(relu, np.maximum(want + bias, 0), rtol=tol, atol=atol)
        assert not np.signbit(relu).any()


def test_packed_weights_and_bias_rows_start_on_a_cache_line(compiled):
    """The tile loads whole vectors of the panels and the bias row: one crossing a cache
    line is two loads (NumPy's own arrays start on 16 bytes)."""
    from runtime.plan import ALIGN_BYTES
    for k, n in [(5, 7), (13, 40), (1, 1)]:
        panels = packed_matmul.pack_panels(RNG.standard_normal((k, n)), 8)
        assert panels.ctypes.data % ALIGN_BYTES == 0 and panels.flags.c_contiguous
    dtype, feeds, fetches, fn = compiled
    arrays = [RNG.standard_normal((3, K)).astype(dtype),
              RNG.standard_normal((3, 1)).astype(dtype),
              RNG.standard_normal((K, 3)).astype(dtype)]
    fn(*arrays)
    consts = [s.value for s in fn._last[1].slots if s.role == "const"]
    packed = [v for v in consts if v.ndim == 3]  # the panels (P, K, width)
    assert len(packed) == 3
    rows = [v for v in consts if v.ndim == 1 and v.size % packed_matmul.tile_shape(dtype)[2]
            == 0]  # the bias row, padded to whole panels
    for value in packed + rows:
        assert value.ctypes.data % ALIGN_BYTES == 0


def test_the_tile_shape_follows_the_cpu_vector_width():
    from codegen.tile_shape import vector_bits
    rows, width, lanes = packed_matmul.tile_shape("float32")
    assert lanes == vector_bits() // 32 and width == 2 * lanes
    assert packed_matmul.tile_shape("float64")[2] == lanes // 2


def test_the_loop_nest_is_one_tile_whatever_the_columns():
    """Edges are the tile's (codegen.microkernel): a kernel is four loops (row blocks,
    panels, K blocks, row tiles) around one tile statement, so its compile time does not
    grow with N's remainder or the epilogue."""
    from codegen.loopir import Loop, MatmulTile, verify
    epi = packed_matmul.Epilogue(bias=True, relu=True, stores=(0, 2))
    kernel = packed_matmul.packed_matmul_kernel("matmul_t", "float32", epi)
    verify(kernel)
    (row_blocks,) = kernel.body
    (panels,) = row_blocks.body
    (blocks,) = [s for s in panels.body if isinstance(s, Loop)]
    (rows,) = [s for s in blocks.body if isinstance(s, Loop)]
    assert [type(s) for s in rows.body][-1] is MatmulTile


def test_bias_adds_and_relus_after_packed_products_are_their_epilogues():
    """The Add of a constant bias row (either operand order, (N,) or (1, N), or a
    scalar) or of a fed (N,) row, and a Relu after it (or after the product) join the
    product's kernel, which stores every stage that is fetched; a computed bias or a
    product read twice keeps its own elementwise kernel."""
    def w(*shape):
        return tf.constant(RNG.standard_normal(shape).astype(np.float32))
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, K])
        fed_bias = tf.placeholder(tf.float32, [4])
        product = tf.matmul(x, w(K, 6), name="p2")
        summed = tf.add(product, w(6), name="s2")
        twice = tf.matmul(x, w(K, 3), name="p4")
        fetches = [tf.nn.relu(tf.add(w(1, 7), tf.matmul(x, w(K, 7), name="p1")), name="r1"),
                   product, summed, tf.nn.relu(summed, name="r2"),
                   tf.nn.relu(tf.matmul(x, w(K, 4), name="p3") + fed_bias, name="r3"),
                   tf.nn.relu(tf.matmul(x, w(K, 4), name="p7") + fed_bias * 2.0, name="r7"),
                   twice + w(3), twice * 2.0,
                   tf.nn.relu(tf.matmul(x, w(K, 2), name="p5"), name="r5"),
                   tf.nn.relu(tf.matmul(x, w(K, 5), name="p6") + 0.5, name="r6")]
    fn = tf.compile(fetches, feeds=[x, fed_bias])
    for rows in (1, 6):
        arrays = [RNG.standard_normal((rows, K)).astype(np.float32),
                  RNG.standard_normal(4).astype(np.float32)]
        for got, want in zip(fn(*arrays), evaluate(fetches, dict(zip([x, fed_bias], arrays)))):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    steps = {s.ops[0]: s.ops for s in fn.kernels}
    assert steps["p1"] == ("p1", "Add", "r1")
    assert steps["p2"] == ("p2", "s2", "r2")
    assert steps["p3"][::2] == ("p3", "r3") and len(steps["p3"]) == 3  # (a fed bias)
    assert steps["p7"] == ("p7",) and steps["p4"] == ("p4",)
    assert steps["p5"] == ("p5", "r5")
    assert steps["p6"][-1] == "r6" and len(steps["p6"]) == 3  # (a scalar bias)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_stack_of_rows_or_a_small_operand_is_packed_and_equals_the_reference(dtype):
    """A 3-D left operand (its leading dims the rows: an RNN's inputs projected for
    every step) with a bias and relu epilogue, and more rows than MAX_ROWS where the
    operand is at most SMALL_OPERAND elements; a larger one stays a BLAS call."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(dtype, [None, 7, K])
        x2 = tf.placeholder(dtype, [None, K])
        w = tf.constant(RNG.standard_normal((K, 19)).astype(dtype))
        bias = tf.constant(RNG.standard_normal(19).astype(dtype))
        fetches = [tf.nn.relu(tf.matmul(x, w) + bias), tf.matmul(x2, w)]
    fn = tf.compile(fetches, feeds=[x, x2])
    rows = packed_matmul.MAX_ROWS * 3
    assert rows * K <= packed_matmul.SMALL_OPERAND
    loops = fn.ir("loops", shapes=[(5, 7, K), (rows, K)])
    assert loops.count(" of tile ") == 2 and "extern" not in loops
    assert "in0: float32[3d]" in loops or "in0: float64[3d]" in loops
    big = packed_matmul.blas_rows(K)
    assert big * K > packed_matmul.SMALL_OPERAND and big > packed_matmul.MAX_ROWS
    loops = fn.ir("loops", shapes=[(big // 7 + 1, 7, K), (big, K)])
    assert loops.count("extern matmul") == 2 and " of tile " not in loops
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for n, m in [(5, rows), (1, 1), (big // 7 + 1, big)]:
        arrays = [RNG.standard_normal((n, 7, K)).astype(dtype),
                  RNG.standard_normal((m, K)).astype(dtype)]
        for got, want in zip(fn(*arrays), evaluate(fetches, dict(zip([x, x2], arrays)))):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
