"""The subcommands that work on a model: inspect, profile, run and viz. Each takes the
parsed arguments and a print function, and returns the exit status."""

from __future__ import annotations

import os
from argparse import Namespace
from collections import Counter
from collections.abc import Callable

import numpy as np

from graphjit.cli.model import (
    Model,
    UsageError,
    describe,
    example_inputs,
    input_name,
    open_model,
    parse_input_options,
    read_input_arrays,
)
from graphjit.errors import Error
from graphjit.graph import Tensor, format_spec
from graphjit.io.npz import human_bytes

OPS_LISTED = 100  # characters of a step's fused op names before "..."
PREVIEW = {"threshold": 8, "edgeitems": 2, "precision": 4, "max_line_width": 88}


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fed_text(model: Model, arrays: list[np.ndarray]) -> str:
    """`x float32[64,784]`: the shapes a plan was made for."""
    return ", ".join(f"{input_name(t)} {format_spec(a.shape, t.dtype)}"
                     for t, a in zip(model.inputs, arrays)) or "no inputs"


def _op_counts(model: Model, fn) -> str:
    from graphjit.graph_queries import ops_needed
    leaf_ops = [leaf.op if isinstance(leaf, Tensor) else leaf for leaf in model.outputs]
    needed = [op for op in ops_needed(leaf_ops, set(model.inputs))
              if op.type != "Placeholder"]
    counts = ", ".join(f"{n} {t}" for t, n in Counter(op.type for op in needed).most_common())
    text = f"{len(needed)} needed by the outputs ({counts or 'none'})"
    optimized = getattr(fn, "graph", None)  # none for inputs of unknown rank
    if optimized is not None:
        kept = sum(op.type != "Placeholder" for op in optimized.get_operations())
        text += f"; {kept} after optimization"
    return text


# -- inspect ------------------------------------------------------------------------------

def inspect(args: Namespace, out: Callable[[str], None]) -> int:
    """What a model takes and computes, and the kernels its plan runs at `--batch`."""
    model = open_model(args.model)
    fn = model.compile()
    arrays = example_inputs(model, args.batch)
    fn(*arrays)  # plans (and compiles) for these shapes: the plan shown is this one
    if args.ir:
        out(fn.ir(args.ir))
        return 0
    out(f"model    {model.path} ({model.about})")
    out(f"inputs   {', '.join(describe(t) for t in model.inputs) or 'none'}")
    out(f"outputs  {', '.join(describe(t) for t in model.outputs)}")
    out(f"ops      {_op_counts(model, fn)}")
    try:
        steps = fn.kernels
    except Error as exc:  # a plan made in stages as it runs has no single list of steps
        out(f"plan     {exc}")
        return 0
    kinds = Counter(str(step.kind) for step in steps)
    out(f"plan     for {_fed_text(model, arrays)}: {len(steps)} steps ("
        + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) + ")")
    width = max((len(step.name) for step in steps), default=0)
    for step in steps:
        ops = _shorten(", ".join(step.ops), OPS_LISTED)
        out(f"  {step.name:<{width}}  {str(step.kind):<6}  {ops}")
    memory = fn.memory()
    out(f"memory   {human_bytes(memory['planned_peak_bytes'])} planned for intermediates "
        f"(unshared: {human_bytes(memory['intermediate_bytes'])}), outputs "
        f"{human_bytes(memory['output_bytes'])}")
    return 0


# -- profile ------------------------------------------------------------------------------

def profile(args: Namespace, out: Callable[[str], None]) -> int:
    """Time every step on random inputs of the model's specs at `--batch`."""
    model = open_model(args.model)
    fn = model.compile()
    if args.report is not None and getattr(fn, "report", None) is None:
        raise Error("--report is not available in this version of graphjit (it needs "
                    "CompiledFunction.report)")
    arrays = example_inputs(model, args.batch)
    report = fn.profile(*arrays, repeat=args.repeat)
    out(f"profile of {model.path} for {_fed_text(model, arrays)}, {args.repeat} runs")
    out(str(report))
    if args.trace is not None:
        report.save_trace(args.trace)
        out(f"wrote the trace to {args.trace} (open it in ui.perfetto.dev or "
            "chrome://tracing)")
    if args.report is not None:
        fn.report(args.report)
        out(f"wrote the report to {args.report}")
    return 0


# -- run ----------------------------------------------------------------------------------

def run(args: Namespace, out: Callable[[str], None]) -> int:
    """Run a model on inputs read from .npy files; show or save what it computes."""
    model = open_model(args.model)
    arrays = read_input_arrays(parse_input_options(args.input, model))
    named = model.results(model.compile(), arrays)
    if args.output is not None:
        np.savez(args.output, **named)
        out(f"wrote {len(named)} output(s) to {args.output}: "
            + ", ".join(f"{name} {format_spec(v.shape, v.dtype)}" for name, v in named.items()))
        return 0
    for name, value in named.items():
        out(f"{name} {format_spec(value.shape, value.dtype)}")
        preview = np.array2string(value, **PREVIEW)
        out("  " + preview.replace("\n", "\n  "))
    return 0


# -- viz ----------------------------------------------------------------------------------

DOT_SUFFIXES = (".dot", ".gv")


def viz(args: Namespace, out: Callable[[str], None]) -> int:
    """Draw the graph (or, with --plan, the compiled plan at --batch) as DOT or SVG."""
    suffix = os.path.splitext(args.output or "")[1].lower()
    if args.output is not None and suffix not in DOT_SUFFIXES + (".svg",):
        raise UsageError(f"-o {args.output}: name a .svg or .dot file")
    model = open_model(args.model)
    if args.plan:
        fn = model.compile()
        fn(*example_inputs(model, args.batch))
        dot = fn.to_dot(args.max_nodes)
    else:
        from graphjit.viz import to_dot
        dot = to_dot(model.graph, args.max_nodes)
    if args.output is None:
        out(dot)
        return 0
    if suffix == ".svg":
        from graphjit.viz import render_svg
        text = render_svg(dot)  # a MissingDependencyError says how to get Graphviz
    else:
        text = dot
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    out(f"wrote {args.output}")
    return 0
