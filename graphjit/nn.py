"""`graphjit.nn`: neural-network ops under TF1's `tf.nn` names."""

from graphjit.ops.candidate_sampling import *  # noqa: F403
from graphjit.ops.conv import *  # noqa: F403
from graphjit.ops.dropout import *  # noqa: F403
from graphjit.ops.embedding import embedding_lookup  # noqa: F401
from graphjit.ops.nn import *  # noqa: F403
from graphjit.ops.nn_extras import *  # noqa: F403
from graphjit.ops.sampled_losses import *  # noqa: F403
from graphjit.ops.sorting import top_k  # noqa: F401
from graphjit.rnn import rnn_cell  # noqa: F401
from graphjit.rnn.loops import *  # noqa: F403
from graphjit.unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(__name__, "tf.nn")
