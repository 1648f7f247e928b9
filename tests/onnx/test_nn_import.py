"""ONNX NN converters (graphjit.onnx.ops_nn, ops_conv) against onnxruntime.

Each test builds one model whose nodes are the variants of an op (all reading the
same inputs), so a family of attribute cases costs one import and one compile.
"""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.onnx import StaticValueRequired  # noqa: E402
from tests.onnx.nn_util import check, make_model, random  # noqa: E402

F32 = np.float32


def _variants(op: str, shared: list[str], variants: list[dict], extra=None) -> tuple:
    """One `op` node per attribute dict, reading `shared` inputs (+ per-node extras)."""
    nodes, outputs = [], []
    for i, attrs in enumerate(variants):
        inputs = shared + (extra(i) if extra else [])
        nodes.append(helper.make_node(op, inputs, [f"y{i}"], name=f"{op}{i}", **attrs))
        outputs.append(f"y{i}")
    return nodes, outputs


# -- matrix products ---------------------------------------------------------------------

def test_matmul_shapes_follow_numpy():
    rng = np.random.default_rng(0)
    pairs = [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)), ((2, 3, 4), (4,)),
             ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5))]
    nodes, inputs, feeds = [], {}, {}
    for i, (sa, sb) in enumerate(pairs):
        nodes.append(helper.make_node("MatMul", [f"a{i}", f"b{i}"], [f"y{i}"]))
        inputs.update({f"a{i}": (F32, sa), f"b{i}": (F32, sb)})
        feeds.update({f"a{i}": random(rng, sa), f"b{i}": random(rng, sb)})
    check(make_model(nodes, inputs, [f"y{i}" for i in range(len(pairs))]), feeds)


def test_matmul_dynamic_batch_and_int64():
    rng = np.random.default_rng(1)
    w = random(rng, (6, 3))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"]),
             helper.make_node("MatMul", ["i", "j"], ["k"])]
    model = make_model(nodes, {"x": (F32, [None, 5, 6]), "i": (np.int64, [2, 3]),
                               "j": (np.int64, [3, 2])}, ["y", ("k", np.int64)], {"w": w})
    ints = {"i": rng.integers(-5, 5, (2, 3)), "j": rng.integers(-5, 5, (3, 2))}
    check(model, {"x": random(rng, (1, 5, 6)), **ints}, {"x": random(rng, (4, 5, 6)), **ints})


def test_gemm_transposes_alpha_beta_and_c_broadcast():
    rng = np.random.default_rng(2)
    m, k, n = 3, 4, 5
    cases = [  # (transA, transB, alpha, beta, C shape or None)
        (0, 0, 1.0, 1.0, (n,)), (1, 0, 0.5, 2.0, (m, n)), (0, 1, 1.0, 0.5, (1, n)),
        (1, 1, 2.0, 1.0, (m, 1)), (0, 0, 1.5, 1.0, ()), (0, 1, 1.0, 1.0, None),
        (0, 0, 1.0, 0.0, (m, n)),
    ]
    nodes, inits = [], {}
    for i, (ta, tb, alpha, beta, c) in enumerate(cases):
        inits[f"a{i}"] = random(rng, (k, m) if ta else (m, k))
        inits[f"b{i}"] = random(rng, (n, k) if tb else (k, n))
        ins = [f"a{i}", f"b{i}"]
        if c is not None:
            inits[f"c{i}"] = random(rng, c)
            ins.append(f"c{i}")
        nodes.append(helper.make_node("Gemm", ins, [f"y{i}"], transA=ta, transB=tb,
                                      alpha=alpha, beta=beta))
    # the first operand fed at run time, too (a Gemm on a dynamic batch)
    nodes.append(helper.make_node("Gemm", ["x", "b0", "c0"], ["z"], alpha=0.5))
    model = make_model(nodes, {"x": (F32, [None, k])},
                       [f"y{i}" for i in range(len(cases))] + ["z"], inits)
    check(model, {"x": random(rng, (2, k))}, {"x": random(rng, (7, k))})


# -- convolution -----------------------------------------------------------------------------

