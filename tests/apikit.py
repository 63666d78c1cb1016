"""Shared set-up of the API tests: an archived article with a tweet (photo) and an image, an app,
a TestClient and one token per role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from archiver.auth import ROLES, create_token
from archiver.config.settings import Settings
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from archiver.web.app import create_app

TWEET = "1945048830047662087"
ARTICLE_ID = "story-1"


def article_html(origin: FixtureOrigin) -> str:
    return (
        "<html><head><meta charset=\"utf-8\"></head><body>\n"
        "<p>नई दिल्ली: Lavrov and Jaishankar.</p>\n"
        f'<img src="{origin.url("/media/lead.jpg")}" alt="lead">\n'
        '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Lavrov and Jaishankar meet in Tianjin '
        '<a href="https://t.co/HA2sQBIEQc">pic.twitter.com/HA2sQBIEQc</a></p>&mdash; ANI (@ANI) '
        f'<a href="https://twitter.com/ANI/status/{TWEET}?ref_src=twsrc%5Etfw">July 15, 2025</a></blockquote>\n'
        "</body></html>\n"
    )


@contextmanager
def fixture_origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet in Tianjin",
                           photos=[{"name": "p1.jpg", "alt": "handshake", "width": 640, "height": 400}],
                           media_code="HA2sQBIEQc")]
    with FixtureOrigin(tweets=tweets, images={"/media/lead.jpg": make_image("lead", 320, 200)}) as origin:
        yield origin


def private_redis_db(redis_url: str, db: int) -> str:
    """The session's Redis on a database of its own, so worker tests elsewhere never see our queue."""
    base, _, last = redis_url.rstrip("/").rpartition("/")
    return f"{base}/{db}" if last.isdigit() else f"{redis_url.rstrip('/')}/{db}"


@dataclass
class Api:
    settings: Settings
    rt: Runtime
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def call(self, role: str | None, method: str, path: str, **kw: Any) -> Any:
        headers = {**(self.h(role) if role else {}), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)


@contextmanager
def api(settings: Settings) -> Iterator[Api]:
    rt = Runtime.from_settings(settings)
    app = create_app(settings, rt)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(settings, rt, client, {role: create_token(rt.catalog, role, f"test-{role}") for role in ROLES})
    rt.close()


def archive_sample(rt: Runtime, origin: FixtureOrigin) -> dict[str, Any]:
    return archive(rt, article_html(origin).encode(), article_id=ARTICLE_ID,
                            url="https://news.example/story-1")
