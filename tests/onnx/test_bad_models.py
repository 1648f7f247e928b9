"""A catalogue of bad ONNX inputs, as a new user makes them: unreadable files, models that
break ONNX's own op schemas, and nodes asking for what graphjit does not implement.

Each case builds a bad model (or file) and names the graphjit error class it must
raise and fragments its message must hold (the node, input, attribute or path at
fault). Cases that would allocate terabytes if a check came too late run with
tracemalloc watching: the check must refuse them before any big allocation.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

pytest.importorskip("onnx")

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import graphjit as gj  # noqa: E402
from graphjit.errors import InternalError  # noqa: E402
from graphjit.onnx import import_model  # noqa: E402
from graphjit.onnx.convert import (  # noqa: E402
    SPECS,
    ConverterSpec,
    InvalidModelError,
    OnnxLoadError,
    StaticValueRequired,
)

F32, I64 = TensorProto.FLOAT, TensorProto.INT64
BIG = 2**40
Unsupported, Invalid = gj.UnsupportedError, InvalidModelError


def model(nodes, inputs=(("x", F32, [2, 3]),), outputs=("y",), inits=None, opset=18,
          domains=None) -> onnx.ModelProto:
    """inputs: (name, elem type, shape); outputs: names (float32, shape unknown);
    inits: {name: array}. No checker: these models are meant to be wrong."""
    ins = [helper.make_tensor_value_info(*i) for i in inputs]
    outs = [helper.make_tensor_value_info(o, F32, None) for o in outputs]
    initializers = [numpy_helper.from_array(np.asarray(v), n) for n, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, "bad", ins, outs, initializer=initializers)
    opsets = domains if domains is not None else [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets)


def node(op, ins, outs=("y",), name="n", **attrs):
    return helper.make_node(op, list(ins), list(outs), name=name, **attrs)


def one(op, ins=("x",), outs=("y",), **attrs) -> Callable:
    """A case maker: a model of one node `n`."""
    return lambda tmp: model([node(op, ins, outs, **attrs)])


def raw_attr(name: str, type_: int = 0, **fields) -> onnx.AttributeProto:
    a = onnx.AttributeProto(name=name, type=type_)
    for k, v in fields.items():
        setattr(a, k, v)
    return a


def with_attr(op, attr, ins=("x",), **attrs) -> Callable:
    def make(tmp):
        n = node(op, ins, **attrs)
        n.attribute.append(attr)
        return model([n])
    return make


def file_with(data: bytes, name: str = "model.onnx") -> Callable:
    def make(tmp):
        path = tmp / name
        path.write_bytes(data)
        return str(path)
    return make


def _tensor(name, dims, data_type=F32, **fields) -> onnx.TensorProto:
    t = onnx.TensorProto(name=name, data_type=data_type, dims=dims)
    for k, v in fields.items():
        getattr(t, k).extend(v) if isinstance(v, list) else setattr(t, k, v)
    return t


def bad_initializer(tensor: onnx.TensorProto) -> Callable:
    def make(tmp):
        m = model([node("Add", ["x", tensor.name])], inits={})
        m.graph.initializer.append(tensor)
        return m
    return make


def constants(op, values: dict, outs=("y",), inputs=(), **attrs) -> Callable:
    """A node `n` of `op` whose inputs are initializers (name -> array)."""
    return lambda tmp: model([node(op, list(values), outs, **attrs)], inputs=inputs,
                             inits=values)


def sparse(dims, values, indices) -> onnx.SparseTensorProto:
    return helper.make_sparse_tensor(numpy_helper.from_array(np.asarray(values, np.float32)),
                                     numpy_helper.from_array(np.asarray(indices, np.int64)),
                                     dims)


def external_data_model(tmp, remove: bool):
    path = tmp / "ext.onnx"
    m = model([node("Add", ["x", "w"])], inits={"w": np.ones((2, 3), np.float32)})
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.bin", size_threshold=0)
    if remove:
        os.remove(tmp / "ext.bin")
        return str(path)
    return onnx.load(str(path), load_external_data=False)


def spec_without(op: str, **changes) -> Callable:
    """Pretend the converter of `op` implements less (the mechanism, not today's table)."""
    def patch(monkeypatch):
        spec = SPECS[op]
        monkeypatch.setitem(SPECS, op, ConverterSpec(**{
            "attrs": spec.attrs, "inputs": spec.inputs, "outputs": spec.outputs, **changes}))
    return patch


def _gjz(tmp):
    graph = gj.Graph()
    with graph.as_default():
        gj.constant(1.0, name="c")
    return gj.save(graph, tmp / "model.gjz")


@dataclass
class Case:
    make: Callable  # tmp_path -> ModelProto, path or bytes
    error: type
    fragments: tuple[str, ...]
    kwargs: dict = field(default_factory=dict)  # for import_model
    patch: Callable | None = None  # monkeypatch -> None


C = Case
_RNG_BYTES = np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes()
_GOOD = model([node("Relu", ["x"])]).SerializeToString()

CASES: dict[str, Case] = {
    # -- files and bytes that are not ONNX models --------------------------------------------
    "random_bytes_file": C(file_with(_RNG_BYTES), OnnxLoadError,
                           ("model.onnx", "not a readable ONNX model")),
    "random_bytes": C(lambda tmp: _RNG_BYTES, OnnxLoadError,
                      ("the ONNX model bytes (4000 bytes)", "not a readable ONNX model")),
    "missing_file": C(lambda tmp: str(tmp / "nothing.onnx"), OnnxLoadError,
                      ("nothing.onnx", "no such file")),
    "directory": C(lambda tmp: str(tmp), OnnxLoadError, ("is a directory",)),
    "empty_file": C(file_with(b""), OnnxLoadError, ("model.onnx", "holds no graph")),
    "truncated_file": C(file_with(_GOOD[: len(_GOOD) // 2]), OnnxLoadError,
                        ("model.onnx", "not a readable ONNX model")),
    "text_file": C(file_with(b'{"graph": "not protobuf"}\n'), OnnxLoadError, ("model.onnx",)),
    "graphjit_file": C(lambda tmp: str(_gjz(tmp)), OnnxLoadError, ("model.gjz",)),
    "external_data_missing": C(lambda tmp: external_data_model(tmp, remove=True),
                               OnnxLoadError, ("ext.onnx", "not a readable ONNX model")),
    "external_data_unread": C(lambda tmp: external_data_model(tmp, remove=False), Invalid,
                              ("initializer 'w'", "external file")),
    # -- the model's opsets and ops ---------------------------------------------------------
    "no_default_opset": C(lambda tmp: model([node("Relu", ["x"])], domains=[]), Unsupported,
                          ("imports no version of the default ONNX domain",)),
    "opset_too_old": C(lambda tmp: model([node("Relu", ["x"])], opset=0), Unsupported,
                       ("opset 0", "version_converter could not convert")),
    "opset_too_new": C(lambda tmp: model([node("Relu", ["x"])], opset=999), Unsupported,
                       ("opset 999", "upgrade onnx")),
    "custom_domain": C(lambda tmp: model([helper.make_node("Relu", ["x"], ["y"], name="n",
                                                           domain="com.example")]),
                       Unsupported, ("'n'", "domain 'com.example'")),
    "unknown_op": C(one("FancyRelu"), Unsupported, ("FancyRelu", "'n'", "no converter")),
    "op_newer_than_opset": C(lambda tmp: model([node("Gelu", ["x"])], opset=17), Invalid,
                             ("Gelu 'n' (opset 17)", "added in opset 20")),
    # -- input and output counts (onnx.defs schemas) ----------------------------------------
    "add_one_input": C(one("Add", ["x"]), Invalid, ("Add 'n'", "has 1 input(s); Add-14 takes 2")),
    "matmul_no_inputs": C(one("MatMul", []), Invalid, ("MatMul 'n'", "has 0 input(s)")),
    "relu_three_inputs": C(one("Relu", ["x", "x", "x"]), Invalid,
                           ("Relu 'n'", "has 3 input(s); Relu-14 takes 1")),
    "clip_four_inputs": C(one("Clip", ["x", "x", "x", "x"]), Invalid, ("takes 1 to 3",)),
    "concat_no_inputs": C(one("Concat", [], axis=0), Invalid, ("Concat 'n'", "1 or more")),
    "add_two_outputs": C(one("Add", ["x", "x"], ["y", "z"]), Invalid,
                         ("Add 'n'", "has 2 output(s)")),
    "relu_no_outputs": C(lambda tmp: model([helper.make_node("Relu", ["x"], [])]), Invalid,
                         ("Relu '#0 of the graph'", "has 0 output(s)")),
    "required_input_empty": C(one("Add", ["x", ""]), Invalid,
                              ("Add 'n'", "input 1 (B) is required")),
    "required_output_empty": C(one("Relu", ["x"], [""]), Invalid,
                               ("Relu 'n'", "output 0 (Y) is required")),
    # -- attributes against the schema -------------------------------------------------------
    "concat_without_axis": C(one("Concat", ["x", "x"]), Invalid,
                             ("Concat 'n'", "lacks the attribute 'axis'")),
    "cast_without_to": C(one("Cast"), Invalid, ("Cast 'n'", "lacks the attribute 'to'")),
    "unknown_attribute": C(one("Relu", foo=1), Invalid,
                           ("Relu 'n'", "attribute 'foo'", "Relu-14 does not define")),
    "attribute_of_other_version": C(one("ReduceSum", axes=[1]), Invalid,
                                    ("ReduceSum 'n'", "attribute 'axes'")),
    "attribute_wrong_type": C(one("Concat", ["x", "x"], axis="1"), Invalid,
                              ("Concat 'n'", "attribute 'axis' is STRING", "as INT")),
    "attribute_float_for_ints": C(one("Transpose", perm=1.5), Invalid,
                                  ("Transpose 'n'", "'perm' is FLOAT", "as INTS")),
    "attribute_undefined_type": C(with_attr("Softmax", raw_attr("axis")), Invalid,
                                  ("Softmax 'n'", "attribute 'axis' is UNDEFINED")),
    "attribute_twice": C(with_attr("Softmax", raw_attr("axis", 2, i=1), axis=0), Invalid,
                         ("attribute 'axis' twice",)),
    "attribute_reference": C(with_attr("LeakyRelu", raw_attr("alpha", 1, ref_attr_name="a")),
                             Invalid, ("'alpha' is a reference to a function attribute",)),
    # -- what graphjit's converters do not implement --------------------------------------
    "constant_string": C(lambda tmp: model([node("Constant", [], value_string="hi")],
                                           inputs=()), Unsupported,
                         ("Constant 'n'", "attribute 'value_string'", "not supported")),
    "constant_strings": C(lambda tmp: model([node("Constant", [], value_strings=["a"])],
                                            inputs=()), Unsupported, ("'value_strings'",)),
    "maxpool_indices_3d_column_major": C(
        lambda tmp: model([node("MaxPool", ["x"], ["y", "i"], kernel_shape=[1, 1, 1],
                                storage_order=1)], inputs=[("x", F32, [1, 1, 2, 2, 2])]),
        Unsupported, ("MaxPool 'n'", "storage_order=1", "2-D pooling only")),
    "batchnorm_training_outputs": C(
        lambda tmp: model([node("BatchNormalization", ["x", "s", "b", "m", "v"],
                                ["y", "rm"])], inputs=[("x", F32, [1, 2, 3])],
                          inits={k: np.ones(2, np.float32) for k in "sbmv"}, opset=15),
        Unsupported, ("BatchNormalization 'n'", "output 1 (running_mean", "training mode")),
    "attribute_not_implemented": C(one("LeakyRelu", alpha=0.2), Unsupported,
                                   ("LeakyRelu 'n'", "attribute 'alpha' (= 0.2",
                                    "implements attributes: none"),
                                   patch=spec_without("LeakyRelu", attrs=frozenset())),
    "attribute_not_default": C(lambda tmp: model([node("Cast", ["x"], to=F32, saturate=0)],
                                                 opset=21), Unsupported,
                               ("Cast 'n'", "attribute 'saturate' (= 0)"),
                               patch=spec_without("Cast", attrs=frozenset({"to"}))),
    "input_not_implemented": C(constants("Clip", {"v": np.ones(3, np.float32),
                                                  "lo": np.float32(0), "hi": np.float32(1)}),
                               Unsupported, ("Clip 'n'", "input 2 (max, 'hi')",
                                             "implements the first 2"),
                               patch=spec_without("Clip", inputs=2)),
    "batchnorm_training_mode": C(
        lambda tmp: model([node("BatchNormalization", ["x", "s", "b", "m", "v"],
                                training_mode=1)], inputs=[("x", F32, [1, 2, 3])],
                          inits={k: np.ones(2, np.float32) for k in "sbmv"}, opset=15),
        Unsupported, ("BatchNormalization 'n'", "training mode")),
    # -- the graph's values --------------------------------------------------------------
    "undefined_input": C(one("Relu", ["ghost"]), Invalid, ("'n'", "reads 'ghost'")),
    "out_of_order": C(lambda tmp: model([node("Relu", ["t"], name="second"),
                                         node("Relu", ["x"], ["t"], name="first")]), Invalid,
                      ("'second'", "reads 't'", "topological order")),
    "output_defined_twice": C(lambda tmp: model([node("Relu", ["x"], name="a"),
                                                 node("Neg", ["x"], name="b")]), Invalid,
                              ("Neg 'b'", "output 'y' is already defined")),
    "output_shadows_input": C(one("Relu", ["x"], ["x"]), Invalid,
                              ("Relu 'n'", "output 'x' is already defined")),
    "output_not_computed": C(lambda tmp: model([node("Relu", ["x"], ["t"])]), gj.GraphError,
                             ("output 'y' is not computed",)),
    "input_not_tensor": C(lambda tmp: _sequence_input(), Unsupported,
                          ("input 'x' is a sequence", "needs its structure", "input_shapes")),
    "input_complex_type": C(lambda tmp: model([node("Identity", ["x"])],
                                              inputs=[("x", TensorProto.COMPLEX64, [2])]),
                            Unsupported, ("input 'x'", "COMPLEX64")),
    "input_without_rank": C(lambda tmp: model([node("Relu", ["x"])], inputs=[("x", F32, None)]),
                            StaticValueRequired, ("input 'x' has no declared rank",)),
    "input_huge": C(lambda tmp: model([node("Relu", ["x"])], inputs=[("x", F32, [BIG, BIG])]),
                    Unsupported, ("input 'x'", "max_bytes")),
    "initializer_complex": C(lambda tmp: model([node("Add", ["x", "w"])],
                                               inits={"w": np.ones(3, np.complex64)}),
                             Unsupported, ("initializer 'w'", "complex64")),
    "initializer_huge_dims": C(bad_initializer(_tensor("w", [BIG], raw_data=b"\0" * 4)),
                               Invalid, ("initializer 'w'", f"dims [{BIG}]")),
    "initializer_short_data": C(bad_initializer(_tensor("w", [3], float_data=[1.0, 2.0])),
                                Invalid, ("initializer 'w'", "dims [3]")),
    "static_input_unknown": C(one("Relu"), gj.GraphError, ("no input named 'z'",),
                              kwargs={"static_inputs": {"z": np.ones(1)}}),
    "input_shape_conflict": C(one("Relu"), gj.GraphError, ("input_shapes gives 'x'",),
                              kwargs={"input_shapes": {"x": [5, 3]}}),
    # -- node values that break the op or are too big ---------------------------------------
    "constant_tensor_bad": C(lambda tmp: model([node("Constant", [], value=_tensor(
        "v", [4], float_data=[1.0]))], inputs=()), Invalid,
        ("Constant 'n'", "attribute 'value'", "dims [4]")),
    "sparse_huge": C(lambda tmp: model([node("Constant", [], sparse_value=sparse(
        [BIG, BIG], [1.0], [0]))], inputs=()), Unsupported,
        ("Constant 'n'", "sparse_value", "max_bytes")),
    "sparse_bad_index": C(lambda tmp: model([node("Constant", [], sparse_value=sparse(
        [3], [1.0], [7]))], inputs=()), Invalid, ("Constant 'n'", "do not fit dims [3]")),
    "range_huge": C(constants("Range", {"a": np.float32(0), "b": np.float32(1e12),
                                        "c": np.float32(1)}), Unsupported,
                    ("Range 'n'", "max_bytes")),
    "range_infinite": C(constants("Range", {"a": np.float64(0), "b": np.float64(1e308),
                                            "c": np.float64(1e-308)}), Unsupported,
                        ("Range 'n'", "no finite number")),
    "range_zero_delta": C(constants("Range", {"a": np.int64(0), "b": np.int64(5),
                                              "c": np.int64(0)}), Unsupported,
                          ("Range 'n'", "delta is 0")),
    "constant_of_shape_huge": C(constants("ConstantOfShape", {"s": np.array([BIG], np.int64)}),
                                Unsupported, ("ConstantOfShape 'n'", "max_bytes")),
    "expand_huge": C(lambda tmp: model([node("Expand", ["x", "s"])], inits={
        "s": np.array([BIG, 2, 3], np.int64)}), Unsupported, ("Expand 'n'", "max_bytes")),
    "tile_huge": C(lambda tmp: model([node("Tile", ["x", "r"])], inits={
        "r": np.array([BIG, 1], np.int64)}), Unsupported, ("Tile 'n'", "max_bytes")),
    "cumsum_axis_out_of_range": C(lambda tmp: model([node("CumSum", ["x", "a"])],
                                                    inits={"a": np.int64(2)}), Unsupported,
                                  ("CumSum 'n'", "axis 2", "rank 2")),
    "cumsum_scalar": C(lambda tmp: model([node("CumSum", ["x", "a"])], inputs=[("x", F32, [])],
                                         inits={"a": np.int64(0)}), Unsupported,
                       ("CumSum 'n'", "rank >= 1")),
    "pad_edge_huge": C(lambda tmp: model([node("Pad", ["x", "p"], mode="edge")], inits={
        "p": np.array([0, 0, 0, BIG], np.int64)}), Unsupported, ("Pad 'n'", "max_bytes")),
    "over_small_limit": C(one("Relu"), Unsupported, ("input 'x'", "max_bytes (16 bytes)"),
                          kwargs={"max_bytes": 16}),
    "reshape_wrong_size": C(lambda tmp: model([node("Reshape", ["x", "s"])], inits={
        "s": np.array([7], np.int64)}), gj.ShapeError, ("Reshape 'n'",)),
    "add_incompatible": C(lambda tmp: model([node("Add", ["x", "z"])], inputs=[
        ("x", F32, [2, 3]), ("z", F32, [4])]), gj.ShapeError, ("Add 'n'",)),
    "concat_axis_out_of_range": C(one("Concat", ["x", "x"], axis=5), Unsupported,
                                  ("Concat 'n'", "axis 5")),
    "cast_to_string": C(one("Cast", to=TensorProto.STRING), Unsupported, ("Cast 'n'", "STRING")),
    "softmax_scalar": C(lambda tmp: model([node("Softmax", ["x"])], inputs=[("x", F32, [])]),
                        Unsupported, ("Softmax 'n'", "rank >= 1")),
    "gelu_bad_approximate": C(lambda tmp: model([node("Gelu", ["x"], approximate="exact")],
                                                opset=20), Unsupported,
                              ("Gelu 'n'", "approximate='exact'")),
}


def _sequence_input() -> onnx.ModelProto:
    m = model([node("Identity", ["x"])], inputs=())
    m.graph.input.append(helper.make_value_info(
        "x", helper.make_sequence_type_proto(helper.make_tensor_type_proto(F32, [2]))))
    return m


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_model(case: Case, tmp_path, monkeypatch):
    source = case.make(tmp_path)
    if case.patch is not None:
        case.patch(monkeypatch)
    tracemalloc.start()
    try:
        with pytest.raises(gj.Error) as info:
            import_model(source, **case.kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(info.value, case.error), f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert peak < 64 << 20, f"import allocated {peak >> 20} MiB before refusing"


def test_catalogue_size():
    assert len(CASES) >= 60


def test_defaults_written_out_are_accepted(monkeypatch):
    """An attribute a converter lacks is fine when it holds ONNX's default: ignoring it
    changes nothing (exporters often write defaults out)."""
    spec_without("Cast", attrs=frozenset({"to"}))(monkeypatch)
    import_model(model([node("Cast", ["x"], to=F32, saturate=1)], opset=21))


def test_declarations_cover_the_schemas():
    """Every attribute ONNX defines for a converted op (opset 13 to the newest onnx knows)
    is declared by its converter, but for the ones deliberately refused: upgrading onnx
    shows here what new attributes need a decision."""
    refused = {("Constant", "value_string"), ("Constant", "value_strings")}
    newest = onnx.defs.onnx_opset_version()
    missing = set()
    for op, spec in SPECS.items():
        for version in range(13, newest + 1):
            try:
                schema = onnx.defs.get_schema(op, version, "")
            except onnx.defs.SchemaError:
                continue
            missing |= {(op, a) for a in schema.attributes if a not in spec.attrs}
    assert missing == refused


def test_converters_read_only_declared_attributes():
    """ctx.attr refuses an attribute the converter did not declare (an InternalError:
    a bug in the declaration, caught by the import tests)."""
    from graphjit.onnx.convert import NodeContext
    ctx = NodeContext(node("Relu", ["x"]), 18, {}, [None], declared_attrs=frozenset())
    with pytest.raises(InternalError, match="reads attribute 'alpha'"):
        ctx.attr("alpha")


def test_backend_raises_the_same_errors():
    """graphjit.onnx.backend (prepare, run_node) reports bad models as import_model does."""
    from graphjit.onnx import backend
    with pytest.raises(OnnxLoadError, match="the ONNX model bytes"):
        backend.prepare(_RNG_BYTES)
    with pytest.raises(InvalidModelError, match="has 1 input.s.; Add-14 takes 2"):
        backend.run_node(node("Add", ["x"]), [np.ones(2, np.float32)])
