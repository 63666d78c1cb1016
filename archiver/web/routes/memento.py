"""Memento (RFC 7089) for every archived original, public like /media/: TimeGates, TimeMaps, image
Mementos, and the headers of a capture's human page.

Under `archiver serve` (``/media/`` is where the public base URL points; the URL forms are in
archiver/capture/memento.py):

- ``GET|HEAD /media/timegate/<original>``: ``Accept-Datetime`` negotiation (RFC 7089 4.1, pattern 2: the
  TimeGate is not the original). 302 to the Memento closest to the asked datetime (ties: the earlier),
  the latest without ``Accept-Datetime``; ``Vary: accept-datetime``; ``Link`` with the original, the
  TimeMap and the first, last, previous and next Mementos with their datetimes. 400 for an
  ``Accept-Datetime`` that is not an HTTP-date or a path that holds no http(s) URL; 404 when nothing of
  that URL is archived.
- ``GET|HEAD /media/timemap/link/<original>``: ``application/link-format`` (RFC 7089 5.1.1, RFC 6690)
  listing the original, the TimeMap itself (from, until), the TimeGate and every Memento, oldest first,
  each with its datetime (at most MAX_MEMENTOS, the newest kept); 404 when there is none.
- ``GET|HEAD /media/memento/<YYYYMMDDhhmmss>/<image URL>``: an image's Memento: the archived original
  fetched from that URL at that second, with ``Memento-Datetime`` and ``Link`` (original, TimeGate, TimeMap).
- A capture's human page, ``/media/posts/<provider>/<post_id>/<capture_id>.html``, is answered by the
  /media/ route of archiver/web/app.py with the headers ``page_headers`` gives: ``Memento-Datetime``
  (the capture time) and ``Link`` (original, TimeGate, TimeMap).

What is a Memento of what. A post URL, in any spelling the provider registry knows
(``archiver.discover.urls.match_post_url``), or a share link an article used, names a post; its
Mementos are the human pages of its captures whose status is in ``MEMENTO_STATUSES``. Any other URL
is an image's (an article's image, a post's media, video poster, author avatar or link-card image):
every fetch of it is kept (the catalog's ``url_history``, filled by the capture step and rebuilt by
`archiver reindex`), and each run of fetches that gave the same original is one Memento, dated by the
run's first fetch, so a Memento once listed keeps its datetime and URI-M as later fetches come (X, Y, X
again are three Mementos). A post or an image compliance has taken down is not listed (its TimeGate
answers 404; its copies answer 410 at /media/); the others keep their URI-Ms.

Datetimes. Every Memento's datetime is its capture time cut to the second: what the TimeMap, the
``Link`` headers and ``Memento-Datetime`` show (HTTP-dates, RFC 9110 5.6.7 / RFC 1123) and what
``Accept-Datetime`` is compared with, so asking for a listed datetime gives that Memento; Mementos in
the same second are listed in capture order and the earliest of them answers (a Robust Links
``data-versiondate``, the capture time to the millisecond, cut to the second the same way, names it).

The original follows the prefix as sent (its query string included) or percent-encoded (as one
segment, or only its ``:`` and ``/``); ``http:/x`` (slashes merged by a proxy) is read as ``http://x``;
the scheme's default port (``:443``, ``:80``) and a hashbang at the root (``https://twitter.com/#!/a/
status/1``, its ``#`` percent-encoded) name the same original as without. It must be an absolute
http(s) URL of at most 8,192 characters without spaces or control characters. URLs written into
headers are escaped (``link_uri``). Lookups use indexed columns only (``items_url_prefix`` in
catalog/schema.py, ``url_history``'s key), so a request costs a few index reads whatever the
catalog's size.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from archiver.capture.cards.content import safe_url
from archiver.capture.guard import normalize_url
from archiver.capture.memento import (
    LINK_FORMAT,
    MAX_URL,
    MEMENTO_STATUSES,
    http_date,
    image_memento_url,
    link,
    parse_http_date,
    parse_iso,
    parse_stamp,
    stamp,
    timegate_url,
    timemap_url,
)
from archiver.catalog.indexing import url_digest
from archiver.catalog.schema import ITEM_URL_PREFIX_CHARS
from archiver.compliance.holds import hidden_reason
from archiver.discover.urls import match_post_url
from archiver.runtime import Runtime
from archiver.storage.base import ObjectNotFound
from archiver.storage.layout import blob_key, capture_page_key, filed_post_id, page_manifest_key, post_prefix
from archiver.web.copies import RANGE_RESPONSES, copy_csp, public_origin, serve_copy
from archiver.web.errors import COMMON, error_responses

log = logging.getLogger(__name__)
router = APIRouter()

MEDIA = "/media"
MAX_MEMENTOS = 10_000
MAX_POSTS = 5  # posts a share link may name (articles that used it), each looked up
MAX_FETCHES = 50_000  # the newest fetches of an image URL read for its Mementos
# The CSP of a capture page served here: the archive's images and videos, inline styles, no script.
PAGE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"


def page_csp(public_base_url: str) -> str:
    """PAGE_CSP with the origin of the archive's public base URL added to img-src and media-src: a
    capture page's photos and videos are linked there (a CDN or another host in front of storage)."""
    origin = public_origin(public_base_url)
    if not origin:
        return PAGE_CSP
    return PAGE_CSP.replace("img-src 'self';", f"img-src 'self' {origin};").replace(
        "media-src 'self';", f"media-src 'self' {origin};")
