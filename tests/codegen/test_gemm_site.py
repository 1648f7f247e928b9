"""A GEMM site's choice of BLAS threads over many calls (what trying the other choice
may cost, a machine that gets quiet, stalls) and the process-wide BLAS thread count
shared by user threads. Timing decides nothing: calls take what a fake clock says."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from codegen import blas, wake_cost
from tests.codegen.test_thread_budget import _run_site, needs_blas, settled, wake_50us

__all__ = ["wake_50us"]  # (the fixture, imported for the tests here)


@pytest.fixture
def two_cores(wake_50us, monkeypatch):
    monkeypatch.setattr(wake_cost, "cores", lambda: 2)


def _tried_share(used, seconds_of):
    """The share of all calls' time that went to two-thread calls beyond one thread's,
    once each choice was measured (the site's first four calls)."""
    total = extra = 0.0
    last = used[3]
    for threads in used[4:]:
        took = seconds_of(threads, last is not None and last != threads)
        total += took
        if threads == 2:
            extra += took - seconds_of(1, False)
        last = threads
    return extra / total


@pytest.mark.parametrize("busy", [True, False])
def test_trying_the_other_choice_costs_at_most_its_share(two_cores, monkeypatch, busy):
    """Two threads 30 ms a call (cores held by others), one 0.5 ms: the tries of two
    threads go on, but cost about EXPLORE_SHARE of the site's time (a try every two
    seconds had made one W5 call in five 30-90 ms slower on a loaded machine)."""
    monkeypatch.setattr(wake_cost, "busy", lambda: busy)

    def seconds_of(threads, switched):
        return 30e-3 if threads == 2 else 0.5e-3
    used = _run_site(blas.GemmSite(), monkeypatch, seconds_of, 20000)
    assert used[1000:].count(2) >= 2  # still tried now and then
    # (1.45x EXPLORE_SHARE: the tries' cost is also forgotten with time, DEBT_HALF_LIFE_S)
    assert _tried_share(used, seconds_of) <= blas.EXPLORE_SHARE * 1.6


def test_cheap_tries_come_at_most_once_per_1_over_share_calls(two_cores, monkeypatch):
    monkeypatch.setattr(wake_cost, "busy", lambda: False)
    used = _run_site(blas.GemmSite(), monkeypatch,
                     lambda t, switched: 0.5e-3 if t == 2 else 0.55e-3, 3200)
    tries = sum(1 for a, b in zip(used, used[1:]) if a == 2 and b == 1)
    assert 10 <= tries <= 3200 * blas.EXPLORE_SHARE + 1


def test_a_try_made_on_a_busy_machine_is_made_again_once_it_is_quiet(two_cores,
                                                                     monkeypatch):
    busy = [True]
    monkeypatch.setattr(wake_cost, "busy", lambda: busy[0])
    site = blas.GemmSite()
    slow = [True]

    def seconds_of(threads, switched):
        return (30e-3 if slow[0] else 0.3e-3) if threads == 2 else 0.5e-3
    assert _run_site(site, monkeypatch, seconds_of, 200)[-100:] == [1] * 100
    busy[0] = slow[0] = False  # the other work stopped
    used = _run_site(site, monkeypatch, seconds_of, 20)
    assert used[:2] == [2, 2] and used[-5:] == [2] * 5


def test_a_tries_cost_is_forgotten_with_time(two_cores, monkeypatch):
    """Busy still, but a minute later: the 30 ms a try cost then says little now."""
    monkeypatch.setattr(wake_cost, "busy", lambda: True)

    def seconds_of(threads, switched):
        return 30e-3 if threads == 2 else 0.5e-3
    site = blas.GemmSite()
    assert _run_site(site, monkeypatch, seconds_of, 200)[-100:] == [1] * 100
    later = 1000 * 10**9  # (the calls above took under 10 s of the fake clock)
    assert _run_site(site, monkeypatch, seconds_of, 1, start_ns=later) == [2]


def test_a_choice_that_stalls_every_few_calls_loses_to_a_steady_one(two_cores,
                                                                     monkeypatch):
    """Two threads on busy cores: 0.31 ms in most calls, 27 ms in one of three; one
    thread 0.45 ms. Their median says two, their mean (what the user waits) says one."""
    monkeypatch.setattr(wake_cost, "busy", lambda: True)
    count = [0]

    def seconds_of(threads, switched):
        if threads == 1:
            return 0.45e-3
        count[0] += 1
        return 27e-3 if count[0] % 3 == 0 else 0.31e-3
    used = _run_site(blas.GemmSite(), monkeypatch, seconds_of, 3000)
    assert used[-2000:].count(1) > 1900


# -- one BLAS thread count per process, several user threads -------------------------------

@needs_blas
def test_a_site_entered_while_another_runs_takes_one_thread(set_threads, two_cores, monkeypatch):
    from threadpoolctl import threadpool_limits

    set_threads(2)
    with threadpool_limits(2, user_api="blas"):
        first, second = settled(blas.GemmSite(), {1: 1e-3, 2: 0.5e-3}), blas.GemmSite()
        inside, leave = threading.Event(), threading.Event()
        seen = []

        def hold():
            with first:
                seen.append(blas.blas_threads())
                inside.set()
                leave.wait(10)
            seen.append(blas.blas_threads())
        other = threading.Thread(target=hold)
        other.start()
        assert inside.wait(10)
        with second:
            seen.append(blas.blas_threads())
        leave.set()
        other.join(10)
        assert seen == [2, 1, 2] and blas.blas_threads() == 2
        assert second.calls == 0 and first.calls == 1  # the shared call decided nothing


@needs_blas
@pytest.mark.parametrize("shared", [True, False])
def test_user_threads_calling_sites_at_once_leave_the_users_setting(set_threads, two_cores,
                                                                    monkeypatch, shared):
    """Each site reads, changes and puts back BLAS's one thread count: without one lock
    for all of them, a site that read another's setting put that back (user 4; one site
    sets 3, another reads 3, sets 1; the first puts back 4, the second 3)."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(wake_cost, "cores", lambda: 4)
    set_threads(4)
    rng = np.random.default_rng(0)
    choices = iter(rng.integers(1, 4, 10**6).tolist())
    monkeypatch.setattr(blas.GemmSite, "threads", lambda self, user: min(user, next(choices)))
    a, b = rng.standard_normal((24, 16)), rng.standard_normal((16, 8))
    want = a @ b
    one = blas.GemmSite()
    errors = []

    def work():
        site = one if shared else blas.GemmSite()
        out = np.empty((24, 8))
        try:
            for _ in range(300):
                with site:
                    if not 1 <= blas.blas_threads() <= 4:
                        errors.append(blas.blas_threads())
                    site.matmul(a, b, out)
                np.testing.assert_allclose(out, want, rtol=1e-12)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    with threadpool_limits(4, user_api="blas"):
        workers = [threading.Thread(target=work) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert not errors
        assert blas.blas_threads() == 4
