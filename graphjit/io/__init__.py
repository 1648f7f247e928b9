"""Saving and loading graphs: graphjit's own data-only format (JSON + npz).

Two forms, neither able to hold code: `save`/`load` write and read a whole graph
(versioned JSON + an .npz of its arrays; native.py), and `Saver` (also
graphjit.train.Saver) keeps variable values in .npz checkpoints (checkpoint.py).
Both read arrays through npz.py, which checks every declared size against the file
and `max_bytes` before it allocates. `gfile` is TF's tf.io.gfile, on local files.
"""

from graphjit.io import gfile
from graphjit.io.checkpoint import Saver
from graphjit.io.native import FORMAT_VERSION, LoadedGraph, load, save
from graphjit.io.npz import DEFAULT_MAX_BYTES

__all__ = ["gfile", "save", "load", "LoadedGraph", "Saver", "FORMAT_VERSION",
           "DEFAULT_MAX_BYTES"]

from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.io")
