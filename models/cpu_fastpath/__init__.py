"""Faster serving on a CPU, kept apart from the plain path it replaces, each piece measured in
BENCHMARKS.md: `small_batch` (a few rows through a linear layer as W @ x^T)."""
