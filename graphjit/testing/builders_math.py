"""Builders for elementwise math, comparisons, casts, reductions, cumsum and the nn
composites (softmax, log-softmax, layer norm, moments, activations, cross-entropies).

Ops with a restricted domain read a pool tensor whose values satisfy it, or wrap one
(`tf.abs(t) + 0.5`), so the reference is always well-defined on what is fed.
"""

from __future__ import annotations

import numpy as np

from graphjit.testing.gen import Draft, Gen, Var, builder

FLOATS, INTS = ("float32", "float64"), ("int32", "int64")


def _positive(g: Gen, low: float = 0.05) -> tuple[str, Var] | None:
    """Source of a positive float tensor: a pool tensor above `low`, or one made so."""
    v = g.pick("f", lambda a: a.min() > low) if g.chance(0.6) else None
    if v is not None:
        return v.name, v
    v = g.pick("f")
    if v is None:
        return None
    return f"(tf.abs({v.name}) + {g.choice(['0.5', '1.0', '0.25'])})", v


def _unary(name: str, op_type: str, calls: tuple[str, ...], kinds: str = "f", pred=None,
           positive: float | None = None, weight: float = 1.0):
    """A builder applying one of `calls` (format strings of `{}`) to a pool tensor."""
    def build(g: Gen) -> Draft | None:
        if positive is not None:
            found = _positive(g, positive)
            if found is None:
                return None
            src, v = found
        else:
            v = g.pick(kinds, pred)
            if v is None:
                return None
            src = v.name
        return Draft(g.choice(calls).format(src), [v])
    builder(name, (op_type,), weight)(build)


for _args in [
    ("neg", "Neg", ("-{}", "tf.negative({})"), "fi"),
    ("abs", "Abs", ("tf.abs({})", "abs({})"), "fi"),
    ("sign", "Sign", ("tf.sign({})",), "fi"),
    ("square", "Square", ("tf.square({})",), "fi"),
    ("relu", "Relu", ("tf.nn.relu({})",), "fi"),
    ("identity", "Identity", ("tf.identity({})",), "fib", None, None, 0.3),
    ("stop_gradient", "StopGradient", ("tf.stop_gradient({})",), "f", None, None, 0.3),
    ("exp", "Exp", ("tf.exp({})",), "f", lambda a: a.max() < 12),
    ("expm1", "Expm1", ("tf.expm1({})",), "f", lambda a: a.max() < 12),
    ("log", "Log", ("tf.log({})",), "f", None, 0.05),
    ("log1p", "Log1p", ("tf.log1p({})",), "f", None, 0.0),
    ("sqrt", "Sqrt", ("tf.sqrt({})",), "f", None, 0.0),
    ("rsqrt", "Rsqrt", ("tf.rsqrt({})",), "f", None, 0.05),
    ("reciprocal", "Reciprocal", ("tf.reciprocal({})",), "f", None, 0.1),
    ("sin", "Sin", ("tf.sin({})",), "f"),
    ("cos", "Cos", ("tf.cos({})",), "f"),
    ("asin", "Asin", ("tf.asin({})", "tf.math.asin({})"), "f", lambda a: abs(a).max() < 1),
    ("acos", "Acos", ("tf.acos({})", "tf.math.acos({})"), "f", lambda a: abs(a).max() < 1),
    ("atan", "Atan", ("tf.atan({})", "tf.math.atan({})"), "f"),
    ("tanh", "Tanh", ("tf.tanh({})", "tf.nn.tanh({})"), "f"),
    ("sigmoid", "Sigmoid", ("tf.sigmoid({})", "tf.nn.sigmoid({})"), "f"),
    ("erf", "Erf", ("tf.erf({})",), "f"),
    ("floor", "Floor", ("tf.floor({})",), "f", None, None, 0.5),
    ("ceil", "Ceil", ("tf.ceil({})",), "f", None, None, 0.5),
    ("round", "Round", ("tf.round({})",), "f", None, None, 0.5),
]:
    _unary(*_args)

_ACTIVATIONS = {  # composites of primitives; what they create is listed for coverage
    "relu6": ("tf.nn.relu6({})", ("Relu", "Minimum")),
    "leaky_relu": ("tf.nn.leaky_relu({}, alpha=0.3)", ("Maximum", "Mul")),
    "elu": ("tf.nn.elu({})", ("Expm1", "Select", "Greater")),
    "gelu": ("tf.nn.gelu({})", ("Erf",)),
    "gelu_tanh": ("tf.nn.gelu({}, approximate=True)", ("Tanh", "Pow")),
    "softplus": ("tf.nn.softplus({})", ("Log1p",)),
    "silu": ("tf.nn.silu({})", ("Sigmoid",)),
    "swish": ("tf.nn.swish({}, beta=2.0)", ("Sigmoid",)),
}
for _name, (_call, _makes) in _ACTIVATIONS.items():
    builder(_name, _makes, 0.4)(lambda g, call=_call: (
        (v := g.pick("f")) and Draft(call.format(v.name), [v])))


