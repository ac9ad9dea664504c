"""Benchmarks: run on the machine they measure; results go to docs/benchmarks.md."""
