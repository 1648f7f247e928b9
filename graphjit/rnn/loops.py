"""Running a cell over time: tf.nn.dynamic_rnn (a graphjit while loop), static_rnn (the
steps unrolled in Python) and their bidirectional forms, with TF 1.x's arguments,
results and variable scopes ("rnn", "bidirectional_rnn/fw").

dynamic_rnn's loop carries the step counter, the state and the outputs so far, a
[time, batch, units] tensor each step adds its output to (at its row, ScatterAddLike).
A loop variable keeps its shape, as gradients through a loop need; the price is that
the loop's gradient keeps that tensor for every step (TF keeps one output per step in
a TensorArray, which graphjit does not have).
"""

from __future__ import annotations

import numbers

from graphjit import dtypes
from graphjit.errors import (
    DTypeError,
    InvalidArgumentError,
    ShapeError,
    UnsupportedError,
    VariableError,
    user_source_line,
)
from graphjit.function import flatten, pack
from graphjit.graph import Tensor
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_to_tensor, make
from graphjit.ops.control_flow import while_loop
from graphjit.ops.indexing import gather, unstack
from graphjit.ops.linalg import matmul
from graphjit.ops.shape_ops import (
    concat,
    one_hot,
    reshape,
    shape,
    stack,
    transpose,
    zeros,
    zeros_like,
)
from graphjit.ops.shape_ops import (
    range as range_,
)
from graphjit.rnn.cell_base import building_loop_body
from graphjit.rnn.wrappers import _check_cell, ensure_built, prepare_loop
from graphjit.variable_scope import variable_scope


def _fail(where: str, cls, message: str):
    return cls(f"{where} at {user_source_line()}: {message}")


def _sequence_length(where: str, sequence_length, batch) -> Tensor | None:
    if sequence_length is None:
        return None
    lengths = convert_to_tensor(sequence_length)
    if not lengths.dtype.is_integer:
        raise _fail(where, DTypeError, f"sequence_length must be int32 or int64, got "
                    f"{lengths.dtype}")
    if lengths.ndim != 1 or (batch is not None and lengths.shape[0] not in (None, batch)):
        raise _fail(where, ShapeError, f"sequence_length must be a vector of length batch_size "
                    f"({batch}), but saw shape: {lengths.shape}")
    return lengths


def _initial_state(where: str, cell, initial_state, dtype, batch_size):
    """(the state, its dtype): the state given, else the cell's zero state of `dtype`."""
    if initial_state is not None:
        _, leaves = flatten(initial_state, "initial_state")
        leaves = [convert_to_tensor(t) for t in leaves]
        return initial_state, leaves[0].dtype
    if dtype is None:
        raise _fail(where, InvalidArgumentError, "If there is no initial_state, you must give "
                    "a dtype.")
    dtype = dtypes.as_dtype(dtype)
    return cell.zero_state(batch_size, dtype), dtype


def _copy_through(alive: Tensor, new, old):
    """`new` for the sequences still running (alive [batch, 1]), `old` for the others."""
    skeleton, new_leaves = flatten(new, "the cell's state")
    _, old_leaves = flatten(old, "the state")
    return pack(skeleton, [ew.where(alive, n, o) for n, o in zip(new_leaves, old_leaves)])


def _int_size(where: str, cell) -> int:
    size = cell.output_size
    if not isinstance(size, numbers.Integral) or isinstance(size, bool):
        raise _fail(where, UnsupportedError, f"cells with nested outputs are not supported "
                    f"(output_size {size!r})")
    return int(size)


# -- dynamic_rnn --------------------------------------------------------------------------

