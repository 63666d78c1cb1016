"""Cards of manifest v2 captures: every status said in plain words (holding STATUS_WORDS[status]),
the platform's interstitial, withheld countries, a preview text, link cards and polls in both cards,
stale edits, right-to-left values isolated, and hostile or malformed v2 fields shown harmlessly."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from PIL import Image

from archiver.capture.cards.content import (
    MAX_POLL_CHOICES,
    PREVIEW_NOTE,
    attribution_parts,
    card_content,
    content_from_json,
    content_to_json,
    missing_summary,
    status_note,
)
from archiver.capture.cards.html_card import quoted_parts, render_card_html
from archiver.capture.cards.inline import InlineCard, inline_card_html
from archiver.capture.cards.page import render_capture_page
from archiver.capture.cards.png_card import MAX_PNG_HEIGHT, render_card_png
from archiver.capture.fetch import Fetcher
from archiver.capture.manifest import (
    EMBED_STATUSES,
    RETRYABLE_STATUSES,
    STATUS_WORDS,
    Manifest,
    validate_manifest,
)
from archiver.capture.record import store_capture
from archiver.discover.model import Embed
from archiver.providers.base import CaptureContext, occurrences_in
from archiver.providers.registry import get_provider
from archiver.storage.layout import blob_key
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.test_card import assert_harmless

T0 = datetime(2025, 7, 15, 9, 12, 33, tzinfo=UTC)
ARABIC_TOMBSTONE = "هذا المنشور غير متاح. معرفة المزيد"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")


def manifest(status: str = "archived", text: str = "Survey results are in", **fields: Any) -> dict[str, Any]:
    """A valid v2 manifest (checked by the model) with ``fields`` set on it."""
    m = Manifest.new(provider="twitter", post_id="1850000000000000001", capture_id="20250715T091233Z-0123abcd",
                     captured_at=T0, status=status, url="https://twitter.com/coastlab/status/1850000000000000001"
                     ).to_json()
    m.update(text=text, text_expanded=text, lang="en", created_at="2025-07-15T09:00:00.000Z", **fields)
    m["author"].update(name="Coast Lab", handle="coastlab")
    validate_manifest(m)
    return m


def text_of(fragment: str) -> str:
    return " ".join("".join(assert_harmless(fragment).text).split())


def png(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def stored_image(store: LocalStore, size: tuple[int, int], colour: tuple[int, int, int]) -> dict[str, Any]:
    """An archived photo in the store, as a manifest Media entry."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    store.put(blob_key(sha), data)
    return {"type": "photo", "status": "archived", "sha256": sha, "key": blob_key(sha), "mime": "image/png",
            "bytes": len(data), "width": size[0], "height": size[1], "duration": None,
            "original_url": "https://pbs.twimg.com/card_img/1/AbC?format=png&name=orig", "alt_text": None}


# --- statuses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", EMBED_STATUSES)
def test_every_status_is_said_in_plain_words_in_both_cards(store: LocalStore, status: str) -> None:
    m = manifest(status, tombstone="This Post is unavailable. Learn more")
    note = card_content(m, store).note
    words = text_of(render_card_html(m, store))
    if status == "archived":
        assert note == ""
    else:
        assert STATUS_WORDS[status] in note and note in words
    # Only a withheld post is called withheld (every tombstone used to be).
    assert ("withheld" in note) == (status == "withheld")
    im = png(render_card_png(m, store))
    assert im.width == 600 and im.height <= MAX_PNG_HEIGHT


def test_withheld_names_the_countries_and_a_shown_post_says_where_it_is_withheld(store: LocalStore) -> None:
    withheld = status_note(manifest("withheld", withheld_in_countries=["DE", "fr", "<b>", "DE"]))
    assert "withheld by the platform in Germany (DE) and France (FR)" in withheld and "<b>" not in withheld
    assert "in every country" in status_note(manifest("withheld", withheld_in_countries=["XX"]))
    shown = card_content(manifest("archived", withheld_in_countries=["IN"]), store)
    assert shown.note == "" and shown.withheld == "The platform withholds this post in India (IN)."
    assert "India (IN)" in text_of(render_card_html(manifest("archived", withheld_in_countries=["IN"]), store))