CONV_GROUPS = {  # name: (input shape, [(filter shape, attrs)])
    "padding": ((2, 3, 9, 8), [
        ((4, 3, 3, 3), dict(pads=[1, 1, 1, 1])),  # = TF's SAME: no Pad op
        ((4, 3, 3, 2), dict(pads=[0, 1, 2, 1], strides=[2, 1])),
        ((4, 3, 3, 3), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
        ((4, 3, 3, 3), dict(auto_pad="SAME_LOWER", strides=[2, 2])),
        ((4, 3, 3, 3), dict(auto_pad="VALID", dilations=[2, 1])),
        ((4, 3, 3, 3), dict(kernel_shape=[3, 3], pads=[2, 1, 2, 1], dilations=[2, 2],
                            strides=[1, 2])),
    ]),
    "groups": ((2, 4, 9, 8), [
        ((6, 2, 3, 3), dict(group=2, pads=[1, 1, 1, 1])),
        ((4, 1, 3, 3), dict(group=4, pads=[1, 1, 1, 1])),  # depthwise
        ((8, 1, 3, 3), dict(group=4, pads=[1, 0, 1, 2], strides=[2, 2], dilations=[1, 2])),
        ((4, 1, 3, 3), dict(group=4, auto_pad="SAME_UPPER", strides=[2, 2])),
        ((4, 1, 1, 1), dict(group=4)),
        ((4, 2, 3, 3), dict(group=2, auto_pad="SAME_LOWER")),
    ]),
    "3d": ((1, 2, 4, 5, 4), [  # no graphjit kernel: a gathered im2col + matmul; taps
        ((3, 2, 2, 3, 2), dict(pads=[1, 0, 1, 0, 1, 1], strides=[1, 2, 1])),
        ((4, 1, 3, 3, 3), dict(group=2, auto_pad="SAME_UPPER")),
    ]),
    "1d": ((2, 3, 10), [
        ((4, 3, 3), dict(pads=[1, 2], strides=[2])),
        ((4, 3, 3), dict(auto_pad="SAME_UPPER", strides=[2])),
        ((6, 1, 3), dict(group=3, pads=[1, 1])),
    ]),
}


@pytest.mark.parametrize("group", list(CONV_GROUPS))
def test_conv(group):
    rng = np.random.default_rng(3)
    shape, variants = CONV_GROUPS[group]
    inits = {}
    for i, (w_shape, _) in enumerate(variants):
        inits[f"w{i}"] = random(rng, w_shape)
        if i % 2 == 0:  # every other node has a bias
            inits[f"b{i}"] = random(rng, w_shape[0])
    nodes, outputs = _variants("Conv", ["x"], [a for _, a in variants],
                               lambda i: [f"w{i}"] + ([f"b{i}"] if i % 2 == 0 else []))
    model = make_model(nodes, {"x": (F32, shape)}, outputs, inits)
    check(model, {"x": random(rng, shape)})


def test_conv_dynamic_shapes_and_run_time_filters():
    """Batch and spatial sizes free: one compiled function serves two shapes. Filters fed
    at run time go through graph transposes instead of import-time ones."""
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], auto_pad="SAME_UPPER",
                              strides=[2, 2]),
             helper.make_node("Conv", ["x", "d"], ["z"], group=4, pads=[1, 2, 0, 1],
                              strides=[2, 1])]
    model = make_model(nodes, {"x": (F32, [None, 4, None, None]), "w": (F32, [5, 4, 3, 3]),
                               "d": (F32, [4, 1, 3, 3])}, ["y", "z"], {"b": random(rng, 5)})
    weights = {"w": random(rng, (5, 4, 3, 3)), "d": random(rng, (4, 1, 3, 3))}
    check(model, {"x": random(rng, (1, 4, 7, 6)), **weights},
          {"x": random(rng, (3, 4, 10, 9)), **weights})


def test_conv_errors_name_the_cause():
    same_lower = make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER", strides=[2, 2])],
        {"x": (F32, [1, 2, None, None])}, ["y"], {"w": np.ones((2, 2, 3, 3), F32)})
    with pytest.raises(UnsupportedError, match="SAME_LOWER with stride > 1"):
        check(same_lower, {})
    conv3d = make_model([helper.make_node("Conv", ["x", "w"], ["y"])],
                        {"x": (F32, [1, 2, None, 3, 3])}, ["y"],
                        {"w": np.ones((2, 2, 1, 1, 1), F32)})
    with pytest.raises(StaticValueRequired, match="a 3-D Conv needs the full shape") as error:
        check(conv3d, {})
    assert error.value.needs == {("x", "shape")}  # what the backend specializes on
    groups = make_model([helper.make_node("Conv", ["x", "w"], ["y"], group=2)],
                        {"x": (F32, [1, 3, 4, 4])}, ["y"], {"w": np.ones((2, 2, 1, 1), F32)})
    with pytest.raises(UnsupportedError, match="group=2 does not fit 3 input channels"):
        check(groups, {})


# -- pooling -------------------------------------------------------------------------------

