"""Twitter cards, polls, unified_card, media sizes and media flags (issue 15, points 3 and 6), on the
shapes of ../shared/formats/twitter-shapes.md: unit tests of the readers, then captures through the
fixture origin (a real loopback HTTP server) into a real local store."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from archiver.capture.fetch import Fetcher
from archiver.capture.manifest import utc_iso, validate_manifest
from archiver.capture.record import CaptureResult, store_capture
from archiver.discover.model import Embed
from archiver.providers.base import CaptureContext, MediaRef, occurrences_in
from archiver.providers.registry import get_provider
from archiver.providers.twitter.cards import MAX_TEXT, MAX_UNIFIED_CARD, read_card
from archiver.providers.twitter.media import PHOTO_SIZES, media_plan, photo_sized_url, plan_media
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image, make_mp4

READ_AT = "2025-07-15T10:00:00.000Z"
T_CO = "https://t.co/Qw3rTy7uIo"
CARD_IMG = "https://pbs.twimg.com/card_img/1850000000000000009/AbCdEfGh?format=jpg&name=orig"


def _s(value: Any) -> dict[str, Any]:
    return {"type": "STRING", "string_value": value}


def _img(url: str, w: int | None = None, h: int | None = None) -> dict[str, Any]:
    return {"type": "IMAGE", "image_value": {"url": url, **({"width": w} if w else {}), **({"height": h} if h else {})}}


# The literal shape of twitter-shapes.md, "Cards: link previews and polls".
SUMMARY_LARGE_IMAGE = {
    "name": "summary_large_image", "url": T_CO,
    "binding_values": {
        "title": _s("Dune erosion survey 2025"),
        "description": _s("Annual results for the northern coast."),
        "domain": _s("coast.example.org"),
        "card_url": _s(T_CO),
        "vanity_url": _s("coast.example.org"),
        "photo_image_full_size_original": _img(CARD_IMG, 1600, 900),
        "thumbnail_image_original": _img(CARD_IMG, 1600, 900)}}
POLL3 = {
    "name": "poll3choice_text_only", "url": "https://t.co/PoLl3xAmPl",
    "binding_values": {
        "choice1_label": _s("Trains"), "choice1_count": _s("412"),
        "choice2_label": _s("Buses"), "choice2_count": _s("198"),
        "choice3_label": _s("Bikes"), "choice3_count": _s("77"),
        "end_datetime_utc": _s("2025-07-16T09:00:00Z"),
        "counts_are_final": {"type": "BOOLEAN", "boolean_value": True},
        "duration_minutes": _s("1440")}}


def _tweet(card: Any, urls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"card": card, "entities": {"urls": urls or []}}


def _variant_labels(ref: MediaRef) -> list[str]:
    return [label for label, _url in ref.variants]


# --- link cards -------------------------------------------------------------------------------------
def test_summary_large_image_keeps_every_field_and_the_original_image() -> None:
    tweet = _tweet(SUMMARY_LARGE_IMAGE, [{"url": T_CO, "expanded_url": "https://coast.example.org/dunes-2025"}])
    card, poll, refs = read_card(tweet, READ_AT)
    assert poll is None and card is not None
    assert (card.name, card.url, card.expanded_url) == ("summary_large_image", T_CO,
                                                        "https://coast.example.org/dunes-2025")
    assert (card.title, card.description, card.domain) == ("Dune erosion survey 2025",
                                                           "Annual results for the northern coast.",
                                                           "coast.example.org")
    (ref,) = refs
    assert (ref.type, ref.slot, ref.listed_url) == ("photo", "card", CARD_IMG)
    assert _variant_labels(ref) == ["orig", "4096x4096", "large", "medium"]
    assert ref.url == ref.variants[0][1] == CARD_IMG
    assert ref.variants[1][1].endswith("/AbCdEfGh?format=jpg&name=4096x4096")


def test_summary_card_picks_the_original_image_and_reads_vanity_url_and_card_url() -> None:
    base = "https://pbs.twimg.com/card_img/1/"
    card = {"name": "summary", "url": "https://t.co/AbC123",
            "binding_values": {
                "title": _s("Ferry timetable"), "vanity_url": _s("ferries.example"),
                "card_url": _s("https://ferries.example/timetable"),
                "thumbnail_image": _img(base + "small?format=jpg&name=144x144", 144, 144),
                "thumbnail_image_large": _img(base + "large?format=jpg&name=280x150", 280, 150),
                "thumbnail_image_original": _img(base + "orig?format=jpg&name=orig"),  # no dimensions stated
                "thumbnail_image_color": {"type": "IMAGE_COLOR", "image_color_value": {"palette": []}}}}
    link, _poll, (ref,) = read_card(_tweet(card), READ_AT)
    assert link is not None and link.domain == "ferries.example" and link.description is None
    # No entity for the t.co: card_url, which is already the destination, is where it leads.
    assert link.expanded_url == "https://ferries.example/timetable"
    assert ref.listed_url == base + "orig?format=jpg&name=orig"
    # Without an *_original binding the largest area wins, fetched at its original size anyway.
    del card["binding_values"]["thumbnail_image_original"]
    _link, _poll, (ref,) = read_card(_tweet(card), READ_AT)
    assert ref.listed_url == base + "large?format=jpg&name=280x150"
    assert ref.url == base + "large?format=jpg&name=orig"


def test_player_card_and_a_t_co_card_url_without_entity() -> None:
    card = {"name": "player", "binding_values": {
        "title": _s("Harbour cam"), "description": _s("Live"), "card_url": _s("https://t.co/PlAyEr1"),
        "player_url": _s("https://www.youtube.com/embed/abc"),
        "player_image": _img("https://pbs.twimg.com/card_img/2/p?format=jpg&name=600x314", 600, 314),
        "player_image_original": _img("https://pbs.twimg.com/card_img/2/p?format=jpg&name=orig", 1280, 720)}}
    link, _poll, (ref,) = read_card(_tweet(card, [{"url": "http://t.co/OtHeR", "expanded_url": "https://x.example"}]),
                                    READ_AT)
    assert link is not None and (link.name, link.url, link.title) == ("player", "https://t.co/PlAyEr1", "Harbour cam")
    assert link.expanded_url is None  # the card_url is a t.co link and no entity says where it leads
    assert ref.listed_url.endswith("name=orig")


def test_graphql_list_shaped_bindings_are_read() -> None:
    card = {"rest_id": "card://1", "legacy": {"name": "summary", "url": T_CO, "binding_values": [
        {"key": "title", "value": _s("From GraphQL")}, {"key": "domain", "value": _s("g.example")}, "junk"]}}
    link, _poll, refs = read_card(_tweet(card, [{"url": T_CO, "expanded_url": "https://g.example/a"}]), READ_AT)
    assert link is not None and (link.title, link.domain, link.expanded_url) == ("From GraphQL", "g.example",
                                                                                 "https://g.example/a")
    assert refs == []


# --- unified_card -----------------------------------------------------------------------------------
def _unified(doc: Any) -> dict[str, Any]:
    raw = doc if isinstance(doc, str) else json.dumps(doc)
    return {"name": "unified_card", "url": "https://t.co/UnIfIeD1",
            "binding_values": {"unified_card": _s(raw), "card_url": _s("https://t.co/UnIfIeD1")}}


IMAGE_WEBSITE = {
    "type": "image_website", "components": ["media_1", "details_1"],
    "component_objects": {
        "details_1": {"type": "details", "data": {"title": {"content": "Coastal survey", "is_rtl": False},
                                                  "subtitle": {"content": "coast.example.org", "is_rtl": False},
                                                  "destination": "browser_1"}},
        "media_1": {"type": "media", "data": {"id": "1850000000000000020", "destination": "browser_1"}}},
    "destination_objects": {"browser_1": {"type": "browser", "data": {"url_data": {
        "url": "https://coast.example.org/survey", "vanity": "coast.example.org"}}}},
    "media_entities": {"1850000000000000020": {
        "id_str": "1850000000000000020", "type": "photo", "media_url_https": "https://pbs.twimg.com/media/GxUnIf1.jpg",
        "original_info": {"width": 1200, "height": 628}}}}


def test_unified_card_image_website() -> None:
    link, poll, (ref,) = read_card(_tweet(_unified(IMAGE_WEBSITE)), READ_AT)
    assert poll is None and link is not None
    assert (link.name, link.url, link.expanded_url) == ("unified_card", "https://t.co/UnIfIeD1",
                                                        "https://coast.example.org/survey")
    assert (link.title, link.description, link.domain) == ("Coastal survey", "coast.example.org", "coast.example.org")
    assert (ref.slot, ref.listed_url) == ("card", "https://pbs.twimg.com/media/GxUnIf1.jpg")
    assert ref.url == "https://pbs.twimg.com/media/GxUnIf1?format=jpg&name=orig"


def test_unified_card_app_store_and_swipeable_media() -> None:
    doc = {
        "type": "image_carousel_app",
        "component_objects": {
            "swipeable_media_1": {"type": "swipeable_media", "data": {"media_list": [
                {"id": "m2", "destination": "app_store_1"}, {"id": "m3", "destination": "app_store_1"}]}},
            "app_store_details_1": {"type": "app_store_details", "data": {"app_id": "app_1",
                                                                          "destination": "app_store_1"}}},
        "destination_objects": {"app_store_1": {"type": "app_store", "data": {"app_id": "app_1"}}},
        "app_store_data": {"app_1": [{"type": "android_app", "id": "org.example.tides",
                                      "title": {"content": "Tide Tables"}},
                                     {"type": "iphone_app", "id": "1234567"}]},
        "media_entities": {"m2": {"media_url_https": "https://pbs.twimg.com/media/Second.png"},
                           "m3": {"media_url_https": "https://pbs.twimg.com/media/Third.png"}}}
    link, _poll, (ref,) = read_card(_tweet(_unified(doc)), READ_AT)
    assert link is not None and link.title == "Tide Tables"
    assert link.expanded_url == "https://play.google.com/store/apps/details?id=org.example.tides"
    assert link.domain == "play.google.com"
    assert ref.listed_url == "https://pbs.twimg.com/media/Second.png"
    doc["app_store_data"]["app_1"].reverse()
    link, _poll, _refs = read_card(_tweet(_unified(doc)), READ_AT)
    assert link is not None and link.expanded_url == "https://apps.apple.com/app/id1234567"


@pytest.mark.parametrize("raw", [
    "x" * (MAX_UNIFIED_CARD + 1),
    json.dumps({**IMAGE_WEBSITE, "pad": "x" * MAX_UNIFIED_CARD}),
    "{not json",
    "[" * 100_000 + "]" * 100_000,
    '{"a": ' * 35_000 + "1" + "}" * 35_000,
    "[1, 2, 3]",
    '"a string"',
    "9" * 5000,
    "",
], ids=["huge", "huge-valid", "invalid", "deep-list", "deep-object", "list", "string", "huge-int", "empty"])
def test_unified_card_that_is_huge_or_not_an_object_gives_no_card(raw: str) -> None:
    assert read_card(_tweet(_unified(raw)), READ_AT) == (None, None, [])


def test_unified_card_with_wrong_types_inside_never_raises() -> None:
    doc = {"components": [5, None, "c1", "c2", "c3"], "component_objects": {
        "c1": {"type": "details", "data": {"title": 7, "subtitle": ["x"], "destination": {"x": 1}}},
        "c2": {"type": "media", "data": {"id": 123, "media_list": "no"}},
        "c3": "not an object"},
        "destination_objects": {"d": {"type": "browser", "data": {"url_data": {"url": "javascript:alert(1)"}}},
                                "e": {"data": {"url_data": {"url": "https://ok.example/"}}}},
        "media_entities": [], "app_store_data": {"app_1": "x"}}
    link, poll, refs = read_card(_tweet(_unified(doc)), READ_AT)
    assert link is not None and poll is None and refs == []
    assert (link.title, link.description, link.expanded_url) == (None, None, "https://ok.example/")


# --- polls ------------------------------------------------------------------------------------------
def _poll_card(n: int, kind: str = "text_only", counts: bool = True) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    expected = [(f"Choice {i} ✓", 100 * i + 7) for i in range(1, n + 1)]
    b: dict[str, Any] = {"end_datetime_utc": _s("2025-07-16T09:00:00Z"),
                         "counts_are_final": {"type": "BOOLEAN", "boolean_value": False},
                         "duration_minutes": _s("60"),
                         "last_updated_datetime_utc": _s("2025-07-15T09:59:00Z")}
    for i, (label, count) in enumerate(expected, 1):
        b[f"choice{i}_label"] = _s(label)
        if counts:
            b[f"choice{i}_count"] = _s(str(count))
    return {"name": f"poll{n}choice_{kind}", "url": "https://t.co/PoLl", "binding_values": b}, expected


def test_poll3_from_the_shapes_file() -> None:
    card, poll, refs = read_card(_tweet(POLL3), READ_AT)
    assert card is None and refs == [] and poll is not None
    assert [(c.label, c.count) for c in poll.choices] == [("Trains", 412), ("Buses", 198), ("Bikes", 77)]
    assert (poll.name, poll.end_datetime, poll.counts_are_final, poll.duration_minutes, poll.read_at) == (
        "poll3choice_text_only", "2025-07-16T09:00:00.000Z", True, 1440, READ_AT)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_polls_keep_every_choice_in_order(n: int) -> None:
    card, expected = _poll_card(n)
    link, poll, refs = read_card(_tweet(card), "2025-07-15T11:30:00.000Z")
    assert link is None and refs == [] and poll is not None
    assert [(c.label, c.count) for c in poll.choices] == expected
    assert poll.counts_are_final is False and poll.duration_minutes == 60
    assert poll.read_at == "2025-07-15T11:30:00.000Z"
    # Counts not stated (a poll still running shown logged out) are None, never 0.
    card, expected = _poll_card(n, counts=False)
    _link, poll, _refs = read_card(_tweet(card), READ_AT)
    assert poll is not None and [(c.label, c.count) for c in poll.choices] == [(lab, None) for lab, _ in expected]


@pytest.mark.parametrize("n", [2, 4])
def test_image_poll_keeps_the_poll_and_its_image(n: int) -> None:
    card, expected = _poll_card(n, kind="image")
    card["binding_values"]["image_original"] = _img("https://pbs.twimg.com/card_img/3/poll?format=png&name=orig",
                                                    800, 600)
    card["binding_values"]["image_small"] = _img("https://pbs.twimg.com/card_img/3/poll?format=png&name=small",
                                                 100, 75)
    link, poll, (ref,) = read_card(_tweet(card), READ_AT)
    assert poll is not None and [(c.label, c.count) for c in poll.choices] == expected
    assert link is not None and (link.name, link.url) == (f"poll{n}choice_image", "https://t.co/PoLl")
    assert ref.slot == "card" and ref.url == "https://pbs.twimg.com/card_img/3/poll?format=png&name=orig"


@pytest.mark.parametrize(("when", "expected"), [
    ("2025-07-16T09:00:00Z", "2025-07-16T09:00:00.000Z"),
    ("2025-07-16T11:00:00+02:00", "2025-07-16T09:00:00.000Z"),
    ("2025-07-16T09:00:00", "2025-07-16T09:00:00.000Z"),
    ("0001-01-01T00:00:00+05:00", None),
    ("tomorrow", None),
    ("2025-13-40T09:00:00Z", None),
])
def test_poll_end_time(when: str, expected: str | None) -> None:
    card = copy.deepcopy(POLL3)
    card["binding_values"]["end_datetime_utc"] = _s(when)
    _link, poll, _refs = read_card(_tweet(card), READ_AT)
    assert poll is not None and poll.end_datetime == expected


# --- hostile binding values ---------------------------------------------------------------------------
def test_wrong_value_types_are_ignored() -> None:
    card = copy.deepcopy(POLL3)
    b = card["binding_values"]
    b["choice1_count"] = {"type": "STRING", "string_value": 412}  # a JSON number in its place: read
    b["choice2_count"] = _s("-5")
    b["choice3_count"] = {"type": "IMAGE", "string_value": "77"}  # type not the one needed
    b["choice2_label"] = {"type": "USER", "user_value": {"id_str": "1"}}
    b["counts_are_final"] = {"type": "BOOLEAN", "boolean_value": "true"}
    b["duration_minutes"] = _s("1e3")
    _link, poll, _refs = read_card(_tweet(card), READ_AT)
    assert poll is not None
    # Choice 2 has no label (a USER binding) and no count: nothing of it is left to show.
    assert [(c.label, c.count) for c in poll.choices] == [("Trains", 412), ("Bikes", None)]
    assert poll.counts_are_final is None and poll.duration_minutes is None

    link_card = copy.deepcopy(SUMMARY_LARGE_IMAGE)
    lb = link_card["binding_values"]
    lb["title"] = {"type": "IMAGE", "image_value": {"url": "https://x.example/a.jpg"}}
    lb["description"] = {"type": "STRING"}
    lb["domain"] = _s(["coast"])
    lb["photo_image_full_size_original"] = _img("javascript:alert(1)", 9000, 9000)
    lb["thumbnail_image_original"] = {"type": "STRING", "image_value": {"url": CARD_IMG}}
    lb["player_image"] = {"type": "IMAGE", "image_value": "https://pbs.twimg.com/x.jpg"}
    link, _poll, refs = read_card(_tweet(link_card), READ_AT)
    assert link is not None and (link.title, link.description) == (None, None)
    assert link.domain == "coast.example.org"  # from vanity_url
    assert refs == []


@pytest.mark.parametrize("card", [
    None, "summary", [], {}, {"name": 5}, {"name": ""}, {"name": "\x00\x01"},
    {"name": "summary", "binding_values": "title"}, {"name": "summary", "binding_values": [1, None, {"key": 3}]},
    {"name": "poll2choice_text_only", "binding_values": {}},
    {"name": "poll2choice_text_only", "binding_values": {"choice1_label": _s("   ")}},
    {"legacy": "x"}, {"name": "unified_card", "binding_values": {"unified_card": {"type": "STRING"}}},
], ids=lambda c: repr(c)[:40])
def test_malformed_cards_never_raise(card: Any) -> None:
    link, poll, refs = read_card({"card": card, "entities": "not an object"}, READ_AT)
    if isinstance(card, dict) and card.get("name") == "summary":
        assert link is not None and poll is None and refs == []
    else:
        assert (link, poll, refs) == (None, None, [])


def test_texts_are_bounded_and_control_characters_dropped() -> None:
    card = copy.deepcopy(SUMMARY_LARGE_IMAGE)
    card["binding_values"]["title"] = _s("A\x00B\x1b[31mC\tD\nE")
    card["binding_values"]["description"] = _s("é" * 1_000_000)
    card["url"] = "https://t.co/" + "a" * 5000  # not a URL anyone serves: the card_url is taken
    link, _poll, _refs = read_card(_tweet(card), READ_AT)
    assert link is not None and link.title == "AB[31mC\tD\nE"
    assert link.description == "é" * MAX_TEXT and link.url == T_CO


def test_many_bindings_and_entities_stay_bounded() -> None:
    b = {f"k{i}": _s("v") for i in range(200_000)}
    b["title"] = _s("late")
    card = {"name": "summary", "url": T_CO, "binding_values": b}
    link, _poll, _refs = read_card(_tweet(card, [{"url": "x"}] * 100_000), READ_AT)
    assert link is not None and link.title is None  # read past MAX_BINDINGS: not read at all


# --- media plan ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("listed", "size", "expected"), [
    ("https://pbs.twimg.com/media/GxAb.jpg", "orig", "https://pbs.twimg.com/media/GxAb?format=jpg&name=orig"),
    ("https://pbs.twimg.com/media/GxAb.PNG", "large", "https://pbs.twimg.com/media/GxAb?format=png&name=large"),
    ("https://pbs.twimg.com/media/GxAb?format=webp&name=small", "4096x4096",
     "https://pbs.twimg.com/media/GxAb?format=webp&name=4096x4096"),
    ("https://pbs.twimg.com/media/GxAb.jpg:large", "orig", "https://pbs.twimg.com/media/GxAb?format=jpg&name=orig"),
    ("https://pbs.twimg.com/card_img/1/AbC?format=jpg", "medium",
     "https://pbs.twimg.com/card_img/1/AbC?format=jpg&name=medium"),
])
def test_photo_sized_url(listed: str, size: str, expected: str) -> None:
    assert photo_sized_url(listed, size) == expected


def test_photo_plan_tries_each_size_largest_first_and_copies_flags() -> None:
    tweet = {"possibly_sensitive": True, "mediaDetails": [
        {"type": "photo", "media_url_https": "https://pbs.twimg.com/media/GxGeo.jpg",
         "ext_media_availability": {"status": "Unavailable", "reason": "Geoblocked"},
         "sensitive_media_warning": {"adult_content": True, "graphic_violence": False, "other": "no"},
         "source_status_id_str": "1850000000000000002", "source_user_id_str": "44000001"},
        {"type": "photo", "media_url_https": "https://pbs.twimg.com/media/GxPlain.png",
         "ext_media_availability": {"status": 1}, "sensitive_media_warning": [],
         "source_status_id_str": "12; DROP", "source_user_id_str": 44000001}]}
    first, second = media_plan(tweet)
    assert [label for label, _ in first["variants"]] == list(PHOTO_SIZES) == ["orig", "4096x4096", "large", "medium"]
    assert first["url"] == first["variants"][0][1] == "https://pbs.twimg.com/media/GxGeo?format=jpg&name=orig"
    assert first["variants"][3][1] == "https://pbs.twimg.com/media/GxGeo?format=jpg&name=medium"
    assert first["listed_url"] == "https://pbs.twimg.com/media/GxGeo.jpg"
    assert first["flags"] == {"availability": {"status": "Unavailable", "reason": "Geoblocked"},
                              "sensitive_warning": {"adult_content": True, "graphic_violence": False},
                              "possibly_sensitive": True, "source_status_id": "1850000000000000002",
                              "source_user_id": "44000001"}
    assert second["flags"] == {"possibly_sensitive": True}  # every other value of the wrong type
    MediaRef(**first)  # the capture builds MediaRefs from these


VIDEO_VARIANTS = [
    {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/pl.m3u8"},
    {"bitrate": 832000, "content_type": "video/mp4", "url": "https://video.twimg.com/640.mp4"},
    {"bitrate": 2176000, "content_type": "video/mp4", "url": "https://video.twimg.com/1280.mp4"},
    {"bitrate": 256000, "content_type": "video/mp4", "url": "https://video.twimg.com/320.mp4"},
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_best_mp4_whatever_the_order(order: tuple[int, ...]) -> None:
    variants = [VIDEO_VARIANTS[i] for i in order]
    (plan,) = media_plan({"mediaDetails": [{"type": "video", "media_url_https": "https://pbs.twimg.com/t/v.jpg",
                                            "video_info": {"variants": variants, "duration_millis": 1500}}]})
    assert (plan["url"], plan["bitrate"], plan["duration"]) == ("https://video.twimg.com/1280.mp4", 2176000, 1.5)
    assert [label for label, _ in plan["poster_variants"]] == list(PHOTO_SIZES)
    assert plan["poster_url"] == "https://pbs.twimg.com/t/v?format=jpg&name=orig"


def test_gif_and_unstated_bitrates() -> None:
    gif = {"type": "animated_gif", "media_url_https": "https://pbs.twimg.com/tweet_video_thumb/G.jpg",
           "video_info": {"variants": [{"bitrate": 0, "content_type": "video/mp4",
                                        "url": "https://video.twimg.com/tweet_video/G.mp4"}]}}
    only_hls = {"type": "video", "video_info": {"variants": [VIDEO_VARIANTS[0]]}}
    unstated = {"type": "video", "video_info": {"variants": [
        {"content_type": "video/mp4", "url": "https://video.twimg.com/unstated.mp4"},
        {"bitrate": 0, "content_type": "video/mp4", "url": "https://video.twimg.com/zero.mp4"}]}}
    hostile = {"type": "video", "video_info": {"variants": [
        {"bitrate": True, "content_type": "video/mp4", "url": "file:///etc/passwd"}, "x"], "duration_millis": -5}}
    plans = media_plan({"mediaDetails": [gif, only_hls, unstated, hostile, None, {"type": "photo"}]})
    assert [p["url"] for p in plans] == ["https://video.twimg.com/tweet_video/G.mp4", "https://video.twimg.com/zero.mp4"]
    assert plans[0]["bitrate"] == 0 and plans[1]["poster_url"] is None and plans[1]["poster_variants"] == ()
    assert media_plan({"mediaDetails": "x"}) == [] and media_plan({}) == []


EXPANDED = "https://x.com/CoastDesk/status/1850000000000000070/{}/1"


def _entry(kind: Any, n: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "expanded_url": EXPANDED.format(f"{kind}{n}"), "url": f"https://t.co/m{n}", **fields}


def test_every_medium_is_planned_or_listed_missing() -> None:
    hls = {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/pl.m3u8"}
    details = [
        _entry("video", 1, video_info={"variants": [hls]}),                                    # HLS only
        _entry("video", 2, video_info={"variants": [{"content_type": "video/mp4", "bitrate": 832000,
                                                     "url": "/v/a.mp4"}]}),                    # relative
        _entry("animated_gif", 3, video_info={"variants": [{"content_type": "video/mp4", "url": "ftp://x/g.mp4"}]}),
        _entry("photo", 4, media_url="http://pbs.twimg.com/media/OnlyHttp.jpg"),               # planned
        _entry("photo", 5),                                                                    # no URL at all
        _entry("model3d", 6, media_url_https="https://pbs.twimg.com/media/M.jpg"),             # unknown type
        _entry({"evil": 1}, 7),                                                                # not a type
        "not an object", None,
    ]
    plan, missing = plan_media({"mediaDetails": details})
    assert [p["url"] for p in plan] == ["http://pbs.twimg.com/media/OnlyHttp?format=jpg&name=orig"]
    assert [(p.part, p.ref) for p in missing] == [
        ("video", EXPANDED.format("video1")), ("video", EXPANDED.format("video2")),
        ("animated_gif", EXPANDED.format("animated_gif3")), ("photo", EXPANDED.format("photo5")),
        ("media", EXPANDED.format("model3d6")), ("media", "https://t.co/m7")]  # a URL with spaces is none
    assert "HLS" in missing[0].reason and "model3d" in missing[4].reason
    assert "evil" not in missing[5].reason  # a type that is not a word is not repeated
    assert all(p.reason and "\n" not in p.reason for p in missing)


def test_media_without_media_details_come_from_photos_video_or_entities() -> None:
    photos = {"photos": [{"url": "https://pbs.twimg.com/media/P1.jpg", "width": 9, "height": 9}, {"width": 3}],
              "entities": {"media": [{"expanded_url": EXPANDED.format("photo1")},
                                     {"expanded_url": EXPANDED.format("photo2")},
                                     {"expanded_url": EXPANDED.format("photo3")}]}}
    plan, missing = plan_media(photos)
    assert [p["listed_url"] for p in plan] == ["https://pbs.twimg.com/media/P1.jpg"]
    # The second photo has no URL; the third is only in the entities: both missing.
    assert [(p.part, p.ref) for p in missing] == [("photo", None), ("media", EXPANDED.format("photo3"))]
    video = {"video": {"poster": "https://pbs.twimg.com/v.jpg", "durationMs": 3000, "variants": [
        {"type": "video/mp4", "src": "https://video.twimg.com/vid/1280x720/v.mp4"},
        {"type": "application/x-mpegURL", "src": "https://video.twimg.com/pl.m3u8"},
        {"type": "video/mp4", "src": "https://video.twimg.com/vid/320x180/v.mp4"}]}}
    (planned,), missing = plan_media(video)
    assert planned["url"].endswith("1280x720/v.mp4") and planned["duration"] == 3 and missing == []
    v11 = {"extended_entities": {"media": [{"type": "photo", "media_url_https": "https://pbs.twimg.com/media/E.png",
                                            "expanded_url": EXPANDED.format("photo1")}]}}
    (planned,), missing = plan_media(v11)
    assert planned["listed_url"] == "https://pbs.twimg.com/media/E.png" and missing == []
    assert plan_media({"mediaDetails": [], "entities": {"media": "x"}}) == ([], [])


def test_poll_choice_without_a_label_keeps_its_votes() -> None:
    card = {"name": "poll3choice_text_only", "binding_values": {
        "choice1_label": _s("Yes"), "choice1_count": _s("10"), "choice2_label": _s(""), "choice2_count": _s("80"),
        "choice3_count": {"type": "STRING", "string_value": 10}}}
    _link, poll, _refs = read_card(_tweet(card), READ_AT)
    assert poll is not None and [(c.label, c.count) for c in poll.choices] == [("Yes", 10), ("", 80), ("", 10)]


@pytest.mark.parametrize(("given", "count"), [
    ("412", 412), (412, 412), (412.0, 412), ("1,204", 1204), ("1.204.330", 1204330), ("1\u202f204", 1204),
    (-5, None), (4.5, None), (True, None), ("1,20", None), ("12,3456", None), ("1e3", None), (None, None),
])
def test_poll_counts_as_strings_or_numbers(given: Any, count: int | None) -> None:
    card = {"name": "poll2choice_text_only", "binding_values": {
        "choice1_label": _s("A"), "choice1_count": {"type": "STRING", "string_value": given},
        "choice2_label": _s("B")}}
    _link, poll, _refs = read_card(_tweet(card), READ_AT)
    assert poll is not None and poll.choices[0].count == count


# --- captures through the fixture origin ---------------------------------------------------------------
@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(timeout_sleep=1.0) as o:
        yield o


@pytest.fixture
def env(origin: FixtureOrigin, tmp_settings: Callable[..., Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = tmp_settings(**origin.settings_overrides(), fetch_retries=0, media_derivatives=False)
    store = LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")
    yield {"settings": settings, "store": store, "fetcher": Fetcher(settings)}
    for key in store.list("posts/"):
        if key.endswith(".json"):
            validate_manifest(json.loads(store.get(key)))


def _capture(env: dict[str, Any], t: TweetFixture) -> tuple[CaptureResult, dict[str, Any]]:
    ctx = CaptureContext(settings=env["settings"], fetcher=env["fetcher"], article_id="art-cards",
                         article_url="https://news.example/cards")
    embed = Embed("twitter", t.id, f"https://twitter.com/{t.handle}/status/{t.id}", 0, 0, handle=t.handle,
                  text=t.text, form="blockquote")
    res = store_capture(get_provider("twitter").capture(occurrences_in("", [embed]), ctx), ctx, env["store"])
    assert res.manifest_key, res.error
    m = json.loads(env["store"].get(res.manifest_key))
    validate_manifest(m)
    return res, m


def _served_card_image(origin: FixtureOrigin, path: str, seed: str) -> tuple[str, bytes]:
    body = make_image(seed, 160, 90)
    origin.add_image(path, body)
    return origin.url(path), body


def test_link_card_captured_with_its_image_at_the_largest_size_served(origin: FixtureOrigin,
                                                                      env: dict[str, Any]) -> None:
    url, body = _served_card_image(origin, "/card_img/1850000000000000009/AbCdEfGh", "card:dunes")
    card = copy.deepcopy(SUMMARY_LARGE_IMAGE)
    for key in ("photo_image_full_size_original", "thumbnail_image_original"):
        card["binding_values"][key]["image_value"]["url"] = url + "?format=jpg&name=orig"
    t = origin.add_tweet(TweetFixture(id="1850000000000000010", handle="CoastLab", name="Coast Lab",
                                      text=f"Our survey: {T_CO}", links={T_CO: "https://coast.example.org/dunes-2025"},
                                      extra={"card": card}))
    res, m = _capture(env, t)
    assert res.status == "archived", res.error
    c = m["card"]
    assert (c["name"], c["url"], c["expanded_url"]) == ("summary_large_image", T_CO, "https://coast.example.org/dunes-2025")
    assert (c["title"], c["description"], c["domain"]) == ("Dune erosion survey 2025",
                                                           "Annual results for the northern coast.",
                                                           "coast.example.org")
    image = c["image"]
    assert image["status"] == "archived" and image["sha256"] == hashlib.sha256(body).hexdigest()
    assert env["store"].get(image["key"]) == body
    assert (image["variant"], image.get("degraded")) == ("orig", False)
    assert m["media"] == []  # the card image is the card's, not one of the post's media
    assert m.get("poll") is None


def test_card_image_falls_back_to_4096_when_orig_answers_404(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    url, body = _served_card_image(origin, "/card_img/1850000000000000011/OldCard", "card:old")
    origin.set_behaviour("/card_img/1850000000000000011/OldCard?name=orig", "404", sticky=True)
    card = {"name": "summary", "url": "https://t.co/OlDcArD",
            "binding_values": {"title": _s("Old card"),
                               "thumbnail_image_original": _img(url + "?format=jpg&name=orig")}}
    t = origin.add_tweet(TweetFixture(id="1850000000000000011", handle="CoastLab", name="Coast Lab", text="old",
                                      extra={"card": card}))
    _res, m = _capture(env, t)
    image = m["card"]["image"]
    assert image["status"] == "archived" and image["sha256"] == hashlib.sha256(body).hexdigest()
    assert (image["variant"], image["degraded"]) == ("4096x4096", True)
    assert "name=4096x4096" in (image.get("final_url") or image["original_url"])


def test_unified_card_captured(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    _stem, body = _served_card_image(origin, "/media/GxUnIfOrigin", "card:unified")
    url = origin.add_image("/media/GxUnIfOrigin.jpg", body)  # listed with its extension, asked for without
    doc = copy.deepcopy(IMAGE_WEBSITE)
    doc["media_entities"]["1850000000000000020"]["media_url_https"] = url
    t = origin.add_tweet(TweetFixture(id="1850000000000000012", handle="CoastLab", name="Coast Lab",
                                      text="Read the survey", extra={"card": _unified(doc)}))
    res, m = _capture(env, t)
    assert res.status == "archived", res.error
    c = m["card"]
    assert (c["name"], c["title"], c["description"], c["expanded_url"]) == (
        "unified_card", "Coastal survey", "coast.example.org", "https://coast.example.org/survey")
    assert c["image"]["sha256"] == hashlib.sha256(body).hexdigest() and c["image"]["variant"] == "orig"


@pytest.mark.parametrize("n", [2, 3, 4])
def test_poll_captured_with_every_choice_and_count(origin: FixtureOrigin, env: dict[str, Any], n: int) -> None:
    card, expected = _poll_card(n)
    t = origin.add_tweet(TweetFixture(id=f"185000000000000003{n}", handle="TransitDesk", name="Transit Desk",
                                      text="How do you commute?", extra={"card": card}))
    res, m = _capture(env, t)
    assert res.status == "archived", res.error
    p = m["poll"]
    assert [(c["label"], c["count"]) for c in p["choices"]] == expected
    assert (p["name"], p["end_datetime"], p["counts_are_final"], p["duration_minutes"]) == (
        f"poll{n}choice_text_only", "2025-07-16T09:00:00.000Z", False, 60)
    # When the counts were read: when the syndication answer holding them was fetched, as the metrics'.
    synd = next(s for s in m["sources"] if s["name"] == "syndication")
    assert p["read_at"] == synd["fetched_at"] == m["metrics"]["read_at"] <= utc_iso(datetime.now(UTC))
    assert m.get("card") is None


def test_photo_falls_back_to_4096_when_orig_answers_404(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = origin.add_tweet(TweetFixture(id="1850000000000000040", handle="OldPhotos", name="Old Photos",
                                      text="From the archive",
                                      photos=[{"name": "GxOldOrig.jpg", "width": 200, "height": 150},
                                              {"name": "GxNewOrig.jpg", "width": 80, "height": 60}]))
    origin.set_behaviour("/media/GxOldOrig?name=orig", "404", sticky=True)
    res, m = _capture(env, t)
    assert res.status == "archived", res.error
    old, new = m["media"]
    assert old["status"] == "archived"
    assert old["sha256"] == hashlib.sha256(origin.media_bytes("/media/GxOldOrig")).hexdigest()
    assert (old["variant"], old["degraded"]) == ("4096x4096", True)
    assert (new["variant"], new["degraded"]) == ("orig", False)
    assert origin.count("/media/GxOldOrig", name="orig") >= 1
    assert origin.count("/media/GxOldOrig", name="4096x4096") == 1
    assert origin.count("/media/GxOldOrig", name="large") == 0  # stops at the first size served


def test_hls_first_variant_list_takes_the_best_mp4(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    tid = "1850000000000000050"
    paths = {"hls": f"/amplify_video/{tid}/pl/v.m3u8", "low": f"/amplify_video/{tid}/vid/320x180/v.mp4",
             "best": f"/amplify_video/{tid}/vid/1280x720/v.mp4", "mid": f"/amplify_video/{tid}/vid/640x360/v.mp4"}
    bodies = {k: b"#EXTM3U\n" if k == "hls" else make_mp4(p, 2000) for k, p in paths.items()}  # distinct bytes
    for k, p in paths.items():
        origin.add_image(p, bodies[k], "application/x-mpegURL" if k == "hls" else "video/mp4")
    poster = make_image("poster:hls", 64, 36)
    origin.add_image(f"/amplify_video_thumb/{tid}/img/v", poster)
    variants = [{"content_type": "application/x-mpegURL", "url": origin.url(paths["hls"])},
                {"bitrate": 256000, "content_type": "video/mp4", "url": origin.url(paths["low"])},
                {"bitrate": 2176000, "content_type": "video/mp4", "url": origin.url(paths["best"])},
                {"bitrate": 832000, "content_type": "video/mp4", "url": origin.url(paths["mid"])}]
    detail = {"type": "video", "media_url_https": origin.url(f"/amplify_video_thumb/{tid}/img/v.jpg"),
              "ext_media_availability": {"status": "Available"},
              "video_info": {"variants": variants, "duration_millis": 2000, "aspect_ratio": [16, 9]}}
    t = origin.add_tweet(TweetFixture(id=tid, handle="HarbourCam", name="Harbour Cam", text="Storm surge",
                                      extra={"mediaDetails": [detail]}))
    res, m = _capture(env, t)
    assert res.status == "archived", res.error
    (video,) = m["media"]
    assert video["bitrate"] == 2176000 and video["sha256"] == hashlib.sha256(bodies["best"]).hexdigest()
    assert video["poster_sha256"] == hashlib.sha256(poster).hexdigest() and video["poster_variant"] == "orig"
    assert video["availability"] == {"status": "Available", "reason": None}
    assert origin.count(paths["hls"]) == 0


def test_geoblocked_sensitive_and_reused_media_flags_recorded(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = origin.add_tweet(TweetFixture(
        id="1850000000000000060", handle="HarbourNews", name="Harbour News", text="Night ferry",
        possibly_sensitive=True,
        photos=[{"name": "GxGeo.jpg", "extra": {"ext_media_availability": {"status": "Unavailable",
                                                                           "reason": "Geoblocked"}}},
                {"name": "GxSens.jpg", "extra": {"sensitive_media_warning": {"adult_content": False,
                                                                             "graphic_violence": True,
                                                                             "other": False}}},
                {"name": "GxReused.jpg", "extra": {"source_status_id_str": "1850000000000000002",
                                                   "source_user_id_str": "44000001"}}]))
    _res, m = _capture(env, t)
    geo, sens, reused = m["media"]
    assert geo["availability"] == {"status": "Unavailable", "reason": "Geoblocked"}
    assert sens["sensitive_warning"] == {"adult_content": False, "graphic_violence": True, "other": False}
    assert (reused["source_status_id"], reused["source_user_id"]) == ("1850000000000000002", "44000001")
    assert geo.get("source_status_id") is None and reused["availability"]["status"] == "Available"
    assert all(item["possibly_sensitive"] is True for item in m["media"])
    assert m["possibly_sensitive"] is True


# Every medium the answer shows is archived or listed missing (the capture then partial).
def _detail(origin: FixtureOrigin, tid: str, kind: Any, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "expanded_url": f"https://x.com/CoastDesk/status/{tid}/video/1",
            "media_url_https": origin.url(f"/amplify_video_thumb/{tid}/img/p.jpg"), **fields}


@pytest.mark.parametrize("case", ["hls_only", "relative_mp4", "unknown_type", "entities_only", "pic_link_only"])
def test_media_the_answer_shows_but_cannot_give_make_the_capture_partial(origin: FixtureOrigin,
                                                                          env: dict[str, Any], case: str) -> None:
    tid = str(1850000000000000080 + ["hls_only", "relative_mp4", "unknown_type", "entities_only",
                                     "pic_link_only"].index(case))
    expanded = f"https://x.com/CoastDesk/status/{tid}/video/1"
    hls = {"content_type": "application/x-mpegURL", "url": origin.url(f"/amplify_video/{tid}/pl/v.m3u8")}
    fields: dict[str, Any] = {
        "hls_only": {"extra": {"mediaDetails": [_detail(origin, tid, "video", video_info={"variants": [hls]})]}},
        "relative_mp4": {"extra": {"mediaDetails": [_detail(origin, tid, "video", video_info={"variants": [
            {"content_type": "video/mp4", "bitrate": 832000, "url": "/amplify_video/v.mp4"}]})]}},
        "unknown_type": {"extra": {"mediaDetails": [_detail(origin, tid, "model3d")]}},
        "entities_only": {"extra": {"mediaDetails": None, "entities": {"media": [{"expanded_url": expanded}]}}},
        "pic_link_only": {"oembed_text": "Storm surge pic.x.com/Zx9Qw8Er7T"},
    }[case]
    t = origin.add_tweet(TweetFixture(id=tid, handle="CoastDesk", name="Coast Desk", text="Storm surge", **fields))
    res, m = _capture(env, t)
    assert res.status == m["status"] == "partial" and m["media"] == []
    ref = "pic.x.com/Zx9Qw8Er7T" if case == "pic_link_only" else expanded
    part = {"hls_only": "video", "relative_mp4": "video"}.get(case, "media")
    assert [(p["part"], p["ref"]) for p in m["missing"]] == [(part, ref)]
    assert m["error"].startswith("1 part missing") and ref in m["error"]
    assert origin.count(f"/amplify_video/{tid}/pl/v.m3u8") == 0  # HLS is never fetched


@pytest.mark.parametrize("shape", ["media_url_only", "photos_without_media_details"])
def test_photos_listed_in_other_shapes_are_archived(origin: FixtureOrigin, env: dict[str, Any], shape: str) -> None:
    tid = "185000000000000009" + str(["media_url_only", "photos_without_media_details"].index(shape))
    body = make_image(f"other-shape:{shape}", 40, 30)
    url = origin.add_image(f"/media/Sh4pe{tid}.jpg", body)
    origin.add_image(f"/media/Sh4pe{tid}", body)
    extra = {"media_url_only": {"mediaDetails": [{"type": "photo", "media_url": url}]},
             "photos_without_media_details": {"mediaDetails": None, "photos": [{"url": url, "width": 40,
                                                                               "height": 30}]}}[shape]
    t = origin.add_tweet(TweetFixture(id=tid, handle="CoastDesk", name="Coast Desk", text="Dunes", extra=extra))
    res, m = _capture(env, t)
    assert res.status == "archived", res.error
    (photo,) = m["media"]
    assert photo["status"] == "archived" and photo["sha256"] == hashlib.sha256(body).hexdigest()
    assert "missing" not in m


def test_poll_without_a_label_keeps_its_share_in_the_card(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    card = {"name": "poll3choice_text_only", "url": "https://t.co/PoLl", "binding_values": {
        "choice1_label": _s("Yes"), "choice1_count": _s("10"), "choice2_label": _s(""), "choice2_count": _s("80"),
        "choice3_label": _s("No"), "choice3_count": {"type": "STRING", "string_value": 10},
        "counts_are_final": {"type": "BOOLEAN", "boolean_value": True}}}
    t = origin.add_tweet(TweetFixture(id="1850000000000000099", handle="TransitDesk", name="Transit Desk",
                                      text="Do you agree?", extra={"card": card}))
    _res, m = _capture(env, t)
    assert [(c["label"], c["count"]) for c in m["poll"]["choices"]] == [("Yes", 10), ("", 80), ("No", 10)]
    page = env["store"].get(m["cards"]["html"]).decode("utf-8")
    assert "(no label)" in page and "80.0%" in page and "100 votes" in page
