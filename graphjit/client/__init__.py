"""TF's tensorflow.python.client names graphjit has: `timeline`."""

from graphjit.unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(__name__, "tensorflow.python.client")
