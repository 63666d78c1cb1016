"""Plans, item results and versions are typed records: objects stored in today's shape (written by the
release before the records existed) still load, are written back in the same shape, and go through
finalize and the report; a malformed stored object is one clear error naming its key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from archiver.article.versions import version_listing, versions
from archiver.config.settings import Settings
from archiver.records.base import RecordError
from archiver.records.plan import EmbedItem, ImageItem, Plan
from archiver.records.result import EmbedResult, ImageResult, load_item_result
from archiver.records.version import Version
from archiver.runtime import Runtime
from archiver.steps.finalize import finalize
from archiver.steps.prepare import load_plan
from archiver.steps.report import report
from archiver.steps.results import load_result, load_results, pending
from archiver.storage.base import json_bytes
from archiver.storage.layout import plan_key, result_key, source_key, version_meta_key

TWEET = "1945048830047662087"
TWEET_URL = f"https://twitter.com/ANI/status/{TWEET}"
IMAGE, MISSING = "https://img.example/a.jpg", "https://img.example/missing.jpg"
BLOCKQUOTE = (f'<blockquote class="twitter-tweet"><p>hello</p>&mdash; ANI (@ANI) <a href="{TWEET_URL}">'
              "July 15, 2025</a></blockquote>")
SOURCE = f'<p><img src="{IMAGE}"> <img src="{MISSING}"></p>{BLOCKQUOTE}'.encode()
SHA = hashlib.sha256(SOURCE).hexdigest()
BLOB = "fb609856324d602f1dd6b55a9e7e07d1c7625db80e34c6d6871c2d62425afef3"
MANIFEST = f"posts/twitter/{TWEET}/20261130T041959Z-4d4a6b9c.json"


def span(text: str) -> tuple[int, int]:
    start = SOURCE.decode().index(text)
    return start, start + len(text)


# Objects exactly as the release before the typed records wrote them.
PLAN: dict[str, Any] = {
    "archiver_version": "0.1.0", "article_id": "shape", "base_url": None, "created_at": "2026-11-30T04:19:59Z",
    "encoding": "utf-8", "source_key": f"articles/shape/sources/{SHA}", "source_sha256": SHA, "url": None,
    "items": [
        {"item_id": "1f09b250d3a8969a", "kind": "embed", "post_id": TWEET, "provider": "twitter", "url": TWEET_URL,
         "occurrences": [{"author": "ANI", "date": "July 15, 2025", "start": span(BLOCKQUOTE)[0],
                          "end": span(BLOCKQUOTE)[1], "form": "blockquote", "handle": "ANI", "media_links": [],
                          "post_id": TWEET, "provider": "twitter", "text": "hello", "url": TWEET_URL}]},
        {"item_id": "0936f08f30c7e334", "kind": "image", "url": IMAGE,
         "occurrences": [{"alt": None, "credit": None, "start": span(IMAGE)[0], "end": span(IMAGE)[1],
                          "form": "img-src", "url": IMAGE}]},
        {"item_id": "a08a1654e812e7c1", "kind": "image", "url": MISSING,
         "occurrences": [{"alt": None, "credit": None, "start": span(MISSING)[0], "end": span(MISSING)[1],
                          "form": "img-src", "url": MISSING}]},
    ],
}
EMBED_ARCHIVED = {
    "capture_id": "20261130T041959Z-4d4a6b9c", "captured_at": "2026-11-30T04:19:59.710Z", "error": None,
    "item_id": "1f09b250d3a8969a", "kind": "embed", "occurrences": 1, "post_id": TWEET, "provider": "twitter",
    "snapshot": MANIFEST, "status": "archived", "url": TWEET_URL,
}
IMAGE_ARCHIVED = {
    "error": None, "item_id": "0936f08f30c7e334", "key": f"blobs/sha256/fb/{BLOB}", "kind": "image",
    "mime": "image/jpeg", "occurrences": 1, "sha256": BLOB,
    "stable_url": f"https://archive.example/media/blobs/sha256/fb/{BLOB}", "status": "archived", "url": IMAGE,
}
IMAGE_FAILED = {
    "error": f"HTTP 404 from {MISSING}", "item_id": "a08a1654e812e7c1", "kind": "image", "occurrences": 1,
    "sha256": None, "stable_url": None, "status": "failed", "url": MISSING,
}
EMBED_FAILED = {  # what failed_result wrote for an embed
    "item_id": "1f09b250d3a8969a", "kind": "embed", "url": TWEET_URL, "status": "failed", "error": "timed out",
    "occurrences": 1, "provider": "twitter", "post_id": TWEET, "snapshot": None,
}
VERSION = {
    "archiver_version": "0.1.0", "article_id": "shape", "created_at": "2026-11-30T04:20:00Z", "encoding": "utf-8",
    "key": "articles/shape/v1", "patch_key": "articles/shape/v1.patch.json", "reason": "archive",
    "sha256": hashlib.sha256(SOURCE).hexdigest(), "source_sha256": SHA, "version": 1,
}


def test_records_load_todays_shapes_and_write_them_back_unchanged() -> None:
    plan = Plan.loads(json.dumps(PLAN), "plan.json")
    assert [type(it) for it in plan.items] == [EmbedItem, ImageItem, ImageItem]
    embed = plan.item("1f09b250d3a8969a")
    assert isinstance(embed, EmbedItem) and embed.occurrences[0].handle == "ANI"
    assert embed.occurrences[0].key == f"twitter:{TWEET}"  # the discovered Embed itself
    assert plan.to_json() == PLAN

    archived = load_item_result(json.dumps(EMBED_ARCHIVED), "r.json")
    assert isinstance(archived, EmbedResult) and archived.manifest_key == MANIFEST and archived.final
    assert archived.to_json() == EMBED_ARCHIVED  # the manifest key is still stored as "snapshot"
    image = load_item_result(json.dumps(IMAGE_ARCHIVED), "r.json")
    assert isinstance(image, ImageResult) and image.to_json() == IMAGE_ARCHIVED
    # A failed result gains the fields its kind always has, as null (readers never told the two apart).
    failed = load_item_result(json.dumps(IMAGE_FAILED), "r.json")
    assert not failed.final and failed.to_json() == {**IMAGE_FAILED, "key": None, "mime": None}
    failed = load_item_result(json.dumps(EMBED_FAILED), "r.json")
    assert failed.to_json() == {**EMBED_FAILED, "capture_id": None, "captured_at": None}

    version = Version.loads(json.dumps(VERSION), "v1.json")
    assert version.version == 1 and version.to_json() == VERSION


@pytest.fixture
def stored(tmp_settings: Callable[..., Settings]) -> Iterator[Runtime]:
    """A store holding one article's source, plan, item results and first version in today's shape."""
    rt = Runtime.from_settings(tmp_settings(public_base_url="https://archive.example/media"))
    rt.store.put(source_key("shape", SHA), SOURCE)
    rt.store.put(plan_key("shape", SHA), json_bytes(PLAN))
    for res in (EMBED_ARCHIVED, IMAGE_ARCHIVED, IMAGE_FAILED):
        rt.store.put(result_key("shape", SHA, res["item_id"]), json_bytes(res))
    rt.store.put("articles/shape/v1", SOURCE)
    rt.store.put("articles/shape/v1.patch.json", json_bytes({"base": {"kind": "source", "sha256": SHA}, "ops": []}))
    rt.store.put(version_meta_key("shape", 1), json_bytes(VERSION))
    rt.catalog.record_article(article_id="shape", url=None, source_sha256=SHA, encoding="utf-8", status="partial",
                              created_at="2026-11-30T04:19:59Z", updated_at="2026-11-30T04:20:00Z")
    yield rt
    rt.close()


def test_stored_objects_of_today_go_through_finalize_and_the_report(stored: Runtime) -> None:
    rt = stored
    plan = load_plan(rt, "shape")
    results = load_results(rt, plan)
    assert pending(plan, results) == ["a08a1654e812e7c1"]
    written = finalize(rt, plan, reason="retry")
    assert written.new and written.number == 2
    text = rt.store.get(written.key).decode()
    assert f'src="{IMAGE_ARCHIVED["stable_url"]}"' in text and f'src="{MISSING}"' in text
    assert f'data-versionurl="https://archive.example/media/{MANIFEST}"' in text
    assert [v.version for v in versions(rt, "shape")] == [1, 2]
    rep = report(rt, plan, written, results)
    assert rep["embeds"] == [{"provider": "twitter", "post_id": TWEET, "url": TWEET_URL, "status": "archived",
                              "snapshot": MANIFEST, "error": None, "occurrences": 1, "missing": []}]
    assert [(i["url"], i["status"]) for i in rep["images"]] == [(IMAGE, "archived"), (MISSING, "failed")]


@pytest.mark.parametrize(("kind", "doc", "problem"), [
    ("result", {**EMBED_ARCHIVED, "status": "kept"}, "status"),
    ("result", {k: v for k, v in IMAGE_ARCHIVED.items() if k != "url"}, "url"),
    ("result", {**IMAGE_ARCHIVED, "kind": "video"}, "kind"),
    ("plan", {**PLAN, "source_sha256": "nope"}, "source_sha256"),
    ("plan", {**PLAN, "items": [{**PLAN["items"][1], "occurrences": []}]}, "occurrences"),
    ("version", {**VERSION, "version": "first"}, "version"),
])
def test_a_malformed_stored_object_is_a_clear_error(stored: Runtime, kind: str, doc: dict[str, Any],
                                                     problem: str) -> None:
    rt = stored
    key = {"result": result_key("shape", SHA, EMBED_ARCHIVED["item_id"]), "plan": plan_key("shape", SHA),
           "version": version_meta_key("shape", 1)}[kind]
    rt.store.put(key, json_bytes(doc))
    with pytest.raises(RecordError) as err:
        if kind == "result":
            load_result(rt, Plan.loads(json.dumps(PLAN), "plan.json"), EMBED_ARCHIVED["item_id"])
        elif kind == "plan":
            load_plan(rt, "shape")
        else:
            Version.loads(rt.store.get(key), key)
    assert key in str(err.value) and problem in str(err.value)
    if kind == "version":  # listing the versions names it unreadable rather than failing (issue 17)
        listing = version_listing(rt, "shape")
        assert listing.unreadable == [1] and versions(rt, "shape") == listing.readable


def test_bytes_that_are_not_json_are_a_clear_error(stored: Runtime) -> None:
    key = plan_key("shape", SHA)
    stored.store.put(key, b"{not json")
    with pytest.raises(RecordError, match=f"{key} is not a valid plan"):
        load_plan(stored, "shape")
