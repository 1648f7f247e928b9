"""TF's file API (`tf.io.gfile`; TF1's CamelCase `tf.gfile` is graphjit.gfile) on
local paths, through os, shutil and glob.

TF scripts read data and write models through gfile so the same code works on
Cloud Storage or HDFS. graphjit reads and writes local files only: a path with
another scheme (`gs://`, `hdfs://`, `s3://`) is an UnsupportedError naming it;
`file://` paths are local. Failures are TF's errors: NotFoundError for what does
not exist, AlreadyExistsError for what would be overwritten.
"""

from __future__ import annotations

import glob as _glob
import os
import re
import shutil
from collections import namedtuple
from collections.abc import Iterator

from graphjit.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnsupportedError,
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

FileStatistics = namedtuple("FileStatistics", ["length", "mtime_nsec", "is_directory"])


def local_path(path) -> str:
    """`path` as a local file name; other file systems are refused, naming the path."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = path.decode()
    match = _SCHEME.match(path)
    if match:
        if match.group(1).lower() != "file":
            raise UnsupportedError(f"graphjit's gfile reads and writes local files only, not "
                                   f"'{path}' ({match.group(1)}:// file system)")
        path = path[len("file://"):]
    return path


def _os_error(exc: OSError, what: str, path: str):
    """The TF error for a failed file operation, naming it and the path."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(f"{what} '{path}': {reason}")
    if isinstance(exc, FileExistsError):
        return AlreadyExistsError(f"{what} '{path}': {reason}")
    return FailedPreconditionError(f"{what} '{path}': {reason}")


class GFile:
    """A file (TF's GFile/FastGFile/Open): read, readline, readlines, iteration, write,
    seek/tell, flush, close, a context manager. "r"/"w"/"a" read and write str
    (UTF-8), with "b" bytes; write takes either, as TF's."""

    def __init__(self, name, mode: str = "r"):
        self.name = name
        self.mode = mode
        if mode.replace("b", "") not in ("r", "w", "a") or mode.count("b") > 1:
            raise InvalidArgumentError(f"GFile '{name}': mode {mode!r} is not one of 'r', "
                                       "'w', 'a' (with an optional 'b')")
        self._binary = "b" in mode
        path = local_path(name)
        try:
            self._file = open(path, mode.replace("b", "") + "b")
        except OSError as exc:
            raise _os_error(exc, "cannot open", path) from None

    def _text(self, data: bytes):
        return data if self._binary else data.decode("utf-8")

    def read(self, n: int = -1):
        return self._text(self._file.read(n))

    def readline(self):
        return self._text(self._file.readline())

    def readlines(self) -> list:
        return [self._text(line) for line in self._file.readlines()]

    def __iter__(self) -> Iterator:
        return (self._text(line) for line in self._file)

    def __next__(self):
        line = self._file.readline()
        if not line:
            raise StopIteration
        return self._text(line)

    next = __next__

    def write(self, data) -> None:
        self._file.write(data.encode("utf-8") if isinstance(data, str) else bytes(data))

    def seek(self, offset=None, whence: int = 0, position=None) -> int:
        return self._file.seek(position if offset is None else offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def size(self) -> int:
        self._file.flush()
        return os.fstat(self._file.fileno()).st_size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def seekable(self) -> bool:
        return True

    def __enter__(self) -> GFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<graphjit.gfile.GFile {self.name!r} mode={self.mode!r}>"


def exists(path) -> bool:
    return os.path.exists(local_path(path))


def isdir(path) -> bool:
    return os.path.isdir(local_path(path))


def makedirs(path) -> None:
    """Make `path` and its parents; an existing directory is fine."""
    path = local_path(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise _os_error(exc, "cannot make directory", path) from None


def mkdir(path) -> None:
    """Make one directory; its parent must exist and it must not."""
    path = local_path(path)
    try:
        os.mkdir(path)
    except OSError as exc:
        raise _os_error(exc, "cannot make directory", path) from None


def listdir(path) -> list[str]:
    """The names in directory `path` (sorted; no "." or "..")."""
    path = local_path(path)
    if not os.path.isdir(path):
        raise NotFoundError(f"cannot list '{path}': no such directory")
    return sorted(os.listdir(path))


def glob(pattern) -> list[str]:
    """The paths matching `pattern` (or any of a list of patterns)."""
    patterns = [pattern] if isinstance(pattern, (str, bytes, os.PathLike)) else list(pattern)
    return sorted({p for pat in patterns for p in _glob.glob(local_path(pat))})


def remove(path) -> None:
    """Delete one file."""
    path = local_path(path)
    try:
        os.remove(path)
    except OSError as exc:
        raise _os_error(exc, "cannot remove", path) from None


def rmtree(path) -> None:
    """Delete a directory and everything under it (or a file)."""
    path = local_path(path)
    if not os.path.exists(path):
        raise NotFoundError(f"cannot delete '{path}': it does not exist")
    try:
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    except OSError as exc:
        raise _os_error(exc, "cannot delete", path) from None


def _check_target(what: str, src: str, dst: str, overwrite: bool) -> None:
    if not os.path.exists(src):
        raise NotFoundError(f"cannot {what} '{src}': it does not exist")
    if os.path.exists(dst) and not overwrite:
        raise AlreadyExistsError(f"cannot {what} '{src}' to '{dst}': the target exists "
                                 "(pass overwrite=True)")


def copy(src, dst, overwrite: bool = False) -> None:
    src, dst = local_path(src), local_path(dst)
    _check_target("copy", src, dst, overwrite)
    try:
        shutil.copyfile(src, dst)
    except OSError as exc:
        raise _os_error(exc, "cannot copy to", dst) from None


def rename(src, dst, overwrite: bool = False) -> None:
    src, dst = local_path(src), local_path(dst)
    _check_target("rename", src, dst, overwrite)
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise _os_error(exc, "cannot rename to", dst) from None


def stat(path) -> FileStatistics:
    """Size, modification time (ns) and whether it is a directory."""
    path = local_path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(exc, "cannot stat", path) from None
    return FileStatistics(st.st_size, st.st_mtime_ns, os.path.isdir(path))


def walk(top, topdown: bool = True, onerror=None) -> Iterator[tuple[str, list, list]]:
    """(directory, subdirectory names, file names) under `top`, as os.walk; nothing
    for a directory that does not exist, as TF's."""
    for dirpath, dirnames, filenames in os.walk(local_path(top), topdown=topdown,
                                                 onerror=onerror):
        dirnames.sort()
        yield dirpath, dirnames, sorted(filenames)


__all__ = ["GFile", "exists", "isdir", "makedirs", "mkdir", "listdir", "glob", "remove",
           "rmtree", "copy", "rename", "stat", "walk"]

from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.io.gfile")