def test_a_tombstone_is_quoted_and_a_right_to_left_one_isolated(store: LocalStore) -> None:
    m = manifest("tombstoned", text=None, tombstone=ARABIC_TOMBSTONE)
    note = status_note(m)
    assert STATUS_WORDS["tombstoned"] in note and f"“{ARABIC_TOMBSTONE}”" in note
    fragment = render_card_html(m, store)
    assert f"<bdi>{ARABIC_TOMBSTONE}</bdi>" in fragment
    # The quoted tombstone is the note, not the post's text as well.
    assert fragment.count(ARABIC_TOMBSTONE) == 1
    parts = quoted_parts(note)
    assert "".join(p for p, _ in parts) == note and [p for p, iso in parts if iso] == [ARABIC_TOMBSTONE]
    assert quoted_parts("no quotation") == [("no quotation", False)]


def test_partial_says_what_is_missing_by_count_and_kind(store: LocalStore) -> None:
    missing = [{"part": "photo", "ref": "https://pbs.twimg.com/media/a.jpg", "reason": "HTTP 404"},
               {"part": "photo", "ref": "https://pbs.twimg.com/media/b.jpg", "reason": "HTTP 404"},
               {"part": "card_image", "ref": None, "reason": "timed out"}]
    note = status_note(manifest("partial", missing=missing))
    assert STATUS_WORDS["partial"] in note and "2 photos and the card image are missing" in note
    assert missing_summary([{"part": "video", "reason": "x"}]) == "one video is missing"
    assert missing_summary([{"part": "<script>", "reason": "x"}, "junk", 7]) == "one other part is missing"
    assert missing_summary(None) == "some parts are missing"
    many = [{"part": f"kind_{i}", "reason": "x"} for i in range(20)]
    assert missing_summary(many).endswith("and other parts are missing")
    # A quoted post is captured in its own right (often from its quoting post's copy): not "missing".
    assert missing_summary([{"part": "quoted", "ref": "2", "reason": "HTTP 429"}]) == \
        "the quoted post is not fully captured yet"
    assert missing_summary([{"part": "photo", "reason": "x"}, {"part": "parent", "reason": "y"},
                            {"part": "quoted", "reason": "z"}]) == \
        "one photo is missing; the quoted post and replied-to post are not fully captured yet"


def test_interstitial_and_stale_edit_notes(store: LocalStore) -> None:
    m = manifest("archived", interstitial="This Post may include sensitive content.",
                 edit={"edit_ids": ["1850000000000000001", "1850000000000000004"], "is_edited": True,
                       "is_latest": False, "is_stale": True},
                 latest_edit={"post_id": "1850000000000000004", "capture_id": None, "manifest_key": None,
                              "status": "archived"})
    words = text_of(render_card_html(m, store))
    assert "The platform shows a warning before this post: “This Post may include sensitive content.”" in words
    assert "the article showed an earlier version; the latest version is 1850000000000000004" in words
    fresh = manifest("archived", edit={"edit_ids": ["1", "2"], "is_edited": True, "is_latest": True,
                                       "is_stale": False})
    assert "earlier version" not in text_of(render_card_html(fresh, store))


@pytest.mark.parametrize(("complete", "shown"), [(False, True), (True, False), (None, False)])
def test_a_preview_text_says_so(store: LocalStore, complete: bool | None, shown: bool) -> None:
    fields = {} if complete is None else {"text_complete": complete}
    m = manifest(text="Our coastal survey results are in, and the findings on dune erosion are", **fields)
    assert (PREVIEW_NOTE in text_of(render_card_html(m, store))) is shown
    plain = png(render_card_png(manifest(text=m["text"]), store))
    marked = png(render_card_png(m, store))
    assert (marked.height > plain.height) is shown  # the note is drawn as a line of its own


