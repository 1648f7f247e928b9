"""RecurrentSequence's gradient with batch-1 inputs broadcast to the batch (h0, c0 and
lens of batch dim 1, as the ONNX converter passes absent ones, here placeholders so they
get gradients) and a forward LSTM and a reverse GRU with run-time lens, against central
finite differences of the reference interpreter (float64)."""

import numpy as np
import pytest

import graphjit as gj
from graphjit.interpreter import evaluate
from graphjit.ops.recurrent import recurrent_sequence

H, B, T = 3, 2, 3
EPS = 1e-6
LSTM_ACTS = [("sigmoid", 0.0, 0.0), ("tanh", 0.0, 0.0), ("tanh", 0.0, 0.0)]
GRU_ACTS = [("sigmoid", 0.0, 0.0), ("tanh", 0.0, 0.0)]


def _arrays(cell: str, rng) -> dict:
    g = {"LSTM": 4, "GRU": 3}[cell]
    out = {"xw": rng.uniform(-1, 1, (T, B, g * H)), "bias": rng.uniform(-.5, .5, (1, g * H)),
           "rt": rng.uniform(-.6, .6, (1, H, g * H)), "h0": rng.uniform(-.5, .5, (1, 1, H))}
    out.update({"c0": rng.uniform(-.5, .5, (1, 1, H)),
                "peep": rng.uniform(-.5, .5, (1, 3, H))} if cell == "LSTM"
               else {"rbh": rng.uniform(-.5, .5, (1, H))})
    return out


@pytest.mark.parametrize("cell, direction, lens", [("LSTM", "forward", [2]),
                                                   ("GRU", "reverse", [3, 1])])
def test_broadcast_inputs_and_lens_gradients(cell, direction, lens):
    rng = np.random.default_rng(4)
    arrays = _arrays(cell, rng)
    lens = np.array(lens, np.int32)
    with gj.Graph().as_default():
        ph = {n: gj.placeholder(gj.float64, a.shape, name=n) for n, a in arrays.items()}
        lens_ph = gj.placeholder(gj.int32, lens.shape, name="lens")
        extra = [ph["c0"], ph["peep"]] if cell == "LSTM" else [ph["rbh"]]
        outs = recurrent_sequence(cell, ph["xw"], ph["bias"], ph["rt"], ph["h0"], lens_ph,
                                  extra, direction, LSTM_ACTS if cell == "LSTM" else GRU_ACTS,
                                  linear_before_reset=cell == "GRU")
        loss = outs[0] * rng.uniform(.5, 1.5, (T, 1, B, H))
        loss = gj.reduce_sum(loss) + gj.reduce_sum(outs[1] * rng.uniform(.5, 1.5, (1, B, H)))
        names = sorted(arrays)
        grads = gj.gradients(loss, [ph[n] for n in names])

        def f(changed):
            feeds = {ph[n]: changed.get(n, a) for n, a in arrays.items()}
            return float(evaluate([loss], {**feeds, lens_ph: lens})[0])

        values = evaluate(grads, {**{ph[n]: a for n, a in arrays.items()}, lens_ph: lens})
    for n, grad in zip(names, values):
        assert grad.shape == arrays[n].shape, n
        direction_v = rng.standard_normal(arrays[n].shape)
        numeric = (f({n: arrays[n] + EPS * direction_v})
                   - f({n: arrays[n] - EPS * direction_v})) / (2 * EPS)
        np.testing.assert_allclose(np.sum(grad * direction_v), numeric, rtol=1e-6, atol=1e-8,
                                   err_msg=n)
