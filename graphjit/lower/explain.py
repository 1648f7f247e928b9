"""`fn.explain()`: why each value passed between two steps of a plan was not fused away.

A boundary is a graph tensor one step writes and another reads. Its reasons are the
partitioner's own notes (graphjit.lower.fusion_log), made where it decided: why the
producer's step takes no other op, why the consumer's does not, or why the consumer
did not join the producer's kernel. A fetched value inside a kernel is no boundary (the
kernel writes it as one more output and fusion goes on); the report lists those apart.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

from graphjit.graph import Operation, Tensor, format_spec
from graphjit.graph_queries import read_inputs
from graphjit.lower.fusion_log import Note, Why
from graphjit.lower.program import LoweredProgram
from runtime.plan import EXTERN

EXTERN_GEMM = "extern-gemm"  # a standalone op lowered to a BLAS call (its step is EXTERN)
UNRECORDED = "unrecorded"  # no note: a gap in graphjit.lower.partition's notes, a bug


@dataclass(frozen=True)
class Boundary:
    """One tensor written by `producer_step` and read by `consumer_step`, and why."""

    tensor: str
    shape: tuple
    dtype: str
    producer: str  # graph op names, types and the user's source lines
    producer_type: str
    producer_source: str
    producer_step: str
    consumer: str
    consumer_type: str
    consumer_source: str
    consumer_step: str
    reason: str  # a graphjit.lower.fusion_log.Why value, EXTERN_GEMM or UNRECORDED
    detail: str  # the reason in a sentence
    other_reasons: tuple[tuple[str, str], ...] = ()  # (reason, detail) that also hold
    fetched: bool = False  # the caller fetches this tensor too
    readers: int = 1  # how many steps read it

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FetchedInside:
    """A fetched tensor computed inside a fused kernel: written out, no boundary."""

    tensor: str
    op: str
    step: str


class Explanation:
    """Printable (`str`) report; `records` (also by iterating) is the data form."""

    def __init__(self, records: list[Boundary], fetched_inside: list[FetchedInside],
                 steps: int, title: str):
        self.records = records
        self.fetched_inside = fetched_inside
        self.steps = steps
        self.title = title

    def __iter__(self):
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index):
        return self.records[index]

    def as_dicts(self) -> list[dict]:
        return [r.as_dict() for r in self.records]

    def __str__(self) -> str:
        n = len(self.records)
        lines = [f"{n} boundar{'y' if n == 1 else 'ies'} between the {self.steps} "
                 f"step{'' if self.steps == 1 else 's'} of {self.title}"]
        for r in self.records:
            lines.append("")
            extra = [f"read by {r.readers} steps"] if r.readers > 1 else []
            extra += ["also fetched"] if r.fetched else []
            lines.append(f"{r.producer_step} -> {r.consumer_step}: {r.tensor} "
                         f"{format_spec(r.shape, _DType(r.dtype))}"
                         + (f" ({', '.join(extra)})" if extra else ""))
            lines.append(f"  {r.producer_type} '{r.producer}'{_at(r.producer_source)} -> "
                         f"{r.consumer_type} '{r.consumer}'{_at(r.consumer_source)}")
            lines.append(f"  {r.reason}: {r.detail}")
            for reason, detail in r.other_reasons:
                lines.append(f"  also {reason}: {detail}")
        if self.fetched_inside:
            lines += ["", "fetched from inside a kernel (written as an extra output, no "
                          "boundary):"]
            lines += [f"  {f.tensor} in {f.step}" for f in self.fetched_inside]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


class _DType(str):  # format_spec prints a dtype by str()
    pass


def _at(source: str) -> str:
    return f" at {source}" if source else ""


def _source(op: Operation) -> str:
    if op.source is None:
        return ""
    return f"{os.path.basename(op.source.filename)}:{op.source.lineno}"



def _reasons(log, producer: Operation, consumer: Operation, t: Tensor,
             kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(reason, detail) for the boundary at `t`: why the producer's step takes no
    other op, why the consumer's does not, why the consumer did not join."""
    found = []
    refused = log.refused.get((consumer, t))
    if refused is not None:
        found.append((refused.why.value, f"{consumer.type} '{consumer.name}' did not join the "
                                         f"kernel computing '{t.name}': {refused.detail}"))
    for op in (producer, consumer):
        note: Note | None = log.alone.get(op)
        if note is None or refused is not None and op is consumer and note.why is refused.why:
            continue
        reason = note.why.value
        if note.why is Why.STANDALONE:
            if kinds.get(op.name) == EXTERN:
                reason = EXTERN_GEMM
                detail = (f"{op.type} '{op.name}' is a library call (BLAS GEMM): its step "
                          "computes nothing else, elementwise work around it is another kernel")
            elif op.type == "MatMul":
                detail = (f"{op.type} '{op.name}' is a matrix product by constant weights "
                          "with few rows, a packed loop kernel (graphjit.lower.packed_matmul): "
                          "its step takes at most a bias add and a relu after it, other "
                          "elementwise work around it is another kernel")
            else:
                detail = f"{op.type} '{op.name}' must be standalone: {note.detail}"
        elif note.why is Why.HOST:
            detail = f"{op.type} '{op.name}' runs on the host" + \
                (f" ({note.detail})" if note.detail else "")
        else:
            detail = f"{op.type} '{op.name}' is {note.detail}"
        found.append((reason, detail))
    return found or [(UNRECORDED, "the partitioner noted no reason (a graphjit bug to report)")]


def explain_program(program: LoweredProgram, title: str) -> Explanation:
    """Every boundary between the listed steps of `program`, with its reasons."""
    listed = [s for s in program.steps if s.listed]
    step_of: dict[str, int] = {}  # op name -> index in `listed` (names may repeat)
    for i, step in enumerate(listed):
        for name in step.ops:
            step_of.setdefault(name, i)
    kinds = {name: listed[i].kind for name, i in step_of.items()}
    fetch_slots = set(program.fetch_slots)
    fetched = {t for t, slot in program.slot_of.items() if slot in fetch_slots}
    records: dict[tuple[Tensor, int], Boundary] = {}
    readers: dict[Tensor, set] = {}
    inside: dict[Tensor, FetchedInside] = {}
    for consumer in program.ops:
        into = step_of.get(consumer.name)
        if into is None:
            continue
        for t in read_inputs(consumer):
            out_of = step_of.get(t.op.name)
            if out_of is None or t not in program.shapes:
                continue
            if out_of == into:
                if t in fetched:
                    inside.setdefault(t, FetchedInside(t.name, t.op.name, listed[into].name))
                continue
            readers.setdefault(t, set()).add(into)
            if (t, into) in records:
                continue
            (reason, detail), *others = _reasons(program.fusion_log, t.op, consumer, t, kinds)
            records[(t, into)] = Boundary(
                t.name, tuple(program.shapes[t]), str(t.dtype), t.op.name, t.op.type,
                _source(t.op), listed[out_of].name, consumer.name, consumer.type,
                _source(consumer), listed[into].name, reason, detail, tuple(others),
                t in fetched)
    result = [replace(r, readers=len(readers[t])) for (t, _), r in records.items()]
    return Explanation(result, list(inside.values()), len(listed), title)
