"""Restore and revert defects: shared loader scripts kept for live embeds, verified reads of stored versions,
clear errors on damaged storage, bulk restore, the health check's reason on the card, the article's line
endings, and audited failures. Real components throughout (fixture origin, file storage, SQLite catalog)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from archiver.article.versions import RestoreError, versions
from archiver.compliance import audit
from archiver.config.settings import Settings
from archiver.health import restore as restore_module
from archiver.health.originals import article_health
from archiver.health.restore import restore, revert
from archiver.records.plan import EmbedItem
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_result
from archiver.storage.layout import version_key, version_meta_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from tests.test_health import T0

BASE = "https://archive.example/media"
BOB = TweetFixture(id="1945048830047662101", handle="bob", name="Bob", text="Bob says hello")
CAROL = TweetFixture(id="1945048830047662102", handle="carol", name="Carol", text="Carol says hi")
SCRIPT = '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>'


def quote(t: TweetFixture) -> str:
    return (f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">{t.text}</p>&mdash; {t.name} (@{t.handle}) '
            f'<a href="https://twitter.com/{t.handle}/status/{t.id}">July 15, 2025</a></blockquote>')


def shared_page(eol: str = "\n") -> str:
    """Bob's tweet, ONE shared widgets.js, then Carol's tweet."""
    return eol.join(["<html><head><meta charset=\"utf-8\"><title>Story</title></head><body>", "<p>Intro</p>",
                     quote(BOB), SCRIPT, "<p>Between</p>", quote(CAROL), "<p>Outro</p></body></html>", ""])


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[BOB, CAROL]) as o:
        yield o


def make_rt(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, **overrides: Any) -> Runtime:
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE, "fetch_retries": 0,
                               "health_dead_after_failures": 1, "health_dead_after_hours": 0.0,
                               "capture_fresh_for": 0, **overrides})
    return Runtime.from_settings(settings)


def setup(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, *, aid: str = "story", eol: str = "\n",
          **overrides: Any) -> Runtime:
    rt = make_rt(tmp_settings, origin, **overrides)
    archive(rt, shared_page(eol).encode(), article_id=aid, url=f"https://news.example/{aid}")
    return rt


def item_of(rt: Runtime, aid: str, t: TweetFixture) -> str:
    plan = load_plan(rt, aid)
    item = next(i for i in plan.items if isinstance(i, EmbedItem) and i.post_id == t.id)
    assert load_result(rt, plan, item.item_id).status == "archived"
    return item.item_id


def delete(rt: Runtime, key: str) -> None:
    """Lose a stored object (file storage: its file)."""
    os.remove(rt.store.locate(key))


def current(rt: Runtime, aid: str = "story") -> str:
    return rt.store.get(versions(rt, aid)[-1].key).decode()


# --- 1. a shared loader script stays while an embed of its platform stays live ------------------------
def test_restoring_one_embed_keeps_the_loader_a_live_embed_needs(tmp_settings: Callable[..., Settings],
                                                                 origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin)
    v1 = current(rt)
    assert v1.count(SCRIPT) == 1
    rep = restore(rt, "story", item_ids=[item_of(rt, "story", BOB)])
    assert rep["new_version"] and [i["status"] for i in rep["items"]] == ["restored"]
    v2 = current(rt)
    assert v2.count(SCRIPT) == 1 and 'class="archiver-card"' in v2  # Carol's live tweet keeps its loader
    # nothing but Bob's blockquote changed: the script is kept byte for byte, in place, after the card
    bob = v1.index('<blockquote class="twitter-tweet"')
    assert v2[:bob] == v1[:bob] and v2[v2.index(SCRIPT):] == v1[v1.index(SCRIPT):]
    assert restore(rt, "story", item_ids=[item_of(rt, "story", BOB)])["new_version"] is False  # idempotent
    # once Carol is restored too, no live tweet needs the loader: restoring both removes it
    rep = restore(rt, "story", item_ids=[item_of(rt, "story", BOB), item_of(rt, "story", CAROL)])
    assert rep["new_version"] and SCRIPT not in current(rt) and current(rt).count('class="archiver-card"') == 2
    assert revert(rt, "story", 1)["new_version"] and current(rt) == v1  # reversible
    rt.close()


def test_loader_scripts_of_every_platform() -> None:
    cases = {
        '<script async src="https://platform.twitter.com/widgets.js">': "twitter",
        '<script async src="//www.instagram.com/embed.js">': "instagram",
        '<script async src="https://www.tiktok.com/embed.js">': "tiktok",
        '<script async defer crossorigin="anonymous" src="https://connect.facebook.net/en_US/sdk.js#v=1">': "facebook",
        '<script async src="https://embed.bsky.app/static/embed.js" charset="utf-8">': "bluesky",
        '<script async src="https://www.threads.net/embed.js">': "threads",
        '<script async src="https://embed.reddit.com/widgets.js" charset="UTF-8">': "reddit",
        "<script src='https://telegram.org/js/telegram-widget.js?22'>": "telegram",
    }
    loader_family = restore_module.loader_family
    for tag, family in cases.items():
        assert loader_family(tag, None) == family, tag
    # a Telegram widget naming its post is that post's embed, not a shared loader
    assert loader_family('<script async src="https://telegram.org/js/telegram-widget.js?22" '
                         'data-telegram-post="durov/43">', "telegram") is None
    assert loader_family('<script src="https://cdn.example/embeds.js">', "mastodon") == "mastodon"
    assert loader_family('<script src="https://cdn.example/app.js">', "twitter") is None


# --- 2/3. verified reads and clear errors on damaged storage ----------------------------------------
def test_restore_refuses_a_damaged_current_version(tmp_settings: Callable[..., Settings],
                                                   origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin)
    bob = item_of(rt, "story", BOB)
    rt.store.put(version_key("story", 1), b"damaged!", content_type="text/html")
    with pytest.raises(RestoreError, match=r"do not match their recorded sha256") as err:
        restore(rt, "story", item_ids=[bob])
    assert type(err.value).__name__ == "DamagedStoredVersion"  # a RestoreError (the API: 409), exit 1 in the CLI
    assert len(versions(rt, "story")) == 1  # nothing written on the damage
    delete(rt, version_key("story", 1))
    with pytest.raises(RestoreError, match=r"articles/story/v1\S* are missing"):
        restore(rt, "story", item_ids=[bob])
    failed = audit.list_events(rt, action="restore_failed")
    assert len(failed) == 2 and "sha256" in failed[-1]["detail"]["error"]  # newest first
    rt.close()


def test_revert_errors_name_the_damaged_object(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin)
    restore(rt, "story", item_ids=[item_of(rt, "story", BOB)])
    restore(rt, "story", item_ids=[item_of(rt, "story", CAROL)])
    delete(rt, version_key("story", 2))
    with pytest.raises(RestoreError, match=r"its bytes articles/story/v2\S* are missing"):
        revert(rt, "story", 2)
    delete(rt, version_meta_key("story", 1))
    with pytest.raises(RestoreError, match=r"version 1 .* record articles/story/v1.json is missing or unreadable"):
        revert(rt, "story", 1)
    failed = audit.list_events(rt, action="revert_failed")
    assert [e["detail"]["reverted_to"] for e in failed] == [1, 2] and all(e["detail"]["error"] for e in failed)
    rt.close()


def test_a_missing_manifest_is_a_clear_item_error(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin)
    bob = item_of(rt, "story", BOB)
    res = load_result(rt, load_plan(rt, "story"), bob)
    delete(rt, res.manifest_key)
    (item,) = restore(rt, "story", item_ids=[bob])["items"]
    assert item["status"] == "error" and "manifest" in item["error"] and "missing" in item["error"]
    assert item["error"] != repr(res.manifest_key)
    rt.close()


def test_cli_exit_codes(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from archiver.cli import main as cli

    rt = setup(tmp_settings, origin)
    restore(rt, "story", item_ids=[item_of(rt, "story", BOB)])
    for name in ("home", "public_base_url", "fetch_allow", "twitter_oembed_url", "twitter_syndication_url",
                 "twitter_shortlink_url", "fetch_retries"):
        monkeypatch.setenv(f"ARCHIVER_{name.upper()}", str(getattr(rt.settings, name)))
    rt.store.put(version_key("story", 1), b"changed", content_type="text/html")
    capsys.readouterr()
    assert cli.main(["revert", "story", "--to", "1"]) == 1  # damaged stored data, not the user's error
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sha256" in err and "internal error" not in err
    delete(rt, version_key("story", 2))
    assert cli.main(["restore", "story"]) == 1
    err = capsys.readouterr().err
    assert "articles/story/v2" in err and "missing" in err and "ObjectNotFound" not in err
    rt.close()


# --- 4. many articles at once -----------------------------------------------------------------------
def test_bulk_restore_by_ids_by_post_and_all_dead(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from archiver.cli import health as cli_health

    rt = setup(tmp_settings, origin, aid="art1")
    for aid in ("art2", "art3"):
        archive(rt, shared_page().encode(), article_id=aid, url=f"https://news.example/{aid}")
    restore_many = restore_module.restore_many
    out = restore_many(rt, [], post=("twitter", BOB.id))
    assert [r["article_id"] for r in out["articles"]] == ["art1", "art2", "art3"]
    assert out["summary"]["new_versions"] == 3 and out["summary"]["items_restored"] == 3
    assert all(SCRIPT in current(rt, a) for a in ("art1", "art2", "art3"))  # Carol stays live everywhere
    again = restore_many(rt, ["art2", "art3", "nope"], post=("twitter", BOB.id))
    assert again["summary"] == {"articles": 3, "new_versions": 0, "unchanged": 2, "failed": 1,
                                "items_restored": 0, "items_failed": 0, "items_taken_down": 0}
    # --all-dead across articles: Carol dies
    origin.add_tweet(replace(CAROL, state="deleted"))
    for aid in ("art1", "art2"):
        article_health(rt, aid, check_now=True, now=T0)
    out = restore_many(rt, [], all_dead=True)
    # Link health is the URL's: art3, never checked itself, shows Carol's tweet dead as well.
    assert [r["article_id"] for r in out["articles"]] == ["art1", "art2", "art3"]
    assert all(SCRIPT not in current(rt, a) for a in ("art1", "art2", "art3"))
    assert restore_many(rt, [], all_dead=True)["articles"] == []  # nothing left to restore
    # the CLI's command: several ids, a summary line; an item that errored is in its status and the
    # summary (exit 0, the common rule), an article that could not be restored at all exits 2
    for name in ("home", "public_base_url", "fetch_allow", "twitter_oembed_url", "twitter_syndication_url",
                 "twitter_shortlink_url", "fetch_retries"):
        monkeypatch.setenv(f"ARCHIVER_{name.upper()}", str(getattr(rt.settings, name)))
    res = load_result(rt, load_plan(rt, "art3"), item_of(rt, "art3", CAROL))
    delete(rt, res.manifest_key)  # Carol cannot be restored in art2 or art3 now: every capture of her post
    for aid in ("art1", "art2"):  # is damaged (with one intact, restore would take it: archived_copy)
        delete(rt, load_result(rt, load_plan(rt, aid), item_of(rt, aid, CAROL)).manifest_key)
    args = argparse.Namespace(article_ids=["art2", "art3"], item=None, all_dead=False,
                              post=f"twitter/{CAROL.id}", json=False)
    capsys.readouterr()
    assert cli_health.cmd_restore(args, rt.settings) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[-1].startswith("2 articles: ") and "2 failed, 0 taken down" in text
    args = argparse.Namespace(article_ids=["art2", "nope"], item=None, all_dead=False,
                              post=f"twitter/{CAROL.id}", json=False)
    assert cli_health.cmd_restore(args, rt.settings) == 2
    assert "! nope: " in capsys.readouterr().out
    args = argparse.Namespace(article_ids=[], item=None, all_dead=False, post=None, json=True)
    with pytest.raises(Exception, match="name the articles"):
        cli_health.cmd_restore(args, rt.settings)
    rt.close()


# --- 5. the health check's own reason on the card ---------------------------------------------------
def test_the_card_says_why_the_health_check_found_the_post_gone(tmp_settings: Callable[..., Settings],
                                                                origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin)
    origin.add_tweet(replace(BOB, state="protected"))
    article_health(rt, "story", check_now=True, now=T0)
    rep = restore(rt, "story")
    assert [i["status"] for i in rep["items"]] == ["restored"]
    text = current(rt)
    assert "protected" in text.split('class="archiver-card-note"', 1)[1].split("</p>", 1)[0]
    assert "the link to the post stopped working" not in text
    rt.close()


# --- 6. the article's line endings ------------------------------------------------------------------
def test_a_card_in_a_crlf_article_uses_crlf(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin, eol="\r\n")
    v1 = current(rt)
    assert restore(rt, "story", item_ids=[item_of(rt, "story", BOB)])["new_version"]
    v2 = current(rt)
    assert v2.replace("\r\n", "").count("\n") == 0 and v2.replace("\r\n", "").count("\r") == 0
    assert v2.count("\r\n") > v1.count("\r\n")  # the card's own line breaks are the article's
    assert restore(rt, "story", item_ids=[item_of(rt, "story", BOB)])["new_version"] is False  # idempotent
    line_ending = restore_module.line_ending
    assert line_ending("a\r\nb", 3, 4) == "\r\n" and line_ending("a\nb", 2, 3) == "\n"
    assert line_ending("ab\r\n", 0, 1) == "\r\n" and line_ending("ab", 0, 1) == "\n"
    rt.close()


# --- 4b. many articles at once over HTTP: the API and /health's buttons --------------------------------
def test_bulk_restore_over_the_api_and_from_the_health_page(tmp_settings: Callable[..., Settings],
                                                            origin: FixtureOrigin) -> None:
    from fastapi.testclient import TestClient

    from archiver.auth import create_token
    from archiver.web.app import create_app
    from archiver.web.routes import health as health_routes

    rt = setup(tmp_settings, origin, aid="art1")
    for aid in ("art2", "art3"):
        archive(rt, shared_page().encode(), article_id=aid, url=f"https://news.example/{aid}")
    origin.add_tweet(replace(BOB, state="deleted"))
    for aid in ("art1", "art2", "art3"):
        article_health(rt, aid, check_now=True, now=T0)
    editor = create_token(rt.catalog, "editor")
    compliance = create_token(rt.catalog, "compliance")
    client = TestClient(create_app(rt.settings, runtime=rt))
    auth = {"Authorization": f"Bearer {editor}"}
    assert client.post("/v1/restore", json={"post": f"twitter/{BOB.id}"},
                       headers={"Authorization": f"Bearer {compliance}"}).status_code == 403
    assert client.post("/v1/restore", json={}, headers=auth).status_code == 400  # names nothing
    assert client.post("/v1/restore", json={"post": "not a post"}, headers=auth).status_code == 400
    assert client.post("/v1/restore", json={"articles": ["art1"]}, headers=auth).status_code == 422  # typo
    # The API: the post in the articles named.
    r = client.post("/v1/restore", json={"article_ids": ["art1"], "post": f"twitter/{BOB.id}"}, headers=auth)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["summary"]["new_versions"] == 1 and [a["article_id"] for a in answer["articles"]] == ["art1"]
    assert "path" not in answer["articles"][0]["version"]  # no server path, as the one-article answer
    assert SCRIPT in current(rt, "art1") and current(rt, "art2") == rt.store.get(versions(rt, "art2")[0].key).decode()
    # The page: "Restore all" restores the two left, each in its own version, and says so.
    assert client.post("/login", data={"token": editor, "next": "/"}, follow_redirects=False).status_code == 303
    page = client.get("/health").text
    assert 'action="/health/restore"' in page and "Restore all 2" in page
    assert f'name="post" value="twitter/{BOB.id}"' in page  # "Restore everywhere" per dead post
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/health/restore", data={"all_dead": "true"}, follow_redirects=False).status_code == 403
    r = client.post("/health/restore", data={"csrf": csrf, "all_dead": "true"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/health?flash=")
    shown = client.get(r.headers["location"]).text
    assert "Restored in 2 articles: 2 new versions, 2 items restored" in shown
    assert all(versions(rt, a)[-1].reason == "restore" for a in ("art1", "art2", "art3"))
    assert all(SCRIPT in current(rt, a) for a in ("art1", "art2", "art3"))  # Carol stays live everywhere
    # Over the cap: refused, naming the command, nothing written.
    before = [len(versions(rt, a)) for a in ("art1", "art2", "art3")]
    old = health_routes.MAX_BULK_RESTORE
    health_routes.MAX_BULK_RESTORE = 1
    try:
        r = client.post("/v1/restore", json={"post": f"twitter/{BOB.id}"}, headers=auth)
    finally:
        health_routes.MAX_BULK_RESTORE = old
    assert r.status_code == 400 and f"archiver restore --post twitter/{BOB.id}" in r.json()["detail"]
    assert [len(versions(rt, a)) for a in ("art1", "art2", "art3")] == before
    rt.close()


def test_bulk_restore_over_the_api_answers_each_kind_of_bad_request_alike(tmp_settings: Callable[..., Settings],
                                                                         origin: FixtureOrigin) -> None:
    from fastapi.testclient import TestClient

    from archiver.auth import create_token
    from archiver.web.app import create_app
    from archiver.web.routes import health as health_routes

    rt = setup(tmp_settings, origin, aid="art1")
    origin.add_tweet(replace(BOB, state="deleted"))
    article_health(rt, "art1", check_now=True, now=T0)
    client = TestClient(create_app(rt.settings, runtime=rt))
    auth = {"Authorization": f"Bearer {create_token(rt.catalog, 'editor')}"}
    # An id that names no article is that article's error; the valid one is restored all the same.
    r = client.post("/v1/restore", json={"article_ids": ["art1", "../x", "nope"], "post": f"twitter/{BOB.id}"},
                    headers=auth)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert [a["article_id"] for a in answer["articles"]] == ["art1", "../x", "nope"]
    assert answer["summary"]["new_versions"] == 1 and answer["summary"]["failed"] == 2
    # Unknown provider, a post with all_dead: refused alike (400), nothing written.
    for body in ({"post": "foo/123"}, {"post": f"twitter/{BOB.id}", "all_dead": True}):
        assert client.post("/v1/restore", json=body, headers=auth).status_code == 400, body
    # The cap counts distinct articles and answers as documented (400 naming the command), not 422.
    assert client.post("/v1/restore", json={"article_ids": ["art1"] * 500}, headers=auth).status_code == 200
    many = [f"a{i}" for i in range(health_routes.MAX_BULK_RESTORE + 1)]
    r = client.post("/v1/restore", json={"article_ids": many}, headers=auth)
    assert r.status_code == 400 and "archiver restore ID" in r.json()["detail"]
    assert len(versions(rt, "art1")) == 2
    rt.close()


# --- 7. a post gone before this article was archived is restored from another article's capture ----
def test_a_post_already_gone_is_restored_from_another_articles_capture(tmp_settings: Callable[..., Settings],
                                                                        origin: FixtureOrigin) -> None:
    from archiver.health.originals import needs_restore, uncopied_items

    rt = setup(tmp_settings, origin, aid="first")  # Bob's tweet captured while it was up
    first = load_result(rt, load_plan(rt, "first"), item_of(rt, "first", BOB))
    origin.add_tweet(replace(BOB, state="deleted"))
    page = f"<html><body><p>Later</p>{quote(BOB)}{SCRIPT}</body></html>"
    archive(rt, page.encode(), article_id="later", url="https://news.example/later")
    plan = load_plan(rt, "later")
    (item,) = [i for i in plan.items if isinstance(i, EmbedItem)]
    assert load_result(rt, plan, item.item_id).status == "deleted"  # nothing of the post kept this time
    assert uncopied_items(rt, "later") == set()  # ... but the archive holds it
    article_health(rt, "later", check_now=True, now=T0)
    assert needs_restore(rt, ["later"]) == {"later": 1}
    rep = restore(rt, "later")
    assert [i["status"] for i in rep["items"]] == ["restored"] and rep["new_version"]
    text = current(rt, "later")
    # The frame shows the first article's capture, and its version is that capture's page.
    assert 'class="archiver-card"' in text and first.capture_id in text and SCRIPT not in text
    assert restore(rt, "later")["new_version"] is False
    rt.close()


def test_a_card_from_another_articles_capture_survives_a_takedown_of_the_post_it_quotes(
        tmp_settings: Callable[..., Settings]) -> None:
    """The takedown rule re-renders a quoting card from the capture restore showed, which may be another
    article's: only the quoted words become the notice, the quoting post's stay."""
    from archiver.health.restore import takedown_post

    eve = TweetFixture(id="1945048830047662200", handle="eve", name="Eve", text="Eve secretword zebra")
    bob = TweetFixture(id="1945048830047662101", handle="bob", name="Bob", text="Bob comments here", quoted_id=eve.id)
    with FixtureOrigin(tweets=[bob, eve]) as o:
        rt = make_rt(tmp_settings, o)
        page = f"<html><body><p>X</p>{quote(bob)}{SCRIPT}</body></html>"
        archive(rt, page.encode(), article_id="first", url="https://news.example/first")
        o.add_tweet(replace(bob, state="deleted"))
        archive(rt, page.replace("X", "Later").encode(), article_id="later", url="https://news.example/later")
        for aid in ("first", "later"):
            article_health(rt, aid, check_now=True, now=T0)
            assert restore(rt, aid)["new_version"]
            assert "comments" in current(rt, aid) and "secretword" in current(rt, aid)
        takedown_post(rt, None, "twitter", eve.id, on=True, reason="court order")
        for aid in ("first", "later"):
            text = current(rt, aid)
            assert "comments" in text and "secretword" not in text, aid
        # re-rendered, the later article's card still says whose copy it shows
        assert "This copy was archived for another article." in current(rt, "later")
        assert "This copy was archived for another article." not in current(rt, "first")
        rt.close()


@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_restore_passes_over_a_damaged_newer_capture_for_an_older_intact_one(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, damage: str) -> None:
    from archiver.health.originals import uncopied_items

    rt = setup(tmp_settings, origin, aid="first")
    first = load_result(rt, load_plan(rt, "first"), item_of(rt, "first", BOB))
    archive(rt, shared_page().encode(), article_id="second", url="https://news.example/second")
    second = load_result(rt, load_plan(rt, "second"), item_of(rt, "second", BOB))
    assert second.capture_id != first.capture_id
    origin.add_tweet(replace(BOB, state="deleted"))
    archive(rt, f"<html><body><p>Later</p>{quote(BOB)}{SCRIPT}</body></html>".encode(), article_id="later",
            url="https://news.example/later")
    if damage == "missing":
        delete(rt, second.manifest_key)
    else:
        rt.store.put(second.manifest_key, b"{broken", content_type="application/json")
    assert uncopied_items(rt, "later") == set()
    article_health(rt, "later", check_now=True, now=T0)
    rep = restore(rt, "later")
    assert [i["status"] for i in rep["items"]] == ["restored"] and first.capture_id in current(rt, "later")
    rt.close()


def test_a_card_from_another_article_shows_the_words_this_article_showed_and_says_whose_copy_it_is(
        tmp_settings: Callable[..., Settings]) -> None:
    """The post edited under its id: the capture saying what this article showed comes first, and a card
    from another article's capture never claims to be what this article showed."""
    bob = TweetFixture(id="1945048830047662101", handle="bob", name="Bob", text="Original words")
    page = f"<html><body>{quote(bob)}</body></html>".encode()
    with FixtureOrigin(tweets=[bob]) as o:
        rt = make_rt(tmp_settings, o)
        archive(rt, page, article_id="early", url="https://news.example/early")  # "Original words"
        o.add_tweet(replace(bob, text="Edited words"))
        archive(rt, page, article_id="other", url="https://news.example/other")  # captures the edit, newer
        o.add_tweet(replace(bob, state="deleted"))
        archive(rt, page, article_id="story", url="https://news.example/story")  # its own capture: deleted
        article_health(rt, "story", check_now=True, now=T0)
        assert [i["status"] for i in restore(rt, "story")["items"]] == ["restored"]
        text = current(rt, "story")
        card = text[text.index('class="archiver-card"'):]
        assert "Original words" in card and "Edited words" not in card
        assert "This copy was archived for another article." in card and "This is what the article showed" not in card
        rt.close()


def test_an_item_whose_own_capture_is_damaged_is_restored_from_another_and_counted_alike(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    from archiver.health.originals import needs_restore

    rt = setup(tmp_settings, origin, aid="a1")
    archive(rt, shared_page().encode(), article_id="a2", url="https://news.example/a2")
    first = load_result(rt, load_plan(rt, "a1"), item_of(rt, "a1", BOB))
    delete(rt, load_result(rt, load_plan(rt, "a2"), item_of(rt, "a2", BOB)).manifest_key)
    origin.add_tweet(replace(BOB, state="deleted"))
    for aid in ("a1", "a2"):
        article_health(rt, aid, check_now=True, now=T0)
    assert needs_restore(rt) == {"a1": 1, "a2": 1}
    out = restore_module.restore_many(rt, [], all_dead=True)
    assert out["summary"]["items_restored"] == 2 and out["summary"]["failed"] == 0
    assert first.capture_id in current(rt, "a2") and needs_restore(rt) == {}
    rt.close()
