"""A committed article version: the metadata object ``articles/<id>/v<N>.json`` whose presence
commits the version (its body ``v<N>`` and patch ``v<N>.patch.json`` are written before it).
"""

from __future__ import annotations

from pydantic import Field

from archiver.records.base import Record


class Version(Record):
    """One committed version of an article.

    version: its number, from 1. key: the object key of its bytes; sha256 their digest.
    created_at: ISO 8601 UTC. reason: what wrote it (archive, retry, restore, auto-restore, revert).
    source_sha256: the source whose plan it was written from. encoding: the charset of its bytes.
    patch_key: the patch from its base (the source or an earlier version) to it.
    """

    what = "version"
    article_id: str
    version: int = Field(ge=1)
    key: str
    sha256: str
    created_at: str
    reason: str
    source_sha256: str
    encoding: str | None = None
    patch_key: str | None = None
    archiver_version: str | None = None
