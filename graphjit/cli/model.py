"""A model file as the command line sees it: a saved graph (`.gjz`, file or folder) or an
ONNX model, reduced to what every subcommand needs (its graph, inputs, outputs and a
compiled function), plus the input arrays the subcommands feed it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from graphjit.errors import Error, MissingDependencyError
from graphjit.graph import Graph, Tensor, format_spec

if TYPE_CHECKING:  # graphjit.onnx needs the onnx extra: imported only for a .onnx model
    from graphjit.api import CompiledFunction
    from graphjit.io import LoadedGraph
    from graphjit.onnx import OnnxGraph

ONNX_SUFFIX = ".onnx"
_ONNX_EXTRA = ("reading an .onnx model needs the onnx extra: pip install 'graphjit[onnx]'")


class UsageError(Error):
    """The command line itself is wrong (exit status 2, as argparse's own errors)."""


@dataclass
class Model:
    """A loaded model: its graph, the tensors it is fed and those it computes, in order."""

    path: str
    graph: Graph
    inputs: list[Tensor]
    outputs: list  # tensors, or operations a saved graph records as fetches
    source: LoadedGraph | OnnxGraph  # what loading returned: it compiles itself
    about: str = ""  # what the file is, for `inspect`

    def compile(self) -> CompiledFunction:
        """The outputs compiled from the inputs (a saved graph's variables restored)."""
        return self.source.compile()

    def results(self, fn: CompiledFunction, arrays: dict[str, np.ndarray]) -> dict:
        """{output name: array} of one call (a fetched operation has no value)."""
        values = fn(**arrays)  # the function checks names, dtypes and shapes (FeedError)
        if not isinstance(values, (list, tuple)):
            values = [values]
        return {display_name(leaf): np.asarray(value)
                for leaf, value in zip(self.outputs, values) if isinstance(leaf, Tensor)}


def open_model(path: str) -> Model:
    """Load `path` by its kind: `.onnx` through graphjit.onnx, anything else as a saved
    graph (graphjit.load checks the file and names what is wrong)."""
    if path.lower().endswith(ONNX_SUFFIX) and not os.path.isdir(path):
        return _open_onnx(path)
    from graphjit.io import load
    loaded = load(path)
    return Model(path, loaded.graph, list(loaded.feeds), list(loaded.fetches),
                 loaded, f"a graph saved by graphjit {loaded.graphjit_version}")


def _open_onnx(path: str) -> Model:
    try:
        import graphjit.onnx as graphjit_onnx
    except ImportError:
        raise MissingDependencyError(_ONNX_EXTRA) from None
    graph = graphjit_onnx.import_model(path)
    return Model(path, graph, list(graph.inputs), list(graph.outputs), graph,
                 f"an ONNX model, opset {graph.opset}")


def display_name(element) -> str:
    """An input or output as the user names it: the op name for a first output
    ("probs"), the tensor name otherwise ("split:1")."""
    if isinstance(element, Tensor):
        return element.name if element.value_index else element.op.name
    return element.name


def input_name(tensor: Tensor) -> str:
    """The name a compiled function takes the input by (its placeholder's name)."""
    return tensor.op.name


def describe(element) -> str:
    """`probs float32[?,10]`, or `train_op (op)` for an operation fetch."""
    if isinstance(element, Tensor):
        return f"{display_name(element)} {format_spec(element.shape, element.dtype)}"
    return f"{element.name} (op)"


# -- input arrays -------------------------------------------------------------------------

def batch_shape(tensor: Tensor, batch: int) -> tuple[int, ...]:
    """The tensor's shape with every unknown dimension set to `batch`."""
    if tensor.shape.unknown_rank:
        raise Error(f"input '{input_name(tensor)}' has no known rank, so no example "
                         "input can be made for it: feed it with `graphjit run --input`")
    return tuple(batch if d is None else d for d in tensor.shape)


def example_inputs(model: Model, batch: int, seed: int = 0) -> list[np.ndarray]:
    """Random arrays of the inputs' specs at `batch`: floats from a standard normal,
    booleans at random, integers all zero, the one value valid as an index into any
    non-empty axis (random integers would make a Gather or an embedding fail)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape, dtype = batch_shape(tensor, batch), tensor.dtype
        if dtype.is_string:
            raise Error(f"input '{input_name(tensor)}' holds strings, so no example "
                             "input can be made for it: feed it with `graphjit run --input`")
        if dtype.np.kind == "f" or dtype.np.kind == "c":
            arrays.append(rng.standard_normal(shape).astype(dtype.np))
        elif dtype.np.kind == "b":
            arrays.append(rng.random(shape) < 0.5)
        else:
            arrays.append(np.zeros(shape, dtype.np))
    return arrays


def parse_input_options(options: list[str], model: Model) -> dict[str, str]:
    """`--input NAME=FILE` options as {input name: file}; a bare FILE is allowed when the
    model has exactly one input. Names are checked later, by the compiled function."""
    files: dict[str, str] = {}
    for option in options:
        name, sep, file = option.partition("=")
        if not sep:
            if len(model.inputs) != 1:
                names = ", ".join(input_name(t) for t in model.inputs) or "none"
                raise UsageError(f"--input {option!r}: write NAME=FILE.npy (the model's "
                                 f"inputs: {names})")
            name, file = input_name(model.inputs[0]), option
        if name in files:
            raise UsageError(f"--input gives '{name}' twice")
        files[name] = file
    return files


def read_input_arrays(files: dict[str, str]) -> dict[str, np.ndarray]:
    """Each file read as data only (.npy, no pickles)."""
    arrays = {}
    for name, file in files.items():
        try:
            array = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise Error(f"cannot read the input '{name}' from {file}: {exc}") from None
        if not isinstance(array, np.ndarray):  # an .npz holds several arrays
            array.close()
            raise UsageError(f"--input {name}={file}: expected an .npy file holding one array")
        arrays[name] = array
    return arrays
