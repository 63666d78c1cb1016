"""The catalog: an index over object storage (which stays the truth), on SQLite or PostgreSQL.

`open_catalog(url)` picks the backend from the URL; both speak the same portable SQL here, and
each backend module only supplies connections and its own full-text machinery.
"""
