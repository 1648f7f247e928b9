"""runtime.executor on its own: an Executor over hand-built Plans whose kernel, extern,
view and host steps are Python callables (no Numba): the arguments each step gets, fresh
outputs against copied fetches, out= arrays, and the buffer sets of concurrent calls.
(tests/runtime/test_compiled_runtime.py covers the same contract through compile().)"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from runtime.executor import Executor
from runtime.plan import EXTERN, HOST, KERNEL, VIEW, Plan, SlotSpec, Step, assign_buffers

F32 = np.dtype(np.float32)


def _spec(role: str, shape=(3,), base=None, value=None) -> SlotSpec:
    return SlotSpec(tuple(shape), F32, role, value, base)


def _executor(slots, steps, inputs, fetches) -> Executor:
    plan = Plan(list(slots), list(steps), tuple(inputs), tuple(fetches))
    assign_buffers(plan)
    return Executor(plan)


def _kernel(fn, inputs, outputs, kind=KERNEL, name="k") -> Step:
    return Step(name, kind, fn, tuple(inputs), tuple(outputs))


class Recorder:
    """A kernel step that records the arrays it is given and computes `fn` into its
    last argument (its one output)."""

    def __init__(self, fn):
        self.fn = fn
        self.calls: list[tuple] = []

    def __call__(self, *arrays):
        self.calls.append(tuple(id(a) for a in arrays))  # ids: no reference kept
        arrays[-1][...] = self.fn(*arrays[:-1])


def _sub_plan():
    """out = a - b, from two inputs: an argument-order-sensitive kernel."""
    sub = Recorder(lambda a, b: a - b)
    slots = [_spec("input"), _spec("input"), _spec("output")]
    return _executor(slots, [_kernel(sub, [0, 1], [2])], (0, 1), (2,)), sub


def test_a_kernel_gets_its_inputs_in_order_then_its_outputs():
    executor, sub = _sub_plan()
    a, b = np.array([5, 7, 9], F32), np.array([1, 2, 3], F32)
    (result,) = executor.run([a, b])
    np.testing.assert_array_equal(result, [4, 5, 6])
    ((arg_a, arg_b, arg_out),) = sub.calls
    assert (arg_a, arg_b, arg_out) == (id(a), id(b), id(result))  # no copies in between


def test_a_slot_read_twice_is_passed_twice_and_a_kernel_may_have_no_inputs():
    seen = []

    def square(x, y, out):
        seen.append(x is y)
        out[...] = x * y

    def fill(out):
        out[...] = np.arange(out.size)

    slots = [_spec("input"), _spec("output"), _spec("output")]
    steps = [_kernel(square, [0, 0], [1], EXTERN), _kernel(fill, [], [2])]
    x = np.array([1, 2, 3], F32)
    squared, filled = _executor(slots, steps, (0,), (1, 2)).run([x])
    assert seen == [True]
    np.testing.assert_array_equal(squared, [1, 4, 9])
    np.testing.assert_array_equal(filled, [0, 1, 2])


def test_outputs_are_fresh_while_the_caller_holds_them():
    executor, sub = _sub_plan()
    ones = np.ones(3, F32)
    first = executor.run([ones * 3, ones])[0]
    second = executor.run([ones * 5, ones])[0]
    assert not np.shares_memory(first, second)
    assert sub.calls[0][2] != sub.calls[1][2]  # the second call wrote a new array
    np.testing.assert_array_equal(first, [2, 2, 2])
    np.testing.assert_array_equal(second, [4, 4, 4])


def test_intermediates_stay_in_the_plan_and_fetched_ones_are_copied():
    double = Recorder(lambda x: x * 2)
    inc = Recorder(lambda x: x + 1)
    slots = [_spec("input"), _spec("buffer"), _spec("output")]
    steps = [_kernel(double, [0], [1]), _kernel(inc, [1], [2])]
    executor = _executor(slots, steps, (0,), (2, 1))  # the buffer is fetched too
    out, mid = executor.run([np.array([1, 2, 3], F32)])
    np.testing.assert_array_equal(mid, [2, 4, 6])
    np.testing.assert_array_equal(out, [3, 5, 7])
    # the buffer's array is reused by the next call; the fetched copy is not
    assert double.calls[0][1] == inc.calls[0][0]
    executor.run([np.array([10, 10, 10], F32)])
    assert double.calls[1][1] == double.calls[0][1]
    np.testing.assert_array_equal(mid, [2, 4, 6])


def test_fetched_inputs_and_constants_are_returned_as_copies():
    constant = np.array([1, 2, 3], F32)
    slots = [_spec("input"), _spec("const", value=constant)]
    executor = _executor(slots, [], (0,), (0, 1))
    x = np.array([4, 5, 6], F32)
    got_x, got_c = executor.run([x])
    assert got_x is not x and not np.shares_memory(got_x, x)
    np.testing.assert_array_equal(got_x, x)
    got_c[...] = 0  # the caller owns what it gets
    np.testing.assert_array_equal(executor.run([x])[1], [1, 2, 3])
    np.testing.assert_array_equal(constant, [1, 2, 3])


def test_a_view_step_reshapes_its_input_and_later_steps_read_the_view():
    seen_shapes = []

    def total(v, out):
        seen_shapes.append(v.shape)
        out[...] = v.sum(axis=1)

    double = Recorder(lambda x: x * 2)
    slots = [_spec("input", (6,)), _spec("buffer", (6,)), _spec("view", (2, 3), base=1),
             _spec("output", (2,))]
    steps = [_kernel(double, [0], [1]), _kernel(None, [1], [2], VIEW),
             _kernel(total, [2], [3])]
    executor = _executor(slots, steps, (0,), (3, 2))
    out, view = executor.run([np.arange(6, dtype=F32)])
    assert seen_shapes == [(2, 3)]
    np.testing.assert_array_equal(out, [6, 24])
    assert view.shape == (2, 3)
    np.testing.assert_array_equal(view, [[0, 2, 4], [6, 8, 10]])  # a copy of the view


def test_a_host_step_gets_its_inputs_only_and_its_results_fill_its_slots():
    got = []

    def split(x, y):
        got.append(len((x, y)))
        return x + y, x - y

    def check(values):  # a check step: no outputs, may raise
        if (values < 0).any():
            raise ValueError("negative")
        return ()

    slots = [_spec("input"), _spec("input"), _spec("host"), _spec("host")]
    steps = [_kernel(split, [0, 1], [2, 3], HOST), _kernel(check, [3], (), HOST)]
    executor = _executor(slots, steps, (0, 1), (3, 2))
    diff, total = executor.run([np.full(3, 5, F32), np.full(3, 2, F32)])
    assert got == [2]
    np.testing.assert_array_equal(diff, [3, 3, 3])
    np.testing.assert_array_equal(total, [7, 7, 7])
    with pytest.raises(ValueError, match="negative"):
        executor.run([np.zeros(3, F32), np.ones(3, F32)])


def test_out_for_a_fresh_output_is_written_by_the_kernel_itself():
    executor, sub = _sub_plan()
    buffer = np.full(3, -1, F32)
    result = executor.run([np.full(3, 4, F32), np.ones(3, F32)], out={0: buffer})
    assert result[0] is buffer
    assert sub.calls[0][2] == id(buffer)  # no copy: the kernel wrote into it
    np.testing.assert_array_equal(buffer, [3, 3, 3])
    # the next call without out= does not write into the caller's array
    again = executor.run([np.full(3, 9, F32), np.ones(3, F32)])[0]
    np.testing.assert_array_equal(buffer, [3, 3, 3])
    np.testing.assert_array_equal(again, [8, 8, 8])


def test_out_for_copied_fetches_receives_a_copy_and_leaves_the_plan_alone():
    double = Recorder(lambda x: x * 2)
    inc = Recorder(lambda x, c: x + c)
    constant = np.array([7, 8, 9], F32)
    slots = [_spec("input"), _spec("buffer"), _spec("output"), _spec("const", value=constant)]
    steps = [_kernel(double, [0], [1]), _kernel(inc, [1, 3], [2])]
    executor = _executor(slots, steps, (0,), (2, 1, 3, 0))
    x = np.array([1, 2, 3], F32)
    outs = {1: np.zeros(3, F32), 2: np.zeros(3, F32), 3: np.zeros(3, F32)}  # not 0
    results = executor.run([x], out=outs)
    assert all(results[p] is a for p, a in outs.items())
    assert results[0] is not outs[1]
    np.testing.assert_array_equal(outs[1], [2, 4, 6])
    np.testing.assert_array_equal(outs[2], [7, 8, 9])
    np.testing.assert_array_equal(outs[3], [1, 2, 3])
    np.testing.assert_array_equal(results[0], [9, 12, 15])
    # neither the buffer, the constant nor the input slot was replaced by an out= array
    assert inc.calls[0][0] == double.calls[0][1] and inc.calls[0][1] == id(constant)
    assert double.calls[0][0] == id(x)
    results = executor.run([x + 1])
    np.testing.assert_array_equal(results[0], [11, 14, 17])
    np.testing.assert_array_equal(outs[1], [2, 4, 6])  # untouched by the second call


def test_the_callers_inputs_are_not_kept_after_a_call_even_a_failing_one():
    def boom(x, out):
        raise RuntimeError("boom")

    slots = [_spec("input"), _spec("output")]
    for fn in (Recorder(lambda x: x), boom):
        executor = _executor(slots, [_kernel(fn, [0], [1])], (0,), (1,))
        x = np.ones(3, F32)
        alive = weakref.ref(x)
        try:
            executor.run([x])
        except RuntimeError:
            pass
        del x
        gc.collect()
        assert alive() is None
        assert len(executor._pool) == 1  # the buffer set went back to the pool


def test_a_call_made_during_a_call_gets_a_buffer_set_of_its_own():
    """Concurrent callers each take a private set of buffers: a host step calling the
    same executor again (deterministic, unlike threads) must not share the outer call's."""
    buffers_seen = []

    def double(x, out):
        buffers_seen.append(out)
        out[...] = x * 2

    def nested(y):
        if y[0] < 100:  # the outer call runs the plan once more, on other values
            inner = executor.run([np.full(3, 100, F32)])[0]
            np.testing.assert_array_equal(inner, [201, 201, 201])
        return (y + 1,)

    slots = [_spec("input"), _spec("buffer"), _spec("host")]
    steps = [_kernel(double, [0], [1]), _kernel(nested, [1], [2], HOST)]
    executor = _executor(slots, steps, (0,), (2,))
    executor.run([np.full(3, 100, F32)])  # no nested call: leaves one set in the pool
    (outer,) = executor.run([np.ones(3, F32)])
    np.testing.assert_array_equal(outer, [3, 3, 3])  # its buffer was not overwritten
    warm_up, outer_buffer, inner_buffer = buffers_seen
    assert outer_buffer is warm_up  # the outer call took the pooled set
    assert not np.shares_memory(outer_buffer, inner_buffer)
    assert len(executor._pool) == 2


def test_a_timer_runs_the_program_in_place_of_the_loop():
    class Timer:
        def __init__(self):
            self.steps = 0

        def run(self, plan, program, arrays):
            from runtime.executor import run_step
            for kind, fn, args, outs, view_shape in program:
                self.steps += 1
                run_step(kind, fn, args, outs, view_shape, arrays)

    executor, sub = _sub_plan()
    timer = Timer()
    (result,) = executor.run([np.full(3, 2, F32), np.ones(3, F32)], timer=timer)
    assert timer.steps == 1 and len(sub.calls) == 1
    np.testing.assert_array_equal(result, [1, 1, 1])
