"""One agency photo used by 50 articles archived at once by several real Celery worker processes
(real Redis, real SeaweedFS, the fixture origin): fetched once, stored once, every use recorded,
and every article pointing at the stable public URL (never a presigned one)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from archiver.article.versions import versions
from archiver.capture.imaging import strip_jpeg_metadata
from archiver.config.settings import Settings, load_settings
from archiver.runtime import Runtime
from archiver.storage.layout import blob_key, sha256_hex, source_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image
from tests.harness.celery_worker import Worker, settings_env

pytestmark = pytest.mark.integration

IMAGE = "/img/agency/summit.jpg"
ARTICLES = 50
PUBLIC = "https://archive.example/media"


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(images={IMAGE: make_image("agency-summit", 640, 400)}) as o:
        yield o


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, s3, origin: FixtureOrigin) -> Settings:
    return load_settings(env={}).replace(
        home=str(tmp_path), catalog=f"sqlite:///{tmp_path / 'catalog.sqlite3'}", broker_url=redis_url,
        public_base_url=PUBLIC, **s3.settings_overrides(s3.make_bucket(), "news"),
        **origin.settings_overrides(), host_rate_per_second=1000.0, host_concurrency=16,
    )


def article(i: int, url: str) -> bytes:
    # A different amount of text before the image in each article: every use has its own position.
    return (f"<html><body><h1>Story {i}</h1>\n<p>{'Lede. ' * i}</p>\n"
            f'<figure><img src="{url}" alt="the summit"></figure>\n</body></html>\n').encode()


def test_same_image_in_50_articles_is_fetched_once_and_stored_once(
        settings: Settings, origin: FixtureOrigin, tmp_path: Path) -> None:
    url = origin.url(IMAGE)
    rt = Runtime.from_settings(settings)
    app = Celery("dedupe-test", broker=settings.broker_url)
    bodies = {f"story-{i:02d}": article(i, url) for i in range(ARTICLES)}
    env = settings_env(settings)
    with Worker(env, tmp_path / "w1.log", concurrency=2), Worker(env, tmp_path / "w2.log", concurrency=2):
        for aid, body in bodies.items():   # what `archiver submit` does: store the source, queue it
            sha = sha256_hex(body)
            rt.store.put(source_key(aid, sha), body, if_none_match=True)
            app.send_task("archiver.process_article", args=[aid, sha, None, None, "auto"], queue="archiver")
        deadline = time.monotonic() + 150
        pending = set(bodies)
        while pending and time.monotonic() < deadline:
            pending = {aid for aid in pending if not versions(rt, aid)}
            time.sleep(0.2)
        logs = "".join((tmp_path / n).read_text(errors="replace")[-2000:] for n in ("w1.log", "w2.log"))
        assert not pending, f"{len(pending)} articles never got a version; worker logs:\n{logs}"

    assert origin.count(IMAGE) == 1   # one fetch across 2 processes x 2 children
    data = origin.media_bytes(IMAGE)
    sha = sha256_hex(data)
    key = blob_key(sha)
    assert list(rt.store.list("blobs/")) == [key]   # one stored original ...
    assert rt.store.get(key) == data                # ... byte for byte
    # ... and its serving copies once: the web copy only when it is not the original's very bytes (an
    # upright, web-sized JPEG with no metadata is served as itself, from the original's key).
    web = [] if strip_jpeg_metadata(data) == data else [f"derived/{sha}/web.jpg"]
    assert sorted(rt.store.list("derived/")) == [f"derived/{sha}/thumb.webp", *web]

    stable = rt.store.public_url(key)
    assert stable == f"{PUBLIC}/{key}"
    uses = rt.catalog.blob_uses(sha)
    expected = sorted((aid, body.decode().index(url)) for aid, body in bodies.items())
    assert sorted((u["article_id"], u["position"]) for u in uses) == expected
    for aid, body in bodies.items():
        history = versions(rt, aid)
        assert len(history) == 1
        text = rt.store.get(history[0].key).decode()
        assert f'src="{stable}"' in text   # the stable public URL went into the article
        assert "X-Amz-" not in text and "Signature=" not in text and "Expires=" not in text
        position = body.decode().index(url)
        assert text[:position] == body.decode()[:position]   # nothing before the image was touched
    rt.close()
