"""ONNX converters for the optimizers of the 'ai.onnx.preview.training' domain: Adagrad,
Momentum and Adam. Each node is one optimizer step, a pure function of its inputs
(learning rate R, step count T, then the tensors to update, their gradients and
accumulators), so it imports as graphjit elementwise math the compiler fuses.
"""

from __future__ import annotations

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter

TRAINING = "ai.onnx.preview.training"


def _groups(ctx: NodeContext, count: int) -> list[list[Tensor]]:
    """The variadic inputs after R and T split into `count` equal groups (X, G, ...)."""
    rest = ctx.inputs[2:]
    if len(rest) % count or not rest:
        raise ctx.invalid(f"has {len(rest)} inputs after R and T; {ctx.op_type} takes "
                          f"{count} groups of equal length (one tensor of each per updated "
                          "tensor)")
    n = len(rest) // count
    groups = [rest[i * n:(i + 1) * n] for i in range(count)]
    for group in groups[1:]:
        for x, other in zip(groups[0], group):
            if other.dtype != x.dtype:
                raise ctx.invalid(f"'{other.name}' is {other.dtype.name}, but the tensor it "
                                  f"goes with is {x.dtype.name}")
    return groups


def _step(ctx: NodeContext, like: Tensor) -> tuple[Tensor, Tensor]:
    """R and T in `like`'s float type (ONNX computes one step in the tensors' type)."""
    r, t = ctx.inputs[0], ctx.inputs[1]
    return gj.cast(r, like.dtype), gj.cast(t, like.dtype)


def _scalar(value: float, like: Tensor) -> Tensor:
    return gj.constant(value, dtype=like.dtype)


@converter("Adagrad", attrs=("decay_factor", "epsilon", "norm_coefficient"), domain=TRAINING)
def convert_adagrad(ctx: NodeContext) -> list[Tensor]:
    """r = R / (1 + T * decay_factor); g = norm_coefficient * X + G; H' = H + g^2;
    X' = X - r * g / (sqrt(H') + epsilon). Outputs: every X', then every H'."""
    xs, gs, hs = _groups(ctx, 3)
    decay = ctx.attr("decay_factor", 0.0)
    eps = ctx.attr("epsilon", 0.0)
    norm = ctx.attr("norm_coefficient", 0.0)
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs):
        r, t = _step(ctx, x)
        rate = r / (1 + t * _scalar(decay, x))
        g = _scalar(norm, x) * x + g
        h2 = h + g * g
        new_x.append(x - rate * g / (gj.sqrt(h2) + _scalar(eps, x)))
        new_h.append(h2)
    return new_x + new_h


@converter("Momentum", attrs=("alpha", "beta", "mode", "norm_coefficient"), domain=TRAINING)
def convert_momentum(ctx: NodeContext) -> list[Tensor]:
    """g = norm_coefficient * X + G; V' = alpha * V + beta' * g with beta' = beta after
    the first step (T > 0), 1 on it; X' = X - R * V' (standard) or
    X - R * (g + alpha * V') (nesterov). Outputs: every X', then every V'."""
    xs, gs, vs = _groups(ctx, 3)
    alpha, beta = ctx.attr("alpha"), ctx.attr("beta")
    mode, norm = ctx.attr("mode"), ctx.attr("norm_coefficient")
    if mode not in ("standard", "nesterov"):
        raise ctx.invalid(f"mode={mode!r}; Momentum takes 'standard' or 'nesterov'")
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs):
        r, t = _step(ctx, x)
        g = _scalar(norm, x) * x + g
        beta_t = gj.where(t > 0, _scalar(beta, x), _scalar(1.0, x))
        v2 = _scalar(alpha, x) * v + beta_t * g
        move = v2 if mode == "standard" else g + _scalar(alpha, x) * v2
        new_x.append(x - r * move)
        new_v.append(v2)
    return new_x + new_v


@converter("Adam", attrs=("alpha", "beta", "epsilon", "norm_coefficient",
                          "norm_coefficient_post"), domain=TRAINING)
def convert_adam(ctx: NodeContext) -> list[Tensor]:
    """g = norm_coefficient * X + G; V' = alpha V + (1 - alpha) g; H' = beta H +
    (1 - beta) g^2; the rate bias-corrected by sqrt(1 - beta^T) / (1 - alpha^T) after
    the first step; X' = (1 - norm_coefficient_post) (X - rate V' / (sqrt(H') +
    epsilon)). Outputs: every X', every V', every H'."""
    xs, gs, vs, hs = _groups(ctx, 4)
    alpha, beta = ctx.attr("alpha", 0.9), ctx.attr("beta", 0.999)
    eps = ctx.attr("epsilon", 1e-6)
    norm, post = ctx.attr("norm_coefficient", 0.0), ctx.attr("norm_coefficient_post", 0.0)
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs):
        r, t = _step(ctx, x)
        g = _scalar(norm, x) * x + g
        v2 = _scalar(alpha, x) * v + _scalar(1 - alpha, x) * g
        h2 = _scalar(beta, x) * h + _scalar(1 - beta, x) * (g * g)
        started = t > 0
        one = _scalar(1.0, x)
        # Where T = 0 the correction is 1 (alpha^0 = 1 would divide by zero).
        correction = gj.where(started, gj.sqrt(one - gj.pow(_scalar(beta, x), t)), one) / \
            gj.where(started, one - gj.pow(_scalar(alpha, x), t), one)
        x2 = x - r * correction * (v2 / (gj.sqrt(h2) + _scalar(eps, x)))
        new_x.append(_scalar(1 - post, x) * x2)
        new_v.append(v2)
        new_h.append(h2)
    return new_x + new_v + new_h
