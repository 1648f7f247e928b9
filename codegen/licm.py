"""Loop-invariant code motion over loop-IR statements, done before the backend emits them.

A value that does not change inside a loop (a broadcast input's function, as in
tanh(b) broadcast along rows) is computed before the loop instead of once per
iteration. Beyond the saved work, this keeps LLVM's compile time bounded: left in the
loop, a chain of inlined vectorized-math functions on an invariant value makes LLVM
unswitch the loop on each of their invariant selects; four such functions took over
ten minutes to compile, hoisted they take a fraction of a second.

Only scalar assignments move, and only when moving them cannot change a value:
- the target is assigned once in the whole kernel (accumulators and their per-row
  resets are assigned twice, so they stay where they are);
- the value reads no variable the loop defines and no array the kernel writes (an
  output may change during the loop; inputs never do).
A moved statement runs even when the loop runs zero times. That is safe: it reads
only inputs, at indices made of constants and of enclosing loops' variables, and
the plan's shapes make those indices valid whatever the loop's trip count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from codegen.loopir import Assign, Call, Load, Loop, variables


def hoist_invariants(body: tuple, written: set[str]) -> tuple:
    """`body` with loop-invariant assignments moved out of every loop, as far out as
    they stay invariant. `written`: the arrays the kernel stores into."""
    counts = Counter(_assigned(body))
    once = {name for name, n in counts.items() if n == 1}
    return _hoist(body, once, written)


def _hoist(body: tuple, once: set[str], written: set[str]) -> tuple:
    result = []
    for s in body:
        if not isinstance(s, Loop):
            result.append(s)
            continue
        inner = _hoist(s.body, once, written)  # inner loops first: their moves arrive here
        variant = {s.var} | set(_assigned(inner))
        moved, kept = [], []
        for t in inner:
            if isinstance(t, Assign) and t.target in once \
                    and not (variables(t.value) & variant) and not (_loads(t.value) & written):
                moved.append(t)
                variant.discard(t.target)
            else:
                kept.append(t)
        result.extend(moved)
        result.append(replace(s, body=tuple(kept)) if moved else replace(s, body=inner))
    return tuple(result)


def _assigned(body):
    for s in body:
        if isinstance(s, Assign):
            yield s.target
        elif isinstance(s, Loop):
            yield s.var
            yield from _assigned(s.body)


def _loads(e) -> set[str]:
    if isinstance(e, Load):
        return {e.param}.union(*(_loads(i) for i in e.index))
    if isinstance(e, Call):
        return set().union(*(_loads(a) for a in e.args))
    return set()

