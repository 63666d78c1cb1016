"""Discovery: find every embedded post and every image in an article, with exact spans.

`discover(text, base_url=None, fmt="auto")` is the one entry point the pipeline uses.
"""

from archiver.discover.model import PROVIDERS, Discovery, Embed, ImageRef

__all__ = ["PROVIDERS", "Discovery", "Embed", "ImageRef", "discover"]


def discover(text: str, base_url: str | None = None, fmt: str = "auto") -> Discovery:
    from archiver.discover.scan import discover as _discover

    return _discover(text, base_url=base_url, fmt=fmt)
