"""The Case record and the input generators shared by the per-family case modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")


def broadcastable(num_shapes: int, min_dims: int = 0, max_dims: int = 3, max_side: int = 5):
    """Tuples of `num_shapes` mutually broadcastable shapes (size-1 dims included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda r: r.input_shapes)


def fixed(*shape_tuples):
    """A strategy choosing among explicit tuples of input shapes."""
    return st.sampled_from(list(shape_tuples))


def uniform(low=-3.0, high=3.0):
    """Input maker: uniform values in [low, high) (integers for int dtypes, bools for bool)."""
    def make(rng: np.random.Generator, shape, dtype: str) -> np.ndarray:
        dt = np.dtype(dtype)
        if dt.kind == "b":
            return rng.random(shape) < 0.5
        if dt.kind in "iu":
            return rng.integers(int(low), int(high) + 1, size=shape).astype(dt)
        return rng.uniform(low, high, size=shape).astype(dt)
    return make


@dataclass
class Case:
    """One op test: `build(*placeholders)` with the public API vs `expected(*arrays)`.

    `inputs` gives one maker per input (or one for all): maker(rng, shape, dtype) -> array;
    `input_dtypes` fixes the dtype of inputs that do not follow the case dtype
    (e.g. integer indices); `default_shapes` is one concrete example, used for the
    registry-coverage check and always tested.
    """

    name: str
    build: Callable
    expected: Callable
    default_shapes: tuple
    shapes: st.SearchStrategy | None = None
    dtypes: tuple = FLOATS
    inputs: Callable | tuple = field(default_factory=uniform)
    input_dtypes: dict = field(default_factory=dict)
    rtol: dict = field(default_factory=lambda: {"float32": 2e-5, "float64": 1e-12})
    atol: float = 1e-6

    def make_inputs(self, rng: np.random.Generator, shapes, dtype: str) -> list[np.ndarray]:
        makers = self.inputs if isinstance(self.inputs, tuple) else (self.inputs,) * len(shapes)
        return [makers[i](rng, shape, self.input_dtypes.get(i, dtype))
                for i, shape in enumerate(shapes)]

    def shape_strategy(self) -> st.SearchStrategy:
        return self.shapes if self.shapes is not None else fixed(self.default_shapes)

    def __repr__(self) -> str:
        return self.name
