"""The thread budget: when a chunked kernel wakes helpers (codegen.parallel.Site), the
measured wake cost (codegen.wake_cost) and BLAS's threads around extern GEMMs
(codegen.blas). Timing decides nothing here: costs are set, not measured."""

from __future__ import annotations

import itertools
import json
import threading
import types

import numpy as np
import pytest

from codegen import blas, numba_backend, parallel, wake_cost
from tests.codegen.test_backend import gemm_kernel


@pytest.fixture
def wake_50us(set_threads, monkeypatch):
    """A machine where waking a helper costs 50 us, and nothing slow was seen lately."""
    monkeypatch.setattr(wake_cost, "_quiet", 50e-6)
    monkeypatch.setattr(wake_cost, "_live", ())
    set_threads(2)


def test_a_site_runs_on_one_thread_until_it_has_measured_its_work(wake_50us):
    site = parallel.Site()
    assert site.threads(10**9, 2) == 1
    site.measured(1000, 1000)  # 1 ns per unit
    assert site.threads(10**9, 2) == 2


def test_helpers_wake_only_for_work_worth_wake_factor_wake_costs(wake_50us):
    site = parallel.Site()
    site.measured(1000, 1000)  # 1 ns per unit: the threshold is 4 x 50 us = 200,000 units
    threshold = int(parallel.WAKE_FACTOR * 50e-6 / 1e-9)
    assert site.threads(threshold - 1000, 2) == 1
    assert site.threads(threshold + 1000, 2) == 2
    assert site.threads(threshold * 10, 1) == 1  # never more than the threads available


def test_slow_wakes_seen_now_keep_small_work_on_the_caller(wake_50us):
    site = parallel.Site()
    site.measured(1000, 1000)
    work = int(parallel.WAKE_FACTOR * 50e-6 / 1e-9) * 3
    assert site.threads(work, 2) == 2
    for _ in range(10):
        wake_cost.observe(5e-3)  # helpers started 5 ms late: cores held by others
    assert wake_cost.current() > 1e-3
    assert site.threads(work, 2) == 1
    assert wake_cost.busy()


def test_one_slow_wake_among_fast_ones_is_a_burst_not_a_busy_machine(wake_50us):
    site = parallel.Site()
    site.measured(1000, 1000)
    work = int(parallel.WAKE_FACTOR * 50e-6 / 1e-9) * 3
    for late in (60e-6, 5e-3, 55e-6, 50e-6, 4e-3):
        wake_cost.observe(late)
        assert wake_cost.current() < 2 * 50e-6
        assert site.threads(work, 2) == 2
    wake_cost.observe(5e-3)  # two of the last three late: the cores are taken
    assert wake_cost.current() > 1e-3
    assert site.threads(work, 2) == 1


