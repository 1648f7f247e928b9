"""Optimizers with TF1's API and update rules: GradientDescent, Momentum, Adam.

Each variable's update is a few elementwise ops ending in Assign ops (the
variable, and its slots); the compiler fuses them into one kernel per variable.
Slots (momentum accumulators, Adam's m and v) and Adam's beta powers are
non-trainable Variables, created when `apply_gradients` first sees a variable
and initialized by `global_variables_initializer()` created afterwards.
"""

from __future__ import annotations

import numpy as np

from graphjit.autodiff import gradients
from graphjit.errors import GraphError
from graphjit.graph import Operation, Tensor
from graphjit.ops._util import convert_to_tensor
from graphjit.ops.elementwise import cast, sqrt
from graphjit.ops.state_ops import assign, assign_add, group
from graphjit.variables import GraphKeys, Variable, trainable_variables


def _scalar(value, dtype):
    """A Python number stays one (a literal in the fused kernel); a tensor is cast to dtype."""
    if isinstance(value, Tensor):
        return value if value.dtype == dtype else cast(value, dtype)
    return float(value)


def _one_minus(value, dtype):
    """1 - value as TF's kernels compute it, in the variable's dtype: for float32,
    1 - 0.9 is 0.100000024, not the 0.1 Python's float64 would round to."""
    if isinstance(value, Tensor):
        return 1 - _scalar(value, dtype)
    one = np.ones((), dtype.np)
    return float(one - np.asarray(value, dtype.np))


class Optimizer:
    """Base class: `minimize` = `compute_gradients` + `apply_gradients`.

    Subclasses define `_create_slots(var_list)`, optionally `_prepare(var_list)`
    and `_finish(update_ops)`, and `_apply_dense(grad, var)` returning the ops
    (or tensors) that update one variable.
    """

    def __init__(self, use_locking: bool, name: str):
        if not name:
            raise ValueError("an optimizer needs a name")
        self._name = name
        self._slots: dict[str, dict[Variable, Variable]] = {}

    def get_name(self) -> str:
        return self._name

    # -- the TF1 API ----------------------------------------------------------------
    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=None,
                 aggregation_method=None, colocate_gradients_with_ops=False,
                 name: str | None = None, grad_loss=None) -> Operation:
        """An op that, run once, takes one optimization step on `loss`."""
        grads_and_vars = self.compute_gradients(loss, var_list, grad_loss=grad_loss)
        if not any(g is not None for g, _ in grads_and_vars):
            raise GraphError(
                f"no gradients for any variable: loss '{loss.name}' does not depend on "
                f"{', '.join(v.op.name for _, v in grads_and_vars) or 'any variable'} "
                "through differentiable ops")
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def compute_gradients(self, loss, var_list=None, gate_gradients=None,
                          aggregation_method=None, colocate_gradients_with_ops=False,
                          grad_loss=None) -> list[tuple[Tensor | None, Variable]]:
        """[(gradient of loss, variable)] for `var_list` (default: the trainable
        variables); the gradient is None where loss does not depend on the variable."""
        if not isinstance(loss, Tensor):
            raise GraphError(f"minimize/compute_gradients needs a loss Tensor, got {loss!r}")
        if var_list is None:
            var_list = trainable_variables(graph=loss.graph)
        var_list = [v for v in var_list if v.dtype.is_floating]
        if not var_list:
            raise GraphError("there are no (floating-point) variables to optimize")
        with loss.graph.as_default():
            grads = gradients(loss, var_list,
                              **({} if grad_loss is None else {"grad_ys": grad_loss}))
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None,
                        name: str | None = None) -> Operation:
        """An op applying the gradients to their variables (and incrementing
        `global_step`, if given, after the updates)."""
        pairs = []
        for grad, var in grads_and_vars:
            if grad is None:
                continue
            if not isinstance(var, Variable):
                raise GraphError(f"apply_gradients: {var!r} is not a graphjit.Variable")
            grad = convert_to_tensor(grad, dtype=var.dtype, graph=var.graph)
            if not grad.shape.is_compatible_with(var.shape):
                raise GraphError(f"gradient '{grad.name}' of shape {grad.shape} does not fit "
                                 f"variable '{var.op.name}' of shape {var.shape}")
            pairs.append((grad, var))
        if not pairs:
            raise GraphError("apply_gradients: no gradients provided for any variable")
        graph = pairs[0][1].graph
        with graph.as_default():
            var_list = [v for _, v in pairs]
            # TF's init_scope: slots start from constants, never after the updates a
            # train op is often built under (control_dependencies(UPDATE_OPS)), or
            # initializing them would run those updates and need their feeds.
            with graph.control_dependencies(None):
                self._create_slots(var_list)
            with graph.name_scope(name or self._name) as scope:
                self._prepare(var_list)
                updates = []
                for grad, var in pairs:
                    with graph.name_scope("update_" + var.op.name):
                        updates.append(self._apply_dense(grad, var))
                finish = self._finish(updates)
                if global_step is not None:
                    with graph.control_dependencies([finish]):
                        finish = assign_add(global_step, 1)
                train_op = group(updates, finish, name=scope)
            graph.add_to_collection(GraphKeys.TRAIN_OP, train_op)
        return train_op

    # -- slots ------------------------------------------------------------------------
    def get_slot_names(self) -> list[str]:
        return sorted(self._slots)

    def get_slot(self, var: Variable, name: str) -> Variable | None:
        return self._slots.get(name, {}).get(var)

    def variables(self) -> list[Variable]:
        """The variables this optimizer created (slots, and e.g. Adam's beta powers)."""
        out = [s for slots in self._slots.values() for s in slots.values()]
        return out + list(self._non_slot_variables())

    def _non_slot_variables(self):
        return []

    def _zeros_slot(self, var: Variable, slot_name: str) -> Variable:
        return self._slot(var, slot_name)

    def _slot(self, var: Variable, slot_name: str, value: float = 0.0,
              op_name: str | None = None) -> Variable:
        """A non-trainable variable shaped like `var`, starting at `value` everywhere, named
        "<var>/<optimizer>" (then "<var>/<optimizer>_1", ...) as TF's slot creator does;
        `op_name` replaces the optimizer's name (Ftrl's accum_name, linear_name)."""
        slots = self._slots.setdefault(slot_name, {})
        if var not in slots:
            from graphjit.ops.core import constant
            from graphjit.ops.shape_ops import fill, zeros

            def initial():
                if value == 0:
                    return zeros(var.shape, var.dtype)
                return fill(var.shape, constant(value, dtype=var.dtype))

            with var.graph.name_scope(var.op.name + "/"):
                slots[var] = Variable(initial, trainable=False, name=op_name or self._name)
        return slots[var]

    # -- what subclasses define ---------------------------------------------------------
    def _create_slots(self, var_list: list[Variable]) -> None:
        pass

    def _prepare(self, var_list: list[Variable]) -> None:
        pass

    def _apply_dense(self, grad: Tensor, var: Variable):
        raise NotImplementedError

    def _finish(self, update_ops: list) -> Operation:
        return group(update_ops, name="finish")