def _binary(name: str, op_type: str, ops: tuple[str, ...], kinds: str = "fi",
            divisor: bool = False, weight: float = 1.0):
    """x OP y with y a broadcasting pool tensor or a Python scalar; a divisor is kept
    away from zero (ints: nonzero, either sign)."""
    def build(g: Gen) -> Draft | None:
        x = g.pick(kinds)
        if x is None:
            return None
        op = g.choice(ops)
        args = [x]
        if divisor:
            far = (lambda a: np.abs(a).min() > 0.2) if x.kind == "f" else (lambda a: a.min() > 0
                                                                            or a.max() < 0)
            y = g.partner(x, far) if g.chance(0.5) else None
            if y is not None:
                rhs = y.name
                args.append(y)
            elif g.chance(0.5):
                rhs = g.scalar(x, (2.0, -3.0, 0.5, 3.0) if x.kind == "f" else (2, -3, 3, 1))
            elif (y := g.partner(x)) is not None:
                sign = g.choice(["", "-"])
                rhs = f"{sign}(tf.abs({y.name}) + {'0.5' if x.kind == 'f' else '1'})"
                args.append(y)
            else:
                return None
        else:
            y = g.partner(x) if g.chance(0.7) else None
            rhs = y.name if y is not None else g.scalar(x)
            args += [y] if y is not None else []
        return Draft(op.format(x.name, rhs), args)
    builder(name, (op_type,), weight)(build)


for _args in [
    ("add", "Add", ("{} + {}", "tf.add({}, {})")),
    ("sub", "Sub", ("{} - {}", "tf.subtract({}, {})")),
    ("mul", "Mul", ("{} * {}", "tf.multiply({}, {})")),
    ("maximum", "Maximum", ("tf.maximum({}, {})",)),
    ("minimum", "Minimum", ("tf.minimum({}, {})",)),
    ("div", "RealDiv", ("{} / {}", "tf.divide({}, {})"), "fi", True),
    ("floordiv", "FloorDiv", ("{} // {}", "tf.floordiv({}, {})"), "fi", True, 0.5),
    ("mod", "FloorMod", ("{} % {}", "tf.mod({}, {})"), "fi", True, 0.5),
    ("equal", "Equal", ("tf.equal({}, {})",), "fi", False, 0.3),
    ("not_equal", "NotEqual", ("tf.not_equal({}, {})",), "fi", False, 0.3),
    ("less", "Less", ("{} < {}", "tf.less({}, {})"), "fi", False, 0.4),
    ("less_equal", "LessEqual", ("{} <= {}",), "fi", False, 0.3),
    ("greater", "Greater", ("{} > {}", "tf.greater({}, {})"), "fi", False, 0.4),
    ("greater_equal", "GreaterEqual", ("tf.greater_equal({}, {})",), "fi", False, 0.3),
]:
    _binary(*_args)


@builder("pow", ("Pow",), 0.7)
def _pow(g: Gen) -> Draft | None:
    """Floats: a positive base to a moderate exponent; ints: a small base to 0..3."""
    if g.chance(0.75):
        found = _positive(g, 0.1)
        if found is None:
            return None
        base, v = found
        y = g.partner(v, lambda a: np.abs(a).max() < 3) if g.chance(0.4) else None
        exp = y.name if y is not None else g.choice(["2.0", "0.5", "-1.0", "3.0", "1.5", "-0.5"])
        call = g.choice(["tf.pow({}, {})", "{} ** {}"])
        return Draft(call.format(base, exp), [v] + ([y] if y is not None else []))
    v = g.pick("i", lambda a: np.abs(a).max() <= 30)
    if v is None:
        return None
    y = g.partner(v, lambda a: (a.min() >= 0) & (a.max() <= 3)) if g.chance(0.4) else None
    exp = y.name if y is not None else str(g.choice([0, 1, 2, 3]))
    return Draft(f"tf.pow({v.name}, {exp})", [v] + ([y] if y is not None else []))


@builder("logical", ("LogicalAnd", "LogicalOr", "LogicalNot"), 0.8)
def _logical(g: Gen) -> Draft | None:
    a = g.boolean()
    if a is None:
        return None
    form = g.choice(["tf.logical_and({}, {})", "{} & {}", "tf.logical_or({}, {})", "{} | {}",
                     "tf.logical_not({})", "~{}"])
    if form.count("{}") == 1:
        return Draft(form.format(a[0]), a[1])
    b = g.boolean(like=a[1][0])
    return b and Draft(form.format(a[0], b[0]), a[1] + b[1])


