"""Graphs travel to workers in graphjit's own saved format: data, never code.

`to_bytes` writes the graph with `graphjit.save` (JSON + npz in one zip) and keys it by
the SHA-256 of those bytes; `from_bytes` reads it back with `graphjit.load`, which
checks everything before building ops. The same graph gives the same key in every
process, so workers cache what they compiled from it under that key.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from graphjit.graph import Graph
from graphjit.io import LoadedGraph, load, save


def to_bytes(graph: Graph, fetches: list, feeds: list) -> tuple[str, bytes]:
    """(content hash, bytes of the saved graph)."""
    with tempfile.TemporaryDirectory(prefix="graphjit-ship-") as tmp:
        path = os.path.join(tmp, "graph.gjz")
        save(graph, path, fetches=fetches, feeds=feeds)
        with open(path, "rb") as f:
            data = f.read()
    return hashlib.sha256(data).hexdigest(), data


def from_bytes(data: bytes) -> LoadedGraph:
    """The graph saved in `data`: a new Graph, with the same op names."""
    with tempfile.TemporaryDirectory(prefix="graphjit-ship-") as tmp:
        path = os.path.join(tmp, "graph.gjz")
        with open(path, "wb") as f:
            f.write(data)
        return load(path)
