"""Builders for control flow: a cond choosing between two computations on a predicate
of the values, a while loop with a fixed trip count.

Both branches of a cond give one shape (graphjit requires it), so the false branch reads
the true branch's tensor or a partner of the same shape. Loop bodies keep their values
in range whatever the trip count (halving, clamping).
"""

from __future__ import annotations

from graphjit.testing.gen import Draft, Gen, builder


@builder("cond", ("If",), 0.5)
def _cond(g: Gen) -> Draft | None:
    x = g.pick("fi")
    if x is None:
        return None
    y = g.partner(x, same_shape=True) or x
    v = g.pick("fi")
    test = g.choice([">", "<"])
    pred = f"tf.reduce_max({v.name}) {test} {g.scalar(v, (0.0, 1.0, -0.5))}"
    true_fn = f"lambda: {x.name} * {g.scalar(x)}"
    false_fn = g.choice([f"lambda: {y.name} - {g.scalar(y)}", f"lambda: tf.abs({y.name})",
                         f"lambda: {x.name} + {y.name}"])
    return Draft(f"tf.cond({pred}, {true_fn}, {false_fn})", _distinct([v, x, y]))


def _distinct(vars_: list) -> list:
    out = []
    for v in vars_:
        if all(v is not w for w in out):
            out.append(v)
    return out


@builder("while_loop", ("While",), 0.3)
def _while_loop(g: Gen) -> Draft | None:
    x = g.pick("fi")
    if x is None:
        return None
    step = g.choice(["v * 0.5 + 1.0", "tf.tanh(v) + v * 0.25"] if x.kind == "f"
                    else ["v // 2 + 1", "tf.minimum(v + v, 1000)"])
    n = int(g.rng.integers(0, 4))
    return Draft(f"tf.while_loop(lambda k, v: k < {n}, lambda k, v: (k + 1, {step}), "
                 f"[0, {x.name}])[1]", [x])