def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None,
                parallel_iterations=None, swap_memory=False, time_major=False, scope=None):
    """(outputs, final state) of `cell` run over `inputs` [batch, time, depth] (or [time,
    batch, depth] when time_major) by a while loop; outputs are [batch, time, units] (or
    time-major). With `sequence_length` ([batch] ints), a sequence's outputs past its
    length are zeros and its state stays the one at its length, as TF's.
    `parallel_iterations` and `swap_memory` are accepted and ignored."""
    where = "tf.nn.dynamic_rnn"
    _check_cell(where, cell)
    x = _sequence_inputs(where, inputs)
    with variable_scope(scope or "rnn"):
        x_tm = x if time_major else transpose(x, [1, 0, 2])
        steps, batch = x_tm.shape[0], x_tm.shape[1]
        lengths = _sequence_length(where, sequence_length, batch)
        state, state_dtype = _initial_state(where, cell, initial_state, dtype,
                                            batch if batch is not None else shape(x_tm)[1])
        ensure_built(cell, [batch, x_tm.shape[2]], x.dtype)
        prepare_loop(cell)
        size = _int_size(where, cell)
        outputs = ew.add(zeros_like(x_tm[:, :, :1], dtype=state_dtype), zeros([size], state_dtype))
        n_steps = steps if steps is not None else shape(x_tm)[0]

        def body(time, state, outputs):
            with building_loop_body(time):
                try:
                    output, new_state = cell(gather(x_tm, time), state)
                except VariableError as exc:
                    raise _fail(where, VariableError, f"{exc}; the cell asked for a variable "
                                "inside the loop, where graphjit cannot create one: make it "
                                "in the cell's build(inputs_shape), as TF's cells do (or use "
                                "static_rnn)") from None
            if output.dtype != outputs.dtype:
                raise _fail(where, DTypeError, f"the cell's output is {output.dtype}, its "
                            f"state {outputs.dtype}; they must agree")
            if lengths is not None:
                alive = ew.less(ew.cast(time, lengths.dtype), lengths)[:, None]
                output = ew.where(alive, output, zeros_like(output))
                new_state = _copy_through(alive, new_state, state)
            row = make("ScatterAddLike", [output[None], reshape(time, [1]), outputs],
                       {"axis": 0})
            return time + 1, new_state, outputs + row

        _, state, outputs = while_loop(lambda time, *_: time < n_steps, body,
                                       [convert_to_tensor(0), state, outputs],
                                       name="while")
        if not time_major:
            outputs = transpose(outputs, [1, 0, 2])
        return outputs, state


def _sequence_inputs(where: str, inputs) -> Tensor:
    if isinstance(inputs, (list, tuple, dict)):
        raise _fail(where, UnsupportedError, "nested inputs are not supported; pass one "
                    "tensor [batch, time, depth]")
    x = convert_to_tensor(inputs)
    if x.ndim != 3 or x.shape[2] is None:
        raise _fail(where, ShapeError, f"inputs must be [batch, time, depth] (or time major) "
                    f"with the depth known, got '{x.name}' of shape {x.shape}")
    if not x.dtype.is_floating:
        raise _fail(where, DTypeError, f"inputs must be floating point, got {x.dtype}")
    return x


# -- static_rnn ----------------------------------------------------------------------------

def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None,
               scope=None):
    """(a list of outputs, the final state) of `cell` over the list `inputs` of [batch,
    depth] tensors, one cell call per step (unrolled when the graph is built).
    `sequence_length` zeros outputs and keeps states past each sequence's end, as TF's."""
    where = "tf.nn.static_rnn"
    _check_cell(where, cell)
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise _fail(where, InvalidArgumentError, "inputs must be a non-empty list of "
                    "[batch, depth] tensors (e.g. tf.unstack(x, axis=1))")
    inputs = [convert_to_tensor(x) for x in inputs]
    with variable_scope(scope or "rnn") as varscope:
        batch = inputs[0].shape[0] if inputs[0].ndim else None
        lengths = _sequence_length(where, sequence_length, batch)
        state, _ = _initial_state(where, cell, initial_state, dtype,
                                  batch if batch is not None else shape(inputs[0])[0])
        outputs = []
        for time, x in enumerate(inputs):
            if time > 0:
                varscope.reuse_variables()
            output, new_state = cell(x, state)
            if lengths is not None:
                alive = ew.less(ew.cast(time, lengths.dtype), lengths)[:, None]
                output = ew.where(alive, output, zeros_like(output))
                new_state = _copy_through(alive, new_state, state)
            outputs.append(output)
            state = new_state
        return outputs, state


