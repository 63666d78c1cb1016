"""A small archive for the page tests: articles archived through the real pipeline from the fixture
origin (a Hindi, an Arabic and a hostile tweet; one tweet captured twice with an edit in between),
plus one capture written straight into storage and the catalog with hostile fields a provider
would never produce (a handle with markup, a `javascript:` URL, a lang attribute breaking out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver.auth import create_token
from archiver.config.settings import Settings, load_settings
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image

HINDI_ID = "1945048830047662087"
ARABIC_ID = "1700000000000000001"
EVIL_ID = "1800000000000000002"
FORGED_ID = "1800000000000000003"
HINDI_TEXT = "विदेश मंत्री डॉ. एस. जयशंकर ने तियानजिन में लावरोव से मुलाकात की 🇮🇳🤝🇷🇺"
HINDI_EDITED = "विदेश मंत्री डॉ. एस. जयशंकर ने तियानजिन में रूसी विदेश मंत्री लावरोव से मुलाकात की 🇮🇳🤝🇷🇺"
ARABIC_TEXT = "وزير الخارجية الروسي يلتقي نظيره الهندي في تيانجين"
ARABIC_NAME = "الجزيرة"
EVIL_TEXT = '<script>alert("pwned")</script> <img src=x onerror=alert(2)> & "quotes"'
EVIL_NAME = "<b onmouseover=alert(3)>Evil</b>"
FORGED_HANDLE = '"><script>alert(4)</script>'
FORGED_TEXT = "forged capture <svg onload=alert(5)>"
# Markers that must never appear unescaped in any page.
HOSTILE = ("<script>alert", "<img src=x onerror", "<b onmouseover", "<svg onload", 'lang="en" onmouseover',
           'href="javascript:')


def tweets() -> list[TweetFixture]:
    return [
        TweetFixture(id=HINDI_ID, handle="ANI", name="ANI", lang="hi", text=HINDI_TEXT, media_code="HA2sQBIEQc",
                     photos=[{"name": "p1.jpg", "alt": "handshake", "width": 640, "height": 400}]),
        TweetFixture(id=ARABIC_ID, handle="AlJazeera", name=ARABIC_NAME, lang="ar", text=ARABIC_TEXT),
        TweetFixture(id=EVIL_ID, handle="evil_handle", name=EVIL_NAME, text=EVIL_TEXT),
    ]


def _blockquote(tweet_id: str, handle: str, lang: str, text: str) -> str:
    return (f'<blockquote class="twitter-tweet"><p lang="{lang}" dir="auto">{text}</p>&mdash; {handle} (@{handle}) '
            f'<a href="https://twitter.com/{handle}/status/{tweet_id}">July 15, 2025</a></blockquote>\n')


def article_hi(origin: FixtureOrigin) -> bytes:
    img = origin.url("/media/lead.jpg")
    evil_img = origin.url("/media/lead2.jpg") + "?x=%22%3E%3Cscript%3Ealert(6)%3C/script%3E"
    return ("<html><head><meta charset=\"utf-8\"></head><body><h1>तियानजिन में जयशंकर-लावरोव वार्ता</h1>\n"
            f'<p><img src="{img}" alt="lead"></p>\n<p><img src="{evil_img}" alt="second"></p>\n'
            + _blockquote(HINDI_ID, "ANI", "hi", "विदेश मंत्री")
            + _blockquote(EVIL_ID, "evil_handle", "en", "hostile")
            + "</body></html>\n").encode()


def article_ar() -> bytes:
    return ("<html><head><meta charset=\"utf-8\"></head><body dir=\"rtl\"><h1>لقاء في تيانجين</h1>\n"
            + _blockquote(ARABIC_ID, "AlJazeera", "ar", ARABIC_TEXT[:20])
            + _blockquote(HINDI_ID, "ANI", "hi", "विदेश मंत्री")
            + "</body></html>\n").encode()


@dataclass
class Corpus:
    settings: Settings
    runtime: Runtime
    tokens: dict[str, str]
    forged_capture_id: str


def origin() -> FixtureOrigin:
    images = {"/media/lead.jpg": make_image("lead", 800, 450), "/media/lead2.jpg": make_image("lead2", 400, 300)}
    return FixtureOrigin(tweets=tweets(), images=images)


def build(home: Path, fixture: FixtureOrigin, **overrides: Any) -> Corpus:
    """Archive both articles (the Hindi tweet edited in between) and forge one hostile capture."""
    settings = load_settings(env={}).replace(**{
        "home": str(home), "catalog": f"sqlite:///{home / 'catalog.sqlite3'}", "capture_fresh_for": 0,
        "public_base_url": "https://archive.example/media", **fixture.settings_overrides(), **overrides})
    rt = Runtime.from_settings(settings)
    archive(rt, article_hi(fixture), article_id="story-hi", url="https://news.example/hi")
    fixture.tweets[HINDI_ID].text = HINDI_EDITED
    archive(rt, article_ar(), article_id="story-ar", url="https://news.example/ar")
    capture_id = "20250716T101500Z-0badc0de"
    key = f"posts/twitter/{FORGED_ID}/{capture_id}.json"
    manifest = {"capture_id": capture_id, "captured_at": "2025-07-16T10:15:00.000Z", "provider": "twitter",
                "post_id": FORGED_ID, "status": "archived", "url": "javascript:alert(7)", "lang": 'en" onmouseover="x',
                "author": {"name": "Forger", "handle": FORGED_HANDLE, "id": None, "avatar_sha256": None},
                "created_at": "2025-07-15T09:00:00.000Z", "text": FORGED_TEXT, "media": [],
                "sources": [{"name": "oembed", "request_url": "javascript:alert(8)", "final_url": None,
                             "fetched_at": "2025-07-16T10:15:00.000Z", "http_status": 200,
                             "response_sha256": None, "outcome": "<i>ok</i>"}],
                "warc": None}
    rt.store.put(key, json.dumps(manifest).encode(), content_type="application/json")
    rt.catalog.record_capture(capture_id=capture_id, provider="twitter", post_id=FORGED_ID, url="javascript:alert(7)",
                              status="archived", manifest_key=key, captured_at="2025-07-16T10:15:00.000Z",
                              handle=FORGED_HANDLE, author="Forger", text=FORGED_TEXT,
                              posted_at="2025-07-15T09:00:00.000Z")
    tokens = {role: create_token(rt.catalog, role, f"{role} user") for role in
              ("publisher", "editor", "compliance", "admin")}
    return Corpus(settings, rt, tokens, capture_id)
