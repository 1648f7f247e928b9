"""Lowering: from an optimized graph to fused regions, loop-IR kernels and a runtime plan."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def deferred(module: str, name: str) -> Callable:
    """`module.name`, imported at its first call. Op modules register lowerings of
    features most programs never use (control flow, convolutions) through this, so that
    `import graphjit` leaves those modules (and the runtime drivers they import) out."""
    found: list[Callable] = []

    def call(*args, **kwargs):
        if not found:
            found.append(getattr(importlib.import_module(module), name))
        return found[0](*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__module__ = module
    return call