# The scheme and its "://" with any of ":" "/" percent-encoded: the original was sent encoded.
_ENCODED = re.compile(r"https?(?::|%3a)(?:/|%2f){0,2}", re.I)
# A hashbang at the root (https://twitter.com/#!/a/status/1), its "#" sent as it is or encoded.
_HASHBANG = re.compile(r"(https?://[^/?#]+)/(?:#|%23)!/", re.I)
_MERGED = re.compile(r"(https?):/(?!/)", re.I)
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class Memento:
    """One Memento: its datetime (the capture time cut to the second, aware UTC: what is listed and
    negotiated on), its URI-M, and the exact capture time (orders Mementos within one second)."""

    when: datetime
    uri: str
    exact: datetime

    @classmethod
    def at(cls, captured: datetime, uri: str) -> Memento:
        """The Memento captured at ``captured`` (any precision) with URI-M ``uri``."""
        return cls(captured.replace(microsecond=0), uri, captured)


@dataclass
class Found:
    """The Mementos of one original: the URI-R as links name it, its Mementos oldest first, and for an
    image, the digest of the original each image Memento holds."""

    original: str
    mementos: list[Memento] = field(default_factory=list)
    blobs: dict[str, str] = field(default_factory=dict)
    # Image Mementos compliance has taken down: not listed, but their URI-Ms answer 410, not 404.
    withdrawn: list[Memento] = field(default_factory=list)


# --- the catalog --------------------------------------------------------------------------------------
def _candidates(url: str) -> list[str]:
    """The spellings of ``url`` looked up: as given, with ``%3B``/``%2C`` decoded (``link_uri`` encodes
    them), and each as the capture step files a fetch (``normalize_url``)."""
    out: list[str] = []
    plain = re.sub("%2[cC]", ",", re.sub("%3[bB]", ";", url))
    for u in (url, plain, normalize_url(url), normalize_url(plain)):
        if u not in out:
            out.append(u)
    return out


def _items_by_url(rt: Runtime, kind: str, urls: list[str], columns: str, extra: str = "") -> list[dict[str, Any]]:
    marks = ", ".join("?" for _ in urls)
    return rt.catalog.query(
        f"SELECT {columns} FROM items WHERE substr(url, 1, {ITEM_URL_PREFIX_CHARS}) IN "  # noqa: S608
        f"({', '.join(f'substr(?, 1, {ITEM_URL_PREFIX_CHARS})' for _ in urls)}) "
        f"AND url IN ({marks}) AND kind = ? {extra}",
        [*urls, *urls, kind])


