"""Running a SearchQuery over the posts index: which rows match, in which order, and how many.

Every filter of archiver/catalog/query.py, and of the parsed `q` (archiver/catalog/syntax.py),
becomes a condition here, in portable SQL (the full-text part comes from the backend: FTS5 or a
tsvector, and so does the relevance rank: bm25 or ts_rank). How a search stays fast at a million posts: it
first collects up to COUNT_CAP + 1 matching ids (the count); below the cap the page is read by id;
above it the backend picks how to walk to the page (`Backend.page_order`). A query by dates alone
without a sort lists the newest first by the date it filters on, along that date's index; a sort
asked for holds on both backends whatever the filters. Sorting by relevance collects the newest
COUNT_CAP + 1 matches instead (`Backend.newest_ids`: the count and, in one go, the RANK_POOL
newest that are ranked); sorting by posting date walks that date's index past the cap
(benchmarks/bench_search.py times them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from archiver.catalog.query import SearchQuery
from archiver.catalog.schema import earlier_words
from archiver.catalog.syntax import All, Node, Not, Term, parse_search
from archiver.catalog.text import MAX_QUERY_CLAUSES, Clause, doc_tokens, handle_norm, tokenize

if TYPE_CHECKING:
    from archiver.catalog.core import Catalog

# Counting a million matches of a common word costs more than the page of hits; beyond this
# many, `total` says "at least".
COUNT_CAP = 1_000
# Relevance ranks at most this many matches (the most recently archived ones): ranking reads each
# match's words (ts_rank: its whole tsvector), about 0.05 ms a match on PostgreSQL.
RANK_POOL = 300


@dataclass
class SearchResult:
    """`total` counts matches up to COUNT_CAP; `total_exact` is False when there are more.
    `hits` are what Catalog.hits gives: one dict per post, in the query's sort order."""

    total: int
    hits: list[dict[str, Any]] = field(default_factory=list)
    total_exact: bool = True

    def to_json(self) -> dict[str, Any]:
        """{"total", "total_exact", "hits"}: what `archiver search --json` prints."""
        return {"total": self.total, "total_exact": self.total_exact, "hits": self.hits}


