"""Discovery: find every embedded post and every image in an article, with exact spans.

`archiver.discover.scan.discover(text, base_url=None, fmt="auto")` is the one entry point.
"""
