"""The local runner end to end, against the fixture origin, on a local directory and on S3."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archiver.article.decode import DecodedArticle, SourceCache
from archiver.article.splice import Patch, revert_patch
from archiver.article.versions import VersionConflict, versions, write_version
from archiver.catalog import indexing
from archiver.config.settings import Settings
from archiver.records.result import failed_result
from archiver.runners.local import archive, retry
from archiver.runtime import Runtime
from archiver.steps.capture import capture_item
from archiver.steps.finalize import finalize
from archiver.steps.prepare import load_plan, prepare
from archiver.steps.results import save_result
from archiver.storage.layout import capture_page_key, patch_key, source_key, version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image

TWEET = "1945048830047662087"
VIDEO_TWEET = "1763973978935815120"


def article(origin: FixtureOrigin) -> str:
    img = origin.url("/media/lead.jpg")
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f'<meta property="og:image" content="{img}"></head><body>\n'
        "<p>नई दिल्ली, वाईबीएन डेस्क। जयशंकर और लावरोव &amp; the SCO.</p>\n"
        f'<figure><img src="{img}" alt="Lead (Photo: YBN Desk)"><figcaption>YBN</figcaption></figure>\n'
        '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Lavrov and Jaishankar meet in Tianjin '
        '<a href="https://t.co/HA2sQBIEQc">pic.twitter.com/HA2sQBIEQc</a></p>&mdash; ANI (@ANI) '
        f'<a href="https://twitter.com/ANI/status/{TWEET}?ref_src=twsrc%5Etfw">July 15, 2025</a></blockquote> '
        '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>\n'
        f"<p>\nhttps://x.com/PinecrestObs/status/{VIDEO_TWEET}?s=20\n</p>\n"
        f'<p>Gone: <img src="{origin.url("/media/missing.jpg")}"></p>\n'
        "</body></html>\n"
    )


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [
        TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet in Tianjin",
                     photos=[{"name": "p1.jpg", "alt": "handshake", "width": 640, "height": 400}],
                     media_code="HA2sQBIEQc"),
        TweetFixture(id=VIDEO_TWEET, handle="PinecrestObs", name="Pinecrest Observer", text="Ice-out 👇",
                     video={"name": "ice", "width": 640, "height": 360, "duration_ms": 4000}),
    ]
    with FixtureOrigin(tweets=tweets, images={"/media/lead.jpg": make_image("lead", 800, 450)}) as o:
        yield o


@pytest.fixture(params=["file", "s3"])
def settings(request: pytest.FixtureRequest, tmp_settings: Callable[..., Settings],
             origin: FixtureOrigin) -> Settings:
    extra: dict[str, str] = {}
    if request.param == "s3":
        s3 = request.getfixturevalue("s3")
        extra = s3.settings_overrides(s3.make_bucket(), "news")
    return tmp_settings(**origin.settings_overrides(), **extra, public_base_url="https://archive.example/media")


def keys(rt: Runtime) -> set[str]:
    return set(rt.store.list(""))


def test_archive_end_to_end(settings: Settings, origin: FixtureOrigin) -> None:
    src = article(origin).encode()
    rt = Runtime.from_settings(settings)
    rep = archive(rt, src, base_url="https://news.example/story")
    assert rep["article_id"] == hashlib.sha256(src).hexdigest()[:20]
    assert rep["version"] == 1

    by_id = {e["post_id"]: e for e in rep["embeds"]}
    assert set(by_id) == {TWEET, VIDEO_TWEET}
    for e in by_id.values():
        assert e["status"] == "archived", e
        manifest = json.loads(rt.store.get(e["snapshot"]))
        assert manifest["post_id"] == e["post_id"]
        assert manifest["text"]
    assert by_id[TWEET]["url"] == f"https://twitter.com/ANI/status/{TWEET}"

    images = {i["url"]: i for i in rep["images"]}
    lead = images[origin.url("/media/lead.jpg")]
    assert lead["status"] == "archived"
    assert lead["occurrences"] == 2  # og:image and <img>: one capture
    assert lead["sha256"] == hashlib.sha256(origin.media_bytes("/media/lead.jpg")).hexdigest()
    blob = f"blobs/sha256/{lead['sha256'][:2]}/{lead['sha256']}"
    assert rt.store.get(blob) == origin.media_bytes("/media/lead.jpg")
    assert lead["stable_url"] == f"https://archive.example/media/{blob}"
    missing = images[origin.url("/media/missing.jpg")]
    assert missing["status"] == "failed" and "404" in missing["error"]

    # The rewrite: stable image URLs, Robust Links on the tweet, every other byte identical.
    body = rt.store.get(version_key(rep["article_id"], 1))
    text = body.decode()
    expected = src.decode().replace(origin.url("/media/lead.jpg"), lead["stable_url"])
    page_url = rt.store.public_url(capture_page_key(by_id[TWEET]["snapshot"]))  # the capture's human page
    assert f'?ref_src=twsrc%5Etfw" data-originalurl="https://twitter.com/ANI/status/{TWEET}" ' \
           f'data-versionurl="{page_url}" data-versiondate=' in text  # on the status link
    # The bare-URL paragraph of the second tweet has no link to decorate: it gets none.
    assert text.count("data-versionurl=") == 1
    assert re.sub(r' data-(?:originalurl|versionurl|versiondate)="[^"]*"', "", text) == expected
    patch = Patch.from_json(json.loads(rt.store.get(patch_key(rep["article_id"], 1))))
    assert revert_patch(text, patch) == src.decode()
    assert rt.store.get(source_key(rep["article_id"], hashlib.sha256(src).hexdigest())) == src
    if settings.storage.startswith("file:") or not settings.storage:
        assert Path(rep["rewritten"]).read_bytes() == body

    # Archiving the same article again: same bytes, nothing new stored, nothing fetched again.
    before, fetched = keys(rt), len(origin.requests)
    again = archive(rt, src, base_url="https://news.example/story")
    assert again["version"] == 1 and not again["new_version"]
    assert keys(rt) == before
    # Only the failed image is tried again.
    assert [r.path for r in origin.requests[fetched:]] == ["/media/missing.jpg"]
    rt.close()


def test_failing_tweet_endpoint_then_retry(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    settings = tmp_settings(**origin.settings_overrides(), fetch_retries=0)
    origin.set_behaviour("/tweet-result", "garbage", sticky=True)
    origin.set_behaviour("/oembed", "500", sticky=True)
    src = article(origin).encode()
    rt = Runtime.from_settings(settings)
    rep = archive(rt, src, article_id="story-1")
    statuses = {e["post_id"]: e for e in rep["embeds"]}
    assert statuses[TWEET]["status"] in ("unavailable", "failed")
    assert statuses[TWEET]["error"]
    # The rest of the article is still archived and rewritten.
    assert {i["status"] for i in rep["images"]} == {"archived", "failed"}
    v1 = rt.store.get(version_key("story-1", 1)).decode()
    assert "/blobs/sha256/" in v1 and "data-versionurl" not in v1

    origin.set_behaviour("/tweet-result", "ok")
    origin.set_behaviour("/oembed", "ok")
    rep2 = retry(rt, "story-1")
    assert {e["status"] for e in rep2["embeds"]} == {"archived"}
    assert rep2["version"] == 2
    v2 = rt.store.get(version_key("story-1", 2)).decode()
    assert v2.count("data-versionurl") == 1  # the blockquote's status link (the URL line has no link)
    assert [v.reason for v in versions(rt, "story-1")] == ["archive", "retry"]
    # The retry completed the first, unavailable capture: one manifest, not two.
    assert len([k for k in rt.store.list(f"posts/twitter/{TWEET}/") if k.endswith(".json")]) == 1
    rt.close()


def test_a_capture_the_catalog_knows_but_storage_lacks_is_made_again(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, tmp_path: Path) -> None:
    """The catalog is only an index: after the storage setting changed (or a bucket was emptied) with
    the same catalog, a post it remembers as freshly captured is captured again into this storage,
    so the article never points at a manifest that is not there."""
    src = article(origin).encode()
    first = Runtime.from_settings(tmp_settings(**origin.settings_overrides()))
    archive(first, src, article_id="story-1")
    first.close()
    rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides(), storage=f"file://{tmp_path}/other"))
    rep = archive(rt, src, article_id="story-2")
    for embed in rep["embeds"]:
        assert embed["status"] == "archived" and rt.store.exists(embed["snapshot"]), embed
    assert rt.store.get(version_key("story-2", 1))
    # Within one storage the fresh capture is still reused: nothing new stored.
    before = keys(rt)
    archive(rt, src, article_id="story-3")
    assert {k for k in keys(rt) - before if k.startswith("posts/")} == set()
    rt.close()


def test_timeouts_end_within_the_deadline(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    import time

    settings = tmp_settings(**origin.settings_overrides(), archive_deadline=3.0, fetch_retries=0,
                             fetch_read_timeout=1.0)
    origin.set_behaviour("/tweet-result", "timeout", sticky=True)
    origin.set_behaviour("/oembed", "timeout", sticky=True)
    rt = Runtime.from_settings(settings)
    started = time.monotonic()
    rep = archive(rt, article(origin).encode(), article_id="slow")
    assert time.monotonic() - started < 8
    assert all(e["status"] in ("unavailable", "failed") for e in rep["embeds"])
    assert all(e["error"] for e in rep["embeds"])
    assert rep["version"] == 1
    rt.close()


def test_a_capture_that_died_is_redone_under_the_same_id(tmp_settings: Callable[..., Settings],
                                                          origin: FixtureOrigin) -> None:
    """A worker that died mid-capture left a 'capturing' result: the next run reuses its capture id,
    so it overwrites the same manifest and WARC keys instead of adding a second capture."""
    rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides()))
    plan = prepare(rt, article(origin).encode(), article_id="died")
    item = next(it for it in plan.items if it.kind == "embed" and it.post_id == TWEET)
    save_result(rt, plan, failed_result(item, None).model_copy(update={"status": "capturing",
                                                                      "capture_id": "20260101T000000Z-0000abcd"}))
    result = capture_item(rt, plan, item.item_id)
    assert result.status == "archived"
    assert result.capture_id == "20260101T000000Z-0000abcd"
    assert result.manifest_key == f"posts/twitter/{TWEET}/20260101T000000Z-0000abcd.json"
    assert rt.store.exists(f"posts/twitter/{TWEET}/20260101T000000Z-0000abcd.warc.gz")
    rt.close()


def test_a_capture_committed_before_its_result_was_stored_is_never_written_again(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    """A run that died after storing a capture's manifest (the post held) but before the item's result:
    the 'capturing' result names a capture that is evidence now, so the retry takes a new capture id
    and the first capture's objects stay byte for byte (capture_fresh_for 0: no reuse by the catalog)."""
    rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides(), capture_fresh_for=0))
    plan = prepare(rt, article(origin).encode(), article_id="died-late")
    item = next(it for it in plan.items if it.kind == "embed" and it.post_id == TWEET)
    first = capture_item(rt, plan, item.item_id)
    assert first.status == "archived" and first.manifest_key
    kept = {k: rt.store.get(k) for k in rt.store.list(f"posts/twitter/{TWEET}/") if first.capture_id in k}
    save_result(rt, plan, failed_result(item, None).model_copy(update={"status": "capturing",
                                                                      "capture_id": first.capture_id}))
    again = capture_item(rt, plan, item.item_id)
    assert again.status == "archived" and again.capture_id != first.capture_id
    assert {k: rt.store.get(k) for k in kept} == kept
    rt.close()


