"""The archiving steps both runners call: prepare → capture each item → finalize (and the report).

Each step is idempotent: it may run twice or die halfway, and the stored end state is the same.
"""
