"""runtime.plan on its own: slot sizes, buffer sharing by liveness, and the arrays a
buffer set is made of. Plans are built by hand; their steps are never run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.plan import (
    ALIGN_BYTES,
    ALIGNED_OUTPUT_BYTES,
    HOST,
    KERNEL,
    VIEW,
    Plan,
    SlotSpec,
    Step,
    aligned_empty,
    aligned_zeros,
    assign_buffers,
    materialize,
    output_empty,
)

F32 = np.dtype(np.float32)


def _slot(role: str, n: int = 4, base: int | None = None, value=None) -> SlotSpec:
    return SlotSpec((n,), F32, role, value, base)


def _step(inputs, outputs, kind=KERNEL) -> Step:
    return Step(f"step{list(outputs)}", kind, None, tuple(inputs), tuple(outputs))


def _planned(slots, steps, inputs=(0,), fetches=()) -> Plan:
    plan = Plan(list(slots), list(steps), tuple(inputs), tuple(fetches))
    assign_buffers(plan)
    _assert_sound(plan)
    return plan


def _root(plan: Plan, s: int) -> int:
    while plan.slots[s].role == "view":
        s = plan.slots[s].base
    return s


def _lifetimes(plan: Plan) -> dict[int, tuple[int, int]]:
    """slot -> (step writing it first, last step using it or a view of it); fetched
    values live past the last step."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, step in enumerate(plan.steps):
        for s in step.outputs:
            if plan.slots[s].role != "view":
                first.setdefault(s, i)
        for s in step.inputs + step.outputs:
            last[_root(plan, s)] = i
    for s in plan.fetch_slots:
        last[_root(plan, s)] = len(plan.steps)
    return {s: (first[s], last[s]) for s in first}


def _assert_sound(plan: Plan) -> None:
    """Only buffer slots have buffers, each fits its buffer, and two slots sharing one
    never live at the same time (a step's inputs and outputs count as live together)."""
    assert all(plan.slots[s].role == "buffer" for s in plan.buffer_of)
    life = _lifetimes(plan)
    for s, (b, nbytes) in plan.buffer_of.items():
        assert nbytes == plan.slots[s].nbytes and plan.buffer_sizes[b] >= nbytes
    for s, t in itertools.combinations(plan.buffer_of, 2):
        if plan.buffer_of[s][0] == plan.buffer_of[t][0]:
            (a1, b1), (a2, b2) = life[s], life[t]
            assert b1 < a2 or b2 < a1, f"slots {s} and {t} share a buffer while both live"


def _buffer(plan: Plan, s: int) -> int:
    return plan.buffer_of[s][0]


def test_nbytes_is_elements_times_itemsize():
    assert SlotSpec((3, 4), F32, "buffer").nbytes == 48
    assert SlotSpec((), np.dtype(np.float64), "buffer").nbytes == 8
    assert SlotSpec((7,), np.dtype(np.int8), "buffer").nbytes == 7
    assert SlotSpec((0, 5), F32, "buffer").nbytes == 0


def test_a_chain_alternates_between_two_buffers():
    # in -> b1 -> b2 -> b3 -> b4 -> out: a step's output never takes the buffer of an
    # input it reads for the last time (kernels do not work in place)
    slots = [_slot("input")] + [_slot("buffer") for _ in range(4)] + [_slot("output")]
    steps = [_step([i], [i + 1]) for i in range(5)]
    plan = _planned(slots, steps, fetches=(5,))
    assert [_buffer(plan, s) for s in (1, 2, 3, 4)] == [0, 1, 0, 1]
    assert plan.peak_bytes() == 2 * 16
    assert plan.intermediate_bytes() == 4 * 16
    assert plan.output_bytes() == 16


def test_only_buffer_slots_get_buffers():
    slots = [_slot("input"), _slot("const", value=np.zeros(4, F32)), _slot("buffer"),
             _slot("view", base=2), _slot("host"), _slot("output")]
    steps = [_step([0, 1], [2]), _step([2], [3], VIEW), _step([3], [4], HOST),
             _step([4], [5])]
    plan = _planned(slots, steps, fetches=(5,))
    assert set(plan.buffer_of) == {2}


