"""TF1's other optimizers: RMSProp, Adagrad, Adadelta, Ftrl, ProximalGradientDescent.

Each `_apply_dense` spells out the arithmetic of TF 1.15's CPU kernel for the
update (ApplyRMSProp, ApplyCenteredRMSProp, ApplyAdagrad, ApplyAdadelta,
ApplyFtrl/ApplyFtrlV2, ApplyProximalGradientDescent) in elementwise ops ending
in Assigns, which the compiler fuses into one kernel per variable, as for Adam.
Every read of a variable or slot sees its value from before the run; a kernel
step that uses an updated slot chains through the value its `assign` returned.

Hyperparameters may be Python numbers (literals in the kernel) or scalar
tensors (e.g. a fed learning rate). Where TF's kernel branches on a value
(Ftrl's lr_power == -0.5, the proximal l1 > 0) a number picks the branch when
the graph is built; a tensor takes the general formula, which agrees with the
special case up to rounding.
"""

from __future__ import annotations

from numbers import Number

from graphjit.ops.elementwise import abs as abs_
from graphjit.ops.elementwise import maximum, rsqrt, sign, sqrt, where
from graphjit.ops.elementwise import pow as pow_
from graphjit.ops.state_ops import assign, group
from graphjit.train.optimizer import Optimizer, _one_minus, _scalar


def _is(value, number: float) -> bool:
    """True when `value` is the Python number `number` (not a tensor that may hold it)."""
    return isinstance(value, Number) and value == number


class RMSPropOptimizer(Optimizer):
    """RMSProp with TF1's momentum, epsilon inside the square root, and `rms` starting at 1:

        ms += (g * g - ms) * (1 - decay)
        mom = momentum * mom + lr * g / sqrt(ms + epsilon);  var -= mom

    centered=True also tracks the mean gradient mg and divides by
    sqrt(ms - mg * mg + epsilon). Slots: "rms", "mg" (centered), "momentum".
    """

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10,
                 use_locking: bool = False, centered: bool = False, name: str = "RMSProp"):
        super().__init__(use_locking, name)
        self._learning_rate, self._decay = learning_rate, decay
        self._momentum, self._epsilon, self._centered = momentum, epsilon, centered

    def _create_slots(self, var_list):
        for var in var_list:
            self._slot(var, "rms", 1.0)
            if self._centered:
                self._slot(var, "mg")
            self._slot(var, "momentum")

    def _apply_dense(self, grad, var):
        lr, decay, momentum, epsilon = (
            _scalar(h, var.dtype)
            for h in (self._learning_rate, self._decay, self._momentum, self._epsilon))
        kernel = "ApplyCenteredRMSProp" if self._centered else "ApplyRMSProp"
        rms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        keep = _one_minus(self._decay, var.dtype)  # TF's float32 1 - decay
        ms_t = assign(rms, rms + (grad * grad - rms) * keep, name=kernel + "/ms")
        updates = [ms_t]
        denom = ms_t + epsilon
        if self._centered:
            mg = self.get_slot(var, "mg")
            mg_t = assign(mg, mg + (grad - mg) * keep, name=kernel + "/mg")
            updates.append(mg_t)
            denom = (ms_t - mg_t * mg_t) + epsilon
        mom_t = assign(mom, mom * momentum + grad * lr / sqrt(denom), name=kernel + "/mom")
        var_t = assign(var, var - mom_t, name=kernel)
        return group(updates, mom_t, var_t)


class AdagradOptimizer(Optimizer):
    """accum += g * g;  var -= lr * g / sqrt(accum), with `accumulator` starting at
    initial_accumulator_value (which must be positive, as TF checks)."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1,
                 use_locking: bool = False, name: str = "Adagrad"):
        if isinstance(initial_accumulator_value, Number) and initial_accumulator_value <= 0:
            raise ValueError(f"{name}: initial_accumulator_value must be positive: "
                             f"{initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._initial_accumulator_value = initial_accumulator_value

    def _create_slots(self, var_list):
        for var in var_list:
            self._slot(var, "accumulator", self._initial_accumulator_value)

    def _apply_dense(self, grad, var):
        accum = self.get_slot(var, "accumulator")
        accum_t = assign(accum, accum + grad * grad, name="ApplyAdagrad/accum")
        var_t = assign(var, var - grad * _scalar(self._learning_rate, var.dtype) * rsqrt(accum_t),
                       name="ApplyAdagrad")
        return group(accum_t, var_t)


class AdadeltaOptimizer(Optimizer):
    """Adadelta, as TF1's kernel (the step uses accum_update from before this step):

        accum = rho * accum + (1 - rho) * g * g
        update = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * g
        var -= lr * update;  accum_update = rho * accum_update + (1 - rho) * update^2

    Slots: "accum", "accum_update", both starting at zero.
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking: bool = False,
                 name: str = "Adadelta"):
        super().__init__(use_locking, name)
        self._learning_rate, self._rho, self._epsilon = learning_rate, rho, epsilon

    def _create_slots(self, var_list):
        for var in var_list:
            self._slot(var, "accum")
            self._slot(var, "accum_update")

    def _apply_dense(self, grad, var):
        lr, rho, epsilon = (_scalar(h, var.dtype)
                            for h in (self._learning_rate, self._rho, self._epsilon))
        accum, accum_update = self.get_slot(var, "accum"), self.get_slot(var, "accum_update")
        rest = _one_minus(self._rho, var.dtype)  # TF's float32 1 - rho
        accum_t = assign(accum, accum * rho + grad * grad * rest, name="ApplyAdadelta/accum")
        update = sqrt(accum_update + epsilon) * rsqrt(accum_t + epsilon) * grad
        var_t = assign(var, var - update * lr, name="ApplyAdadelta")
        update_t = assign(accum_update, accum_update * rho + update * update * rest,
                          name="ApplyAdadelta/accum_update")
        return group(accum_t, var_t, update_t)


