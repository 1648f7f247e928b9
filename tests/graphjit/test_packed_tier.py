"""The packed-kernel tier (graphjit.api, graphjit.lower.packed_matmul): a plan is first
made with BLAS calls for the products the packed rule takes, re-planned with packed
kernels once it served PACKED_AFTER_CALLS calls at its signature; results agree across
the switch, and threads calling across it all get right results. (Products the rule
leaves to BLAS for their rows: tests/graphjit/test_plan_race.py.)"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphjit as tf
from codegen import numba_backend
from graphjit.interpreter import evaluate
from graphjit.lower import packed_matmul
from graphjit.plan_info import PACKED_TIER
from runtime.runner import no_runner

AFTER = 3  # calls served before the switch (the shipped 64, made small for tests)
RNG = np.random.default_rng(11)


IS_CACHED = numba_backend.is_loaded_or_cached


@pytest.fixture(autouse=True)
def few_calls_and_a_cold_cache(monkeypatch):
    """The tier after AFTER calls; packed kernels never compiled before (else a first
    plan is packed at once: see the last test)."""
    monkeypatch.setattr(packed_matmul, "PACKED_AFTER_CALLS", AFTER)
    monkeypatch.setattr(numba_backend, "is_loaded_or_cached", lambda kernel: False)


def _dense():
    """relu(x @ w + b) @ w2: two products by constant weights (packed for few rows)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 6])
        w = tf.constant(RNG.standard_normal((6, 7)).astype(np.float32))
        b = tf.constant(RNG.standard_normal(7).astype(np.float32))
        w2 = tf.constant(RNG.standard_normal((7, 3)).astype(np.float32))
        y = tf.matmul(tf.nn.relu(tf.matmul(x, w) + b), w2)
    return x, y


def _packed_steps(fn) -> int:
    """Steps of the latest plan that are packed kernels (a BLAS product is an extern)."""
    return sum(s.kind == "kernel" and "MatMul" in [_type(fn, o) for o in s.ops]
               for s in fn.kernels)


def call_together(fn, inputs, wants, calls: int) -> None:
    """Call `fn` `calls` times on each input, one thread an input, all released at once,
    and check every result against its reference."""
    errors = []
    start = threading.Barrier(len(inputs))

    def call(a, want):
        try:
            start.wait()
            for _ in range(calls):
                np.testing.assert_allclose(fn(a), want, rtol=1e-5, atol=1e-5)
        except Exception as exc:  # (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=call, args=pair) for pair in zip(inputs, wants)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def _type(fn, name: str) -> str:
    return fn.graph.get_operation_by_name(name).type


