"""ONNX BitShift (graphjit.onnx.ops_bitshift) against ONNX's reference implementation on
every shift amount from -2 to the width + 1 and the extreme values of each type (the
node cases try a few): its products and floor divisions must equal the bit shifts."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from tests.onnx.nn_util import make_model  # noqa: E402

TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8]


def _model():
    nodes, inputs, outputs = [], {}, []
    for dt in TYPES:
        name = np.dtype(dt).name
        inputs.update({f"x_{name}": (dt, [None]), f"k_{name}": (dt, [None])})
        for direction in ("LEFT", "RIGHT"):
            out = f"{direction}_{name}"
            nodes.append(helper.make_node("BitShift", [f"x_{name}", f"k_{name}"], [out],
                                          direction=direction))
            outputs.append((out, dt))
    return make_model(nodes, inputs, outputs, opset=28)


def _feeds():
    rng = np.random.default_rng(0)
    feeds = {}
    for dt in TYPES:
        info, name = np.iinfo(dt), np.dtype(dt).name
        bits = info.bits
        values = np.array([info.min, info.max, 0, 1, -1 if info.min else 2, 5, info.min + 1],
                          dt)
        values = np.concatenate([values, rng.integers(info.min, info.max, 5, dt,
                                                      endpoint=True)])
        shifts = np.arange(-2 if info.min else 0, bits + 2)
        x, k = np.meshgrid(values, shifts.astype(dt), indexing="ij")
        feeds.update({f"x_{name}": x.ravel(), f"k_{name}": k.ravel()})
    return feeds


def test_bit_shift_matches_onnx_reference_everywhere():
    from graphjit.onnx import import_model

    model = _model()
    feeds = _feeds()
    want = ReferenceEvaluator(model).run(None, feeds)
    got = import_model(model).compile()(**feeds)
    for out, g, w in zip(model.graph.output, got, want):
        g = np.asarray(g)
        assert g.dtype == w.dtype, out.name
        np.testing.assert_array_equal(g, w, err_msg=out.name)
