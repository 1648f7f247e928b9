"""`graphjit.nn`: neural-network ops under TF1's `tf.nn` names."""

from graphjit.ops.candidate_sampling import *  # noqa: F403
from graphjit.ops.conv import *  # noqa: F403
from graphjit.ops.dropout import *  # noqa: F403
from graphjit.ops.embedding import embedding_lookup  # noqa: F401
from graphjit.ops.nn import *  # noqa: F403
from graphjit.ops.nn_extras import *  # noqa: F403
from graphjit.ops.sampled_losses import *  # noqa: F403
from graphjit.ops.sorting import top_k  # noqa: F401
from graphjit.unsupported import module_getattr as _module_getattr

# The recurrent names load when first asked for: a first call rarely needs them (and
# `import graphjit` then leaves out graphjit.rnn's modules, about 1 ms).
_RNN = {"rnn_cell": "graphjit.rnn.rnn_cell", "dynamic_rnn": "graphjit.rnn.loops",
        "static_rnn": "graphjit.rnn.loops", "bidirectional_dynamic_rnn": "graphjit.rnn.loops",
        "static_bidirectional_rnn": "graphjit.rnn.loops"}
_unsupported = _module_getattr(__name__, "tf.nn")


def __getattr__(name: str):
    module = _RNN.get(name)
    if module is None:
        return _unsupported(name)
    import importlib
    value = importlib.import_module(module)
    value = value if name == "rnn_cell" else getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_RNN))
