"""`graphjit.compile(graph)`: a graph becomes a Python callable running native kernels.

A CompiledFunction plans once per input-shape signature (shape propagation,
fusion, kernel compilation, buffer planning) and then each call only checks its
inputs, runs the plan's steps and returns fresh output arrays. It keeps the
`max_plans` plans used last (each holds buffers sized for its shapes; all share one
copy of the constants), so a stream of new batch sizes cannot grow memory without end.

State (variables, random generators) stays out of plans: a plan is a pure
function of arrays. The variables a call reads and the random values it draws
are extra plan inputs taken from the state dict before the run; the values its
Assign ops compute (in ordinary fused kernels) are extra plan outputs stored
into the state after it.

Ops whose output size depends on values (boolean_mask) split a call into plans run
in turn (graphjit.staged).

Plans are tiered where it pays: a product that would get a packed kernel (graphjit.
lower.packed_matmul: costly to compile, faster per call) is first planned as a BLAS
call; once that plan has served PACKED_AFTER_CALLS calls at its signature, the
signature is planned again with packed kernels, and the new plan replaces the old one
(whole: a call runs one plan or the other, never a mix). Until then calls at that
signature take the general path, which counts them, not the plan's runner. Packed
kernels already compiled (in memory, or in the disk cache) are planned at once. Products
the packed rule leaves to BLAS only for their many rows are packed too at the switch,
and then the two plans take calls in turn until the faster is known (graphjit.plan_race).
"""

from __future__ import annotations

import contextlib
import functools
import operator
import os
import threading
from collections import OrderedDict
from time import perf_counter
from typing import TYPE_CHECKING

import numpy as np

from codegen.loopir import format_kernel
from graphjit import compile_log
from graphjit.errors import (
    Error,
    FailedPreconditionError,
    FeedError,
    GraphError,
    InvalidArgumentError,
    UnsupportedError,
)
from graphjit.feeds import as_result, convert_feed, flatten_fetches, prepare_feeds
from graphjit.graph import Graph, Operation, Tensor, format_spec
from graphjit.graph_queries import ops_needed
from graphjit.lower import packed_matmul
from graphjit.lower.planner import listed_steps, plan_executor, shared_buffers
from graphjit.lower.program import lower
from graphjit.passes import graph_outputs, optimize
from graphjit.plan_info import (
    INSPECTED,
    PACKED_TIER,
    RACE_LOST,
    CacheInfo,
    PlanHistory,
    describe_fetches,
)
from graphjit.plan_race import Race
from graphjit.registry import get_op_def
from graphjit.specialize import RankDispatch, has_unknown_rank
from graphjit.staged import Stages, computed_ops, dynamic_ops
from runtime import collector, trace
from runtime.runner import MISS, no_runner

if TYPE_CHECKING:  # (memory, profile and explain import what they use when called)
    from graphjit.lower.explain import Explanation

STAGES = ("graph", "loops", "python", "llvm", "asm")
DEFAULT_MAX_PLANS = 64
_STAGED = ("{} is not supported for this function: a while loop in it changes the shapes "
           "of its variables, so its plan is made in stages as it runs")
MAX_TRACES = 64  # traces a @jit function keeps (one per dtype/rank/static-value signature)


def _max_plans(value) -> int:
    """compile's max_plans, else GRAPHJIT_MAX_PLANS, else DEFAULT_MAX_PLANS."""
    source = "max_plans"
    if value is None:
        value = os.environ.get("GRAPHJIT_MAX_PLANS") or DEFAULT_MAX_PLANS
        source = "GRAPHJIT_MAX_PLANS"
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or isinstance(value, (bool, float)):
        raise InvalidArgumentError(f"{source} must be a positive integer (the number of "
                                   f"input-shape plans a function keeps), got {value!r}")
    return n


def _resolve(graph_or_fetches, fetches):
    if isinstance(graph_or_fetches, Graph):
        graph = graph_or_fetches
        if fetches is None:
            fetches = graph_outputs(graph)
            if len(fetches) == 1:
                fetches = fetches[0]
        return graph, fetches
    if fetches is not None:
        raise GraphError("pass either a graph with fetches=..., or the fetches themselves")
    leaves, _ = flatten_fetches(_any_graph(graph_or_fetches), graph_or_fetches)
    return leaves[0].graph, graph_or_fetches


def _any_graph(structure) -> Graph:
    if isinstance(structure, (Tensor, Operation)):
        return structure.graph
    if isinstance(structure, (list, tuple, dict)):
        for item in structure.values() if isinstance(structure, dict) else structure:
            if isinstance(item, (Tensor, Operation, list, tuple, dict)):
                return _any_graph(item)
    raise InvalidArgumentError("compile() needs a Graph, a Tensor, or a structure of "
                               f"Tensors, got {type(structure).__name__} {structure!r}")


def default_feeds(leaves: list) -> list[Tensor]:
    """The placeholders that fetch `leaves` (Tensors/Operations) need, in graph order:
    the inputs `compile` (and `graphjit.onnx.export`) take when none are given."""
    fetch_ops = [f.op if isinstance(f, Tensor) else f for f in leaves]
    return [op.outputs[0] for op in ops_needed(fetch_ops, set()) if op.type == "Placeholder"]