def _posts_named_by(rt: Runtime, url: str) -> tuple[list[tuple[str, str]], str | None]:
    """The (provider, filing post id) pairs ``url`` names, and the canonical URL when its pattern gives one.
    Tried as given, percent-decoded, and as a fetch is filed (``normalize_url``: default port dropped)."""
    found = None
    for spelling in dict.fromkeys((url, unquote(url), normalize_url(url), normalize_url(unquote(url)))):
        found = match_post_url(spelling)
        if found is not None:
            break
    if found is not None and found[1]:
        post_id = filed_post_id(found[1])  # how the post is filed ("channel/123" as "channel:123")
        return ([(found[0], post_id)] if post_id else []), found[2]
    if found is None:
        return [], None
    # A share link: the posts the articles that used it resolved it to.
    rows = _items_by_url(rt, "embed", _candidates(url), "DISTINCT provider, post_id",
                         "AND provider IS NOT NULL AND post_id IS NOT NULL")
    pairs = [(r["provider"], filed_post_id(r["post_id"])) for r in rows]
    return [(provider, post_id) for provider, post_id in pairs if post_id][:MAX_POSTS], None


def post_mementos(rt: Runtime, url: str) -> Found | None:
    """The Mementos of the post ``url`` names (None when it names none): the human pages of its captures
    with a Memento status, oldest first; none when compliance took the post down."""
    pairs, canonical = _posts_named_by(rt, url)
    if not pairs and canonical is None:
        return None
    marks = ", ".join("?" for _ in MEMENTO_STATUSES)
    rows: list[dict[str, Any]] = []
    for provider, post_id in pairs:
        if hidden_reason(rt, post_prefix(provider, post_id) + "x") is not None:
            continue
        rows += rt.catalog.query(
            f"SELECT url, manifest_key, captured_at FROM captures WHERE provider = ? AND post_id = ? "  # noqa: S608
            f"AND status IN ({marks}) AND manifest_key IS NOT NULL ORDER BY captured_at DESC, capture_id DESC "
            f"LIMIT {MAX_MEMENTOS}", [provider, post_id, *MEMENTO_STATUSES])
    mementos = []
    latest_url: str | None = None
    for row in rows:  # newest first
        try:
            when, page = parse_iso(row["captured_at"]), capture_page_key(row["manifest_key"])
        except ValueError:
            continue
        mementos.append(Memento.at(when, rt.store.public_url(page)))
        latest_url = latest_url or safe_url(row["url"])
    mementos.sort(key=lambda m: (m.exact, m.uri))
    return Found(latest_url or canonical or url, mementos[-MAX_MEMENTOS:])


def image_mementos(rt: Runtime, url: str) -> Found:
    """The Mementos of image URL ``url``, oldest first: its recorded fetches (``url_history``, the newest
    MAX_FETCHES; a catalog an older release wrote, not yet reindexed, adds its one ``url_fetches`` row)
    in time order, one Memento per run of fetches that gave the same original, dated by the run's first
    fetch; two runs starting in the same second: the first is that second's Memento. Originals
    compliance took down are left out afterwards, so the others keep their datetimes and URI-Ms."""
    urls = list(dict.fromkeys(normalize_url(u) for u in _candidates(url)))
    marks = ", ".join("?" for _ in urls)
    rows = rt.catalog.query(
        f"SELECT url, sha256, fetched_at FROM url_history WHERE url_sha256 IN ({marks}) "  # noqa: S608
        f"ORDER BY fetched_at DESC LIMIT {MAX_FETCHES}", [url_digest(u) for u in urls])
    rows += rt.catalog.query(f"SELECT url, sha256, fetched_at FROM url_fetches WHERE url IN ({marks})",  # noqa: S608
                             urls)
    fetches: set[tuple[datetime, str]] = set()
    original = url
    for row in rows:
        try:
            t = parse_iso(row["fetched_at"])
            blob_key(row["sha256"])
        except (TypeError, ValueError):
            continue
        fetches.add((t, row["sha256"]))
        original = row["url"] if original == url and isinstance(row["url"], str) else original
    found = Found(original)
    previous: str | None = None
    for t, sha in sorted(fetches):
        if sha == previous:
            continue  # the same original fetched again: still the run's Memento
        previous = sha
        uri = image_memento_url(rt.store.public_base_url, t, found.original)
        if uri in found.blobs:
            continue  # two originals in the same second: the first is the Memento of that second
        found.blobs[uri] = sha
        found.mementos.append(Memento.at(t, uri))
    hidden = {m.uri for m in found.mementos if hidden_reason(rt, blob_key(found.blobs[m.uri])) is not None}
    found.withdrawn = [m for m in found.mementos if m.uri in hidden]
    found.mementos = [m for m in found.mementos if m.uri not in hidden]
    found.mementos = found.mementos[-MAX_MEMENTOS:]
    return found


