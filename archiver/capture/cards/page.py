"""A capture's human page: the static card with the capture's provenance, one HTML document stored at
``posts/<provider>/<post_id>/<capture_id>.html`` (``archiver.storage.layout.capture_page_key``).

It is the Memento (RFC 7089) of the post that the rewritten article's ``data-versionurl`` names, so it
is static (any S3 static host serves it as it is) and `archiver serve` answers it under the public base
URL with ``Memento-Datetime`` and ``Link`` headers (archiver/web/routes/memento.py). It carries the
same links in its ``<head>`` (``rel="original"``, ``"timegate"``, ``"timemap"``) for a host that sends
no headers.

What it shows: the HTML card (html_card.py), the status in plain words (``STATUS_WORDS``) with the
provider's reason, the original URL, when the capture was made, each source with its request and final
URL, time, HTTP status, outcome and the SHA-256 of its answer, each medium and the avatar with its
SHA-256 and stored copy, the parts missing, related captures (quoted, replied-to, latest version) and
the articles the post was found in, and the capture's files (manifest with its SHA-256, WARC, cards,
timestamp record) as relative links, so the page works wherever the ``posts/`` tree is served.

The manifest is hostile input: every value is made display text (``content.clean``), cut to a bound,
and autoescaped by the template; only ``safe_url`` URLs become links; lists are cut (``MAX_ROWS``). The
document runs no script: a ``Content-Security-Policy`` meta element allows images and media from the
archive's own origin and inline styles only (no script, no form target, no base URL).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from markupsafe import Markup

from archiver.capture.cards.content import card_content, clean, display_date, safe_url, stable_url, status_note
from archiver.capture.cards.html_card import card_html
from archiver.capture.cards.jinja import template
from archiver.capture.memento import MEMENTO_STATUSES, http_date, link_uri, timegate_url, timemap_url
from archiver.capture.statuses import STATUS_WORDS
from archiver.storage.layout import (
    MANIFEST_KEY_RE,
    SHA256_RE,
    blob_key,
    capture_page_key,
    card_keys,
    manifest_key,
    timestamp_record_key,
)

if TYPE_CHECKING:
    from archiver.storage.base import ObjectStore

PAGE_TYPE = "text/html; charset=utf-8"
MAX_ROWS = 200  # sources, media, missing parts, articles shown (the manifest keeps all)
MAX_FIELD = 2048  # characters of any one value shown
_RELATIONS = (("quoted", "Quoted post"), ("parent", "Replied-to post"), ("latest_edit", "Latest version"))
_REFERENCED = {"quoted": "Quoted by", "parent": "Replied to by", "latest_edit": "An earlier version of it is"}


def _text(value: Any, limit: int = MAX_FIELD) -> str:
    """A manifest value as bounded display text ("" for a non-string)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    text = clean(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _rows(value: Any) -> list[dict[str, Any]]:
    return [x for x in value[:MAX_ROWS] if isinstance(x, dict)] if isinstance(value, list) else []


def _sha(value: Any) -> str:
    return value if isinstance(value, str) and SHA256_RE.fullmatch(value) else ""


def _copy(store: ObjectStore, sha: str) -> str | None:
    return stable_url(store, blob_key(sha)) if sha else None


def _relative(from_key: str, to_key: str) -> str:
    """A relative reference from the object ``from_key`` to ``to_key`` (both under ``posts/``)."""
    here, there = from_key.split("/")[:-1], to_key.split("/")
    common = 0
    while common < min(len(here), len(there) - 1) and here[common] == there[common]:
        common += 1
    return "../" * (len(here) - common) + "/".join(there[common:])


def csp(store: ObjectStore) -> str:
    """The page's Content-Security-Policy: images and media from the archive itself (and the origin of
    its public base URL), inline styles, nothing else."""
    parts = urlsplit(store.public_base_url)
    origin = f" {parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""
    return (f"default-src 'none'; img-src 'self'{origin}; media-src 'self'{origin}; style-src 'unsafe-inline'; "
            "base-uri 'none'; form-action 'none'")


def _key(m: dict[str, Any]) -> str:
    """The manifest's key; ValueError when its provider, post id or capture id cannot form one."""
    parts = (m.get("provider"), m.get("post_id"), m.get("capture_id"))
    if not all(isinstance(p, str) for p in parts):
        raise ValueError("the manifest's provider, post id and capture id must be strings")
    return manifest_key(*parts)


def page_key(manifest: dict[str, Any]) -> str:
    """Where the page of ``manifest`` is stored (beside it); ValueError when the manifest cannot form its key."""
    return capture_page_key(_key(manifest))


def render_page(data: dict[str, Any], card: str) -> str:
    """The page (a whole HTML document) of ``data`` (``page_data``) around ``card`` (the HTML card,
    already escaped)."""
    return template("page.html").render(**data, card=Markup(card))  # noqa: S704 (escaped by its template)


def page_data(manifest: dict[str, Any], store: ObjectStore, manifest_sha256: str | None = None) -> dict[str, Any]:
    """What the page template shows of ``manifest`` (its JSON shape as stored; any shape is read, wrong
    types show as nothing), the card aside, as plain data (JSON-safe: an image worker can render it,
    ``render_page``).
    ``manifest_sha256`` is the SHA-256 of the manifest's stored bytes, shown when given (a page written
    later for a capture stored before pages existed); a capture's own page is rendered before its manifest
    is final and shows none, since the manifest names the page's SHA-256 (``cards.page_sha256``,
    archiver/capture/record.py) and a page showing the manifest's would be a cycle. Raises ValueError
    when the manifest cannot form its key."""
    m = manifest
    key = _key(m)
    page = capture_page_key(key)
    status = _text(m.get("status"), 40)
    original = safe_url(m.get("url"))
    base = store.public_base_url
    memento = original is not None and status in MEMENTO_STATUSES
    try:
        captured_http = http_date(m.get("captured_at"))
    except (TypeError, ValueError):
        captured_http = ""
    author = m.get("author") if isinstance(m.get("author"), dict) else {}
    avatar = _sha(author.get("avatar_sha256"))
    media = []
    for x in _rows(m.get("media")):
        sha, poster = _sha(x.get("sha256")), _sha(x.get("poster_sha256"))
        media.append({"type": _text(x.get("type"), 40), "status": _text(x.get("status"), 40),
                      "sha256": sha, "stored": _copy(store, sha), "bytes": _text(x.get("bytes"), 20),
                      "mime": _text(x.get("mime"), 100), "url": _text(x.get("original_url")),
                      "href": safe_url(x.get("original_url")), "variant": _text(x.get("variant"), 40),
                      "degraded": x.get("degraded") is True, "error": _text(x.get("error"), 500),
                      "poster": poster, "poster_stored": _copy(store, poster)})
    card_image = m.get("card", {}).get("image") if isinstance(m.get("card"), dict) else None
    if isinstance(card_image, dict):
        sha = _sha(card_image.get("sha256"))
        media.append({"type": "card image", "status": _text(card_image.get("status"), 40), "sha256": sha,
                      "stored": _copy(store, sha), "bytes": _text(card_image.get("bytes"), 20),
                      "mime": _text(card_image.get("mime"), 100), "url": _text(card_image.get("original_url")),
                      "href": safe_url(card_image.get("original_url")), "variant": "", "degraded": False,
                      "error": _text(card_image.get("error"), 500), "poster": "", "poster_stored": None})
    related = []
    for relation, label in _RELATIONS:
        ref = m.get(relation)
        if not isinstance(ref, dict):
            continue
        ref_key = ref.get("manifest_key")
        link = None
        if isinstance(ref_key, str) and MANIFEST_KEY_RE.fullmatch(ref_key) and ".." not in ref_key:
            link = _relative(page, capture_page_key(ref_key))
        ref_status = _text(ref.get("status"), 40)
        related.append({"label": label, "post_id": _text(ref.get("post_id"), 200), "link": link,
                        "status": STATUS_WORDS.get(ref_status, ref_status), "url": safe_url(ref.get("url"))})
    referenced = [{"label": _REFERENCED.get(_text(r.get("relation"), 20), "Named by"),
                   "capture_id": _text(r.get("capture_id"), 40)} for r in _rows(m.get("referenced_by"))]
    articles = [{"id": _text(a.get("article_id"), 200), "url": _text(a.get("url")), "href": safe_url(a.get("url")),
                 "occurrences": len(a["occurrences"]) if isinstance(a.get("occurrences"), list) else 0}
                for a in _rows(m.get("articles"))]
    sources = [{"name": _text(s.get("name"), 100), "request_url": _text(s.get("request_url")),
                "final_url": _text(s.get("final_url")), "fetched_at": _text(s.get("fetched_at"), 40),
                "http_status": _text(s.get("http_status"), 10), "outcome": _text(s.get("outcome"), 100),
                "sha256": _sha(s.get("response_sha256")), "error": _text(s.get("error"), 500)}
               for s in _rows(m.get("sources"))]
    missing = [{"part": _text(p.get("part"), 40), "ref": _text(p.get("ref")), "reason": _text(p.get("reason"), 500)}
               for p in _rows(m.get("missing"))]
    cards = card_keys(m)
    warc = m.get("warc") if isinstance(m.get("warc"), str) and m.get("warc") == key[:-5] + ".warc.gz" else None
    digest = manifest_sha256 if _sha(manifest_sha256) else ""
    files = [["Manifest (JSON)", _relative(page, key), digest],
             *([["Capture WARC (the HTTP exchanges as received)", _relative(page, warc), ""]] if warc else []),
             ["HTML card", _relative(page, cards["html"]), ""], ["PNG card", _relative(page, cards["png"]), ""],
             ["RFC 3161 timestamp record (written once the timestamps are obtained)",
              _relative(page, timestamp_record_key(key)), ""]]
    name, handle = _text(author.get("name"), 200), _text(author.get("handle"), 100)
    who = f"@{handle}" if handle else name or "a post"
    return {
        "title": f"Archived post by {who} ({_text(m.get('provider'), 32)} {_text(m.get('post_id'), 200)})",
        "csp": csp(store),
        "status": status, "words": STATUS_WORDS.get(status, status), "note": status_note(m),
        "error": _text(m.get("error"), 500), "original": original, "original_text": _text(m.get("url")),
        "memento": memento, "timegate": timegate_url(base, original) if memento and original else None,
        "timemap": timemap_url(base, original) if memento and original else None,
        "original_link": link_uri(original) if original else None,
        "captured_at": _text(m.get("captured_at"), 40), "captured": display_date(m.get("captured_at")),
        "captured_http": captured_http, "capture_id": _text(m.get("capture_id"), 40),
        "provider": _text(m.get("provider"), 32), "post_id": _text(m.get("post_id"), 200),
        "archiver_version": _text(m.get("archiver_version"), 40), "schema": _text(m.get("schema"), 40),
        "author_name": name, "author_handle": handle, "avatar": avatar, "avatar_copy": _copy(store, avatar),
        "tombstone": _text(m.get("tombstone"), 1000), "sources": sources, "media": media, "missing": missing,
        "related": related, "referenced": referenced, "articles": articles, "files": files,
    }


def render_capture_page(manifest: dict[str, Any], store: ObjectStore, card: str | None = None,
                        manifest_sha256: str | None = None) -> str:
    """The page of ``manifest`` (a whole HTML document); ``card`` is its HTML card when the caller has
    rendered it already, else it is rendered here. ValueError when the manifest cannot form its key."""
    if card is None:
        card = card_html(card_content(manifest, store), store)
    return render_page(page_data(manifest, store, manifest_sha256), card)


def write_capture_page(store: ObjectStore, manifest: dict[str, Any], card: str | None = None,
                       manifest_sha256: str | None = None) -> str:
    """Render and store the page of ``manifest`` beside it; returns its key. Same manifest and card, same
    bytes: writing again overwrites an identical object. ValueError as ``render_capture_page``."""
    key = page_key(manifest)
    store.put(key, render_capture_page(manifest, store, card, manifest_sha256).encode("utf-8"),
              content_type=PAGE_TYPE)
    return key


def ensure_capture_page(store: ObjectStore, manifest_key_: str) -> str:
    """The key of the page of the capture whose manifest is stored at ``manifest_key_``, written first
    when it is missing (a capture stored before pages existed). ValueError when ``manifest_key_`` is not
    a manifest key or its object is not a manifest of that key; ObjectNotFound when it is not stored."""
    page = capture_page_key(manifest_key_)
    if store.exists(page):
        return page
    data = store.get(manifest_key_)
    doc = json.loads(data)
    if not isinstance(doc, dict) or _key(doc) != manifest_key_:
        raise ValueError(f"{manifest_key_} does not hold that capture's manifest")
    write_capture_page(store, doc, manifest_sha256=hashlib.sha256(data).hexdigest())
    return page
