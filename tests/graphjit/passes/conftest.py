"""Fixtures of the optimizer tests: a stateful op registered only while a test runs."""

from __future__ import annotations

import numpy as np
import pytest

from graphjit import registry


def _counter(x, *, _state, _op):
    # Each run adds how often this op has run: two ops, or two runs, differ.
    _state[_op.name] = _state.get(_op.name, 0) + 1
    return x + np.asarray(_state[_op.name], x.dtype)


@pytest.fixture
def counter_op(monkeypatch) -> str:
    op_def = registry.OpDef("TestCounter", lambda specs, attrs: specs[0], _counter,
                            registry.Fusion.HOST, registry.Host("a test's stateful op"),
                            differentiable=False, stateful=True)
    monkeypatch.setitem(registry._REGISTRY, "TestCounter", op_def)
    return "TestCounter"
