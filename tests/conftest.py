"""Shared test settings: hypothesis profiles (CI default, `GRAPHJIT_LONG_TESTS=1` for more)."""

import os

from hypothesis import HealthCheck, settings

# CI draws the same examples every run (derandomize): a red CI is reproducible, not luck.
settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("long" if os.environ.get("GRAPHJIT_LONG_TESTS") else "ci")
