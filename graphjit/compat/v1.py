"""`graphjit.compat.v1`: TF's tf.compat.v1, for TF1 code written against TF 1.15/2.x.

`import graphjit.compat.v1 as tf; tf.disable_v2_behavior()` then works as
`import graphjit as tf`: this module holds graphjit's TF names (its functions, dtypes,
errors and TF's namespaces: nn, train, math, layers, losses, summary, contrib, app,
flags, logging, gfile, io...),
and graphjit is TF1 already, so disable_v2_behavior and disable_eager_execution do
nothing.
"""

import types as _types

import graphjit as _graphjit
from graphjit.unsupported import module_getattr as _module_getattr

# graphjit's own modules (api, ops, lower...) are not TF names; TF's namespaces are.
_NAMESPACES = ("nn", "train", "math", "errors", "dtypes", "graph_util", "app", "flags",
               "logging", "gfile", "io", "layers", "losses", "summary", "contrib", "profiler",
               "client", "viz", "initializers", "linalg")

globals().update({name: value for name, value in vars(_graphjit).items()
                  if not name.startswith("_") and name != "compat"
                  and (not isinstance(value, _types.ModuleType) or name in _NAMESPACES)})

_unsupported = _module_getattr(__name__, "tf.compat.v1")


def __getattr__(name: str):
    if name in _NAMESPACES or name in _graphjit._LAZY:  # imported when first asked
        return getattr(_graphjit, name)
    return _unsupported(name)
