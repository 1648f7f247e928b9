"""Cases for the host-kernel primitives of graphjit.ops.nms, graphjit.ops.strings and
graphjit.ops.image: non-max suppression checked by a plain-Python greedy pick, the string
ops chained (concat, regex, normalize, split) into numbers the expectation states
outright, and a PNG Pillow encodes decoded back (only where Pillow, the optional `image`
extra, is installed: MISSING_EXTRAS names the op types left uncovered otherwise)."""

from __future__ import annotations

import io
from importlib.util import find_spec

import numpy as np

import graphjit as tf
from graphjit.ops.image import decode_image
from graphjit.ops.nms import non_max_suppression
from graphjit.ops.strings import regex_full_match, string_concat, string_normalizer, string_split
from tests.graphjit.cases.base import Case, uniform

_BOXES = np.array([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 2, 1, 3], [0.5, 0.5, 2, 2],
                    [3, 3, 4, 4], [3, 3.2, 4, 4.2]]], np.float64)


def _iou(a, b):
    h = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = h * w
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if inter > 0 else 0.0


def _greedy(scores, limit=3, iou=0.5, least=0.1):
    rows = []
    for c in range(scores.shape[1]):
        picked = []
        for i in sorted(range(scores.shape[2]), key=lambda i: -scores[0, c, i]):
            if scores[0, c, i] > least and len(picked) < limit \
                    and all(_iou(_BOXES[0, i], _BOXES[0, j]) <= iou for j in picked):
                picked.append(i)
        rows += [[0, c, i] for i in picked]
    return np.array(rows, np.int64).reshape(-1, 3)


def _nms(scores):
    return [non_max_suppression(tf.constant(_BOXES.astype(scores.dtype.np)), scores, 3,
                                0.5, 0.1)]


def _strings(x):
    words = tf.constant(np.array([b"a b", b"Cc", b"a"], object))
    joined = string_concat(words, tf.constant(np.array(b"!", object)))  # a b!, Cc!, a!
    matched = tf.reduce_sum(tf.cast(regex_full_match(joined, r"[a-z ]+!"), x.dtype))  # 2
    kept = string_normalizer(joined, ["A!"], "LOWER")  # a b!, cc!
    _, counts = string_split(kept, " ")  # 2, 1
    return [x * matched + tf.cast(tf.reduce_sum(counts), x.dtype)]


_PIXELS = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 13  # [H, W, RGB]


def _image(x):
    """x + the sum of the pixels in RGB + 2 * the sum of the blue ones, from BGR."""
    from PIL import Image
    png = io.BytesIO()
    Image.fromarray(_PIXELS, "RGB").save(png, format="PNG")
    encoded = tf.constant(np.frombuffer(png.getvalue(), np.uint8))
    rgb = tf.reduce_sum(tf.cast(decode_image(encoded), x.dtype))
    blue = tf.reduce_sum(tf.cast(decode_image(encoded, "BGR")[:, :, 0], x.dtype))
    return [x + rgb + 2 * blue]


CASES = [
    Case("non_max_suppression", _nms, lambda s: [_greedy(s)], default_shapes=((1, 2, 6),),
         dtypes=("float32",), inputs=uniform(0, 1)),
    Case("string_ops", _strings, lambda a: [a * 2 + 3], default_shapes=((3,),)),
]
MISSING_EXTRAS = set() if find_spec("PIL") else {"ImageDecoder"}
if not MISSING_EXTRAS:
    CASES.append(Case("image_decoder", _image, lambda a: [
        a + int(_PIXELS.sum(dtype=np.int64)) + 2 * int(_PIXELS[:, :, 2].sum(dtype=np.int64))],
        default_shapes=((3,),)))
