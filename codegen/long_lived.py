"""Numba's modules and registries, loaded where Python's cyclic collector does not sweep
them again and again while they are young.

Importing Numba and filling its typing and lowering registries creates well over
100,000 objects that live as long as the process. Loaded inside a plan, where the
collector is paused (runtime.collector), they all sit in the youngest generation: the
first collection after the plan traverses every one of them, the next middle-generation
collection again (about 0.06 s of CPU in a cold W4 first call, of 0.9). Imported with
the collector on (a warm start's background thread, codegen.warm_start), they trigger
full collections each time the heap grows by a quarter (0.055 s of that thread's 0.235).
`long_lived` instead hands them straight to the oldest generation, which only a full
collection visits, as it would after they survived two sweeps.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading

_lock = threading.Lock()
_registries_loaded = False


@contextlib.contextmanager
def long_lived():
    """The collector off inside the block; on leaving it, every object the collector
    tracks moves to its oldest generation (gc.freeze then gc.unfreeze: two list splices,
    no traversal). Objects of other code made meanwhile move with them: they are still
    collected, by the next full collection instead of a young one. A program that froze
    objects itself (gc.freeze before forking workers) keeps them frozen: unfreeze would
    release those too, so then the block's objects are left where they are."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def import_numba() -> None:
    """Import Numba and the modules every generated kernel imports (no-op once loaded)."""
    if "codegen.numba_cache" in sys.modules:
        return
    with _lock, long_lived():
        import codegen.exact  # noqa: F401
        import codegen.numba_cache  # noqa: F401
        import codegen.target  # noqa: F401


def load_registries() -> None:
    """Import Numba and fill its typing and lowering registries, which its first compile
    of the process does anyway (a load from its disk cache does not need them)."""
    global _registries_loaded
    if _registries_loaded:
        return
    import_numba()
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target
    with _lock, global_compiler_lock, long_lived():
        cpu_target.typing_context.refresh()
        cpu_target.target_context.refresh()
        _registries_loaded = True
