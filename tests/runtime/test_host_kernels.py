"""Host steps call registered host kernels by name with plain-data attributes."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.executor import Executor
from runtime.host import HostCall, host_kernel, register_host_kernel
from runtime.plan import HOST, Plan, SlotSpec, Step, assign_buffers


def _scale(x, *, factor):
    return (x * factor,)


register_host_kernel("test_scale", _scale)


def test_host_step_runs_the_named_kernel_with_its_attrs():
    f32 = np.dtype(np.float32)
    slots = [SlotSpec((3,), f32, "input"), SlotSpec((3,), f32, "host")]
    step = Step("scale", HOST, None, (0,), (1,), host=HostCall("test_scale", {"factor": 3.0}))
    plan = Plan(slots, [step], (0,), (1,))
    assign_buffers(plan)
    (y,) = Executor(plan).run([np.arange(3, dtype=np.float32)])
    np.testing.assert_array_equal(y, [0.0, 3.0, 6.0])


def test_registry_refuses_a_second_kernel_of_a_name_and_names_the_missing():
    assert register_host_kernel("test_scale", _scale) is _scale  # the same one: fine
    with pytest.raises(ValueError, match="registered already"):
        register_host_kernel("test_scale", lambda x: (x,))
    with pytest.raises(LookupError, match="test_scale"):
        host_kernel("no_such_kernel")
