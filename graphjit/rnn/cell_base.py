"""What every recurrent cell shares: TF1's RNNCell contract, its variable scope, its
zero state, and the loop step a cell may be called in.

A cell creates its variables once, in `build`, on its first call, in a variable scope
it then keeps (TF 1.x's legacy Layer): "rnn/basic_lstm_cell/kernel" inside dynamic_rnn,
"basic_lstm_cell_1" for a second cell in one scope, the `scope` given to the first
call as is. Later calls reuse those variables wherever they are made. dynamic_rnn
builds the cell before its while loop (`ensure_built`), because a loop body may not
create variables; the body's calls then only read them.
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
from collections.abc import Iterator

from graphjit import dtypes
from graphjit.errors import InvalidArgumentError, ShapeError, UnsupportedError, user_source_line
from graphjit.graph import Tensor, TensorShape
from graphjit.ops import elementwise as ew
from graphjit.ops._util import convert_to_tensor
from graphjit.ops.reductions import reduce_sum
from graphjit.ops.shape_ops import zeros, zeros_like
from graphjit.variable_scope import variable_scope


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """An LSTM's state: the cell state `c` and the output `h` (TF's tuple, in this order)."""

    __slots__ = ()

    @property
    def dtype(self):
        return self.c.dtype


def _snake_case(name: str) -> str:
    """TF's layer base names: BasicLSTMCell -> basic_lstm_cell, GRUCell -> gru_cell."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class RNNCell:
    """TF1's tf.nn.rnn_cell.RNNCell: `output, new_state = cell(inputs, state)`.

    A subclass gives `state_size` and `output_size` (an int or a nested structure of
    ints), `call(inputs, state)` and, when it has variables, `build(inputs_shape)`, which
    makes them with get_variable (it runs in the cell's variable scope, once).
    """

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None,
                 _reuse=None, **kwargs):
        if kwargs:
            raise InvalidArgumentError(f"{type(self).__name__} at {user_source_line()}: "
                                       f"unexpected arguments {sorted(kwargs)}")
        if name is not None and not isinstance(name, str):
            raise InvalidArgumentError(f"{type(self).__name__} at {user_source_line()}: name "
                                       f"must be a string, got {name!r}")
        self._base_name = name or _snake_case(type(self).__name__)
        self._reuse = _reuse
        self._trainable = trainable
        self._dtype = None if dtype is None else dtypes.as_dtype(dtype)
        self._scope = None
        self.built = False

    @property
    def state_size(self):
        raise NotImplementedError(f"{type(self).__name__} must define state_size")

    @property
    def output_size(self):
        raise NotImplementedError(f"{type(self).__name__} must define output_size")

    @property
    def dtype(self):
        return self._dtype

    @property
    def name(self) -> str:
        return self._scope.name if self._scope is not None else self._base_name

    def build(self, inputs_shape: TensorShape) -> None:
        """Make the cell's variables (none by default)."""

    def call(self, inputs: Tensor, state):
        raise NotImplementedError(f"{type(self).__name__} must define call(inputs, state)")

    def __call__(self, inputs, state, scope=None):
        inputs = convert_to_tensor(inputs)
        with self._in_scope(inputs.shape, inputs.dtype, scope):
            return self.call(inputs, state)

    def ensure_built(self, inputs_shape, dtype, scope=None) -> None:
        """Make the variables a first call would make, without computing anything."""
        with self._in_scope(TensorShape(inputs_shape), dtypes.as_dtype(dtype), scope):
            pass

    def prepare_loop(self) -> None:
        """Called by dynamic_rnn before it builds its loop: a cell that draws random
        values (dropout) draws their keys here, outside the loop."""

    @contextlib.contextmanager
    def _in_scope(self, inputs_shape: TensorShape, dtype, scope) -> Iterator[None]:
        if self._scope is None:
            self._scope = self._capture_scope(scope)
        with variable_scope(self._scope, reuse=True if self.built else self._reuse):
            if not self.built:
                if self._dtype is None:
                    self._dtype = dtype
                self.build(inputs_shape)
                self.built = True
            yield

    def _capture_scope(self, scope):
        if scope is not None:
            opened = variable_scope(scope, reuse=self._reuse)
        elif self._reuse:
            opened = variable_scope(self._base_name, reuse=self._reuse)
        else:
            opened = variable_scope(None, default_name=self._base_name)
        with opened as captured:
            return captured

    def zero_state(self, batch_size, dtype):
        """Zeros of shape [batch_size, n] for each n of `state_size`, in its structure.
        `batch_size` is an int or a scalar tensor (`tf.shape(x)[0]`)."""
        dtype = dtypes.as_dtype(dtype)
        rows = batch_rows(batch_size, f"{type(self).__name__}.zero_state")
        return map_sizes(lambda n: zeros_of(rows, n, dtype), self.state_size)

    def error(self, cls, message: str):
        """An error naming the cell, its scope and the user's line."""
        return cls(f"{type(self).__name__} '{self.name}' at {user_source_line()}: {message}")

    def input_depth(self, inputs_shape: TensorShape) -> int:
        if len(inputs_shape) != 2 or inputs_shape[-1] is None:
            raise self.error(ShapeError, "expected inputs of shape [batch, depth] with the "
                             f"depth known, saw shape {inputs_shape}")
        return int(inputs_shape[-1])


