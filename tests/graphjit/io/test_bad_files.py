"""A catalogue of bad saved files, as a new user (or an attacker) makes them: damaged or
lying .npy members, zip bombs, and graph.json attrs that declare huge tensors.

Each case edits a freshly saved model (or checkpoint) and names the message fragments
the LoadError must hold (the file, and the array, op or entry at fault). Every load
runs under tracemalloc: a file declaring terabytes must be refused before anything
near that is allocated. The issue's three reported inputs also run in a subprocess
with a timeout (test_reported_inputs_in_a_subprocess).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import graphjit as tf
from tests.graphjit.io.helpers import op_entry, read_doc, rewrite

BIG = 2**40
MiB = 1 << 20


def saved_model(directory) -> str:
    """x -> (x + tile(fill)) @ w + b + v, plus a Range and a RandomUniform: arrays a0 (w),
    a1 (b), a2 (RandomUniform's scale) and v0 (v's saved value)."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        w = tf.constant(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        b = tf.constant(np.ones(2, np.float32), name="b")
        v = tf.Variable(tf.zeros([2]), name="v")
        tiled = tf.tile(tf.fill([2, 3], 1.0, name="filled"), [1, 1], name="tiled")
        tf.range(0, 6, 1, name="r")
        tf.random_uniform([2, 2], name="ru")
        y = tf.add(tf.matmul(x + tiled, w) + b, v, name="y")
        init = tf.global_variables_initializer()
    with tf.Session(graph=graph, engine="reference") as sess:
        sess.run(init)
        return tf.save(graph, directory / "model.gjz", fetches=[y], session=sess)


# -- making bad bytes ------------------------------------------------------------------