POOLS = [  # (attrs, count_include_pad values to try with AveragePool)
    (dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), (0, 1)),
    (dict(kernel_shape=[3, 2], pads=[0, 1, 2, 1], strides=[2, 1]), (1,)),
    (dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2]), (0, 1)),
    (dict(kernel_shape=[3, 3], auto_pad="SAME_LOWER", strides=[2, 2]), (0,)),
    (dict(kernel_shape=[3, 3], ceil_mode=1, strides=[2, 2]), (1,)),  # ceil adds a row
    # width 9: ceil would start a window in the right padding, which ONNX drops
    (dict(kernel_shape=[2, 2], ceil_mode=1, strides=[2, 2], pads=[1, 1, 1, 1]), (0, 1)),
    (dict(kernel_shape=[2, 3], dilations=[2, 1], pads=[1, 1, 1, 1], strides=[2, 2],
          ceil_mode=1), (0, 1)),
]


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_attributes(op):
    rng = np.random.default_rng(5)
    variants = [a for a, _ in POOLS] if op == "MaxPool" else [
        dict(a, count_include_pad=c) for a, counts in POOLS for c in counts]
    nodes, outputs = _variants(op, ["x"], variants)
    extra = {} if op == "MaxPool" else dict(count_include_pad=1)
    nodes += [helper.make_node(op, ["s"], ["z1"], kernel_shape=[3], strides=[2], pads=[1, 1]),
              helper.make_node(op, ["v"], ["z3"], kernel_shape=[2, 3, 2], strides=[1, 2, 2],
                               pads=[1, 0, 0, 0, 1, 1], **extra)]
    model = make_model(nodes, {"x": (F32, [2, 3, 8, 9]), "s": (F32, [2, 3, 10]),
                               "v": (F32, [1, 2, 4, 5, 4])}, outputs + ["z1", "z3"], opset=19)
    check(model, {"x": random(rng, (2, 3, 8, 9)), "s": random(rng, (2, 3, 10)),
                  "v": random(rng, (1, 2, 4, 5, 4))})


def test_pool_dynamic_shapes():
    """Free batch and spatial sizes: window taps slice relative to the end, the average's
    count map is pooled from a mask of the input's run-time shape."""
    rng = np.random.default_rng(6)
    nodes = [helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[2, 2], dilations=[2, 2],
                              pads=[1, 0, 1, 0], strides=[2, 1]),
             helper.make_node("AveragePool", ["x"], ["a"], kernel_shape=[3, 3],
                              pads=[1, 0, 2, 1])]
    model = make_model(nodes, {"x": (F32, [None, 2, None, None])}, ["m", "a"], opset=19)
    check(model, {"x": random(rng, (1, 2, 6, 7))}, {"x": random(rng, (2, 2, 9, 5))})


def test_max_pool_integers_and_global_pools():
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("MaxPool", ["q"], ["mq"], kernel_shape=[2, 2], pads=[1, 1, 0, 0]),
             helper.make_node("GlobalAveragePool", ["x"], ["ga"]),
             helper.make_node("GlobalMaxPool", ["x"], ["gm"]),
             helper.make_node("GlobalAveragePool", ["s"], ["gs"])]
    model = make_model(nodes, {"q": (np.uint8, [1, 2, 5, 5]), "x": (F32, [None, 3, 4, 5]),
                               "s": (F32, [2, 3, 7])},
                       [("mq", np.uint8), "ga", "gm", "gs"], opset=19)
    check(model, {"q": rng.integers(0, 255, (1, 2, 5, 5)).astype(np.uint8),
                  "x": random(rng, (2, 3, 4, 5)), "s": random(rng, (2, 3, 7))})


# -- activations, softmax, normalization -------------------------------------------------------

def test_activations():
    """One elementwise family, one model: the compiler fuses it into few kernels."""
    rng = np.random.default_rng(8)
    variants = [("Relu", {}), ("LeakyRelu", {}), ("LeakyRelu", dict(alpha=0.3)),
                ("HardSigmoid", {}), ("HardSigmoid", dict(alpha=0.5, beta=0.6)),
                ("HardSwish", {}), ("Sigmoid", {}), ("Tanh", {}), ("Erf", {}), ("Gelu", {}),
                ("Gelu", dict(approximate="tanh")), ("Elu", {}), ("Elu", dict(alpha=0.5)),
                ("Selu", {}), ("Celu", dict(alpha=2.0)), ("ThresholdedRelu", dict(alpha=0.5)),
                ("Softplus", {}), ("Softsign", {}), ("Mish", {}),
                ("Shrink", dict(bias=0.3, lambd=0.6))]
    nodes = [helper.make_node(op, ["x"], [f"y{i}"], **attrs)
             for i, (op, attrs) in enumerate(variants)]
    nodes.append(helper.make_node("PRelu", ["x", "slope"], ["p"]))  # slope per channel
    model = make_model(nodes, {"x": (F32, [None, 3, 5])},
                       [f"y{i}" for i in range(len(variants))] + ["p"],
                       {"slope": random(rng, (3, 1))}, opset=20)
    x = random(rng, (2, 3, 5)) * 3
    x[0, 0, :3] = [0.0, -3.0, 3.0]  # the kinks of HardSigmoid/HardSwish
    check(model, {"x": x})


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_axes(op):
    rng = np.random.default_rng(9)
    axes = [None, 0, 1, -1]
    nodes = [helper.make_node(op, ["x"], [f"y{i}"], **({} if a is None else {"axis": a}))
             for i, a in enumerate(axes)]
    model = make_model(nodes, {"x": (F32, [2, 3, 4])}, [f"y{i}" for i in range(len(axes))])
    check(model, {"x": random(rng, (2, 3, 4)) * 4})


