"""Compliance: the audit log, legal holds and takedowns, evidence bundles and their verification."""
