"""A capture's PNG card is drawn by an image worker: the post's media and avatar are decoded there,
under the media time limit and the memory budget, and the capturing process never loads Pillow or
the fonts for it. The card is the same bytes wherever it is drawn; a worker that fails or passes the
limit leaves a card drawn without its pictures, and no worker at all the card drawn in place."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from archiver.capture import imaging
from archiver.capture.cards import png_card
from archiver.capture.cards.content import card_content, content_from_json, content_to_json
from archiver.capture.fetch import Fetcher
from archiver.capture.imagepool import ImagePool, ImagingUnavailable
from archiver.capture.imaging import ImageJob, MediaRejected, encode_frame, pillow, read_frame, serve
from archiver.capture.manifest import validate_manifest
from archiver.capture.record import store_capture
from archiver.discover.model import Embed
from archiver.providers.base import CaptureContext, Occurrence
from archiver.providers.registry import get_provider
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin
from tests.test_card import HINDI, _manifest

TWEET = {"id": "1757429972446608311", "handle": "citydesk", "name": "City Desk",
         "text": "The council passed the budget, seven votes to two.",
         "photos": [{"name": "Council1.jpg", "alt": "The chamber", "width": 640, "height": 400}],
         "video": {"name": "vote", "width": 320, "height": 180, "duration_ms": 1500, "alt": "The vote"}}


@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[TWEET]) as o:
        yield o


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")


def captured(origin: FixtureOrigin, store: LocalStore, settings: Any) -> dict[str, Any]:
    """The stored manifest of TWEET, captured through the fixture origin into `store`."""
    ctx = CaptureContext(settings=settings, fetcher=Fetcher(settings))
    embed = Embed("twitter", TWEET["id"], None, 0, 0, handle=TWEET["handle"], form="blockquote")
    res = store_capture(get_provider("twitter").capture([Occurrence(embed)], ctx), ctx, store)
    assert res.status == "archived", res.error
    return json.loads(store.get(res.manifest_key or ""))


def rich_manifest() -> dict[str, Any]:
    """A manifest whose card shows a note, a link card, a poll and attribution lines."""
    m = _manifest(HINDI, "hi")
    m.update(schema="archiver.manifest.v2", text_complete=False, interstitial="Sensitive content",
             card={"name": "summary", "url": "https://t.co/x", "expanded_url": "https://news.example/a",
                   "title": "A title", "description": "A description", "domain": "news.example"},
             poll={"name": "poll2choice_text_only", "choices": [{"label": "Yes", "count": 7},
                                                                {"label": "नहीं", "count": 2}],
                   "counts_are_final": True})
    m["attribution"]["source_lines"] = ["pic.twitter.com/abc", "— ANI (@ANI) July 15, 2025"]
    return validate_manifest(m).to_json()


def test_card_content_goes_to_a_worker_and_back_unchanged(store: LocalStore) -> None:
    content = card_content(rich_manifest(), store)
    assert content.link is not None and content.poll is not None and content.preview and content.notes
    wire = json.loads(json.dumps(content_to_json(content)))
    assert content_from_json(wire) == content


def test_the_capture_card_is_drawn_in_a_worker_the_same_as_in_place(origin: FixtureOrigin, store: LocalStore,
                                                                    tmp_settings: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tmp_settings(**origin.settings_overrides())
    drawn_here: list[object] = []
    real = png_card.draw_card_from
    monkeypatch.setattr(png_card, "draw_card_from", lambda *a: drawn_here.append(a) or real(*a))
    m = captured(origin, store, settings)
    assert drawn_here == [], "the capture drew its card in the capturing process"
    stored = store.get(m["cards"]["png"])
    content = card_content(m, store)
    pictures = png_card.card_pictures(content, store)
    assert len(pictures) == 3  # the photo (its serving copy), the video's poster and the avatar
    assert stored == real(content, pictures)  # the very bytes the card gives when drawn here
    im = Image.open(io.BytesIO(stored))
    assert (im.format, im.width) == ("PNG", 600)
    # drawn without its pictures the card is another image: the worker had them
    assert stored != real(content, {})


def test_a_card_past_the_time_limit_kills_its_worker_and_is_drawn_without_pictures(
        origin: FixtureOrigin, store: LocalStore, tmp_settings: Any) -> None:
    settings = tmp_settings(**origin.settings_overrides())
    m = captured(origin, store, settings)
    content = card_content(m, store)
    pictures = png_card.card_pictures(content, store)
    request = json.dumps(content_to_json(content)).encode()
    pool = ImagePool(1, 1 << 30)
    try:
        first = pool.draw_card(request, pictures, 30.0)
        (pid,) = pool.worker_pids()
        with pytest.raises(MediaRejected, match=r"drawing the card exceeded 0\.001 s"):
            pool.draw_card(request, pictures, 0.001)
        assert pool.worker_pids() == []  # killed at the limit
        assert pool.draw_card(request, pictures, 30.0) == first  # a fresh worker draws it again
        assert pool.worker_pids() != [pid]
    finally:
        pool.close()


@pytest.mark.parametrize("failure", [MediaRejected("drawing the card exceeded 15 s"),
                                     ImagingUnavailable("no worker could be started")])
def test_a_failed_or_missing_worker_still_gives_a_card(store: LocalStore, origin: FixtureOrigin,
                                                       tmp_settings: Any, monkeypatch: pytest.MonkeyPatch,
                                                       failure: Exception, caplog: pytest.LogCaptureFixture) -> None:
    """A refusal or a timeout: drawn here without the pictures (nothing the worker choked on is decoded
    here); no worker to be had at all (a process limit): drawn here as before, pictures and all."""
    settings = tmp_settings(**origin.settings_overrides())
    m = captured(origin, store, settings)
    content = card_content(m, store)
    pictures = png_card.card_pictures(content, store)

    def refuse(self: ImagePool, *args: object) -> bytes:
        raise failure

    monkeypatch.setattr(ImagePool, "draw_card", refuse)
    png = png_card.draw_card_in_worker(content, store, settings)
    expected = png_card.draw_card_from(content, {} if isinstance(failure, MediaRejected) else pictures)
    assert png == expected
    assert f"card of twitter/{TWEET['id']}" in caplog.text


def test_the_worker_refuses_a_card_request_it_cannot_read() -> None:
    """The worker's loop (in this process, on in-memory pipes) answers each bad request with a refusal
    and goes on: pictures not named one for one, content that is not JSON, content of the wrong shape."""
    good = content_to_json(card_content(rich_manifest(), LocalStore(Path("/nonexistent"), "http://x/media")))
    requests = io.BytesIO(b"".join([
        *encode_frame({"op": "card", "limit": 5, "pictures": ["a", "b"]}, [json.dumps(good).encode(), b"x"]),
        *encode_frame({"op": "card", "limit": 5, "pictures": []}, [b"not json"]),
        *encode_frame({"op": "card", "limit": 5, "pictures": []}, [b'{"text": 1}']),
        *encode_frame({"op": "card", "limit": 5, "pictures": []}, [json.dumps(good).encode()]),
    ]))
    answers = io.BytesIO()
    serve(requests, answers)
    answers.seek(0)
    frames = []
    while (frame := read_frame(answers)) is not None:
        frames.append(frame)
    ready, *replies = frames
    assert ready[0]["ready"] is True
    assert [h["ok"] for h, _ in replies] == [False, False, False, True]
    assert "bad card request" in replies[0][0]["error"]
    assert all("image worker error" in h["error"] for h, _ in replies[1:3])
    png = replies[3][1][0]
    assert Image.open(io.BytesIO(png)).format == "PNG"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_worker_applies_pillows_own_ceiling_and_refuses_avif_it_cannot_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.BytesIO()
    Image.new("RGB", (100, 100)).save(out, "PNG")
    limits = {"mime": "image/png", "format": "PNG", "ceiling": 1_000_000, "max_frames": 1, "derive": False,
              "limit": 10.0}
    assert ImageJob(out.getvalue(), limits).width == 100
    monkeypatch.setattr(pillow(), "MAX_IMAGE_PIXELS", 9_999)
    with pytest.raises(MediaRejected, match="over the ceiling of 9999"):
        ImageJob(out.getvalue(), limits)
    monkeypatch.setattr(imaging, "_reads_avif", lambda: False)
    with pytest.raises(MediaRejected, match="not an allowed image type: image/avif"):
        ImageJob(b"\x00\x00\x00\x1cftypavif", {**limits, "mime": "image/avif", "format": "AVIF"})
