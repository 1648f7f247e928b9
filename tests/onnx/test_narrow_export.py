"""Export of casts to and from graphjit's storage-only dtypes (bfloat16, float8, int4, ...)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import graphjit as gj  # noqa: E402
from graphjit import dtypes  # noqa: E402
from graphjit.onnx.exporter import export  # noqa: E402

pytestmark = pytest.mark.skipif(not dtypes.NARROW, reason="ml_dtypes is not installed")


def test_narrow_casts_export_at_the_opsets_that_have_them(tmp_path):
    """A cast through float8 keeps graphjit's meaning (no saturation: saturate=0 is
    written); below the opset that has a type, or for float8e8m0, export refuses."""
    x_value = np.array([[1.01, 500.0, -1e6], [0.3, np.inf, -2.5]], np.float32)
    # int4 from integers in its range: onnxruntime wraps and rounds other values, unlike
    # ONNX's reference (and graphjit), which truncate
    n_value = np.array([[-8, -3, 0], [1, 5, 7]], np.float32)
    path = str(tmp_path / "narrow.onnx")
    with gj.Graph().as_default() as graph:
        x = gj.placeholder(gj.float32, [2, 3], name="x")
        n = gj.placeholder(gj.float32, [2, 3], name="n")
        ys = [gj.cast(gj.cast(x, d), gj.float32)
              for d in (dtypes.float8_e4m3fn, dtypes.float8_e5m2, dtypes.bfloat16)]
        ys.append(gj.cast(gj.cast(n, dtypes.int4), gj.float32))
        want = gj.compile(ys, feeds=[x, n])(x_value, n_value)
        export(graph, path, fetches=ys, opset=21)
        got = ort.InferenceSession(path).run(None, {"x": x_value, "n": n_value})
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        with pytest.raises(gj.UnsupportedError, match="float8_e4m3fn from opset 19"):
            export(graph, path, fetches=ys, opset=17)
        e8m0 = gj.cast(x, dtypes.float8_e8m0fnu)
        with pytest.raises(gj.UnsupportedError, match="matches no ONNX round_mode"):
            export(graph, path, fetches=[e8m0], opset=25)
