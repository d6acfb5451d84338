"""Benchmarks: each module runs alone (`python -m benchmarks.<name>`); `make bench` runs them all.

They are not part of the product: they import the apps, their test-database set-up and their
dev-only factories, and share code only through `benchmarks.support`. Commands and results are
in docs/benchmarks.md.
"""
