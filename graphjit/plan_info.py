"""What a compiled function's plans cost and why each was built: `fn.cache_info()`.

A PlanRecord is kept per plan built (its input shapes, when, why, and each kernel's
cache outcome and compile seconds); the plans a function dropped (max_plans) stay
listed, marked evicted, up to as many again as it keeps. CacheInfo prints them as a
table and gives them as data (`as_dicts()`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from codegen.record import MutableRecord

# Why a plan was built (PlanRecord.why)
FIRST_CALL = "first call"
NEW_SHAPES = "new input shapes"
REBUILT = "rebuilt after eviction"
INSPECTED = "inspection before any call"
PACKED_TIER = "packed kernels, replacing a BLAS-first plan that served its calls"
RACE_LOST = "BLAS calls again: packed kernels beyond the packed rule raced slower"


def shape_text(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def describe_fetches(leaves) -> str:
    """`'probs:0'`, `'a:0', 'b:0' and 2 more`: a function's name in logs."""
    names = [f"'{getattr(leaf, 'name', leaf)}'" for leaf in leaves]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def shape_changes(names: list[str], before: tuple, after: tuple) -> str:
    """`x [8,784] -> [16,784]`, for each input whose shape differs."""
    changes = [f"{name} {shape_text(a)} -> {shape_text(b)}"
               for name, a, b in zip(names, before, after) if tuple(a) != tuple(b)]
    return ", ".join(changes) or "same shapes"


@dataclass(eq=False, repr=False)
class KernelRecord(MutableRecord):
    """One kernel of a plan: `source` is where it came from (memory or disk: a cache hit;
    compiled: a miss, `reason` says why; extern: NumPy calls, nothing to compile)."""

    name: str
    ops: tuple[str, ...]
    source: str
    reason: str = ""
    seconds: float = 0.0

    @property
    def hit(self) -> bool:
        return self.source in ("memory", "disk")

    @property
    def miss(self) -> bool:
        return self.source == "compiled"


@dataclass(eq=False, repr=False)
class PlanRecord(MutableRecord):
    """A plan a function built: for which inputs, when, why, at what cost."""

    number: int  # 1 for a function's first plan
    inputs: tuple[tuple[str, tuple], ...]  # (input name, shape) per input
    why: str  # FIRST_CALL, NEW_SHAPES, REBUILT, INSPECTED or PACKED_TIER
    detail: str = ""  # which input changed, from what to what; what was evicted
    kernels: list[KernelRecord] = field(default_factory=list)
    plan_seconds: float = 0.0  # lowering, compiling and buffer planning
    built_at: float = field(default_factory=time.time)
    evicted: bool = False
    specialization: str = ""  # for a rank-specialized function: its ranks

    @property
    def memory_hits(self) -> int:
        return sum(k.source == "memory" for k in self.kernels)

    @property
    def disk_hits(self) -> int:
        return sum(k.source == "disk" for k in self.kernels)

    @property
    def misses(self) -> int:
        return sum(k.miss for k in self.kernels)

    @property
    def compile_seconds(self) -> float:
        return sum(k.seconds for k in self.kernels)

    @property
    def reason(self) -> str:
        return f"{self.why}: {self.detail}" if self.detail else self.why

    @property
    def signature(self) -> tuple:
        return tuple(shape for _, shape in self.inputs)

    def labelled(self, specialization: str) -> PlanRecord:
        """A copy naming what an inner function specializes (ranks, a stage)."""
        return dataclasses.replace(self, specialization=specialization)

    def as_dict(self) -> dict:
        return {"plan": self.number, "specialization": self.specialization,
                "inputs": {name: list(shape) for name, shape in self.inputs},
                "built_at": self.built_at, "why": self.why, "detail": self.detail,
                "evicted": self.evicted, "kernels": len(self.kernels),
                "cache_hits": self.memory_hits + self.disk_hits,
                "memory_hits": self.memory_hits, "disk_hits": self.disk_hits,
                "misses": self.misses,
                "compile_seconds": self.compile_seconds, "plan_seconds": self.plan_seconds,
                "kernel_records": [{"name": k.name, "ops": list(k.ops), "source": k.source,
                                    "reason": k.reason, "seconds": k.seconds}
                                   for k in self.kernels]}