def test_an_edit_of_a_stale_version_is_refused(tmp_settings: Callable[..., Settings]) -> None:
    rt = Runtime.from_settings(tmp_settings())
    rep = archive(rt, b"<p>plain</p>", article_id="plain")
    doc = {"base": {"kind": "version", "version": 1}, "ops": []}
    v2 = write_version(rt, "plain", b"<p>edited</p>", reason="restore", source_sha256="x", encoding="utf-8",
                                patch_doc=doc, expected_current=rep["version"])
    assert v2.number == 2
    with pytest.raises(VersionConflict):
        write_version(rt, "plain", b"<p>late</p>", reason="restore", source_sha256="x", encoding="utf-8",
                               patch_doc=doc, expected_current=1)
    assert [v.version for v in versions(rt, "plain")] == [1, 2]
    rt.close()


def test_two_deliveries_of_one_item_at_once_make_one_capture(tmp_settings: Callable[..., Settings],
                                                             origin: FixtureOrigin) -> None:
    """A task delivered twice (a redelivered process_article queues its items again) can run twice at
    the same moment, and another article may embed the same post: later ones wait for the first
    capture and take its result."""
    from concurrent.futures import ThreadPoolExecutor

    rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides()))
    plan = prepare(rt, article(origin).encode(), article_id="twice")
    item = next(it for it in plan.items if it.kind == "embed" and it.post_id == TWEET)
    origin.timeout_sleep = 0.3  # every capture takes that long, so all four start before one ends
    origin.set_behaviour("/tweet-result", "timeout", sticky=True)
    other = prepare(rt, article(origin).replace("Gone:", "Also gone:").encode(), article_id="other")
    runs = [(plan, item.item_id)] * 3 + [(other, item.item_id)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda run: capture_item(rt, *run), runs))
    assert {r.status for r in results} == {"archived"}
    assert len({r.capture_id for r in results}) == 1
    assert origin.count("/tweet-result", id=TWEET) == 1
    manifests = [k for k in keys(rt) if re.fullmatch(rf"posts/twitter/{TWEET}/[^/.]+\.json", k)]
    assert len(manifests) == 1, manifests
    assert len(rt.catalog.query("SELECT * FROM captures WHERE post_id = ?", [TWEET])) == 1
    rt.close()