def test_slow_wakes_are_forgotten(wake_50us, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(wake_cost.time, "monotonic", lambda: clock[0])
    for _ in range(wake_cost.LIVE_SAMPLES):
        wake_cost.observe(5e-3)
    high = wake_cost.current()
    assert high > 4e-3
    clock[0] += 10 * wake_cost.LIVE_HALF_LIFE_S
    assert wake_cost.current() < 50e-6 + (high - 50e-6) / 500


def test_small_calls_of_a_site_never_touch_the_pool(wake_50us, monkeypatch):
    def no_pool(helpers):
        raise AssertionError("a helper was woken for a small call")
    monkeypatch.setattr(parallel, "_get_pool", no_pool)
    ticks = itertools.count(0, 1000)  # each call takes 1 us: a loaded machine's
    monkeypatch.setattr(parallel, "time",  # preemption must not make it look large
                        types.SimpleNamespace(perf_counter_ns=lambda: next(ticks)))
    site = parallel.Site()
    seen = []

    def fn(out, lo, hi):
        seen.append(threading.current_thread().name)
        out[lo:hi] += 1
    out = np.zeros(1000, np.int64)
    for _ in range(3):
        parallel.run_chunked(fn, (out,), 1000, 1000, site)
    assert (out == 3).all()
    assert set(seen) == {threading.current_thread().name}
    assert site.ns_per_unit is not None and site.ns_per_unit > 0


def test_large_calls_of_a_site_give_every_index_once(wake_50us):
    site = parallel.Site()
    site.measured(10**6, 1)  # 1 ms per unit: every call is worth helpers
    out = np.zeros(5000, np.int64)

    def fn(out, lo, hi):
        out[lo:hi] += 1
    for _ in range(5):
        parallel.run_chunked(fn, (out,), 5000, 5000, site)
    assert (out == 5).all()


def test_wake_cost_is_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHJIT_NO_CACHE", raising=False)
    monkeypatch.setattr(wake_cost, "_quiet", None)
    first = wake_cost.quiet()
    assert 0 < first < 0.1
    data = json.loads((tmp_path / "wake_cost.json").read_text())
    assert data["seconds"] == first and data["key"] == wake_cost.cache_key()
    monkeypatch.setattr(wake_cost, "_quiet", None)
    monkeypatch.setattr(wake_cost, "measure", lambda: pytest.fail("measured again"))
    assert wake_cost.quiet() == first


def test_a_wake_cost_cached_for_another_machine_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHJIT_NO_CACHE", raising=False)
    (tmp_path / "wake_cost.json").write_text(json.dumps(
        {"key": {"cpu": "other"}, "seconds": 1e-5}))
    monkeypatch.setattr(wake_cost, "_quiet", None)
    monkeypatch.setattr(wake_cost, "measure", lambda: 3e-5)
    assert wake_cost.quiet() == 3e-5


# -- BLAS ---------------------------------------------------------------------------------

needs_blas = pytest.mark.skipif(not blas.blas_libraries(),
                                reason="threadpoolctl finds no BLAS library to limit")


@needs_blas
def test_a_busy_machine_starts_on_one_blas_thread_during_the_gemm_only(monkeypatch):
    user = blas.blas_threads()
    monkeypatch.setattr(wake_cost, "busy", lambda: True)
    site = blas.GemmSite()
    with site:
        assert blas.blas_threads() == 1
    assert blas.blas_threads() == user


def settled(site, seconds):
    """`site` with these mean times, just after a try (none due for a while)."""
    site.seconds = dict(seconds)
    site.recent = {t: [s] * blas.WINDOW for t, s in seconds.items()}
    site._debt, site._spent, site._debt_at = 1.0, 0.0, blas.time.monotonic()
    return site


def test_a_site_takes_the_faster_choice(wake_50us, monkeypatch):
    monkeypatch.setattr(wake_cost, "busy", lambda: False)
    monkeypatch.setattr(wake_cost, "cores", lambda: 2)
    site = blas.GemmSite()
    assert site.threads(2) == 2  # quiet: the budget first
    site.seconds[2] = 30e-3
    assert site.threads(2) == 1  # then the choice not yet measured
    settled(site, {1: 0.5e-3, 2: 30e-3})  # two threads were 60x slower: one it is
    assert all(site.threads(2) == 1 for site.calls in range(2000))
    settled(site, {1: 0.5e-3, 2: 0.3e-3})  # the machine got quiet: two threads win
    assert all(site.threads(2) == 2 for site.calls in range(2000))
    assert site.threads(1) == 1  # never more than the user's setting
    site._spent = site._debt / blas.EXPLORE_SHARE  # a try is due: the other choice
    assert site.threads(2) == 1


def test_a_stalled_call_counts_in_its_choices_time(wake_50us, monkeypatch):
    """The user waits for the stalls too: the mean, not the median, of a choice's calls."""
    monkeypatch.setattr(wake_cost, "busy", lambda: False)
    monkeypatch.setattr(wake_cost, "cores", lambda: 2)
    monkeypatch.setattr(blas, "blas_libraries", lambda: [])
    site = blas.GemmSite()
    site._used, site._timed, site._last = 2, True, 2  # as __enter__ leaves it
    for took in (0.3e-3, 0.3e-3, 30e-3, 0.3e-3):  # one call stalled behind other work
        site._start = 0
        monkeypatch.setattr(blas.time, "perf_counter_ns", lambda t=took: int(t * 1e9))
        site.__exit__(None, None, None)
    assert site.seconds[2] == pytest.approx((3 * 0.3e-3 + 30e-3) / 4)


def test_gemms_too_short_to_pay_for_waking_run_on_one_thread(wake_50us, monkeypatch):
    monkeypatch.setattr(wake_cost, "busy", lambda: False)
    monkeypatch.setattr(wake_cost, "cores", lambda: 2)
    site = blas.GemmSite()
    site.seconds = {1: 20e-6, 2: 12e-6}  # below 4 x 50 us (however long ago)
    assert all(site.threads(2) == 1 for site.calls in range(100))


def test_measured_times_decide_when_graphjits_helpers_wake_late(wake_50us, monkeypatch):
    """Slow wakes seen on graphjit's pool do not overrule a site's own timings: on a
    half-busy machine W4's largest GEMM took 0.89 ms on two BLAS threads and 1.13 on one,
    and stayed on one."""
    monkeypatch.setattr(wake_cost, "busy", lambda: True)
    monkeypatch.setattr(wake_cost, "cores", lambda: 2)
    for _ in range(10):
        wake_cost.observe(5e-3)
    site = settled(blas.GemmSite(), {1: 1.13e-3, 2: 0.89e-3})
    assert site.threads(2) == 2
    settled(site, {1: 0.5e-3, 2: 30e-3})  # and where two threads collapse, one
    assert site.threads(2) == 1


def test_each_operand_shape_keeps_its_own_verdict():
    """One compiled extern kernel serves every product of its structure: a large GEMM
    where threads pay and a small one where they do not must not share timings."""
    sites = blas.GemmSites()
    large, small = sites((512, 784), (784, 256)), sites((512, 256), (256, 10))
    assert large is not small
    assert sites((512, 784), (784, 256)) is large
    large.seconds[2], small.seconds[1] = 1e-3, 20e-6
    assert 1 not in large.seconds and 2 not in small.seconds


@needs_blas
def test_the_users_blas_setting_is_restored_after_every_call(wake_50us, monkeypatch):
    user = blas.blas_threads()
    site = blas.GemmSite()
    for _ in range(40):
        with site:
            assert blas.blas_threads() <= user
        assert blas.blas_threads() == user


@needs_blas
def test_the_generated_gemm_runs_under_the_limit_and_gives_the_same_result(
        tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    compiled = numba_backend.compile_kernel(gemm_kernel("budget_gemm"))
    assert "with _blas_sites(" in compiled.source
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 32, 48)), rng.normal(size=(24, 48))
    quiet_out = np.empty((2, 32, 24))
    compiled.call(a, b, quiet_out)

    seen = []
    real_matmul = np.matmul

    def spying_matmul(*args, **kw):
        seen.append(blas.blas_threads())
        return real_matmul(*args, **kw)
    monkeypatch.setattr(blas.GemmSite, "threads", lambda self, user: 1)
    monkeypatch.setattr(np, "matmul", spying_matmul)
    busy_out = np.empty((2, 32, 24))
    compiled.call(a, b, busy_out)
    monkeypatch.setattr(np, "matmul", real_matmul)
    assert seen == [1]
    np.testing.assert_array_equal(busy_out, quiet_out)
    np.testing.assert_allclose(quiet_out, a @ b.T, rtol=1e-12)