def test_a_view_keeps_its_base_alive_until_the_view_is_last_read():
    slots = [_slot("input"), _slot("buffer"), _slot("view", base=1), _slot("buffer"),
             _slot("output"), _slot("output")]
    read_later = [_step([0], [1]), _step([1], [2], VIEW), _step([0], [3]),
                  _step([2, 3], [4])]
    plan = _planned(slots, read_later, fetches=(4,))
    assert _buffer(plan, 3) != _buffer(plan, 1)
    # control: the same plan with the view read before slot 3 is computed shares
    read_early = [_step([0], [1]), _step([1], [2], VIEW), _step([2], [5]),
                  _step([0], [3]), _step([3], [4])]
    plan = _planned(slots, read_early, fetches=(4, 5))
    assert _buffer(plan, 3) == _buffer(plan, 1)


def test_a_fetched_buffer_or_a_fetched_view_of_one_lives_to_the_end():
    slots = [_slot("input"), _slot("buffer"), _slot("output"), _slot("buffer"),
             _slot("output"), _slot("view", base=1)]
    steps = [_step([0], [1]), _step([1], [2]), _step([0], [3]), _step([3], [4])]
    assert _buffer(_planned(slots, steps, fetches=(2, 4)), 3) == 0  # control: shared
    assert _buffer(_planned(slots, steps, fetches=(2, 4, 1)), 3) == 1
    steps_with_view = steps[:1] + [_step([1], [5], VIEW)] + steps[1:]
    assert _buffer(_planned(slots, steps_with_view, fetches=(2, 4, 5)), 3) == 1


def test_every_output_of_a_step_gets_its_own_buffer_and_unread_ones_are_freed_at_once():
    slots = [_slot("input"), _slot("buffer"), _slot("buffer"), _slot("buffer"),
             _slot("output")]
    steps = [_step([0], [1, 2]), _step([1], [3]), _step([3], [4])]  # slot 2 is never read
    plan = _planned(slots, steps, fetches=(4,))
    assert _buffer(plan, 1) != _buffer(plan, 2)
    assert _buffer(plan, 3) == _buffer(plan, 2)
    assert plan.peak_bytes() == 2 * 16


def test_the_smallest_free_buffer_that_fits_is_chosen():
    slots = [_slot("input"), _slot("buffer", 100), _slot("buffer", 40), _slot("output"),
             _slot("buffer", 30), _slot("output")]
    steps = [_step([0], [1]), _step([0], [2]), _step([1, 2], [3]), _step([0], [4]),
             _step([4], [5])]
    plan = _planned(slots, steps, fetches=(3, 5))
    assert _buffer(plan, 4) == _buffer(plan, 2)
    assert plan.buffer_sizes == [400, 160]


def test_a_free_buffer_too_small_grows_instead_of_adding_one():
    slots = [_slot("input"), _slot("buffer", 10), _slot("output"), _slot("buffer", 100),
             _slot("output")]
    steps = [_step([0], [1]), _step([1], [2]), _step([0], [3]), _step([3], [4])]
    plan = _planned(slots, steps, fetches=(2, 4))
    assert _buffer(plan, 3) == _buffer(plan, 1)
    assert plan.buffer_sizes == [400] and plan.peak_bytes() == 400
    assert plan.buffer_of[1] == (0, 40)  # the smaller slot still uses its own bytes
    arrays = materialize(plan)
    assert arrays[1].shape == (10,) and arrays[3].shape == (100,)
    assert np.shares_memory(arrays[1], arrays[3])


def test_materialize_fills_constants_buffers_and_views_and_leaves_the_rest_empty():
    value = np.arange(4, dtype=F32)
    slots = [_slot("input"), _slot("const", value=value), _slot("buffer"), _slot("buffer"),
             _slot("buffer"), SlotSpec((2, 2), F32, "view", base=2), _slot("output"),
             SlotSpec((2, 2), F32, "view", base=1), _slot("buffer")]  # 8: never written
    steps = [_step([0, 1], [2]), _step([2], [3]), _step([3], [4]), _step([2], [5], VIEW),
             _step([4, 5], [6])]
    plan = _planned(slots, steps, fetches=(6,))
    arrays = materialize(plan)
    assert arrays[0] is None and arrays[6] is None  # the caller's, fresh per call
    assert arrays[1] is value
    for s in (2, 3, 4, 8):
        assert arrays[s].shape == (4,) and arrays[s].dtype == F32
    assert arrays[5].shape == (2, 2) and np.shares_memory(arrays[5], arrays[2])
    assert arrays[7].shape == (2, 2) and np.shares_memory(arrays[7], value)
    assert not np.shares_memory(arrays[2], arrays[3])
    assert not np.shares_memory(arrays[3], arrays[4])
    assert 8 not in plan.buffer_of and not np.shares_memory(arrays[8], arrays[2])
    for s, t in itertools.combinations((2, 3, 4), 2):  # the plan's sharing, in memory
        assert np.shares_memory(arrays[s], arrays[t]) == (_buffer(plan, s) == _buffer(plan, t))