class PlanHistory:
    """A function's plan records: those of the plans it keeps, and as many evicted ones
    (a stream of new shapes must not grow it without end)."""

    def __init__(self, max_plans: int):
        self.max_plans = max_plans
        self.records: list[PlanRecord] = []
        self._kept: dict[tuple, PlanRecord] = {}  # signature -> record of a kept plan
        self._built = 0

    def start(self, names: list[str], signature: tuple, previous: tuple | None,
              why: str | None = None, origin: str = "") -> PlanRecord:
        """The record of a plan about to be built for `signature`, with why: given, or
        found (rebuilt after eviction, shapes changed from the `previous` plan's, first)."""
        self._built += 1
        detail = ""
        if why is None:
            evicted = next((r for r in reversed(self.records)
                            if r.evicted and r.signature == signature), None)
            if evicted is not None:
                why = REBUILT
                detail = (f"plan {evicted.number} for these shapes was dropped "
                          f"(max_plans={self.max_plans})")
            elif previous is not None:
                why, detail = NEW_SHAPES, shape_changes(names, previous, signature)
            else:
                why, detail = FIRST_CALL, origin
        inputs = tuple(zip(names, (tuple(s) for s in signature)))
        return PlanRecord(self._built, inputs, why, detail)

    def keep(self, record: PlanRecord) -> None:
        self.records.append(record)
        self._kept[record.signature] = record

    def evict(self, signature: tuple) -> PlanRecord | None:
        record = self._kept.pop(tuple(tuple(s) for s in signature), None)
        if record is not None:
            record.evicted = True
            evicted = [r for r in self.records if r.evicted]
            if len(evicted) > self.max_plans:
                self.records.remove(evicted[0])
        return record


class CacheInfo:
    """Every plan a function built (the evicted ones marked), with totals. `str()` it for
    a table; iterate, or `as_dicts()`, for the data."""

    def __init__(self, label: str, plans: list[PlanRecord], max_plans: int,
                 optimize_seconds: float = 0.0):
        self.label, self.plans, self.max_plans = label, list(plans), max_plans
        self.optimize_seconds = optimize_seconds

    def __iter__(self):
        return iter(self.plans)

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, index: int) -> PlanRecord:
        return self.plans[index]

    def as_dicts(self) -> list[dict]:
        return [p.as_dict() for p in self.plans]

    @property
    def totals(self) -> dict:
        plans = self.plans
        return {"plans": len(plans), "kept": sum(not p.evicted for p in plans),
                "evicted": sum(p.evicted for p in plans),
                "kernels": sum(len(p.kernels) for p in plans),
                "memory_hits": sum(p.memory_hits for p in plans),
                "disk_hits": sum(p.disk_hits for p in plans),
                "misses": sum(p.misses for p in plans),
                "compile_seconds": sum(p.compile_seconds for p in plans),
                "plan_seconds": sum(p.plan_seconds for p in plans),
                "optimize_seconds": self.optimize_seconds}

    def __str__(self) -> str:
        t = self.totals
        lines = [f"{t['plans']} plan{'s' if t['plans'] != 1 else ''} of the function "
                 f"computing {self.label}: {t['kept']} kept (max_plans {self.max_plans}), "
                 f"{t['evicted']} evicted"]
        rows = [("plan", "inputs", "built", "why", "kernels", "hits", "misses", "compile s")]
        for p in self.plans:
            inputs = ", ".join(f"{name}{shape_text(shape)}" for name, shape in p.inputs)
            rows.append((f"{p.specialization} #{p.number}".strip(), inputs,
                         time.strftime("%H:%M:%S", time.localtime(p.built_at)),
                         p.reason + (" (evicted)" if p.evicted else ""), str(len(p.kernels)),
                         str(p.memory_hits + p.disk_hits), str(p.misses),
                         f"{p.compile_seconds:.2f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.append(f"total: {t['kernels']} kernels, {t['memory_hits'] + t['disk_hits']} cache "
                     f"hits ({t['memory_hits']} in memory, {t['disk_hits']} from disk), "
                     f"{t['misses']} compiled; {t['compile_seconds']:.2f} s compiling, "
                     f"{t['plan_seconds']:.2f} s planning, {t['optimize_seconds']:.2f} s "
                     "optimizing")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<CacheInfo of {self.label}: {len(self.plans)} plans>"
