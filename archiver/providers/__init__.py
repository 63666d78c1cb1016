"""Providers: one module per platform (its URL patterns, embed constructs, endpoints, capture and
liveness probe); registry.py finds them."""
