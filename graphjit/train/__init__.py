"""TF1's tf.train: optimizers that build update ops, and the global step.

`opt.minimize(loss)` = `compute_gradients` (graphjit.gradients, an ordinary
backward graph) + `apply_gradients` (one Assign per variable and slot, whose
update math the compiler fuses into one kernel per variable). GradientDescent,
Momentum and Adam are in optimizer.py; RMSProp, Adagrad, Adadelta, Ftrl and
ProximalGradientDescent in more_optimizers.py.
"""

from graphjit.io.checkpoint import Saver
from graphjit.train.more_optimizers import (
    AdadeltaOptimizer,
    AdagradOptimizer,
    FtrlOptimizer,
    ProximalGradientDescentOptimizer,
    RMSPropOptimizer,
)
from graphjit.train.optimizer import (
    AdamOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    Optimizer,
)
from graphjit.train.step import create_global_step, get_global_step, get_or_create_global_step

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer", "AdadeltaOptimizer", "FtrlOptimizer",
           "ProximalGradientDescentOptimizer", "create_global_step", "get_global_step",
           "get_or_create_global_step", "Saver"]

from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.train")