def _finisher(leaves: list, rebuild):
    """The fetch structure from the fetched tensors' values (None for operations; 0-d
    values as NumPy scalars). A closure over no CompiledFunction: a plan's runner holds
    it, and a cycle back to the function would keep its plans alive until a collection."""
    tensors = [isinstance(leaf, Tensor) for leaf in leaves]

    def finish(values):
        it = iter(values)
        return rebuild([as_result(next(it)) if tensor else None for tensor in tensors])
    return finish


def _keyword_getter(names: list[str]):
    """What turns a call's keywords, one per input, into the positional arguments a
    runner takes (KeyError for any other name); None where two inputs share a name
    or one is named out (out= keeps its meaning)."""
    if not names or len(set(names)) != len(names) or "out" in names:
        return None
    if len(names) == 1:
        (name,) = names
        return lambda kwargs: (kwargs[name],)
    return operator.itemgetter(*names)


def _per_specialization(method):
    """Inspecting a function whose graph is specialized per fed rank (graphjit.specialize)
    inspects the specialization its example inputs pick, else the one called last."""
    @functools.wraps(method)
    def inspect(self, *args, **kwargs):
        if self._ranked is None:
            return method(self, *args, **kwargs)
        return self._ranked.inspect(self, method.__name__, args, kwargs)
    return inspect


