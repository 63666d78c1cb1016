"""Captures true about what they lack (issue 15, the capture step's side): a medium served at several
sizes is stored at the largest that answers and says which; a medium, card image or related post that
could not be captured is listed in the manifest's ``missing`` and makes the capture "partial"; the
retries (``archiver retry``, the local runner, the sweeper and the workers' capture step) capture a
partial item again under a new capture id, never writing the partial capture again, and move the item
to the new capture only when it is archived or partial (otherwise the item keeps its partial capture,
its error saying what the retry found); the report says what is missing. A size whose content is
rejected gives way to the next size; a size our policy refuses ends the ladder; either way a medium
the capture lacks is a missing part.

Everything runs against the real fixture origin (a loopback HTTP server), a LocalStore and the
SQLite catalog; retries go through the real CLI, the local runner and the capture step."""

from __future__ import annotations

import hashlib
import html
import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archiver.auth import create_token
from archiver.capture.fetch import Fetcher
from archiver.capture.manifest import (
    RETRYABLE_STATUSES,
    STATUS_WORDS,
    LinkCard,
    Manifest,
    MissingPart,
    validate_manifest,
)
from archiver.capture.record import REASON_LIMIT, REFUSED, CaptureResult, missing_summary, store_capture
from archiver.cli.articles import print_report
from archiver.config.settings import Settings
from archiver.health.restore import restore
from archiver.providers.base import CaptureContext, CapturedPost, MediaRef
from archiver.records.result import EmbedResult
from archiver.runners.local import archive, retry, run_captures
from archiver.runners.queue import CAPTURE_ITEM
from archiver.runners.sweep import sweep
from archiver.runtime import Runtime
from archiver.steps.capture import ERROR_LIMIT, RETRY_MARK, capture_item, capture_lock, settle
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_result
from archiver.storage.layout import capture_page_key, version_key
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from archiver.testing.fixtures import make_mp4
from archiver.web.app import create_app

PHOTO_TWEET = "1757429972446608301"
STEM = "GGR3kxLWAAAq7Zp"
QUOTING = "1763973978935815120"
QUOTED = "1762828123138730112"


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [
        TweetFixture(id=PHOTO_TWEET, handle="LakemontDPW", name="Lakemont Public Works", text="Crews out now",
                     photos=[{"name": f"{STEM}.jpg", "alt": "A plow", "width": 120, "height": 80}]),
        TweetFixture(id=QUOTING, handle="PinecrestObs", name="Pinecrest Observer", text="Ice-out is official",
                     quoted_id=QUOTED),
        TweetFixture(id=QUOTED, handle="LakemontDPW", name="Lakemont Public Works",
                     text="Lake Mont ice report: stay off the ice."),
    ]
    with FixtureOrigin(tweets=tweets, timeout_sleep=1.0) as o:
        yield o


@pytest.fixture
def settings(origin: FixtureOrigin, tmp_settings: Callable[..., Settings]) -> Settings:
    return tmp_settings(**origin.settings_overrides(), fetch_retries=0, media_derivatives=False,
                        capture_retry_delays="60,600", public_base_url="https://archive.example/media")


def blockquote(handle: str, post_id: str) -> str:
    return (f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">text</p>&mdash; {handle} (@{handle}) '
            f'<a href="https://twitter.com/{handle}/status/{post_id}">July 15, 2025</a></blockquote>\n')


def manifest_at(rt: Runtime, key: str) -> dict[str, Any]:
    doc = json.loads(rt.store.get(key))
    validate_manifest(doc)
    return doc


def manifests_of(rt: Runtime, post_id: str) -> list[str]:
    return [k for k in rt.store.list(f"posts/twitter/{post_id}/") if k.endswith(".json")]


def objects(rt: Runtime, *capture_ids: str) -> dict[str, bytes]:
    """Every stored object of the captures named (manifest, WARC, cards), by key, with its bytes."""
    found = {k: rt.store.get(k) for k in rt.store.list("posts/")
             if any(f"/{cid}." in k for cid in capture_ids)}
    assert any(k.endswith(".json") for k in found) and any(k.endswith(".warc.gz") for k in found)
    assert any(k.endswith(".card.html") for k in found)
    return found


