"""Op versions and attribute values: a node is converted only under the meaning its
converter implements (graphjit/onnx/op_versions.py), and the ops whose meaning
changed in ONNX's newest versions give ONNX's results, in graphjit's NumPy reference
interpreter and compiled alike. Old opsets (7-12) import through onnx.version_converter.
"""

import numpy as np
import pytest

pytest.importorskip("onnx")

import onnx  # noqa: E402
from onnx import TensorProto, defs, helper  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.interpreter import evaluate  # noqa: E402
from graphjit.onnx import backend, import_model  # noqa: E402
from graphjit.onnx.convert import CONVERTERS  # noqa: E402
from graphjit.onnx.op_versions import ATTR_VALUES, OP_VERSIONS  # noqa: E402
from tests.onnx.nn_util import make_model, run_ort  # noqa: E402

F16, F32, F64 = np.float16, np.float32, np.float64
NEWEST = defs.onnx_opset_version()
# Mod-28 and SpaceToDepth-28 need onnx >= 1.23 (the test-onnx extra installs it).
needs_opset_28 = pytest.mark.skipif(NEWEST < 28, reason=f"onnx {onnx.__version__} knows "
                                    f"opsets up to {NEWEST}; these ops changed in 28")


def one_node(op, inputs: dict, outputs=("y",), opset=NEWEST, **attrs) -> onnx.ModelProto:
    """A model of one node named 'n' (inputs: {name: (dtype, shape)})."""
    return make_model([helper.make_node(op, list(inputs), list(outputs), name="n", **attrs)],
                      inputs, [(o, next(iter(inputs.values()))[0]) for o in outputs],
                      opset=opset)


def both(model, feeds: dict, rtol: float = 0.0) -> list[np.ndarray]:
    """The model's outputs from the reference interpreter and compiled, which must agree
    (bit for bit unless `rtol`, NaNs in the same places); returns the compiled ones."""
    graph = import_model(model)
    ref = evaluate(graph.outputs, {t: feeds[n] for t, n in zip(graph.inputs, graph.input_names)})
    got = graph.compile()(**feeds)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=rtol, atol=0)
    return [np.asarray(g) for g in got]


# -- the tables ------------------------------------------------------------------------

def _domain_op(key: str) -> tuple[str, str]:
    """(domain, op type) of a table key: 'Relu', or 'ai.onnx.preview:FlexAttention'."""
    domain, _, op = key.rpartition(":")
    return domain, op


def test_every_converter_states_its_versions_and_only_converters_do():
    assert set(OP_VERSIONS) == set(CONVERTERS)
    assert set(ATTR_VALUES) <= set(CONVERTERS)


def test_stated_versions_are_onnx_versions_of_the_op():
    for key, versions in OP_VERSIONS.items():
        domain, op = _domain_op(key)
        known = {s.since_version for s in defs.get_all_schemas_with_history()
                 if s.name == op and s.domain == domain}
        newest = NEWEST if not domain else max(known, default=0)
        assert {v for v in versions if v <= newest} <= known, key


def test_every_version_the_installed_onnx_has_was_reviewed():
    """A new onnx release with a new version of a converted op fails here (and its nodes
    are refused) until someone reads the change and lists the version."""
    for key, versions in OP_VERSIONS.items():
        domain, op = _domain_op(key)
        if domain:  # the other domains' versions start at 1: every one must be listed
            known = {s.since_version for s in defs.get_all_schemas_with_history()
                     if s.name == op and s.domain == domain}
            assert known <= set(versions), f"{key}: {sorted(known)} are not all listed"
            continue
        for opset in range(13, NEWEST + 1):
            try:
                since = defs.get_schema(op, opset, "").since_version
            except defs.SchemaError:  # the op is newer than this opset
                continue
            assert since in versions, f"{op}-{since} (opset {opset}) is not in OP_VERSIONS"


def test_stated_attribute_values_are_attributes_of_the_op():
    for key, attrs in ATTR_VALUES.items():
        domain, op = _domain_op(key)
        if domain:
            schema = defs.get_schema(op, max(OP_VERSIONS[key]), domain)
            assert set(attrs) <= set(schema.attributes), key
        elif max(OP_VERSIONS[op]) <= NEWEST:  # (an older onnx lacks SpaceToDepth-28's mode)
            assert set(attrs) <= set(defs.get_schema(op, NEWEST, "").attributes), op


# -- refusals --------------------------------------------------------------------------

def test_an_unimplemented_op_version_is_refused_naming_the_node(monkeypatch):
    model = one_node("Relu", {"x": (F32, [2])}, opset=14)  # Relu-14
    monkeypatch.setitem(OP_VERSIONS, "Relu", (13,))
    with pytest.raises(UnsupportedError, match=r"Relu 'n' \(opset 14\): Relu-14 .*Relu-13"):
        import_model(model)
    with pytest.raises(UnsupportedError, match="Relu-14"):
        backend.prepare(model)