class CompiledFunction:
    """A graph compiled for fixed fetches and feeds; call it with the feed values."""

    def __init__(self, graph: Graph, fetches, feeds=None, passes=None, state: dict | None = None,
                 max_plans: int | None = None, *, origin: str = "", tiered: bool = True):
        """`origin`: why this function was made, when graphjit made it (new fetches for a
        Session.run, a rank specialization...): the compile logs' reason for its first plan.
        `tiered`: BLAS-first plans switching to packed kernels (see above); off for a
        loop's cond and body, whose plans a native loop driver takes as they are."""
        self.max_plans = _max_plans(max_plans)
        self.source_graph = graph
        self.leaves, self._rebuild = flatten_fetches(graph, fetches)
        self._finish = _finisher(self.leaves, self._rebuild)
        if feeds is None:
            feeds = default_feeds(self.leaves)
        self.feeds: list[Tensor] = [graph.as_graph_element(f, allow_operation=False)
                                    for f in feeds]
        self._by_name = {t.op.name: t for t in self.feeds}
        self._keyword_args = _keyword_getter([t.op.name for t in self.feeds])
        # (None for a string feed: its object arrays are always checked for bytes)
        self._dtypes = [None if t.dtype.is_string else t.dtype.np for t in self.feeds]
        self._single = isinstance(fetches, Tensor)  # a lone tensor fetch: skip rebuilding
        self.state: dict = {} if state is None else state  # variables, when not a Session's
        self._stages = None
        self._fast = no_runner  # the runner of the plan called last (runtime.runner)
        self._fast_dtypes = None  # the input dtypes runners check; None: no runners
        self._origin = origin
        self._tiered = tiered
        self._plan_history = PlanHistory(self.max_plans)  # why each plan was built, its cost
        self.optimize_seconds = 0.0
        compile_log.apply_environment()
        if origin:
            compile_log.new_function(self._label, origin)
        # A placeholder made without a shape: the graph is specialized per fed rank.
        self._ranked = RankDispatch(self.leaves, self.feeds, passes, self.state,
                                    self.max_plans) \
            if has_unknown_rank(self.leaves, self.feeds) else None
        if self._ranked is not None:
            return
        # Plans are built from the optimized graph; the caller keeps speaking of the
        # original one (its tensors, names and feed_dict keys).
        with collector.paused(), trace.span("optimize", "plan", {"fetches": [
                getattr(leaf, "name", str(leaf)) for leaf in self.leaves]}):
            self.graph, self.optimize_report = optimize(graph, self.leaves, passes,
                                                        keep=self.feeds, prune=True)
        self.optimize_seconds = self.optimize_report.seconds
        compile_log.graph_optimized(self._label, self.optimize_report)
        self._plan_leaves = [self.optimize_report.fetch_map[f] for f in self.leaves]
        self._plan_feeds = [self.optimize_report.lookup(t) for t in self.feeds]
        self._find_state()
        # Plans by input-shape signature, least recently used first; `_last` is the one
        # used last (a call at the same shapes as the previous one reorders nothing).
        self._executors: OrderedDict[tuple, tuple] = OrderedDict()
        self._constants: dict = {}  # the constant arrays all plans share
        self._lock = threading.Lock()
        self._last = None
        # signature -> [calls served] of the BLAS-first plans awaiting packed kernels
        self._warming: dict[tuple, list] = {}
        self._races: dict[tuple, Race] = {}  # signature -> its plans racing (plan_race)
        self._packable = {op.name for op in self.graph.get_operations()  # (by constants)
                          if op.type == "MatMul" and op.inputs[1].op.type == "Const"}
        # Ops whose output size depends on values: several plans per call (graphjit.staged).
        dynamic = dynamic_ops(computed_ops(self._plan_leaves, self._plan_feeds))
        self._stages = Stages(self, dynamic) if dynamic else None
        # (`is`, not `in`: np.dtype("float64") == None holds, so a float64 feed would
        # read as a string feed and its function never got a runner)
        if self._stages is None and self._stateless and all(d is not None
                                                            for d in self._dtypes):
            self._fast_dtypes = self._dtypes

    def _find_state(self) -> None:
        """The state ops a call runs: reads (variables, random draws) become extra plan
        feeds, Assign ops extra plan fetches (see the module docstring)."""
        fed = set(self._plan_feeds)
        needed = ops_needed([f.op if isinstance(f, Tensor) else f for f in self._plan_leaves],
                            fed)
        extras = [(op, get_op_def(op.type).extra) for op in needed]
        self._reads = [(op, extra["read_state"]) for op, extra in extras
                       if "read_state" in extra and op.outputs[0] not in fed]
        self._writes = [(op, extra["write_state"]) for op, extra in extras
                        if "write_state" in extra]
        self._all_feeds = self._plan_feeds + [op.outputs[0] for op, _ in self._reads]
        self._all_fetches = self._plan_leaves + [op.outputs[0] for op, _ in self._writes]
        self._state_shapes = [tuple(op.outputs[0].shape) for op, _ in self._reads]
        # A written value also fetched by the caller is copied: the state must not share it.
        self._write_copies = [op.outputs[0] in set(self._plan_leaves) for op, _ in self._writes]
        self._stateless = not (self._reads or self._writes)

    def _execute(self, entry, arrays, state: dict | None, out=None) -> list:
        """Run a plan on the caller's arrays, reading and writing `state` around it."""
        if self._races:  # (timed for the race its plan may be in)
            for signature, race in list(self._races.items()):
                if entry is race.plans[0] or entry is race.plans[1]:
                    start = perf_counter()
                    values = self._run(entry, arrays, state, out)
                    if race.record(entry, perf_counter() - start):
                        self._race_ended(signature, race)
                    return values
        return self._run(entry, arrays, state, out)

    def _run(self, entry, arrays, state: dict | None, out=None) -> list:
        """_execute's run, untimed."""
        if self._stateless:
            return entry[0].run(arrays, out=out) if out else entry[0].run(arrays)
        arrays = list(arrays) + self._read_state(state)
        state = self.state if state is None else state
        values = entry[0].run(arrays, out=out) if out else entry[0].run(arrays)
        if not self._writes:
            return values
        n = len(values) - len(self._writes)
        for (op, write), value, copy in zip(self._writes, values[n:], self._write_copies):
            write(state, op, value.copy() if copy else value)
        return values[:n]

    def _read_state(self, state: dict | None) -> list:
        """The values of the variables and random draws a call reads from `state` (None:
        fn.state, whose uninitialized variables need other advice than a Session's)."""
        try:
            return [read(self.state if state is None else state, op)
                    for op, read in self._reads]
        except FailedPreconditionError:
            op = next((op for op, _ in self._reads
                       if op.type == "VariableV2" and self.state.get(op.name) is None), None)
            if state is not None or op is None:
                raise
            raise FailedPreconditionError(
                f"attempting to use uninitialized variable '{op.name}' "
                f"({format_spec(op.outputs[0].shape, op.outputs[0].dtype)}, created at "
                f"{op.source}) in a compiled function: its variables live in fn.state; "
                "run the initializers into it once, graphjit.compile(graphjit."
                "global_variables_initializer(), state=fn.state)(), or compile with "
                "state=sess.state to share the variables of a Session that ran them") from None

    # -- calling -----------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """Run on the inputs; `out=` (an array, or a list with None where not wanted)
        receives the fetched tensors' values instead of fresh arrays."""
        if not kwargs:  # the latest plan's runner, which checks the arguments itself
            result = self._fast(args)
            if result is not MISS:
                return result
            return self._call(args, None, kwargs)
        if not args and len(kwargs) == len(self.feeds) and self._keyword_args is not None:
            try:  # every input by name (as ONNX callers do): the runner takes them too
                keyed = self._keyword_args(kwargs)
            except KeyError:  # another name (out=, a typo): the general path says which
                pass
            else:
                result = self._fast(keyed)
                if result is not MISS:
                    return result
        return self._call(args, kwargs.pop("out", None), kwargs)

    def _call(self, args, out, kwargs):
        """A call the latest plan's runner did not take: other shapes or dtypes,
        arguments to convert or check (and the errors that name them), out=, keywords,
        a feed_dict, a function planned in stages or per rank, a trace recording."""
        signature = None if kwargs else self._fast_signature(args)
        if signature is None:
            arrays = self._arrays(args, kwargs)
            signature = tuple([a.shape for a in arrays])
        else:
            arrays = args
        if self._ranked is not None:
            if out is not None:
                raise UnsupportedError("out= is not supported for a function whose inputs "
                                       "have unknown rank")
            values = self._ranked.run(arrays, None)
        elif self._stages is not None:
            if out is not None:
                raise self._stages.unsupported("out=")
            values = self._stages.run(arrays, None)
        else:
            entry = self._executors.get(signature)
            if entry is None:
                entry = self._plan(arrays, signature)
            elif entry is not self._last:
                self._touch(signature, entry)
            if self._warming:
                entry = self._served(signature, entry)
            if self._fast_dtypes is not None and entry[1] is not None \
                    and signature not in self._warming:
                self._fast = entry[0].runner(self._fast_dtypes, self._finish, self._single)
                if self._executors.get(signature) is not entry:
                    # another thread replaced this plan (the tier's switch) meanwhile:
                    # its runner must not outlive it (_build resets after storing)
                    self._fast = no_runner
            values = self._execute(entry, arrays, None,
                                   None if out is None else self._out_buffers(entry[1], out))
        if self._single:
            value = values[0]
            return value[()] if value.ndim == 0 else value
        return self._results(values)

    def _out_buffers(self, plan, out) -> dict:
        tensors = [leaf for leaf in self.leaves if isinstance(leaf, Tensor)]
        if plan is None:
            raise UnsupportedError(_STAGED.format("out="))
        if not isinstance(out, (np.ndarray, list, tuple)):
            raise FeedError(f"out= takes an array, or a list of arrays (None to skip one), "
                            f"got {type(out).__name__}")
        buffers = [out] if isinstance(out, np.ndarray) else list(out)
        if len(buffers) != len(tensors):
            raise FeedError(f"out= needs {len(tensors)} array(s), one per fetched tensor "
                            f"(None to skip one); got {len(buffers)}")
        checked = {}
        for position, (tensor, array) in enumerate(zip(tensors, buffers)):
            if array is None:
                continue
            spec = plan.slots[plan.fetch_slots[position]]
            if not isinstance(array, np.ndarray) or array.shape != spec.shape \
                    or array.dtype != spec.dtype or not array.flags.c_contiguous \
                    or not array.flags.writeable:
                raise FeedError(f"out= array for '{tensor.name}' must be a writeable "
                                f"C-contiguous {spec.dtype} array of shape {list(spec.shape)}")
            checked[position] = array
        return checked

    def _fast_signature(self, args) -> tuple | None:
        """The shapes of positional arrays of the right dtypes, C-contiguous (used as they
        are), or None when the arguments need converting (one loop: W6 is per-call cost)."""
        if len(args) != len(self._dtypes):
            return None
        shapes = []
        for value, dtype in zip(args, self._dtypes):
            if type(value) is not np.ndarray or value.dtype is not dtype \
                    or not value.flags.c_contiguous:
                return None
            shapes.append(value.shape)
        return tuple(shapes)

    def run_arrays(self, arrays: list[np.ndarray], state: dict | None = None) -> list:
        """Run on already validated, contiguous arrays (one per feed); a value per leaf
        (None for operations). Variables live in `state` (default: this function's)."""
        if self._ranked is not None or self._stages is not None:
            runner = self._ranked if self._ranked is not None else self._stages
            it = iter(runner.run(arrays, state))
            return [next(it) if isinstance(leaf, Tensor) else None for leaf in self.leaves]
        signature = tuple(a.shape for a in arrays)
        it = iter(self._execute(self._entry_for(arrays, signature), arrays, state))
        return [next(it) if isinstance(leaf, Tensor) else None for leaf in self.leaves]

    def single_plan(self, arrays: list[np.ndarray]):
        """The Executor of the plan for these arrays' shapes when that one plan is the
        whole of a call (no stages, no rank dispatch, no state read or written), else
        None: a loop's host step (graphjit.lower.while_loop) runs it directly."""
        if self._ranked is not None or self._stages is not None or not self._stateless \
                or self._fast_dtypes is None:
            return None
        entry = self._entry_for(arrays, tuple(a.shape for a in arrays))
        return entry[0] if entry[1] is not None else None  # (not a StagedExecutor)

    def _arrays(self, args, kwargs) -> list[np.ndarray]:
        if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            by_tensor = prepare_feeds(self.source_graph, args[0])
            inputs = set(self.feeds)
            extra = [t for t in by_tensor if t not in inputs]
            if extra:  # silently ignoring it would hide a typo or a wrong graph
                raise FeedError(f"'{extra[0].name}' is fed but is not an input of this "
                                f"function, which takes {self._inputs_text()} (compile "
                                "with feeds=[...] to feed other tensors)")
            missing = [t for t in self.feeds if t not in by_tensor]
            if missing:
                raise FeedError(f"missing feed for {missing[0].name} (this function takes "
                                f"{self._inputs_text()})")
            return [by_tensor[t] for t in self.feeds]
        if len(args) > len(self.feeds):
            raise FeedError(f"got {len(args)} positional inputs; this function takes "
                            f"{self._inputs_text()}")
        values = list(args) + [None] * (len(self.feeds) - len(args))
        for name, value in kwargs.items():
            tensor = self._by_name.get(name)
            if tensor is None:
                raise FeedError(f"unknown input '{name}'; this function takes "
                                f"{self._inputs_text()}")
            position = self.feeds.index(tensor)
            if position < len(args):
                raise FeedError(f"input '{name}' is given twice: positionally and by keyword")
            values[position] = value
        arrays = []
        for tensor, dtype, value in zip(self.feeds, self._dtypes, values):
            if value is None:
                raise FeedError(f"missing input '{tensor.op.name}' ({tensor.dtype}, shape "
                                f"{tensor.shape.as_list()})")
            if type(value) is np.ndarray and value.dtype is dtype and value.flags.c_contiguous:
                arrays.append(value)  # kernels never write their inputs: no copy needed
            else:
                arrays.append(convert_feed(tensor, value))  # a fresh C-ordered copy
        return arrays

    def _inputs_text(self) -> str:
        """`2 inputs: x (float32[?,3]), y (int32[])`, for errors about the arguments."""
        if not self.feeds:
            return "no inputs"
        specs = ", ".join(f"{t.op.name} ({format_spec(t.shape, t.dtype)})" for t in self.feeds)
        return f"{len(self.feeds)} input{'s' if len(self.feeds) > 1 else ''}: {specs}"

    def _results(self, values):
        return self._finish(values)

    def _entry_for(self, arrays, signature):
        """The plan for these shapes, made if there is none, marked as used last."""
        entry = self._executors.get(signature)
        if entry is None:
            entry = self._plan(arrays, signature)
        elif entry is not self._last:
            self._touch(signature, entry)
        return self._served(signature, entry) if self._warming else entry

    def _served(self, signature, entry):
        """The plan to run a call at `signature` with: `entry`, counted if it is a
        BLAS-first plan; once that one served PACKED_AFTER_CALLS calls, its packed
        replacement (built here by one thread, under the lock, while other threads
        keep running the old plan, which stays whole)."""
        served = self._warming.get(signature)
        if served is None:
            return entry
        if served[0] < packed_matmul.PACKED_AFTER_CALLS:
            served[0] += 1  # (racing threads may lose a count: the switch comes later)
            return entry
        race = self._races.get(signature)
        if race is not None:
            return race.entry()
        with self._lock:
            if self._warming.get(signature) is not served:  # switched, or evicted
                return self._executors.get(signature, entry)
            race = self._races.get(signature)
            if race is not None:  # (another thread started it meanwhile)
                return race.entry()
            with packed_matmul.racing() as wide:
                packed = self._build(signature, PACKED_TIER, tiered=False)
            if not wide.found:
                return packed
            # products beyond the packed rule: the plans race (still off the runner)
            self._warming[signature] = served
            race = self._races[signature] = Race(entry, packed)
            return race.entry()

    def _race_ended(self, signature, race) -> None:
        """Keep the packed plan, or plan again under the packed rule (its products beyond
        it BLAS calls), as the race found faster."""
        with self._lock:
            if self._races.get(signature) is not race:  # (another thread ended it)
                return
            del self._races[signature]
            if self._executors.get(signature) is not race.plans[1]:  # evicted meanwhile
                return
            if race.packed_won():
                self._warming.pop(signature, None)
                self._fast = no_runner  # (the next call sets the packed plan's runner)
            else:
                self._build(signature, RACE_LOST, tiered=False)

    def _touch(self, signature, entry) -> None:
        self._last = entry
        self._fast = no_runner  # (a call sets the new latest plan's runner)
        try:
            self._executors.move_to_end(signature)
        except KeyError:  # another thread's new plan evicted it meanwhile: still usable
            pass

    def _plan(self, arrays, signature, why: str | None = None):
        with self._lock:
            entry = self._executors.get(signature)
            if entry is not None:
                return entry
            for tensor, array in zip(self.feeds, arrays):
                if not tensor.shape.is_compatible_with(array.shape):
                    convert_feed(tensor, array)  # raises the FeedError that explains it
            return self._build(signature, why, self._tiered and packed_matmul.PACKED_AFTER_CALLS
                               > 0 and not self._packed_cached(signature))

    def _packed_cached(self, signature) -> bool:
        """Whether the packed kernels of a plan for `signature` are all in memory or in
        the disk cache (a warm process or cache): then a first plan has them at once,
        at the cost of lowering it once more (a few ms; compiling nothing)."""
        if not self._packable:
            return False
        from codegen.loopir import is_extern
        from codegen.numba_backend import is_loaded_or_cached
        try:
            # (a scratch copy of the constants: the packed weights this lowering makes
            # belong to no plan yet, and a BLAS-first plan must not keep them alive)
            program = lower(self._all_fetches, self._all_feeds,
                            list(signature) + self._state_shapes, dict(self._constants))
        except Exception:  # (the plan itself raises it, or plans in stages)
            return False
        packed = [s.kernel for s in program.steps if s.kernel is not None and s.ops
                  and s.ops[0] in self._packable and not is_extern(s.kernel)]
        return bool(packed) and all(is_loaded_or_cached(k) for k in packed)

    def _build(self, signature, why: str | None, tiered: bool):
        """Plan `signature` (under the lock), replacing its plan if it has one; `tiered`:
        BLAS first, and counted for the switch if a product was deferred."""
        compile_log.apply_environment()
        previous = next((k for k, v in self._executors.items() if v is self._last), None)
        record = self._plan_history.start(self._input_names(), signature, previous, why,
                                          self._origin)
        compile_log.plan_starting(self._label, record, len(self._executors) + 1,
                                  self.max_plans)
        start = perf_counter()
        # (a plan under the tier notes the products a race would pack; not the plan
        # that lost one, nor one without the tier: a loop body's driver keeps its plans)
        tier = packed_matmul.blas_first(tiered) if self._tiered and why != RACE_LOST \
            and packed_matmul.PACKED_AFTER_CALLS > 0 else contextlib.nullcontext()
        with collector.paused(), trace.span("plan", "plan", {
                "shapes": [list(shape) for shape in signature]}), tier as deferred:
            entry = plan_executor(self._all_fetches, self._all_feeds,
                                  list(signature) + self._state_shapes, self._constants,
                                  self.max_plans, record.kernels)
        record.plan_seconds = perf_counter() - start
        if signature in self._executors:  # the packed plan replacing the BLAS-first one
            self._plan_history.evict(signature)
        self._executors[signature] = entry
        self._executors.move_to_end(signature)
        if deferred is not None and (deferred.found or deferred.beyond):
            self._warming[signature] = [0]
        else:
            self._warming.pop(signature, None)
        self._last = entry
        self._fast = no_runner
        self._plan_history.keep(record)
        while len(self._executors) > self.max_plans:  # its buffers go with it
            evicted, _ = self._executors.popitem(last=False)
            self._evicted(evicted)
        compile_log.plan_built(self._label, record)
        _dump(self, entry)
        return entry

    # -- why plans were built (graphjit.plan_info, graphjit.compile_log) --------------
    @property
    def _label(self) -> str:
        return describe_fetches(self.leaves)

    def _input_names(self) -> list[str]:
        return [t.op.name for t in self.feeds]

    def _evicted(self, signature: tuple) -> None:
        self._warming.pop(signature, None)
        self._races.pop(signature, None)
        record = self._plan_history.evict(signature)
        if record is not None:
            compile_log.plan_evicted(self._label, record.inputs, self.max_plans)

    def cache_info(self) -> CacheInfo:
        """Every plan this function built: its input shapes, when and why it was built,
        its kernels' cache hits and misses and compile seconds, and totals; the plans it
        dropped (max_plans) are listed as evicted. `str()` it for a table, `as_dicts()`
        for the data. A function specialized per rank lists its specializations' plans."""
        if self._ranked is not None:
            return self._ranked.cache_info(self._label)
        plans = list(self._plan_history.records)
        optimize_seconds = self.optimize_seconds
        if self._stages is not None:
            for stage, fn in (("stage 1", self._stages.before), ("stage 2", self._stages.after)):
                info = fn.cache_info()
                plans += [r.labelled(stage) for r in info.plans]
                optimize_seconds += info.optimize_seconds
        return CacheInfo(self._label, plans, self.max_plans, optimize_seconds)

    # -- inspection ----------------------------------------------------------
    def _entry(self):
        if self._stages is not None:
            raise self._stages.unsupported("fn.kernels, ir, memory and profile")
        if self._last is not None:
            return self._last
        shapes = self._static_shapes()
        return self._plan([np.zeros(s, t.dtype.np) for s, t in zip(shapes, self.feeds)],
                          shapes, INSPECTED)

    def _static_shapes(self) -> tuple:
        if all(t.shape.is_fully_defined() for t in self.feeds):
            return tuple(tuple(t.shape) for t in self.feeds)
        raise Error("this function has inputs of unknown shape: call it once (or profile it) "
                    "before asking for its IR, kernels or memory")

    def _lowered(self) -> list:
        """The latest plan's steps; before any plan, those of lowering the feeds' static
        shapes, which compiles nothing (all `ir("loops")` needs)."""
        if self._stages is not None:
            raise self._stages.unsupported("fn.ir")
        if self._last is not None:
            return self._last[2]
        return listed_steps(self._lower_for(self._static_shapes()))

    @property
    @_per_specialization
    def kernels(self) -> list:
        """The steps of the latest plan: name, kind (kernel/extern/view/host), fused graph ops."""
        return list(self._entry()[2])

    @_per_specialization
    def ir(self, stage: str = "loops", *example_inputs, shapes=None) -> str:
        """The text of one stage: graph, loops, python, llvm or asm. Before a call it
        shows the plan for the feeds' static shapes, or for example inputs (arrays, one
        per feed, as a call takes them) or `shapes=[(8, 784), ...]`; "loops" then
        compiles nothing, the other stages plan (and compile) for those shapes."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
        if stage == "graph":
            return self.graph.as_text(self._plan_leaves)
        signature = self._example_signature(example_inputs, shapes)
        if signature is None:
            lowered = self._lowered() if stage == "loops" else self._entry()[2]
        elif stage == "loops" and signature not in self._executors:
            lowered = listed_steps(self._lower_for(signature))
        else:
            lowered = self._entry_for(self._placeholders(signature), signature)[2]
        parts = []
        for step in lowered:
            if step.kernel is None:
                parts.append(f"# {step.kind} step {step.name}: {', '.join(step.ops)}")
            elif stage == "loops":
                parts.append(format_kernel(step.kernel))
            elif stage == "python":
                parts.append(step.compiled.source)
            elif stage == "llvm":
                parts.append(step.compiled.llvm())
            else:
                parts.append(step.compiled.asm())
        return "\n\n".join(parts)

    def _example_signature(self, example_inputs: tuple, shapes) -> tuple | None:
        """The input shapes that example arrays or `shapes=` ask for (None: neither),
        checked against the feeds as a call would check them."""
        if self._stages is not None or self._ranked is not None:
            if example_inputs or shapes is not None:
                raise UnsupportedError("example inputs for ir() are not supported for a "
                                       "function planned in stages or per input rank")
            return None
        if example_inputs and shapes is not None:
            raise InvalidArgumentError("give ir() example arrays or shapes=, not both")
        if example_inputs:
            arrays = self._arrays(example_inputs, {})
            for tensor, array in zip(self.feeds, arrays):
                if not tensor.shape.is_compatible_with(array.shape):
                    convert_feed(tensor, array)  # raises the FeedError a call would
            return tuple(a.shape for a in arrays)
        if shapes is None:
            return None
        if not isinstance(shapes, (list, tuple)) or len(shapes) != len(self.feeds):
            raise FeedError(f"shapes= needs one shape per input; this function takes "
                            f"{self._inputs_text()}")
        signature = []
        for tensor, shape in zip(self.feeds, shapes):
            try:
                shape = tuple(int(d) for d in shape)
            except (TypeError, ValueError):
                shape = None
            if shape is None or any(d < 0 for d in shape) \
                    or not tensor.shape.is_compatible_with(shape):
                raise FeedError(f"shape {shapes[self.feeds.index(tensor)]!r} given for "
                                f"'{tensor.op.name}' does not fit "
                                f"{format_spec(tensor.shape, tensor.dtype)}")
            signature.append(shape)
        return tuple(signature)

    def _placeholders(self, signature: tuple) -> list[np.ndarray]:
        """Arrays of these shapes standing in for inputs where only shapes matter
        (np.zeros: pages untouched until written)."""
        return [np.zeros(s, t.dtype.np) for s, t in zip(signature, self.feeds)]

    def _lower_for(self, signature: tuple):
        """The LoweredProgram for these input shapes, compiling nothing."""
        with collector.paused():
            return lower(self._all_fetches, self._all_feeds,
                         list(signature) + self._state_shapes, self._constants)

    @_per_specialization
    def memory(self) -> dict:
        """Planned bytes of the latest plan: shared intermediate buffers (planned_peak_bytes)
        vs all intermediates unshared, outputs, and `buffers`, the peak buffer by buffer:
        the tensors each holds in turn, the step writing each, their live steps."""
        entry = self._entry()
        if entry[1] is None:
            raise UnsupportedError(_STAGED.format("memory()"))
        from graphjit.lower.memory import memory_report
        return memory_report(entry[1], entry[3])

    @_per_specialization
    def profile(self, *args, repeat: int = 10, **kwargs):
        """Run `repeat` times, timing every step; returns a printable ProfileReport,
        whose `save_trace(path)` writes the runs (and any planning and compiling for
        these shapes) as a Chrome/Perfetto trace."""
        arrays = self._arrays(args, kwargs)
        if self._stages is not None:
            raise self._stages.unsupported("fn.profile")
        with trace.Recorder() as recorder:
            entry = self._entry_for(arrays, tuple(a.shape for a in arrays))
        if entry[1] is None:
            raise UnsupportedError(_STAGED.format("profile()"))
        arrays = list(arrays) + self._read_state(None)
        # (assignments are not stored)
        from runtime.profiler import profile_plan
        return profile_plan(entry[0], arrays, repeat, recorder)


    @_per_specialization
    def report(self, path=None, *example_inputs, repeat: int = 10, **named_inputs) -> str:
        """One self-contained HTML page (no external URL, no script) about the plan for
        the example inputs, else the latest plan (timed on zero-filled inputs of its
        shapes), else the plan for the feeds' static shapes: its picture, the profile of
        `repeat` runs with each kernel against this machine's roofline, memory buffer by
        buffer, each kernel's loop IR, fn.explain()'s boundaries and a timeline of the
        runs. Written to `path` when given; returned either way."""
        from graphjit.lower.memory import memory_report
        from graphjit.viz.report import report_html
        if self._stages is not None:
            raise UnsupportedError("report() is not supported for a function planned in "
                                   "stages")
        if example_inputs or named_inputs:
            profile = self.profile(*example_inputs, repeat=repeat, **named_inputs)
            timed = "the given inputs"
        else:
            latest = next((key for key, entry in list(self._executors.items())
                           if entry is self._last), None)
            signature = latest if latest is not None else self._static_shapes()
            profile = self.profile(*self._placeholders(signature), repeat=repeat)
            timed = "zero-filled inputs of the " + (
                "latest call's shapes" if latest is not None else "inputs' static shapes")
        entry = self._last
        if entry[1] is None:
            raise UnsupportedError(_STAGED.format("report()"))
        title = f"{entry[3].summary}; {profile.calls} profiled runs on {timed}"
        page = report_html(self, profile, memory_report(entry[1], entry[3]), entry[3],
                           entry[2], title)
        if path is not None:
            with open(os.fspath(path), "w", encoding="utf-8") as f:
                f.write(page)
        return page

    # -- pictures and explanations (graphjit.viz, graphjit.lower.explain) --------------
    def _program(self, what: str):
        """The LoweredProgram of the latest plan; before any plan, the one for the feeds'
        static shapes (lowering compiles nothing)."""
        if self._stages is not None:
            raise self._stages.unsupported(what)
        if self._last is None:
            return self._lower_for(self._static_shapes())
        if self._last[3] is None:
            raise UnsupportedError(_STAGED.format(what))
        return self._last[3]

    @_per_specialization
    def explain(self) -> Explanation:
        """Why the latest plan's steps were not fused further: for each value one step
        writes and another reads, the partitioner's reasons, in your op names and source
        lines. `str()` it for a report; `.records` (or iterate) for the data."""
        from graphjit.lower.explain import explain_program
        program = self._program("explain()")
        return explain_program(program, program.summary)

    @_per_specialization
    def to_dot(self, max_nodes: int | None = None) -> str:
        """DOT text of the latest plan: a cluster per kernel, shapes and dtypes on the
        edges, buffers shared by liveness marked (graphjit.viz)."""
        from graphjit.viz.dot import MAX_NODES, program_dot
        program = self._program("pictures")
        plan = self._last[1] if self._last is not None else None
        buffers = plan.buffer_of if plan is not None else shared_buffers(program)
        return program_dot(program, buffers, f"graphjit.compile: {program.summary}",
                           MAX_NODES if max_nodes is None else max_nodes)

    def svg(self, max_nodes: int | None = None) -> str:
        """The picture of `to_dot()` as SVG text; needs Graphviz (the `graphviz` extra and
        its dot program: a MissingDependencyError says so)."""
        from graphjit.viz.render import render_svg
        return render_svg(self.to_dot(max_nodes))

    @_per_specialization
    def __repr__(self) -> str:
        from graphjit.viz.summary import function_repr
        return function_repr(self)

    @_per_specialization
    def _repr_html_(self) -> str:
        from graphjit.viz.summary import function_html
        return function_html(self)


def compile(graph_or_fetches, fetches=None, feeds=None, passes=None,
            state: dict | None = None, max_plans: int | None = None) -> CompiledFunction:
    """Compile a graph (or the fetches of one) into a callable running native kernels.

    Fetches default to the graph's outputs (tensors no op consumes); inputs to the
    placeholders they need, in graph order. Call the result with the inputs
    positionally, by placeholder name, or with a feed_dict. `passes` chooses the
    graph optimizations run first (default pipeline: graphjit.passes.DEFAULT_PASSES;
    "none" to skip them). Variables are read from and assigned into `state`
    (pass `session.state` to share a Session's variables; default: a dict of the
    function's own, `fn.state`). A function's own variables start uninitialized, as
    in a new Session: run the initializers into the same state once, e.g.
    `graphjit.compile(graphjit.global_variables_initializer(), state=fn.state)()`.

    A plan (fused kernels and buffers) is made per input-shape signature; the function
    keeps the `max_plans` used last (default GRAPHJIT_MAX_PLANS, else 64) and plans
    again for shapes it dropped.

    Bad inputs raise graphjit errors: a FeedError names the input; shapes that only
    meet at run time are checked once per new shape signature, a ShapeError naming the
    op, its shapes and your line, a ResourceExhaustedError a plan larger than memory.
    """
    graph, fetches = _resolve(graph_or_fetches, fetches)
    return CompiledFunction(graph, fetches, feeds, passes, state, max_plans)


def _dump(fn: CompiledFunction, entry) -> None:
    stages = [s.strip() for s in os.environ.get("GRAPHJIT_DUMP", "").split(",") if s.strip()]
    if not stages:
        return
    directory = os.environ.get("GRAPHJIT_DUMP_DIR", "graphjit-dump")
    os.makedirs(directory, exist_ok=True)
    base = f"plan{id(entry[0]) & 0xffffff:06x}"
    for stage in stages:
        if stage in STAGES:
            with open(os.path.join(directory, f"{base}.{stage}.txt"), "w") as f:
                f.write(fn.ir(stage))


def _trace_text(names: list[str], key: tuple) -> str:
    """`x float32 rank 2, scale=3.0`: what a @jit trace was made for."""
    parts = []
    for i, (kind, value) in enumerate(key):
        name = names[i] if i < len(names) else f"arg{i}"
        parts.append(f"{name}={value!r}" if kind == "static"
                     else f"{name} {np.dtype(kind).name} rank {value}")
    return ", ".join(parts)


def jit(fn=None):
    """Trace a Python function of tensors into a graph and compile it.

    Each array argument becomes a placeholder with unknown dims, so the function
    compiles once per (dtype, rank) signature; Python scalars and other non-array
    arguments are baked into the trace (a new value traces again). The MAX_TRACES
    signatures used last are kept.

        @graphjit.jit
        def gelu(x):
            return 0.5 * x * (1 + graphjit.tanh(0.79788456 * (x + 0.044715 * x ** 3)))
    """
    if fn is None:
        return jit
    import functools
    import inspect

    from graphjit.graph import Graph
    from graphjit.ops.core import placeholder

    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        names = []
    # One trace per signature, the MAX_TRACES used last: a Python scalar argument that
    # changes every call (a step counter) would otherwise keep every trace forever.
    traces: OrderedDict[tuple, CompiledFunction] = OrderedDict()

    def is_array(value) -> bool:
        return isinstance(value, (np.ndarray, np.generic, list))

    @functools.wraps(fn)
    def wrapper(*args):
        key = tuple((np.asarray(a).dtype.str, np.ndim(a)) if is_array(a) else ("static", a)
                    for a in args)
        compiled = traces.get(key)
        if compiled is None:
            graph = Graph()
            placeholders = []
            with graph.as_default():
                traced_args = []
                for i, a in enumerate(args):
                    if is_array(a):
                        name = names[i] if i < len(names) else f"arg{i}"
                        p = placeholder(np.asarray(a).dtype, [None] * np.ndim(a), name=name)
                        placeholders.append(p)
                        traced_args.append(p)
                    else:
                        traced_args.append(a)
                outputs = fn(*traced_args)
            compiled = traces[key] = CompiledFunction(
                graph, outputs, placeholders,
                origin=f"@jit {getattr(fn, '__name__', fn)} traced for {_trace_text(names, key)}")
            while len(traces) > MAX_TRACES:
                traces.popitem(last=False)
        else:
            traces.move_to_end(key)
        return compiled(*[a for a in args if is_array(a)])

    wrapper.traces = traces
    return wrapper
