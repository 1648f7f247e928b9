"""Shared test settings: hypothesis profiles (CI default, `GRAPHJIT_LONG_TESTS=1` for more)."""

import os

import pytest
from hypothesis import HealthCheck, settings

from codegen import parallel

# CI draws the same examples every run (derandomize): a red CI is reproducible, not luck.
settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("long" if os.environ.get("GRAPHJIT_LONG_TESTS") else "ci")


def pytest_runtest_setup(item):
    """Hypothesis's pytest plugin (6.170) gives each parametrized item of a @given test a
    settings object whose parent is the previous item's, so one test function with ~1,000
    parameter sets exceeds Python's recursion limit reading `settings.database`
    (tests/graphjit/test_ops.py has 984). Each item starts from the function's own
    settings again."""
    fn = getattr(item, "obj", None)
    fn = getattr(fn, "__func__", fn)
    if fn is None or not hasattr(fn, "_hypothesis_internal_use_settings"):
        return
    original = getattr(fn, "_graphjit_original_settings", None)
    if original is None:
        fn._graphjit_original_settings = fn._hypothesis_internal_use_settings
    else:
        fn._hypothesis_internal_use_settings = original


@pytest.fixture
def set_threads():
    """codegen.parallel.set_num_threads (graphjit.set_num_threads) for one test: the
    process's thread budget before the test is put back after it. (The budget is read
    from GRAPHJIT_NUM_THREADS once, at first use: setting that variable mid-process
    changes nothing.)"""
    with parallel.thread_budget(parallel.num_threads()):
        yield parallel.set_num_threads
