"""Reading arrays from an .npz without trusting it: only the members asked for, each
checked before a byte of its data is allocated.

An .npy header declares a shape and dtype; NumPy allocates what it declares and
only then finds the data missing, so a 100-byte file can ask for 12 TiB. Here the
declared size must equal the data the zip member holds (its uncompressed size, from
the zip's directory) and fit the load's byte budget (`max_bytes`), and the dtype
must be one graphjit has (never `object`: that would need pickle) before anything
is read. Reads are bounded by the sizes checked, so a zip bomb costs nothing.
"""

from __future__ import annotations

import zipfile
import zlib

import numpy as np

from graphjit import dtypes
from graphjit.errors import DTypeError, LoadError

# The default of `max_bytes` (load, Saver.restore): the most bytes one load reads
# (graph.json plus the arrays it uses, uncompressed) and the largest static size any
# one tensor of a loaded graph may have. Raise it for bigger models.
DEFAULT_MAX_BYTES = 1 << 32  # 4 GiB

# What reading a damaged zip or npy can raise, besides OSError.
CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError, OSError)


def human_bytes(n: int) -> str:
    """`12.0 TiB`: a byte count for messages."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class Budget:
    """The bytes one load may still read: every read takes its declared size first."""

    def __init__(self, max_bytes: int):
        if type(max_bytes) is not int or max_bytes < 0:
            raise TypeError(f"max_bytes must be an int >= 0, got {max_bytes!r}")
        self.max_bytes = self.left = max_bytes

    def take(self, n: int, what: str) -> None:
        if n > self.left:
            spent = self.max_bytes - self.left
            already = f" after {human_bytes(spent)} already read" if spent else ""
            raise LoadError(f"{what} is {human_bytes(n)}{already}, more than max_bytes "
                            f"({human_bytes(self.max_bytes)}) allows; if the file is "
                            "trusted, pass a larger max_bytes")
        self.left -= n


class NpzReader:
    """The arrays of an .npz held in a seekable binary file, read on demand (`get`)."""

    def __init__(self, fileobj, where: str, budget: Budget):
        self.where, self.budget = where, budget
        self._cache: dict[str, np.ndarray] = {}
        try:
            self._zip = zipfile.ZipFile(fileobj)
            self._members = {info.filename: info for info in self._zip.infolist()}
        except CORRUPT as exc:
            raise LoadError(f"{where} is not a readable .npz (corrupt or truncated): "
                            f"{type(exc).__name__}: {exc}") from None

    def keys(self) -> list[str]:
        """The array keys (member names without ".npy")."""
        return sorted(n[:-4] for n in self._members if n.endswith(".npy"))

    def get(self, key: str) -> np.ndarray | None:
        """The array stored as `key`, or None when the .npz has no such member."""
        if key not in self._cache:
            info = self._members.get(key + ".npy")
            if info is None:
                return None
            self._cache[key] = self._read(key, info)
        return self._cache[key]

    def _read(self, key: str, info: zipfile.ZipInfo) -> np.ndarray:
        what = f"{self.where}: array '{key}'"
        self.budget.take(info.file_size, what)
        try:
            with self._zip.open(info) as f:
                shape, fortran, dtype = _header(f, what)
                data_size = info.file_size - f.tell()
                count = 1
                for d in shape:
                    count *= d
                declared = count * dtype.itemsize
                if declared > self.budget.max_bytes:
                    raise LoadError(f"{what}: its header declares shape {shape} {dtype}, "
                                    f"{human_bytes(declared)}, more than max_bytes "
                                    f"({human_bytes(self.budget.max_bytes)}) allows")
                if declared != data_size:
                    raise LoadError(f"{what}: its header declares shape {shape} {dtype} "
                                    f"({human_bytes(declared)}), but the member holds "
                                    f"{human_bytes(max(data_size, 0))} of data (corrupt or "
                                    "truncated)")
                buffer = bytearray(declared)
                if f.readinto(buffer) != declared or f.read(1):
                    raise LoadError(f"{what} is truncated")
        except LoadError:
            raise
        except CORRUPT as exc:
            raise LoadError(f"{what} is not readable (corrupt or truncated): "
                            f"{type(exc).__name__}: {exc}") from None
        array = np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran else "C")
        return array if dtype.isnative else array.astype(dtype.newbyteorder("="))

    def close(self) -> None:
        self._zip.close()


def _header(f, what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy at `f`, checked; `f` is left at the data."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
        raise LoadError(f"{what}: .npy format version {version[0]}.{version[1]} is not read "
                        "(1.0 and 2.0 are)")
    if any(d < 0 for d in shape):
        raise LoadError(f"{what}: its header declares the negative shape {shape}")
    if dtype.hasobject:
        raise LoadError(f"{what} holds Python objects (dtype {dtype}): reading it would need "
                        "pickle, which loading never uses (allow_pickle=False)")
    try:
        dtypes.as_dtype(dtype.newbyteorder("="))  # big-endian arrays are swapped on read
    except DTypeError:
        raise LoadError(f"{what} has dtype {dtype}, which graphjit does not support") from None
    return shape, fortran, dtype


def read_arrays(fileobj, keys, where: str, max_bytes: int = DEFAULT_MAX_BYTES
                ) -> tuple[dict[str, np.ndarray | None], list[str]]:
    """The arrays `keys` of the .npz in `fileobj` (None for a key it lacks), each checked,
    and every key the .npz holds."""
    reader = NpzReader(fileobj, where, Budget(max_bytes))
    try:
        return {key: reader.get(key) for key in keys}, reader.keys()
    finally:
        reader.close()