def find_mementos(rt: Runtime, url: str) -> Found:
    """The Mementos of original ``url``: a post's when it names one, else an image's."""
    return post_mementos(rt, url) or image_mementos(rt, url)


# --- reading the request ------------------------------------------------------------------------------
def original_from(request: Request, prefix: str, rest: str) -> str:
    """The original URL the path holds after ``prefix`` (with the request's query string); 400 when it
    is not an absolute http(s) URL of at most MAX_URL characters without spaces or controls."""
    raw_path = request.scope.get("raw_path") or b""
    try:
        raw = raw_path.decode("ascii")
    except UnicodeDecodeError:
        raise HTTPException(status_code=400, detail="the URL must be percent-encoded ASCII") from None
    text = raw[len(prefix):] if raw.startswith(prefix) else rest
    scheme = _ENCODED.match(text)
    if scheme and "%" in scheme.group(0):
        text = unquote(text)  # sent encoded (all of it, or only its ":" and "/")
    query = request.scope.get("query_string") or b""
    if query:
        text += "?" + query.decode("ascii", errors="replace")
    text = _MERGED.sub(r"\1://", text, count=1) if _MERGED.match(text) else text
    text = _HASHBANG.sub(r"\1/", text, count=1) if _HASHBANG.match(text) else text
    if len(text) > MAX_URL or _BAD_CHARS.search(text):
        raise HTTPException(status_code=400, detail="not an http(s) URL (too long, or with spaces or controls)")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (a bad port raises ValueError)
    except ValueError:
        raise HTTPException(status_code=400, detail="not an http(s) URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise HTTPException(status_code=400, detail="not an http(s) URL: give /timegate/https://host/path")
    return text.split("#", 1)[0]


def _wanted(request: Request) -> datetime | None:
    value = request.headers.get("accept-datetime")
    if value is None:
        return None
    try:
        return parse_http_date(value)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc), headers={"Vary": "accept-datetime"}) from None


def closest(mementos: list[Memento], wanted: datetime | None) -> int:
    """The index of the Memento whose listed datetime (to the second) is closest to ``wanted`` (ties:
    the earlier, by listed datetime then capture order); the latest for None. ``wanted`` is compared cut
    to the second, as an HTTP-date gives it."""
    if wanted is None:
        return len(mementos) - 1
    wanted = wanted.replace(microsecond=0)
    return min(range(len(mementos)), key=lambda i: (abs(mementos[i].when - wanted), mementos[i].when, i))


def _memento_links(mementos: list[Memento], chosen: int | None) -> list[str]:
    """Link entries of the first and last Mementos, and around ``chosen`` its previous and next, each
    once with all its relations."""
    rels: dict[int, list[str]] = {}
    for i, rel in ((0, "first"), (len(mementos) - 1, "last")):
        rels.setdefault(i, []).append(rel)
    if chosen is not None:
        for i, rel in ((chosen - 1, "prev"), (chosen + 1, "next")):
            if 0 <= i < len(mementos):
                rels.setdefault(i, []).append(rel)
    return [link(mementos[i].uri, " ".join([*r, "memento"]), datetime=http_date(mementos[i].when))
            for i, r in sorted(rels.items())]


