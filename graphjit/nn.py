"""`graphjit.nn`: neural-network ops under TF1's `tf.nn` names."""

from graphjit.ops.conv import *  # noqa: F403
from graphjit.ops.dropout import *  # noqa: F403
from graphjit.ops.nn import *  # noqa: F403