def test_each_result_is_read_once_per_step(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The local runner reads each item result once and passes it on to finalize and the report (a
    capture reads its own once more); finalize alone reads each once and lists the versions once."""
    rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides()))
    reads: Counter[str] = Counter()
    lists: list[str] = []
    get, listing = rt.store.get, rt.store.list

    def counting_get(key: str, *args: object, **kwargs: object) -> bytes:
        reads[key] += 1
        return get(key, *args, **kwargs)

    def counting_list(prefix: str, *args: object, **kwargs: object) -> object:
        lists.append(prefix)
        return listing(prefix, *args, **kwargs)

    monkeypatch.setattr(rt.store, "get", counting_get)
    monkeypatch.setattr(rt.store, "list", counting_list)
    archive(rt, article(origin).encode(), article_id="once")
    plan = load_plan(rt, "once")
    results = {k: n for k, n in reads.items() if "/results/" in k}
    assert len(results) == len(plan.items) and set(results.values()) == {2}, results  # runner + capture

    reads.clear()
    lists.clear()
    finalize(rt, plan)  # what a worker's finalize task does
    assert sorted(k for k in reads if "/results/" in k) == sorted(
        f"articles/once/results/{plan.source_sha256}/{it.item_id}.json" for it in plan.items)
    assert all(n == 1 for n in reads.values()), reads
    assert lists == ["articles/once/v"]  # write_version checks for a v2 instead of listing again
    rt.close()


def test_the_source_is_decoded_once_per_process_not_once_per_embed(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local runner decodes the article in prepare and its captures share that text: the stored
    source is never read back. A worker process (a fresh Runtime) capturing every item reads it once."""
    settings = tmp_settings(**origin.settings_overrides())
    data = article(origin).encode()
    sha = hashlib.sha256(data).hexdigest()
    key = source_key("decoded-once", sha)
    # The worker captures again rather than reuse the fresh captures (capture_fresh_for=0).
    for rt, expected in ((Runtime.from_settings(settings), 0),
                         (Runtime.from_settings(settings.replace(capture_fresh_for=0)), 1)):
        reads: Counter[str] = Counter()
        get = rt.store.get

        def counting_get(k: str, *args: object, _reads: Counter[str] = reads, _get: Callable[..., bytes] = get,
                         **kwargs: object) -> bytes:
            _reads[k] += 1
            return _get(k, *args, **kwargs)

        monkeypatch.setattr(rt.store, "get", counting_get)
        if expected == 0:
            rep = archive(rt, data, article_id="decoded-once")
            assert sum(1 for e in rep["embeds"] if e["status"] == "archived") == 2
        else:  # a worker: the plan from storage, every item captured again
            plan = load_plan(rt, "decoded-once")
            for item in plan.items:
                capture_item(rt, plan, item.item_id, force=True)
        assert reads[key] == expected, reads
        rt.close()


def test_a_fresh_capture_indexes_its_images_without_decoding_them_again(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    """The difference hash (and size) archiving measured reach the catalog as they are: indexing a
    fresh capture decodes no image again (only `archiver reindex`, which has just the originals, does)."""
    rt = Runtime.from_settings(tmp_settings(**origin.settings_overrides()))

    def no_decoding(*_: object, **__: object) -> None:
        raise AssertionError("indexing decoded an image the capture had measured")

    monkeypatch.setattr(indexing, "inspect_image", no_decoding)
    rep = archive(rt, article(origin).encode(), article_id="measured")
    tweet = next(e for e in rep["embeds"] if e["post_id"] == TWEET)
    manifest = json.loads(rt.store.get(tweet["snapshot"]))
    photos = [m for m in manifest["media"] if m["status"] == "archived" and m["mime"].startswith("image/")]
    assert photos
    for m in photos:
        blob = rt.catalog.blob(m["sha256"])
        assert blob is not None and blob["dhash"] and (blob["width"], blob["height"]) == (m["width"], m["height"])
    rt.close()


def test_the_source_cache_stays_within_its_bounds() -> None:
    """At most `size` sources and `max_chars` code points are kept, newest first; a source larger
    than the bound is never kept; a source is loaded once while it is kept."""
    cache = SourceCache(size=3, max_chars=10)
    for key in "abc":
        cache.put(key, DecodedArticle(key * 4, "utf-8"))
    loads: list[str] = []

    def load(key: str) -> DecodedArticle:
        loads.append(key)
        return DecodedArticle(key * 4, "utf-8")

    assert cache.get("c", lambda: load("c")).text == "cccc" and loads == []  # kept: no load
    assert cache.get("a", lambda: load("a")).text == "aaaa" and loads == ["a"]  # dropped for chars
    cache.put("big", DecodedArticle("x" * 11, "utf-8"))
    cache.get("big", lambda: load("big"))
    cache.get("big", lambda: load("big"))
    assert loads == ["a", "big", "big"]  # too large to keep: loaded each time
