"""Registry-driven op test cases: each Case builds a graph with the public API and
gives an independent NumPy expectation (never the op's own reference).

Cases live in one module per op family; `ALL_CASES` gathers them. A test checks
that the cases together cover every registered op type.
"""

from tests.graphjit.cases.base import Case  # noqa: F401
from tests.graphjit.cases.elementwise import CASES as _ELEMENTWISE

ALL_CASES = [*_ELEMENTWISE]