def _head(request: Request, response: Response) -> Response:
    """A HEAD request's answer: the GET's status and headers, no body."""
    if request.method == "HEAD":
        return Response(status_code=response.status_code, headers=dict(response.headers))
    return response


# --- routes -------------------------------------------------------------------------------------------
_LINK_HEADER = {"Link": {"description": "RFC 8288 links: original, timemap, Mementos with datetimes",
                         "schema": {"type": "string"}},
                "Vary": {"description": "accept-datetime", "schema": {"type": "string"}}}


@router.head(f"{MEDIA}/timegate/{{rest:path}}", include_in_schema=False)
@router.get(f"{MEDIA}/timegate/{{rest:path}}", tags=["public"],
                  response_class=Response, status_code=302,
                  responses={302: {"description": "the Memento closest to Accept-Datetime (the latest without it)",
                                   "headers": {"Location": {"description": "the Memento",
                                                            "schema": {"type": "string"}}, **_LINK_HEADER}},
                             **error_responses(400, 404, *COMMON)})
def timegate(request: Request, rest: str) -> Response:
    """The TimeGate of an original URL (RFC 7089 4.1): 302 to its Memento closest to Accept-Datetime."""
    rt: Runtime = request.app.state.runtime
    original = original_from(request, f"{MEDIA}/timegate/", rest)
    wanted = _wanted(request)
    found = find_mementos(rt, original)
    vary = {"Vary": "accept-datetime", "Cache-Control": "no-cache"}
    if not found.mementos:
        raise HTTPException(status_code=404, detail="nothing archived for that URL", headers=vary)
    chosen = closest(found.mementos, wanted)
    base = rt.store.public_base_url
    links = [link(found.original, "original"), link(timemap_url(base, found.original), "timemap", type=LINK_FORMAT),
             *_memento_links(found.mementos, chosen)]
    return _head(request, Response(status_code=302, headers={
        **vary, "Location": found.mementos[chosen].uri, "Link": ", ".join(links)}))


@router.head(f"{MEDIA}/timemap/link/{{rest:path}}", include_in_schema=False)
@router.get(f"{MEDIA}/timemap/link/{{rest:path}}", tags=["public"],
                  response_class=Response,
                  responses={200: {"description": "every Memento of the original, in link format (RFC 7089 5.1.1)",
                                   "content": {LINK_FORMAT: {"schema": {"type": "string"}}}},
                             **error_responses(400, 404, *COMMON)})
def timemap(request: Request, rest: str) -> Response:
    """The link-format TimeMap of an original URL (RFC 7089 5.1.1): every Memento with its datetime."""
    rt: Runtime = request.app.state.runtime
    original = original_from(request, f"{MEDIA}/timemap/link/", rest)
    found = find_mementos(rt, original)
    if not found.mementos:
        raise HTTPException(status_code=404, detail="nothing archived for that URL",
                            headers={"Cache-Control": "no-cache"})
    base, ms = rt.store.public_base_url, found.mementos
    entries = [link(found.original, "original"),
               link(timemap_url(base, found.original), "self", type=LINK_FORMAT,
                    **{"from": http_date(ms[0].when), "until": http_date(ms[-1].when)}),
               link(timegate_url(base, found.original), "timegate")]
    firsts = {0: "first memento", len(ms) - 1: "last memento"}
    if len(ms) == 1:
        firsts = {0: "first last memento"}
    entries += [link(m.uri, firsts.get(i, "memento"), datetime=http_date(m.when)) for i, m in enumerate(ms)]
    return _head(request, Response(",\n".join(entries) + "\n", media_type=LINK_FORMAT,
                                   headers={"Cache-Control": "no-cache"}))


