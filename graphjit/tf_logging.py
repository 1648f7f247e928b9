"""TF1's tf.logging on Python's logging, under the logger `graphjit.tf_logging`.

TF1 scripts log progress with `tf.logging.info` after `set_verbosity(tf.logging.INFO)`.
As TF's, the levels are Python's, nothing below WARN shows until the verbosity is
lowered, and a stderr handler is added on first use only when the program has
configured no logging of its own (no handler on the root logger).
"""

from __future__ import annotations

import logging as _logging
import sys as _sys
import threading as _threading

DEBUG = _logging.DEBUG
INFO = _logging.INFO
WARN = _logging.WARN
ERROR = _logging.ERROR
FATAL = _logging.FATAL

LOGGER_NAME = "graphjit.tf_logging"

_handler_lock = _threading.Lock()
_handler_checked = False
_counts: dict = {}  # per call site (file, line): calls seen, for log_every_n/log_first_n


def get_logger() -> _logging.Logger:
    """The logger tf.logging writes to (TF's tf.get_logger)."""
    global _handler_checked
    logger = _logging.getLogger(LOGGER_NAME)
    if not _handler_checked:
        with _handler_lock:
            if not _handler_checked and not _logging.getLogger().handlers \
                    and not logger.handlers:
                handler = _logging.StreamHandler(_sys.stderr)
                handler.setFormatter(_logging.Formatter(_logging.BASIC_FORMAT))
                logger.addHandler(handler)
            _handler_checked = True
    return logger


def set_verbosity(v: int) -> None:
    """Show messages at level `v` (DEBUG, INFO, WARN, ERROR, FATAL) and above."""
    get_logger().setLevel(v)


def get_verbosity() -> int:
    return get_logger().getEffectiveLevel()


def log(level: int, msg, *args, **kwargs) -> None:
    get_logger().log(level, msg, *args, **kwargs)


def debug(msg, *args, **kwargs) -> None:
    get_logger().debug(msg, *args, **kwargs)


def info(msg, *args, **kwargs) -> None:
    get_logger().info(msg, *args, **kwargs)


def warning(msg, *args, **kwargs) -> None:
    get_logger().warning(msg, *args, **kwargs)


warn = warning


def error(msg, *args, **kwargs) -> None:
    get_logger().error(msg, *args, **kwargs)


def fatal(msg, *args, **kwargs) -> None:
    """Logs at FATAL; as TF's, it does not end the program."""
    get_logger().fatal(msg, *args, **kwargs)


def vlog(level: int, msg, *args, **kwargs) -> None:
    get_logger().log(level, msg, *args, **kwargs)


def log_if(level: int, msg, condition, *args) -> None:
    if condition:
        get_logger().log(level, msg, *args)


def _next_count() -> int:
    """How many times the line calling log_every_n/log_first_n has called it before."""
    frame = _sys._getframe(2)
    key = (frame.f_code.co_filename, frame.f_lineno)
    with _handler_lock:
        count = _counts.get(key, 0)
        _counts[key] = count + 1
    return count


def log_every_n(level: int, msg, n: int, *args) -> None:
    """Log on this line's 1st, (n+1)th, (2n+1)th ... call."""
    count = _next_count()
    if count % max(int(n), 1) == 0:
        get_logger().log(level, msg, *args)


def log_first_n(level: int, msg, n: int, *args) -> None:
    """Log on this line's first n calls only."""
    if _next_count() < n:
        get_logger().log(level, msg, *args)


def flush() -> None:
    for handler in get_logger().handlers:
        handler.flush()


from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.logging")
