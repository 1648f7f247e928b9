"""TF1's tf.train: optimizers that build update ops, and the global step.

`opt.minimize(loss)` = `compute_gradients` (graphjit.gradients, an ordinary
backward graph) + `apply_gradients` (one Assign per variable and slot, whose
update math the compiler fuses into one kernel per variable). GradientDescent,
Momentum and Adam are in optimizer.py; RMSProp, Adagrad, Adadelta, Ftrl and
ProximalGradientDescent in more_optimizers.py. Checkpoints: Saver and the state-file
functions of graphjit.io. Learning-rate schedules (learning_rate_decay.py), the global
step (step.py) and the Coordinator (coordinator.py; no queue runners).
"""

from graphjit.io.checkpoint import Saver
from graphjit.io.checkpoint_state import (
    CheckpointState,
    checkpoint_exists,
    get_checkpoint_state,
    latest_checkpoint,
    update_checkpoint_state,
)
from graphjit.train.coordinator import (
    Coordinator,
    QueueRunner,
    add_queue_runner,
    start_queue_runners,
)
from graphjit.train.learning_rate_decay import (
    cosine_decay,
    exponential_decay,
    inverse_time_decay,
    linear_cosine_decay,
    natural_exp_decay,
    piecewise_constant,
    polynomial_decay,
)
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
from graphjit.train.step import (
    create_global_step,
    get_global_step,
    get_or_create_global_step,
    global_step,
)

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer", "AdadeltaOptimizer", "FtrlOptimizer",
           "ProximalGradientDescentOptimizer", "create_global_step", "get_global_step",
           "get_or_create_global_step", "Saver", "CheckpointState", "get_checkpoint_state",
           "latest_checkpoint", "checkpoint_exists", "update_checkpoint_state", "global_step",
           "Coordinator", "start_queue_runners", "QueueRunner", "add_queue_runner",
           "exponential_decay", "natural_exp_decay", "inverse_time_decay", "polynomial_decay",
           "cosine_decay", "linear_cosine_decay", "piecewise_constant"]

from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.train")
