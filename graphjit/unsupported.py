"""The error for a TF name graphjit lacks: `tf.foo` on any graphjit namespace module
raises UnsupportedNameError naming `tf.foo`, instead of Python's bare AttributeError,
so a TF1 script fails on its first missing name with a message that says so.
"""

from __future__ import annotations

import importlib
import importlib.util

from graphjit.errors import UnsupportedNameError


def module_getattr(module_name: str, tf_name: str):
    """A module `__getattr__` for `module_name`, which stands for TF's `tf_name`
    ("tf.nn"). A submodule not imported yet is imported (graphjit.onnx); private
    and dunder names keep Python's plain AttributeError (hasattr, pickle, pytest)."""

    def __getattr__(name: str):
        if name.startswith("_"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        try:
            found = importlib.util.find_spec(f"{module_name}.{name}") is not None
        except ModuleNotFoundError:  # the module is no package
            found = False
        if found:
            return importlib.import_module(f"{module_name}.{name}")
        raise UnsupportedNameError(
            f"graphjit does not support {tf_name}.{name} (yet); see README 'What runs' "
            "for the TF1 names it has", name=name)

    return __getattr__