# --- link cards and polls ------------------------------------------------------------------------
def test_a_link_card_shows_title_description_domain_image_and_url(store: LocalStore) -> None:
    image = stored_image(store, (1600, 900), (30, 120, 160))
    card = {"name": "summary_large_image", "url": "https://t.co/Qw3rTy7uIo",
            "expanded_url": "https://coast.example.org/survey?a=1&b=2", "title": "Dune erosion survey 2025",
            "description": "Annual results for the northern coast.", "domain": "coast.example.org", "image": image}
    m = manifest(card=card)
    fragment = render_card_html(m, store)
    parsed = assert_harmless(fragment)
    words = " ".join("".join(parsed.text).split())
    for value in ("Dune erosion survey 2025", "Annual results for the northern coast.", "coast.example.org"):
        assert value in words
    hrefs = [a.get("href") for t, a in parsed.tags if t == "a"]
    assert "https://coast.example.org/survey?a=1&b=2" in hrefs
    assert store.public_url(image["key"]) in [a.get("src") for t, a in parsed.tags if t == "img"]
    with_card, without = png(render_card_png(m, store)), png(render_card_png(manifest(), store))
    assert with_card.width == 600 and without.height + 300 < with_card.height <= MAX_PNG_HEIGHT
    # The card image is drawn (its colour is in the picture).
    assert (30, 120, 160) in {px for _, px in with_card.convert("RGB").getcolors(1 << 20) or []}


def test_hostile_link_card_values_are_text_and_unsafe_urls_no_link(store: LocalStore) -> None:
    evil = '<script>alert("t")</script><img src=x onerror=alert(1)>'
    card = {"name": "summary", "url": "javascript:alert(1)", "expanded_url": "javascript:alert(2)//https://x",
            "title": evil, "description": "\u202edescription" + "d" * 5000, "domain": evil,
            "image": {**stored_image(store, (10, 10), (1, 2, 3)), "status": "failed", "key": "javascript:x"}}
    m = manifest(card=card)
    parsed = assert_harmless(render_card_html(m, store))
    words = "".join(parsed.text)
    assert evil in words and "javascript:alert(2)//https://x" in words  # shown as text
    assert not [a for t, a in parsed.tags if t == "a" and "javascript" in (a.get("href") or "")]
    assert "\u202e" not in words and "d" * 600 not in words  # bidi override dropped, long text cut
    assert png(render_card_png(m, store)).height <= MAX_PNG_HEIGHT


def test_a_poll_shows_each_choice_with_count_and_share(store: LocalStore) -> None:
    counts = {"Trains": 412, "Buses": 198, "<b>Bikes</b>": 77}
    poll = {"name": "poll3choice_text_only", "choices": [{"label": k, "count": v} for k, v in counts.items()],
            "end_datetime": "2025-07-16T09:00:00Z", "counts_are_final": False, "read_at": "2025-07-15T09:12:33.000Z",
            "duration_minutes": 1440}
    fragment = render_card_html(manifest(poll=poll), store)
    words = text_of(fragment)
    total = sum(counts.values())
    for label, n in counts.items():
        assert f"{label} · {n} votes · {n / total * 100:.1f}%" in words
    assert "<bdi>&lt;b&gt;Bikes&lt;/b&gt;</bdi>" in fragment
    assert "counts at 15 Jul 2025, 09:12 UTC" in words and "ends 16 Jul 2025, 09:00 UTC" in words
    assert f"{total} votes" in words and "final results" not in words
    final = text_of(render_card_html(manifest(poll={**poll, "counts_are_final": True}), store))
    assert "final results" in final and "ended 16 Jul 2025, 09:00 UTC" in final and "counts at" not in final
    im = png(render_card_png(manifest(poll=poll), store)).convert("RGB")
    colours = {px for _, px in im.getcolors(1 << 20) or []}
    assert (216, 232, 243) in colours  # the bars are drawn
    # Unknown counts: the labels, no shares.
    unknown = text_of(render_card_html(manifest(poll={**poll, "choices": [{"label": "A"}, {"label": "B",
                                                                                          "count": 3}]}), store))
    assert "A" in unknown and "%" not in unknown


