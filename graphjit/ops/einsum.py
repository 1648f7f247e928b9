"""tf.einsum: Einstein summation lowered to transpose, reshape, matmul and reduce_sum.

Supported: explicit ("ij,jk->ik") and implicit ("ij,jk": the letters used once, sorted)
equations over any number of operands, each letter one axis: matmul, batch matmul
("bij,bjk->bik"), transposes ("ij->ji"), sums ("ij->i", "ij->"), outer and inner
products, contractions over several letters. Operands are combined left to right; a
pair becomes one batched MatMul (letters in both kept = batch dims, in both summed =
the contraction) with its groups of letters merged by reshapes. A pair with no
contraction (outer and elementwise products) or nothing else (dot products), or whose
reshapes unknown dims leave without a static target, is a broadcast Mul summed over the
contracted axes instead (the same numbers; the compiler fuses it).

Refused with an UnsupportedError: ellipses ("..."), a letter repeated in one operand
(traces and diagonals, "ii->i"). Sizes must match: no broadcasting of size-1 dims.
"""

from __future__ import annotations

from graphjit.errors import ShapeError, UnsupportedError
from graphjit.graph import Tensor
from graphjit.ops._util import convert_operands, op_errors
from graphjit.ops.core import identity
from graphjit.ops.linalg import _product, _static_target, _transposed, matmul
from graphjit.ops.reductions import reduce_sum
from graphjit.ops.shape_ops import expand_dims, reshape, squeeze


def _parse(equation, inputs: list[Tensor]) -> tuple[list[str], str]:
    if not isinstance(equation, str):
        raise ShapeError(f"equation must be a string, got {equation!r}")
    eq = equation.replace(" ", "")
    if "." in eq:
        raise UnsupportedError(f"einsum '{equation}': ellipses ('...') are not supported; "
                               "name every axis with a letter")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(inputs):
        raise ShapeError(f"einsum '{equation}' has {len(terms)} operand(s) but "
                         f"{len(inputs)} input(s) were given")
    letters = "".join(terms)
    if not all(c.isalpha() for c in letters + out) or arrow and "->" in out:
        raise ShapeError(f"einsum '{equation}': operands and output are letters, separated "
                         "by ',' and one '->'")
    for term, x in zip(terms, inputs):
        if len(set(term)) != len(term):
            raise UnsupportedError(f"einsum '{equation}': letter repeated in operand '{term}' "
                                   "(a trace or diagonal) is not supported")
        if len(term) != x.ndim:
            raise ShapeError(f"einsum '{equation}': operand '{term}' names {len(term)} axes "
                             f"but the input '{x.name}' has rank {x.ndim}")
    if not arrow:
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(set(out)) != len(out) or not set(out) <= set(letters):
        raise ShapeError(f"einsum '{equation}': the output '{out}' must name distinct "
                         "letters of the operands")
    sizes: dict[str, int] = {}
    for term, x in zip(terms, inputs):
        for c, d in zip(term, x.shape):
            if d is not None and sizes.setdefault(c, d) != d:
                raise ShapeError(f"einsum '{equation}': letter '{c}' is {sizes[c]} in one "
                                 f"operand and {d} in another")
    return terms, out


def _sum_away(x: Tensor, term: str, keep: set) -> tuple[Tensor, str]:
    """Sum the axes of letters nothing later needs."""
    axes = [i for i, c in enumerate(term) if c not in keep]
    if not axes:
        return x, term
    return reduce_sum(x, axes), "".join(c for c in term if c in keep)


def _grouped(x: Tensor, term: str, batch: str, first: str, second: str) -> Tensor | None:
    """x as [batch..., first, second]: transposed to those letters, each of the two
    groups one axis (an empty group a size-1 axis). None when merging a group needs a
    reshape that unknown dims leave without a static target."""
    x = _transposed(x, [term.index(c) for c in batch + first + second])
    if len(first) <= 1 and len(second) <= 1:
        if not first:
            x = expand_dims(x, len(batch))
        return x if second else expand_dims(x, -1)
    dims = dict(zip(batch + first + second, x.shape))
    target = _static_target([dims[c] for c in batch] + [_product(dims[c] for c in first),
                                                        _product(dims[c] for c in second)])
    return None if target is None else reshape(x, target)


def _pair(a: Tensor, ta: str, b: Tensor, tb: str, keep: set) -> tuple[Tensor, str]:
    a, ta = _sum_away(a, ta, keep | set(tb))
    b, tb = _sum_away(b, tb, keep | set(ta))
    batch = "".join(c for c in ta if c in tb and c in keep)
    contract = "".join(c for c in ta if c in tb and c not in keep)
    a_free = "".join(c for c in ta if c not in tb)
    b_free = "".join(c for c in tb if c not in ta)
    result = batch + a_free + b_free
    dims = dict(zip(ta, a.shape)) | dict(zip(tb, b.shape))
    left = right = None
    if contract and (a_free or b_free):
        left = _grouped(a, ta, batch, a_free, contract)
        right = _grouped(b, tb, batch, contract, b_free)
    simple = len(a_free) <= 1 and len(b_free) <= 1
    out_target = None if simple else _static_target([dims[c] for c in result])
    # A product without a contraction (outer, elementwise) or without free letters (dot
    # products) is a broadcast Mul (and row Sum) the compiler fuses, not a MatMul.
    if left is not None and right is not None and (simple or out_target is not None):
        product = matmul(left, right)  # [batch..., a_free, b_free]
        if not simple:
            return reshape(product, out_target), result
        empty = [axis for axis, group in ((-2, a_free), (-1, b_free)) if not group]
        return (squeeze(product, empty) if empty else product), result
    # [batch, a_free, 1 per b_free, contract] * [batch, 1 per a_free, b_free, contract]
    left = _transposed(a, [ta.index(c) for c in batch + a_free + contract])
    for _ in b_free:
        left = expand_dims(left, len(batch) + len(a_free))
    right = _transposed(b, [tb.index(c) for c in batch + b_free + contract])
    for _ in a_free:
        right = expand_dims(right, len(batch))
    summed = list(range(len(result), len(result) + len(contract)))
    product = left * right
    return (reduce_sum(product, summed) if summed else product), result


def einsum(equation, *inputs, **kwargs) -> Tensor:
    """Einstein summation over `inputs` as `equation` says (see the module docstring for
    what is supported); TF's tf.einsum(equation, *inputs, name=None)."""
    name = kwargs.pop("name", None)
    if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
        inputs = tuple(inputs[0])  # einsum(eq, [a, b]) as TF accepts too
    tensors = convert_operands(list(inputs))
    with op_errors("Einsum", name, "einsum", tensors):
        if kwargs:
            raise UnsupportedError(f"einsum takes only `name`, got {sorted(kwargs)}")
        if not tensors:
            raise ShapeError("einsum needs at least one input")
        terms, out = _parse(equation, tensors)
    with tensors[0].graph.name_scope(name or "einsum") as scope:
        x, term = _sum_away(tensors[0], terms[0], set(out).union(*terms[1:]))
        for i in range(1, len(tensors)):
            later = set(out).union(*terms[i + 1:])
            x, term = _pair(x, term, tensors[i], terms[i], later)
        x, term = _sum_away(x, term, set(out))
        return identity(_transposed(x, [term.index(c) for c in out]), name=scope)


__all__ = ["einsum"]
