"""The JSON answers the API and the CLI both give, each built by one function here so the two faces
cannot drift (`archiver search --json` and GET /v1/search used to differ: the API had `limit`, `offset`
and each hit's `compliance`, the CLI had `total_exact`). The routes add what only a request has (the
audit event of who asked); the CLI prints the same dict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archiver.catalog.query import SearchQuery
from archiver.compliance.holds import post_state

if TYPE_CHECKING:
    from archiver.runtime import Runtime


def search_answer(rt: Runtime, query: SearchQuery) -> dict[str, Any]:
    """The answer to a search: ``{"total": int, "total_exact": bool (False when the count stopped at the
    backend's cap), "limit": int, "offset": int, "hits": [hit, ...]}``, each hit the catalog's row
    (provider, post_id, handle, author, text, posted_at, status, articles, ...) with its
    ``compliance`` state (`post_state`: hold and takedown). Raises InputError for a query that does
    not parse (a SearchQuery built without validation)."""
    result = rt.catalog.search(query)
    hits = list(result.hits)
    for hit in hits:
        hit["compliance"] = post_state(rt, hit["provider"], hit["post_id"])
    return {"total": result.total, "total_exact": result.total_exact, "limit": query.limit,
            "offset": query.offset, "hits": hits}