def test_hostile_and_malformed_polls_and_cards_never_raise_and_stay_bounded(store: LocalStore) -> None:
    many = {"name": "poll", "choices": [{"label": "x" * 1000 + f" {i}", "count": i} for i in range(10_000)]}
    odd = [{"poll": many},
           {"poll": {"choices": "not a list", "read_at": 5}},
           {"poll": {"choices": [{"label": 5, "count": True}, {"label": None, "count": -3}, "junk", None]}},
           {"poll": []},
           {"card": {"title": 5, "image": "x", "url": ["a"]}},
           {"card": "junk", "missing": "junk", "edit": {"is_stale": True, "edit_ids": "x"},
            "withheld_in_countries": "DE", "interstitial": 12, "latest_edit": {"post_id": "<script>"}}]
    for fields in odd:
        m = manifest()
        m.update(fields)  # not valid v2: what a hostile or broken manifest could hold
        content = card_content(m, store)
        assert_harmless(render_card_html(m, store))
        assert png(render_card_png(m, store)).height <= MAX_PNG_HEIGHT
        if content.poll:
            assert len(content.poll.choices) <= MAX_POLL_CHOICES
    big = card_content({**manifest(), "poll": many}, store).poll
    assert big is not None and len(big.choices) == MAX_POLL_CHOICES and len(big.choices[0].label) <= 200
    assert card_content({**manifest(), "poll": {"choices": []}}, store).poll is None
    stale = card_content({**manifest(), "edit": {"is_stale": True}, "latest_edit": {"post_id": "<script>"}}, store)
    assert stale.edit == "The post was edited: the article showed an earlier version."


def test_names_and_handles_are_isolated(store: LocalStore) -> None:
    """The attribution line ``— الجزيرة (@AJArabic) July 21, 2025`` keeps its logical order in a
    left-to-right card: name, handle and date each in its own <bdi>, the line itself not dir=auto (which
    made the whole line right-to-left); the card's header and the capture page isolate alike."""
    m = manifest()
    m["author"].update(name="الجزيرة", handle="AJArabic")
    shown = "— الجزيرة (@AJArabic) July 21, 2025"
    m["attribution"].update(shown=shown)
    soup = BeautifulSoup(render_card_html(m, store), "html5lib")
    header = soup.find("header")
    assert [b.get_text() for b in header.find_all("bdi")] == ["الجزيرة", "@AJArabic"]
    line = soup.find("p", class_="archiver-attribution")
    assert line.get_text() == shown and "dir" not in line.attrs
    assert [b.get_text() for b in line.find_all("bdi")] == ["الجزيرة", "@AJArabic", "July 21, 2025"]
    assert [str(c) for c in line.children if isinstance(c, str)] == ["— ", " (", ") "]
    page = BeautifulSoup(render_capture_page(m, store), "html5lib")
    post = next(dd for dd in page.find_all("dd") if dd.find("code") and dd.find("bdi"))
    assert [b.get_text() for b in post.find_all("bdi")] == ["الجزيرة", "@AJArabic"]
    assert post.get_text().endswith("by الجزيرة (@AJArabic)")


@pytest.mark.parametrize("shown", ["— الجزيرة (@AJArabic) July 21, 2025", "— ANI (@ANI) July 15, 2025",
                                   "&mdash; שלום (@x) 3 במאי 2024 ", "shared by (@handle)", "no handle at all",
                                   "— (( @a ) b", "— name (@h)"])
