"""Lowering: from an optimized graph to fused regions, loop-IR kernels and a runtime plan."""
