"""Test suite; a package so that tests.harness is importable by tests and benchmarks."""