def test_attribution_parts_cover_the_line(shown: str) -> None:
    parts = attribution_parts(shown)
    assert "".join(p for p, _ in parts) == shown and all(p for p, _ in parts)
    assert any(iso for _, iso in parts)
    if "(@" in shown and shown.count("(") == 1:
        assert any(iso and p.startswith("@") for p, iso in parts)
    with_fields = attribution_parts("— الجزيرة (@AJArabic) July 21, 2025", "الجزيرة", "AJArabic", "July 21, 2025")
    assert with_fields == (("— ", False), ("الجزيرة", True), (" (", False), ("@AJArabic", True), (") ", False),
                           ("July 21, 2025", True))


# --- through a real capture ------------------------------------------------------------------------
def _string(value: str) -> dict[str, Any]:
    return {"type": "STRING", "string_value": value}


@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin() as o:
        yield o


def test_captured_link_card_and_poll_reach_both_stored_cards(origin: FixtureOrigin, tmp_settings: Any,
                                                             tmp_path: Path) -> None:
    """The shapes of twitter-shapes.md, captured from the fixture origin and stored: the cards written
    beside the manifest show the link card (its archived image from the store) and the poll."""
    settings = tmp_settings(**origin.settings_overrides(), media_derivatives=False)
    store = LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")
    ctx = CaptureContext(settings=settings, fetcher=Fetcher(settings))
    body = make_image("card:v2", 320, 180)
    url = origin.add_image("/card_img/1850000000000000091/CaRdV2", body)
    image = {"type": "IMAGE", "image_value": {"url": url + "?format=jpg&name=orig", "width": 320, "height": 180}}
    link = {"name": "summary_large_image", "url": "https://t.co/Qw3rTy7uIo",
            "binding_values": {"title": _string("Dune erosion survey 2025"), "domain": _string("coast.example.org"),
                               "description": _string("Annual results for the northern coast."),
                               "card_url": _string("https://t.co/Qw3rTy7uIo"), "thumbnail_image_original": image}}
    poll = {"name": "poll2choice_text_only", "url": "https://t.co/PoLl",
            "binding_values": {"choice1_label": _string("Trains"), "choice1_count": _string("412"),
                               "choice2_label": _string("Buses"), "choice2_count": _string("198"),
                               "counts_are_final": {"type": "BOOLEAN", "boolean_value": True},
                               "end_datetime_utc": _string("2025-07-16T09:00:00Z")}}
    tweets = [TweetFixture(id="1850000000000000091", handle="CoastLab", name="Coast Lab",
                           text="Survey: https://t.co/Qw3rTy7uIo",
                           links={"https://t.co/Qw3rTy7uIo": "https://coast.example.org/survey"}, extra={"card": link}),
              TweetFixture(id="1850000000000000092", handle="TransitDesk", name="Transit Desk",
                           text="How do you commute?", extra={"card": poll})]
    stored = []
    for t in tweets:
        origin.add_tweet(t)
        embed = Embed("twitter", t.id, f"https://twitter.com/{t.handle}/status/{t.id}", 0, 0, handle=t.handle,
                      text=t.text, form="blockquote")
        res = store_capture(get_provider("twitter").capture(occurrences_in("", [embed]), ctx), ctx, store)
        assert res.status == "archived", res.error
        stored.append(json.loads(store.get(res.manifest_key or "")))
    card_m, poll_m = stored
    parsed = assert_harmless(store.get(card_m["cards"]["html"]).decode())
    words = " ".join("".join(parsed.text).split())
    assert "Dune erosion survey 2025" in words and "Annual results for the northern coast." in words
    assert store.public_url(card_m["card"]["image"]["key"]) in [a.get("src") for t, a in parsed.tags if t == "img"]
    assert "https://coast.example.org/survey" in [a.get("href") for t, a in parsed.tags if t == "a"]
    card_png = png(store.get(card_m["cards"]["png"]))
    assert card_png.width == 600 and card_png.height <= MAX_PNG_HEIGHT
    poll_words = text_of(store.get(poll_m["cards"]["html"]).decode())
    assert "Trains · 412 votes · 67.5%" in poll_words and "Buses · 198 votes · 32.5%" in poll_words
    assert "final results" in poll_words
    assert png(store.get(poll_m["cards"]["png"])).height <= MAX_PNG_HEIGHT


