"""The packed tier's race (graphjit.plan_race): at the switch, products the packed rule
leaves to BLAS only for their rows are packed too, and the two plans take calls in turn
until the faster is kept. Results agree with the reference on every call, whichever plan
ran it; products by fed weights or with a transposed left operand are never raced. The
winner is decided by a fake clock here (Race alone) or set (the functions): timing
decides nothing."""

from __future__ import annotations

import numpy as np
import pytest

import graphjit as tf
from codegen import numba_backend
from graphjit import plan_race
from graphjit.interpreter import evaluate
from graphjit.lower import packed_matmul
from graphjit.plan_info import FIRST_CALL, PACKED_TIER, RACE_LOST
from tests.graphjit.test_packed_tier import _packed_steps, call_together

AFTER = 3
CALLS = 2 * (plan_race.PAIRS + 1)  # a race's calls
RNG = np.random.default_rng(17)
ROWS_MAX, OPERAND_MAX = 4, 64  # the rule made small: 9 rows by K=13 are beyond it


@pytest.fixture(autouse=True)
def a_small_rule(monkeypatch):
    monkeypatch.setattr(packed_matmul, "PACKED_AFTER_CALLS", AFTER)
    monkeypatch.setattr(packed_matmul, "MAX_ROWS", ROWS_MAX)
    monkeypatch.setattr(packed_matmul, "SMALL_OPERAND", OPERAND_MAX)
    monkeypatch.setattr(numba_backend, "is_loaded_or_cached", lambda kernel: False)


