"""Error types of graphjit and the capture of the user's source line.

Every error derives from `Error`, so `except graphjit.Error` catches all of them;
each also derives from the builtin a Python user would expect (ValueError,
TypeError, KeyError), as TensorFlow's do.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from codegen.record import Record

# Frames from these folders are graphjit's own; the first frame outside them
# is the user's line.
_PACKAGE_DIRS = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), name) + os.sep
    for name in ("graphjit", "codegen", "runtime")
)
_SKIPPED_FILES = ("contextlib.py",)


class Error(Exception):
    """Base class of every error graphjit raises."""


class GraphError(Error):
    """A graph could not be built as asked (build time)."""


class ShapeError(GraphError, ValueError):
    """Shapes are incompatible: broadcasting, axes, perms, reshape sizes."""


class UnknownRankError(ShapeError):
    """Code needed the rank of a tensor known only when a value is fed (a placeholder
    made without a shape, or an op computed from one)."""


class DTypeError(GraphError, TypeError):
    """An op got a dtype it does not accept, or two operands disagree."""


class GraphMismatchError(GraphError, ValueError):
    """Tensors from two different graphs were mixed."""


class VariableError(GraphError, ValueError):
    """get_variable could not create or share a variable as asked: it exists and the
    scope does not reuse, it is missing and the scope reuses, or the shared one has
    another shape or dtype (a ValueError worded as TF's)."""


class NotFoundError(GraphError, KeyError):
    """A tensor or operation name does not exist in the graph."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnsupportedError(GraphError, NotImplementedError):
    """A feature graphjit does not provide (yet)."""


class UnsupportedNameError(UnsupportedError, AttributeError):
    """A TF name graphjit does not have (`tf.foo`): an AttributeError too, so hasattr()
    and getattr(module, name, default) behave as for any missing attribute."""

    def __init__(self, message: str, name: str | None = None):
        super().__init__(message)
        self.name = name


class NotDifferentiableError(GraphError, ValueError):
    """`gradients` was asked for a gradient whose only paths pass through an op that
    has none (a comparison, argmax, a cast to an integer, ...); the message names it."""


class InvalidArgumentError(Error, ValueError, TypeError):
    """An argument graphjit cannot use: a fetch that is no tensor, operation or name, an
    unknown engine. Both a ValueError and a TypeError, as Python's checks raise either."""


class FeedError(Error, ValueError):
    """A run-time feed is missing or does not fit its tensor."""


class SessionClosedError(Error, RuntimeError):
    """A closed Session was used."""


class NoDefaultSessionError(Error, ValueError):
    """`tensor.eval()`, `op.run()` or `variable.load()` found no default session (a
    ValueError, as TF's): open one with `with sess.as_default():` or pass session=."""


class FailedPreconditionError(Error, RuntimeError):
    """An op ran on state that is not ready, e.g. it read a variable never initialized."""


class ResourceExhaustedError(Error, MemoryError):
    """A tensor or plan needs more memory than the machine has: refused before
    anything is allocated, naming the op or plan and the bytes it would take."""


class LoadError(Error, ValueError):
    """A saved graph or checkpoint cannot be used: unreadable, corrupt, newer than this
    graphjit, or inconsistent. The message names the file and what is wrong in it."""


class MissingDependencyError(Error, ImportError):
    """A feature needs an optional package that is not installed; the message names the
    extra that installs it (`pip install 'graphjit[tensorboard]'`)."""


class AlreadyExistsError(Error, FileExistsError):
    """Something to create exists already: a file `gfile.Copy` or `Rename` would
    overwrite without overwrite=True, a directory `gfile.MkDir` would make."""


class OutOfRangeError(Error, IndexError):
    """TF's end-of-input error. graphjit has no queues or readers that raise it; it
    exists for `except tf.errors.OutOfRangeError:` and as the clean stop of a
    `train.Coordinator`."""


class InternalError(Error):
    """graphjit broke one of its own invariants: a bug to report, not a user mistake."""


class CompileError(Error):
    """Lowering or native compilation of a kernel failed."""


@dataclass(frozen=True, eq=False, repr=False)
class SourceLine(Record):
    """Where the user created an op: shown in every error about it."""

    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}"


def user_source_line() -> SourceLine | None:
    """The innermost stack frame that is not inside graphjit (the user's line)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIRS) and not filename.endswith(_SKIPPED_FILES):
            return SourceLine(filename, frame.f_lineno)
        frame = frame.f_back
    return None


from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402 - needs the above

__getattr__ = _module_getattr(__name__, "tf.errors")