def test_the_readme_table_gives_every_status_its_retry_and_the_cards_words(store: LocalStore) -> None:
    """README's "Capture statuses" table: a row per status, "yes" under Retried exactly for the
    retryable ones, and the card's words as the cards say them (examples filled in where a note names
    countries, missing parts or a tombstone)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Capture statuses", 1)[1].split("\n### ", 1)[0]
    rows = {cells[0]: cells for line in section.splitlines() if line.startswith("| ")
            for cells in [[c.strip() for c in line.strip("|").split("|")]] if cells[0] in EMBED_STATUSES}
    assert sorted(rows) == sorted(EMBED_STATUSES)
    examples = {"partial": {"missing": [{"part": "photo", "reason": "x"}, {"part": "photo", "reason": "x"},
                                        {"part": "card_image", "reason": "x"}]},
                "withheld": {"withheld_in_countries": ["DE", "FR"]}, "tombstoned": {"tombstone": "…"}}
    for status, (_, _meaning, retried, says) in rows.items():
        assert (retried == "yes") == (status in RETRYABLE_STATUSES), status
        note = status_note(manifest(status, **examples.get(status, {})))
        assert says.replace("**", "") == (note or "no note"), status
        if status != "archived":
            assert f"**{STATUS_WORDS[status]}**" in says


# --- sensitive media and edits ------------------------------------------------------------------
def _red_pixels(im: Image.Image) -> int:
    """How many pixels of the card are the photo's pure red."""
    return sum(n for n, px in im.convert("RGB").getcolors(1 << 20) or [] if px == (250, 0, 0))


@pytest.mark.parametrize(("flags", "post_flag", "words"), [
    ({"adult_content": True, "graphic_violence": False, "other": False}, True, "adult content"),
    ({"adult_content": False, "graphic_violence": True, "other": False}, False, "graphic violence"),
    ({"adult_content": False, "graphic_violence": False, "other": True}, True, "other sensitive content"),
    (None, True, "sensitive content"),
])
def test_sensitive_media_are_hidden_behind_a_named_warning(store: LocalStore, flags: dict[str, bool] | None,
                                                           post_flag: bool, words: str) -> None:
    """A medium the platform hides behind its sensitive-media warning is not shown by any card: a notice
    names the warning, the HTML card links to the archived copy (it stays in the capture)."""
    photo = {**stored_image(store, (300, 200), (250, 0, 0)), "possibly_sensitive": True,
             "sensitive_warning": flags}
    m = manifest(possibly_sensitive=post_flag, media=[photo])
    content = card_content(m, store)
    assert content_from_json(json.loads(json.dumps(content_to_json(content)))) == content  # as a worker reads it
    fragment = render_card_html(m, store)
    soup = BeautifulSoup(fragment, "html.parser")
    src = store.public_url(photo["key"])
    assert not soup.find_all("img", src=src) and not soup.find_all("video")
    assert soup.find("a", href=src), "the archived photo is linked"
    words_shown = text_of(fragment)
    assert f"behind a warning: {words}." in words_shown and f"hidden by the platform's warning: {words}" in words_shown
    im = png(render_card_png(m, store))
    assert _red_pixels(im) == 0, "the PNG card draws the sensitive photo"
    inline = inline_card_html(m, store, InlineCard(page_url="https://archive.example/p/1",
                                                   original=m["url"], version_date="2025-07-15T09:12:33Z"))
    assert f'src="{src}"' not in inline and f'href="{src}"' in inline and words in inline
    # The same photo unflagged is shown.
    plain = manifest(media=[{**photo, "possibly_sensitive": False, "sensitive_warning": None}])
    assert BeautifulSoup(render_card_html(plain, store), "html.parser").find_all("img", src=src)
    assert _red_pixels(png(render_card_png(plain, store))) > 1000
    assert "warning" not in text_of(render_card_html(plain, store))


