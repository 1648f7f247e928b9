"""Lowering: a graph's fetches, feeds and concrete feed shapes become a LoweredProgram.

Shapes are propagated with each op's own inference rule, the ops are partitioned into
regions and each region becomes loop-IR kernels, a view, or a host step, over numbered
slots. Nothing is compiled here, so `fn.ir("loops")` waits for no compiler; the planner
(graphjit.lower.planner) compiles the kernels and makes the runtime Plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from codegen.loopir import Kernel, is_extern
from codegen.record import MutableRecord, Record
from graphjit.errors import CompileError
from graphjit.graph import Operation, Tensor, format_spec
from graphjit.graph_queries import ops_needed, read_inputs, ref_inputs
from graphjit.interpreter import check_size, missing_feed, run_time_specs
from graphjit.lower import standalone
from graphjit.lower.emit import RegionEmitter
from graphjit.lower.fusion_log import FusionLog
from graphjit.lower.host_kernels import reference_call
from graphjit.lower.partition import Region, RegionKind, partition
from graphjit.registry import ElementRule, get_op_def
from runtime.host import HostCall
from runtime.plan import EXTERN, HOST, KERNEL, VIEW, SlotSpec, StepKind


@dataclass(frozen=True, eq=False, repr=False)
class ProgramStep(Record):
    """One step of a lowered program: a loop-IR kernel (KERNEL or EXTERN), a VIEW, or a
    call of a registered HOST kernel, reading and writing slots. `listed` steps appear in
    `fn.kernels`."""

    name: str
    kind: StepKind
    ops: tuple[str, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    kernel: Kernel | None = None
    host: HostCall | None = None
    flops: int = 0
    bytes: int = 0
    listed: bool = True

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}: {', '.join(self.ops)}>"


@dataclass(eq=False, repr=False)
class LoweredProgram(MutableRecord):
    """What a plan will run, before any compiling: steps in order over slot specs."""

    slots: list[SlotSpec]
    steps: list[ProgramStep]
    input_slots: tuple[int, ...]
    fetch_slots: tuple[int, ...]
    summary: str  # "the plan computing 'y:0' from x:0 float32[8]", for errors
    sources: dict[str, str] = field(default_factory=dict)  # op name -> user's file:line
    # What pictures and fn.explain() need to speak of graph tensors: the ops lowered, every
    # tensor's concrete shape and slot, and why the partitioner kept ops apart.
    ops: list[Operation] = field(default_factory=list)
    shapes: dict[Tensor, tuple] = field(default_factory=dict)
    slot_of: dict[Tensor, int] = field(default_factory=dict)
    fusion_log: FusionLog = field(default_factory=FusionLog)

    @property
    def kernels(self) -> list[Kernel]:
        return [s.kernel for s in self.steps if s.kernel is not None]


class LateShapes(Exception):  # noqa: N818 - a signal to the planner, not an error
    """Lowering met tensors whose shapes are known only once they are computed (a while
    loop's variables whose shapes change) and that the program reads or fetches: it is
    planned in stages instead (graphjit.lower.planner), first the plan computing
    `tensors`, then the rest for their shapes."""

    def __init__(self, late: list[Tensor]):
        ops = list(dict.fromkeys(t.op for t in late))  # all their outputs: the op runs once
        self.tensors = [t for op in ops for t in op.outputs]
        super().__init__(", ".join(t.name for t in self.tensors))


def propagate_shapes(ops: list[Operation], fed_shapes: dict[Tensor, tuple]) -> dict:
    """Every tensor's concrete shape; LateShapes when an op reads one known only later."""
    shapes: dict[Tensor, tuple] = dict(fed_shapes)
    late: list[Tensor] = []
    for op in ops:
        if all(t in shapes for t in op.outputs):
            continue
        if op.type == "Placeholder":
            raise missing_feed(op)
        refs = ref_inputs(op)  # a variable only assigned has its static shape
        if late and any(t in late for t in op.inputs):
            raise LateShapes(late)
        specs = run_time_specs(op, [(tuple(t.shape) if i in refs else shapes[t], t.dtype)
                                    for i, t in enumerate(op.inputs)])
        for t, (shape, _) in zip(op.outputs, specs):
            shapes[t] = tuple(shape)
            if None in shapes[t]:
                late.append(t)
    return shapes


def _kernel_name(region: Region) -> str:
    """fused_ and the op types a fused kernel computes, in order."""
    types = []
    for op in region.ops:
        name = op.type.lower()
        if name not in types:
            types.append(name)
    return ("fused_" + "_".join(types))[:60].rstrip("_")


class Lowerer:
    def __init__(self, fetches: list[Tensor | Operation], feeds: list[Tensor],
                 feed_shapes: list[tuple], constants: dict | None = None, late=()):
        self.fetch_tensors = [f for f in fetches if isinstance(f, Tensor)]
        fetch_ops = [f.op if isinstance(f, Tensor) else f for f in fetches]
        fed = set(feeds)
        self.feeds = feeds
        self.ops = [op for op in ops_needed(
            [op for op, f in zip(fetch_ops, fetches) if not (isinstance(f, Tensor) and f in fed)],
            fed)]
        self.shapes = propagate_shapes(self.ops, dict(zip(feeds, feed_shapes)))
        fetched_late = [t for t in self.fetch_tensors if None in self.shapes[t]]
        if any(t not in late for t in fetched_late):
            raise LateShapes([t for t, s in self.shapes.items() if None in s])
        self.slots: list[SlotSpec] = []
        self.slot_of: dict[Tensor, int] = {}
        self.steps: list[ProgramStep] = []
        self.const_values = {op.outputs[0]: np.asarray(op.attrs["value"])
                             for op in self.ops if op.type == "Const"}
        self.constants = {} if constants is None else constants  # shared by plans

    def slot(self, t: Tensor, role: str, value=None, base=None) -> int:
        if t not in self.slot_of:
            if role in ("output", "buffer", "host") and None not in self.shapes[t]:
                check_size(t.op, self.shapes[t], t.dtype)
            self.slot_of[t] = len(self.slots)
            self.slots.append(SlotSpec(self.shapes[t], t.dtype.np, role, value, base))
        return self.slot_of[t]

    def buffer(self, shape: tuple, dtype: np.dtype) -> int:
        """A planned intermediate no graph tensor names (a convolution's columns)."""
        self.slots.append(SlotSpec(shape, dtype, "buffer"))
        return len(self.slots) - 1

    def lower(self) -> LoweredProgram:
        input_slots = tuple(self.slot(t, "input") for t in self.feeds)
        compute = [op for op in self.ops  # (ops without outputs, NoOp, only order others)
                   if op.outputs and op.type not in ("Const", "Placeholder")]
        fetched = set(self.fetch_tensors)
        log = FusionLog()
        regions = partition(compute, self.shapes, set(self.feeds), log)
        region_of = {op: r for r in regions for op in r.ops}
        used_outside = {t for op in compute for t in op.inputs
                        if t.op in region_of and region_of[t.op] is not region_of[op]}
        for region in regions:
            members = [t for op in region.ops for t in op.outputs]
            outputs = [t for t in members if t in fetched or t in used_outside]
            if outputs or any(get_op_def(op.type).side_effect for op in region.ops):
                # (else nothing of it is needed; a print runs for its effect)
                self.lower_region(region, set(members), outputs, fetched)
        fetch_slots = tuple(self.input_or_const_slot(t) for t in self.fetch_tensors)
        stepped = {name for step in self.steps for name in step.ops}
        sources = {op.name: str(op.source or "") for op in self.ops if op.name in stepped}
        return LoweredProgram(self.slots, self.steps, input_slots, fetch_slots,
                              self.summary(), sources, self.ops, self.shapes,
                              self.slot_of, log)

    def summary(self) -> str:
        fed = ", ".join(f"{t.name} {format_spec(self.shapes[t], t.dtype)}" for t in self.feeds)
        return (f"the plan computing {', '.join(repr(t.name) for t in self.fetch_tensors)}"
                f"{' from ' + fed if fed else ''}")

    def input_or_const_slot(self, t: Tensor) -> int:
        if t in self.slot_of:
            return self.slot_of[t]
        if t in self.const_values:
            shared = self.constants if t.op.type == "Const" else {}  # (not shape values)
            value = shared.get(t)
            if value is None:  # one writeable copy, for every plan given `constants`
                value = shared[t] = np.array(self.const_values[t])
            return self.slot(t, "const", value)
        raise CompileError(f"tensor '{t.name}' has no value in the plan")

    def external_inputs(self, region: Region, members: set) -> list[Tensor]:
        seen = []
        for op in region.ops:
            for t in read_inputs(op):
                if t in members or t in seen:
                    continue
                if region.kind is RegionKind.FUSED and t in self.const_values \
                        and self.const_values[t].size == 1:
                    continue  # becomes a literal in the kernel
                seen.append(t)
        return seen

    def lower_region(self, region: Region, members: set, outputs: list[Tensor],
                     fetched: set) -> None:
        op = region.ops[0]
        names = tuple(o.name for o in region.ops)
        if region.kind is RegionKind.VIEW:
            in_slots = tuple(self.input_or_const_slot(t)
                             for t in self.external_inputs(region, members))
            out_slot = self.slot(outputs[0], "view", base=in_slots[0])
            self.steps.append(ProgramStep(op.name, VIEW, names, in_slots, (out_slot,)))
            return
        if region.kind is RegionKind.HOST:  # one op, given a value per input (x != x: twice)
            in_slots = tuple(self.input_or_const_slot(t) for t in read_inputs(op))
            # (a slot for every output: the host kernel returns them all, in order)
            out_slots = tuple(self.slot(t, "host") for t in op.outputs)
            call = getattr(get_op_def(op.type).lowering, "call", None)  # (Host's)
            self.add_host(op.name, names, in_slots, out_slots,
                          reference_call(op) if call is None else call(op))
            return
        lowering = get_op_def(op.type).lowering
        if region.kind is RegionKind.STANDALONE and lowering.shape_only:
            lowering.build(self, op, outputs, (), names)  # a plan-time constant
            return
        checked = [(o, rule) for o in region.ops
                   if isinstance(rule := get_op_def(o.type).lowering, ElementRule) and rule.check]
        # Inputs checked after the kernel (gather indices, which it clamps): keep them.
        for o, rule in checked:
            t = o.inputs[rule.checked_input]
            if t in members and t not in outputs:
                outputs = outputs + [t]
        role = lambda t: "output" if t in fetched else "buffer"  # noqa: E731
        out_slots = tuple(self.slot(t, role(t)) for t in outputs)
        if all(0 in self.shapes[t] for t in outputs):
            return  # empty results: nothing to compute
        if region.kind is RegionKind.STANDALONE:
            lowering.build(self, op, outputs, out_slots, names)
            return
        if region.kind is RegionKind.REDUCE:
            standalone.reduce(self, op, outputs, out_slots, names)
            return
        inputs = self.external_inputs(region, members)
        in_slots = tuple(self.input_or_const_slot(t) for t in inputs)
        kernel = RegionEmitter(region, self.shapes, inputs, outputs,
                               self.const_values).kernel(_kernel_name(region))
        flops = sum(math.prod(self.shapes[o.outputs[0]]) for o in region.ops)
        self.add_kernel(kernel, in_slots, out_slots, names, flops,
                        self.bytes_of(inputs, outputs))
        for o, rule in checked:
            rule.check(self, o)

    def add_host(self, name: str, names, in_slots, out_slots, host: HostCall,
                 listed: bool = True) -> None:
        self.steps.append(ProgramStep(name, HOST, names, in_slots, out_slots, host=host,
                                      listed=listed))

    def add_kernel(self, kernel: Kernel, in_slots, out_slots, names, flops, nbytes) -> None:
        kind = EXTERN if is_extern(kernel) else KERNEL
        self.steps.append(ProgramStep(kernel.name, kind, names, in_slots, out_slots,
                                      kernel=kernel, flops=flops, bytes=nbytes))

    def bytes_of(self, inputs, outputs) -> int:
        return sum(math.prod(self.shapes[t]) * t.dtype.size
                   for t in list(inputs) + list(outputs))

    def matmul_flops(self, op: Operation) -> int:
        a = self.shapes[op.inputs[0]]
        k = a[-2] if op.attrs.get("transpose_a") else a[-1]
        return 2 * math.prod(self.shapes[op.outputs[0]]) * k


def lower(fetches: list[Tensor | Operation], feeds: list[Tensor], feed_shapes: list[tuple],
          constants: dict | None = None, late=()) -> LoweredProgram:
    """The program computing `fetches` from `feeds` of these concrete shapes; compiles
    nothing. `constants` (tensor -> array) is filled with the constant arrays the program
    uses and reused by later programs given the same dict: a function's plans share one
    copy. Fetches in `late` may have shapes known only once computed (a first stage);
    any other such tensor raises LateShapes."""
    return Lowerer(fetches, feeds, feed_shapes, constants, late).lower()
