"""Benchmarks and the synthetic data they run on; not part of the test suite (see DESIGN.md)."""
