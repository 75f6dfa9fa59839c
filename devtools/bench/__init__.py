"""Benchmarks: the dataset generator (``python -m devtools.bench generate``) and what measures
with it."""
