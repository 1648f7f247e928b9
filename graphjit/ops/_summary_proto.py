"""The serialized `Summary` protobufs summary ops compute, written by hand.

A summary op's value is what TF1's is, the bytes of a tensorflow `Summary` message,
so `FileWriter.add_summary` and TensorBoard read it as they read TF's. The few fields
summaries set are encoded here directly in the protobuf wire format, so the ops need
no protobuf library (only `FileWriter` does, through the tensorboard extra): a
`Summary` is `repeated Value value = 1`; a `Value` holds `tag = 1` and either
`simple_value = 2` (float) or `histo = 5`, a `HistogramProto` (min 1, max 2, num 3,
sum 4, sum_squares 5: doubles; bucket_limit 6 and bucket 7: packed doubles). Fields
go in field-number order and proto3 zeros are left out, as protobuf serializes them.
Messages concatenate into their merge, which is how MergeSummary joins summaries.
"""

from __future__ import annotations

import struct
import sys

import numpy as np

DBL_MAX = sys.float_info.max


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire_type)
    if wire_type == 2:  # length-delimited
        return key + _varint(len(payload)) + payload
    return key + payload


def _double(number: int, value: float) -> bytes:
    packed = struct.pack("<d", value)
    return _field(number, 1, packed) if packed != bytes(8) else b""  # (-0.0 is written)


def _value(tag: str, number: int, wire_type: int, payload: bytes) -> bytes:
    """One `Summary` holding one `Value`: its tag and one member of the value oneof."""
    return _field(1, 2, _field(1, 2, tag.encode()) + _field(number, wire_type, payload))


def scalar_summary(tag: str, value: float) -> bytes:
    """`Summary{value{tag, simple_value}}`; the value is rounded to float32, as TF's."""
    return _value(tag, 2, 5, np.array(value, "<f4").tobytes())  # (beyond float32: inf)


# -- histograms --------------------------------------------------------------------

def _default_bucket_limits() -> np.ndarray:
    """TF's default bucket edges (histogram.cc): +-1e-12 growing by 10% up to 1e20,
    then +-DBL_MAX, and 0; bucket i holds the values in [limit[i-1], limit[i])."""
    positive, v = [], 1.0e-12
    while v < 1.0e20:
        positive.append(v)
        v *= 1.1
    positive.append(DBL_MAX)
    return np.array([-p for p in reversed(positive)] + [0.0] + positive)


BUCKET_LIMITS = _default_bucket_limits()


def histogram_summary(tag: str, values: np.ndarray) -> bytes:
    """`Summary{value{tag, histo}}` of finite `values`, as TF's HistogramSummary: counts
    over the default buckets, each run of empty buckets written as one (its last edge)."""
    x = np.asarray(values, np.float64).reshape(-1)
    counts = np.bincount(np.minimum(np.searchsorted(BUCKET_LIMITS, x, side="right"),
                                    len(BUCKET_LIMITS) - 1), minlength=len(BUCKET_LIMITS))
    empty = counts == 0
    # a filled bucket, or the last of a run of empty ones
    keep = ~empty | np.append(~empty[1:], True)
    limits, buckets = BUCKET_LIMITS[keep], counts[keep].astype(np.float64)
    histo = b"".join([
        _double(1, float(x.min()) if x.size else DBL_MAX),
        _double(2, float(x.max()) if x.size else -DBL_MAX),
        _double(3, float(x.size)),
        _double(4, float(x.sum())),
        _double(5, float(np.sum(x * x))),
        _field(6, 2, limits.astype("<f8").tobytes()),
        _field(7, 2, buckets.astype("<f8").tobytes()),
    ])
    return _value(tag, 5, 2, histo)


# -- reading: the tags of a Summary, for MergeSummary -----------------------------

def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("a truncated or overlong varint")
        byte = data[i]
        n |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not byte & 0x80:
            return n, i


def _fields(data: bytes):
    """(field number, wire type, payload) of each field of a message; ValueError when
    `data` is not one."""
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = _read_varint(data, i)
            yield number, wire_type, value
            continue
        if wire_type == 2:
            size, i = _read_varint(data, i)
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"wire type {wire_type} (groups) is not read")
        if number == 0 or i + size > len(data):
            raise ValueError("a field runs past the end of the message")
        yield number, wire_type, data[i:i + size]
        i += size


def summary_tags(data: bytes) -> list[str]:
    """The tag of every value of serialized `Summary` `data`; ValueError if it is none."""
    tags = []
    for number, wire_type, payload in _fields(data):
        if number == 1 and wire_type == 2:
            found = [p for n, w, p in _fields(payload) if n == 1 and w == 2]
            tags.append((found[-1] if found else b"").decode("utf-8", "replace"))
    return tags
