"""Shrink a failing program to a small one that fails the same way.

Steps, each kept only if the smaller program still fails (same status; for errors the
same exception type): keep one fetch, else drop fetches one by one; drop the Session
run; then, line by line from the last, drop the line, reading instead one of its own
inputs of the same shape and dtype, or else a new placeholder fed the value the
reference computed for it. The last step cuts any graph down to the few ops that
disagree, and the fed values keep every op valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from graphjit.interpreter import evaluate
from graphjit.testing.differential import Outcome, check
from graphjit.testing.program import Input, Program, build, prune


def _signature(outcome: Outcome) -> tuple:
    if outcome.status == "error":
        return outcome.status, outcome.message.split(":")[0]
    return (outcome.status,)


def _values(program: Program) -> dict[str, np.ndarray]:
    """The reference value of every name the program defines."""
    built = build(program)
    names = [i.name for i in program.inputs] + [t for ln in program.lines for t in ln.targets]
    tensors = {n: built.namespace[n] for n in names if built.namespace.get(n) is not None}
    values = evaluate(list(tensors.values()), dict(zip(built.placeholders, built.values)))
    return dict(zip(tensors, values))


def _candidates(program: Program, i: int, values: dict[str, np.ndarray]):
    """Programs without line i: its results read from a same-shaped input of the line,
    or fed as new placeholders holding their reference values."""
    line = program.lines[i]
    targets = [t for t in line.targets if t in values]
    same = {t: [a for a in line.args if a in values and values[a].shape == values[t].shape
                and values[a].dtype == values[t].dtype] for t in targets}
    if all(same.values()):
        yield program.without_line(i, {t: same[t][0] for t in targets})
    used = {n for n in values}
    inputs, sub = list(program.inputs), {}
    for k, t in enumerate(targets):
        name = next(f"c{j}" for j in range(k + 1, 10**6) if f"c{j}" not in used)
        used.add(name)
        value = values[t]
        inputs.append(Input(name, value.dtype.name, value.shape, value))
        sub[t] = name
    yield replace(program, inputs=tuple(inputs)).without_line(i, sub)


def minimize(outcome: Outcome, checker: Callable[[Program], Outcome] = check,
             max_checks: int = 100, max_seconds: float = 180.0) -> Outcome:
    """The smallest failing variant found (see the module docstring); `outcome` is the
    failing result of the original program."""
    want = _signature(outcome)
    start, checks = time.monotonic(), 0
    best = outcome

    def fails(candidate: Program) -> bool:
        nonlocal best, checks
        if checks >= max_checks or time.monotonic() - start > max_seconds:
            return False
        checks += 1
        result = checker(candidate)
        if _signature(result) == want:
            best = result
            return True
        return False

    program = best.program
    bad = list(dict.fromkeys(m.fetch for m in best.mismatches))
    for fetch in bad + [f for f in program.fetches if f not in bad]:
        if len(program.fetches) > 1 and fails(program.with_fetches([fetch])):
            break
    else:  # it takes several fetches (a value shared by two consumers): drop what it can
        for fetch in program.fetches:
            fetches = best.program.fetches
            if len(fetches) > 1 and fetch in fetches:
                fails(best.program.with_fetches([f for f in fetches if f != fetch]))
    if best.program.session:
        fails(replace(best.program, session=False))
    changed = True
    while changed:
        changed = False
        i = len(best.program.lines) - 1
        while i >= 0:
            values = _values(best.program)
            for candidate in _candidates(best.program, i, values):
                if fails(prune(candidate)):
                    changed = True
                    break
            i = min(i, len(best.program.lines)) - 1
    return best
