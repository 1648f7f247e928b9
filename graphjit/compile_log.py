"""Compile logs: what graphjit compiles, why it plans again, and what the kernel cache did.

Records go to Python `logging` under the `graphjit` logger, one child per kind:

- `graphjit.compile`   what is compiled: kernels, their ops, counts and seconds;
- `graphjit.recompile` why a new plan was built (first call, new input shapes naming the
                       input that changed, an evicted plan rebuilt, new fetches, a rank
                       specialization);
- `graphjit.cache`     each kernel's cache hit or miss, with the reason of a miss.

They are INFO records, so any logging setup may show them
(`logging.getLogger("graphjit.recompile").setLevel(logging.INFO)`). `GRAPHJIT_LOG=
compile,recompile,cache` (or `all`), or `graphjit.set_log("recompile")`, switches kinds on
and prints them to stderr; `set_log(None)` switches them off. Only planning logs: a call
that finds its plan never reaches this module.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

from graphjit import compile_progress
from graphjit.errors import InvalidArgumentError

KINDS = ("compile", "recompile", "cache")
_OFF_WORDS = ("", "0", "none", "off")

root_logger = logging.getLogger("graphjit")
compile_logger = logging.getLogger("graphjit.compile")
recompile_logger = logging.getLogger("graphjit.recompile")
cache_logger = logging.getLogger("graphjit.cache")
_LOGGERS = {"compile": compile_logger, "recompile": recompile_logger, "cache": cache_logger}


class _StderrHandler(logging.Handler):
    """Writes to the sys.stderr of the moment (a test's captured one, a notebook's)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            compile_progress.clear_line(sys.stderr)  # a record, then the line again
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - a closed stream
            self.handleError(record)


_handler = _StderrHandler()
_handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
_explicit = False  # set_log was called: GRAPHJIT_LOG no longer applies
_applied_env: str | None = None  # the GRAPHJIT_LOG value applied last


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """The kinds a GRAPHJIT_LOG-style text names: comma-separated kinds, `all`, or
    none (``""``, ``0``, ``none``, ``off``). An unknown word is an InvalidArgumentError
    naming the valid ones."""
    if text is None:
        return ()
    words = [w.strip().lower() for w in str(text).split(",") if w.strip()]
    if len(words) <= 1 and (words[0] if words else "") in _OFF_WORDS:
        return ()
    kinds: list[str] = []
    for word in words:
        if word == "all":
            kinds += [k for k in KINDS if k not in kinds]
        elif word in KINDS:
            if word not in kinds:
                kinds.append(word)
        else:
            raise InvalidArgumentError(
                f"unknown compile log {word!r}; choose from {', '.join(KINDS)} or all "
                "(comma-separated), or none to switch them off")
    return tuple(kinds)