def test_the_switch_comes_after_the_calls_served_and_keeps_the_results():
    x, y = _dense()
    fn = tf.compile(y, feeds=[x])
    a = RNG.standard_normal((2, 6)).astype(np.float32)
    want = evaluate([y], {x: a})[0]
    for _ in range(AFTER):
        np.testing.assert_allclose(fn(a), want, rtol=1e-5, atol=1e-5)
        assert _packed_steps(fn) == 0  # BLAS calls still
    blas = fn(a)  # the switch: this call already runs the packed plan
    assert _packed_steps(fn) == 2
    for _ in range(3):
        np.testing.assert_allclose(fn(a), blas, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(blas, want, rtol=1e-5, atol=1e-5)
    whys = [r.why for r in fn.cache_info()]
    assert whys[-1] == PACKED_TIER and len(whys) == 2
    assert fn.cache_info()[0].evicted  # the BLAS-first plan is dropped, not kept


def test_each_signature_counts_its_own_calls():
    x, y = _dense()
    fn = tf.compile(y, feeds=[x])
    one, two = (RNG.standard_normal((n, 6)).astype(np.float32) for n in (1, 2))
    for _ in range(AFTER):
        fn(one)
        fn(two)
    fn(one)  # its switch; shape (2, 6) has not made one more call yet
    assert _packed_steps(fn) == 2
    fn(two)
    assert _packed_steps(fn) == 2
    assert [r.why for r in fn.cache_info()].count(PACKED_TIER) == 2


def test_no_tier_plans_packed_at_once(monkeypatch):
    monkeypatch.setattr(packed_matmul, "PACKED_AFTER_CALLS", 0)
    x, y = _dense()
    fn = tf.compile(y, feeds=[x])
    fn(RNG.standard_normal((2, 6)).astype(np.float32))
    assert _packed_steps(fn) == 2 and len(fn.cache_info()) == 1


def test_threads_calling_across_the_switch_all_get_right_results():
    x, y = _dense()
    fn = tf.compile(y, feeds=[x])
    inputs = [RNG.standard_normal((3, 6)).astype(np.float32) for _ in range(4)]
    wants = [evaluate([y], {x: a})[0] for a in inputs]
    call_together(fn, inputs, wants, 4 * AFTER)
    assert _packed_steps(fn) == 2
    assert [r.why for r in fn.cache_info()].count(PACKED_TIER) == 1  # one switch
    for _ in range(2):
        fn(inputs[0])
    # the fast path runs the packed plan, or none yet (kernels of a warm start that
    # have not settled), never the BLAS-first plan's runner
    assert fn._fast is fn._last[0]._runner or fn._fast is no_runner


def test_a_loop_body_plans_packed_at_once():
    """A loop's body runs many times per call, and its native driver keeps the plans it
    was built from: not tiered."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2, 4])
        w = tf.constant((RNG.standard_normal((4, 4)) / 4).astype(np.float32))
        _, y = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, tf.matmul(v, w)),
                             [tf.constant(0), x])
    fn = tf.compile(y, feeds=[x])
    a = RNG.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(fn(a), evaluate([y], {x: a})[0], rtol=1e-5, atol=1e-5)
    loop = next(op for op in fn.graph.get_operations() if op.type == "While")
    body = loop.attrs["body"].compiled()
    assert _packed_steps(body) == 1 and len(body.cache_info()) == 1


def test_packed_kernels_already_compiled_are_planned_at_once(monkeypatch):
    """A second function of the same graph finds the packed kernels the first one
    compiled (in memory, or in the disk cache of a warm process): no BLAS-first plan."""
    x, y = _dense()
    first = tf.compile(y, feeds=[x])
    a = RNG.standard_normal((5, 6)).astype(np.float32)
    for _ in range(AFTER + 1):
        first(a)
    monkeypatch.setattr(numba_backend, "is_loaded_or_cached", IS_CACHED)
    assert _packed_steps(first) == 2
    second = tf.compile(y, feeds=[x])
    np.testing.assert_allclose(second(a), first(a), rtol=1e-6, atol=1e-6)
    assert _packed_steps(second) == 2 and len(second.cache_info()) == 1
    other = tf.compile(y, feeds=[x])  # other rows: the same shape-generic kernels
    other(RNG.standard_normal((packed_matmul.MAX_ROWS, 6)).astype(np.float32))
    assert _packed_steps(other) == 2 and len(other.cache_info()) == 1


def test_the_disk_cache_knows_a_compiled_kernel(tmp_path, monkeypatch):
    """codegen.cache.is_cached: a kernel compiled once is in the disk cache (what a
    warm process's first plan asks), a source never compiled is not."""
    from codegen import cache
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    if cache.caching_disabled():
        pytest.skip("the kernel cache is disabled here")
    # (a tile shape no other test compiles: this process has not loaded the kernel)
    kernel = packed_matmul.packed_matmul_kernel("matmul_disk", "float64", shape=(3, 8, 4))
    assert not IS_CACHED(kernel)
    compiled = numba_backend.compile_kernel(kernel)
    out = np.empty((2, 2))
    compiled.fn(np.ones((2, 3)), packed_matmul.pack_panels(np.ones((3, 2)), 8),
                out)  # (Numba writes its index on use)
    assert cache.is_cached(compiled.source) and IS_CACHED(kernel)
    assert not cache.is_cached(compiled.source + "# another kernel\n")