# -- bidirectional ------------------------------------------------------------------------

def _reverse_time(where: str, x: Tensor, lengths, time_axis: int) -> Tensor:
    """x reversed along time; with lengths, only each sequence's first length steps
    (TF's reverse_sequence), as a batched permutation matmul (time known statically)."""
    if lengths is None:
        key = [slice(None)] * x.ndim
        key[time_axis] = slice(None, None, -1)
        return x[tuple(key)]
    steps = x.shape[time_axis]
    if steps is None:
        raise _fail(where, UnsupportedError, "with sequence_length, the backward direction "
                    "needs the number of time steps known when the graph is built")
    xb = x if time_axis == 1 else transpose(x, [1, 0, 2])  # [batch, time, depth]
    t = range_(steps)[None, :]
    n = ew.cast(lengths, dtypes.int32)[:, None]
    source = ew.where(ew.less(t, n), n - 1 - t, t)  # [batch, time]: step read at each step
    permutation = one_hot(source, steps, dtype=x.dtype)  # [batch, time, time]
    reversed_ = matmul(permutation, xb)
    return reversed_ if time_axis == 1 else transpose(reversed_, [1, 0, 2])


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None,
                              initial_state_fw=None, initial_state_bw=None, dtype=None,
                              parallel_iterations=None, swap_memory=False, time_major=False,
                              scope=None):
    """((outputs_fw, outputs_bw), (state_fw, state_bw)): dynamic_rnn forward, and over the
    time-reversed sequences (each reversed within its length) backward, its outputs
    reversed back; variables under "bidirectional_rnn/fw/" and ".../bw/"."""
    where = "tf.nn.bidirectional_dynamic_rnn"
    _check_cell(where, cell_fw)
    _check_cell(where, cell_bw)
    x = _sequence_inputs(where, inputs)
    time_axis = 0 if time_major else 1
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            out_fw, state_fw = dynamic_rnn(cell_fw, x, sequence_length, initial_state_fw,
                                           dtype, time_major=time_major, scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            lengths = _sequence_length(where, sequence_length, x.shape[1 - time_axis])
            backward = _reverse_time(where, x, lengths, time_axis)
            out_bw, state_bw = dynamic_rnn(cell_bw, backward, sequence_length,
                                           initial_state_bw, dtype, time_major=time_major,
                                           scope=bw_scope)
        out_bw = _reverse_time(where, out_bw, lengths, time_axis)
    return (out_fw, out_bw), (state_fw, state_bw)


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None,
                             initial_state_bw=None, dtype=None, sequence_length=None,
                             scope=None):
    """(outputs, state_fw, state_bw): static_rnn forward and over the reversed list
    backward; each output is concat([fw, bw], 1), as TF's."""
    where = "tf.nn.static_bidirectional_rnn"
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise _fail(where, InvalidArgumentError, "inputs must be a non-empty list of "
                    "[batch, depth] tensors")
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            out_fw, state_fw = static_rnn(cell_fw, inputs, initial_state_fw, dtype,
                                          sequence_length, scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            if sequence_length is None:
                backward = list(inputs)[::-1]
            else:
                lengths = _sequence_length(where, sequence_length, None)
                stacked = stack([convert_to_tensor(x) for x in inputs], axis=1)
                backward = unstack(_reverse_time(where, stacked, lengths, 1), axis=1)
            tmp, state_bw = static_rnn(cell_bw, backward, initial_state_bw, dtype,
                                       sequence_length, scope=bw_scope)
        if sequence_length is None:
            out_bw = tmp[::-1]
        else:
            out_bw = unstack(_reverse_time(where, stack(tmp, axis=1), lengths, 1), axis=1)
        outputs = [concat([f, b], 1) for f, b in zip(out_fw, out_bw)]
    return outputs, state_fw, state_bw


__all__ = ["dynamic_rnn", "static_rnn", "bidirectional_dynamic_rnn",
           "static_bidirectional_rnn"]
