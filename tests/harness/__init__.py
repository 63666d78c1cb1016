"""Starters for the real servers the integration tests and benchmarks run against."""
