"""Benchmarks with ratios against a baseline measured in the same run: `python -m benchmarks` (see __main__)."""
