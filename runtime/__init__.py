"""Execution plans, buffers, the executor and the profiler of graphjit."""
