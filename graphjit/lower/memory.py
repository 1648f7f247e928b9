"""`fn.memory()`: a plan's intermediate memory, buffer by buffer, in graph terms.

The runtime shares a buffer between intermediates whose lifetimes do not overlap
(runtime.plan.assign_buffers); this says which tensors each buffer holds, which step
writes each and from which step to which it lives, so a user can see what makes the peak.
"""

from __future__ import annotations

from graphjit.lower.program import LoweredProgram
from runtime.plan import Plan, live_ranges


def memory_report(plan: Plan, program: LoweredProgram | None) -> dict:
    """The planned totals (planned_peak_bytes, intermediate_bytes, output_bytes) and
    `buffers`: for each shared buffer its bytes and the values it holds in turn, each with
    its tensor, op, shape, dtype, bytes, the step writing it and its live range in steps
    (indices into `steps`, the plan's step names in order). The buffers' bytes sum to
    planned_peak_bytes."""
    ranges = live_ranges(plan)
    tensors: dict[int, list] = {}  # storage slot -> graph tensors held there (views too)
    if program is not None:
        for tensor, slot in program.slot_of.items():
            root = slot
            while plan.slots[root].role == "view":
                root = plan.slots[root].base
            if root in plan.buffer_of:
                tensors.setdefault(root, []).append(tensor)
    writer = {}
    for index, step in enumerate(plan.steps):
        for s in step.outputs:
            writer.setdefault(s, index)
    buffers = [{"buffer": b, "bytes": size, "values": []}
               for b, size in enumerate(plan.buffer_sizes)]
    for slot, (b, nbytes) in sorted(plan.buffer_of.items(), key=lambda item: ranges[item[0]]):
        spec = plan.slots[slot]
        held = sorted(tensors.get(slot, []), key=lambda t: t.name)
        first, last = ranges[slot]
        buffers[b]["values"].append({
            "tensors": [t.name for t in held], "ops": [t.op.name for t in held],
            "shape": tuple(spec.shape), "dtype": spec.dtype.name, "bytes": nbytes,
            "written_by": plan.steps[writer[slot]].name if slot in writer else None,
            "live_steps": (first, last)})
    for buffer in buffers:
        buffer["tensors"] = [name for v in buffer["values"] for name in v["tensors"]]
    return {"planned_peak_bytes": plan.peak_bytes(),
            "intermediate_bytes": plan.intermediate_bytes(),
            "output_bytes": plan.output_bytes(),
            "buffers": buffers,
            "steps": [step.name for step in plan.steps]}
