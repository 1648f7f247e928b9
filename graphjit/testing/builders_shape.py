"""Builders for views, slices, joins, gathers, fills, matmul and convolutions, and for new
inputs. Arguments that must be static (axes, sizes, paddings, indices lists) are drawn
from the concrete shapes, which the placeholders may declare as unknown."""

from __future__ import annotations

from graphjit.testing.gen import Draft, Gen, Var, builder
from graphjit.testing.program import array_source, literal


@builder("input", ("Placeholder",), 0.5)
def _input(g: Gen) -> Draft | None:
    """Another placeholder of a shape broadcasting with the graph's base shape."""
    shape = tuple(d if g.chance(0.7) else 1 for d in g.base[int(g.rng.integers(len(g.base) + 1)):])
    dtype = g.idtype if g.chance(0.2) else g.fdtype
    return Draft(g.new_input(shape, dtype).name, [])  # `t = x`: an alias, no op


@builder("constant", ("Const",), 0.4)
def _constant(g: Gen) -> Draft | None:
    v = g.pick("fi")
    if v is None:
        return None
    shape = tuple(d if g.chance(0.5) else 1 for d in v.shape[int(g.rng.integers(v.ndim + 1)):])
    value = g.values(shape, v.dtype)
    return Draft(f"{v.name} + tf.constant({array_source(value)})", [v])


@builder("reshape", ("Reshape",), 1.0)
def _reshape(g: Gen) -> Draft | None:
    v = g.pick("fib")
    if v is None:
        return None
    dims, size = [], v.value.size
    for _ in range(int(g.rng.integers(0, 4))):
        divisors = [d for d in range(1, size + 1) if size % d == 0]
        dims.append(g.choice(divisors))
        size //= dims[-1]
    dims.append(size)
    g.rng.shuffle(dims)
    if g.chance(0.5):
        dims[int(g.rng.integers(len(dims)))] = -1
    return Draft(f"tf.reshape({v.name}, {[int(d) for d in dims]})", [v])


@builder("transpose", ("Transpose",), 1.0)
def _transpose(g: Gen) -> Draft | None:
    v = g.pick("fib", min_rank=2)
    if v is None:
        return None
    if g.chance(0.3):
        return Draft(f"tf.transpose({v.name})", [v])
    return Draft(f"tf.transpose({v.name}, {[int(p) for p in g.rng.permutation(v.ndim)]})", [v])


@builder("expand_squeeze", ("ExpandDims", "Squeeze"), 0.6)
def _expand_squeeze(g: Gen) -> Draft | None:
    v = g.pick("fib", where=lambda w: 1 in w.shape) if g.chance(0.5) else None
    if v is not None:
        ones = [a for a, d in enumerate(v.shape) if d == 1]
        axes = sorted(set(g.choice(ones) for _ in range(2)))
        return Draft(f"tf.squeeze({v.name}, axis={axes})", [v])
    v = g.pick("fib", max_rank=3)
    return v and Draft(f"tf.expand_dims({v.name}, {int(g.rng.integers(-v.ndim - 1, v.ndim + 1))})",
                       [v])


def _index(g: Gen, n: int) -> str:
    """One dim of a getitem key for a dim of size n."""
    form = int(g.rng.integers(6))
    if form == 0:
        return ":"
    if form == 1:
        i = int(g.rng.integers(n))
        return str(i - n if g.chance(0.3) else i)
    if form == 2:
        return "::-1"
    lo, hi = sorted(int(x) for x in g.rng.integers(-n - 1, n + 2, size=2))
    step = g.choice([1, 1, 2, -1, -2, 3])
    if step < 0:
        lo, hi = hi, lo
    parts = [str(lo) if g.chance(0.7) else "", str(hi) if g.chance(0.7) else ""]
    return ":".join(parts + ([str(step)] if step != 1 else []))


