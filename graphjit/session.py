"""The execute phase: a Session runs fetches of one graph with a feed_dict (TF1 semantics)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from graphjit import interpreter
from graphjit.errors import InvalidArgumentError, SessionClosedError
from graphjit.feeds import as_result, flatten_fetches, prepare_feeds
from graphjit.graph import Graph, Tensor, get_default_graph

_default_sessions = threading.local()
# Compiled functions a session keeps, one per (fetches, fed tensors), least recently used
# dropped first: a program fetching ever new tensors keeps bounded memory.
MAX_COMPILED_FETCH_SETS = 128


class Session:
    """Runs parts of a graph; holds per-session state such as variable values.

    Usable as a context manager (closed on exit) or a plain object with close().
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

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Evaluate `fetches` (a tensor, op, name, or nested list/tuple/dict of them)."""
        if self._closed:
            raise SessionClosedError("attempted to use a closed Session")
        leaves, rebuild = flatten_fetches(self.graph, fetches)
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
            fn = self._compiled[key] = CompiledFunction(self.graph, list(leaves), list(fed))
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
        return _DefaultSession(self)

    def __enter__(self) -> Session:
        if self._closed:
            raise SessionClosedError("attempted to use a closed Session")
        self._default = _DefaultSession(self)
        self._default.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._default.__exit__(*exc)
        self.close()

    def __del__(self):
        self._closed = True


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
        _stack().pop()


def _stack() -> list:
    if not hasattr(_default_sessions, "stack"):
        _default_sessions.stack = []
    return _default_sessions.stack


def get_default_session() -> Session:
    stack = _stack()
    if not stack:
        raise SessionClosedError("no default session: use `with graphjit.Session() as sess:`")
    return stack[-1]


InteractiveSession = Session
