"""ONNX converters for the transformer ops: Attention (opsets 23-25) and RotaryEmbedding.

Each is decomposed into graphjit's public ops (matmul, softmax, where, reshape,
transpose, concat), following the semantics of ONNX's reference implementation:
the scale is split as sqrt(scale) on Q and on K, softcap comes before the mask,
boolean masks become 0 / -inf biases, causal and sliding-window masks are aligned
bottom-right by the cache length, and a query row whose bias is -inf everywhere
yields zeros, not NaN. Masks that depend only on shapes are folded into one NumPy
constant at build time, so a plain causal model costs one add.
"""

from __future__ import annotations

import numpy as np

import graphjit as gj
from graphjit.graph import Tensor
from graphjit.onnx.convert import NodeContext, converter
from graphjit.ops.nn import softmax_over

# softmax_precision (a TensorProto element type) -> the NumPy dtype the softmax runs in
_PRECISIONS = {1: np.float32, 10: np.float16, 11: np.float64}


def _np_dtype(t: Tensor) -> np.dtype:
    return np.dtype(t.dtype.as_numpy_dtype)


def _add(a, b):
    """a + b where either may be None (absent), a NumPy constant or a Tensor."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a + b
    return gj.add(a, b)


def _bias(allowed: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """0 where attending is allowed, -inf elsewhere."""
    return np.where(allowed, dtype.type(0), dtype.type(-np.inf))


def _split_heads(ctx: NodeContext, x: Tensor, shape: tuple, heads: int, what: str) -> Tensor:
    """[batch, seq, heads * size] -> [batch, heads, seq, size]."""
    if heads <= 0 or shape[2] % heads:
        raise ctx.unsupported(f"{what} hidden size {shape[2]} is not a multiple of {heads} heads")
    x = gj.reshape(x, [shape[0], shape[1], heads, shape[2] // heads])
    return gj.transpose(x, [0, 2, 1, 3])


def _repeat_heads(x: Tensor, reps: int) -> Tensor:
    """Each head repeated `reps` times in place ([h0, h0, h1, h1, ...]), for grouped queries."""
    if reps == 1:
        return x
    b, h, s, d = x.shape.as_list()
    x = gj.broadcast_to(gj.expand_dims(x, 2), [b, h, reps, s, d])
    return gj.reshape(x, [b, h * reps, s, d])


@converter("Attention", attrs=("is_causal", "kv_num_heads", "q_num_heads",
                               "qk_matmul_output_mode", "scale", "softcap",
                               "softmax_precision", "left_window_size", "right_window_size"))
def convert_attention(ctx: NodeContext) -> list:
    """softmax(softcap(Q K^T * scale) + bias) V, with the KV cache, GQA and the optional
    QK output, as ONNX's reference computes it."""
    q, k, v = ctx.inputs[:3]
    shapes = [ctx.require_shape(i, "Attention's reshapes and masks") for i in range(3)]
    rank = len(shapes[0])
    if rank not in (3, 4) or any(len(s) != rank for s in shapes):
        raise ctx.unsupported(f"Q, K and V must all be 3-D or all 4-D, not shapes {shapes}")
    q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    if rank == 3:
        if q_heads is None or kv_heads is None:
            raise ctx.invalid("3-D inputs need the q_num_heads and kv_num_heads attributes")
        q = _split_heads(ctx, q, shapes[0], q_heads, "Q")
        k = _split_heads(ctx, k, shapes[1], kv_heads, "K")
        v = _split_heads(ctx, v, shapes[2], kv_heads, "V")
    elif (q_heads is not None or kv_heads is not None) and ctx.version >= 25:
        raise ctx.invalid("q_num_heads and kv_num_heads must not be given for 4-D inputs")
    dtype = _np_dtype(q)
    batch, q_heads, q_len, head_size = q.shape.as_list()

    # The scale goes half on Q, half on K, rounded to the input type (as the reference).
    scale = ctx.attr("scale")
    root = dtype.type(np.sqrt(1 / np.sqrt(head_size) if scale is None else scale))
    q = q * gj.constant(root, dtype=q.dtype)

    past_key, past_value = ctx.input(4), ctx.input(5)
    if (past_key is None) != (past_value is None):
        raise ctx.invalid("past_key and past_value must be given together")
    nonpad = ctx.input(6)
    if nonpad is not None and past_key is not None:
        raise ctx.invalid("nonpad_kv_seqlen cannot be combined with past_key / past_value")
    past_len = 0
    if past_key is not None:
        past_len = ctx.require_shape(4, "the causal offset")[2]
        k = gj.concat([past_key, k], 2)
        v = gj.concat([past_value, v], 2)
    present_key, present_value = k, v
    kv_len = k.shape.as_list()[2]
    k_scaled = k * gj.constant(root, dtype=k.dtype)

    bias, bias_dtype = _attention_bias(ctx, dtype, batch, q_len, kv_len, past_len, nonpad)

    kv_heads = k.shape.as_list()[1]
    if q_heads != kv_heads:
        if q_heads % kv_heads or v.shape.as_list()[1] != kv_heads:
            raise ctx.unsupported(f"{q_heads} query heads do not group over {kv_heads} KV heads")
        k_scaled = _repeat_heads(k_scaled, q_heads // kv_heads)
        v = _repeat_heads(v, q_heads // kv_heads)

    qk = gj.matmul(q, k_scaled, transpose_b=True)
    softcap = ctx.attr("softcap", 0.0)
    if softcap > 0:  # before the mask, so masked scores stay -inf
        cap = gj.constant(softcap, dtype=qk.dtype)
        qk = gj.tanh(qk / cap) * cap
    mode = ctx.attr("qk_matmul_output_mode", 0)
    qk_output = qk
    scores = qk if bias is None else gj.add(gj.cast(qk, bias_dtype), _const(bias))
    if mode == 2:
        qk_output = scores

    precision = ctx.attr("softmax_precision")
    if precision is not None:
        if precision not in _PRECISIONS:
            raise ctx.unsupported(f"softmax_precision {precision}")
        scores = gj.cast(scores, _PRECISIONS[precision])
    probs = softmax_over(scores, [scores.ndim - 1])
    masked_rows = _fully_masked_rows(bias)
    if masked_rows is not None:  # no key to attend: zeros, selected (0 * NaN is NaN)
        probs = gj.where(masked_rows, gj.zeros([], probs.dtype), probs)
    if mode == 3:
        qk_output = probs
    y = gj.matmul(gj.cast(probs, q.dtype), v)
    if rank == 3:
        y = gj.reshape(gj.transpose(y, [0, 2, 1, 3]), [batch, q_len, -1])
    return [y, present_key, present_value, gj.cast(qk_output, q.dtype)][:ctx.num_outputs]


def _const(x):
    return gj.constant(x) if isinstance(x, np.ndarray) else x


def _attention_bias(ctx: NodeContext, dtype: np.dtype, batch: int, q_len: int, kv_len: int,
                    past_len: int, nonpad: Tensor | None):
    """The additive bias (NumPy constant, Tensor or None) and its dtype: the mask, then the
    causal and window masks aligned at the cache offset, then the padding of nonpad_kv_seqlen."""
    mask = ctx.input(3)
    bias = None
    bias_dtype = dtype
    if mask is not None:
        mask_shape = ctx.require_shape(3, "the attention mask's padding")
        static = ctx.static(3)
        if static is not None:
            mask = static
        if _mask_dtype(mask) != np.bool_:
            bias_dtype = np.result_type(dtype, _mask_dtype(mask))
        pad = kv_len - mask_shape[-1]
        if pad < 0:
            raise ctx.unsupported(f"attn_mask's last dim {mask_shape[-1]} exceeds the "
                                  f"{kv_len} keys")
        bias = _mask_bias(mask, mask_shape, pad, bias_dtype)

    causal = bool(ctx.attr("is_causal", 0))
    left, right = ctx.attr("left_window_size", -1), ctx.attr("right_window_size", -1)
    if left < -1 or right < -1:
        raise ctx.invalid(f"window sizes must be -1 or >= 0, not {left} and {right}")
    windowed = left >= 0 or right >= 0
    if causal or windowed or nonpad is not None:
        # key index minus query index, [q, kv]; a query i sits at position i + offset
        dist = np.arange(kv_len)[None, :] - np.arange(q_len)[:, None]
        if nonpad is None:
            if causal:
                bias = _add(bias, _bias(dist <= past_len, bias_dtype))
            if windowed:
                bias = _add(bias, _bias(_in_window(dist, past_len, left, right), bias_dtype))
        else:
            lengths = gj.cast(gj.reshape(nonpad, [-1, 1, 1, 1]), gj.int64)
            offset = lengths - q_len  # [batch, 1, 1, 1]
            dist_t = gj.constant(dist.astype(np.int64))
            zero = gj.zeros([], bias_dtype)
            neg = gj.constant(bias_dtype.type(-np.inf))
            if causal:
                bias = _add(bias, gj.where(dist_t <= offset, zero, neg))
            if windowed:
                bias = _add(bias, gj.where(_in_window(dist_t, offset, left, right), zero, neg))
            keys = gj.constant(np.arange(kv_len, dtype=np.int64))
            bias = _add(bias, gj.where(keys < lengths, zero, neg))
    return bias, bias_dtype


def _in_window(dist, offset, left: int, right: int):
    """Whether key j is within [p - left, p + right] of the query's position p = i + offset
    (a bound of -1 is open); works on NumPy arrays and Tensors alike."""
    allowed = None
    if left >= 0:  # p - j <= left
        allowed = dist >= offset - left
    if right >= 0:  # j - p <= right
        upper = dist <= offset + right
        allowed = upper if allowed is None else (
            allowed & upper if isinstance(upper, np.ndarray) else gj.logical_and(allowed, upper))
    return allowed


def _mask_dtype(mask) -> np.dtype:
    return mask.dtype if isinstance(mask, np.ndarray) else np.dtype(mask.dtype.as_numpy_dtype)


def _mask_bias(mask, shape: tuple, pad: int, dtype: np.dtype):
    """attn_mask as an additive bias of `dtype`, padded to the keys with -inf (masked)."""
    if isinstance(mask, np.ndarray):
        bias = _bias(mask, dtype) if mask.dtype == np.bool_ else mask.astype(dtype)
        if pad:
            fill = np.full(shape[:-1] + (pad,), -np.inf, dtype)
            bias = np.concatenate([bias, fill], axis=-1)
        return bias
    if mask.dtype.is_bool:  # a Tensor from here on
        bias = gj.where(mask, gj.zeros([], dtype), gj.constant(dtype.type(-np.inf)))
    else:
        bias = gj.cast(mask, dtype)
    if pad:
        bias = gj.concat([bias, gj.constant(np.full(shape[:-1] + (pad,), -np.inf, dtype))], -1)
    return bias


def _fully_masked_rows(bias):
    """Where a query row's bias is -inf for every key ([..., q, 1]); None where no row can be."""
    if bias is None:
        return None
    if isinstance(bias, np.ndarray):
        rows = np.isneginf(np.max(bias, axis=-1, keepdims=True))
        return gj.constant(rows) if rows.any() else None
    return gj.equal(gj.reduce_max(bias, -1, keepdims=True),
                    gj.constant(np.dtype(bias.dtype.as_numpy_dtype).type(-np.inf)))


@converter("RotaryEmbedding", attrs=("interleaved", "num_heads", "rotary_embedding_dim"))
def convert_rotary_embedding(ctx: NodeContext) -> Tensor:
    """Rotates the first rotary_embedding_dim features of each head by the cached angles:
    (x1, x2) -> (cos x1 - sin x2, sin x1 + cos x2), the pairs being the two halves or,
    interleaved, the even and odd features. 4-D input is [batch, heads, seq, head_size],
    3-D [batch, seq, heads * head_size]."""
    x, cos, sin = ctx.inputs[:3]
    shape = ctx.require_shape(0, "RotaryEmbedding's reshapes")
    if len(shape) == 3:
        heads = ctx.attr("num_heads")
        if not heads or shape[2] % heads:
            raise ctx.invalid(f"3-D input of hidden size {shape[2]} needs num_heads dividing it, "
                              f"not {heads}")
        x = gj.reshape(x, [shape[0], shape[1], heads, shape[2] // heads])
        head_axis = 2  # x is [batch, seq, heads, size]
    elif len(shape) == 4:
        head_axis = 1  # x is [batch, heads, seq, size]
    else:
        raise ctx.unsupported(f"input of rank {len(shape)}; it must be 3-D or 4-D")
    size = x.shape.as_list()[3]
    dim = ctx.attr("rotary_embedding_dim", 0) or size
    if dim % 2 or dim > size:
        raise ctx.invalid(f"rotary_embedding_dim {dim} must be even and at most the head "
                          f"size {size}")
    positions = ctx.input(3)
    if positions is not None:  # [batch, seq] rows of the [max_positions, dim / 2] caches
        cos, sin = gj.gather(cos, positions), gj.gather(sin, positions)
    if cos.shape.as_list()[-1] != dim // 2 or sin.shape.as_list()[-1] != dim // 2:
        raise ctx.invalid(f"the cos and sin caches' last dim must be rotary_embedding_dim / 2 "
                          f"= {dim // 2}, not {cos.shape.as_list()[-1]} and "
                          f"{sin.shape.as_list()[-1]}")
    cos, sin = gj.expand_dims(cos, head_axis), gj.expand_dims(sin, head_axis)
    rotate, keep = (gj.split(x, [dim, size - dim], axis=3) if dim < size else (x, None))
    lead = rotate.shape.as_list()[:3]
    if ctx.attr("interleaved", 0):
        x1, x2 = (gj.squeeze(t, [4]) for t in
                  gj.split(gj.reshape(rotate, lead + [dim // 2, 2]), 2, axis=4))
    else:
        x1, x2 = gj.split(rotate, 2, axis=3)
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if ctx.attr("interleaved", 0):
        rotated = gj.reshape(gj.stack([real, imag], axis=4), lead + [dim])
    else:
        rotated = gj.concat([real, imag], 3)
    y = rotated if keep is None else gj.concat([rotated, keep], 3)
    return gj.reshape(y, list(shape)) if len(shape) == 3 else y


_UPDATE_RULES = ("linear", "gated", "delta", "gated_delta")
# The recurrence runs unrolled into plain ops this many time steps at a time, as the body
# of a scan over the chunks (a host call each): each unrolled step adds kernels to
# compile, each chunk a host call.
_UNROLL_STEPS = 16


@converter("LinearAttention", attrs=("chunk_size", "kv_num_heads", "q_num_heads", "scale",
                                     "update_rule"))
def convert_linear_attention(ctx: NodeContext) -> list:
    """The recurrent state S [batch, kv_heads, d_k, d_v] updated per time step (unrolled,
    by chunks of _UNROLL_STEPS steps scanned over):
    decayed by exp(decay) (gated), the value corrected by beta (v - S^T k) (delta), then
    S += k v^T; each query head reads scale * q S of its KV head. Runs in float32, as the
    reference; chunk_size is a tuning hint with no effect on results."""
    query, key, value = ctx.inputs[:3]
    past, decay, beta = ctx.input(3), ctx.input(4), ctx.input(5)
    rule = ctx.attr("update_rule", "gated_delta")
    if rule not in _UPDATE_RULES:
        raise ctx.invalid(f"update_rule {rule!r} is not one of {_UPDATE_RULES}")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating != (decay is not None) or delta != (beta is not None):
        raise ctx.invalid(f"update_rule {rule!r} needs decay {'given' if gating else 'absent'} "
                          f"and beta {'given' if delta else 'absent'}")
    q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    if not q_heads or not kv_heads or q_heads <= 0 or kv_heads <= 0 or q_heads % kv_heads:
        raise ctx.invalid(f"q_num_heads ({q_heads}) must be a positive multiple of "
                          f"kv_num_heads ({kv_heads})")
    shapes = [ctx.require_shape(i, "LinearAttention's reshapes") for i in range(3)]
    if any(len(s) != 3 for s in shapes):
        raise ctx.invalid(f"query, key and value must be 3-D, not shapes {shapes}")
    (b, t, q_hidden), (_, _, k_hidden), (_, _, v_hidden) = shapes
    if q_hidden % q_heads or k_hidden % kv_heads or v_hidden % kv_heads:
        raise ctx.invalid(f"hidden sizes {q_hidden}, {k_hidden}, {v_hidden} do not split into "
                          f"{q_heads} and {kv_heads} heads")
    d_k, d_v, group = q_hidden // q_heads, v_hidden // kv_heads, q_heads // kv_heads
    if k_hidden // kv_heads != d_k:
        raise ctx.invalid(f"key head size {k_hidden // kv_heads} differs from query's {d_k}")

    def time_major(x: Tensor, *inner: int) -> Tensor:  # [b, t, ...] -> [t, b, *inner], f32
        x = gj.reshape(gj.cast(x, gj.float32), [b, t, *inner])
        return gj.transpose(x, [1, 0] + list(range(2, 2 + len(inner))))

    elems = [time_major(query, kv_heads, group, d_k), time_major(key, kv_heads, d_k),
             time_major(value, kv_heads, d_v)]
    if gating:
        width = ctx.require_shape(4, "decay's layout")[-1]
        if width not in (kv_heads, kv_heads * d_k):
            raise ctx.invalid(f"decay's last dim {width} must be kv_num_heads ({kv_heads}) or "
                              f"kv_num_heads * d_k ({kv_heads * d_k})")
        elems.append(time_major(decay, kv_heads, width // kv_heads))
    if delta:
        width = ctx.require_shape(5, "beta's layout")[-1]
        if width not in (kv_heads, 1):
            raise ctx.invalid(f"beta's last dim {width} must be kv_num_heads ({kv_heads}) or 1")
        elems.append(time_major(beta, width, 1))

    state_shape = [b, kv_heads, d_k, d_v]
    if past is not None:
        if tuple(ctx.require_shape(3, "past_state")) != tuple(state_shape):
            raise ctx.invalid(f"past_state must have shape {tuple(state_shape)}, not "
                              f"{tuple(ctx.require_shape(3, 'past_state'))}")
        state0 = gj.cast(past, gj.float32)
    else:
        state0 = gj.zeros(state_shape, gj.float32)
    scale = ctx.attr("scale", 0.0) or 1 / np.sqrt(d_k)
    scale = gj.constant(np.float32(scale))

    def step(carry, xs):
        state = carry[0]
        q_t, k_t, v_t, *rest = xs
        if gating:
            state = state * gj.expand_dims(gj.exp(rest.pop(0)), 3)
        if delta:
            retrieved = gj.reduce_sum(state * gj.expand_dims(k_t, 3), axis=2)
            v_t = rest.pop(0) * (v_t - retrieved)
        state = state + gj.expand_dims(k_t, 3) * gj.expand_dims(v_t, 2)
        return state, gj.matmul(q_t, state) * scale  # [b, kv_heads, group, d_v]

    def unrolled(state, xs):  # the steps of xs (each [steps, ...]) in line
        outs = []
        for x_t in zip(*(gj.unstack(x, axis=0) for x in xs)):
            state, out = step((state,), list(x_t))
            outs.append(out)
        return state, gj.stack(outs, axis=0)

    chunks, tail = divmod(t, _UNROLL_STEPS) if t > _UNROLL_STEPS else (0, t)
    state, outs = state0, []
    if chunks:  # a scan over chunks of _UNROLL_STEPS steps, each chunk unrolled
        head = [gj.reshape(gj.slice(x, [0] * x.ndim, [chunks * _UNROLL_STEPS] + inner),
                           [chunks, _UNROLL_STEPS] + inner)
                for x, inner in ((x, x.shape.as_list()[1:]) for x in elems)]
        out0 = gj.zeros([_UNROLL_STEPS, b, kv_heads, group, d_v], gj.float32)
        states, chunk_outs = gj.scan(lambda carry, xs: unrolled(carry[0], xs), tuple(head),
                                     initializer=(state0, out0))
        state = gj.squeeze(gj.slice(states, [chunks - 1, 0, 0, 0, 0], [1] + state_shape), [0])
        outs.append(gj.reshape(chunk_outs, [chunks * _UNROLL_STEPS, b, kv_heads, group, d_v]))
    if tail:
        rest = [gj.slice(x, [t - tail] + [0] * (x.ndim - 1), [tail] + x.shape.as_list()[1:])
                for x in elems]
        state, tail_outs = unrolled(state, rest)
        outs.append(tail_outs)
    final = state
    outs = outs[0] if len(outs) == 1 else gj.concat(outs, 0)
    y = gj.reshape(gj.transpose(outs, [1, 0, 2, 3, 4]), [b, t, q_heads * d_v])
    return [gj.cast(y, query.dtype), gj.cast(final, (past if past is not None else query).dtype)]
