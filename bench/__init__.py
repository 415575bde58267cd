"""Benchmarks (not tests): `python -m bench.<name> [--quick]`; each ends with one JSON line (DESIGN.md)."""