def set_log(kinds: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Switch compile logs on (`"compile,recompile"`, `"all"`, a list of kinds) and print
    them to stderr, or off (None). Overrides GRAPHJIT_LOG. Returns the kinds now on."""
    global _explicit
    if isinstance(kinds, (list, tuple)):
        kinds = ",".join(kinds)
    chosen = parse_kinds(kinds)
    _explicit = True
    _apply(chosen)
    return chosen


def _apply(kinds: tuple[str, ...]) -> None:
    for kind, logger in _LOGGERS.items():
        logger.setLevel(logging.INFO if kind in kinds else logging.NOTSET)
    if kinds and _handler not in root_logger.handlers:
        root_logger.addHandler(_handler)
        root_logger.propagate = False  # printed once, not again by a root handler
    elif not kinds and _handler in root_logger.handlers:
        root_logger.removeHandler(_handler)
        root_logger.propagate = True


def apply_environment() -> None:
    """Apply GRAPHJIT_LOG unless set_log decided; called when a plan is built (never at
    import), so setting the variable before the first compile is enough. An unknown word
    warns, naming the valid ones, and the rest applies."""
    global _applied_env
    if _explicit:
        return
    text = os.environ.get("GRAPHJIT_LOG", "")
    if text == (_applied_env or ""):
        return  # (unset and never set: a logging setup of the user's stays as it is)
    _applied_env = text
    try:
        kinds = parse_kinds(text)
    except InvalidArgumentError as exc:
        warnings.warn(f"GRAPHJIT_LOG: {exc}", stacklevel=3)
        words = [w.strip().lower() for w in text.split(",")]
        kinds = KINDS if "all" in words else tuple(k for k in KINDS if k in words)
    _apply(kinds)


def reset() -> None:
    """Back to the start: GRAPHJIT_LOG applies again, nothing switched on (for tests)."""
    global _explicit, _applied_env
    _explicit, _applied_env = False, None
    _apply(())


def on(logger: logging.Logger) -> bool:
    return logger.isEnabledFor(logging.INFO)


# -- the records (each tests its logger first: a kind switched off costs a test) ----------
_MAX_OPS_SHOWN = 4


def _ops_text(ops) -> str:
    shown = ", ".join(ops[:_MAX_OPS_SHOWN])
    return shown + (f" +{len(ops) - _MAX_OPS_SHOWN} more" if len(ops) > _MAX_OPS_SHOWN else "")


def kernels_starting(summary: str, steps: list) -> None:
    """The kernels a plan is about to compile or find in the cache, each with the graph
    ops it fuses."""
    if steps and on(compile_logger):
        kernels = "; ".join(f"{s.name} ({_ops_text(s.ops)})" for s in steps)
        compile_logger.info("%s for %s: %s", _count(len(steps), "kernel"), summary, kernels)


_SOURCES = {"memory": "cache hit (in memory)", "disk": "cache hit (disk)",
            "compiled": "cache miss", "extern": "no native code (NumPy/BLAS calls)"}


def kernel_done(record) -> None:
    """A kernel's cache outcome (a miss with its reason) and seconds (a KernelRecord)."""
    if on(cache_logger):
        outcome = _SOURCES.get(record.source, record.source)
        reason = f": {record.reason}" if record.reason else ""
        cache_logger.info("%s (%s): %s%s, %.3f s", record.name, _ops_text(record.ops),
                          outcome, reason, record.seconds)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _where(inputs) -> str:
    return ", ".join(f"{name}{_shape(shape)}" for name, shape in inputs) or "no inputs"


def plan_starting(label: str, record, kept: int, max_plans: int) -> None:
    """Why a plan is being built (a PlanRecord), before its kernels compile."""
    if on(recompile_logger):
        special = f" ({record.specialization})" if record.specialization else ""
        recompile_logger.info("new plan %d for %s%s at %s: %s (plans kept: %d of %d)",
                              record.number, label, special, _where(record.inputs),
                              record.reason, kept, max_plans)


def plan_built(label: str, record) -> None:
    """What a plan cost: kernels, compiled or found in the cache, and seconds."""
    if on(compile_logger):
        hits = record.memory_hits + record.disk_hits
        compile_logger.info(
            "plan %d for %s at %s ready in %.3f s: %s, %d compiled in %.3f s, %s",
            record.number, label, _where(record.inputs), record.plan_seconds,
            _count(len(record.kernels), "kernel"), record.misses, record.compile_seconds,
            _count(hits, "cache hit"))


def plan_evicted(label: str, inputs, max_plans: int) -> None:
    if on(recompile_logger):
        recompile_logger.info("plan for %s at %s evicted: max_plans=%d reached (a call at "
                              "these shapes plans again)", label, _where(inputs), max_plans)


def graph_optimized(label: str, report) -> None:
    if on(compile_logger):
        compile_logger.info("optimized the graph of %s: %d ops -> %d in %.3f s", label,
                            report.ops_before, report.ops_after, report.seconds)


def new_function(label: str, why: str) -> None:
    """A new compiled function: new fetches for a Session.run, a new jit trace, a rank
    specialization."""
    if on(recompile_logger):
        recompile_logger.info("new compiled function for %s: %s", label, why)


def _shape(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"
