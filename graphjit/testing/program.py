"""A generated graph as data: placeholders with their values, lines of public-API Python
and the fetched names. Building the graph executes those lines, so the graph a test runs
and the reproducer it prints are the same text."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

import graphjit as tf
from graphjit.graph import Tensor

NAME = re.compile(r"\b[a-z]\d+\b")  # the generator's names: t12, x3, i4, b5


@dataclass(frozen=True)
class Input:
    """A placeholder: its name (also its Python variable), dtype, declared shape (None
    for a dim unknown at build time) and the value fed to it."""

    name: str
    dtype: str
    declared: tuple
    value: np.ndarray = field(compare=False)


@dataclass(frozen=True)
class Line:
    """`targets = expr`: `args` names the tensors (and placeholders) `expr` reads."""

    targets: tuple[str, ...]
    expr: str
    args: tuple[str, ...]
    builder: str = ""  # the builder that wrote it (statistics, never part of the source)
    unpack: bool = False  # expr returns a sequence, even of one tensor

    def source(self) -> str:
        comma = "," if self.unpack and len(self.targets) == 1 else ""
        return f"{', '.join(self.targets)}{comma} = {self.expr}"

    def renamed(self, sub: dict[str, str]) -> Line:
        """The line reading sub[name] wherever it read a name in `sub`."""
        if not set(self.args) & set(sub):
            return self
        expr = NAME.sub(lambda m: sub.get(m.group(0), m.group(0)), self.expr)
        return replace(self, expr=expr, args=tuple(sorted({sub.get(a, a) for a in self.args})))


@dataclass(frozen=True)
class Program:
    """One random graph; `key` = (seed, index) regenerates it."""

    key: tuple[int, int]
    inputs: tuple[Input, ...]
    lines: tuple[Line, ...]
    fetches: tuple[str, ...]
    session: bool = False  # also run through Session(graph).run
    size: int = 12  # the generator's size argument (part of what regenerates it)
    focus: str = ""  # the generator's focus argument (likewise)
    large: bool = False  # and its large argument

    def with_fetches(self, fetches) -> Program:
        return prune(replace(self, fetches=tuple(fetches)))

    def without_line(self, i: int, substitute: dict[str, str] | None = None) -> Program:
        """Drop line `i`; later reads of its targets read `substitute[target]` instead."""
        sub = substitute or {}
        lines = [ln.renamed(sub) for j, ln in enumerate(self.lines) if j != i]
        fetches = tuple(sub.get(f, f) for f in self.fetches)
        return prune(replace(self, lines=tuple(lines), fetches=fetches))


def prune(program: Program) -> Program:
    """Drop lines and inputs nothing fetched depends on (dead code of the program)."""
    live = set(program.fetches)
    kept = []
    for line in reversed(program.lines):
        if live & set(line.targets):
            kept.append(line)
            live |= set(line.args)
    inputs = tuple(i for i in program.inputs if i.name in live)
    return replace(program, inputs=inputs, lines=tuple(reversed(kept)))


@dataclass
class Built:
    """A program's graph: its placeholders, fetched tensors and the feed values."""

    graph: tf.Graph
    placeholders: list[Tensor]
    fetches: list[Tensor]
    values: list[np.ndarray]
    namespace: dict


def placeholder_source(inp: Input, unknown_rank: bool = False) -> str:
    dims = ", ".join("None" if d is None else str(d) for d in inp.declared)
    shape = "None" if unknown_rank else f"[{dims}]"
    return f'{inp.name} = tf.placeholder(tf.{inp.dtype}, {shape}, name="{inp.name}")'


def build(program: Program, unknown_rank: bool = False) -> Built:
    """Execute the program's lines in a fresh graph (`unknown_rank`: its placeholders
    made without a shape, as TF1 programs often make them)."""
    graph = tf.Graph()
    namespace: dict = {"tf": tf, "np": np}
    with graph.as_default():
        for inp in program.inputs:
            exec(placeholder_source(inp, unknown_rank), namespace)
        for line in program.lines:
            exec(line.source(), namespace)
    return Built(graph, [namespace[i.name] for i in program.inputs],
                 [namespace[f] for f in program.fetches],
                 [i.value for i in program.inputs], namespace)


def literal(value) -> str:
    """Python source for a scalar that round-trips exactly (floats by repr; nan/inf too)."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


def array_source(value: np.ndarray) -> str:
    """`np.array(...)` source that rebuilds `value` exactly, dtype included."""
    def nest(a):
        if a.ndim == 0:
            return literal(a.item())
        return "[" + ", ".join(nest(x) for x in a) + "]"
    if value.ndim == 0:
        return f"np.array({literal(value.item())}, dtype=np.{value.dtype.name})"
    return f"np.array({nest(value)}, dtype=np.{value.dtype.name}).reshape({value.shape})"


def graph_source(program: Program, indent: str = "    ") -> list[str]:
    """The placeholder and op lines of the program (to go under `with graph.as_default()`)."""
    return [indent + placeholder_source(i) for i in program.inputs] + \
        [indent + line.source() for line in program.lines]


def reproducer(program: Program) -> str:
    """A script that rebuilds the graph, runs it compiled and on the reference
    interpreter, and prints each fetch's largest difference."""
    feeds = ", ".join(f"{i.name}: {array_source(i.value)}" for i in program.inputs)
    lines = [
        f"# graphjit random graph {program.key} "
        f"(python -m benchmarks.fuzz --seed {program.key[0]} --index {program.key[1]} "
        f"--size {program.size}" + (f" --focus {program.focus}" if program.focus else "")
        + (" --large" if program.large else "") + ")",
        "import numpy as np", "import graphjit as tf", "from graphjit.interpreter import evaluate",
        "", "graph = tf.Graph()", "with graph.as_default():", *graph_source(program),
        f"fetches = [{', '.join(program.fetches)}]",
        f"feeds = {{{feeds}}}",
        "expected = evaluate(fetches, feeds)  # the NumPy reference interpreter",
        "got = tf.compile(fetches, feeds=list(feeds))(*feeds.values())",
        "for name, e, g in zip(" + repr([*program.fetches]) + ", expected, got):",
        "    e, g = np.asarray(e), np.asarray(g)",
        "    if e.shape != g.shape or e.dtype != g.dtype:",
        "        print(name, 'expected', e.dtype, e.shape, 'got', g.dtype, g.shape)",
        "        continue",
        "    ef, gf = e.astype(np.float64), g.astype(np.float64)",
        "    with np.errstate(all='ignore'):",
        "        d = np.where((ef == gf) | np.isnan(ef) & np.isnan(gf), 0.0, np.abs(ef - gf))",
        "    if not d.any():",
        "        print(name, 'same')",
        "        continue",
        "    i = np.unravel_index(np.argmax(np.nan_to_num(d, nan=np.inf)), d.shape)",
        "    i = tuple(int(k) for k in i)",
        "    print(name, f'differs at {i}: expected {e[i]!r}, got {g[i]!r}')",
    ]
    return "\n".join(lines) + "\n"
