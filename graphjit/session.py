"""The execute phase: a Session runs fetches of one graph with a feed_dict (TF1 semantics)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from graphjit import interpreter
from graphjit.errors import (
    GraphMismatchError,
    InvalidArgumentError,
    NoDefaultSessionError,
    SessionClosedError,
    user_source_line,
)
from graphjit.feeds import as_result, flatten_fetches, prepare_feeds
from graphjit.graph import Graph, Operation, Tensor, _graph_stack, get_default_graph
from graphjit.profiler import step_stats
from runtime import trace
from runtime.trace import Recorder

_default_sessions = threading.local()
# Compiled functions a session keeps, one per (fetches, fed tensors), least recently used
# dropped first: a program fetching ever new tensors keeps bounded memory.
MAX_COMPILED_FETCH_SETS = 128


class Session:
    """Runs parts of a graph; holds per-session state such as variable values.

    Usable as a context manager (the default session inside, closed on exit) or a plain
    object with close(); `sess.as_default()` makes it the default without closing it.
    """

    def __init__(self, target: str = "", graph: Graph | None = None, config=None,
                 engine: str = "compiled"):
        if engine not in ("compiled", "reference"):
            raise InvalidArgumentError(f"engine must be 'compiled' (native kernels) or "
                                       f"'reference' (the NumPy interpreter), got {engine!r}")
        self.graph = graph if graph is not None else get_default_graph()
        self.engine = engine
        self._closed = False
        self.state: dict = {}  # per-session values of stateful ops (variables)
        self._compiled: OrderedDict[tuple, object] = OrderedDict()
        self._defaults: list[_DefaultSession] = []  # the `with sess:` blocks it is in

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Evaluate `fetches` (a tensor, op, name, or nested list/tuple/dict of them).
        `options=RunOptions(trace_level=RunOptions.FULL_TRACE)` with a `run_metadata`
        records the run into run_metadata.step_stats (graphjit.client.timeline)."""
        if self._closed:
            raise SessionClosedError("attempted to use a closed Session")
        leaves, rebuild = flatten_fetches(self.graph, fetches)
        if trace.active or options is not None:
            return self._run_traced(leaves, rebuild, feed_dict, options, run_metadata)
        return self._run(leaves, rebuild, feed_dict)

    def _run_traced(self, leaves, rebuild, feed_dict, options, run_metadata):
        """run() as a span of the traces recording, and recorded into
        run_metadata.step_stats when `options` asks (TF1's RunOptions trace_level)."""
        recorder = None
        if run_metadata is not None and getattr(options, "trace_level", 0):
            recorder = Recorder().start()
        try:
            with trace.span("Session.run", "session", {
                    "fetches": [leaf.name for leaf in leaves], "engine": self.engine}):
                return self._run(leaves, rebuild, feed_dict)
        finally:
            if recorder is not None:
                recorder.stop()
                run_metadata.step_stats = step_stats(recorder)

    def _run(self, leaves, rebuild, feed_dict):
        feeds = prepare_feeds(self.graph, feed_dict)
        if self.engine == "reference":
            values = interpreter.evaluate(leaves, feeds, self.state)
        else:
            values = self._run_compiled(leaves, feeds)
        results = []
        for leaf, value in zip(leaves, values):
            if isinstance(leaf, Tensor) and leaf in feeds and self.engine == "reference":
                value = value.copy()  # a fed tensor fetched back is not the fed buffer
            results.append(as_result(value))
        return rebuild(results)

    def _run_compiled(self, leaves, feeds):
        """Compile once per (fetches, fed tensors) and run natively."""
        from graphjit.api import CompiledFunction
        fed = tuple(feeds)
        key = (tuple(leaves), fed)
        fn = self._compiled.get(key)
        if fn is None:
            fn = self._compiled[key] = CompiledFunction(
                self.graph, list(leaves), list(fed),
                origin="a Session.run of fetches and feeds this session had not run")
            while len(self._compiled) > MAX_COMPILED_FETCH_SETS:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        arrays = [feeds[t] for t in fed]  # fresh C-ordered copies (prepare_feeds)
        return fn.run_arrays(arrays, self.state)

    def close(self) -> None:
        self._closed = True
        self.state.clear()
        self._compiled.clear()  # its plans, buffers and kernels can be freed

    def as_default(self):
        """A context making this the default session (and its graph the default graph),
        which `tensor.eval()` and `op.run()` use; unlike `with sess:`, leaving it does not
        close the session."""
        return _DefaultSession(self)

    def __enter__(self) -> Session:
        if self._closed:
            raise SessionClosedError("attempted to use a closed Session")
        default = _DefaultSession(self)
        default.__enter__()
        self._defaults.append(default)
        return self

    def __exit__(self, *exc) -> None:
        self._defaults.pop().__exit__(*exc)
        self.close()

    def __del__(self):
        self._closed = True


class InteractiveSession(Session):
    """A Session that makes itself the default session, and its graph the default graph,
    from its creation until `close()`: for shells and notebooks, where `t.eval()` and
    `op.run()` run without a `with` block (TF1's tf.InteractiveSession)."""

    def __init__(self, target: str = "", graph: Graph | None = None, config=None,
                 engine: str = "compiled"):
        super().__init__(target, graph, config, engine)
        _stack().append(self)
        _graph_stack().append(self.graph)
        self._installed = True

    def close(self) -> None:
        super().close()
        if getattr(self, "_installed", False):
            # Not necessarily on top: TF lets an interactive session close out of order.
            self._installed = False
            _remove_last(_stack(), self)
            _remove_last(_graph_stack(), self.graph)


def _remove_last(stack: list, item) -> None:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is item:
            del stack[i]
            return


class _DefaultSession:
    def __init__(self, session: Session):
        self.session = session

    def __enter__(self):
        stack = _stack()
        stack.append(self.session)
        self._graph_ctx = self.session.graph.as_default()
        self._graph_ctx.__enter__()
        return self.session

    def __exit__(self, *exc):
        self._graph_ctx.__exit__(*exc)
        _remove_last(_stack(), self.session)


def _stack() -> list:
    if not hasattr(_default_sessions, "stack"):
        _default_sessions.stack = []
    return _default_sessions.stack


def get_default_session() -> Session | None:
    """The innermost session of `with sess:`, `with sess.as_default():` or an open
    InteractiveSession on this thread; None when there is none (as TF's)."""
    stack = _stack()
    return stack[-1] if stack else None


def run_in_session(element: Tensor | Operation, feed_dict, session: Session | None):
    """`tensor.eval()` and `op.run()`: run `element` in `session`, else in the default
    session, which must exist and hold the element's graph (TF's errors otherwise)."""
    is_tensor = isinstance(element, Tensor)
    what = f"tensor '{element.name}'" if is_tensor else f"operation '{element.name}'"
    call, verb = ("eval", "evaluate") if is_tensor else ("run", "execute")
    if session is None:
        session = get_default_session()
        if session is None:
            raise NoDefaultSessionError(
                f"cannot {verb} {what} using `{call}()` at "
                f"{user_source_line()}: no default session is registered. Use `with "
                f"sess.as_default():` (or `with graphjit.Session() as sess:`, or a "
                f"graphjit.InteractiveSession) or pass an explicit session to "
                f"`{call}(session=sess)`")
        whose = "the default session"
        hint = f"; pass an explicit session to `{call}(session=sess)`"
    else:
        whose, hint = "the given session", ""
    if session.graph is not element.graph:
        raise GraphMismatchError(
            f"cannot use {whose} to {verb} {what} at "
            f"{user_source_line()}: its graph is different from the session's graph{hint}")
    return session.run(element, feed_dict)