def _mlp(k=13, n=10, transpose_b=False):
    """softmax(relu(x @ w + b) @ w2), constant weights."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, k])
        w_value = RNG.standard_normal((n, k) if transpose_b else (k, n)).astype(np.float32)
        w = tf.constant(w_value)
        b = tf.constant(RNG.standard_normal(n).astype(np.float32))
        w2 = tf.constant(RNG.standard_normal((n, 3)).astype(np.float32))
        h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w, transpose_b=transpose_b), b))
        y = tf.nn.softmax(tf.matmul(h, w2))
    return [x], y, []


def _calls(fn, feeds, y, extra, rows, count):
    """`count` calls on fresh inputs of `rows` rows, each against the reference."""
    for _ in range(count):
        a = RNG.standard_normal((rows, feeds[0].shape[1])).astype(np.float32)
        want = evaluate([y], dict(zip(feeds, [a, *extra])))[0]
        np.testing.assert_allclose(fn(a, *extra), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("won", [True, False])
@pytest.mark.parametrize("rows,k,n,transpose_b", [
    (9, 13, 10, False),  # rows past the tile's, K past none of its blocks
    (37, 13, 33, False),  # N past one panel, rows not a multiple of the tile's
    (9, 13, 10, True),  # the weights a transposed view
])
def test_the_race_keeps_the_winner_and_every_call_is_right(monkeypatch, won, rows, k, n,
                                                            transpose_b):
    monkeypatch.setattr(plan_race.Race, "packed_won", lambda self: won)
    feeds, y, extra = _mlp(k, n, transpose_b)
    fn = tf.compile(y, feeds=feeds)
    _calls(fn, feeds, y, extra, rows, AFTER)
    assert _packed_steps(fn) == 0  # BLAS calls still
    _calls(fn, feeds, y, extra, rows, 1)  # the switch: the race begins
    assert fn._races and fn._warming
    _calls(fn, feeds, y, extra, rows, CALLS - 1)
    assert not fn._races and not fn._warming  # decided
    whys = [r.why for r in fn.cache_info()]
    if won:
        assert _packed_steps(fn) == 2 and whys == [FIRST_CALL, PACKED_TIER]
    else:
        assert _packed_steps(fn) == 0 and whys[-1] == RACE_LOST and len(whys) == 3
    _calls(fn, feeds, y, extra, rows, 3)  # on the kept plan's runner
    assert len(fn.cache_info()) == len(whys)


def test_products_within_the_rule_switch_without_a_race():
    feeds, y, extra = _mlp()
    fn = tf.compile(y, feeds=feeds)
    _calls(fn, feeds, y, extra, 2, AFTER + 1)  # 2 rows: the rule packs both products
    assert _packed_steps(fn) == 2 and not fn._races and not fn._warming


@pytest.mark.parametrize("what", ["fed weights", "transpose_a"])
def test_products_the_packed_kernel_cannot_take_are_never_raced(what):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 13])
        if what == "fed weights":
            w_value = RNG.standard_normal((13, 5)).astype(np.float32)
            w = tf.placeholder(tf.float32, [13, 5])
            y = tf.matmul(x, w)
            feeds, extra = [x, w], [w_value]
        else:
            w = tf.constant(RNG.standard_normal((9, 5)).astype(np.float32))
            y = tf.matmul(x, w, transpose_a=True)  # (13, rows) @ (rows=9, 5)
            feeds, extra = [x], []
    fn = tf.compile(y, feeds=feeds)
    _calls(fn, feeds, y, extra, 9, AFTER + CALLS + 2)
    assert len(fn.cache_info()) == 1 and not fn._races and _packed_steps(fn) == 0


def test_the_race_is_a_sign_test_over_pairs_of_calls():
    blas, packed = object(), object()
    race = plan_race.Race(blas, packed)
    assert race.entry() is packed and race.entry() is blas  # in turn, packed first
    # packed: a slow first call (its kernels loading), then slower than BLAS in
    # WINS - 1 pairs, however much: it stays
    packed_times = [0.5] + [0.03] * (plan_race.WINS - 1) + [1e-3] * (
        plan_race.PAIRS - plan_race.WINS + 1)
    done = []
    for p in packed_times:
        done.append(race.record(packed, p))
        done.append(race.record(blas, 1.2e-3))
        race.record(object(), 1e-6)  # a plan not in the race: not counted
    assert done[-1] and not any(done[:-1])
    assert race.packed_won()
    # slower in WINS pairs: BLAS comes back
    lost = plan_race.Race(blas, packed)
    for p in [1e-3] + [1.3e-3] * plan_race.WINS + [1e-3] * (plan_race.PAIRS - plan_race.WINS):
        lost.record(packed, p)
        lost.record(blas, 1.2e-3)
    assert not lost.packed_won()
    # plans as fast as each other: the packed one stays
    even = plan_race.Race(blas, packed)
    for i in range(plan_race.PAIRS + 1):
        even.record(packed, 1e-3 + (1e-5 if i % 2 else -1e-5))
        even.record(blas, 1e-3)
    assert even.packed_won()


def test_a_first_plan_with_cached_packed_kernels_still_races_the_rest(monkeypatch):
    """A warm process plans the rule's products packed at once (their kernels cached),
    the product beyond the rule as a BLAS call, and races that one at the switch."""
    monkeypatch.setattr(plan_race.Race, "packed_won", lambda self: True)
    monkeypatch.setattr(numba_backend, "is_loaded_or_cached", lambda kernel: True)
    feeds, y, extra = _mlp(k=13, n=7)  # 9 rows: x @ w beyond the rule, h @ w2 within
    fn = tf.compile(y, feeds=feeds)
    _calls(fn, feeds, y, extra, 9, 1)
    assert _packed_steps(fn) == 1 and fn._warming and not fn._races
    _calls(fn, feeds, y, extra, 9, AFTER + CALLS)
    assert _packed_steps(fn) == 2 and not fn._warming and not fn._races


def test_threads_calling_through_the_race_all_get_right_results():
    feeds, y, extra = _mlp()
    fn = tf.compile(y, feeds=feeds)
    inputs = [RNG.standard_normal((9, 13)).astype(np.float32) for _ in range(3)]
    wants = [evaluate([y], {feeds[0]: a})[0] for a in inputs]
    call_together(fn, inputs, wants, AFTER + CALLS)
    assert not fn._races and not fn._warming  # one race, decided
    assert [r.why for r in fn.cache_info()].count(PACKED_TIER) == 1
