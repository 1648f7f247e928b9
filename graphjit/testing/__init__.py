"""Testing helpers shipped with graphjit: a registry-driven random-graph generator and
a differential check of compiled results against the NumPy reference interpreter
(used by tests/graphjit/test_random_graphs.py and `python -m benchmarks.fuzz`)."""

from graphjit.testing.program import Program, build, reproducer
from graphjit.testing.random_graphs import generate