def test_a_quoted_posts_warnings_are_carried_into_the_quoting_card(store: LocalStore) -> None:
    quoted = manifest(text="graphic quoted content", interstitial="This Post may include sensitive content.",
                      possibly_sensitive=True, media=[{**stored_image(store, (300, 200), (250, 0, 0)),
                                                       "possibly_sensitive": True}])
    quoted["post_id"] = "1850000000000000002"
    store.put("posts/twitter/1850000000000000002/q.json", json.dumps(quoted).encode())
    m = manifest(text="look", quoted={"post_id": "1850000000000000002", "capture_id": None, "status": "archived",
                                      "manifest_key": "posts/twitter/1850000000000000002/q.json"})
    content = card_content(m, store)
    assert content_from_json(json.loads(json.dumps(content_to_json(content)))) == content  # as a worker reads it
    related = content.related[0]
    assert related.notes and "“This Post may include sensitive content.”" in related.notes[0]
    assert "behind a warning: sensitive content" in related.notes[1]
    soup = BeautifulSoup(render_card_html(m, store), "html.parser")
    quote = soup.find("blockquote")
    assert quote is not None and "This Post may include sensitive content." in quote.get_text()
    assert "behind a warning: sensitive content" in quote.get_text()
    inline = inline_card_html(m, store, InlineCard(page_url="https://archive.example/p/1",
                                                   original=m["url"], version_date="2025-07-15T09:12:33Z"))
    quoted_inline = BeautifulSoup(inline, "html.parser").find("blockquote", class_="archiver-card-quoted")
    assert quoted_inline is not None and "This Post may include sensitive content." in quoted_inline.get_text()
    # The PNG card carries the notes too: it is taller than the same card without them.
    calm = {**quoted, "interstitial": None, "possibly_sensitive": False, "media": []}
    store.put("posts/twitter/1850000000000000002/q.json", json.dumps(calm).encode())
    assert card_content(m, store).related[0].notes == ()
    plain_height = png(render_card_png(m, store)).height
    store.put("posts/twitter/1850000000000000002/q.json", json.dumps(quoted).encode())
    assert png(render_card_png(m, store)).height > plain_height + 40


@pytest.mark.parametrize(("edit", "latest_edit", "said"), [
    ({"edit_ids": ["1850000000000000005", "1850000000000000001"], "is_edited": True, "is_latest": True,
      "is_stale": False}, None, "The post was edited: this is the latest of its 2 versions."),
    ({"edit_ids": ["1850000000000000001", "1850000000000000004"], "is_edited": True, "is_latest": False,
      "is_stale": True}, {"post_id": "1850000000000000004", "capture_id": None, "manifest_key": None,
                          "status": "archived"},
     "The post was edited: the article showed an earlier version; the latest version is 1850000000000000004."),
    ({"edit_ids": ["1850000000000000001", "1850000000000000004"], "is_edited": True, "is_latest": False},
     None, "The post was edited: the article showed an earlier version; the latest version is 1850000000000000004."),
    ({"edit_ids": ["1850000000000000001"], "is_edited": True, "is_latest": False}, None, "The post was edited."),
    ({"edit_ids": ["1850000000000000001"], "is_edited": False, "is_latest": True, "is_stale": False}, None, ""),
])
def test_every_edited_post_says_so(store: LocalStore, edit: dict[str, Any], latest_edit: dict[str, Any] | None,
                                   said: str) -> None:
    """An edited post says it was edited (the latest version too), and a stale one that a later version
    exists, in both cards; an unedited one says nothing of edits."""
    m = manifest(edit=edit, **({"latest_edit": latest_edit} if latest_edit else {}))
    content = card_content(m, store)
    assert content.edit == said
    words = text_of(render_card_html(m, store))
    assert (said in words) if said else ("edited" not in words)
    unedited = png(render_card_png(manifest(), store)).height
    assert (png(render_card_png(m, store)).height > unedited) is bool(said)