@builder("getitem", ("StridedSlice",), 1.2)
def _getitem(g: Gen) -> Draft | None:
    v = g.pick("fib", min_rank=1)
    if v is None:
        return None
    key = [_index(g, n) for n in v.shape[:int(g.rng.integers(1, v.ndim + 1))]]
    if g.chance(0.3):
        key.insert(int(g.rng.integers(len(key) + 1)), "None")
    if g.chance(0.2) and len(key) < v.ndim:
        key.insert(0, "...")
        key = key[:1] + [_index(g, v.shape[-1])]
    return Draft(f"{v.name}[{', '.join(key)}]", [v])


@builder("slice", ("StridedSlice",), 0.3)
def _slice(g: Gen) -> Draft | None:
    v = g.pick("fib", min_rank=1)
    if v is None:
        return None
    begin = [int(g.rng.integers(n)) for n in v.shape]
    size = [int(g.rng.integers(1, n - b + 1)) if g.chance(0.7) else -1
            for n, b in zip(v.shape, begin)]
    return Draft(f"tf.slice({v.name}, {begin}, {size})", [v])


@builder("split", ("StridedSlice",), 0.4)
def _split(g: Gen) -> Draft | None:
    v = g.pick("fi", min_rank=1, where=lambda w: max(w.shape) >= 2)
    if v is None:
        return None
    axis = g.choice([a for a, n in enumerate(v.shape) if n >= 2])
    n = v.shape[axis]
    if g.chance(0.3):
        count = min(n, 4)
        return Draft(f"tf.unstack({v.name}, num={count}, axis={axis})" if count == n else
                     f"tf.split({v.name}, [1] * {count - 1} + [-1], axis={axis})", [v], count)
    cut = int(g.rng.integers(1, n))
    return Draft(f"tf.split({v.name}, [{cut}, {n - cut}], axis={axis - v.ndim})", [v], 2)


def _joinable(v: Var, axis: int):
    return lambda w: (w.dtype == v.dtype and w.ndim == v.ndim and all(
        a == b for i, (a, b) in enumerate(zip(w.shape, v.shape)) if i != axis))


@builder("concat", ("ConcatV2",), 1.0)
def _concat(g: Gen) -> Draft | None:
    v = g.pick("fib", min_rank=1)
    if v is None:
        return None
    if g.chance(0.25):  # stack: ExpandDims + ConcatV2
        w = g.pick(v.kind, where=lambda w: w.dtype == v.dtype and w.shape == v.shape) or v
        axis = int(g.rng.integers(-v.ndim - 1, v.ndim + 1))
        return Draft(f"tf.stack([{v.name}, {w.name}], axis={axis})", [v, w])
    axis = g.axis(v, negative_ok=False)
    parts = [v] + [g.pick(v.kind, where=_joinable(v, axis)) or v
                   for _ in range(int(g.rng.integers(1, 3)))]
    g.rng.shuffle(parts)
    names = ", ".join(p.name for p in parts)
    return Draft(f"tf.concat([{names}], {axis - v.ndim if g.chance(0.3) else axis})", parts)


@builder("tile_broadcast", ("Tile", "BroadcastTo"), 0.6)
def _tile_broadcast(g: Gen) -> Draft | None:
    v = g.pick("fib", lambda a: a.size <= 64)
    if v is None:
        return None
    if g.chance(0.5) and v.ndim:
        multiples = [int(g.rng.integers(1, 3)) for _ in v.shape]
        return Draft(f"tf.tile({v.name}, {multiples})", [v])
    lead = [int(g.rng.integers(1, 4)) for _ in range(int(g.rng.integers(0, 2)))]
    shape = lead + [int(g.rng.integers(1, 4)) if d == 1 else d for d in v.shape]
    return Draft(f"tf.broadcast_to({v.name}, {shape})", [v])