class FtrlOptimizer(Optimizer):
    """FTRL-proximal as TF1's ApplyFtrl (ApplyFtrlV2 with l2 shrinkage), p = -lr_power:

        g' = g + 2 * l2_shrinkage * var;  new_accum = accum + g * g
        linear += g' - (new_accum^p - accum^p) / lr * var
        var = (l1 * sign(linear) - linear) / (new_accum^p / lr + 2 * l2)
              where |linear| > l1, else 0;  accum = new_accum

    (the accumulator takes the plain gradient, as TF's kernel since the shrinkage fix).
    Slots: "accum" (starting at initial_accumulator_value) and "linear" (zero),
    named after accum_name and linear_name when given.
    """

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 use_locking: bool = False, name: str = "Ftrl", accum_name: str | None = None,
                 linear_name: str | None = None, l2_shrinkage_regularization_strength=0.0):
        for what, value, ok, needs in (
                ("initial_accumulator_value", initial_accumulator_value, lambda v: v >= 0,
                 "positive or zero"),
                ("learning_rate_power", learning_rate_power, lambda v: v <= 0,
                 "negative or zero"),
                ("l1_regularization_strength", l1_regularization_strength, lambda v: v >= 0,
                 "positive or zero"),
                ("l2_regularization_strength", l2_regularization_strength, lambda v: v >= 0,
                 "positive or zero"),
                ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength,
                 lambda v: v >= 0, "positive or zero")):
            if isinstance(value, Number) and not ok(value):
                raise ValueError(f"{name}: {what} {value} needs to be {needs}")
        super().__init__(use_locking, name)
        self._learning_rate, self._learning_rate_power = learning_rate, learning_rate_power
        self._initial_accumulator_value = initial_accumulator_value
        self._l1, self._l2 = l1_regularization_strength, l2_regularization_strength
        self._l2_shrinkage = l2_shrinkage_regularization_strength
        self._accum_name, self._linear_name = accum_name, linear_name

    def _create_slots(self, var_list):
        for var in var_list:
            self._slot(var, "accum", self._initial_accumulator_value, self._accum_name)
            self._slot(var, "linear", op_name=self._linear_name)

    def _apply_dense(self, grad, var):
        lr, l1, l2, shrinkage = (_scalar(h, var.dtype) for h in (
            self._learning_rate, self._l1, self._l2, self._l2_shrinkage))
        kernel = "ApplyFtrl" if _is(self._l2_shrinkage, 0) else "ApplyFtrlV2"
        accum, linear = self.get_slot(var, "accum"), self.get_slot(var, "linear")
        new_accum = accum + grad * grad
        if _is(self._learning_rate_power, -0.5):
            power_new, power_old = sqrt(new_accum), sqrt(accum)
        else:
            p = -_scalar(self._learning_rate_power, var.dtype)
            power_new, power_old = pow_(new_accum, p), pow_(accum, p)
        g = grad if _is(self._l2_shrinkage, 0) else grad + 2 * shrinkage * var
        linear_t = assign(linear, linear + (g - (power_new - power_old) / lr * var),
                          name=kernel + "/linear")
        quadratic = power_new / lr + 2 * l2
        var_t = assign(var, where(abs_(linear_t) > l1,
                                  (l1 * sign(linear_t) - linear_t) / quadratic, 0.0),
                       name=kernel)
        accum_t = assign(accum, new_accum, name=kernel + "/accum")
        return group(linear_t, var_t, accum_t)


class ProximalGradientDescentOptimizer(Optimizer):
    """Gradient descent followed by the proximal step for l1 and l2 (FOBOS), as TF1's
    ApplyProximalGradientDescent:

        prox = var - lr * g
        var = sign(prox) * max(|prox| - lr * l1, 0) / (1 + lr * l2)   (l1 > 0)
        var = prox / (1 + lr * l2)                                   (l1 == 0)
    """

    def __init__(self, learning_rate, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, use_locking: bool = False,
                 name: str = "ProximalGradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._l1, self._l2 = l1_regularization_strength, l2_regularization_strength

    def _apply_dense(self, grad, var):
        lr, l1, l2 = (_scalar(h, var.dtype) for h in (self._learning_rate, self._l1, self._l2))
        prox = var - grad * lr
        shrink = 1 + l2 * lr
        if isinstance(self._l1, Number) and self._l1 <= 0:
            new = prox / shrink
        else:
            new = sign(prox) * maximum(abs_(prox) - lr * l1, 0.0) / shrink
        return assign(var, new, name="ApplyProximalGradientDescent")


__all__ = ["RMSPropOptimizer", "AdagradOptimizer", "AdadeltaOptimizer", "FtrlOptimizer",
           "ProximalGradientDescentOptimizer"]
