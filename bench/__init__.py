"""Benchmarks: the dataset generator (``python -m bench generate``) and what measures with it."""