@builder("pad", ("Pad",), 0.6)
def _pad(g: Gen) -> Draft | None:
    v = g.pick("fi", min_rank=1, max_rank=4)
    if v is None:
        return None
    mode = g.choice(["CONSTANT", "CONSTANT", "REFLECT", "SYMMETRIC"])
    limit = {"CONSTANT": lambda n: 2, "REFLECT": lambda n: n - 1, "SYMMETRIC": lambda n: n}[mode]
    pads = [[int(g.rng.integers(0, min(limit(n), 2) + 1)) for _ in range(2)] for n in v.shape]
    extra = f", constant_values={g.scalar(v)}" if mode == "CONSTANT" and g.chance(0.5) else ""
    return Draft(f'tf.pad({v.name}, {pads}, mode="{mode}"{extra})', [v])


@builder("gather", ("GatherV2",), 1.0)
def _gather(g: Gen) -> Draft | None:
    p = g.pick("fib", min_rank=1)
    if p is None:
        return None
    axis = g.axis(p)
    n = p.shape[axis]
    idx = g.pick("i", lambda a: a.min() >= 0 and a.max() < n, max_rank=2)
    if idx is not None and g.chance(0.5):
        return Draft(f"tf.gather({p.name}, {idx.name}, axis={axis})", [p, idx])
    shape = tuple(int(d) for d in g.rng.integers(1, 4, size=int(g.rng.integers(0, 3))))
    values = g.rng.integers(0, n, size=shape)
    if g.chance(0.5):
        ind = g.new_input(shape, g.idtype, values.astype(g.idtype))
        return Draft(f"tf.gather({p.name}, {ind.name}, axis={axis})", [p])
    return Draft(f"tf.gather({p.name}, {values.tolist()}, axis={axis})", [p])


@builder("one_hot", ("Select", "Equal", "Range", "ExpandDims"), 0.4)
def _one_hot(g: Gen) -> Draft | None:
    """Indices outside [0, depth) give all-off rows (defined in both engines)."""
    idx = g.pick("i", max_rank=2)
    if idx is None:
        return None
    depth = int(g.rng.integers(2, 6))
    extra = g.choice(["", ", on_value=2.0, off_value=-1.0", ", axis=0"])
    return Draft(f"tf.one_hot({idx.name}, {depth}{extra}, dtype=tf.{g.fdtype})", [idx])


@builder("fills", ("Fill", "FillLike", "Range", "Shape"), 0.6)
def _fills(g: Gen) -> Draft | None:
    v = g.pick("fi")
    if v is None:
        return None
    shape = list(v.shape)
    value = g.scalar(v)
    form = int(g.rng.integers(6))
    if form == 0:
        return Draft(f"{v.name} * tf.fill({shape}, {value})", [v])
    if form == 1:
        return Draft(f"{v.name} + tf.ones({shape}, tf.{v.dtype})", [v])
    if form == 2:
        return Draft(f"tf.zeros_like({v.name}) + tf.ones_like({v.name})", [v])
    if form == 3:
        return Draft(f"{v.name} - tf.zeros(tf.shape({v.name}), tf.{v.dtype})", [v])
    if form == 4 and v.ndim:
        return Draft(f"{v.name} + tf.range({shape[-1]}, dtype=tf.{v.dtype})", [v])
    return Draft(f"tf.cast(tf.shape({v.name}), tf.{g.fdtype}) + {literal(1.5)}", [v])


def _new_or_pool(g: Gen, shape: tuple, dtype: str) -> tuple[str, list[Var]]:
    w = g.pick("fi", where=lambda w: w.shape == shape and w.dtype == dtype)
    if w is not None and g.chance(0.4):
        return w.name, [w]
    return g.new_input(shape, dtype).name, []


