"""A builder for RecurrentSequence (graphjit.ops.recurrent: a whole LSTM, GRU or RNN over a
sequence as one native kernel), at small random sizes (rt constant: the op needs its
hidden size at build time): every cell and direction, batch-1
h0/c0/lens broadcast, sequence lengths short of the sequence (zero Y rows, carried
state), clip, input_forget, linear_before_reset and ONNX's other named activations.
The op has no public tf.* wrapper (ONNX LSTM/GRU/RNN import it), so the line calls
graphjit.ops.recurrent.recurrent_sequence through the `tf` module.
"""

from __future__ import annotations

from graphjit.ops.recurrent import DIRECTIONS, GATES
from graphjit.testing.gen import Draft, Gen, builder
from graphjit.testing.program import array_source

#: Default activations per cell (ONNX's), and others with their alpha and beta.
_DEFAULTS = {"LSTM": ("sigmoid", "tanh", "tanh"), "GRU": ("sigmoid", "tanh"),
             "RNN": ("tanh",)}
_OTHERS = (("relu", 0.0, 0.0), ("affine", 0.5, 0.1), ("leakyrelu", 0.1, 0.0),
           ("thresholdedrelu", 0.5, 0.0), ("scaledtanh", 1.5, 0.5),
           ("hardsigmoid", 0.2, 0.5), ("elu", 1.0, 0.0), ("softsign", 0.0, 0.0),
           ("softplus", 0.0, 0.0))


def _const(g: Gen, shape: tuple) -> str:
    return f"tf.constant({array_source(g.values(shape, g.fdtype, -1.0, 1.0))})"


def _const_or_input(g: Gen, shape: tuple) -> str:
    """A constant, or a new input (its dims maybe declared unknown)."""
    return _const(g, shape) if g.chance(0.6) else g.new_input(shape, g.fdtype, low=-1.0,
                                                              high=1.0).name


@builder("recurrent_sequence", ("RecurrentSequence",), 0.3)
def _recurrent_sequence(g: Gen) -> Draft | None:
    cell = g.choice(list(GATES))
    direction = g.choice(list(DIRECTIONS))
    d, gates = len(DIRECTIONS[direction]), GATES[cell]
    steps, batch, hidden = (int(g.rng.integers(1, 5)), int(g.rng.integers(1, 4)),
                            int(g.rng.integers(1, 5)))
    gh = gates * hidden
    xw = g.pick("f", where=lambda w: w.shape == (steps, batch, d * gh) and w.dtype == g.fdtype)
    args = [xw] if xw is not None else []
    xw_src = xw.name if xw is not None else g.new_input((steps, batch, d * gh), g.fdtype).name
    state_batch = 1 if g.chance(0.25) else batch
    lens = g.rng.integers(0 if g.chance(0.3) else steps, steps + 1,
                          size=1 if g.chance(0.2) else batch).astype("int32")
    inputs = [xw_src, _const_or_input(g, (d, gh)), _const(g, (d, hidden, gh)),
              _const_or_input(g, (d, state_batch, hidden)), f"tf.constant({array_source(lens)})"]
    if cell == "LSTM":
        inputs += [_const_or_input(g, (d, state_batch, hidden)), _const_or_input(g, (d, 3, hidden))]
    if cell == "GRU":
        inputs.append(_const_or_input(g, (d, hidden)))
    per = []
    for _ in range(d):
        names = list(_DEFAULTS[cell])
        if g.chance(0.3):
            names[int(g.rng.integers(len(names)))] = None
        per += [(n, 0.0, 0.0) if n else g.choice(_OTHERS) for n in names]
    extra = []
    if g.chance(0.2):
        extra.append(f"clip={g.choice([0.5, 2.0, 10.0])}")
    if cell == "LSTM" and g.chance(0.3):
        extra.append("input_forget=True")
    if cell == "GRU" and g.chance(0.5):
        extra.append("linear_before_reset=True")
    call = (f'tf.ops.recurrent.recurrent_sequence("{cell}", {", ".join(inputs[:5])}, '
            f'[{", ".join(inputs[5:])}], "{direction}", {per}'
            + "".join(f", {e}" for e in extra) + ")")
    return Draft(call, args, 3 if cell == "LSTM" else 2)
