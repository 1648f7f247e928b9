"""ONNX TfIdfVectorizer from graphjit's compiled ops, no host step (string tokens are
first mapped to pool-word ids by equality selects, which run on the host).

Each pool n-gram of a counted size n in [min_gram_length, max_gram_length] is matched
at every window of n tokens `skip` apart (skip 1 .. max_skip_count + 1; unigrams once,
as skipping does not change them): the n shifted slices of X compared with the n-grams'
k-th tokens and AND-ed give a [rows, windows, n-grams] match, summed over the windows.
A one-hot [n-grams, columns] matrix from ngram_indexes adds the counts into their
output columns (pool n-grams that repeat count once, in the column of the last, as the
reference's trie keeps). Then the weighting: TF the counts, IDF the weight (or 1) where
a count is positive, TFIDF the counts times the weights (or 1).
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit import dtypes
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter

_MODES = ("TF", "IDF", "TFIDF")
MAX_WORDS = 1024  # distinct pool_strings (one select each)


def _pool_grams(ctx: NodeContext, pool: np.ndarray, counts: list, low: int,
                high: int) -> dict[int, dict[tuple, int]]:
    """{n: {n-gram: its index among all pool n-grams}} for the sizes counted."""
    if any(b < a for a, b in zip(counts, counts[1:])) or (counts and counts[0] != 0) \
            or (counts and counts[-1] > len(pool)):
        raise ctx.invalid(f"ngram_counts {counts} are not rising offsets from 0 into the "
                          f"pool of {len(pool)}")
    grams: dict[int, dict[tuple, int]] = {}
    index = 0
    for n, start in enumerate(counts, start=1):
        end = counts[n] if n < len(counts) else len(pool)
        if (end - start) % n:
            raise ctx.invalid(f"the pool's {end - start} entries for {n}-grams are not a "
                              f"multiple of {n}")
        for i in range(start, end, n):
            if low <= n <= high:
                grams.setdefault(n, {})[tuple(int(v) for v in pool[i:i + n])] = index
            index += 1
    return grams


@converter("TfIdfVectorizer", attrs=("mode", "min_gram_length", "max_gram_length",
                                     "max_skip_count", "ngram_counts", "ngram_indexes",
                                     "pool_int64s", "pool_strings", "weights"))
def convert_tfidf(ctx: NodeContext) -> Tensor:
    x = ctx.inputs[0]
    mode = ctx.attr("mode")
    if mode not in _MODES:
        raise ctx.unsupported(f"mode {mode!r}; ONNX defines {', '.join(_MODES)}")
    strings = ctx.attr("pool_strings")
    if strings is not None:
        x, pool = _string_ids(ctx, x, strings)
    elif x.dtype not in (dtypes.int32, dtypes.int64):
        raise ctx.invalid(f"X must be int32 or int64 tokens, got {x.dtype}")
    else:
        pool = np.asarray(ctx.attr("pool_int64s", []), np.int64)
    if x.ndim not in (1, 2):
        raise ctx.invalid(f"X must be [C] or [B, C], got rank {x.ndim}")
    low, high = ctx.attr("min_gram_length"), ctx.attr("max_gram_length")
    skips = ctx.attr("max_skip_count")
    if None in (low, high, skips) or not 1 <= low <= high or skips < 0:
        raise ctx.invalid(f"min_gram_length {low}, max_gram_length {high} and "
                          f"max_skip_count {skips} must satisfy 1 <= min <= max, skips >= 0")
    columns = np.asarray(ctx.attr("ngram_indexes", []), np.int64)
    counts = [int(c) for c in ctx.attr("ngram_counts", [])]
    grams = _pool_grams(ctx, pool, counts, low, high)
    total = sum(len(pool[s:(counts[n] if n < len(counts) else len(pool))]) // n
                for n, s in enumerate(counts, start=1))
    if len(columns) != total or (columns < 0).any():
        raise ctx.invalid(f"ngram_indexes has {len(columns)} entries for {total} pool "
                          "n-grams, or a negative one")
    width = int(columns.max()) + 1 if len(columns) else 0
    weights = ctx.attr("weights")
    if weights is not None and len(weights) != width:
        raise ctx.invalid(f"weights has {len(weights)} entries for {width} output columns")

    rows = x if x.ndim == 2 else gj.expand_dims(x, 0)
    y = gj.zeros_like(rows[:, :1], dtype=dtypes.float32) + np.zeros([width], np.float32)
    for n, table in sorted(grams.items()):
        for skip in range(1, (skips + 1 if n > 1 else 1) + 1):
            y = y + _counts(rows, table, n, skip, columns, width)
    if mode != "TF":
        w = np.ones([width], np.float32) if weights is None else \
            np.asarray(weights, np.float32)
        y = gj.where(y > 0, gj.zeros_like(y) + w, gj.zeros_like(y)) if mode == "IDF" \
            else y * w
    return gj.identity(y if x.ndim == 2 else gj.squeeze(y, [0]), name=ctx.name)


def _string_ids(ctx: NodeContext, x: Tensor, strings) -> tuple[Tensor, np.ndarray]:
    """String tokens as int64 ids: each pool word's index among the distinct words (one
    equality select each, as LabelEncoder's), -1 for words not in the pool."""
    if not x.dtype.is_string:
        raise ctx.invalid(f"pool_strings takes string tokens, got X of {x.dtype}")
    words = [w if isinstance(w, bytes) else str(w).encode("utf-8") for w in strings]
    vocabulary = {w: i for i, w in enumerate(dict.fromkeys(words))}
    if len(vocabulary) > MAX_WORDS:
        raise ctx.unsupported(f"{len(vocabulary)} distinct pool_strings, more than the "
                              f"{MAX_WORDS} it unrolls")
    ids = gj.zeros_like(x, dtype=dtypes.int64) - 1
    for word, i in vocabulary.items():
        ids = gj.where(gj.equal(x, np.array(word, object)), np.int64(i), ids)
    return ids, np.array([vocabulary[w] for w in words], np.int64)


def _counts(rows: Tensor, table: dict, n: int, skip: int, columns: np.ndarray,
            width: int) -> Tensor:
    """[B, width] float32: how often each n-gram of `table` occurs `skip` apart."""
    tokens = np.array(list(table), np.int64).reshape(len(table), n)
    info = np.iinfo(rows.dtype.np)
    fits = ((tokens >= info.min) & (tokens <= info.max)).all(axis=1)  # others never match
    tokens, index = tokens[fits], np.array(list(table.values()), np.int64)[fits]
    span = (n - 1) * skip
    match = None
    for k in range(n):
        end = k * skip - span
        window = rows[:, k * skip:end if end else None]  # [B, windows]
        hit = gj.equal(gj.expand_dims(window, 2), tokens[:, k].astype(rows.dtype.np))
        match = hit if match is None else gj.logical_and(match, hit)
    found = gj.reduce_sum(gj.cast(match, dtypes.float32), axis=1)  # [B, n-grams]
    onehot = np.zeros([len(tokens), width], np.float32)
    onehot[np.arange(len(tokens)), columns[index]] = 1
    return gj.matmul(found, onehot)