@builder("matmul", ("MatMul",), 1.2)
def _matmul(g: Gen) -> Draft | None:
    """2-D or batched products; transposes by flag; the other operand a new input or a
    pool tensor of the right shape."""
    a = g.pick("fi", min_rank=2, max_rank=3)
    if a is None:
        return None
    ta, tb = g.chance(0.3), g.chance(0.3)
    k = a.shape[-2] if ta else a.shape[-1]
    n = int(g.rng.integers(1, 6))
    batch = a.shape[:-2] if a.ndim == 3 and g.chance(0.5) else ()
    b_name, args = _new_or_pool(g, batch + ((n, k) if tb else (k, n)), a.dtype)
    if g.chance(0.15) and not (ta or tb):
        return Draft(f"{a.name} @ {b_name}", [a] + args)
    if g.chance(0.1) and not (ta or tb) and a.ndim == 2:
        return Draft(f"tf.tensordot({a.name}, {b_name}, 1)", [a] + args)
    return Draft(f"tf.matmul({a.name}, {b_name}, transpose_a={ta}, transpose_b={tb})",
                 [a] + args)


def _image(g: Gen) -> tuple[str, Var | None, tuple]:
    """An NHWC source: a rank-4 pool tensor, or a pool tensor reshaped, or a new input."""
    v = g.pick("f", min_rank=4, max_rank=4)
    if v is not None:
        return v.name, v, v.shape
    v = g.pick("f", lambda a: a.size >= 4)
    if v is not None and g.chance(0.6):
        shape = (1, 2, v.value.size // 2, 1) if v.value.size % 2 == 0 else (1, v.value.size, 1, 1)
        return f"tf.reshape({v.name}, {list(shape)})", v, shape
    shape = tuple(int(d) for d in (g.rng.integers(1, 3), *g.rng.integers(2, 6, size=2),
                                   g.rng.integers(1, 4)))
    return g.new_input(shape, g.fdtype).name, None, shape


@builder("conv2d", ("Conv2D",), 0.6)
def _conv2d(g: Gen) -> Draft | None:
    src, v, (_, h, w, c) = _image(g)
    kh, kw = int(g.rng.integers(1, min(h, 3) + 1)), int(g.rng.integers(1, min(w, 3) + 1))
    f = g.new_input((kh, kw, c, int(g.rng.integers(1, 4))), g.fdtype, low=-1, high=1)
    stride = int(g.rng.integers(1, 3))
    dil = int(g.rng.integers(1, 3)) if stride == 1 else 1
    if (kh - 1) * dil + 1 > h or (kw - 1) * dil + 1 > w:
        dil = 1
    padding = g.choice(["SAME", "VALID"])
    return Draft(f'tf.nn.conv2d({src}, {f.name}, strides={stride}, padding="{padding}", '
                 f"dilations={dil})", [v] if v is not None else [])


@builder("pool", ("MaxPool", "AvgPool"), 0.6)
def _pool(g: Gen) -> Draft | None:
    src, v, (_, h, w, _) = _image(g)
    k = int(g.rng.integers(1, min(h, w, 3) + 1))
    fn = g.choice(["max_pool", "avg_pool"])
    padding = g.choice(["SAME", "VALID"])
    return Draft(f'tf.nn.{fn}({src}, ksize={k}, strides={int(g.rng.integers(1, 3))}, '
                 f'padding="{padding}")', [v] if v is not None else [])


@builder("boolean_mask", ("BooleanMask",), 0.4)
def _boolean_mask(g: Gen) -> Draft | None:
    """The slices a new bool input keeps: a size known only at run time downstream."""
    v = g.pick("fib", min_rank=1)
    if v is None:
        return None
    axis = int(g.rng.integers(v.ndim))
    rank = int(g.rng.integers(1, v.ndim - axis + 1))
    mask = g.new_input(v.shape[axis:axis + rank], "bool")
    return Draft(f"tf.boolean_mask({v.name}, {mask.name}, axis={axis})", [v])


@builder("ensure_shape", ("EnsureShape",), 0.1)
def _ensure_shape(g: Gen) -> Draft | None:
    v = g.pick("fib")
    return v and Draft(f"tf.ensure_shape({v.name}, {list(v.shape)})", [v])


@builder("placeholder_with_default", ("PlaceholderWithDefault",), 0.2)
def _placeholder_with_default(g: Gen) -> Draft | None:
    v = g.pick("fib")
    return v and Draft(f"tf.placeholder_with_default({v.name}, {[None] * v.ndim})", [v])
