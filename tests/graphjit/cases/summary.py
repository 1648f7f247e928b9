"""Cases for the summary ops: their value is the serialized Summary protobuf.

The expectation writes the bytes independently of graphjit.ops._summary_proto: the
histogram by TF's histogram.cc loops (bucket search by bisect, runs of empty buckets
collapsed as EncodeToProto does), the wire format field by field. Sums use np.sum, as
the op does (pairwise): equal bytes need equal rounding. tests/graphjit/test_summary.py
parses the bytes with protobuf itself when tensorboard is installed.
"""

from __future__ import annotations

import bisect
import struct
import sys

import numpy as np
from hypothesis.extra import numpy as hnp

import graphjit as tf
from tests.graphjit.cases.base import FLOATS, INTS, Case, fixed, uniform

NUMERIC = FLOATS + INTS
DBL_MAX = sys.float_info.max


def _varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _value(tag: str, member: bytes) -> bytes:
    return _len_field(1, _len_field(1, tag.encode()) + member)


def expected_scalar(tag: str, a) -> bytes:
    """Summary{value{tag, simple_value (field 2, fixed32)}}."""
    return _value(tag, b"\x15" + struct.pack("<f", float(np.float32(a))))


def tf_bucket_limits() -> list[float]:
    positive, v = [], 1.0e-12
    while v < 1.0e20:
        positive.append(v)
        v *= 1.1
    return [-p for p in reversed(positive + [DBL_MAX])] + [0.0] + positive + [DBL_MAX]


def tf_histogram(a) -> dict:
    """The HistogramProto fields TF writes for values `a`."""
    limits = tf_bucket_limits()
    counts = [0.0] * len(limits)
    values = [float(v) for v in np.asarray(a, np.float64).reshape(-1)]
    for v in values:
        counts[min(bisect.bisect_right(limits, v), len(limits) - 1)] += 1
    out_limits, out_counts, i = [], [], 0
    while i < len(counts):
        end, count = limits[i], counts[i]
        i += 1
        if count <= 0:
            while i < len(counts) and counts[i] <= 0:
                end, count = limits[i], counts[i]
                i += 1
        out_limits.append(end)
        out_counts.append(count)
    x = np.asarray(a, np.float64).reshape(-1)
    return {"min": min(values, default=DBL_MAX), "max": max(values, default=-DBL_MAX),
            "num": float(len(values)), "sum": float(np.sum(x)),
            "sum_squares": float(np.sum(x * x)), "bucket_limit": out_limits,
            "bucket": out_counts}


def expected_histogram(tag: str, a) -> bytes:
    h = tf_histogram(a)
    fields = b""
    for number, key in enumerate(("min", "max", "num", "sum", "sum_squares"), start=1):
        if struct.pack("<d", h[key]) != bytes(8):  # proto3 leaves zeros out
            fields += _varint(number << 3 | 1) + struct.pack("<d", h[key])
    for number, key in ((6, "bucket_limit"), (7, "bucket")):
        fields += _len_field(number, struct.pack(f"<{len(h[key])}d", *h[key]))
    return _value(tag, _len_field(5, fields))


def _string(data: bytes) -> np.ndarray:
    out = np.empty((), object)
    out[()] = data
    return out


def _wide(rng, shape, dtype):
    """Magnitudes from 1e-14 to 1e22 of both signs, and zeros: every bucket region."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        return uniform(-1000, 1000)(rng, shape, dtype)
    values = rng.standard_normal(shape) * 10.0 ** rng.uniform(-14, 22, shape)
    return np.where(rng.random(shape) < 0.1, 0.0, values).astype(dt)


def _merged(x):
    return tf.summary.merge([tf.summary.scalar("first", x[0, 0]),
                             tf.summary.histogram("values", x)])


def _expected_merged(a):
    return _string(expected_scalar("first", a[0, 0]) + expected_histogram("values", a))


CASES = [
    Case("scalar_summary", lambda x: tf.summary.scalar("loss", x),
         lambda a: _string(expected_scalar("loss", a)), default_shapes=((),),
         shapes=fixed(((),)), dtypes=NUMERIC),
    Case("histogram_summary", lambda x: tf.summary.histogram("weights", x),
         lambda a: _string(expected_histogram("weights", a)), default_shapes=((4, 5),),
         shapes=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6).map(
             lambda s: (s,)), dtypes=NUMERIC),
    Case("histogram_summary_wide", lambda x: tf.summary.histogram("w", x),
         lambda a: _string(expected_histogram("w", a)), default_shapes=((50,),),
         inputs=_wide, dtypes=NUMERIC),
    Case("merge_summary", _merged, _expected_merged, default_shapes=((3, 2),),
         dtypes=FLOATS),
]