def npy(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """An .npy member with a hand-written header (which may lie about the data)."""
    text = header.encode("latin1")
    size_bytes = 2 if version == (1, 0) else 4
    pad = -(6 + 2 + size_bytes + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return (b"\x93NUMPY" + bytes(version) + len(text).to_bytes(size_bytes, "little") + text
            + data)


def header(shape, descr="<f4") -> str:
    return f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"


def npz(members: dict[str, bytes], compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        inner = zipfile.ZipFile(io.BytesIO(zf.read("arrays.npz")))
        return {name: inner.read(name) for name in inner.namelist()}


def set_members(**changes: bytes | None) -> Callable:
    """Replace (or, with None, drop) members of the saved model's arrays.npz."""
    def edit(path):
        entries = members(path)
        for name, data in changes.items():
            name = name.replace("__", ".")
            if data is None:
                entries.pop(name, None)
            else:
                entries[name] = data
        rewrite(path, arrays=npz(entries))
        return path
    return edit


def with_arrays(data: bytes) -> Callable:
    def edit(path):
        rewrite(path, arrays=data)
        return path
    return edit


def flip_data_byte(path):
    """One data byte of a0 changed, every size left alone: only the CRC can tell."""
    raw = bytearray(npz(members(path)))
    at = raw.find(np.arange(6, dtype=np.float32).tobytes())  # w's values
    raw[at + 5] ^= 0xFF
    rewrite(path, arrays=bytes(raw))
    return path


def edit_doc(fn: Callable[[dict], None]) -> Callable:
    def edit(path):
        doc = read_doc(path)
        fn(doc)
        rewrite(path, doc)
        return path
    return edit


def attr(op: str, name: str, value) -> Callable:
    return edit_doc(lambda doc: op_entry(doc, op)["attrs"].__setitem__(name, value))


def ints(*values) -> dict:
    return {"tuple": [{"int": v} for v in values]}


def deflated_graph_json(size: int) -> Callable:
    """graph.json padded with `size` bytes of whitespace (valid JSON), deflated to a few
    KiB: a small zip bomb."""
    def edit(path):
        text = json.dumps(read_doc(path)).encode() + b" " * size
        with zipfile.ZipFile(path) as zf:
            arrays = zf.read("arrays.npz")
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("graph.json", text, compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr("arrays.npz", arrays)
        return path
    return edit


def claimed_size(size: int) -> Callable:
    """The zip directory claims graph.json holds `size` bytes (a bomb's header, without
    the bytes)."""
    def edit(path):
        raw = bytearray(open(path, "rb").read())
        with zipfile.ZipFile(path) as zf:
            at = zf.start_dir  # the central directory: graph.json's entry is first
        assert raw[at + 46:at + 56] == b"graph.json"
        raw[at + 24:at + 28] = size.to_bytes(4, "little")
        open(path, "wb").write(bytes(raw))
        return path
    return edit


def huge_literal(path):
    """Range's limit written as a 5000-digit integer."""
    doc = read_doc(path)
    op_entry(doc, "r")["attrs"]["limit"] = {"int": 123456789}
    rewrite(path, graph_json=json.dumps(doc).replace("123456789", "9" * 5000).encode())
    return path


def directory_form(edit_dir: Callable) -> Callable:
    def edit(path):
        loaded = tf.load(path)
        target = str(path)[:-4] + "_dir/"
        with loaded.session() as sess:
            tf.save(loaded.graph, target, fetches=loaded.fetches, session=sess)
        edit_dir(target)
        return target
    return edit


def write(name: str, data: bytes) -> Callable:
    def edit(directory):
        with open(directory + name, "wb") as f:
            f.write(data)
    return edit


# -- checkpoints --------------------------------------------------------------------------

def checkpoint(tmp):
    """A Saver of one variable 'v' and its checkpoint file: (saver, session, path)."""
    graph = tf.Graph()
    with graph.as_default():
        tf.Variable(tf.zeros([2]), name="v")
        saver = tf.train.Saver()
        init = tf.global_variables_initializer()
    sess = tf.Session(graph=graph, engine="reference")
    sess.run(init)
    return saver, sess, saver.save(sess, str(tmp / "ckpt")) + ".npz"


def checkpoint_bytes(data: bytes) -> Callable:
    def edit(path):
        with open(path, "wb") as f:
            f.write(data)
        return path
    return edit


@dataclass
class Case:
    edit: Callable  # path of a fresh save -> path to load
    fragments: tuple[str, ...]
    kwargs: dict = field(default_factory=dict)  # for load / restore (max_bytes)
    checkpoint: bool = False  # the file is a Saver checkpoint, restored


C = Case
_JUNK = np.random.default_rng(2).integers(0, 256, 300, dtype=np.uint8).tobytes()
_A0 = "op 'w' (Const) attr 'value': arrays.npz: array 'a0'"

CASES: dict[str, Case] = {
    # -- members of arrays.npz -------------------------------------------------------------
    "garbage_member": C(set_members(a0__npy=_JUNK), (_A0, "not readable")),
    "member_without_npy_suffix": C(set_members(a0__npy=None, a0=npy(header([3, 2]), b"\0" * 24)),
                                   ("op 'w' (Const)", "arrays.npz has no array 'a0'")),
    "member_missing": C(set_members(a1__npy=None), ("op 'b' (Const)", "no array 'a1'")),
    "truncated_member": C(set_members(a0__npy=npy(header([3, 2]), b"\0" * 12)),
                          (_A0, "declares shape (3, 2) float32 (24 bytes)", "holds 12 bytes")),
    "header_declares_12_tib": C(set_members(a0__npy=npy(header([BIG, 3]), b"\0" * 12)),
                                (_A0, f"shape ({BIG}, 3) float32", "12.0 TiB", "max_bytes")),
    "header_declares_less": C(set_members(a0__npy=npy(header([1]), b"\0" * 24)),
                              (_A0, "declares shape (1,)", "holds 24 bytes")),
    "header_negative_shape": C(set_members(a0__npy=npy(header([-1, 3]))),
                               (_A0, "negative shape (-1, 3)")),
    "header_object_dtype": C(set_members(a0__npy=npy(header([1], "|O"), b"\0" * 8)),
                             (_A0, "holds Python objects", "pickle")),
    "header_complex_dtype": C(set_members(a0__npy=npy(header([1], "<c16"), b"\0" * 16)),
                              (_A0, "dtype complex128, which graphjit does not support")),
    "header_structured_dtype": C(set_members(a0__npy=npy(
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", b"\0" * 4)),
        (_A0, "which graphjit does not support")),
    "header_version_3": C(set_members(a0__npy=npy(header([3, 2]), b"\0" * 24, (3, 0))),
                          (_A0, ".npy format version 3.0 is not read")),
    "header_version_unknown": C(set_members(a0__npy=npy(header([3, 2]), b"\0" * 24, (9, 9))),
                                (_A0, "version 9.9")),
    "header_not_a_dict": C(set_members(a0__npy=npy("__import__('os')", b"\0" * 24)),
                           (_A0, "not readable")),
    "header_missing_keys": C(set_members(a0__npy=npy("{'descr': '<f4'}", b"\0" * 24)),
                             (_A0, "not readable")),
    "crc_mismatch": C(flip_data_byte, (_A0, "not readable", "CRC")),
    "npz_not_a_zip": C(with_arrays(b"hello, not a zip"),
                       ("arrays.npz is not a readable .npz",)),
    "npz_empty": C(with_arrays(b""), ("arrays.npz is not a readable .npz",)),
    "npz_truncated": C(lambda p: with_arrays(npz(members(p))[:-30])(p),
                       ("arrays.npz is not a readable .npz",)),
    "variable_value_huge": C(set_members(v0__npy=npy(header([BIG]), b"\0" * 8)),
                             ("saved value of variable 'v': arrays.npz: array 'v0'", "4.0 TiB",
                              "max_bytes")),
    "variable_value_garbage": C(set_members(v0__npy=_JUNK), ("variable 'v'", "array 'v0'",
                                                             "not readable")),
    # -- byte budgets: zip bombs ---------------------------------------------------------
    "graph_json_bomb": C(deflated_graph_json(2 * MiB), ("graph.json is 2.0 MiB",
                                                        "max_bytes (1.0 MiB)"),
                         {"max_bytes": MiB}),
    "graph_json_claims_4_gib": C(claimed_size(0xFFFFFFF0), ("graph.json is 4.0 GiB",
                                                            "max_bytes (2.0 GiB)"),
                                 {"max_bytes": 2**31}),
    "array_bomb": C(lambda p: with_arrays(npz({**members(p), "a0.npy": npy(
        header([MiB // 2]), bytes(2 * MiB))}, compress=True))(p),
        (_A0, "is 2.0 MiB", "max_bytes (1.0 MiB)"), {"max_bytes": MiB}),
    "arrays_over_budget_together": C(set_members(a0__npy=npy(header([150_000]), bytes(600_000)),
                                                 a1__npy=npy(header([150_000]),
                                                             bytes(600_000))),
                                     ("op 'b' (Const)", "array 'a1'", "already read",
                                      "max_bytes (1.0 MiB)"),
                                     {"max_bytes": MiB}),
    "directory_npz_garbage": C(directory_form(write("arrays.npz", _JUNK)),
                               ("arrays.npz is not a readable .npz",)),
    "directory_graph_json_budget": C(directory_form(lambda d: None),
                                     ("graph.json is", "max_bytes (100 bytes)"),
                                     {"max_bytes": 100}),
    "directory_member_huge": C(directory_form(write("arrays.npz", npz({
        "a0.npy": npy(header([BIG, 3]), b"\0" * 12)}))), (_A0, "12.0 TiB")),
    # -- graph.json attrs that declare huge tensors --------------------------------------
    "fill_2_pow_40": C(attr("filled", "shape", ints(BIG, 3)),
                       ("op 'filled' (Fill)", f"float32[{BIG},3]", "12.0 TiB", "max_bytes")),
    "zeros_square": C(attr("zeros", "shape", ints(2**20, 2**20)),
                      ("op 'zeros' (Fill)", "4.0 TiB")),
    "fill_over_given_limit": C(attr("filled", "shape", ints(1000, 1000)),
                               ("op 'filled' (Fill)", "3.8 MiB", "max_bytes (1.0 MiB)"),
                               {"max_bytes": MiB}),
    "tile_huge": C(attr("tiled", "multiples", ints(2**30, 2**30)),
                   ("op 'tiled' (Tile)", "max_bytes")),
    "range_huge": C(attr("r", "limit", {"int": BIG}), ("op 'r' (Range)", "4.0 TiB")),
    "range_float_overflow": C(edit_doc(lambda doc: op_entry(doc, "r")["attrs"].update(
        start={"float": 0.0}, limit={"float": 1e308}, delta={"float": 1e-308})),
        ("op 'r' (Range) cannot be rebuilt",)),
    "placeholder_huge": C(attr("x", "shape", {"shape": [None, BIG]}),
                          ("op 'x' (Placeholder)", f"float32[?,{BIG}]", "max_bytes")),
    "variable_huge": C(attr("v", "shape", {"shape": [BIG]}), ("op 'v' (VariableV2)",)),
    "random_uniform_huge": C(attr("ru/RandomUniform", "shape", {"shape": [BIG, BIG]}),
                             ("op 'ru/RandomUniform' (RandomUniform)", "max_bytes")),
    "int_of_5000_digits": C(huge_literal, ("graph.json is not valid JSON", "4300 digits")),
    # -- checkpoints (Saver.restore) -------------------------------------------------------
    "checkpoint_huge_header": C(checkpoint_bytes(npz({"v.npy": npy(header([BIG, 3]))})),
                                ("the checkpoint: array 'v'", "12.0 TiB"), checkpoint=True),
    "checkpoint_garbage_member": C(checkpoint_bytes(npz({"v.npy": _JUNK})),
                                   ("array 'v'", "not readable"), checkpoint=True),
    "checkpoint_not_a_zip": C(checkpoint_bytes(_JUNK), ("is not a readable .npz",),
                              checkpoint=True),
    "checkpoint_bomb": C(checkpoint_bytes(npz({"v.npy": npy(header([MiB // 2]),
                                                            bytes(2 * MiB))}, compress=True)),
                         ("array 'v' is 2.0 MiB", "max_bytes (1.0 MiB)"), {"max_bytes": MiB},
                         checkpoint=True),
    "checkpoint_wrong_key": C(checkpoint_bytes(npz({"w.npy": npy(header([2]), bytes(8))})),
                              ("no value for variable 'v'", "it holds w"), checkpoint=True),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_file(case: Case, tmp_path):
    if case.checkpoint:
        saver, sess, path = checkpoint(tmp_path)
        path = case.edit(path)
        run = lambda: saver.restore(sess, path, **case.kwargs)  # noqa: E731
    else:
        path = case.edit(saved_model(tmp_path))
        run = lambda: tf.load(path, **case.kwargs)  # noqa: E731
    tracemalloc.start()
    try:
        with pytest.raises(tf.LoadError) as info:
            run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(str(path).rstrip("/")), message
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert peak < 64 * MiB, f"load allocated {peak // MiB} MiB before refusing"


def test_catalogue_size():
    assert len(CASES) >= 35


def test_unreferenced_arrays_are_not_read(tmp_path):
    """Members nothing in graph.json names are never read: garbage, a header declaring
    12 TiB, or 4 MiB of data within a 1 MiB budget all load fine."""
    path = saved_model(tmp_path)
    set_members(junk__npy=_JUNK, huge__npy=npy(header([BIG, 3]), b"\0" * 12),
                bulk__npy=npy(header([MiB]), bytes(4 * MiB)), notnpy=b"x")(path)
    loaded = tf.load(path, max_bytes=MiB)
    with loaded.session() as sess:
        out = sess.run(loaded.fetches[0], {"x:0": np.zeros((1, 3), np.float32)})
    np.testing.assert_array_equal(out, [[7.0, 10.0], [7.0, 10.0]])


def test_big_endian_fortran_and_compressed_arrays_load(tmp_path):
    """Valid but unusual .npy members (big-endian, Fortran order, deflated) read right."""
    path = saved_model(tmp_path)
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    entries = members(path)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asfortranarray(w.astype(">f4")))
    entries["a0.npy"] = buffer.getvalue()
    rewrite(path, arrays=npz(entries, compress=True))
    value = tf.load(path).graph.get_operation_by_name("w").attrs["value"]
    assert value.dtype == np.float32 and value.dtype.isnative
    np.testing.assert_array_equal(value, w)


def test_max_bytes_must_be_an_int(tmp_path):
    with pytest.raises(TypeError, match="max_bytes"):
        tf.load(saved_model(tmp_path), max_bytes="1GB")


_CHILD = """
import sys
import graphjit as tf
for path in sys.argv[1:]:
    try:
        tf.load(path)
    except tf.LoadError as exc:
        print("LoadError:", exc)
"""


def test_reported_inputs_in_a_subprocess(tmp_path):
    """The issue's reports, in a child that must answer in seconds: a garbage npz member
    (was AttributeError), a header declaring (2**40, 3) (was a 12 TiB MemoryError) and a
    Fill of 2**40 elements (loaded, then ran for half an hour)."""
    made = []
    for i, edit in enumerate([set_members(a0__npy=b"\x93NUMPY garbage"),
                              CASES["header_declares_12_tib"].edit,
                              CASES["fill_2_pow_40"].edit]):
        (tmp_path / str(i)).mkdir()
        made.append(edit(saved_model(tmp_path / str(i))))
    result = subprocess.run([sys.executable, "-c", _CHILD, *made], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("LoadError: ") for line in lines), lines
    assert "array 'a0'" in lines[0] and "12.0 TiB" in lines[1] and "op 'filled'" in lines[2]