# -- zeros of a batch size known at run time -----------------------------------------------

def batch_rows(batch_size, what: str):
    """An int, or a [batch, 1] zeros tensor standing for a run-time batch size: graphjit
    fills only static shapes or shapes of tensors, so `shape(x)[i]` becomes x's dim i."""
    if isinstance(batch_size, Tensor):
        if batch_size.op.type == "Const":
            return int(batch_size.op.attrs["value"])
        source = _shape_source(batch_size)
        if source is None:
            raise UnsupportedError(
                f"{what} at {user_source_line()}: a batch size computed at run time must be "
                f"tf.shape(x)[i] of some tensor x, got '{batch_size.name}' "
                f"({batch_size.op.type}); or pass an int")
        x, axis = source
        others = [i for i in range(x.ndim) if i != axis]
        summed = reduce_sum(x, axis=others) if others else x  # (x may hold no elements)
        return zeros_like(summed)[:, None]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise InvalidArgumentError(f"{what} at {user_source_line()}: batch_size must be a "
                                   f"non-negative int or a scalar tensor, got {batch_size!r}")
    return batch_size


def _shape_source(t: Tensor):
    """(x, i) for t = shape(x)[i] (Squeeze of a one-element StridedSlice of Shape)."""
    if t.op.type != "Squeeze" or t.ndim != 0:
        return None
    sliced = t.op.inputs[0]
    if sliced.op.type != "StridedSlice" or sliced.op.inputs[0].op.type != "Shape":
        return None
    (start, stop, step), = sliced.op.attrs["slices"]
    x = sliced.op.inputs[0].op.inputs[0]
    if step != 1 or start is None or stop != start + 1 or not 0 <= start < x.ndim:
        return None
    return x, int(start)


def zeros_of(rows, n: int, dtype) -> Tensor:
    """Zeros [rows, n]: `rows` an int or a [batch, 1] zeros tensor (batch_rows)."""
    if isinstance(rows, Tensor):
        return ew.add(ew.cast(rows, dtype), zeros([n], dtype))
    return zeros([rows, n], dtype)


def map_sizes(fn, sizes):
    """`fn(n)` for each int n of a nested structure of sizes (state_size), kept nested."""
    if isinstance(sizes, (list, tuple)):
        mapped = [map_sizes(fn, s) for s in sizes]
        return type(sizes)(*mapped) if hasattr(sizes, "_fields") else type(sizes)(mapped)
    if isinstance(sizes, TensorShape):
        sizes = sizes.as_list()[-1] if len(sizes) == 1 else None
    if not isinstance(sizes, int) or isinstance(sizes, bool):
        raise UnsupportedError(f"state and output sizes must be ints (or nested tuples of "
                               f"ints), got {sizes!r}")
    return fn(sizes)


# -- the step of a loop a cell is called in -----------------------------------------------

_loop = threading.local()


def loop_time() -> Tensor | None:
    """The step counter of the dynamic_rnn loop whose body is being built, else None."""
    return getattr(_loop, "time", None)


@contextlib.contextmanager
def building_loop_body(time: Tensor) -> Iterator[None]:
    saved = loop_time()
    _loop.time = time
    try:
        yield
    finally:
        _loop.time = saved


__all__ = ["RNNCell", "LSTMStateTuple"]
