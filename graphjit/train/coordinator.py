"""TF1's thread coordination: `train.Coordinator`, and queue runners, which graphjit
lacks.

TF1 input pipelines ran queue runners on threads under a Coordinator. graphjit
has no queues (feed data with feed_dict instead), so `start_queue_runners` starts
nothing and returns [], which keeps the usual `coord = Coordinator(); threads =
start_queue_runners(sess, coord) ... coord.request_stop(); coord.join(threads)`
working; building a QueueRunner is an UnsupportedError. The Coordinator itself is
TF's and works for the user's own threads.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from graphjit.errors import Error, OutOfRangeError, UnsupportedError
from graphjit.tf_logging import info


class CoordinatorError(Error, RuntimeError):
    """`Coordinator.join` found threads still running after the grace period."""


class Coordinator:
    """Threads check `should_stop()` and call `request_stop(ex)` to stop all of them; a
    reported exception is re-raised by `join` (TF's tf.train.Coordinator). Exceptions
    of `clean_stop_exception_types` (OutOfRangeError by default) stop without error."""

    def __init__(self, clean_stop_exception_types=None):
        if clean_stop_exception_types is None:
            clean_stop_exception_types = (OutOfRangeError,)
        self._clean_stop_exception_types = tuple(clean_stop_exception_types)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._exc_info_to_raise = None
        self._joined = False
        self._registered_threads: set = set()

    def _filter_exception(self, ex):
        value = ex[1] if isinstance(ex, tuple) else ex
        return None if isinstance(value, self._clean_stop_exception_types) else ex

    def request_stop(self, ex=None) -> None:
        """Ask every thread to stop; `ex` (an exception or sys.exc_info()) is kept, the
        first one only, for join() to raise. After join, an `ex` is raised at once."""
        with self._lock:
            ex = self._filter_exception(ex)
            if self._joined and ex is not None:
                raise ex[1] if isinstance(ex, tuple) else ex
            if not self._stop_event.is_set():
                if ex is not None and self._exc_info_to_raise is None:
                    value = ex[1] if isinstance(ex, tuple) else ex
                    info("Error reported to Coordinator: %s, %s", type(value), value)
                    self._exc_info_to_raise = value
                self._stop_event.set()

    def clear_stop(self) -> None:
        with self._lock:
            self._joined = False
            self._exc_info_to_raise = None
            self._stop_event.clear()

    def should_stop(self) -> bool:
        return self._stop_event.is_set()

    @contextlib.contextmanager
    def stop_on_exception(self):
        """`with coord.stop_on_exception():` turns an exception inside into request_stop."""
        try:
            yield
        except:  # noqa: E722 - as TF's: any exception, also SystemExit, stops the threads
            self.request_stop(ex=sys.exc_info())

    def wait_for_stop(self, timeout: float | None = None) -> bool:
        """Wait until a stop is requested (or `timeout` seconds); True if it was."""
        return self._stop_event.wait(timeout)

    def register_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._registered_threads.add(thread)

    def join(self, threads=None, stop_grace_period_secs: float = 120,
             ignore_live_threads: bool = False) -> None:
        """Wait for `threads` (and the registered ones) to end, or for a stop request
        and then up to `stop_grace_period_secs` more; raise the exception a thread
        reported, else a CoordinatorError naming the threads still alive."""
        with self._lock:
            threads = list(self._registered_threads.union(threads or ()))
        while any(t.is_alive() for t in threads) and not self.wait_for_stop(0.01):
            pass
        deadline = time.monotonic() + stop_grace_period_secs
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stragglers = [t.name for t in threads if t.is_alive()]
        with self._lock:
            self._joined = True
            self._registered_threads = set()
            if self._exc_info_to_raise is not None:
                raise self._exc_info_to_raise
            if stragglers and not ignore_live_threads:
                raise CoordinatorError("Coordinator stopped with threads still running: "
                                       + " ".join(stragglers))

    @property
    def joined(self) -> bool:
        return self._joined

    def raise_requested_exception(self) -> None:
        """Raise the exception reported with request_stop, if any."""
        with self._lock:
            if self._exc_info_to_raise is not None:
                raise self._exc_info_to_raise


def start_queue_runners(sess=None, coord=None, daemon: bool = True, start: bool = True,
                        collection: str = "queue_runners") -> list:
    """Starts nothing and returns []: graphjit has no queues (feed data with feed_dict)."""
    return []


def _no_queues(name: str) -> UnsupportedError:
    return UnsupportedError(f"graphjit has no queues, so no tf.train.{name}: feed the "
                            "input with feed_dict (start_queue_runners starts nothing)")


class QueueRunner:
    """Refused: graphjit has no queues to run."""

    def __init__(self, *args, **kwargs):
        raise _no_queues("QueueRunner")


def add_queue_runner(qr=None, collection: str = "queue_runners") -> None:
    raise _no_queues("add_queue_runner")