@pytest.mark.parametrize("busy", [False, True])
def test_a_busy_machine_gets_finer_chunks(busy, wake_50us, monkeypatch):
    monkeypatch.setattr(wake_cost, "busy", lambda: busy)
    site = parallel.Site()
    site.measured(10**6, 1)  # worth helpers
    counts = []
    parallel.observe_chunks(lambda name, lo, hi, count, *_: counts.append(count))
    try:
        parallel.run_chunked(lambda out, lo, hi: None, (None,), 1000, 1000, site)
    finally:
        parallel.observe_chunks(None)
    finest = 2 * parallel.CHUNKS_PER_THREAD_BUSY
    want = finest if busy else len(parallel.chunk_bounds(1000, 2, 500, -(-1000 // finest)))
    assert set(counts) == {want} and len(counts) == want
    assert want < finest or busy  # a quiet machine's guided chunks: fewer, the first large


@needs_blas
def test_one_allowed_thread_is_decided_without_timing(monkeypatch):
    """OPENBLAS_NUM_THREADS=1 (or GRAPHJIT_NUM_THREADS=1): nothing to choose, so a tiny
    GEMM pays no reading of the cores and no timing (a site cost 4 us a call before)."""
    from threadpoolctl import threadpool_limits

    def not_read():
        raise AssertionError("the cores were read for a one-thread budget")
    monkeypatch.setattr(wake_cost, "cores", not_read)
    site = blas.GemmSite()
    assert site.threads(1) == 1
    with threadpool_limits(1, user_api="blas"):
        for _ in range(3):
            with site:
                pass
    assert site.seconds == {} and site.calls == 3


def _run_site(site, monkeypatch, seconds_of, calls, start_ns=0):
    """`calls` calls of `site` (its __enter__'s choice from threads(2)), each taking
    seconds_of(threads, switched) by a fake clock; the threads each call used."""
    clock = [start_ns]
    monkeypatch.setattr(blas.time, "perf_counter_ns", lambda: clock[0])
    monkeypatch.setattr(blas.time, "monotonic", lambda: clock[0] * 1e-9)
    monkeypatch.setattr(blas, "blas_libraries", lambda: [])
    used = []
    for _ in range(calls):
        threads = site.threads(2)
        switched = bool(used) and used[-1] != threads
        site._used, site._timed, site._start = threads, True, clock[0]
        clock[0] += int(seconds_of(threads, switched) * 1e9)
        site.__exit__(None, None, None)
        used.append(threads)
    return used


def test_the_first_call_after_a_switch_is_not_timed_and_the_next_keeps_the_choice(
        wake_50us, monkeypatch):
    monkeypatch.setattr(wake_cost, "busy", lambda: True)
    monkeypatch.setattr(wake_cost, "cores", lambda: 2)
    site = blas.GemmSite()
    used = _run_site(site, monkeypatch, lambda t, switched: 30e-3 if switched else 1e-3, 4)
    assert used == [1, 1, 2, 2]  # each choice: its switch, then a timed call
    assert site.seconds == {1: 1e-3, 2: 1e-3}


def test_waking_blas_threads_on_a_lone_try_does_not_keep_a_site_on_one_thread(
        wake_50us, monkeypatch):
    """Two threads 0.25 ms a call back to back but 30 ms when woken (an MLP's product
    on a loaded 2-core machine), one thread 0.43 ms: the site settles on two."""
    monkeypatch.setattr(wake_cost, "busy", lambda: True)
    monkeypatch.setattr(wake_cost, "cores", lambda: 2)
    site = blas.GemmSite()

    def seconds_of(threads, switched):
        return 30e-3 if switched and threads == 2 else (0.25e-3 if threads == 2 else 0.43e-3)
    used = _run_site(site, monkeypatch, seconds_of, 400)
    assert used[-100:].count(2) > 90


def _site_on_one_thread_about_to_explore(monkeypatch):
    """A busy 2-core site on one thread (0.43 ms) whose two-thread window holds 30 ms
    stalls, and whose next call tries two threads (the last try's cost is paid)."""
    monkeypatch.setattr(wake_cost, "busy", lambda: True)
    monkeypatch.setattr(wake_cost, "cores", lambda: 2)
    site = settled(blas.GemmSite(), {1: 0.43e-3, 2: 30e-3})
    site._last = 1
    site._spent = site._debt / blas.EXPLORE_SHARE
    return site


def test_a_choice_that_beats_the_other_now_is_kept_until_its_times_catch_up(
        wake_50us, monkeypatch):
    """Two threads' window holds stalls from a busier minute: one try that runs fast
    keeps them until their mean is fast too, not one call per try."""
    site = _site_on_one_thread_about_to_explore(monkeypatch)
    used = _run_site(site, monkeypatch, lambda t, switched: 0.25e-3 if t == 2 else 0.43e-3,
                     12)
    # the switch's call, then WINDOW timed calls replace the stalls
    assert used[:blas.WINDOW + 1] == [2] * (blas.WINDOW + 1)
    assert site.seconds[2] == pytest.approx(0.25e-3)
    assert used[-1] == 2  # now the faster by its own times


def test_a_slower_tried_choice_is_not_kept(wake_50us, monkeypatch):
    site = _site_on_one_thread_about_to_explore(monkeypatch)
    used = _run_site(site, monkeypatch, lambda t, switched: 20e-3 if t == 2 else 0.43e-3, 6)
    assert used == [2, 2, 1, 1, 1, 1]  # the switch, its timed call, back to one