@pytest.mark.parametrize("axis", [None, 0, 2])
def test_softmax_before_opset13_flattens_at_axis(axis):
    """Opsets < 13 (which import_model does not take) see the input as 2-D at `axis`;
    the converter is checked directly on an opset-11 node."""
    import graphjit as gj
    from graphjit.onnx.convert import CONVERTERS, NodeContext
    from tests.onnx.nn_util import run_ort

    rng = np.random.default_rng(10)
    x = random(rng, (2, 3, 4))
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node("Softmax", ["x"], ["y"], **attrs)
    graph = gj.Graph()
    with graph.as_default():
        placeholder = gj.placeholder(gj.float32, [2, 3, 4], name="x")
        y = CONVERTERS["Softmax"](NodeContext(node, 11, attrs, [placeholder], [None]))
    got = gj.compile(y)(x)
    model = make_model([node], {"x": (F32, [2, 3, 4])}, ["y"], opset=11)
    np.testing.assert_allclose(got, run_ort(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_batch_normalization():
    rng = np.random.default_rng(11)
    c = 3
    stats = {"s": random(rng, c), "b": random(rng, c), "m": random(rng, c),
             "v": np.abs(random(rng, c)) + 0.1}
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y0"]),
             helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y1"],
                              epsilon=1e-2),
             helper.make_node("BatchNormalization", ["f", "s", "b", "m", "v"], ["y2"]),
             # statistics fed at run time: no import-time folding
             helper.make_node("BatchNormalization", ["x", "s", "b", "rm", "rv"], ["y3"])]
    model = make_model(nodes, {"x": (F32, [None, c, 4, 5]), "f": (F32, [None, c]),
                               "rm": (F32, [c]), "rv": (F32, [c])},
                       ["y0", "y1", "y2", "y3"], stats, opset=15)
    feeds = {"f": random(rng, (4, c)), "rm": stats["m"] * 2, "rv": stats["v"] + 1}
    check(model, {"x": random(rng, (2, c, 4, 5)), **feeds},
          {"x": random(rng, (1, c, 4, 5)), **feeds})


def test_instance_normalization():
    rng = np.random.default_rng(16)
    nodes = [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"]),
             helper.make_node("InstanceNormalization", ["t", "s", "b"], ["z"], epsilon=0.1)]
    model = make_model(nodes, {"x": (F32, [None, 3, 4, 5]), "t": (F32, [2, 3, 6])}, ["y", "z"],
                       {"s": random(rng, 3), "b": random(rng, 3)})
    check(model, {"x": random(rng, (2, 3, 4, 5)) * 3 + 1, "t": random(rng, (2, 3, 6))})


def test_batch_normalization_training_is_unsupported():
    inits = {n: np.ones(2, F32) for n in "sbmv"}
    model = make_model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"],
                                         ["y", "rm", "rv"], training_mode=1)],
                       {"x": (F32, [2, 2, 3])}, ["y", "rm", "rv"], inits, opset=15)
    with pytest.raises(UnsupportedError, match="training mode"):
        check(model, {})


def test_layer_normalization():
    rng = np.random.default_rng(12)
    shape = (2, 3, 4, 5)
    nodes, inits, outputs = [], {}, []
    for i, axis in enumerate([-1, -2, 1]):
        tail = shape[axis % 4:]
        inits.update({f"s{i}": random(rng, tail), f"b{i}": random(rng, tail)})
        names = [f"y{i}", f"mean{i}", f"inv{i}"]
        nodes.append(helper.make_node("LayerNormalization", ["x", f"s{i}", f"b{i}"], names,
                                      axis=axis, epsilon=1e-3 * (i + 1)))
        outputs += names
    # no bias, only Y asked for
    nodes.append(helper.make_node("LayerNormalization", ["x", "s0"], ["z"]))
    model = make_model(nodes, {"x": (F32, [None, 3, 4, 5])}, outputs + ["z"], inits)
    check(model, {"x": random(rng, shape) * 2 + 1})


