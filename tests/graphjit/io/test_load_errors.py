"""load() refuses every kind of broken file with a LoadError naming the file and the
problem, before a graph is returned; nothing in a file runs (no pickle)."""

from __future__ import annotations

import io
import os
import re
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphjit as tf
from tests.graphjit.io.helpers import op_entry, read_doc, rewrite, small_graph


@pytest.fixture
def saved(tmp_path):
    """A small graph saved with its variable values: (path, its graph.json as a dict)."""
    graph, x, probs, total, init = small_graph()
    with tf.Session(graph=graph, engine="reference") as sess:
        sess.run(init)
        path = tf.save(graph, tmp_path / "model.gjz", fetches=[total, init], session=sess)
    return path, read_doc(path)


def _load_fails(path, pattern: str) -> tf.LoadError:
    with pytest.raises(tf.LoadError) as info:
        tf.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") or message.startswith(f"{path}/"), message
    assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    assert isinstance(info.value, (tf.Error, ValueError))
    return info.value


def _set(key, value):
    def edit(doc):
        doc[key] = value
    return edit


def _op(op_name, **changes):
    def edit(doc):
        op_entry(doc, op_name).update(changes)
    return edit


def _attr(name, attr, value):
    def edit(doc):
        attrs = op_entry(doc, name)["attrs"]
        if value is None:
            del attrs[attr]
        else:
            attrs[attr] = value
    return edit


def _move_total_first(doc):
    total = op_entry(doc, "total")
    doc["ops"].remove(total)
    doc["ops"].insert(0, total)


def _variable(**changes):
    def edit(doc):
        doc["variables"][0].update(changes)
    return edit