def run_search(catalog: Catalog, query: SearchQuery) -> SearchResult:
    """Posts (their latest capture) matching every filter of `query` and its parsed `q`
    (archiver/catalog/syntax.py), in the `query.sort` order: "relevance" (the backend's rank, then
    the newest archived), "posted" (newest posted first, posts without a date last) or "captured"
    (the most recently archived post first, by the time of its first capture: see core.post_row_id).
    Without a sort: relevance when there are words (in `q` or `author`), else newest first by the
    date filtered on (posted, else captured) when there is a date filter, else captured; a sort
    asked for holds whatever the filters, on both backends. A filter given both in `q` and as a
    field must hold both ways, so two different values match nothing. Raises InputError when `q`
    does not parse (a query built without validation)."""
    parsed = parse_search(query.q)
    # Before the backend's own look-ups (newest_ids reads its connection directly): a catalog an older
    # release indexed is upgraded (re-tokenized) before its words are first searched.
    catalog.ensure_schema()
    author = _author_clauses(query.author)
    if query.author is not None and query.author.strip() and not author:
        return SearchResult(0)  # an author made only of punctuation matches no one
    handles = set(parsed.handles) | ({handle_norm(query.handle) or ""} if query.handle is not None else set())
    providers = set(parsed.providers) | ({query.provider} if query.provider is not None else set())
    if len(handles) > 1 or len(providers) > 1:
        return SearchResult(0)  # a post has one author and one provider
    handle = next(iter(handles), None)
    words = parsed.text
    where: list[str] = []
    params: list[Any] = []
    source, order = "posts p", "p.id"
    positive = bool(parsed.positive or author)
    rank: tuple[str, list[Any], bool] | None = None
    # With words, the handle is part of the full-text match (one index lookup for both).
    handle_in_text = bool(handle) and (positive or words is not None)
    if positive or handle_in_text:
        source, frag, extra, order = catalog.backend.match_sql(words, author, handle if handle_in_text else None)
        where.append(frag)
        params += extra
        if positive:
            rank = catalog.backend.rank_sql(words, author, handle if handle_in_text else None)
    elif words is not None:  # only exclusions, next to a filter (the parser refuses them alone)
        frag, extra = catalog.backend.exclude_sql(parsed.negative)
        where.append(frag)
        params += extra
    if handle is not None and not handle_in_text:
        where.append("p.handle_norm = ?")
        params.append(handle)
    if providers:
        where.append("p.provider = ?")
        params += list(providers)
    for lang in parsed.langs:
        where.append("(lower(p.lang) = ? OR lower(p.lang) LIKE ?)")  # hi also finds hi-IN
        params += [lang, lang + "-%"]
    dated = []
    for col, since, until in (("posted_at", query.posted_since, query.posted_until),
                              ("captured_at", query.captured_since, query.captured_until)):
        if since is not None and (low := _bound(since, end=False)) is not None:
            where.append(f"p.{col} >= ?")
            params.append(low)
        if until is not None and (high := _bound(until, end=True)) is not None:
            where.append(f"p.{col} < ?")
            params.append(high)
        if since is not None or until is not None:
            dated.append(col)
    if query.status:
        where.append(f"p.status IN ({', '.join('?' for _ in query.status)})")
        params += query.status
    for status in parsed.statuses:
        where.append("p.status = ?")
        params.append(status)
    if query.article_id is not None:
        where.append("(p.provider, p.post_id) IN (SELECT provider, post_id FROM items "
                     "WHERE article_id = ? AND kind = 'embed')")
        params.append(query.article_id)
    if query.image_sha256 is not None:
        where.append("(p.provider, p.post_id) IN (SELECT provider, post_id FROM post_media WHERE sha256 = ?)")
        params.append(query.image_sha256)
    if query.near_dhash is not None:
        dist = catalog.backend.hamming_sql("b.dhash", "?")
        where.append("(p.provider, p.post_id) IN (SELECT m.provider, m.post_id FROM post_media m JOIN "  # noqa: S608
                     f"blobs b ON b.sha256 = m.sha256 WHERE length(b.dhash) = 16 AND {dist} <= ?)")
        params += [query.near_dhash, query.distance]
    cond = " WHERE " + " AND ".join(where) if where else ""
    # "dated": no sort asked for and no words, but a date range: newest first by that date.
    sort = query.sort or ("relevance" if positive else "dated" if dated else "captured")
    if sort == "relevance" and rank is None:
        sort = "captured"  # nothing to rank by: no words
    rows, found = _page(catalog, _Select(source, cond, params, order, dated), query.limit, query.offset,
                        sort, rank)
    hits = catalog.hits(rows)
    if words is not None and parsed.positive:
        _mark_matched_capture(catalog, hits, words)
    return SearchResult(min(found, COUNT_CAP), hits, found <= COUNT_CAP)


def _mark_matched_capture(catalog: Catalog, hits: list[dict[str, Any]], words: All) -> None:
    """Say in each hit which capture's words its query words matched (a post's words are all its
    captures': text.post_doc_tokens), as "matched_capture_id": the latest capture's id when its own
    words match (the text the hit shows), else the newest earlier capture whose own words match, else
    None (the words are spread over several captures). The hit's text is always the latest's, so a
    reader sees why a post whose latest text lacks the words was found."""
    # Most hits match by the text they show (the latest capture's): no capture is read for those.
    rest = []
    for hit in hits:
        if words_match(words, doc_tokens(hit["text"])):
            hit["matched_capture_id"] = hit["capture_id"]
        else:
            rest.append(hit)
    if not rest:
        return
    # Every capture of the others' posts (at most EARLIER_CAPTURES_READ + 1, the newest), newest first.
    captures = earlier_words(catalog.backend.connect(), [(h["provider"], h["post_id"], "") for h in rest],
                             catalog.backend.placeholder)
    for hit in rest:
        found = captures.get((hit["provider"], hit["post_id"]), [])
        ordered = sorted(found, key=lambda c: c[0] != hit["capture_id"])  # its latest first (stable)
        hit["matched_capture_id"] = next((capture_id for capture_id, text, card_text in ordered
                                          if words_match(words, doc_tokens(text, card_text))), None)


