"""tf.summary.FileWriter: TensorBoard event files.

An event file is a sequence of TFRecords, each `Event` protobuf framed as its length
(uint64), the masked CRC32C of the length, the bytes, and their masked CRC32C; the
first event says `file_version: "brain.Event:2"`, later ones carry a wall time, a step
and a Summary (what summary ops compute) or a GraphDef. The tensorboard package
provides all of it (its copies of TF's protobufs, and the EventFileWriter its own
summary writer uses, which frames, checksums and writes from a background thread), so
graphjit does not write its own: it is an optional extra, and FileWriter says how to
install it when it is missing.
"""

from __future__ import annotations

import os
import time

from graphjit.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    MissingDependencyError,
    user_source_line,
)
from graphjit.graph import Graph

INSTALL = "pip install 'graphjit[tensorboard]'"


def require_tensorboard(what: str):
    """tensorboard's event and summary protobuf modules; a clear error without it."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer import event_file_writer  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} at {user_source_line()} needs the tensorboard package, which is not "
            f"installed ({exc}): {INSTALL}") from None
    return event_pb2, summary_pb2


class FileWriter:
    """Writes summaries and graphs to an event file in `logdir`, for TensorBoard
    (TF1's tf.summary.FileWriter). Events are queued and written by a background
    thread: every `flush_secs` seconds, and on `flush()` and `close()`."""

    def __init__(self, logdir, graph: Graph | None = None, max_queue: int = 10,
                 flush_secs: float = 120, graph_def=None, filename_suffix: str | None = None,
                 session=None):
        self._event_pb2, self._summary_pb2 = require_tensorboard("tf.summary.FileWriter")
        try:
            self._logdir = os.fspath(logdir)
        except TypeError:
            raise InvalidArgumentError(f"FileWriter: logdir must be a path, got "
                                       f"{logdir!r:.60}") from None
        if session is not None and graph is None:
            graph = session.graph
        self._options = (int(max_queue), flush_secs, filename_suffix or "")
        self._writer = None
        self.reopen()
        if graph is not None or graph_def is not None:
            self.add_graph(graph, graph_def=graph_def)

    def get_logdir(self) -> str:
        return self._logdir

    def reopen(self) -> None:
        """After close(): write further events to a new event file in the same logdir."""
        if self._writer is not None:
            return
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        max_queue, flush_secs, suffix = self._options
        try:
            self._writer = EventFileWriter(self._logdir, max_queue, flush_secs, suffix)
        except OSError as exc:
            raise InvalidArgumentError(f"FileWriter: cannot write an event file in "
                                       f"'{self._logdir}': {exc}") from None

    def add_event(self, event) -> None:
        """Write an Event protobuf (tensorboard's event_pb2.Event)."""
        if self._writer is None:
            raise FailedPreconditionError(f"this FileWriter of '{self._logdir}' is closed: "
                                          "call reopen() to write to a new event file")
        if not isinstance(event, self._event_pb2.Event):
            raise InvalidArgumentError(f"add_event takes an Event protobuf, got "
                                       f"{type(event).__name__}")
        self._writer.add_event(event)

    def _add(self, global_step, **fields) -> None:
        event = self._event_pb2.Event(wall_time=time.time(), **fields)
        if global_step is not None:
            event.step = int(global_step)
        self.add_event(event)

    def add_summary(self, summary, global_step=None) -> None:
        """Write a summary: the bytes a summary op computed (what sess.run returns for
        it), or a Summary protobuf; `global_step` is the step TensorBoard plots it at."""
        proto = self._summary_pb2.Summary()
        if hasattr(summary, "item") and getattr(summary, "shape", None) == ():
            summary = summary.item()  # a 0-d array from a compiled function's out=
        if isinstance(summary, bytes):
            try:
                proto.ParseFromString(summary)
            except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError
                raise InvalidArgumentError(f"add_summary: the bytes are not a serialized "
                                           f"Summary protobuf ({exc})") from None
        elif hasattr(summary, "SerializeToString"):
            proto.ParseFromString(summary.SerializeToString())
        else:
            raise InvalidArgumentError(
                f"add_summary takes the value of a summary op (bytes) or a Summary protobuf, "
                f"got {type(summary).__name__} (fetch the summary op with sess.run first)")
        self._add(global_step, summary=proto)

    def add_graph(self, graph: Graph | None, global_step=None, graph_def=None) -> None:
        """Write the graph (as a TF GraphDef) for TensorBoard's graph tab; `graph_def`
        may give a GraphDef protobuf or its bytes instead."""
        if graph_def is None:
            if not isinstance(graph, Graph):
                raise InvalidArgumentError(f"add_graph takes a graphjit.Graph (sess.graph), "
                                           f"got {type(graph).__name__}")
            from graphjit.summary.graph_def import graph_def as make_graph_def
            graph_def = make_graph_def(graph)
        data = graph_def if isinstance(graph_def, bytes) else graph_def.SerializeToString()
        self._add(global_step, graph_def=data)

    def flush(self) -> None:
        """Write every queued event to disk now."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (reopen() starts a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