EDITS = {
    # header and schema
    "newer_version": (_set("format_version", 7), r"file format 7 is newer than this graphjit "
                      r"\(reads <= 1\), written by graphjit 0\.1\.0; upgrade graphjit$"),
    "version_not_int": (_set("format_version", "1"),
                        "'format_version' should be an integer >= 1, got '1'"),
    "other_format": (_set("format", "onnx"), "not a graphjit graph file .*'onnx'"),
    "unknown_field": (_set("extra", 1), "graph.json has an unknown field 'extra'"),
    "missing_field": (lambda doc: doc.pop("feeds"), "graph.json lacks the field 'feeds'"),
    "ops_not_a_list": (_set("ops", {}), "field 'ops' should be a list of objects"),
    "seed_not_int": (_set("seed", "7"), "field 'seed' should be an integer or null, got '7'"),
    "op_lacks_type": (lambda doc: doc["ops"][0].pop("type"),
                      r"ops\[0\] \('x'\) lacks the field 'type'"),
    "bad_output_shape": (_op("x", outputs=[{"shape": [-1, 3], "dtype": "float32"}]),
                         r"ops\[0\] \('x'\) outputs\[0\] field 'shape' should be a list of "
                         "dimensions"),
    # op types and attrs
    "unknown_op_type": (_op("MatMul", type="FancyMatMul"),
                        "op 'MatMul' has unknown op type 'FancyMatMul'"),
    "attr_wrong_type": (_attr("total", "axes", {"str": "1"}),
                        r"op 'total' \(Sum\) attr 'axes': expected a tuple of ints, got str"),
    "attr_wrong_dtype": (_attr("x", "dtype", {"int": 1}),
                         r"op 'x' \(Placeholder\) attr 'dtype': expected a DType, got int 1"),
    "bad_tag_payload": (_attr("total", "keepdims", {"bool": "yes"}),
                        r"op 'total' \(Sum\) attr 'keepdims': expected true or false"),
    "unknown_tag": (_attr("total", "keepdims", {"complex": [1, 2]}),
                    "attr 'keepdims': unknown type tag 'complex'"),
    "untagged_attr": (_attr("total", "keepdims", False), "expected an object with one type tag"),
    "unknown_dtype_name": (_attr("x", "dtype", {"dtype": "complex64"}),
                           "attr 'dtype': expected one of float16"),
    "missing_attr": (_attr("total", "keepdims", None),
                     r"op 'total' \(Sum\) lacks attr 'keepdims' \(Sum takes axes, keepdims\)"),
    "extra_attr": (_attr("total", "foo", {"int": 1}),
                   r"op 'total' \(Sum\) has attr 'foo', which Sum does not take"),
    "missing_npz_key": (_attr("dense/random_uniform/Const", "value", {"array": "zz9"}),
                        "attr 'value': arrays.npz has no array 'zz9'"),
    # references and order
    "dangling_input": (_op("total", inputs=["nothing:0"]),
                       r"op 'total' \(Sum\) input 'nothing:0': the file has no op named "
                       "'nothing'"),
    "output_out_of_range": (_op("total", inputs=["probs:3"]),
                            "input 'probs:3': op 'probs' has 1 output.s., so output index 3 is "
                            "out of range"),
    "not_a_tensor_name": (_op("total", inputs=["probs"]),
                          "input 'probs' is not a tensor name like 'op:0'"),
    "input_count": (_op("total", inputs=["probs:0", "probs:0"]),
                    r"op 'total' \(Sum\) has 2 input\(s\); Sum takes 1"),
    "dangling_control": (_op("init", control_inputs=["ghost"]),
                         "control input 'ghost': the file has no op named 'ghost'"),
    "cycle": (_op("MatMul", inputs=["x:0", "total:0"]),
              r"the ops form a cycle \(MatMul -> total -> probs -> .* -> MatMul\)"),
    "self_cycle": (_op("total", control_inputs=["total"]), r"a cycle \(total -> total\)"),
    "out_of_order": (_move_total_first, "op 'probs' is listed after it .* topological order"),
    "duplicate_names": (_op("total", name="probs"),
                        r"ops\[\d+\] and ops\[\d+\] are both named 'probs'"),
    # shapes and dtypes
    "recorded_shape": (_op("total", outputs=[{"shape": [5], "dtype": "float32"}]),
                       r"output 'total:0' of op 'total' \(Sum\) is float32\[\?\] when rebuilt, "
                       r"but the file records float32\[5\]"),
    "recorded_dtype": (_op("total", outputs=[{"shape": [None], "dtype": "float64"}]),
                       r"is float32\[\?\] when rebuilt, but the file records float64\[\?\]"),
    "recorded_outputs": (_op("total", outputs=[{"shape": [None], "dtype": "float32"}] * 2),
                         "has 1 output.s. when rebuilt, but the file records 2"),
    "inference_fails": (_attr("MatMul", "transpose_b", {"bool": True}),
                        r"op 'MatMul' \(MatMul\) cannot be rebuilt from inputs "
                        r"\(float32\[\?,3\], float32\[3,2\]\): contraction dimensions differ"),
    # fetches, feeds, variables
    "unknown_fetch": (_set("fetches", ["ghost:0"]),
                      "fetches.0. 'ghost:0': the graph has no operation named 'ghost'"),
    "feed_not_tensor": (_set("feeds", ["x"]), r"feeds\[0\] 'x' is not a tensor name"),
    "variable_not_variable": (_variable(op="MatMul"),
                              "'variables' lists 'MatMul', which is not a VariableV2 op"),
    "variable_initializer": (_variable(initializer="MatMul"),
                             "variable 'dense/kernel': its initializer 'MatMul' is not an "
                             "Assign to it"),
    "value_missing_key": (lambda doc: doc["variable_values"].update({"dense/kernel": "nokey"}),
                          "variable 'dense/kernel' should be array 'nokey', which arrays.npz "
                          "does not have"),
    "value_wrong_shape": (lambda doc: doc["variable_values"].update({"dense/kernel": "a0"}),
                          r"saved value of variable 'dense/kernel' is float32\[\]; the "
                          r"variable is float32\[3,2\]"),
    "collection_op_is_tensor": (lambda doc: doc["collections"].update(train_op=[{"op": "x:0"}]),
                                "collection 'train_op': 'x:0' should name an op, not a tensor"),
    "collection_unknown": (lambda doc: doc["collections"].update(variables=[{"tensor": "v:0"}]),
                           "collection 'variables' 'v:0': the graph has no operation named 'v'"),
    "value_not_variable": (lambda doc: doc["variable_values"].update({"MatMul": "v0"}),
                           "value for 'MatMul', which is not a variable"),
}


