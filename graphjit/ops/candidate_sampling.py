"""Candidate samplers: `tf.nn.log_uniform_candidate_sampler` and
`uniform_candidate_sampler`, the negative classes of nce_loss and sampled_softmax_loss.

One primitive, CandidateSampler, draws on the host. Like RandomLike
(graphjit.ops.random_like) it is a pure function of a float64[2] `key` input, a
RandomUniform draw seeded by TF's rules and new each run, so the reference interpreter
and a compiled plan draw the same candidates. The draws are TF's distributions, not
TF's numbers. With `unique`, draws repeat until num_sampled distinct classes are found,
and the expected counts account for the number of tries, as TF's RangeSampler does.
"""

from __future__ import annotations

import math

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, InvalidArgumentError, ShapeError
from graphjit.graph import Tensor, TensorShape
from graphjit.ops._util import convert_to_tensor, graph_of, op_errors
from graphjit.ops.elementwise import cast
from graphjit.ops.random_like import key_generator
from graphjit.ops.state_ops import _random
from graphjit.registry import Attr, AttrKind, Fusion, Host, NoOnnx, OpDef, register

SAMPLERS = ("log_uniform", "uniform")


def _distribution(sampler: str, range_max: int):
    """(draw(rng, size) -> int64 classes, probability(classes) -> float64), TF's formulas."""
    if sampler == "log_uniform":  # Zipf-like: P(c) = log((c + 2) / (c + 1)) / log(range + 1)
        log_range = math.log1p(range_max)

        def draw(rng, size):
            values = np.exp(rng.random(size) * log_range).astype(np.int64) - 1
            return values % range_max

        return draw, lambda c: np.log((c + 2.0) / (c + 1.0)) / log_range
    return (lambda rng, size: rng.integers(0, range_max, size, dtype=np.int64),
            lambda c: np.full(np.shape(c), 1.0 / range_max))


def _expected_count(p: np.ndarray, num_sampled: int, num_tries: int) -> np.ndarray:
    if num_tries == num_sampled:  # always so without `unique`
        return p * num_sampled
    return -np.expm1(num_tries * np.log1p(-p))  # 1 - (1 - p)^tries, stably


def _draw_unique(draw, rng, num_sampled: int) -> tuple[np.ndarray, int]:
    picked: dict[int, None] = {}
    tries = 0
    while len(picked) < num_sampled:
        for value in draw(rng, 2 * (num_sampled - len(picked)) + 8).tolist():
            tries += 1
            picked.setdefault(value, None)
            if len(picked) == num_sampled:
                break
    return np.fromiter(picked, np.int64, num_sampled), tries


def _sampler_infer(specs, attrs):
    (true_shape, true_dtype), (key_shape, key_dtype) = specs
    if true_dtype != dtypes.int64:
        raise DTypeError(f"true_classes must be int64, got {true_dtype}")
    if key_dtype != dtypes.float64 or not TensorShape(key_shape).is_compatible_with([2]):
        raise DTypeError(f"the key must be float64[2], got {key_dtype}{list(key_shape)}")
    if attrs["sampler"] not in SAMPLERS:
        raise InvalidArgumentError(f"sampler must be one of {SAMPLERS}, got "
                                   f"{attrs['sampler']!r}")
    n, range_max, num_true = attrs["num_sampled"], attrs["range_max"], attrs["num_true"]
    if n < 1 or range_max < 1 or num_true < 1:
        raise InvalidArgumentError(f"num_sampled ({n}), range_max ({range_max}) and num_true "
                                   f"({num_true}) must be positive")
    if attrs["unique"] and n > range_max:
        raise InvalidArgumentError(f"Sampler's range is too small: {n} unique samples asked "
                                   f"of range_max {range_max}")
    if len(true_shape) != 2 or true_shape[1] not in (None, num_true):
        raise ShapeError(f"true_classes must be [batch_size, num_true={num_true}], got "
                         f"{TensorShape(true_shape)}")
    return [((n,), dtypes.int64), (tuple(true_shape), dtypes.float32), ((n,), dtypes.float32)]


def _sampler_reference(true_classes, key, *, sampler, num_true, num_sampled, unique,
                       range_max):
    draw, probability = _distribution(sampler, range_max)
    rng = key_generator(key)
    if unique:
        sampled, tries = _draw_unique(draw, rng, num_sampled)
    else:
        sampled, tries = draw(rng, num_sampled), num_sampled
    true_expected = _expected_count(probability(true_classes), num_sampled, tries)
    sampled_expected = _expected_count(probability(sampled), num_sampled, tries)
    return sampled, true_expected.astype(np.float32), sampled_expected.astype(np.float32)


register(OpDef("CandidateSampler", _sampler_infer, _sampler_reference, Fusion.HOST,
               Host("drawn by NumPy from its key input, as the reference does"),
               differentiable=False,
               attrs={"sampler": Attr(AttrKind.STR), "num_true": Attr(AttrKind.INT),
                      "num_sampled": Attr(AttrKind.INT), "unique": Attr(AttrKind.BOOL),
                      "range_max": Attr(AttrKind.INT)},
               onnx=NoOnnx("its candidates come from a key drawn each run, which no ONNX "
                           "random op takes; sampled losses are for training")))


def candidate_sampler(sampler: str, true_classes, num_true: int, num_sampled: int,
                      unique: bool, range_max: int, seed=None, name: str | None = None
                      ) -> tuple[Tensor, Tensor, Tensor]:
    """(sampled_candidates int64 [num_sampled], true_expected_count float32 [batch,
    num_true], sampled_expected_count float32 [num_sampled]) from `sampler`."""
    default = {"log_uniform": "LogUniformCandidateSampler",
               "uniform": "UniformCandidateSampler"}[sampler]
    true_classes = convert_to_tensor(true_classes)
    graph = graph_of(true_classes)
    with op_errors("CandidateSampler", name, default, [true_classes]):
        if not true_classes.dtype.is_integer:
            raise DTypeError(f"true_classes must be integers, got {true_classes.dtype}")
        attrs = {"sampler": sampler, "num_true": int(num_true),
                 "num_sampled": int(num_sampled), "unique": bool(unique),
                 "range_max": int(range_max)}
    with graph.as_default(), graph.name_scope(name or default) as scope:
        key = _random("RandomUniform", [2], dtypes.float64, seed, "key")
        classes = cast(true_classes, dtypes.int64) \
            if true_classes.dtype != dtypes.int64 else true_classes
        op = graph.create_op("CandidateSampler", [classes, key], attrs, name=scope)
    return tuple(op.outputs)


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                  seed=None, name=None):
    """num_sampled classes drawn with P(c) = log((c + 2) / (c + 1)) / log(range_max + 1),
    which favors small class ids (frequent words, when ids are ranked by frequency);
    distinct ones with `unique`. Returns (sampled_candidates, true_expected_count,
    sampled_expected_count)."""
    return candidate_sampler("log_uniform", true_classes, num_true, num_sampled, unique,
                             range_max, seed, name)


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                              seed=None, name=None):
    """num_sampled classes drawn uniformly from [0, range_max); distinct ones with
    `unique`. Returns (sampled_candidates, true_expected_count, sampled_expected_count)."""
    return candidate_sampler("uniform", true_classes, num_true, num_sampled, unique,
                             range_max, seed, name)


__all__ = ["log_uniform_candidate_sampler", "uniform_candidate_sampler"]
