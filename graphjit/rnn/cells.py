"""TF 1.x's recurrent cells: BasicRNNCell, BasicLSTMCell, LSTMCell and GRUCell.

Each computes TF's equations with TF's variables (names, shapes, gate order and
initial values), so a TF checkpoint maps onto them by name: the kernel acts on
concat([inputs, h]), and an LSTM's 4 * units columns are the gates i, j, f, o.
"""

from __future__ import annotations

import numbers

from graphjit.errors import InvalidArgumentError, UnsupportedError, user_source_line
from graphjit.graph import Tensor, TensorShape
from graphjit.ops import elementwise as ew
from graphjit.ops.clip_ops import clip_by_value
from graphjit.ops.indexing import split
from graphjit.ops.linalg import matmul
from graphjit.ops.nn import bias_add
from graphjit.ops.shape_ops import concat
from graphjit.rnn.cell_base import LSTMStateTuple, RNNCell
from graphjit.variable_scope import get_variable
from graphjit.variables import constant_initializer, zeros_initializer


def _units(cls_name: str, value, what: str = "num_units") -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise InvalidArgumentError(f"{cls_name} at {user_source_line()}: {what} must be a "
                                   f"positive integer, got {value!r}")
    return int(value)


def _linear(inputs: Tensor, state: Tensor, kernel, bias) -> Tensor:
    """concat([inputs, state], 1) @ kernel + bias: TF's layout of every cell's kernel."""
    return bias_add(matmul(concat([inputs, state], 1), kernel), bias)


class BasicRNNCell(RNNCell):
    """h' = activation(concat([x, h]) @ kernel + bias); output and state are h'.
    Variables: kernel [depth + units, units], bias [units] (zeros)."""

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None,
                 **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = _units(type(self).__name__, num_units)
        self._activation = activation or ew.tanh

    state_size = property(lambda self: self._num_units)
    output_size = property(lambda self: self._num_units)

    def build(self, inputs_shape: TensorShape) -> None:
        depth = self.input_depth(inputs_shape)
        self._kernel = get_variable("kernel", [depth + self._num_units, self._num_units],
                                    self.dtype)
        self._bias = get_variable("bias", [self._num_units], self.dtype,
                                  zeros_initializer())

    def call(self, inputs, state):
        output = self._activation(_linear(inputs, state, self._kernel, self._bias))
        return output, output


class BasicLSTMCell(RNNCell):
    """TF's BasicLSTMCell (no peepholes, no clipping, no projection):
    i, j, f, o = split(concat([x, h]) @ kernel + bias, 4, axis=1),
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * activation(j),
    h' = activation(c') * sigmoid(o). Variables: kernel [depth + units, 4 * units], bias
    [4 * units] (zeros). The state is LSTMStateTuple(c, h), or concat([c, h], 1) when
    state_is_tuple is False."""

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None,
                 reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = _units(type(self).__name__, num_units)
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = activation or ew.tanh

    @property
    def state_size(self):
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    output_size = property(lambda self: self._num_units)

    def build(self, inputs_shape: TensorShape) -> None:
        depth = self.input_depth(inputs_shape)
        n = self._num_units
        self._kernel = get_variable("kernel", [depth + n, 4 * n], self.dtype)
        self._bias = get_variable("bias", [4 * n], self.dtype, zeros_initializer())

    def call(self, inputs, state):
        c, h = state if self._state_is_tuple else split(state, 2, axis=1)
        i, j, f, o = split(_linear(inputs, h, self._kernel, self._bias), 4, axis=1)
        new_c = c * ew.sigmoid(f + self._forget_bias) + ew.sigmoid(i) * self._activation(j)
        new_h = self._activation(new_c) * ew.sigmoid(o)
        new_state = LSTMStateTuple(new_c, new_h) if self._state_is_tuple \
            else concat([new_c, new_h], 1)
        return new_h, new_state