def words_match(node: Node, tokens: list[str]) -> bool:
    """Whether the search tokens `tokens` of one text (doc_tokens) hold what `node` asks, as the
    backends' full-text match reads it: a term's tokens next to each other within one part (the last
    one a prefix for a prefix term), every part of an All (a Not: its node absent; a hit's captures
    all lack it, as the search left out posts that ever said it), one of an AnyOf."""
    if isinstance(node, Term):
        want, prefix = node.clause.tokens, node.clause.prefix
        n = len(want)
        return n > 0 and any(
            all(tokens[i + j] == want[j] for j in range(n - 1))
            and (tokens[i + n - 1].startswith(want[-1]) if prefix else tokens[i + n - 1] == want[-1])
            for i in range(len(tokens) - n + 1))
    if isinstance(node, Not):
        return not words_match(node.node, tokens)
    if isinstance(node, All):
        return all(words_match(part, tokens) for part in node.parts)
    return any(words_match(part, tokens) for part in node.parts)


@dataclass(frozen=True)
class _Select:
    source: str  # FROM
    cond: str  # " WHERE ..." or ""
    params: list[Any]  # of cond
    order: str  # orders like p.id
    dated: list[str]  # the date columns filtered on


def _page(catalog: Catalog, sel: _Select, limit: int, offset: int, sort: str,
          rank: tuple[str, list[Any], bool] | None) -> tuple[list[dict[str, Any]], int]:
    """(the page's post rows, matches found up to COUNT_CAP + 1)."""
    source, cond, params, order, dated = sel.source, sel.cond, sel.params, sel.order, sel.dated
    # Counting (up to the cap) collects the matching ids in whatever order is cheapest; by dates,
    # the date index alone counts them, and then only the number of rows found is used.
    if sort == "relevance" and rank is not None:
        # The newest matches at once: their number is the count, the first RANK_POOL are ranked.
        newest = catalog.backend.newest_ids(catalog._sql(f"SELECT {order} AS id FROM {source}{cond}"),  # noqa: S608
                                            params, order, max(COUNT_CAP + 1, RANK_POOL))
        if not newest:
            return [], 0
        return _ranked_page(catalog, sel, rank, newest, limit, offset), min(len(newest), COUNT_CAP + 1)
    # Sorted by a date, only the number of matches is used: the date index alone counts them.
    counted = "1" if sort in ("dated", "posted") else "p.id"
    found = [r["id"] for r in catalog.query(f"SELECT {counted} AS id FROM {source}{cond} LIMIT ?",  # noqa: S608
                                            [*params, COUNT_CAP + 1])]
    if not found:
        return [], 0
    if sort == "posted":
        rows = _posted_page(catalog, sel, len(found), limit, offset)
    elif sort == "dated":
        # Ids follow capture time, so walking them newest first to an old date range would read
        # most of the table: a query by dates alone lists newest first by that date, along its index.
        rows = catalog.query(f"SELECT p.* FROM {source}{cond} ORDER BY p.{dated[0]} DESC, p.id DESC "  # noqa: S608
                             "LIMIT ? OFFSET ?",
                             [*params, limit, offset])
    elif len(found) <= COUNT_CAP:
        # Every match is known: the page is read by id, without matching anything again.
        page = sorted(found, reverse=True)[offset:offset + limit]
        rows = catalog.query(f"SELECT p.* FROM posts p WHERE p.id IN ({', '.join('?' for _ in page)}) "  # noqa: S608
                             "ORDER BY p.id DESC", page) if page else []
    else:
        order_by = catalog.backend.page_order(catalog._sql(f"SELECT 1 FROM {source}{cond}"),  # noqa: S608
                                              params, order, offset + limit)
        rows = catalog.query(f"SELECT p.* FROM {source}{cond} ORDER BY {order_by} LIMIT ? OFFSET ?",  # noqa: S608
                             [*params, limit, offset])
    return rows, len(found)


