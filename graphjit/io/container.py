"""The bytes on disk: `graph.json` + `arrays.npz`, in one zip file or in a directory.

Arrays are written with `np.lib.format.write_array(allow_pickle=False)` and read
with `np.load(allow_pickle=False)`, so no file can hold (or make us run) a
pickle. Every read failure becomes a LoadError naming the file.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib

import numpy as np

from codegen.cache import atomic_write
from graphjit import dtypes
from graphjit.errors import DTypeError, LoadError

GRAPH_ENTRY = "graph.json"
ARRAYS_ENTRY = "arrays.npz"

# What reading a damaged zip or npy can raise, besides OSError.
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError, OSError)


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


def read_npz(data: bytes, where: str) -> dict[str, np.ndarray]:
    """Every array of an .npz, read now (so a damaged one fails here, named)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except _CORRUPT as exc:
        raise LoadError(f"{where} is not a readable .npz (corrupt or truncated): "
                        f"{type(exc).__name__}: {exc}") from None
    for key, array in arrays.items():
        try:
            dtypes.as_dtype(array.dtype)
        except DTypeError:
            raise LoadError(f"{where}: array '{key}' has dtype {array.dtype}, which graphjit "
                            "does not support") from None
    return arrays


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


def read_graph_file(path: str) -> tuple[bytes, bytes]:
    """The bytes of graph.json and arrays.npz from a zip file or a directory."""
    if os.path.isdir(path):
        return (_read_file(path, os.path.join(path, GRAPH_ENTRY)),
                _read_file(path, os.path.join(path, ARRAYS_ENTRY)))
    if not os.path.exists(path):
        raise LoadError(f"{path}: no such file or directory")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for entry in (GRAPH_ENTRY, ARRAYS_ENTRY):
                if entry not in names:
                    raise LoadError(f"{path}: the archive has no '{entry}' entry (is it a "
                                    "graphjit file? it holds "
                                    f"{', '.join(sorted(names)) or 'nothing'})")
            return zf.read(GRAPH_ENTRY), zf.read(ARRAYS_ENTRY)
    except LoadError:
        raise
    except _CORRUPT as exc:
        raise LoadError(f"{path}: not a readable graphjit file (corrupt or truncated zip): "
                        f"{type(exc).__name__}: {exc}") from None


def _read_file(directory: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise LoadError(f"{directory}: the directory has no '{os.path.basename(path)}' "
                        "(a graphjit directory holds graph.json and arrays.npz)") from None
    except OSError as exc:
        raise LoadError(f"{path}: cannot be read: {exc}") from None
