"""TF1's tf.train.Saver: variable values to and from an .npz checkpoint, keyed by name.

A checkpoint holds one array per variable under its TF1 name, the variable's op
name ("dense/kernel"), as TF's checkpoints key them, and nothing else: written
without pickle, read with `allow_pickle=False`. A restore checks every variable
(present, same shape and dtype) before it sets any, so a failed restore changes
nothing; later runs, interpreted or compiled, read the restored values because
both read variables from the session's state at the start of every run.
"""

from __future__ import annotations

import os

import numpy as np

from codegen.cache import atomic_write
from graphjit.errors import GraphError, LoadError
from graphjit.graph import Tensor, format_spec
from graphjit.io.container import npz_bytes
from graphjit.io.native import state_of
from graphjit.io.npz import DEFAULT_MAX_BYTES, read_arrays
from graphjit.ops.state_ops import is_variable_tensor, read_variable
from graphjit.variables import global_variables


class Saver:
    """Saves and restores variables (TF1's tf.train.Saver, one .npz per checkpoint).

    `var_list`: None (every global variable of the default graph, now), a list of
    variables (saved under their op names) or a dict {checkpoint name: variable}.
    """

    def __init__(self, var_list=None):
        if var_list is None:
            var_list = global_variables()
        items = list(var_list.items()) if isinstance(var_list, dict) \
            else [(None, v) for v in var_list]
        self._vars: dict[str, Tensor] = {}
        for name, var in items:
            if not is_variable_tensor(var):
                raise GraphError(f"Saver: var_list must hold variables, got {var!r}")
            name = var.op.name if name is None else name
            if name in self._vars:
                raise GraphError(f"Saver: two variables would be saved as '{name}'")
            self._vars[name] = var
        if not self._vars:
            raise GraphError("Saver: no variables to save (create variables first, or pass "
                             "var_list)")

    def save(self, sess, save_path: str | os.PathLike, global_step=None) -> str:
        """Write the variables' values in `sess` (a Session, or anything holding them in
        `.state`); returns the file written: `save_path` [+ "-<step>"] + ".npz"."""
        path = os.fspath(save_path)
        state = state_of(sess)
        if global_step is not None:
            step = read_variable(state, global_step.op) if is_variable_tensor(global_step) \
                else global_step
            path = f"{path}-{int(step)}"
        if not path.endswith(".npz"):
            path += ".npz"
        arrays = {name: read_variable(state, var.op) for name, var in self._vars.items()}
        atomic_write(path, npz_bytes(arrays))
        return path

    def restore(self, sess, save_path: str | os.PathLike, *,
                max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        """Set the variables in `sess` to the values in the checkpoint at `save_path`
        (the path `save` returned; the ".npz" may be left out). Only this Saver's
        variables are read, at most `max_bytes` of them (default 4 GiB), each array's
        declared size checked before it is read (graphjit.io.npz)."""
        path = os.fspath(save_path)
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"
        try:
            with open(path, "rb") as f:
                arrays, held = read_arrays(f, self._vars, f"{path}: the checkpoint",
                                           max_bytes)
        except OSError as exc:
            raise LoadError(f"{path}: cannot read the checkpoint: {exc}") from None
        for name, var in self._vars.items():
            array = arrays.get(name)
            if array is None:
                listed = ", ".join(held) or "nothing"
                raise LoadError(f"{path}: the checkpoint has no value for variable '{name}' "
                                f"(it holds {listed})")
            if array.shape != tuple(var.shape) or array.dtype != var.dtype.np:
                raise LoadError(f"{path}: variable '{name}' is "
                                f"{format_spec(var.shape, var.dtype)}, but the checkpoint "
                                f"holds a {format_spec(array.shape, array.dtype)} value for it")
        state = state_of(sess)
        for name, var in self._vars.items():
            state[var.op.name] = np.array(arrays[name], copy=True, order="C")


__all__ = ["Saver"]
