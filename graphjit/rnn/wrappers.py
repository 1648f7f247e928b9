"""Cells made of cells: MultiRNNCell stacks them, DropoutWrapper, ResidualWrapper and
DeviceWrapper wrap one (TF 1.x's).

A wrapper calls its cell's own `__call__` and adds no variable scope of its own, as
TF's do, so a wrapped cell's variables keep the names the bare cell would have.

Dropout inside dynamic_rnn: a while loop's body may not draw random numbers, so
`prepare_loop` draws a key per dropout site before the loop and each step varies it
with the step counter: every step gets its own mask, as TF's.
"""

from __future__ import annotations

import numbers

from graphjit import dtypes
from graphjit.errors import InvalidArgumentError, UnsupportedError, user_source_line
from graphjit.graph import Tensor, TensorShape
from graphjit.ops import elementwise as ew
from graphjit.ops.core import constant
from graphjit.ops.dropout import dropout, dropout_with_key
from graphjit.ops.indexing import split
from graphjit.ops.shape_ops import concat
from graphjit.ops.state_ops import random_uniform
from graphjit.rnn.cell_base import LSTMStateTuple, RNNCell, loop_time
from graphjit.variable_scope import variable_scope


def _is_cell(cell) -> bool:
    return all(hasattr(cell, a) for a in ("state_size", "output_size", "__call__"))


def _check_cell(owner: str, cell) -> None:
    if not _is_cell(cell):
        raise InvalidArgumentError(f"{owner} at {user_source_line()}: expected an RNNCell "
                                   f"(with state_size, output_size and __call__), got "
                                   f"{type(cell).__name__} {cell!r:.60}")


def ensure_built(cell, inputs_shape, dtype) -> None:
    """Make `cell`'s variables now (an RNNCell; other cells make theirs when called)."""
    if isinstance(cell, RNNCell):
        cell.ensure_built(inputs_shape, dtype)


def prepare_loop(cell) -> None:
    if isinstance(cell, RNNCell):
        cell.prepare_loop()


def _output_shape(cell, batch) -> TensorShape:
    size = cell.output_size
    if not isinstance(size, numbers.Integral):
        raise UnsupportedError(f"{type(cell).__name__} at {user_source_line()}: only cells "
                               f"with an int output_size can be stacked, got {size!r}")
    return TensorShape([batch, int(size)])


class MultiRNNCell(RNNCell):
    """Cells applied in turn, each one's output the next one's input; the state is the
    tuple of theirs (or their concatenation when state_is_tuple is False). Cell i's
    variables live under "multi_rnn_cell/cell_i/"."""

    def __init__(self, cells, state_is_tuple=True):
        super().__init__()
        if not isinstance(cells, (list, tuple)) or not cells:
            raise InvalidArgumentError(f"MultiRNNCell at {user_source_line()}: must specify "
                                       "at least one cell (a list of cells)")
        for cell in cells:
            _check_cell("MultiRNNCell", cell)
        self._cells = list(cells)
        self._state_is_tuple = state_is_tuple
        if not state_is_tuple and any(not isinstance(c.state_size, numbers.Integral)
                                      for c in self._cells):
            raise InvalidArgumentError(f"MultiRNNCell at {user_source_line()}: some cells "
                                       "return tuples of states, but state_is_tuple is False")

    @property
    def state_size(self):
        sizes = tuple(c.state_size for c in self._cells)
        return sizes if self._state_is_tuple else sum(sizes)

    output_size = property(lambda self: self._cells[-1].output_size)

    def zero_state(self, batch_size, dtype):
        if self._state_is_tuple:
            return tuple(c.zero_state(batch_size, dtype) for c in self._cells)
        return super().zero_state(batch_size, dtype)

    def build(self, inputs_shape: TensorShape) -> None:
        shape = inputs_shape
        for i, cell in enumerate(self._cells):
            with variable_scope(f"cell_{i}"):
                ensure_built(cell, shape, self.dtype)
            shape = _output_shape(cell, inputs_shape[0])

    def prepare_loop(self) -> None:
        for cell in self._cells:
            prepare_loop(cell)

    def call(self, inputs, state):
        if self._state_is_tuple:
            if not isinstance(state, (list, tuple)) or len(state) != len(self._cells):
                raise self.error(InvalidArgumentError, f"expected a state tuple of "
                                 f"{len(self._cells)} states, got {state!r:.80}")
            states = list(state)
        else:
            states = split(state, [c.state_size for c in self._cells], axis=1)
        x, new_states = inputs, []
        for i, (cell, s) in enumerate(zip(self._cells, states)):
            with variable_scope(f"cell_{i}"):
                x, new = cell(x, s)
            new_states.append(new)
        return x, tuple(new_states) if self._state_is_tuple else concat(new_states, 1)


