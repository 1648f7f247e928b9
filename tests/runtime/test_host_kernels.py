"""Host steps call registered host kernels by name with plain-data attributes."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.executor import Executor
from runtime.host import Fresh, HostCall, host_kernel, owned_results, register_host_kernel
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


def test_a_host_result_in_fortran_order_reaches_kernels_in_c_order():
    """float16 ops run on the host; NumPy's astype of a transpose is Fortran-ordered, and a
    kernel compiled for C-ordered arrays was handed it (Numba's 'No matching definition')."""
    import graphjit as gj

    g = gj.Graph()
    with g.as_default():
        x = gj.placeholder(gj.float16, [1, 4, 1, 10], name="x")
        t = gj.cast(gj.transpose(x, [0, 2, 3, 1]), gj.float32)
        y = gj.nn.conv2d(t, np.ones((1, 3, 4, 2), np.float32), strides=[1, 1],
                         padding="VALID")
    xs = np.arange(40, dtype=np.float16).reshape(1, 4, 1, 10)
    want = gj.Session(graph=g, engine="reference").run(y, {x: xs})
    fn = gj.compile(g, fetches=[y])
    for _ in range(2):  # the general path, then the plan's runner
        (got,) = fn(xs)
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_owned_results_copy_an_input_given_back_but_pass_fresh_results_as_they_are():
    x = np.arange(4.0)
    view, fresh = x[1:], np.ones(2)
    kept = owned_results((x, view, fresh), (x,), 3)
    assert kept[0] is not x and not np.shares_memory(kept[0], x)
    assert not np.shares_memory(kept[1], x) and kept[1].flags.c_contiguous
    assert kept[2] is fresh
    np.testing.assert_array_equal(kept[0], x)
    marked = Fresh([fresh, np.zeros(3)])
    out = owned_results(marked, (x,), 1)  # the first n only, unchecked
    assert len(out) == 1 and out[0] is fresh
