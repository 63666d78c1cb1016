"""Whether what a capture files as a post is that post: an answer about another post, a date its id
contradicts, a publisher's text that is not the platform's, a cut text, a failed best video variant, an
edit flag without a chain, a post only oEmbed's cache still has, t.co links that start alike, and a
screen_name that is not a handle.

Every capture goes through the fixture origin (a real loopback HTTP server), the real fetcher and
``store_capture`` into a LocalStore; each test reads the stored manifest (validated by the model).
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.capture.fetch import Fetcher
from archiver.capture.manifest import validate_manifest
from archiver.capture.record import CaptureResult, store_capture
from archiver.discover.model import Embed
from archiver.providers.base import CaptureContext, occurrences_in
from archiver.providers.registry import get_provider
from archiver.providers.twitter.api import edit_info, expand_links
from archiver.providers.twitter.ids import snowflake_time
from archiver.providers.twitter.media import plan_media
from archiver.providers.twitter.texts import MAX_TEXT_CHARS, choose_text
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_mp4

_IDS = itertools.count(1850000000000009001)


def _id() -> str:
    return str(next(_IDS))


@pytest.fixture(scope="module")
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(timeout_sleep=1.0) as o:
        yield o


@pytest.fixture
def env(origin: FixtureOrigin, tmp_settings: Callable[..., Any], tmp_path: Path) -> dict[str, Any]:
    def settings(**overrides: Any) -> Any:
        return tmp_settings(**{**origin.settings_overrides(), **overrides}, fetch_retries=1,
                            fetch_max_retry_after=2.0, media_derivatives=False)

    return {"settings": settings(), "make_settings": settings,
            "store": LocalStore(tmp_path / "objects", "http://127.0.0.1:1/media")}


def _add(origin: FixtureOrigin, **fields: Any) -> TweetFixture:
    fields.setdefault("id", _id())
    fields.setdefault("handle", "citydesk")
    fields.setdefault("name", "City Desk")
    fields.setdefault("text", "The council passed the budget.")
    return origin.add_tweet(TweetFixture(**fields))


def _capture(env: dict[str, Any], t: TweetFixture, markup_text: str | None = None,
             settings: Any = None) -> tuple[CaptureResult, dict[str, Any]]:
    s = settings or env["settings"]
    ctx = CaptureContext(settings=s, fetcher=Fetcher(s), article_id="art-int",
                         article_url="https://news.example/council")
    embed = Embed("twitter", t.id, f"https://twitter.com/{t.handle}/status/{t.id}", 0, 0, handle=t.handle,
                  text=markup_text if markup_text is not None else t.text, form="blockquote")
    res = store_capture(get_provider("twitter").capture(occurrences_in("", [embed]), ctx), ctx, env["store"])
    assert res.manifest_key
    m: dict[str, Any] = json.loads(env["store"].get(res.manifest_key))
    validate_manifest(m)
    return res, m


def _card(env: dict[str, Any], m: dict[str, Any]) -> str:
    return html.unescape(env["store"].get(m["cards"]["html"]).decode("utf-8"))


def _source(m: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in m["sources"] if s["name"] == name)


# --- 1. an answer about another post ----------------------------------------------------------------------
OTHER = "1757429972446608301"


def test_a_syndication_answer_about_another_post_is_not_this_post(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, extra={"id_str": OTHER, "text": "Someone else's post",
                            "user": {"screen_name": "Other", "name": "Other Account"}})
    res, m = _capture(env, t)
    assert res.status not in ("archived", "partial") and m["status"] == "unavailable"
    assert m["post_id"] == t.id and m["author"]["handle"] == "citydesk" and m["author"]["name"] != "Other Account"
    assert "Someone else's post" not in (m["text"] or "")
    assert all(x["source"] != "syndication" for x in m.get("texts") or [])
    synd = _source(m, "syndication")
    assert synd["outcome"] == "bad_response" and OTHER in synd["error"] and OTHER in m["error"]
    assert synd["data"]["other_post_id"] == OTHER  # what it said is kept where it was read


def test_an_oembed_answer_about_another_post_is_not_this_post(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, text="Road closures tonight on Route 9.")
    other = TweetFixture(id=OTHER, handle="Other", name="Other Account", text="Someone else's post")
    origin.add_image("/oembed-of-another-post", json.dumps(origin.oembed_json(other)).encode(), "application/json")
    _, m = _capture(env, t, settings=env["make_settings"](twitter_oembed_url=origin.url("/oembed-of-another-post")))
    assert m["status"] == "archived" and m["text"] == t.text and m["text_source"] == "syndication"
    assert m["author"]["handle"] == "citydesk" and m["author"]["name"] == "City Desk"
    assert "Someone else's post" not in json.dumps(m.get("texts"))
    oembed = _source(m, "oembed")
    assert oembed["outcome"] == "bad_response" and OTHER in oembed["error"]


def test_a_quoted_copy_naming_another_post_is_not_used(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    quoted = _add(origin, handle="HarbourFerries", name="Harbour Ferries", text="Ferry times change Monday.")
    # The quoted object names no valid id: quoted_status_id_str names the post; the object is not its copy.
    quoting = _add(origin, quoted_id=quoted.id, text="Note the new Sunday times.",
                   extra={"quoted_tweet": {"id_str": "x1", "text": "Someone else's post",
                                           "user": {"screen_name": "Other"}}})
    origin.set_behaviour(f"/tweet-result?id={quoted.id}", "404", sticky=True)
    _, m = _capture(env, quoting)
    q = json.loads(env["store"].get(m["quoted"]["manifest_key"]))
    assert q["post_id"] == quoted.id and q["status"] not in ("archived", "partial")
    assert "Someone else's post" not in (q["text"] or "") and q["author"]["handle"] == "HarbourFerries"
    assert _source(q, "quoting_post")["outcome"] == "bad_response"


def test_a_date_the_id_contradicts_is_not_shown_as_the_post_date(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, extra={"created_at": "2018-10-10T20:19:24.000Z"})
    _, m = _capture(env, t)
    snow = snowflake_time(t.id)
    assert snow is not None
    assert m["created_at_consistent"] is False
    assert m["created_at"] == m["created_at_snowflake"] and m["created_at"].startswith(f"{snow:%Y-%m-%d}")
    assert _source(m, "syndication")["data"]["created_at"] == "2018-10-10T20:19:24.000Z"  # kept as stated
    # (the capture id names the time of the capture, 20:18 UTC among them: it is not a date shown)
    assert "2018" not in _card(env, m).replace(m["capture_id"], "")


def test_a_date_that_agrees_with_the_id_is_the_post_date(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin)
    _, m = _capture(env, t)
    assert m["created_at_consistent"] is True and m["created_at"] == t.created.isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


# --- 2, 3. texts --------------------------------------------------------------------------------------------
PREVIEW = ("Our coastal survey results are in, and the findings on dune erosion are more serious than last "
           "year's projections suggested. Over the next")
NOTE = {"note_tweet": {"id": "Tm90ZVR3ZWV0"}, "display_text_range": [0, 140]}


def test_publisher_text_that_does_not_start_with_the_preview_never_completes_it(
        origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, handle="coast", text=PREVIEW, extra=NOTE)
    _, m = _capture(env, t, markup_text="The mayor has resigned effective immediately, says the coastal office.")
    assert (m["text"], m["text_complete"]) == (PREVIEW, False)
    assert m["text_source"] == "syndication"
    assert {x["source"]: x["complete"] for x in m["texts"]}["publisher_markup"] is False
    assert "Preview" in _card(env, m)


def test_publisher_text_that_extends_the_preview_completes_it(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    full = PREVIEW + " decade we expect the northern dunes to retreat by forty metres."
    t = _add(origin, handle="coast", text=PREVIEW, extra=NOTE)
    _, m = _capture(env, t, markup_text=full)
    assert (m["text"], m["text_source"], m["text_complete"]) == (full, "publisher_markup", True)


def test_choose_text_markup_rule_on_its_own() -> None:
    other = "Something else entirely, much longer than the platform's preview of the post, by far."
    texts, chosen, complete = choose_text([("publisher_markup", other, None), ("syndication", "Short start", False)])
    assert chosen is not None and (chosen.source, complete) == ("syndication", False)
    assert [t.complete for t in texts] == [False, False]
    # Without any platform text, the markup is all there is, and whole.
    _, chosen, complete = choose_text([("publisher_markup", other, None)])
    assert chosen is not None and (chosen.source, complete) == ("publisher_markup", True)


def test_a_cut_text_is_never_complete() -> None:
    huge = ("B" * 99 + " ") * 1500 + "THE END"
    texts, chosen, complete = choose_text([("publisher_markup", huge, None), ("oembed", huge, None),
                                           ("syndication", huge, True)])
    assert chosen is not None and len(chosen.text) == MAX_TEXT_CHARS and complete is False
    assert all(t.complete is False for t in texts)
    # A text of exactly the limit is not cut.
    _, _, complete = choose_text([("syndication", "C" * MAX_TEXT_CHARS, True)])
    assert complete is True


def test_a_cut_text_is_a_preview_in_the_manifest(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, text=("D" * 99 + " ") * 1001)
    _, m = _capture(env, t, markup_text="")
    assert len(m["text"]) == MAX_TEXT_CHARS and m["text_complete"] is False


# --- 4. video variants ---------------------------------------------------------------------------------------
def test_a_video_whose_best_variant_fails_falls_back_by_bitrate(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    tid = _id()
    t = _add(origin, id=tid, text="Storm surge", video={"name": "Fb4llB4ck", "width": 1280, "height": 720,
                                                        "duration_ms": 2000})
    best, mid = f"/amplify_video/{tid}/vid/1280x720/Fb4llB4ck.mp4", f"/amplify_video/{tid}/vid/640x360/Fb4llB4ck.mp4"
    origin.set_behaviour(best, "404", sticky=True)
    _, m = _capture(env, t)
    assert m["status"] == "archived", m.get("error")
    (video,) = m["media"]
    assert video["status"] == "archived" and video["degraded"] is True and video["variant"] == "832000bps"
    assert video["bitrate"] == 832000  # the stored variant's, not the best one's
    assert video["sha256"] and origin.media_bytes(mid) == make_mp4(mid, 2000)
    assert origin.count(best) >= 1 and origin.count(mid) == 1
    assert origin.count(f"/amplify_video/{tid}/vid/320x180/Fb4llB4ck.mp4") == 0  # stops at the first served


def test_video_variants_are_every_mp4_by_descending_bitrate() -> None:
    variants = [{"bitrate": 832000, "content_type": "video/mp4", "url": "https://video.twimg.com/640.mp4"},
                {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/pl.m3u8"},
                {"content_type": "video/mp4", "url": "https://video.twimg.com/unstated.mp4"},
                {"bitrate": 2176000, "content_type": "video/mp4", "url": "https://video.twimg.com/1280.mp4"},
                {"bitrate": 256000, "content_type": "video/mp4", "url": "https://video.twimg.com/320.mp4"},
                {"bitrate": 256000, "content_type": "video/mp4", "url": "https://video.twimg.com/320.mp4"}]
    (plan,), _ = plan_media({"mediaDetails": [{"type": "video", "video_info": {"variants": variants}}]})
    assert [u.rsplit("/", 1)[1] for _, u in plan["variants"]] == ["1280.mp4", "640.mp4", "320.mp4", "unstated.mp4"]
    assert plan["variants"][0][1] == plan["url"] and plan["bitrate"] == 2176000
    video = {"video": {"variants": [{"type": "video/mp4", "src": "https://video.twimg.com/vid/320x180/v.mp4"},
                                    {"type": "video/mp4", "src": "https://video.twimg.com/vid/1280x720/v.mp4"}]}}
    (plan,), _ = plan_media(video)
    assert [label for label, _ in plan["variants"]] == ["1280x720", "320x180"]


# --- 5. an edit flag without a chain -------------------------------------------------------------------------
def test_a_stale_version_without_a_chain_is_stale(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    first = _id()
    t = _add(origin, extra={"edit_control": {"initial_tweet_id": first, "edit_tweet_ids": None,
                                             "editable_until_msecs": "1707842282000"},
                            "isStaleEdit": True, "isEdited": True})
    _, m = _capture(env, t)
    e = m["edit"]
    assert (e["is_edited"], e["is_latest"], e["is_stale"], e["initial_id"], e["latest_id"]) == (
        True, False, True, first, None)
    assert "earlier version" in _card(env, m) and "latest_edit" not in m


@pytest.mark.parametrize(("stale", "edited"), [(True, None), (False, True), (None, None)])
def test_edit_flags_without_a_chain(stale: bool | None, edited: bool | None) -> None:
    tweet: dict[str, Any] = {"edit_control": {"initial_tweet_id": "5"}}
    if stale is not None:
        tweet["isStaleEdit"] = stale
    if edited is not None:
        tweet["isEdited"] = edited
    e = edit_info(tweet, "7")
    assert e is not None and e["is_stale"] is (stale is True) and e["is_latest"] is (stale is not True)
    assert e["is_edited"] is True  # a version after the first is an edit
    e = edit_info({"edit_control": {"editable_until_msecs": "1"}, "isStaleEdit": False}, "7")
    assert e is not None and (e["is_edited"], e["is_stale"], e["is_latest"]) == (False, False, True)


# --- 7. t.co links that start alike ---------------------------------------------------------------------------
PREFIX_TEXT = "a https://t.co/CCCDDDDDDD b https://t.co/CCC c"


def _prefix_tweet(indices: bool) -> dict[str, Any]:
    short, long_ = "https://t.co/CCC", "https://t.co/CCCDDDDDDD"
    urls = [{"url": short, "expanded_url": "https://short.example/"},
            {"url": long_, "expanded_url": "https://long.example/path"}]
    if indices:
        urls[0]["indices"] = [PREFIX_TEXT.index(short + " "), PREFIX_TEXT.index(short + " ") + len(short)]
        urls[1]["indices"] = [2, 2 + len(long_)]
    return {"entities": {"urls": urls}}


@pytest.mark.parametrize("indices", [True, False])
def test_links_that_start_alike_each_expand_to_their_own(indices: bool) -> None:
    assert expand_links(PREFIX_TEXT, _prefix_tweet(indices)) == (
        "a https://long.example/path b https://short.example/ c")


def test_indices_that_do_not_fit_fall_back_to_whole_links() -> None:
    tweet = _prefix_tweet(True)
    tweet["entities"]["urls"][0]["indices"] = [2, 2 + len("https://t.co/CCC")]  # inside the longer link
    assert expand_links(PREFIX_TEXT, tweet) == "a https://long.example/path b https://short.example/ c"
    # Code-point offsets: an emoji before the link counts one.
    text = "\U0001F30A see https://t.co/AbC"
    tweet = {"entities": {"urls": [{"url": "https://t.co/AbC", "expanded_url": "https://e.example/",
                                    "indices": [6, 22]}]}}
    assert expand_links(text, tweet) == "\U0001F30A see https://e.example/"


def test_a_captured_post_expands_links_that_start_alike(origin: FixtureOrigin, env: dict[str, Any]) -> None:
    t = _add(origin, text=PREFIX_TEXT, links={"https://t.co/CCC": "https://short.example/",
                                              "https://t.co/CCCDDDDDDD": "https://long.example/path"})
    _, m = _capture(env, t)
    assert m["text_expanded"] == "a https://long.example/path b https://short.example/ c"


# --- 8. a screen_name that is not a handle --------------------------------------------------------------------
@pytest.mark.parametrize("screen_name", ["../../etc", "a" * 16, "name with space", "<b>x</b>", ""])
def test_a_screen_name_that_is_not_a_handle_is_never_the_handle(origin: FixtureOrigin, env: dict[str, Any],
                                                                 screen_name: str) -> None:
    t = _add(origin, extra={"user": {"screen_name": screen_name},
                            "entities": {"user_mentions": [{"screen_name": screen_name, "id_str": "9"},
                                                           {"screen_name": "Valid_1", "id_str": "8"}]}})
    _, m = _capture(env, t)
    assert m["author"]["handle"] == "citydesk"
    assert m["url"] == f"https://twitter.com/citydesk/status/{t.id}"
    assert [x["handle"] for x in m["entities"]["mentions"]] == ["Valid_1"]
    if screen_name:
        assert _source(m, "syndication")["data"]["handle"] == screen_name  # kept raw where it was read
