"""TF1's tf.gfile: the CamelCase names of graphjit.io.gfile (tf.io.gfile), for
local paths only (graphjit.io.gfile says why and what other paths raise)."""

from graphjit.io.gfile import FileStatistics, GFile
from graphjit.io.gfile import copy as Copy  # noqa: N812 - TF's names
from graphjit.io.gfile import exists as Exists  # noqa: N812
from graphjit.io.gfile import glob as Glob  # noqa: N812
from graphjit.io.gfile import isdir as IsDirectory  # noqa: N812
from graphjit.io.gfile import listdir as ListDirectory  # noqa: N812
from graphjit.io.gfile import makedirs as MakeDirs  # noqa: N812
from graphjit.io.gfile import mkdir as MkDir  # noqa: N812
from graphjit.io.gfile import remove as Remove  # noqa: N812
from graphjit.io.gfile import rename as Rename  # noqa: N812
from graphjit.io.gfile import rmtree as DeleteRecursively  # noqa: N812
from graphjit.io.gfile import stat as Stat  # noqa: N812
from graphjit.io.gfile import walk as _walk

Open = GFile
FastGFile = GFile  # TF's unbuffered variant: the same file here


def Walk(top, in_order: bool = True):  # noqa: N802
    """(directory, subdirectories, files) under `top`; parents first when in_order."""
    return _walk(top, topdown=in_order)


__all__ = ["GFile", "Open", "FastGFile", "FileStatistics", "Copy", "Exists", "Glob",
           "IsDirectory", "ListDirectory", "MakeDirs", "MkDir", "Remove", "Rename",
           "DeleteRecursively", "Stat", "Walk"]

from graphjit.unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__, "tf.gfile")