# --- the capture step itself: a provider's CapturedPost stored into a LocalStore ---------------------
@pytest.fixture
def record_env(settings: Settings, tmp_path: Path) -> dict[str, Any]:
    return {"settings": settings, "fetcher": Fetcher(settings),
            "store": LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")}


def post(status: str = "archived", **fields: Any) -> Manifest:
    """A provider's manifest with nothing but what every capture has (the post id, a capture id)."""
    m = Manifest.new(provider="twitter", post_id="42", capture_id="20260101T000000Z-0000abcd",
                     captured_at=datetime(2026, 1, 1, tzinfo=UTC), status=status, url="https://twitter.com/a/status/42")
    m.text = m.text_expanded = "a post"
    for name, value in fields.items():
        setattr(m, name, value)
    return m


def store(env: dict[str, Any], m: Manifest, media: list[MediaRef]) -> tuple[CaptureResult, dict[str, Any]]:
    ctx = CaptureContext(settings=env["settings"], fetcher=env["fetcher"], capture_id=m.capture_id)
    res = store_capture(CapturedPost("twitter", m, media=media), ctx, env["store"])
    assert res.manifest_key, res.error
    doc = json.loads(env["store"].get(res.manifest_key))
    validate_manifest(doc)
    return res, doc


def sizes(origin: FixtureOrigin, name: str) -> dict[str, tuple[str, bytes]]:
    """Three sizes of one photo, each at its own path with its own bytes (so a digest tells which was stored)."""
    out = {}
    for label, width in (("orig", 160), ("4096x4096", 120), ("large", 80)):
        body = make_image(f"{name}:{label}", width, width // 2)
        out[label] = (origin.add_image(f"/sized/{name}/{label}.jpg", body), body)
    return out


def ladder(found: dict[str, tuple[str, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple((label, url) for label, (url, _) in found.items())


def test_the_largest_size_that_answers_is_stored_and_says_so(origin: FixtureOrigin, record_env: dict[str, Any]
                                                             ) -> None:
    found = sizes(origin, "a")
    origin.set_behaviour("/sized/a/orig.jpg", "404", sticky=True)
    ref = MediaRef("photo", found["orig"][0], variants=ladder(found), alt_text="plow",
                   flags={"availability": {"status": "Available", "reason": None}, "possibly_sensitive": True,
                          "source_status_id": "111", "sha256": "0" * 64, "bogus": 1, "source_user_id": 7})
    res, m = store(record_env, post(), [ref])
    assert res.status == "archived" and m["status"] == "archived" and "missing" not in m
    [medium] = m["media"]
    assert medium["status"] == "archived"
    assert (medium["variant"], medium["degraded"]) == ("4096x4096", True)
    assert medium["sha256"] == hashlib.sha256(found["4096x4096"][1]).hexdigest()
    assert record_env["store"].get(medium["key"]) == found["4096x4096"][1]
    assert medium["original_url"] == found["4096x4096"][0]
    # Flags that are Media fields are copied; what the step fills itself, unknown names and wrong types are not.
    assert medium["availability"] == {"status": "Available", "reason": None}
    assert medium["possibly_sensitive"] is True and medium["source_status_id"] == "111"
    assert "source_user_id" not in medium and "bogus" not in medium
    # Each size tried has its source entry; the sizes after the one stored are never asked for.
    tried = [(s["data"] or {}).get("variant") for s in m["sources"] if s["name"] == "media"]
    assert tried == ["orig", "4096x4096"]
    assert [s["http_status"] for s in m["sources"] if s["name"] == "media"] == [404, 200]
    assert origin.count("/sized/a/large.jpg") == 0

    origin.set_behaviour("/sized/a/orig.jpg")
    _, m = store(record_env, post(), [ref])
    assert (m["media"][0]["variant"], m["media"][0]["degraded"]) == ("orig", False)
    assert m["media"][0]["sha256"] == hashlib.sha256(found["orig"][1]).hexdigest()


def test_every_size_failing_is_a_missing_part_and_the_capture_partial(origin: FixtureOrigin,
                                                                      record_env: dict[str, Any]) -> None:
    found = sizes(origin, "b")
    for label in found:
        origin.set_behaviour(f"/sized/b/{label}.jpg", "404", sticky=True)
    res, m = store(record_env, post(), [MediaRef("photo", found["orig"][0], variants=ladder(found))])
    assert res.status == m["status"] == "partial"
    [medium] = m["media"]
    assert medium["status"] == "failed" and medium["variant"] is None and medium["degraded"] is None
    assert medium["original_url"] == found["orig"][0]
    assert all(label in medium["error"] for label in found) and "404" in medium["error"]
    assert m["missing"] == [{"part": "photo", "ref": found["orig"][0], "reason": medium["error"]}]
    assert m["error"].startswith("1 part missing: photo " + found["orig"][0])
    assert [s["http_status"] for s in m["sources"] if s["name"] == "media"] == [404, 404, 404]


def test_without_variants_the_listed_url_is_the_fallback_and_nothing_new_is_written(
        origin: FixtureOrigin, record_env: dict[str, Any]) -> None:
    body = make_image("c", 50, 40)
    listed = origin.add_image("/plain/c.jpg", body)
    res, m = store(record_env, post(), [MediaRef("photo", origin.url("/plain/c-orig.jpg"), listed_url=listed)])
    assert res.status == "archived"
    [medium] = m["media"]
    assert medium["sha256"] == hashlib.sha256(body).hexdigest() and medium["original_url"] == listed
    # A medium without sizes says nothing about them, and a capture lacking nothing has no `missing`.
    assert not {"variant", "degraded", "poster_variant"} & set(medium) and "missing" not in m


# What a size can answer with 200 that is not the medium: each is a content rejection, so the next size is
# tried (the kinds archive_media rejects for what the bytes are, not for one of our limits).
NOT_AN_IMAGE = {
    "html": (b"<!DOCTYPE html><html><body>Service unavailable</body></html>", "image/jpeg"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "image/jpeg"),
    "damaged": (make_image("damaged", 160, 80)[:300], "image/jpeg"),
    "unknown": (bytes(range(256)) * 4, "image/jpeg"),
    "pdf": (b"%PDF-1.4\n%fake\n", "image/jpeg"),
}


@pytest.mark.parametrize("kind", sorted(NOT_AN_IMAGE))
def test_a_size_whose_content_is_rejected_moves_on_to_the_next(origin: FixtureOrigin, record_env: dict[str, Any],
                                                               kind: str) -> None:
    """A CDN's error page, a truncated file, bytes of another type answered with 200 at the largest
    size: what it answered is rejected, and a smaller size that holds the photo is stored (degraded)."""
    found = sizes(origin, f"d{kind}")
    origin.add_image(f"/sized/d{kind}/orig.jpg", *NOT_AN_IMAGE[kind])
    res, m = store(record_env, post(), [MediaRef("photo", found["orig"][0], variants=ladder(found))])
    assert res.status == m["status"] == "archived" and "missing" not in m
    [medium] = m["media"]
    assert (medium["status"], medium["variant"], medium["degraded"]) == ("archived", "4096x4096", True)
    assert medium["sha256"] == hashlib.sha256(found["4096x4096"][1]).hexdigest()
    outcomes = [(s["data"]["variant"], s["outcome"]) for s in m["sources"] if s["name"] == "media"]
    assert outcomes == [("orig", "rejected"), ("4096x4096", "archived")]
    assert origin.count(f"/sized/d{kind}/large.jpg") == 0


def test_content_rejected_at_every_size_is_a_missing_part(origin: FixtureOrigin, record_env: dict[str, Any]
                                                          ) -> None:
    """No size holds an image: the capture lacks the photo, so it is partial and says why for each size."""
    found = sizes(origin, "h")
    for label in found:
        origin.add_image(f"/sized/h/{label}.jpg", *NOT_AN_IMAGE["html"])
    res, m = store(record_env, post(), [MediaRef("photo", found["orig"][0], variants=ladder(found))])
    assert res.status == m["status"] == "partial"
    [medium] = m["media"]
    assert medium["status"] == "rejected" and medium["variant"] is None and medium["degraded"] is None
    assert all(f"{label}: not an allowed image type: text/html" in medium["error"] for label in found)
    assert m["missing"] == [{"part": "photo", "ref": found["orig"][0], "reason": medium["error"]}]
    assert not m["missing"][0]["reason"].startswith(REFUSED)
    assert m["error"].startswith("1 part missing: photo " + found["orig"][0])
    # The same for a video's variants: another type answered at each of them.
    page = origin.add_image("/plain/v1.mp4", *NOT_AN_IMAGE["html"])
    res, m = store(record_env, post(), [MediaRef("video", page, variants=(("1280x720", page),))])
    assert res.status == "partial" and m["media"][0]["status"] == "rejected"
    assert m["missing"][0]["part"] == "video" and "not an allowed video type" in m["missing"][0]["reason"]


def test_a_size_whose_url_is_broken_moves_on_to_the_next(origin: FixtureOrigin, record_env: dict[str, Any]) -> None:
    """A URL that is not one (no usable host) is not a refusal of ours: the next size is tried."""
    found = sizes(origin, "u")
    broken = "http://exa mple.invalid:99999/orig.jpg"
    tries = (("orig", broken), ("4096x4096", found["4096x4096"][0]))
    res, m = store(record_env, post(), [MediaRef("photo", broken, variants=tries)])
    assert res.status == "archived" and "missing" not in m
    assert (m["media"][0]["variant"], m["media"][0]["degraded"]) == ("4096x4096", True)
    assert [s["outcome"] for s in m["sources"] if s["name"] == "media"] == ["rejected", "archived"]


def test_a_video_variant_whose_content_is_rejected_moves_on_to_the_next(origin: FixtureOrigin,
                                                                        record_env: dict[str, Any]) -> None:
    page = origin.add_image("/plain/v2-720.mp4", *NOT_AN_IMAGE["html"])
    clip = origin.add_image("/plain/v2-360.mp4", make_mp4("/plain/v2-360.mp4", 2000))
    res, m = store(record_env, post(), [MediaRef("video", page, variants=(("1280x720", page), ("640x360", clip)))])
    assert res.status == "archived" and "missing" not in m
    [medium] = m["media"]
    assert (medium["status"], medium["variant"], medium["degraded"], medium["duration"]) == \
        ("archived", "640x360", True, 2.0)


def _animated_gif(frames: int) -> bytes:
    from PIL import Image

    images = [Image.new("RGB", (160, 80), (40 * i % 256, 90, 200)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buf.getvalue()


# Our policies, each refusing the largest size: (settings, what orig serves or None, its URL or None).
POLICIES: dict[str, tuple[dict[str, Any], bytes | None, str | None]] = {
    "address guard": ({}, None, "http://169.254.169.254/latest/orig.jpg"),
    "byte cap": ({"max_bytes_image": 4000}, make_image("big", 900, 700), None),
    "pixel ceiling": ({"max_image_pixels": 160 * 80 - 1}, None, None),
    "frame cap": ({"max_image_frames": 2}, _animated_gif(3), None),
    "decoding time": ({"media_time_limit": 1e-9}, None, None),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_policy_refusal_ends_the_ladder_and_is_missing_as_refused(origin: FixtureOrigin, settings: Settings,
                                                                    tmp_path: Path, policy: str) -> None:
    """A size our policy refuses is not replaced by a smaller one (that would hide the refusal), but the
    capture lacks the photo all the same: a missing part whose reason says it was refused, so the
    capture is partial and a retry once the policy allows it can complete it."""
    over, body, url = POLICIES[policy]
    env_settings = settings.replace(**over)
    env = {"settings": env_settings, "fetcher": Fetcher(env_settings),
           "store": LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")}
    found = sizes(origin, "p")
    if body is not None:
        origin.add_image("/sized/p/orig.jpg", body, "image/gif" if body.startswith(b"GIF") else "image/jpeg")
    first = url or found["orig"][0]
    tries = (("orig", first), ("4096x4096", found["4096x4096"][0]), ("large", found["large"][0]))
    res, m = store(env, post(), [MediaRef("photo", first, variants=tries)])
    assert res.status == m["status"] == "partial"
    [medium] = m["media"]
    assert medium["status"] == "rejected" and medium["variant"] is None
    assert origin.count("/sized/p/4096x4096.jpg") == 0 and origin.count("/sized/p/large.jpg") == 0
    [part] = m["missing"]
    assert (part["part"], part["ref"]) == ("photo", first)
    assert part["reason"] == REFUSED + medium["error"]
    assert m["error"].startswith("1 part missing: photo ") and REFUSED in m["error"]


def test_poster_sizes_are_tried_in_order(origin: FixtureOrigin, record_env: dict[str, Any]) -> None:
    found = sizes(origin, "e")
    origin.set_behaviour("/sized/e/orig.jpg", "503", sticky=True)
    video = origin.add_image("/plain/e.mp4", make_mp4("/plain/e.mp4", 1000))
    res, m = store(record_env, post(), [MediaRef("video", video, poster_variants=ladder(found))])
    assert res.status == "archived"
    [medium] = m["media"]
    assert medium["poster_variant"] == "4096x4096"
    assert medium["poster_sha256"] == hashlib.sha256(found["4096x4096"][1]).hexdigest()
    assert medium["poster_url"] == found["orig"][0]


def test_a_card_image_goes_to_the_link_card(origin: FixtureOrigin, record_env: dict[str, Any]) -> None:
    found = sizes(origin, "f")
    origin.set_behaviour("/sized/f/orig.jpg", "404", sticky=True)
    card = LinkCard.model_construct(name="summary_large_image", title="Parking ban map", domain="lakemont.example.gov")
    ref = MediaRef("photo", found["orig"][0], variants=ladder(found), slot="card", source="card_image")
    res, m = store(record_env, post(card=card), [ref])
    assert res.status == "archived" and m["media"] == []
    image = m["card"]["image"]
    assert image["status"] == "archived" and (image["variant"], image["degraded"]) == ("4096x4096", True)
    assert image["sha256"] == hashlib.sha256(found["4096x4096"][1]).hexdigest()
    assert record_env["store"].get(image["key"]) == found["4096x4096"][1]
    assert m["card"]["title"] == "Parking ban map"

    # Every size of the card image failing: a missing "card_image", the capture partial.
    for label in found:
        origin.set_behaviour(f"/sized/f/{label}.jpg", "500", sticky=True)
    card = LinkCard.model_construct(name="summary_large_image", title="Parking ban map")
    res, m = store(record_env, post(card=card), [ref])
    assert res.status == "partial" and m["card"]["image"]["status"] == "failed"
    assert [(p["part"], p["ref"]) for p in m["missing"]] == [("card_image", found["orig"][0])]


def test_a_card_image_without_a_card_is_not_fetched(origin: FixtureOrigin, record_env: dict[str, Any]) -> None:
    url = origin.add_image("/plain/g.jpg", make_image("g", 40, 40))
    res, m = store(record_env, post(), [MediaRef("photo", url, slot="card", source="card_image")])
    assert res.status == "archived" and m["media"] == [] and "card" not in m
    assert origin.count("/plain/g.jpg") == 0
    [entry] = [s for s in m["sources"] if s["name"] == "card_image"]
    assert entry["outcome"] == "skipped" and "no link card" in entry["error"]


def test_what_a_provider_listed_as_missing_stays(origin: FixtureOrigin, record_env: dict[str, Any]) -> None:
    listed = [MissingPart.model_construct(part="media", ref="https://t.co/abc", reason="no source gives its URL")]
    # A provider's partial keeps its status and error; an archived one lacking parts becomes partial.
    res, m = store(record_env, post("partial", missing=list(listed), error="syndication had nothing"), [])
    assert (res.status, m["error"]) == ("partial", "syndication had nothing")
    assert m["missing"] == [{"part": "media", "ref": "https://t.co/abc", "reason": "no source gives its URL"}]
    res, m = store(record_env, post("archived", missing=list(listed)), [])
    assert res.status == "partial" and m["error"] == missing_summary(listed)
    # A provider's empty list is not written.
    _, m = store(record_env, post("archived", missing=[]), [])
    assert m["status"] == "archived" and "missing" not in m


def test_a_related_post_left_retryable_makes_its_post_partial(origin: FixtureOrigin,
                                                              record_env: dict[str, Any]) -> None:
    related = post("unavailable", post_id="43", capture_id="20260101T000000Z-0000abce",
                   error="syndication: HTTP 503")
    gone = post("deleted", post_id="44", capture_id="20260101T000000Z-0000abcf", error="oEmbed 404")
    m = post()
    ctx = CaptureContext(settings=record_env["settings"], fetcher=record_env["fetcher"], capture_id=m.capture_id)
    captured = CapturedPost("twitter", m, related={"quoted": CapturedPost("twitter", related),
                                                    "parent": CapturedPost("twitter", gone)})
    res = store_capture(captured, ctx, record_env["store"])
    doc = json.loads(record_env["store"].get(res.manifest_key or ""))
    assert res.status == doc["status"] == "partial"
    # Only the retryable one is missing: a deleted parent is what the platform says, not a gap.
    assert doc["missing"] == [{"part": "quoted", "ref": "43",
                               "reason": f"{STATUS_WORDS['unavailable']}: syndication: HTTP 503"}]
    assert doc["quoted"]["status"] in RETRYABLE_STATUSES and doc["parent"]["status"] == "deleted"


def test_hostile_reasons_are_one_bounded_line(origin: FixtureOrigin, record_env: dict[str, Any]) -> None:
    nasty = "\x1b[31mred\x1b[0m\nline two\r\x00" + "x" * 5000
    related = post("failed", post_id="45", capture_id="20260101T000000Z-0000abd0", error=nasty)
    m = post()
    ctx = CaptureContext(settings=record_env["settings"], fetcher=record_env["fetcher"], capture_id=m.capture_id)
    res = store_capture(CapturedPost("twitter", m, related={"quoted": CapturedPost("twitter", related)}), ctx,
                        record_env["store"])
    doc = json.loads(record_env["store"].get(res.manifest_key or ""))
    [part] = doc["missing"]
    assert len(part["reason"]) <= REASON_LIMIT and len(doc["error"]) <= 500
    for text in (part["reason"], doc["error"]):
        assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in text)


# --- through the pipeline: the local runner, the CLI, the sweeper and the capture step ---------------
def test_a_photo_no_size_of_which_answers_is_partial_until_archiver_retry_completes_it(
        origin: FixtureOrigin, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from archiver.cli import main as cli

    for path in (f"/media/{STEM}", f"/media/{STEM}.jpg"):   # every named size, and the URL as listed
        origin.set_behaviour(path, "404", sticky=True)
    rt = Runtime.from_settings(settings)
    src = ("<p>Story</p>\n" + blockquote("LakemontDPW", PHOTO_TWEET)).encode()
    rep = archive(rt, src, article_id="photo-story")
    [embed] = rep["embeds"]
    assert embed["status"] == "partial" and embed["error"].startswith("1 part missing: photo")
    m = manifest_at(rt, embed["snapshot"])
    assert m["status"] == "partial" and m["media"][0]["status"] == "failed"
    assert [(p["part"], p["ref"]) for p in m["missing"]] == [("photo", m["media"][0]["original_url"])]
    assert f"/media/{STEM}" in m["missing"][0]["ref"]
    # The report lists what is missing, in JSON and in the text the CLI prints.
    assert embed["missing"] == m["missing"]
    print_report(rep)
    assert f"    missing: photo {m['missing'][0]['ref']} (" in capsys.readouterr().out
    # A partial capture holds the post: the article points at it as at an archived one.
    assert "data-versionurl" in rt.store.get(version_key("photo-story", 1)).decode()
    assert rt.catalog.article("photo-story")["status"] == "partial"
    capture_id = m["capture_id"]
    first_objects = objects(rt, capture_id)
    rt.close()

    for path in (f"/media/{STEM}", f"/media/{STEM}.jpg"):
        origin.set_behaviour(path)
    for name in ("home", "public_base_url", "fetch_allow", "twitter_oembed_url", "twitter_syndication_url",
                 "twitter_shortlink_url", "fetch_retries", "media_derivatives"):
        monkeypatch.setenv(f"ARCHIVER_{name.upper()}", str(getattr(settings, name)))
    capsys.readouterr()
    assert cli.main(["retry", "photo-story", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    [embed2] = again["embeds"]
    assert (embed2["status"], embed2["missing"], embed2["error"]) == ("archived", [], None)
    assert again["version"] == 2
    rt = Runtime.from_settings(settings)
    m2 = manifest_at(rt, embed2["snapshot"])
    assert m2["status"] == "archived" and "missing" not in m2
    assert m2["media"][0]["status"] == "archived" and m2.get("error") is None
    assert m2["media"][0]["sha256"] == hashlib.sha256(origin.media_bytes(f"/media/{STEM}")).hexdigest()
    # The archived capture is a new one the item moved to; the partial one is still there as it was.
    assert m2["capture_id"] != capture_id and embed2["snapshot"] != embed["snapshot"]
    assert sorted(manifests_of(rt, PHOTO_TWEET)) == sorted([embed["snapshot"], embed2["snapshot"]])
    assert {k: rt.store.get(k) for k in first_objects} == first_objects
    assert [(c["capture_id"], c["status"]) for c in rt.catalog.post_captures("twitter", PHOTO_TWEET)] == \
        [(capture_id, "partial"), (m2["capture_id"], "archived")]
    assert rt.store.public_url(capture_page_key(embed2["snapshot"])) in \
        rt.store.get(version_key("photo-story", 2)).decode()
    rt.close()


def test_an_unavailable_quoted_post_makes_its_quoting_post_partial_until_retried(
        origin: FixtureOrigin, settings: Settings) -> None:
    origin.set_behaviour(f"/tweet-result?id={QUOTED}", "503", sticky=True)
    rt = Runtime.from_settings(settings)
    rep = archive(rt, blockquote("PinecrestObs", QUOTING).encode(), article_id="quote-story")
    [embed] = rep["embeds"]
    assert embed["status"] == "partial", embed
    m = manifest_at(rt, embed["snapshot"])
    assert m["quoted"]["post_id"] == QUOTED and m["quoted"]["status"] in RETRYABLE_STATUSES
    assert [(p["part"], p["ref"]) for p in m["missing"]] == [("quoted", QUOTED)]
    assert embed["missing"] == m["missing"]
    quoted_key = m["quoted"]["manifest_key"]

    first_objects = objects(rt, m["capture_id"], m["quoted"]["capture_id"])

    origin.set_behaviour(f"/tweet-result?id={QUOTED}")
    again = retry(rt, "quote-story")
    [embed2] = again["embeds"]
    assert (embed2["status"], embed2["missing"]) == ("archived", [])
    assert embed2["snapshot"] != embed["snapshot"]
    m2 = manifest_at(rt, embed2["snapshot"])
    assert m2["status"] == "archived" and "missing" not in m2
    assert m2["quoted"]["status"] == "archived" and m2["quoted"]["manifest_key"] != quoted_key
    assert manifest_at(rt, m2["quoted"]["manifest_key"])["status"] == "archived"
    # The partial capture and its quoted post's capture are kept as they were.
    assert {k: rt.store.get(k) for k in first_objects} == first_objects
    assert sorted(manifests_of(rt, QUOTED)) == sorted([quoted_key, m2["quoted"]["manifest_key"]])
    rt.close()


def test_the_sweeper_and_the_workers_capture_step_retry_a_partial_item(origin: FixtureOrigin,
                                                                        settings: Settings) -> None:
    """What the Celery workers run for a due retry: the sweeper reads the item's retry_at and queues
    capture_item(force, attempt+1), whose body is the capture step (workers/tasks.py)."""
    for path in (f"/media/{STEM}", f"/media/{STEM}.jpg"):
        origin.set_behaviour(path, "500", sticky=True)
    rt = Runtime.from_settings(settings.replace(sweep_stale_after=300.0))
    rep = archive(rt, blockquote("LakemontDPW", PHOTO_TWEET).encode(), article_id="swept")
    assert rep["embeds"][0]["status"] == "partial"
    plan = load_plan(rt, "swept")
    [item] = plan.items
    [row] = rt.catalog.items("swept", plan.source_sha256)
    assert row["status"] == "partial" and row["retry_at"]
    # A partial capture has its card: the item can be restored to it like an archived one.
    restored = restore(rt, "swept", item_ids=[item.item_id])
    assert [i["status"] for i in restored["items"]] == ["restored"] and restored["new_version"]
    sent: list[tuple[str, list[Any], dict[str, Any]]] = []
    due = datetime.fromisoformat(row["retry_at"].replace("Z", "+00:00")) + timedelta(seconds=400)
    sweep(rt, lambda task, args, kwargs: sent.append((task, list(args), dict(kwargs))), now=due)
    assert sent == [(CAPTURE_ITEM, ["swept", plan.source_sha256, item.item_id], {"force": True, "attempt": 1})]

    for path in (f"/media/{STEM}", f"/media/{STEM}.jpg"):
        origin.set_behaviour(path)
    first = load_result(rt, plan, item.item_id)
    assert isinstance(first, EmbedResult) and first.capture_id
    kept = objects(rt, first.capture_id)
    result = capture_item(rt, plan, item.item_id, **sent[0][2])
    assert result.status == "archived" and result.attempt == 1
    assert isinstance(result, EmbedResult) and result.capture_id != first.capture_id
    assert "missing" not in manifest_at(rt, result.manifest_key or "")
    assert load_result(rt, plan, item.item_id) == result
    assert {k: rt.store.get(k) for k in kept} == kept
    rt.close()


def test_a_tweet_photo_whose_original_size_answers_404_is_stored_at_4096(origin: FixtureOrigin,
                                                                         settings: Settings) -> None:
    """Through the Twitter provider's media plan (its sizes, helper A2's side) and this step."""
    origin.set_behaviour(f"/media/{STEM}?name=orig", "404", sticky=True)
    rt = Runtime.from_settings(settings)
    rep = archive(rt, blockquote("LakemontDPW", PHOTO_TWEET).encode(), article_id="sized-story")
    [embed] = rep["embeds"]
    assert embed["status"] == "archived" and embed["missing"] == []
    [medium] = manifest_at(rt, embed["snapshot"])["media"]
    assert (medium["status"], medium["variant"], medium["degraded"]) == ("archived", "4096x4096", True)
    assert "name=4096x4096" in medium["original_url"]
    assert medium["sha256"] == hashlib.sha256(origin.media_bytes(f"/media/{STEM}")).hexdigest()
    assert origin.count(f"/media/{STEM}", name="orig") == 1 and origin.count(f"/media/{STEM}", name="large") == 0
    rt.close()


# --- a retry never gives up a capture that holds content (issue 15, x15 F1) --------------------------
def post_page(rt: Runtime, settings: Settings, post_id: str) -> str:
    """The post page of the web UI, read by a compliance user."""
    client = TestClient(create_app(settings, runtime=rt), follow_redirects=False)
    token = create_token(rt.catalog, "compliance", "test-partial")
    r = client.get(f"/posts/twitter/{post_id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.text


def test_a_partial_item_retried_after_its_post_was_deleted_keeps_its_capture(origin: FixtureOrigin,
                                                                             settings: Settings) -> None:
    """x15 t7: the post was archived with its text and counts, partial only for its quoted post; then
    its author deletes it and `archiver retry` runs. The retry's capture ("deleted") is stored and
    indexed beside it, but the item, and so the article, keeps the partial capture, every object of it
    byte for byte; its error says what the retry found."""
    origin.set_behaviour(f"/tweet-result?id={QUOTED}", "503", sticky=True)
    rt = Runtime.from_settings(settings)
    rep = archive(rt, ("<p>Story</p>\n" + blockquote("PinecrestObs", QUOTING)).encode(), article_id="gone-story")
    [embed] = rep["embeds"]
    assert embed["status"] == "partial", embed
    m = manifest_at(rt, embed["snapshot"])
    assert m["text_source"] == "syndication" and m["text"]
    kept = objects(rt, m["capture_id"], m["quoted"]["capture_id"])

    origin.set_behaviour(f"/tweet-result?id={QUOTED}")
    origin.tweets[QUOTING].state = "deleted"
    for _ in (1, 2):   # a second retry (which reuses the fresh "deleted" capture) replaces the first one's note
        again = retry(rt, "gone-story")
        [embed2] = again["embeds"]
        assert (embed2["status"], embed2["snapshot"], embed2["missing"]) == ("partial", embed["snapshot"],
                                                                             embed["missing"])
        assert embed2["error"].startswith(embed["error"] + RETRY_MARK)
        assert STATUS_WORDS["deleted"] in embed2["error"] and embed2["error"].count(RETRY_MARK) == 1
        assert {k: rt.store.get(k) for k in kept} == kept
        captures = rt.catalog.post_captures("twitter", QUOTING)
        assert [c["status"] for c in captures] == ["partial", "deleted"]
    assert captures[0]["capture_id"] == m["capture_id"]
    assert manifest_at(rt, captures[1]["manifest_key"])["status"] == "deleted"
    # The article still points at the partial capture.
    latest = rt.store.get(version_key("gone-story", again["version"])).decode()
    assert rt.store.public_url(capture_page_key(embed["snapshot"])) in latest
    page = post_page(rt, settings, QUOTING)
    assert all(f'id="capture-{c["capture_id"]}"' in page for c in captures)
    rt.close()


def test_a_partial_item_rate_limited_on_retry_keeps_its_capture_until_its_retries_end(
        origin: FixtureOrigin, settings: Settings) -> None:
    """x15 t7b through what the workers run (the capture step with force and the attempt): the post's
    own requests answer 429 on each retry; the item keeps its partial capture, its attempt counts on,
    and once the capture_retry_delays are used up nothing schedules another."""
    for path in (f"/media/{STEM}", f"/media/{STEM}.jpg"):
        origin.set_behaviour(path, "500", sticky=True)
    rt = Runtime.from_settings(settings.replace(sweep_stale_after=300.0))
    rep = archive(rt, blockquote("LakemontDPW", PHOTO_TWEET).encode(), article_id="limited")
    assert rep["embeds"][0]["status"] == "partial"
    plan = load_plan(rt, "limited")
    [item] = plan.items
    first = load_result(rt, plan, item.item_id)
    assert isinstance(first, EmbedResult) and first.capture_id
    kept = objects(rt, first.capture_id)

    origin.set_behaviour(f"/tweet-result?id={PHOTO_TWEET}", "429", sticky=True)
    origin.set_behaviour("/oembed", "429", sticky=True)
    for attempt in (1, 2):
        result = capture_item(rt, plan, item.item_id, force=True, attempt=attempt)
        assert isinstance(result, EmbedResult)
        assert (result.status, result.manifest_key, result.capture_id, result.captured_at, result.attempt) == \
            ("partial", first.manifest_key, first.capture_id, first.captured_at, attempt)
        assert STATUS_WORDS["unavailable"] in (result.error or "") and (result.error or "").count(RETRY_MARK) == 1
        assert load_result(rt, plan, item.item_id) == result
    assert {k: rt.store.get(k) for k in kept} == kept
    assert [c["status"] for c in rt.catalog.post_captures("twitter", PHOTO_TWEET)] == \
        ["partial", "unavailable", "unavailable"]
    [row] = rt.catalog.items("limited", plan.source_sha256)
    assert (row["status"], row["manifest_key"], row["retry_at"]) == ("partial", first.manifest_key, None)
    sent: list[str] = []
    sweep(rt, lambda task, args, kwargs: sent.append(task), now=datetime.now(UTC) + timedelta(days=30))
    assert CAPTURE_ITEM not in sent
    rt.close()


def test_a_forced_capture_of_an_archived_item_never_gives_it_up(origin: FixtureOrigin, settings: Settings) -> None:
    """A capture task delivered again after the item was archived (a retry queued twice), the post
    deleted meanwhile: the archived capture stays the item's and is not written again."""
    rt = Runtime.from_settings(settings.replace(capture_fresh_for=0))
    rep = archive(rt, blockquote("LakemontDPW", PHOTO_TWEET).encode(), article_id="done")
    assert rep["embeds"][0]["status"] == "archived"
    plan = load_plan(rt, "done")
    [item] = plan.items
    first = load_result(rt, plan, item.item_id)
    assert isinstance(first, EmbedResult) and first.capture_id
    kept = objects(rt, first.capture_id)
    origin.tweets[PHOTO_TWEET].state = "deleted"
    result = capture_item(rt, plan, item.item_id, force=True, attempt=1)
    assert isinstance(result, EmbedResult)
    assert (result.status, result.manifest_key, result.attempt) == ("archived", first.manifest_key, 1)
    assert STATUS_WORDS["deleted"] in (result.error or "")
    assert {k: rt.store.get(k) for k in kept} == kept
    assert [c["status"] for c in rt.catalog.post_captures("twitter", PHOTO_TWEET)] == ["archived", "deleted"]
    rt.close()


def test_a_partial_item_whose_retry_outlives_the_deadline_keeps_its_capture(origin: FixtureOrigin,
                                                                            settings: Settings) -> None:
    """The local runner stores "timed out" for what its deadline cut off; an item that already points
    at a partial capture keeps it instead, the timeout noted, and the late capture does not replace it."""
    for path in (f"/media/{STEM}", f"/media/{STEM}.jpg"):
        origin.set_behaviour(path, "500", sticky=True)
    rt = Runtime.from_settings(settings)
    rep = archive(rt, blockquote("LakemontDPW", PHOTO_TWEET).encode(), article_id="slow-retry")
    assert rep["embeds"][0]["status"] == "partial"
    plan = load_plan(rt, "slow-retry")
    [item] = plan.items
    first = load_result(rt, plan, item.item_id)
    assert isinstance(first, EmbedResult) and first.capture_id
    kept = objects(rt, first.capture_id)

    origin.timeout_sleep = 2.0
    origin.set_behaviour(f"/tweet-result?id={PHOTO_TWEET}", "timeout", sticky=True)
    results = run_captures(rt, plan, [item.item_id], time.monotonic() + 0.3)
    committed = results[item.item_id]
    assert isinstance(committed, EmbedResult)
    assert (committed.status, committed.manifest_key, committed.capture_id) == \
        ("partial", first.manifest_key, first.capture_id)
    assert "timed out" in (committed.error or "") and STATUS_WORDS["failed"] in (committed.error or "")
    with rt.coordinator.lock(capture_lock(plan, item), timeout=30):   # the late capture has ended
        pass
    assert load_result(rt, plan, item.item_id) == committed
    assert {k: rt.store.get(k) for k in kept} == kept
    rt.close()


def test_a_settled_result_is_bounded_and_one_line(origin: FixtureOrigin, settings: Settings) -> None:
    """What a retry found, from the web, goes into the kept result's error as one bounded line."""
    kept = EmbedResult(item_id="e1", provider="twitter", post_id="42", url="https://twitter.com/a/status/42",
                       status="partial", error="1 part missing: photo x (HTTP 500)",
                       snapshot="posts/twitter/42/20260101T000000Z-0000abcd.json",
                       capture_id="20260101T000000Z-0000abcd")
    nasty = EmbedResult(item_id="e1", provider="twitter", post_id="42", url=kept.url, status="deleted",
                        error="\x1b[31mgone\x1b[0m\n" + "y" * 5000 + RETRY_MARK + "z", attempt=3)
    out = settle(kept, nasty, "2026-02-01T00:00:00Z")
    assert (out.status, out.manifest_key, out.attempt) == ("partial", kept.manifest_key, 3)
    assert out.error is not None and len(out.error) <= ERROR_LIMIT
    assert out.error.startswith("1 part missing: photo x (HTTP 500) | retry at 2026-02-01T00:00:00Z: deleted")
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f for c in out.error)
    assert settle(out, nasty, "2026-03-01T00:00:00Z").error.count("2026-02-01") == 0   # type: ignore[union-attr]
    # As good or better moves the item; no content to keep: the new result as it is.
    better = nasty.model_copy(update={"status": "partial", "manifest_key": "posts/twitter/42/n.json"})
    assert settle(kept, better, "2026-02-01T00:00:00Z") is better
    assert settle(nasty, kept, "2026-02-01T00:00:00Z") is kept
    assert settle(None, nasty, "2026-02-01T00:00:00Z") is nasty


# --- sizes through the Twitter provider and the pipeline (x15 F4) ------------------------------------
def test_a_tweet_photo_whose_original_size_answers_an_html_page_is_stored_at_4096(origin: FixtureOrigin,
                                                                                  settings: Settings) -> None:
    """x15 t11: name=orig answers 200 with an HTML page; the next size is asked for and stored."""
    origin.set_behaviour(f"/media/{STEM}?name=orig", "garbage", sticky=True)
    rt = Runtime.from_settings(settings)
    rep = archive(rt, blockquote("LakemontDPW", PHOTO_TWEET).encode(), article_id="html-orig")
    [embed] = rep["embeds"]
    assert embed["status"] == "archived" and embed["missing"] == []
    [medium] = manifest_at(rt, embed["snapshot"])["media"]
    assert (medium["status"], medium["variant"], medium["degraded"]) == ("archived", "4096x4096", True)
    assert medium["sha256"] == hashlib.sha256(origin.media_bytes(f"/media/{STEM}")).hexdigest()
    rt.close()


def test_a_tweet_photo_refused_by_policy_is_partial_until_a_retry_under_a_looser_policy(
        origin: FixtureOrigin, settings: Settings) -> None:
    """The pixel ceiling refuses the photo: no smaller size is stored in its place, the capture is
    partial and its card says so; once the ceiling allows it, `archiver retry` completes it."""
    strict = settings.replace(max_image_pixels=120 * 80 - 1)
    rt = Runtime.from_settings(strict)
    rep = archive(rt, blockquote("LakemontDPW", PHOTO_TWEET).encode(), article_id="ceiling")
    [embed] = rep["embeds"]
    assert embed["status"] == "partial"
    m = manifest_at(rt, embed["snapshot"])
    [medium] = m["media"]
    assert medium["status"] == "rejected" and "over the ceiling" in medium["error"]
    [part] = m["missing"]
    assert part["part"] == "photo" and part["reason"] == REFUSED + medium["error"]
    assert origin.count(f"/media/{STEM}", name="4096x4096") == 0
    card = html.unescape(rt.store.get(m["cards"]["html"]).decode())
    assert STATUS_WORDS["partial"] in card
    rt.close()

    rt = Runtime.from_settings(settings)
    [embed2] = retry(rt, "ceiling")["embeds"]
    assert embed2["status"] == "archived" and embed2["snapshot"] != embed["snapshot"]
    assert manifest_at(rt, embed2["snapshot"])["media"][0]["variant"] == "orig"
    rt.close()