class GradientDescentOptimizer(Optimizer):
    """var -= learning_rate * grad."""

    def __init__(self, learning_rate, use_locking: bool = False,
                 name: str = "GradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate

    def _apply_dense(self, grad, var):
        return assign(var, var - _scalar(self._learning_rate, var.dtype) * grad,
                      name="ApplyGradientDescent")


class MomentumOptimizer(Optimizer):
    """accum = momentum * accum + grad; var -= lr * accum
    (Nesterov: var -= lr * (grad + momentum * accum)), as TF1's ApplyMomentum."""

    def __init__(self, learning_rate, momentum, use_locking: bool = False,
                 name: str = "Momentum", use_nesterov: bool = False):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._use_nesterov = use_nesterov

    def _create_slots(self, var_list):
        for var in var_list:
            self._zeros_slot(var, "momentum")

    def _apply_dense(self, grad, var):
        accum = self.get_slot(var, "momentum")
        lr = _scalar(self._learning_rate, var.dtype)
        momentum = _scalar(self._momentum, var.dtype)
        accum_t = assign(accum, accum * momentum + grad, name="ApplyMomentum/accum")
        step = grad + momentum * accum_t if self._use_nesterov else accum_t
        var_t = assign(var, var - lr * step, name="ApplyMomentum")
        return group(accum_t, var_t)


class AdamOptimizer(Optimizer):
    """Adam with TF1's bias correction folded into the step size:

        lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        var -= lr_t * m / (sqrt(v) + epsilon)

    beta1^t and beta2^t are non-trainable variables (`beta1_power`, `beta2_power`)
    starting at beta1 and beta2 and multiplied by them after every step.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 use_locking: bool = False, name: str = "Adam"):
        super().__init__(use_locking, name)
        self._lr, self._beta1, self._beta2, self._epsilon = learning_rate, beta1, beta2, epsilon
        self._powers: tuple[Variable, Variable] | None = None
        self._lr_t: dict = {}

    def _non_slot_variables(self):
        return list(self._powers or ())

    def _get_beta_accumulators(self) -> tuple[Variable, Variable]:
        return self._powers

    def _create_slots(self, var_list):
        if self._powers is None:
            first = var_list[0]
            with first.graph.name_scope(""):
                self._powers = (
                    Variable(self._beta1, trainable=False, name="beta1_power", dtype=first.dtype),
                    Variable(self._beta2, trainable=False, name="beta2_power", dtype=first.dtype))
        for var in var_list:
            self._zeros_slot(var, "m")
            self._zeros_slot(var, "v")

    def _prepare(self, var_list):
        beta1_power, beta2_power = self._powers
        lr = _scalar(self._lr, beta1_power.dtype)
        lr_t = lr * sqrt(1 - beta2_power) / (1 - beta1_power)
        self._lr_t = {beta1_power.dtype: lr_t}

    def _step_size(self, dtype):
        if dtype not in self._lr_t:
            self._lr_t[dtype] = cast(next(iter(self._lr_t.values())), dtype)
        return self._lr_t[dtype]

    def _apply_dense(self, grad, var):
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        epsilon = _scalar(self._epsilon, var.dtype)
        # TF's ApplyAdam kernel's arithmetic, in its order, so float32 runs round as TF's:
        # m += (g - m) * (1 - beta1); v += (g^2 - v) * (1 - beta2); var -= m lr_t / (sqrt(v) + eps)
        m_t = assign(m, m + (grad - m) * _one_minus(self._beta1, var.dtype), name="ApplyAdam/m")
        v_t = assign(v, v + (grad * grad - v) * _one_minus(self._beta2, var.dtype),
                     name="ApplyAdam/v")
        var_t = assign(var, var - m_t * self._step_size(var.dtype) / (sqrt(v_t) + epsilon),
                       name="ApplyAdam")
        return group(m_t, v_t, var_t)

    def _finish(self, update_ops):
        beta1_power, beta2_power = self._powers
        graph = beta1_power.graph
        with graph.control_dependencies(update_ops):
            update_beta1 = assign(beta1_power, beta1_power * _scalar(self._beta1,
                                                                     beta1_power.dtype))
            update_beta2 = assign(beta2_power, beta2_power * _scalar(self._beta2,
                                                                     beta2_power.dtype))
        return group(update_ops, update_beta1, update_beta2, name="finish")