def _posted_page(catalog: Catalog, sel: _Select, found: int, limit: int, offset: int) -> list[dict[str, Any]]:
    """A page newest posted first (ties: newest archived first), then the undated posts newest
    archived first. With more than COUNT_CAP matches the dated part walks the posting-date index
    (`Backend.date_walk`) instead of sorting every match."""
    source, cond = sel.source, sel.cond
    if found > COUNT_CAP:
        source, cond = catalog.backend.date_walk(sel.source, sel.cond, "posted_at")
    dated_cond = (cond + " AND" if cond else " WHERE") + " p.posted_at IS NOT NULL"
    rows = catalog.query(f"SELECT p.* FROM {source}{dated_cond} ORDER BY p.posted_at DESC, p.id DESC "  # noqa: S608
                         "LIMIT ? OFFSET ?", [*sel.params, limit, offset])
    if len(rows) == limit:
        return rows
    # Past the dated posts: how many there are is known from this page, or counted up to `offset`.
    dated = offset + len(rows) if rows else len(catalog.query(
        f"SELECT 1 AS one FROM {source}{dated_cond} LIMIT ?", [*sel.params, offset]))  # noqa: S608
    undated_cond = (sel.cond + " AND" if sel.cond else " WHERE") + " p.posted_at IS NULL"
    return rows + catalog.query(f"SELECT p.* FROM {sel.source}{undated_cond} ORDER BY {sel.order} DESC "  # noqa: S608
                                "LIMIT ? OFFSET ?", [*sel.params, limit - len(rows), max(0, offset - dated)])


def _ranked_page(catalog: Catalog, sel: _Select, rank: tuple[str, list[Any], bool], newest: list[int],
                 limit: int, offset: int) -> list[dict[str, Any]]:
    """A page in relevance order. Ranking reads every ranked match's words, so only the RANK_POOL
    most recently archived matches are ranked (`newest`: the newest matches, newest first, at least
    RANK_POOL of them when there are so many); the older rest follows them, newest archived first."""
    more = len(newest) > RANK_POOL
    pool = catalog.backend.rank_pool(sel.source, sel.cond, sel.params, sel.order, rank, newest[:RANK_POOL])
    ids = pool[offset:offset + limit]
    rows = {r["id"]: r for r in catalog.query(
        f"SELECT p.* FROM posts p WHERE p.id IN ({', '.join('?' for _ in ids)})", ids)} if ids else {}  # noqa: S608
    page = [rows[i] for i in ids if i in rows]
    if more and len(ids) < limit and pool:
        rest = catalog.query(f"SELECT p.* FROM {sel.source}{sel.cond} AND p.id < ? "  # noqa: S608
                             f"ORDER BY {sel.order} DESC LIMIT ? OFFSET ?",
                             [*sel.params, min(pool), limit - len(ids), max(0, offset - len(pool))])
        page += rest
    return page


def _author_clauses(author: str | None) -> list[Clause]:
    """Each word of `author` (its blank-separated parts), in any order: "عربي مستخدم" finds the
    display name "مستخدم عربي". A word of several tokens (a CJK or Thai run) keeps them adjacent."""
    clauses = [Clause(tuple(toks)) for word in (author or "").split() if (toks := tokenize(word))]
    return list(dict.fromkeys(clauses))[:MAX_QUERY_CLAUSES]


# Bounds past either end of the datetime range (year 1 to 9999), as stored times compare with them:
# every stored time is after BEFORE_ALL and before AFTER_ALL.
BEFORE_ALL, AFTER_ALL = "0000", "9999-99"


def _bound(value: date | datetime, *, end: bool) -> str | None:
    """An ISO comparison bound: since → inclusive start; until → exclusive end (the next day or second).
    A bound at the ends of the range is clamped, never an OverflowError: None when it bounds nothing
    (until 9999-12-31, since 0001-01-01T00:00:00+01:00, which is in year 0 in UTC), BEFORE_ALL or
    AFTER_ALL when it leaves nothing (until year 0 in UTC, since year 10000 in UTC)."""
    try:
        if not isinstance(value, datetime):
            return (value + timedelta(days=1) if end else value).isoformat()
        dt = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
        if end:
            dt += timedelta(seconds=1)
    except OverflowError:
        below = value.year == 1  # before year 1 in UTC; else after 9999 (or the day after 9999-12-31)
        if end:
            return BEFORE_ALL if below else None
        return None if below else AFTER_ALL
    return dt.replace(tzinfo=None).isoformat(timespec="seconds")  # strftime writes year 1 as "1"