def test_each_materialized_set_has_buffers_of_its_own():
    slots = [_slot("input"), _slot("buffer"), _slot("output")]
    plan = _planned(slots, [_step([0], [1]), _step([1], [2])], fetches=(2,))
    first, second = materialize(plan), materialize(plan)
    assert not np.shares_memory(first[1], second[1])


@given(st.lists(st.integers(0, 9), max_size=3),
       st.sampled_from(["float32", "float64", "int8", "complex64"]))
def test_aligned_arrays_start_on_a_cache_line(shape, dtype):
    shape = tuple(shape)
    for array in (aligned_empty(shape, dtype), aligned_zeros(shape, dtype)):
        assert array.shape == shape and array.dtype == dtype and array.flags.c_contiguous
        assert array.flags.writeable
        assert array.size == 0 or array.ctypes.data % ALIGN_BYTES == 0
    assert not aligned_zeros(shape, dtype).any()


@pytest.mark.parametrize("shape", [(ALIGNED_OUTPUT_BYTES // 4,), (3, 1024), (4096,)])
def test_outputs_of_a_page_or_more_start_on_a_cache_line(shape):
    array = output_empty(shape, np.float32)
    assert array.shape == shape and array.dtype == F32 and array.flags.c_contiguous
    assert array.flags.writeable and array.ctypes.data % ALIGN_BYTES == 0


@pytest.mark.parametrize("shape", [(), (0,), (8,), (ALIGNED_OUTPUT_BYTES // 4 - 1,)])
def test_smaller_outputs_are_plain_arrays(shape):
    """(np.empty is cheaper, and a few vector stores crossing a line cost little.)"""
    array = output_empty(shape, np.float32)
    assert array.shape == shape and array.dtype == F32 and array.flags.owndata


def test_materialized_buffers_start_on_a_cache_line():
    """(Kernels load whole vectors of them: one crossing a line is two loads.)"""
    slots = [_slot("input"), _slot("buffer", 3), _slot("buffer", 5), _slot("buffer", 7),
             _slot("output")]
    steps = [_step([0], [1]), _step([1], [2]), _step([1, 2], [3]), _step([3], [4])]
    plan = _planned(slots, steps, fetches=(4,))
    for _ in range(3):
        arrays = materialize(plan)
        assert all(arrays[s].ctypes.data % ALIGN_BYTES == 0 for s in (1, 2, 3))


def test_empty_buffers_materialize():
    slots = [_slot("input"), SlotSpec((0, 3), F32, "buffer"), _slot("output")]
    plan = _planned(slots, [_step([0], [1]), _step([1], [2])], fetches=(2,))
    assert plan.peak_bytes() == 0
    assert materialize(plan)[1].shape == (0, 3)


@st.composite
def _plans(draw):
    """Random plans: each step reads some earlier values and writes one to three new
    buffers, outputs or views; some values are fetched."""
    slots = [_slot("input")]
    steps = []
    for _ in range(draw(st.integers(1, 12))):
        reads = draw(st.lists(st.integers(0, len(slots) - 1), max_size=3))
        if draw(st.integers(0, 4)) == 0:
            base = draw(st.integers(0, len(slots) - 1))
            slots.append(SlotSpec(slots[base].shape, F32, "view", base=base))
            steps.append(_step([base], [len(slots) - 1], VIEW))
            continue
        outs = []
        for _ in range(draw(st.integers(1, 3))):
            role = draw(st.sampled_from(["buffer", "buffer", "buffer", "output"]))
            slots.append(_slot(role, draw(st.integers(0, 50))))
            outs.append(len(slots) - 1)
        steps.append(_step(reads, outs))
    fetches = draw(st.lists(st.integers(0, len(slots) - 1), max_size=3))
    return slots, steps, fetches


@given(_plans())
def test_random_plans_never_share_a_buffer_between_live_slots(drawn):
    slots, steps, fetches = drawn
    plan = _planned(slots, steps, fetches=fetches)  # asserts soundness
    buffers = [s for s, spec in enumerate(slots) if spec.role == "buffer"]
    assert set(plan.buffer_of) == set(buffers)
    assert plan.peak_bytes() <= plan.intermediate_bytes()
    arrays = materialize(plan)
    for s in buffers:
        assert arrays[s].shape == slots[s].shape
