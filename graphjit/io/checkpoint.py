"""TF1's tf.train.Saver: variable values to and from an .npz checkpoint, keyed by name.

A checkpoint is named by its prefix, as in TF ("ckpt/model.ckpt-1000"); its values
are in `<prefix>.npz` and the directory's state file lists the checkpoints kept
(graphjit.io.checkpoint_state). The .npz holds one array per variable under its TF1
name, the variable's op name ("dense/kernel"), as TF's checkpoints key them, and
nothing else: written without pickle, read with `allow_pickle=False`. A restore
checks every variable (present, same shape and dtype) before it sets any, so a failed
restore changes nothing; later runs, interpreted or compiled, read the restored values
because both read variables from the session's state at the start of every run.
"""

from __future__ import annotations

import os
import time

import numpy as np

from codegen.cache import atomic_write
from graphjit.errors import GraphError, LoadError, UnsupportedError
from graphjit.graph import Tensor, format_spec
from graphjit.io.checkpoint_state import (
    checkpoint_exists,
    data_path,
    update_checkpoint_state,
)
from graphjit.io.container import npz_bytes
from graphjit.io.native import state_of
from graphjit.io.npz import DEFAULT_MAX_BYTES, read_arrays
from graphjit.ops.state_ops import is_variable_tensor, read_variable
from graphjit.variables import global_variables


class Saver:
    """Saves and restores variables (TF1's tf.train.Saver, one .npz per checkpoint).

    `var_list`: None (every global variable of the default graph, now), a list of
    variables (saved under their op names) or a dict {checkpoint name: variable}.
    `max_to_keep` checkpoints are kept (default 5: older ones' files are deleted; None
    or 0 keeps every file, the state file then listing the newest only), and one every
    `keep_checkpoint_every_n_hours` besides. `pad_step_number` writes steps as 8 digits
    (model-00001000), `save_relative_paths` writes relative paths in the state file.
    TF's other arguments are accepted for TF1 code and change nothing here: `sharded`
    (one file either way), `reshape`, `name`, `restore_sequentially`, `defer_build`,
    `write_version` and `filename`.
    """

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                 saver_def=None, builder=None, defer_build=False, allow_empty=False,
                 write_version=None, pad_step_number=False, save_relative_paths=False,
                 filename=None):
        if saver_def is not None or builder is not None:
            raise UnsupportedError("Saver(saver_def=..., builder=...): graphjit's Saver "
                                   "builds no save ops; leave them out")
        if var_list is None:
            var_list = global_variables()
        items = list(var_list.items()) if isinstance(var_list, dict) \
            else [(None, v) for v in var_list]
        self._vars: dict[str, Tensor] = {}
        for name_, var in items:
            if not is_variable_tensor(var):
                raise GraphError(f"Saver: var_list must hold variables, got {var!r}")
            name_ = var.op.name if name_ is None else name_
            if name_ in self._vars:
                raise GraphError(f"Saver: two variables would be saved as '{name_}'")
            self._vars[name_] = var
        if not self._vars and not allow_empty:
            raise GraphError("Saver: no variables to save (create variables first, or pass "
                             "var_list)")
        self._max_to_keep = max_to_keep or 0
        self._keep_every_s = float(keep_checkpoint_every_n_hours) * 3600
        self._next_kept_time = time.time() + self._keep_every_s
        self._pad_step_number = pad_step_number
        self._save_relative_paths = save_relative_paths
        self._last_checkpoints: list[tuple[str, float]] = []  # (prefix, time), oldest first

    @property
    def last_checkpoints(self) -> list[str]:
        """The prefixes of the checkpoints this Saver keeps, oldest first."""
        return [prefix for prefix, _ in self._last_checkpoints]

    def set_last_checkpoints(self, last_checkpoints: list[str]) -> None:
        self._last_checkpoints = [(os.fspath(p), time.time()) for p in last_checkpoints]

    def recover_last_checkpoints(self, checkpoint_paths: list[str]) -> None:
        """Take over checkpoints an earlier Saver wrote (e.g. `get_checkpoint_state(dir)
        .all_model_checkpoint_paths`), so `max_to_keep` counts them; missing ones are
        skipped."""
        kept = [os.fspath(p) for p in checkpoint_paths if checkpoint_exists(p)]
        self._last_checkpoints = [(p, os.path.getmtime(data_path(p))) for p in kept]

    def save(self, sess, save_path: str | os.PathLike, global_step=None,
             latest_filename: str | None = None, meta_graph_suffix: str = "meta",
             write_meta_graph: bool = True, write_state: bool = True,
             strip_default_attrs: bool = False, save_debug_info: bool = False) -> str | None:
        """Write the variables' values in `sess` (a Session, or anything holding them in
        `.state`) and return the checkpoint's prefix, as TF: `save_path` [+ "-<step>"]
        (its values are in `<prefix>.npz`). Unless `write_state` is False, the state file
        (`latest_filename`, default "checkpoint") in the prefix's directory is updated,
        and checkpoints beyond `max_to_keep` deleted. graphjit writes no meta graph
        (`write_meta_graph` and `meta_graph_suffix` are accepted and ignored: save the
        graph itself with graphjit.save)."""
        if not self._vars:
            return None  # allow_empty: TF saves nothing either
        prefix = os.fspath(save_path)
        state = state_of(sess)
        if global_step is not None:
            step = int(self._step_value(sess, state, global_step))
            prefix = f"{prefix}-{step:08d}" if self._pad_step_number else f"{prefix}-{step}"
        arrays = {name: read_variable(state, var.op) for name, var in self._vars.items()}
        atomic_write(data_path(prefix), npz_bytes(arrays))
        if write_state:
            self._record(prefix)
            update_checkpoint_state(os.path.dirname(prefix), prefix, self.last_checkpoints,
                                    latest_filename, self._save_relative_paths)
        return prefix

    @staticmethod
    def _step_value(sess, state: dict, global_step):
        if is_variable_tensor(global_step):
            return read_variable(state, global_step.op)
        if isinstance(global_step, Tensor):
            return sess.run(global_step)
        return global_step

    def _record(self, prefix: str) -> None:
        """Add `prefix` as the newest checkpoint, deleting the files of the oldest beyond
        max_to_keep unless keep_checkpoint_every_n_hours keeps it (TF's rules)."""
        if not self._max_to_keep:
            return
        self._last_checkpoints = [(p, t) for p, t in self._last_checkpoints if p != prefix]
        self._last_checkpoints.append((prefix, time.time()))
        while len(self._last_checkpoints) > self._max_to_keep:
            oldest, saved_at = self._last_checkpoints.pop(0)
            if saved_at > self._next_kept_time:
                self._next_kept_time += self._keep_every_s
                continue
            path = data_path(oldest)
            if os.path.isfile(path):
                os.remove(path)

    def restore(self, sess, save_path: str | os.PathLike, *,
                max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        """Set the variables in `sess` to the values in the checkpoint `save_path` (the
        prefix `save` returned, e.g. `latest_checkpoint(dir)`; the path of its .npz is
        taken too). Only this Saver's variables are read, at most `max_bytes` of them
        (default 4 GiB), each array's declared size checked before it is read
        (graphjit.io.npz)."""
        if not self._vars:
            return
        path = data_path(save_path)
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
