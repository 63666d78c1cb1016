"""The `archiver` command: one module per command group; `main.py` builds the parser."""