# -- Dropout, Clip, Pad ------------------------------------------------------------------------

def test_dropout_is_the_identity_at_inference():
    rng = np.random.default_rng(13)
    nodes = [helper.make_node("Dropout", ["x"], ["y0", "mask0"]),
             helper.make_node("Dropout", ["x", "r", "t"], ["y1", "mask1"]),
             helper.make_node("Dropout", ["x", "r"], ["y2"])]
    model = make_model(nodes, {"x": (F32, [None, 4])},
                       ["y0", ("mask0", np.bool_), "y1", ("mask1", np.bool_), "y2"],
                       {"r": np.array(0.3, F32), "t": np.array(False)})
    check(model, {"x": random(rng, (3, 4))})
    no_drop = make_model(nodes[1:2], {"x": (F32, [3, 4])}, ["y1", ("mask1", np.bool_)],
                         {"r": np.array(0.0, F32), "t": np.array(True)})
    check(no_drop, {"x": random(rng, (3, 4))})  # training with ratio 0 drops nothing
    training = make_model(nodes[1:2], {"x": (F32, [3, 4])}, ["y1", ("mask1", np.bool_)],
                          {"r": np.array(0.3, F32), "t": np.array(True)})
    with pytest.raises(UnsupportedError, match="training_mode"):
        check(training, {})


def test_clip_optional_bounds():
    rng = np.random.default_rng(14)
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y0"]),
             helper.make_node("Clip", ["x", "lo"], ["y1"]),
             helper.make_node("Clip", ["x", "", "hi"], ["y2"]),
             helper.make_node("Clip", ["x"], ["y3"]),
             helper.make_node("Clip", ["x", "hi", "lo"], ["y4"]),  # min > max: all max
             helper.make_node("Clip", ["x", "flo", "hi"], ["y5"]),  # a bound fed at run time
             helper.make_node("Clip", ["i", "ilo", "ihi"], ["y6"])]
    model = make_model(nodes, {"x": (F32, [2, 5]), "flo": (F32, []), "i": (np.int32, [7])},
                       [f"y{i}" for i in range(6)] + [("y6", np.int32)],
                       {"lo": np.array(-0.5, F32), "hi": np.array(0.7, F32),
                        "ilo": np.array(-2, np.int32), "ihi": np.array(3, np.int32)})
    check(model, {"x": random(rng, (2, 5)), "flo": np.array(-0.2, F32),
                  "i": np.arange(-3, 4, dtype=np.int32) * 2})


PADS = [  # (mode, pads per axis of a [2, 3, 4, 5] input, or (pads, axes))
    ("constant", [0, 1, 2, 1, 0, 2, 1, 0]),
    ("constant", [0, 0, -1, 1, 0, 1, 1, -2]),  # negative pads crop
    ("reflect", [0, 1, 2, 1, 0, 1, 1, 3]),
    ("edge", [0, 1, 2, 1, 0, 2, 1, 3]),
    ("wrap", [0, 1, 2, 4, 0, 2, 1, 3]),
    ("constant", ([1, 2, 2, 0], [1, -1])),  # the axes input (opset 18)
]


def test_pad_modes():
    rng = np.random.default_rng(15)
    nodes, inits = [], {"value": np.array(1.5, F32)}
    for i, (mode, pads) in enumerate(PADS):
        pads, axes = pads if isinstance(pads, tuple) else (pads, None)
        inits[f"p{i}"] = np.array(pads, np.int64)
        inputs = ["x", f"p{i}", "value" if mode == "constant" and i % 2 == 0 else ""]
        if axes is not None:
            inits[f"a{i}"] = np.array(axes, np.int64)
            inputs.append(f"a{i}")
        nodes.append(helper.make_node("Pad", inputs, [f"y{i}"], mode=mode))
    # free dims: border slices instead of a gather
    nodes += [helper.make_node("Pad", ["w", "p0"], ["z0"], mode="wrap"),
              helper.make_node("Pad", ["w", "p0"], ["z1"], mode="edge")]
    model = make_model(nodes, {"x": (F32, [2, 3, 4, 5]), "w": (F32, [None, 3, None, 5])},
                       [f"y{i}" for i in range(len(PADS))] + ["z0", "z1"], inits, opset=19)
    check(model, {"x": random(rng, (2, 3, 4, 5)), "w": random(rng, (1, 3, 4, 5))})
