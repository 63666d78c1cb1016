"""A capture's cards and page are rendered by an image worker: the post's media and avatar are decoded
there, under the media time limit and the memory budget, and the capturing process never loads
Pillow, the fonts or Jinja2 for them. They are the same bytes wherever they are rendered; a worker
that fails or passes the limit leaves a PNG drawn without its pictures, and no worker at all
everything rendered in place."""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from archiver.capture import imagepool, imaging
from archiver.capture.cards import png_card, write
from archiver.capture.cards.content import card_content, content_from_json, content_to_json
from archiver.capture.fetch import Fetcher
from archiver.capture.imagepool import ImagePool, ImagingUnavailable
from archiver.capture.imageworker import serve
from archiver.capture.imaging import ImageJob, MediaRejected, encode_frame, pillow, read_frame
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


def test_a_capture_renders_its_cards_in_a_worker_the_same_as_in_place(origin: FixtureOrigin, store: LocalStore,
                                                                      tmp_settings: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tmp_settings(**origin.settings_overrides())

    def here(*args: object) -> None:
        raise AssertionError("rendered in the capturing process")

    for name in ("render_card", "draw_card_from", "render_page"):
        monkeypatch.setattr(write, name, here)
    m = captured(origin, store, settings)
    monkeypatch.undo()
    sources = write.CardSources.read(store, m)
    assert len(sources.pictures) == 3  # the photo (its serving copy), the video's poster and the avatar
    html, png, page = write.render_here(sources)  # the very bytes, rendered here from the stored manifest
    assert store.get(m["cards"]["html"]).decode() == html
    assert store.get(m["cards"]["png"]) == png
    assert store.get(m["cards"]["html"].removesuffix(".card.html") + ".html").decode() == page
    assert "<article" in html and "<!doctype html>" in page.lower() and TWEET["name"] in page
    im = Image.open(io.BytesIO(png))
    assert (im.format, im.width) == ("PNG", 600)
    assert png != png_card.draw_card_from(sources.content, {})  # drawn with its pictures


def test_cards_past_the_time_limit_kill_their_worker(origin: FixtureOrigin, store: LocalStore,
                                                     tmp_settings: Any) -> None:
    settings = tmp_settings(**origin.settings_overrides())
    sources = write.CardSources.read(store, captured(origin, store, settings))
    pool = ImagePool(1, 1 << 30)
    try:
        first = pool.render_cards(sources.request(), sources.pictures, 30.0)
        (pid,) = pool.worker_pids()
        with pytest.raises(MediaRejected, match=r"rendering the cards exceeded 0\.001 s"):
            pool.render_cards(sources.request(), sources.pictures, 0.001)
        assert pool.worker_pids() == []  # killed at the limit
        assert pool.render_cards(sources.request(), sources.pictures, 30.0) == first  # a fresh worker
        assert pool.worker_pids() != [pid]
    finally:
        pool.close()


@pytest.mark.parametrize("failure", [MediaRejected("rendering the cards exceeded 15 s"),
                                     ImagingUnavailable("no worker could be started")])
def test_a_failed_or_missing_worker_still_gives_the_cards(store: LocalStore, origin: FixtureOrigin,
                                                          tmp_settings: Any, monkeypatch: pytest.MonkeyPatch,
                                                          failure: Exception, caplog: pytest.LogCaptureFixture) -> None:
    """A refusal or a timeout: rendered here with the PNG drawn without its pictures (nothing the worker
    choked on is decoded here); no worker to be had at all (a process limit): rendered here as before."""
    settings = tmp_settings(**origin.settings_overrides())
    sources = write.CardSources.read(store, captured(origin, store, settings))

    def refuse(self: ImagePool, *args: object) -> bytes:
        raise failure

    monkeypatch.setattr(ImagePool, "render_cards", refuse)
    html, png, page = write.render_cards(sources, settings)
    in_place = write.render_here(sources)
    assert (html, page) == (in_place[0], in_place[2])
    assert png == (png_card.draw_card_from(sources.content, {}) if isinstance(failure, MediaRejected)
                   else in_place[1])
    assert f"cards of twitter/{TWEET['id']}" in caplog.text


def test_the_worker_refuses_a_cards_request_it_cannot_read(store: LocalStore) -> None:
    """The worker's loop (in this process, on in-memory pipes) answers each bad request with a refusal
    and goes on: pictures not named one for one, a body that is not JSON, content of the wrong shape."""
    good = write.CardSources.read(store, rich_manifest()).request()
    requests = io.BytesIO(b"".join([
        *encode_frame({"op": "cards", "limit": 5, "pictures": ["a", "b"]}, [good, b"x"]),
        *encode_frame({"op": "cards", "limit": 5, "pictures": []}, [b"not json"]),
        *encode_frame({"op": "cards", "limit": 5, "pictures": []}, [b'{"content": {"text": 1}}']),
        *encode_frame({"op": "cards", "limit": 5, "pictures": []}, [good]),
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
    assert "bad cards request" in replies[0][0]["error"]
    assert all("image worker error" in h["error"] for h, _ in replies[1:3])
    html, png, page = replies[3][1]
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert html.decode() in page.decode() and HINDI in html.decode()


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_worker_applies_the_jobs_ceiling_and_refuses_avif_it_cannot_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The job's ceiling (the max_image_pixels setting) is the one limit: Pillow's own threshold neither
    lowers it nor is left changed by it."""
    out = io.BytesIO()
    Image.new("RGB", (100, 100)).save(out, "PNG")
    limits = {"mime": "image/png", "format": "PNG", "ceiling": 1_000_000, "max_frames": 1, "derive": False,
              "limit": 10.0}
    assert ImageJob(out.getvalue(), limits).width == 100
    monkeypatch.setattr(pillow(), "MAX_IMAGE_PIXELS", 9_999)
    assert ImageJob(out.getvalue(), limits).width == 100 and pillow().MAX_IMAGE_PIXELS == 9_999
    with pytest.raises(MediaRejected, match="over the ceiling of 9999"):
        ImageJob(out.getvalue(), {**limits, "ceiling": 9_999})
    monkeypatch.setattr(imaging, "_reads_avif", lambda: False)
    with pytest.raises(MediaRejected, match="not an allowed image type: image/avif"):
        ImageJob(b"\x00\x00\x00\x1cftypavif", {**limits, "mime": "image/avif", "format": "AVIF"})


def test_an_answer_that_is_not_utf8_is_a_failed_worker(store: LocalStore, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_settings: Any) -> None:
    sources = write.CardSources.read(store, rich_manifest())
    monkeypatch.setattr(ImagePool, "render_cards", lambda self, *a: (b"\xff<article>", b"png", b"page"))
    html, png, page = write.render_cards(sources, tmp_settings())
    assert (html, png, page) == (write.render_card(sources.content, sources.urls),
                                 png_card.draw_card_from(sources.content, {}),
                                 write.render_page(sources.page, html))


def test_a_worker_killed_from_outside_while_rendering_leaves_its_pictures_undecoded(
        origin: FixtureOrigin, store: LocalStore, tmp_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OOM killer ends the worker mid-render: that is a failed rendering (MediaRejected), so the
    PNG is drawn here without the pictures the worker may have died on, not a missing worker."""
    settings = tmp_settings(**origin.settings_overrides())
    sources = write.CardSources.read(store, captured(origin, store, settings))
    pool = ImagePool(1, 1 << 30)

    def send_then_die(self: Any, header: dict[str, Any], blobs: list[bytes], deadline: float) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    try:
        monkeypatch.setattr(imagepool._Worker, "send", send_then_die)
        with pytest.raises(MediaRejected, match="rendering the cards failed: the image worker was killed"):
            pool.render_cards(sources.request(), sources.pictures, 30.0)
        monkeypatch.setattr(write, "pool_for", lambda s: pool)
        _, png, _ = write.render_cards(sources, settings)
        assert png == png_card.draw_card_from(sources.content, {})
    finally:
        pool.close()