@router.head(f"{MEDIA}/memento/{{when}}/{{rest:path}}", include_in_schema=False)
@router.get(f"{MEDIA}/memento/{{when}}/{{rest:path}}", tags=["public"],
                  response_class=Response,
                  responses={200: {"description": "the archived image, with Memento-Datetime and Link headers",
                                   "content": {"*/*": {}}},
                             **RANGE_RESPONSES, **error_responses(400, 404, 410, *COMMON)})
def image_memento(request: Request, when: str, rest: str) -> Response:
    """An image's Memento: the original archived from the URL at that second (14 digits, UTC), streamed
    from storage as /media/ serves a copy (a byte range gives 206, HEAD reads no body: serve_copy)."""
    rt: Runtime = request.app.state.runtime
    try:
        at = parse_stamp(when)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    original = original_from(request, f"{MEDIA}/memento/{when}/", rest)
    if post_mementos(rt, original) is not None:
        raise HTTPException(status_code=404, detail="a post's Mementos are its capture pages: ask its TimeGate")
    found = image_mementos(rt, original)
    match = next((m for m in found.mementos if stamp(m.when) == stamp(at)), None)
    if match is None and any(stamp(m.when) == stamp(at) for m in found.withdrawn):
        raise HTTPException(status_code=410, detail="taken down")
    if match is None:
        raise HTTPException(status_code=404, detail="no Memento of that URL at that time: ask its TimeGate")
    key = blob_key(found.blobs[match.uri])
    reason = hidden_reason(rt, key)
    if reason is not None:
        raise HTTPException(status_code=410, detail="taken down")
    try:
        info = rt.store.head(key)
    except ObjectNotFound:
        raise HTTPException(status_code=404, detail="the archived copy is missing from storage") from None
    base = rt.store.public_base_url
    headers = {"Memento-Datetime": http_date(match.when), "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": copy_csp(base), "Cache-Control": "public, max-age=3600",
               "Link": ", ".join([link(original, "original"), link(timegate_url(base, original), "timegate"),
                                  link(timemap_url(base, original), "timemap", type=LINK_FORMAT)])}
    return serve_copy(request, rt.store, info, headers)   # a blob: its type sniffed from its first bytes


# --- a capture page's headers (the /media/ route) -----------------------------------------------------
def page_headers(rt: Runtime, key: str) -> dict[str, str]:
    """The Memento headers of ``key`` when it is a capture's human page whose capture is a Memento
    (``Memento-Datetime``, ``Link``: original, TimeGate, TimeMap; and PAGE_CSP, which lets its videos
    play); {} for any other key. Read from the catalog's row of the capture, else from its manifest."""
    manifest = page_manifest_key(key)
    if manifest is None:
        return {}
    csp = page_csp(rt.store.public_base_url)
    capture_id = manifest.rsplit("/", 1)[1].removesuffix(".json")
    rows = rt.catalog.query("SELECT url, status, captured_at, manifest_key FROM captures WHERE capture_id = ?",
                            [capture_id])
    row = rows[0] if rows and rows[0]["manifest_key"] == manifest else None
    if row is None:
        try:
            doc = json.loads(rt.store.get(manifest))
        except (ObjectNotFound, ValueError):
            return {"Content-Security-Policy": csp}
        row = doc if isinstance(doc, dict) else {}
    original, status = safe_url(row.get("url")), row.get("status")
    try:
        when = parse_iso(row.get("captured_at"))
    except (TypeError, ValueError):
        when = None
    if original is None or when is None or status not in MEMENTO_STATUSES:
        return {"Content-Security-Policy": csp}
    base = rt.store.public_base_url
    return {"Content-Security-Policy": csp, "Memento-Datetime": http_date(when),
            "Link": ", ".join([link(original, "original"), link(timegate_url(base, original), "timegate"),
                               link(timemap_url(base, original), "timemap", type=LINK_FORMAT)])}