class _Wrapper(RNNCell):
    """A cell around `cell`: its sizes, zero state and variables are the cell's."""

    def __init__(self, cell):
        super().__init__()
        _check_cell(type(self).__name__, cell)
        self.cell = cell

    state_size = property(lambda self: self.cell.state_size)
    output_size = property(lambda self: self.cell.output_size)

    def zero_state(self, batch_size, dtype):
        return self.cell.zero_state(batch_size, dtype)

    def ensure_built(self, inputs_shape, dtype, scope=None) -> None:
        if isinstance(self.cell, RNNCell):
            self.cell.ensure_built(inputs_shape, dtype, scope)

    def prepare_loop(self) -> None:
        prepare_loop(self.cell)

    def __call__(self, inputs, state, scope=None):
        return self.cell(inputs, state, scope=scope)


class DeviceWrapper(_Wrapper):
    """The cell, unchanged: graphjit runs on one CPU, so there is no device to choose."""

    def __init__(self, cell, device=None):
        super().__init__(cell)


class ResidualWrapper(_Wrapper):
    """The cell's output plus its inputs (or residual_fn(inputs, output))."""

    def __init__(self, cell, residual_fn=None):
        super().__init__(cell)
        self._residual_fn = residual_fn or (lambda x, y: x + y)

    def __call__(self, inputs, state, scope=None):
        output, new_state = self.cell(inputs, state, scope=scope)
        return self._residual_fn(inputs, output), new_state


class DropoutWrapper(_Wrapper):
    """Dropout on the cell's inputs, outputs and (the h of an LSTM's) state, each value
    kept with its keep_prob (a float in (0, 1] or a scalar tensor, e.g. a placeholder)
    and scaled by 1 / keep_prob. A keep_prob of 1.0 adds nothing, as in TF."""

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0,
                 variational_recurrent=False, input_size=None, dtype=None, seed=None,
                 dropout_state_filter_visitor=None):
        super().__init__(cell)
        if variational_recurrent:
            raise UnsupportedError(f"DropoutWrapper at {user_source_line()}: "
                                   "variational_recurrent is not supported")
        if dropout_state_filter_visitor is not None:
            raise UnsupportedError(f"DropoutWrapper at {user_source_line()}: "
                                   "dropout_state_filter_visitor is not supported (the default "
                                   "drops an LSTM state's h, not its c)")
        self._keep = {"input": self._keep_prob(input_keep_prob, "input_keep_prob"),
                      "output": self._keep_prob(output_keep_prob, "output_keep_prob"),
                      "state": self._keep_prob(state_keep_prob, "state_keep_prob")}
        self._seed = seed
        self._keys: dict[str, Tensor] = {}

    @staticmethod
    def _keep_prob(value, what: str):
        if isinstance(value, Tensor):
            return value
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not 0 < value <= 1):
            raise InvalidArgumentError(f"DropoutWrapper at {user_source_line()}: Parameter "
                                       f"{what} must be between 0 and 1: {value!r}")
        return float(value)

    def _drops(self, site: str) -> bool:
        return isinstance(self._keep[site], Tensor) or self._keep[site] < 1.0

    def prepare_loop(self) -> None:
        super().prepare_loop()
        for site in self._keep:
            if self._drops(site):
                self._keys[site] = random_uniform([2], dtype=dtypes.float64, seed=self._seed,
                                                  name=f"dropout_{site}_key")

    def _dropout(self, x: Tensor, site: str, index: int = 0) -> Tensor:
        keep = self._keep[site]
        if isinstance(keep, Tensor) and keep.dtype != x.dtype:
            keep = ew.cast(keep, x.dtype)
        time = loop_time()
        if time is None:  # not in a loop body: an ordinary dropout, its own draw
            return dropout(x, keep_prob=keep, seed=self._seed, name=f"{site}_dropout")
        key = self._keys.get(site)
        if key is None:
            raise UnsupportedError(f"DropoutWrapper at {user_source_line()}: called in a loop "
                                   "body other than dynamic_rnn's; its dropout needs a key "
                                   "drawn before the loop")
        # A key per step and state tensor: the second half moves by the golden ratio's
        # fraction each step (distinct for every step a run can take), the first by
        # another irrational fraction per tensor of a state tuple.
        step = ew.cast(time, dtypes.float64) * constant([0.0, 0.6180339887498949],
                                                        dtypes.float64)
        shift = constant([(index * 0.7548776662466927) % 1.0, 0.0], dtypes.float64)
        return dropout_with_key(x, keep, ew.floormod(key + shift + step, 1.0),
                                name=f"{site}_dropout")

    def __call__(self, inputs, state, scope=None):
        if self._drops("input"):
            inputs = self._dropout(inputs, "input")
        output, new_state = self.cell(inputs, state, scope=scope)
        if self._drops("state"):
            new_state = self._drop_state(new_state)
        if self._drops("output"):
            output = self._dropout(output, "output")
        return output, new_state

    def _drop_state(self, state):
        leaves: list[Tensor] = []

        def drop(s):
            if isinstance(s, LSTMStateTuple):  # TF's default filter: h only, never c
                return LSTMStateTuple(s.c, drop(s.h))
            if isinstance(s, (list, tuple)):
                return type(s)(drop(x) for x in s)
            leaves.append(s)
            return self._dropout(s, "state", len(leaves) - 1)
        return drop(state)

__all__ = ["MultiRNNCell", "DropoutWrapper", "ResidualWrapper", "DeviceWrapper"]