def test_an_unimplemented_attribute_is_refused_naming_the_node():
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["y"], name="n", value_string="hi")], "g", [],
        [helper.make_tensor_value_info("y", TensorProto.STRING, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", NEWEST)])
    with pytest.raises(UnsupportedError, match="Constant 'n'.*attribute 'value_string'"):
        import_model(model)


@pytest.mark.parametrize("op, attrs", [
    ("DepthToSpace", {"blocksize": 2, "mode": "XYZ"}),
    ("Pad", {"mode": "mirror"}),
    ("Mod", {"fmod": 2}),
])
def test_an_unimplemented_attribute_value_is_refused_naming_the_node(op, attrs):
    inputs = {"x": (F32, [1, 4, 2, 2])}
    if op == "Pad":
        inputs["pads"] = (np.int64, [8])
    if op == "Mod":
        inputs["d"] = (F32, [1, 4, 2, 2])
    nodes = [helper.make_node(op, list(inputs), ["y"], name="n", **attrs)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        n, helper.np_dtype_to_tensor_dtype(np.dtype(d)), s) for n, (d, s) in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", NEWEST)])
    name, value = next((k, v) for k, v in attrs.items() if k != "blocksize")
    with pytest.raises(UnsupportedError, match=f"{op} 'n'.*{name}={value!r}"):
        import_model(model)


# -- meanings that changed -------------------------------------------------------------

@needs_opset_28
@pytest.mark.parametrize("dtype", [F32, F64])
def test_mod_28_floor_mod_on_floats(dtype):
    a = np.array([-4.3, 4.3, -3, 3, -3, 0, 5.5, np.inf, 7, np.nan], dtype)
    b = np.array([2.1, -2.1, np.inf, -np.inf, -2, -2, 0, 2, np.nan, 1], dtype)
    model = one_node("Mod", {"a": (dtype, [10]), "b": (dtype, [10])}, opset=28)
    (got,) = both(model, {"a": a, "b": b})
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.mod(a, b)
    np.testing.assert_array_equal(got, want)
    assert got[0] == pytest.approx(2.0, rel=1e-5) and got[2] == np.inf  # -4.3 mod 2.1, -3 mod inf


@needs_opset_28
@pytest.mark.parametrize("dtype", [F16, F32])
def test_mod_fmod_1_is_c_fmod_with_infinite_divisors(dtype):
    a = np.array([-4.3, 4.3, -3, 3, -3, 5.5, np.inf, 7], dtype)
    b = np.array([2.1, -2.1, np.inf, -np.inf, -2, 0, 2, np.nan], dtype)
    model = one_node("Mod", {"a": (dtype, [8]), "b": (dtype, [8])}, opset=28, fmod=1)
    (got,) = both(model, {"a": a, "b": b})
    with np.errstate(invalid="ignore", divide="ignore"):
        want = np.fmod(a, b)
    np.testing.assert_array_equal(got, want)
    assert got[2] == -3 and got[3] == 3


@needs_opset_28
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth_modes_invert_depth_to_space(mode):
    x = np.arange(2 * 3 * 4 * 6, dtype=F32).reshape(2, 3, 4, 6)
    model = one_node("SpaceToDepth", {"x": (F32, [2, 3, 4, 6])}, opset=28, blocksize=2,
                     mode=mode)
    (y,) = both(model, {"x": x})
    assert y.shape == (2, 12, 2, 3)
    back = one_node("DepthToSpace", {"y": (F32, [2, 12, 2, 3])}, outputs=("z",),
                    blocksize=2, mode=mode)
    (z,) = both(back, {"y": y})
    np.testing.assert_array_equal(z, x)
    if mode == "CRD":  # channel c's block (i, j) is output channel c*4 + i*2 + j
        np.testing.assert_array_equal(y[:, 1 * 4 + 1 * 2 + 0], x[:, 1, 1::2, 0::2])
    else:  # DCR: output channel (i*2 + j)*3 + c
        np.testing.assert_array_equal(y[:, (1 * 2 + 0) * 3 + 1], x[:, 1, 1::2, 0::2])


@pytest.mark.parametrize("x_shape, w_shape, group", [
    ((1, 16, 6, 6), (4, 16, 3, 3), 1),
    ((1, 16, 40), (16, 1, 9), 16),  # depthwise 1-D, as a causal conv
    ((1, 16, 8, 8), (16, 1, 5, 5), 16),  # depthwise 2-D
])
def test_float16_conv_sums_in_float32_then_rounds(x_shape, w_shape, group):
    from onnx.reference import ReferenceEvaluator
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape).astype(F16), rng.standard_normal(w_shape).astype(F16)
    conv = [helper.make_node("Conv", ["x", "w"], ["y"], name="n", group=group)]
    model = make_model(conv, {"x": (F16, list(x_shape)), "w": (F16, list(w_shape))},
                       [("y", F16)])
    (got,) = both(model, {"x": x, "w": w})
    wide = make_model(conv, {"x": (F32, list(x_shape)), "w": (F32, list(w_shape))},
                      [("y", F32)])
    want = ReferenceEvaluator(wide).run(None, {"x": x.astype(F32), "w": w.astype(F32)})[0]
    want = want.astype(F16)  # the float16 products summed in float32, rounded once
    ulps = np.abs(got.view(np.int16).astype(np.int32) - want.view(np.int16).astype(np.int32))
    assert ulps.max() <= 1 and (ulps == 0).mean() > 0.95


# -- old opsets --------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [9, 11])
def test_old_opset_models_are_converted_to_13(opset):
    """Opset-9/11 forms: Clip's bounds and Unsqueeze's/ReduceSum's axes as attributes,
    Softmax over the flattened trailing axes."""
    clip = (helper.make_node("Clip", ["x"], ["c"], min=-1.0, max=1.5) if opset < 11 else
            helper.make_node("Clip", ["x", "lo", "hi"], ["c"]))
    nodes = [clip,
             helper.make_node("Unsqueeze", ["c"], ["u"], axes=[0]),
             helper.make_node("Softmax", ["u"], ["s"], axis=2),
             helper.make_node("ReduceSum", ["s"], ["y"], axes=[3], keepdims=0)]
    inits = {} if opset < 11 else {"lo": np.float32(-1), "hi": np.float32(1.5)}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])]
    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[onnx.numpy_helper.from_array(np.asarray(v), n)
                                           for n, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(F32) * 2
    (want,) = run_ort(model, {"x": x})
    assert import_model(model).opset == 13
    (got,) = both(model, {"x": x}, rtol=1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(backend.prepare(model).run([x])[0], want, rtol=1e-6, atol=1e-6)