@builder("where", ("Select",), 0.7)
def _where(g: Gen) -> Draft | None:
    x = g.pick("fi")
    if x is None:
        return None
    y = g.partner(x)
    cond = g.boolean(like=x)
    if cond is None:
        return None
    other = y.name if y is not None else g.scalar(x)
    return Draft(f"tf.where({cond[0]}, {x.name}, {other})", cond[1] + [x] + ([y] if y else []))


@builder("cast", ("Cast",), 0.8)
def _cast(g: Gen) -> Draft | None:
    v = g.pick("fib")
    if v is None:
        return None
    targets = [d for d in FLOATS + INTS + ("bool",) if d != v.dtype]
    if v.kind == "f" and np.abs(v.value).max() > 2**20:
        targets = [d for d in targets if d not in INTS]
    return Draft(f"tf.cast({v.name}, tf.{g.choice(targets)})", [v])


@builder("reduce", ("Sum", "Mean", "Max", "Min"), 2.0)
def _reduce(g: Gen) -> Draft | None:
    v = g.pick("fi")
    if v is None:
        return None
    fn = g.choice(["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"])
    keep = ", keepdims=True" if g.chance(0.4) else ""
    return Draft(f"tf.{fn}({v.name}, axis={g.axes(v)!r}{keep})", [v])


@builder("reduce_prod", ("Prod",), 0.4)
def _reduce_prod(g: Gen) -> Draft | None:
    v = g.pick("fi", lambda a: a.size <= 64 and np.abs(a).max() <= 3)
    return v and Draft(f"tf.reduce_prod({v.name}, axis={g.axes(v)!r})", [v])


@builder("reduce_bool", ("Any", "All"), 0.4)
def _reduce_bool(g: Gen) -> Draft | None:
    b = g.boolean()
    if b is None:
        return None
    fn = g.choice(["reduce_any", "reduce_all"])
    axes = g.axes(b[1][0])
    return Draft(f"tf.{fn}({b[0]}, axis={axes!r}, keepdims={g.chance(0.3)})", b[1])


@builder("argmax", ("ArgMax", "ArgMin"), 0.6)
def _argmax(g: Gen) -> Draft | None:
    v = g.pick("fi", min_rank=1)
    if v is None:
        return None
    fn = g.choice(["argmax", "argmin"])
    out = g.choice(["", ", output_type=tf.int32"])
    return Draft(f"tf.{fn}({v.name}, axis={g.axis(v)}{out})", [v])


@builder("cumsum", ("Cumsum",), 0.5)
def _cumsum(g: Gen) -> Draft | None:
    v = g.pick("fi", min_rank=1)
    if v is None:
        return None
    flags = "".join(f", {flag}=True" for flag in ("exclusive", "reverse") if g.chance(0.4))
    return Draft(f"tf.cumsum({v.name}, axis={g.axis(v)}{flags})", [v])


@builder("cumprod", ("Cumprod",), 0.3)
def _cumprod(g: Gen) -> Draft | None:
    """Of small values only, so products of a few stay far from overflow."""
    v = g.pick("fi", pred=lambda a: np.abs(a).max() <= 10, min_rank=1)
    if v is None:
        return None
    flags = "".join(f", {flag}=True" for flag in ("exclusive", "reverse") if g.chance(0.4))
    return Draft(f"tf.cumprod({v.name}, axis={g.axis(v)}{flags})", [v])


@builder("matrix_inverse", ("MatrixInverse", "MatrixDeterminant"), 0.3)
def _matrix_inverse(g: Gen) -> Draft | None:
    """Of a diagonally dominant matrix built from a vector (|v| + 1 on the diagonal,
    0.1 elsewhere, at most 5 wide): far from singular, so both engines agree."""
    v = g.pick("f", min_rank=1, where=lambda v: v.shape[-1] <= 5)
    if v is None:
        return None
    fn = g.choice(["tf.linalg.inv", "tf.matrix_determinant"])
    return Draft(f"{fn}(tf.matrix_diag(tf.abs({v.name}) + 1.0) + 0.1)", [v])


@builder("softmax", ("Exp", "Sum", "Max", "RealDiv", "StopGradient", "Sub"), 1.5)
def _softmax(g: Gen) -> Draft | None:
    v = g.pick("f", min_rank=1)
    if v is None:
        return None
    fn = g.choice(["softmax", "log_softmax"])
    axis = "" if g.chance(0.4) else f", axis={g.axis(v)}"
    return Draft(f"tf.nn.{fn}({v.name}{axis})", [v])