@pytest.mark.parametrize("edit, pattern", EDITS.values(), ids=EDITS.keys())
def test_broken_graph_json(saved, edit, pattern):
    path, doc = saved
    tf.load(path)  # the unedited file loads
    edit(doc)
    rewrite(path, doc)
    _load_fails(path, pattern)


@pytest.mark.parametrize("text, pattern", [
    (b'{"format": "graphjit.graph", ', "graph.json is not valid JSON: Expecting"),
    (b'{"seed": NaN}', "not valid JSON: NaN is not JSON"),
    (b'\xff\xfe', "graph.json is not UTF-8"),
    (b"[1, 2]", "graph.json should hold a JSON object, not a array"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
], ids=["syntax", "nan", "utf8", "not_object", "deep"])
def test_unparsable_graph_json(saved, text, pattern):
    path, _ = saved
    rewrite(path, graph_json=text)
    _load_fails(path, pattern)


def test_truncated_and_garbage_files(saved, tmp_path):
    path, _ = saved
    data = open(path, "rb").read()
    for cut in (len(data) // 2, len(data) - 10, 5):
        with open(path, "wb") as f:
            f.write(data[:cut])
        _load_fails(path, "not a readable graphjit file .corrupt or truncated zip.")
    damaged = bytearray(data)
    start = data.find(b"arrays.npz") + 40  # inside the stored npz bytes
    damaged[start:start + 64] = bytes(64)
    with open(path, "wb") as f:
        f.write(bytes(damaged))
    _load_fails(path, "corrupt or truncated")
    _load_fails(tmp_path / "nothing.gjz", "no such file or directory")


def test_zip_without_graph_json(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    _load_fails(path, "the archive has no 'graph.json' entry .* holds readme.txt")


def test_directory_form_damage(tmp_path):
    graph, *_ = small_graph()
    path = tf.save(graph, str(tmp_path / "model") + "/")
    npz = os.path.join(path, "arrays.npz")
    data = open(npz, "rb").read()
    with open(npz, "wb") as f:
        f.write(data[: len(data) // 2])
    _load_fails(path, "arrays.npz is not a readable .npz .corrupt or truncated.")
    os.remove(os.path.join(path, "graph.json"))
    _load_fails(path, "the directory has no 'graph.json'")


class _Evil:
    """Unpickling this would create a file: proof that a load ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for key, array in arrays.items():
            with zf.open(key + ".npy", "w") as f:
                np.lib.format.write_array(f, array, allow_pickle=True)
    return buffer.getvalue()


def test_pickled_arrays_are_refused_not_run(saved, tmp_path):
    path, _ = saved
    marker = tmp_path / "ran"
    rewrite(path, arrays=_npz(a0=np.array([_Evil(str(marker))], dtype=object)))
    _load_fails(path, "arrays.npz: array 'a0' holds Python objects .*allow_pickle=False")
    assert not marker.exists()


def test_unsupported_array_dtype(saved):
    path, _ = saved
    rewrite(path, arrays=_npz(a0=np.zeros(2, np.complex128)))
    _load_fails(path, "array 'a0' has dtype complex128, which graphjit does not support")


def _paths(value, prefix=()):
    """Every (path, value) inside a JSON value, containers included."""
    yield prefix, value
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, (*prefix, key))


_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2)
                     | st.sampled_from(["x", "x:0", "probs:0", "a0", "float32", "Sum", ""]),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["int", "tuple", "tensor", "op", "shape"]),
                                       inner, max_size=2), max_leaves=6)


@given(data=st.data())
def test_any_edit_loads_or_raises_load_error(tmp_path_factory, data):
    """Whatever one value of graph.json becomes, load() succeeds or raises a LoadError."""
    graph, x, probs, total, init = small_graph()
    path = tf.save(graph, tmp_path_factory.mktemp("fuzz") / "m.gjz", fetches=[total])
    doc = read_doc(path)
    where, _ = data.draw(st.sampled_from(list(_paths(doc))[1:]), label="where")
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = data.draw(_json, label="value")
    rewrite(path, doc)
    try:
        tf.load(path)
    except tf.LoadError as exc:
        assert str(exc).startswith(f"{path}: ")
