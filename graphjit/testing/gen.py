"""The generator's state: a pool of tensors with their reference values, and the table
of builders that extend it.

A builder looks at the pool and writes one line of public-API Python reading some of
its tensors (or None when nothing fits). The line runs at once on a scratch graph and
the reference interpreter computes its values; a line whose build raises or whose
values leave the safe ranges (non-finite, too large for later ops) is dropped, so every
kept line is valid for the values actually fed. Builders know concrete shapes and
values; placeholders may still declare dims as unknown.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import graphjit as tf
from graphjit.errors import Error
from graphjit.graph import Tensor
from graphjit.interpreter import evaluate
from graphjit.testing.program import NAME, Input, Line, literal, placeholder_source

FLOAT_LIMIT = 1e6  # larger floats would overflow the next exp/square/prod
INT_LIMIT = 2**20  # products of two such ints still fit int64; int32 results are checked


@dataclass
class Var:
    """A tensor of the pool: its Python name, scratch-graph tensor and reference value."""

    name: str
    tensor: Tensor
    value: np.ndarray

    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def dtype(self) -> str:
        return self.value.dtype.name

    @property
    def kind(self) -> str:
        """'f' float, 'i' integer, 'b' bool."""
        return self.value.dtype.kind.replace("u", "i")

    @property
    def static(self) -> tuple:
        """The build-time shape (None where unknown)."""
        return tuple(self.tensor.shape)


@dataclass
class Draft:
    """A line a builder proposes: `expr` reads `args` (the line records every pool name
    and placeholder its text mentions); it has `n_out` results."""

    expr: str
    args: list[Var]
    n_out: int = 1
    unpack: bool = False  # expr returns a sequence, even of one tensor


@dataclass(frozen=True)
class Builder:
    name: str
    fn: Callable[[Gen], Draft | None]
    makes: tuple[str, ...]  # op types its lines create (the registry-coverage claim)
    weight: float = 1.0


BUILDERS: dict[str, Builder] = {}


def builder(name: str, makes: tuple[str, ...], weight: float = 1.0):
    """Register a builder function under `name`."""
    def register(fn):
        if name in BUILDERS:
            raise ValueError(f"builder {name} registered twice")
        BUILDERS[name] = Builder(name, fn, tuple(makes), weight)
        return fn
    return register


@dataclass
class Gen:
    """Generation state for one graph (see the module docstring)."""

    rng: np.random.Generator
    fdtype: str
    idtype: str
    base: tuple
    edge: bool  # inputs drawn from a few exact values (ties, zeros, halves)
    graph: tf.Graph = field(default_factory=tf.Graph)
    namespace: dict = field(default_factory=lambda: {"tf": tf, "np": np})
    pool: list[Var] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    rejected: dict = field(default_factory=dict)  # builder -> count (statistics)
    _pending: list = field(default_factory=list)
    _count: int = 0

    # -- choosing --------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def pick(self, kinds: str = "f", pred=None, min_rank: int = 0, max_rank: int = 9,
             where=None) -> Var | None:
        """A pool tensor of one of `kinds` whose value satisfies `pred`; recent ones are
        likelier, so chains grow deep."""
        cands = [v for v in self.pool if v.kind in kinds and min_rank <= v.ndim <= max_rank
                 and v.value.size > 0 and (where is None or where(v))
                 and (pred is None or bool(pred(v.value)))]
        if not cands:
            return None
        weights = np.arange(1, len(cands) + 1, dtype=float)
        return cands[int(self.rng.choice(len(cands), p=weights / weights.sum()))]

    def partner(self, v: Var, pred=None, same_shape: bool = False) -> Var | None:
        """Another pool tensor of v's dtype that broadcasts with it (v itself included:
        a shared input)."""
        def fits(w: Var) -> bool:
            if w.dtype != v.dtype:
                return False
            if same_shape:
                return w.shape == v.shape
            try:
                return int(np.prod(np.broadcast_shapes(v.shape, w.shape))) <= 1296
            except ValueError:
                return False
        return self.pick(v.kind, pred, where=fits)

    def boolean(self, like: Var | None = None) -> tuple[str, list[Var]] | None:
        """Source of a bool tensor (broadcasting with `like`): a pool one, or a comparison."""
        def fits(w: Var) -> bool:
            return like is None or _broadcasts(w.shape, like.shape)
        v = self.pick("b", where=fits)
        if v is not None and self.chance(0.6):
            return v.name, [v]
        x = self.pick("fi", where=fits)
        if x is None:
            return (v.name, [v]) if v is not None else None
        op = self.choice([">", "<", ">=", "<="])
        return f"({x.name} {op} {self.scalar(x, (0.0, 1.0, -0.5))})", [x]

    def scalar(self, v: Var, values=(2.0, 0.5, -1.5, 3.0, 1.0, 0.25)) -> str:
        """A Python literal that takes v's dtype."""
        value = self.choice(values)
        return literal(int(round(value)) or 2 if v.kind == "i" else float(value))

    def axis(self, v: Var, negative_ok: bool = True) -> int:
        a = int(self.rng.integers(v.ndim))
        return a - v.ndim if negative_ok and self.chance(0.4) else a

    def axes(self, v: Var):
        """A reduction axis argument: None, an int, a list (possibly empty) or a tuple."""
        r = v.ndim
        form = self.rng.integers(5) if r else 0
        if form == 0:
            return None
        if form == 1:
            return self.axis(v)
        chosen = sorted(self.rng.choice(r, size=int(self.rng.integers(0, r + 1)), replace=False))
        return [int(a) - r if self.chance(0.3) else int(a) for a in chosen]

    # -- inputs ----------------------------------------------------------------------
    def values(self, shape, dtype: str, low: float = -3.0, high: float = 3.0) -> np.ndarray:
        kind = np.dtype(dtype).kind
        if kind == "b":
            return self.rng.random(shape) < 0.5
        if kind in "iu":
            lo, hi = (-2, 2) if self.edge else (int(low), int(high))
            return self.rng.integers(lo, hi + 1, size=shape).astype(dtype)
        if self.edge:
            steps = np.arange(int(np.ceil(low * 2)), int(np.floor(high * 2)) + 1) / 2
            return self.rng.choice(steps, size=shape).astype(dtype)
        return self.rng.uniform(low, high, size=shape).astype(dtype)

    def new_input(self, shape, dtype: str, value: np.ndarray | None = None,
                  low: float = -3.0, high: float = 3.0) -> Var:
        """A new placeholder (kept only if the line using it is kept)."""
        shape = tuple(int(d) for d in shape)
        if value is None:
            value = self.values(shape, dtype, low, high)
        prefix = {"f": "x", "i": "i", "u": "i", "b": "b"}[np.dtype(dtype).kind]
        name = f"{prefix}{self._next()}"
        declared = tuple(None if self.chance(0.3) else d for d in shape)
        inp = Input(name, dtype, declared, np.asarray(value))
        with self.graph.as_default():
            exec(placeholder_source(inp), self.namespace)
        self._pending.append(inp)
        return Var(name, self.namespace[name], inp.value)

    def _next(self) -> int:
        self._count += 1
        return self._count

    # -- committing ------------------------------------------------------------------
    def known(self) -> dict:
        return {v.tensor: v.value for v in self.pool} | {
            self.namespace[i.name]: i.value for i in self._pending + self.inputs}

    def commit(self, draft: Draft, builder_name: str) -> list[Var] | None:
        """Run the drafted line on the scratch graph; keep it if it builds and its values
        are safe. Returns the new pool tensors."""
        targets = tuple(f"t{self._next()}" for _ in range(draft.n_out))
        defined = {v.name for v in self.pool} | {i.name for i in self.inputs + self._pending}
        names = {n for n in NAME.findall(draft.expr) if n in defined}
        line = Line(targets, draft.expr, tuple(sorted(names)), builder_name,
                    draft.unpack or draft.n_out > 1)
        present, values = [], None
        try:
            with self.graph.as_default():
                exec(line.source(), self.namespace)
            present = [(t, self.namespace[t]) for t in targets if self.namespace[t] is not None]
            with warnings.catch_warnings():  # NumPy's "mean of empty slice" and such
                warnings.simplefilter("ignore")
                values = evaluate([o for _, o in present], self.known())
        except Error:
            pass
        pending, self._pending = self._pending, []
        if not present or values is None or not all(safe(v) for v in values):
            self.rejected[builder_name] = self.rejected.get(builder_name, 0) + 1
            return None
        self.inputs.extend(i for i in pending if i.name in names)
        self.lines.append(line)
        new = [Var(t, o, v) for (t, o), v in zip(present, values)]
        self.pool.extend(new)
        return new


def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def safe(value: np.ndarray) -> bool:
    """Values later ops can take without overflow; floats finite."""
    if value.dtype.kind == "f":
        return bool(np.all(np.abs(value) <= FLOAT_LIMIT))  # False for NaN and inf
    if value.dtype.kind in "iu":
        return bool(np.all(np.abs(value.astype(np.int64)) <= INT_LIMIT))
    return True