@builder("moments", ("Mean", "Square", "Squeeze"), 0.7)
def _moments(g: Gen) -> Draft | None:
    v = g.pick("f", min_rank=1)
    if v is None:
        return None
    axes = sorted({g.axis(v, False) for _ in range(int(g.rng.integers(1, v.ndim + 1)))})
    return Draft(f"tf.nn.moments({v.name}, {axes}, keepdims={g.chance(0.4)})", [v], 2)


@builder("layer_norm", ("Rsqrt", "Mean"), 0.8)
def _layer_norm(g: Gen) -> Draft | None:
    v = g.pick("f", min_rank=1)
    if v is None:
        return None
    if g.chance(0.5):
        n = v.shape[-1]
        gamma, beta = g.new_input((n,), v.dtype), g.new_input((n,), v.dtype)
        return Draft(f"tf.nn.layer_normalization({v.name}, {gamma.name}, {beta.name})", [v])
    return Draft(f"tf.nn.layer_normalization({v.name}, axis={g.axis(v)})", [v])


@builder("batch_norm", ("Rsqrt", "Add", "Mul"), 0.4)
def _batch_norm(g: Gen) -> Draft | None:
    v = g.pick("f", min_rank=1)
    if v is None:
        return None
    c = (v.shape[-1],)
    mean = g.new_input(c, v.dtype)
    var = g.new_input(c, v.dtype, np.abs(g.values(c, v.dtype)) + np.array(0.1, v.dtype))
    scale = g.new_input(c, v.dtype).name if g.chance(0.5) else "None"
    return Draft(f"tf.nn.batch_normalization({v.name}, {mean.name}, {var.name}, None, "
                 f"{scale}, 1e-3)", [v])


@builder("bias_add", ("Add",), 0.3)
def _bias_add(g: Gen) -> Draft | None:
    v = g.pick("fi", min_rank=1)
    if v is None:
        return None
    bias = g.new_input((v.shape[-1],), v.dtype)
    return Draft(f"tf.nn.bias_add({v.name}, {bias.name})", [v])


@builder("l2_loss", ("Sum", "Square", "Mul"), 0.3)
def _l2_loss(g: Gen) -> Draft | None:
    v = g.pick("f")
    return v and Draft(f"tf.nn.l2_loss({v.name})", [v])


@builder("cross_entropy", ("Exp", "Log", "Sum", "Neg"), 0.6)
def _cross_entropy(g: Gen) -> Draft | None:
    """Softmax cross-entropy (labels: the softmax of another tensor), its sparse form
    (int labels in range; needs the class count at build time) or the sigmoid one."""
    x = g.pick("f", min_rank=1)
    if x is None:
        return None
    kind = g.choice(["softmax", "softmax_v2", "sparse", "sigmoid"])
    if kind == "sparse" and x.static[-1] is not None:
        labels = g.new_input(x.shape[:-1], g.idtype,
                             g.rng.integers(0, x.shape[-1], size=x.shape[:-1]).astype(g.idtype))
        return Draft(f"tf.nn.sparse_softmax_cross_entropy_with_logits(labels={labels.name}, "
                     f"logits={x.name})", [x])
    y = g.partner(x, same_shape=True)
    if kind == "sigmoid":
        z = f"tf.sigmoid({y.name})" if y is not None else "0.25"
        return Draft(f"tf.nn.sigmoid_cross_entropy_with_logits(labels={z}, logits={x.name})",
                     [x] + ([y] if y is not None else []))
    if y is None:
        return None
    fn = ("softmax_cross_entropy_with_logits" if kind == "softmax"
          else "softmax_cross_entropy_with_logits_v2")
    return Draft(f"tf.nn.{fn}(labels=tf.nn.softmax({y.name}), logits={x.name})", [x, y])


@builder("top_k", ("TopKV2",), 0.4)
def _top_k(g: Gen) -> Draft | None:
    v = g.pick("fi", min_rank=1)
    if v is None:
        return None
    k = int(g.rng.integers(0, v.shape[-1] + 1))
    return Draft(f"tf.nn.top_k({v.name}, k={k})", [v], 2)


@builder("sort", ("TopKV2",), 0.4)
def _sort(g: Gen) -> Draft | None:
    v = g.pick("fi", min_rank=1)
    if v is None:
        return None
    fn = g.choice(["sort", "argsort"])
    direction = g.choice(["ASCENDING", "DESCENDING"])
    return Draft(f"tf.{fn}({v.name}, axis={g.axis(v)}, direction={direction!r})", [v])


@builder("check_numerics", ("CheckNumerics",), 0.3)
def _check_numerics(g: Gen) -> Draft | None:
    v = g.pick("f")  # pool values are finite: the check passes
    return v and Draft(f"tf.check_numerics({v.name}, 'not finite')", [v])
