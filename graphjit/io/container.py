"""The bytes on disk: `graph.json` + `arrays.npz`, in one zip file or in a directory.

Arrays are written with `np.lib.format.write_array(allow_pickle=False)` and read
back by graphjit.io.npz, which never unpickles and checks each .npy header before
it reads the data. Every read failure becomes a LoadError naming the file.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Iterator

import numpy as np

from codegen.cache import atomic_write
from graphjit.errors import LoadError
from graphjit.io.npz import CORRUPT, Budget, NpzReader

GRAPH_ENTRY = "graph.json"
ARRAYS_ENTRY = "arrays.npz"


def is_directory_path(path: str) -> bool:
    """The rule for which form `save` writes: a path ending in a separator, or one naming
    an existing directory, is a directory; anything else is one zip file."""
    return path.endswith(("/", os.sep)) or os.path.isdir(path)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz (uncompressed zip of .npy files) of `arrays`, never pickling."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for key, array in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def write_graph_file(path: str, graph_json: bytes, arrays: dict[str, np.ndarray]) -> None:
    """The two entries, as a zip file or a directory (see is_directory_path)."""
    npz = npz_bytes(arrays)
    if is_directory_path(path):
        os.makedirs(path, exist_ok=True)
        atomic_write(os.path.join(path, ARRAYS_ENTRY), npz)
        atomic_write(os.path.join(path, GRAPH_ENTRY), graph_json)
        return
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(GRAPH_ENTRY, graph_json, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(ARRAYS_ENTRY, npz, compress_type=zipfile.ZIP_STORED)
    atomic_write(path, buffer.getvalue())


@contextlib.contextmanager
def open_graph_file(path: str, budget: Budget) -> Iterator[tuple[bytes, NpzReader]]:
    """The bytes of graph.json and a reader of arrays.npz, from a zip file or a directory.

    graph.json's size (uncompressed) is taken from `budget` before it is read; the
    arrays are read later, only those asked for (NpzReader), from the open file.
    """
    where = f"{path}: {ARRAYS_ENTRY}"
    with contextlib.ExitStack() as stack:
        if os.path.isdir(path):
            graph_path = os.path.join(path, GRAPH_ENTRY)
            graph_json = _read_file(path, graph_path, budget)
            arrays = stack.enter_context(_open_file(path, os.path.join(path, ARRAYS_ENTRY)))
        else:
            if not os.path.exists(path):
                raise LoadError(f"{path}: no such file or directory")
            try:
                zf = stack.enter_context(zipfile.ZipFile(path))
                names = set(zf.namelist())
                for entry in (GRAPH_ENTRY, ARRAYS_ENTRY):
                    if entry not in names:
                        raise LoadError(f"{path}: the archive has no '{entry}' entry (is it a "
                                        "graphjit file? it holds "
                                        f"{', '.join(sorted(names)) or 'nothing'})")
                info = zf.getinfo(GRAPH_ENTRY)
                budget.take(info.file_size, f"{path}: {GRAPH_ENTRY}")
                graph_json = zf.read(info)
                arrays = stack.enter_context(zf.open(ARRAYS_ENTRY))
            except LoadError:
                raise
            except CORRUPT as exc:
                raise LoadError(f"{path}: not a readable graphjit file (corrupt or truncated "
                                f"zip): {type(exc).__name__}: {exc}") from None
        reader = NpzReader(arrays, where, budget)
        stack.callback(reader.close)
        yield graph_json, reader


def _read_file(directory: str, path: str, budget: Budget) -> bytes:
    with _open_file(directory, path) as f:
        try:
            budget.take(os.fstat(f.fileno()).st_size, path)
            return f.read()
        except OSError as exc:
            raise LoadError(f"{path}: cannot be read: {exc}") from None


def _open_file(directory: str, path: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise LoadError(f"{directory}: the directory has no '{os.path.basename(path)}' "
                        "(a graphjit directory holds graph.json and arrays.npz)") from None
    except OSError as exc:
        raise LoadError(f"{path}: cannot be read: {exc}") from None