class LSTMCell(RNNCell):
    """TF's LSTMCell: BasicLSTMCell's equations, plus optional peepholes (w_i_diag,
    w_f_diag, w_o_diag [units], which add w * c to the gates), cell_clip on c, and a
    projection of the output (num_proj: "projection/kernel" [units, num_proj], then
    proj_clip). The kernel is [depth + (num_proj or units), 4 * units]; `initializer`
    initializes kernel, peepholes and projection."""

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None,
                 num_proj=None, proj_clip=None, num_unit_shards=None, num_proj_shards=None,
                 forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None,
                 name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        for what, shards in (("num_unit_shards", num_unit_shards),
                             ("num_proj_shards", num_proj_shards)):
            if shards not in (None, 1):
                raise UnsupportedError(f"LSTMCell at {user_source_line()}: {what} "
                                       "(partitioned variables) is not supported")
        self._num_units = _units(type(self).__name__, num_units)
        self._num_proj = None if num_proj is None else _units("LSTMCell", num_proj, "num_proj")
        self._use_peepholes = use_peepholes
        self._cell_clip = cell_clip
        self._proj_clip = proj_clip
        self._initializer = initializer
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = activation or ew.tanh

    @property
    def state_size(self):
        m = self._num_proj or self._num_units
        return LSTMStateTuple(self._num_units, m) if self._state_is_tuple \
            else self._num_units + m

    output_size = property(lambda self: self._num_proj or self._num_units)

    def build(self, inputs_shape: TensorShape) -> None:
        depth = self.input_depth(inputs_shape)
        n, init = self._num_units, self._initializer
        self._kernel = get_variable("kernel", [depth + (self._num_proj or n), 4 * n],
                                    self.dtype, init)
        self._bias = get_variable("bias", [4 * n], self.dtype, zeros_initializer())
        if self._use_peepholes:
            self._w_f_diag = get_variable("w_f_diag", [n], self.dtype, init)
            self._w_i_diag = get_variable("w_i_diag", [n], self.dtype, init)
            self._w_o_diag = get_variable("w_o_diag", [n], self.dtype, init)
        if self._num_proj is not None:
            self._proj_kernel = get_variable("projection/kernel", [n, self._num_proj],
                                             self.dtype, init)

    def call(self, inputs, state):
        if self._state_is_tuple:
            c_prev, m_prev = state
        else:
            c_prev, m_prev = split(state, [self._num_units, self.output_size], axis=1)
        i, j, f, o = split(_linear(inputs, m_prev, self._kernel, self._bias), 4, axis=1)
        sigmoid = ew.sigmoid
        if self._use_peepholes:
            c = (sigmoid(f + self._forget_bias + self._w_f_diag * c_prev) * c_prev
                 + sigmoid(i + self._w_i_diag * c_prev) * self._activation(j))
        else:
            c = sigmoid(f + self._forget_bias) * c_prev + sigmoid(i) * self._activation(j)
        if self._cell_clip is not None:
            c = clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            m = sigmoid(o + self._w_o_diag * c) * self._activation(c)
        else:
            m = sigmoid(o) * self._activation(c)
        if self._num_proj is not None:
            m = matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = clip_by_value(m, -self._proj_clip, self._proj_clip)
        new_state = LSTMStateTuple(c, m) if self._state_is_tuple else concat([c, m], 1)
        return m, new_state


class GRUCell(RNNCell):
    """TF's GRUCell: r, u = split(sigmoid(concat([x, h]) @ gates/kernel + gates/bias), 2),
    c = activation(concat([x, r * h]) @ candidate/kernel + candidate/bias),
    h' = u * h + (1 - u) * c. gates/bias starts at ones (unless bias_initializer),
    candidate/bias at zeros."""

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None,
                 bias_initializer=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, _reuse=reuse, **kwargs)
        self._num_units = _units(type(self).__name__, num_units)
        self._activation = activation or ew.tanh
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    state_size = property(lambda self: self._num_units)
    output_size = property(lambda self: self._num_units)

    def build(self, inputs_shape: TensorShape) -> None:
        depth = self.input_depth(inputs_shape)
        n, kernel_init, bias_init = self._num_units, self._kernel_initializer, \
            self._bias_initializer
        self._gate_kernel = get_variable("gates/kernel", [depth + n, 2 * n], self.dtype,
                                         kernel_init)
        self._gate_bias = get_variable("gates/bias", [2 * n], self.dtype,
                                       bias_init or constant_initializer(1.0))
        self._candidate_kernel = get_variable("candidate/kernel", [depth + n, n], self.dtype,
                                              kernel_init)
        self._candidate_bias = get_variable("candidate/bias", [n], self.dtype,
                                            bias_init or zeros_initializer())

    def call(self, inputs, state):
        gates = ew.sigmoid(_linear(inputs, state, self._gate_kernel, self._gate_bias))
        r, u = split(gates, 2, axis=1)
        c = self._activation(_linear(inputs, r * state, self._candidate_kernel,
                                     self._candidate_bias))
        new_h = u * state + (1.0 - u) * c
        return new_h, new_h


__all__ = ["BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell"]
