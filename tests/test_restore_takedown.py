"""Takedown against restore: a post compliance has taken down is never written into an article by a
restore (its words, names and media), and a takedown of a post already restored inline replaces its
cards by the withheld notice as a new version; both under the article's restore lock, idempotent,
audited, told to the CMS. Also: what restore writes is XML 1.0-safe (an XHTML article stays well-formed
whatever a post's text holds), an AMP article always gets the inline card, and the API's restore
answer names no server path."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from archiver.article.splice import add_robust_links
from archiver.article.versions import versions
from archiver.auth import create_token
from archiver.capture.cards.content import Related, card_content
from archiver.capture.cards.inline import WITHHELD_NOTICE, InlineCard, render_inline_card, xml_safe
from archiver.cli import main as cli
from archiver.compliance import audit
from archiver.config.settings import Settings
from archiver.health.originals import article_health, needs_restore
from archiver.health.restore import TAKEN_DOWN, restore, revert, still_carried, takedown_post, withhold
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from archiver.web.app import create_app
from tests.apikit import ARTICLE_ID, TWEET, api, archive_sample, fixture_origin
from tests.test_health import T0
from tests.test_restore import Receiver
from tests.test_restore_inline import HINDI, embed_result, page, setup

# A post whose text and name carry characters XML 1.0 forbids (noncharacters, C0 controls).
NONCHAR = TweetFixture(id="1945048830047662009", handle="nonchar", name="Bad\ufffe Name\uffff\x01", lang="en",
                       text="before\ufffe middle\uffff\x0b after \ufdd0\U0001fffe\U0010ffff end")


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(tweets=[HINDI, NONCHAR]) as o:
        yield o


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def current(rt: Runtime, aid: str = "story") -> str:
    return rt.store.get(version_key(aid, versions(rt, aid)[-1].version)).decode()


def cards(text: str) -> list[BeautifulSoup]:
    return BeautifulSoup(text, "html5lib").find_all("blockquote", class_="archiver-card")


def test_a_taken_down_post_is_never_restored_and_its_restored_cards_are_withheld(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, receiver: Receiver) -> None:
    rt = setup(tmp_settings, origin, HINDI, cms_callback_url=receiver.url, cms_callback_secret="s")
    item_id, _ = embed_result(rt)
    words = "भारत और रूस"

    # Taken down before any restore: the restore skips it and says so; nothing is written.
    state = takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 7")
    assert state["changed"] and state["withheld"] == [] and state["still_carried"] == []  # the publisher's embed
    report = restore(rt, "story", item_ids=[item_id])
    assert report["new_version"] is False and len(versions(rt, "story")) == 1
    assert report["items"][0]["status"] == "taken_down" and report["items"][0]["error"] == TAKEN_DOWN
    assert cards(current(rt)) == []

    # Lifted, restored inline, then taken down again: the card becomes the withheld notice.
    assert takedown_post(rt, None, "twitter", HINDI.id, on=False)["restore_again"] == []
    assert restore(rt, "story", item_ids=[item_id])["items"][0]["status"] == "restored"
    assert words in current(rt)
    receiver.posts.clear()
    state = takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 8")
    assert state["withheld"] == ["story"]
    latest = versions(rt, "story")[-1]
    assert latest.reason == "takedown" and latest.version == 3
    text = current(rt)
    assert words not in text and HINDI.handle not in text and HINDI.name not in text and "/media/" not in text
    (card,) = cards(text)
    assert card.get_text(strip=True) == WITHHELD_NOTICE and card.find_all(["a", "img", "amp-img"]) == []
    ET.fromstring(str(card))
    assert [json.loads(body)["event"] for _, body in receiver.posts] == ["takedown"]
    assert any(e["action"] == "withhold" and e["target"] == "article:story" for e in audit.list_events(rt))

    # Idempotent: again, or the withhold step alone, writes nothing; a restore while down is skipped.
    assert takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 8")["changed"] is False
    assert withhold(rt, "twitter", HINDI.id) == []
    assert restore(rt, "story", item_ids=[item_id])["items"][0]["status"] == "taken_down"
    assert len(versions(rt, "story")) == 3

    # Lifting names the article an editor may restore in again; nothing is re-inserted by itself.
    lifted = takedown_post(rt, None, "twitter", HINDI.id, on=False)
    assert lifted["restore_again"] == ["story"] and words not in current(rt)
    assert restore(rt, "story", item_ids=[item_id])["new_version"] and words in current(rt)
    rt.close()


def test_concurrent_restores_and_a_takedown_never_leave_the_words(tmp_settings: Callable[..., Settings],
                                                                  origin: FixtureOrigin) -> None:
    """Six restores race a takedown: whatever the order, no card of the current version shows the post's
    words. When the takedown comes first nothing is restored and the publisher's own embed stays as it was
    (archiver changes no byte of it); when a restore comes first its card is withheld."""
    rt = setup(tmp_settings, origin, HINDI)
    item_id, _ = embed_result(rt)
    errors: list[BaseException] = []

    def run(fn: Callable[[], object]) -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(lambda: restore(rt, "story", item_ids=[item_id]),))
               for _ in range(6)]
    threads.insert(3, threading.Thread(target=run, args=(
        lambda: takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order"),)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    text, history = current(rt), versions(rt, "story")
    assert still_carried(rt, "twitter", HINDI.id) == []
    assert not any("भारत" in c.get_text() or HINDI.name in c.get_text() for c in cards(text))
    if len(history) == 1:  # the takedown came first: nothing restored, the publisher's own embed left as it was
        assert cards(text) == []
    else:  # a restore replaced the embed by its card, since withheld
        assert "भारत" not in text and HINDI.name not in text
    assert len(history) <= 3  # at most one restore and one withholding
    rt.close()


def test_restored_text_is_xml_safe_in_an_xhtml_article(tmp_settings: Callable[..., Settings],
                                                       origin: FixtureOrigin) -> None:
    xhtml = '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en">'
    rt = setup(tmp_settings, origin, NONCHAR, aid="x", head=xhtml)
    assert restore(rt, "x", item_ids=[embed_result(rt, "x")[0]])["new_version"]
    body = rt.store.get(version_key("x", versions(rt, "x")[-1].version))
    ET.fromstring(body)  # well-formed XML: the forbidden characters are gone
    text = body.decode()
    assert "before middle after" in text and "Bad Name" in text
    assert xml_safe("a\ud800b\x00c\x7fd\ufdefe\U0003fffff\tg") == "abcdef\tg"
    # the Robust Links attributes the rewrite adds hold no such character either
    link = add_robust_links('<a href="https://x.example/s/1">d</a>', "https://x.example/s/1",
                            "https://archive.example/media/p\ufffe.html", "2025-07-16T10:15:00Z\x01",
                            names_post=lambda href: True)
    ET.fromstring(link)
    assert "\ufffe" not in link and "\x01" not in link
    rt.close()


def test_an_amp_article_always_gets_the_inline_card(tmp_settings: Callable[..., Settings],
                                                   origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin, HINDI, aid="amp", head='<!doctype html>\n<html amp="" lang="en">',
               restore_style="iframe")
    assert restore(rt, "amp", item_ids=[embed_result(rt, "amp")[0]])["new_version"]
    text = current(rt, "amp")
    assert "<iframe" not in text and "style=" not in text and len(cards(text)) == 1
    rt.close()


def test_hold_and_takedown_reasons_and_no_ops(tmp_settings: Callable[..., Settings]) -> None:
    """A reason of invisible characters is refused (API 400, CLI exit 2); controls and bidi overrides are
    removed; a second hold with another reason is "hold updated"; a release or lift with nothing to
    lift is a 200 that says nothing changed, audited as a "noop", not a state change."""
    with fixture_origin() as o, api(tmp_settings(broker_url="", **o.settings_overrides())) as a:
        archive_sample(a.rt, o)
        post = f"/v1/posts/twitter/{TWEET}"
        for bad in ("\u200b\u202e\ufeff", "\x00 \u2066", "\u3000\u00a0"):
            for verb in ("hold", "takedown"):
                r = a.call("compliance", "PUT", f"{post}/{verb}", json={"reason": bad})
                assert r.status_code == 400 and "visible" in r.json()["detail"], (verb, bad)
        held = a.call("compliance", "PUT", f"{post}/hold", json={"reason": "case\u202e 12\x07"}).json()
        assert held["hold"]["reason"] == "case 12" and held["changed"] and held["outcome"] == "held"
        again = a.call("compliance", "PUT", f"{post}/hold", json={"reason": "case 13"}).json()
        assert again["outcome"] == "hold updated" and again["hold"]["reason"] == "case 13"
        updated = next(e for e in audit.list_events(a.rt) if e["action"] == "hold_updated")
        assert updated["detail"]["previous_reason"] == "case 12" and updated["detail"]["reason"] == "case 13"
        assert a.call("compliance", "DELETE", f"{post}/hold").json()["changed"] is True
        for path, line in (("hold", "not held: nothing changed"), ("takedown", "not taken down: nothing changed")):
            r = a.call("compliance", "DELETE", f"{post}/{path}")
            assert r.status_code == 200 and r.json()["changed"] is False and r.json()["outcome"] == line
        actions = [e["action"] for e in audit.list_events(a.rt)][:2]
        assert actions == ["noop", "noop"]
        # a reason stored before the rule (bidi override, NUL) is shown without them
        a.rt.catalog.execute("UPDATE post_compliance SET state = ? WHERE post_id = ?",
                             [json.dumps({"hold": {"reason": "old\u202e case\x00 1"}, "takedown": None}), TWEET])
        shown = a.call("compliance", "GET", post).json()["compliance"]["hold"]["reason"]
        assert shown == "old case 1"

        # The API's restore answer carries no server path (the object key names the version).
        rep = a.call("editor", "POST", f"/v1/articles/{ARTICLE_ID}/restore", json={}).json()
        assert "path" not in rep["version"] and rep["version"]["key"]


def test_cli_no_op_release_and_lift_exit_0_and_say_so(tmp_settings: Callable[..., Settings],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with fixture_origin() as o, api(tmp_settings(broker_url="", **o.settings_overrides())) as a:
        archive_sample(a.rt, o)
        monkeypatch.setenv("ARCHIVER_HOME", a.rt.settings.home)
        monkeypatch.setenv("ARCHIVER_CATALOG", a.rt.settings.catalog_url)
        post = f"twitter/{TWEET}"
        capsys.readouterr()
        assert cli.main(["release", post]) == 0
        assert cli.main(["takedown", post, "--lift"]) == 0
        assert cli.main(["hold", post, "--reason", "\u200b\u202e"]) == 2
        out, err = capsys.readouterr()
        assert "not held: nothing changed" in out and "not taken down: nothing changed" in out
        assert "visible" in err and "Traceback" not in err


class _Store:
    """Just what the card reads of a store: public URLs (no object is read for this manifest)."""

    def public_url(self, key: str) -> str:
        return f"https://archive.example/media/{key}"


def test_a_quoted_post_taken_down_is_not_written_inside_another_card() -> None:
    """The rule inside the inline card: a quoted post the card is told is withheld shows only the notice."""
    store = _Store()
    content = card_content({"provider": "twitter", "post_id": "1", "text": "mine", "author": {"name": "Me"}},
                           store)  # type: ignore[arg-type]
    secret = Related("Quoting", True, "Secret Name", "secret", "secret words", None, "2")
    card = InlineCard(page_url="https://archive.example/media/p.html", original="", version_date="",
                      withheld=lambda provider, post_id: (provider, post_id) == ("twitter", "2"))
    shown = render_inline_card(replace(content, related=(secret,)), store, card)  # type: ignore[arg-type]
    assert "secret" not in shown.lower() and WITHHELD_NOTICE in shown and "mine" in shown
    shown = render_inline_card(replace(content, related=(secret,)), store,  # type: ignore[arg-type]
                               replace(card, withheld=lambda provider, post_id: False))
    assert "secret words" in shown


def test_the_editors_restore_button_says_a_taken_down_post_was_not_restored(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin, HINDI)
    item_id, _ = embed_result(rt)
    takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order")
    editor = create_token(rt.catalog, "editor")
    client = TestClient(create_app(rt.settings, runtime=rt))
    assert client.post("/login", data={"token": editor, "next": "/"}, follow_redirects=False).status_code == 303
    page = client.get("/articles/story").text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = client.post("/articles/story/restore", data={"csrf": csrf, "item": item_id}, follow_redirects=False)
    assert r.status_code == 303 and len(versions(rt, "story")) == 1
    shown = " ".join(BeautifulSoup(client.get(r.headers["location"]).text, "html5lib").get_text().split())
    assert "Nothing restored. 1 item taken down by compliance: not restored" in shown
    assert 'class="archiver-card' not in current(rt)  # the publisher's embed is left as it was
    rt.close()


QUOTED = TweetFixture(id="1945048830047662011", handle="sealed", name="Sealed Source", lang="en",
                      text="the quoted words a court sealed")
QUOTING = TweetFixture(id="1945048830047662012", handle="desk", name="News Desk", lang="en",
                       text="Our desk comments on this", quoted_id=QUOTED.id)


def test_a_quoted_posts_takedown_takes_its_words_out_of_the_quoting_card(tmp_settings: Callable[..., Settings]
                                                                         ) -> None:
    with FixtureOrigin(tweets=[QUOTED, QUOTING]) as o:
        rt = setup(tmp_settings, o, QUOTING)
        item_id, _ = embed_result(rt)
        assert restore(rt, "story", item_ids=[item_id])["new_version"]
        assert QUOTED.text in current(rt) and QUOTING.text in current(rt)
        state = takedown_post(rt, None, "twitter", QUOTED.id, on=True, reason="sealed by the court")
        assert state["withheld"] == ["story"] and versions(rt, "story")[-1].reason == "takedown"
        text = current(rt)
        assert QUOTED.text not in text and QUOTED.name not in text and QUOTING.text in text
        assert WITHHELD_NOTICE in text
        assert takedown_post(rt, None, "twitter", QUOTED.id, on=True, reason="sealed by the court")["withheld"] == []
        # a restore while it is down writes the quoting card without the quoted words
        assert restore(rt, "story", item_ids=[item_id])["new_version"] is False
        assert takedown_post(rt, None, "twitter", QUOTED.id, on=False)["restore_again"] == ["story"]
        assert restore(rt, "story", item_ids=[item_id])["new_version"] and QUOTED.text in current(rt)
        rt.close()


def _login(rt: Runtime, role: str) -> tuple[TestClient, str]:
    client = TestClient(create_app(rt.settings, runtime=rt))
    token = create_token(rt.catalog, role)
    assert client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False).status_code == 303
    page = client.get("/articles/story").text if role == "editor" else ""
    return client, page.split('name="csrf" value="', 1)[1].split('"', 1)[0] if page else ""


def test_a_revert_to_a_version_before_the_takedown_writes_the_withheld_notice(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Revert is exact except for takedowns: the card of a post taken down now comes back as the notice."""
    rt = setup(tmp_settings, origin, HINDI, cms_callback_url=receiver.url, cms_callback_secret="s")
    item_id, _ = embed_result(rt)
    words = "भारत और रूस"
    assert restore(rt, "story", item_ids=[item_id])["new_version"] and words in current(rt)
    assert takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 9")["withheld"] == ["story"]
    # reverting to version 2 (the words, as restore wrote them) is version 3 again: nothing to write
    assert revert(rt, "story", 2)["new_version"] is False
    assert revert(rt, "story", 1)["new_version"]  # the publisher's embed markup, no card
    receiver.posts.clear()
    report = revert(rt, "story", 2)  # the version restore wrote, words and all
    assert report["new_version"] and report["withheld"] == "1 card withheld: taken down"
    text = current(rt)
    assert words not in text and HINDI.name not in text and WITHHELD_NOTICE in text
    assert [json.loads(b)["event"] for _, b in receiver.posts] == ["revert"]
    assert all(words not in b.decode() for _, b in receiver.posts)  # nor does the CMS get them
    # the editor's Revert button says so
    client, csrf = _login(rt, "editor")
    assert revert(rt, "story", 1)["new_version"]
    r = client.post("/articles/story/revert", data={"csrf": csrf, "version": "2"}, follow_redirects=False)
    assert r.status_code == 303
    shown = " ".join(BeautifulSoup(client.get(r.headers["location"]).text, "html5lib").get_text().split())
    assert "1 card withheld: taken down" in shown
    assert words not in current(rt)
    # the CLI's line says so too: not "= v2", whose bytes these are not
    assert revert(rt, "story", 1)["new_version"]
    monkeypatch.setenv("ARCHIVER_HOME", rt.settings.home)
    monkeypatch.setenv("ARCHIVER_CATALOG", rt.settings.catalog_url)
    capsys.readouterr()
    assert cli.main(["revert", "story", "--to", "2"]) == 0
    line = capsys.readouterr().out
    assert "= v2, but 1 card withheld: taken down" in line, line
    # lifted: revert to version 2 is exact again
    takedown_post(rt, None, "twitter", HINDI.id, on=False)
    assert revert(rt, "story", 2)["withheld"] == "" and words in current(rt)
    rt.close()


def test_a_revert_does_not_bring_back_a_quoted_posts_words(tmp_settings: Callable[..., Settings]) -> None:
    with FixtureOrigin(tweets=[QUOTED, QUOTING]) as o:
        rt = setup(tmp_settings, o, QUOTING)
        item_id, _ = embed_result(rt)
        assert restore(rt, "story", item_ids=[item_id])["new_version"] and QUOTED.text in current(rt)
        takedown_post(rt, None, "twitter", QUOTED.id, on=True, reason="sealed")
        revert(rt, "story", 1)
        report = revert(rt, "story", 2)
        assert report["withheld"] == "1 card withheld: taken down"
        text = current(rt)
        assert QUOTED.text not in text and QUOTED.name not in text and QUOTING.text in text
        rt.close()


def test_a_quoted_posts_takedown_refuses_the_quoting_posts_public_copies(tmp_settings: Callable[..., Settings]
                                                                        ) -> None:
    """The quoting post's capture page, card and manifest carry the quoted words: refused publicly (410)
    while the quoted post is down, served again once it is lifted."""
    with FixtureOrigin(tweets=[QUOTED, QUOTING]) as o:
        rt = setup(tmp_settings, o, QUOTING, restore_style="iframe")
        item_id, _ = embed_result(rt)
        assert restore(rt, "story", item_ids=[item_id])["new_version"]
        keys = [k for k in rt.store.list(f"posts/twitter/{QUOTING.id}/") if k.endswith((".html", ".json"))]
        carrying = [k for k in keys if QUOTED.text.encode() in rt.store.get(k)]
        assert any(k.endswith(".card.html") for k in carrying)
        client = TestClient(create_app(rt.settings, runtime=rt))
        assert all(client.get(f"/media/{k}").status_code == 200 for k in carrying)
        takedown_post(rt, None, "twitter", QUOTED.id, on=True, reason="sealed")
        for k in carrying:
            r = client.get(f"/media/{k}", headers={"Accept": "text/html"})
            assert r.status_code == 410 and QUOTED.text not in r.text, k
            assert "withdrawn from public access" in r.text and "sealed" not in r.text
        # the article's frame names that card: the reader sees the 410 page, never the words
        assert QUOTED.text not in current(rt)
        takedown_post(rt, None, "twitter", QUOTED.id, on=False)
        assert all(client.get(f"/media/{k}").status_code == 200 for k in carrying)
        rt.close()


def test_a_takedown_withholds_the_card_in_a_version_the_cms_republished_with_edits(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The card is found by its structure in the current version, not only through the patch chain; a
    card the CMS changed beyond recognition is named in the answer ("still_carried")."""
    rt = setup(tmp_settings, origin, HINDI)
    item_id, _ = embed_result(rt)
    words = "भारत और रूस"
    restore(rt, "story", item_ids=[item_id])
    body = rt.store.get(version_key("story", versions(rt, "story")[-1].version))
    edited = body.replace(b"<html>", b"<html><!-- CMS edit --><p>Editor's note added above.</p>", 1)
    archive(rt, edited, article_id="story", url="https://news.example/story")
    assert words in current(rt) and "Editor's note" in current(rt)
    state = takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 10")
    assert state["withheld"] == ["story"] and state["still_carried"] == []
    text = current(rt)
    assert words not in text and WITHHELD_NOTICE in text and "Editor's note" in text

    # a second article whose CMS stripped the card's markup: the takedown cannot find it and says so
    takedown_post(rt, None, "twitter", HINDI.id, on=False)
    archive(rt, page(HINDI, "utf-8", "<html>"), article_id="other", url="https://news.example/other")
    restore(rt, "other", item_ids=[embed_result(rt, "other")[0]])
    body = current(rt, "other").replace('class="archiver-card"', 'class="cms-quote"')
    archive(rt, body.encode(), article_id="other", url="https://news.example/other")
    assert words in current(rt, "other")
    state = takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 11")
    assert state["still_carried"] == ["other"]
    # compliance sees it: the UI's notice after the Take down form, and the CLI's line
    takedown_post(rt, None, "twitter", HINDI.id, on=False)
    client = TestClient(create_app(rt.settings, runtime=rt))
    token = create_token(rt.catalog, "compliance")
    assert client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False).status_code == 303
    url = f"/posts/twitter/{HINDI.id}"
    csrf = client.get(url).text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = client.post(f"{url}/takedown", data={"csrf": csrf, "reason": "court order 12"}, follow_redirects=False)
    shown = " ".join(BeautifulSoup(client.get(r.headers["location"]).text, "html5lib").get_text().split())
    assert "some articles still show the post" in shown
    takedown_post(rt, None, "twitter", HINDI.id, on=False)
    monkeypatch.setenv("ARCHIVER_HOME", rt.settings.home)
    monkeypatch.setenv("ARCHIVER_CATALOG", rt.settings.catalog_url)
    capsys.readouterr()
    assert cli.main(["takedown", f"twitter/{HINDI.id}", "--reason", "court order 13"]) == 0
    assert "STILL SHOWN (card not found or not replaced) in 1 article(s): other" in capsys.readouterr().out
    rt.close()


def test_a_taken_down_item_is_shown_withheld_and_not_restorable(tmp_settings: Callable[..., Settings],
                                                               origin: FixtureOrigin) -> None:
    """The article page's preview shows what readers get (the notice), the health text says "withheld
    (taken down)", no Restore button offers it and needs_restore does not count it."""
    rt = setup(tmp_settings, origin, HINDI)
    item_id, _ = embed_result(rt)
    words = "भारत और रूस"
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    article_health(rt, "story", check_now=True, now=T0)
    assert needs_restore(rt) == {"story": 1}
    assert restore(rt, "story")["new_version"]
    takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 12")
    assert needs_restore(rt) == {}
    client, _ = _login(rt, "editor")
    page = BeautifulSoup(client.get("/articles/story").text, "html5lib")
    shown = " ".join(page.get_text().split())
    assert words not in shown and HINDI.name not in shown
    (preview,) = page.select(".card-preview blockquote.archiver-card")
    assert preview.get_text(strip=True) == WITHHELD_NOTICE
    assert "withheld (taken down)" in shown and "taken down by compliance" in shown
    assert "shows the archived copy" not in shown and "Restore every dead item" not in shown
    assert "Restore this embed" not in shown
    worklist = " ".join(BeautifulSoup(client.get("/health").text, "html5lib").get_text().split())
    assert "withheld (taken down)" in worklist and "0 need a restore" in worklist
    # a restore through the button while down would write nothing anyway
    assert restore(rt, "story", item_ids=[item_id])["items"][0]["status"] == "taken_down"
    rt.close()


def test_a_dead_item_with_no_archived_copy_is_not_counted_as_needing_a_restore(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    """A post already deleted when the article was archived left nothing to restore from: once its
    original is dead it is lost, not waiting for a restore, so the worklist can reach zero and no
    Restore button offers what restore would refuse."""
    origin.set_behaviour("/tweet-result", "tombstone", sticky=True)
    origin.set_behaviour("/oembed", "404", sticky=True)
    rt = setup(tmp_settings, origin, HINDI)
    plan_items = article_health(rt, "story", check_now=True, now=T0)["items"]
    assert [(i["kind"], i["state"]) for i in plan_items] == [("embed", "dead")]
    assert plan_items[0]["capture_status"] not in ("archived", "partial")   # a tombstone: no post kept
    assert needs_restore(rt) == {}
    client, _ = _login(rt, "editor")
    shown = " ".join(BeautifulSoup(client.get("/articles/story").text, "html5lib").get_text().split())
    assert "1 dead item with no archived copy" in shown
    assert "Restore every dead item" not in shown and "Restore this embed" not in shown
    worklist = " ".join(BeautifulSoup(client.get("/health").text, "html5lib").get_text().split())
    assert "no archived copy" in worklist and "0 need a restore" in worklist
    assert client.get("/v1/health").json()["totals"]["needs_restore"] == 0
    rt.close()


def test_restore_counts_are_read_again_only_when_the_catalog_says_something_changed(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    """/health's "N need a restore" read every article with a dead item from storage on every view (on
    S3, 40 ms an article: 8 s for 200 articles). A count is remembered while the catalog says the same of
    its article; a restore, a takedown or a new dead item counts again, and so does the passing of
    RESTORE_COUNT_SECONDS (a stored object damaged since is not in the catalog)."""
    from archiver.health import originals

    rt = setup(tmp_settings, origin, HINDI)
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    article_health(rt, "story", check_now=True, now=T0)
    counted: list[str] = []
    real = originals._restore_count

    def counting(rt_: Runtime, aid: str, dead: set[str]) -> tuple[int, bool]:
        counted.append(aid)
        return real(rt_, aid, dead)

    monkeypatch.setattr(originals, "_restore_count", counting)
    assert needs_restore(rt) == {"story": 1} and counted == ["story"]
    assert needs_restore(rt) == {"story": 1} and needs_restore(rt, ["story"]) == {"story": 1}
    assert counted == ["story"]  # remembered: nothing read again
    assert restore(rt, "story")["new_version"]  # a new version: counted again, and nothing is left
    assert needs_restore(rt) == {} and counted == ["story"] * 2
    assert revert(rt, "story", 1)["new_version"]
    assert needs_restore(rt) == {"story": 1} and counted == ["story"] * 3
    takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 12")  # only the catalog knows
    assert needs_restore(rt) == {} and counted == ["story"] * 4
    takedown_post(rt, None, "twitter", HINDI.id, on=False)
    assert needs_restore(rt) == {"story": 1} and counted == ["story"] * 5
    monkeypatch.setattr(originals, "RESTORE_COUNT_SECONDS", 0.0)
    assert needs_restore(rt) == {"story": 1} and counted == ["story"] * 6
    rt.close()


def test_remembered_restore_counts_follow_which_posts_are_taken_down_and_damaged_versions(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counts depend on which posts are taken down, not on how many or when (a takedown lifted and
    another made in the same second left the count at 0 for 5 minutes); a current version whose bytes
    are damaged counts what restore would then do (nothing served from it), as before."""
    from archiver.compliance import holds
    from archiver.health import originals

    monkeypatch.setattr(holds, "utcnow", lambda: T0)  # every compliance change in one second
    rt = setup(tmp_settings, origin, HINDI)
    archive(rt, page(NONCHAR), article_id="other", url="https://news.example/other")
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    article_health(rt, "story", check_now=True, now=T0)
    holds.set_hold(rt, None, "twitter", NONCHAR.id, on=True, reason="case 7")
    assert needs_restore(rt) == {"story": 1}
    takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 1")
    assert needs_restore(rt) == {}
    takedown_post(rt, None, "twitter", HINDI.id, on=False)
    takedown_post(rt, None, "twitter", NONCHAR.id, on=True, reason="court order 2")
    assert needs_restore(rt) == {"story": 1}
    item_id, _ = embed_result(rt)
    assert restore(rt, "story", item_ids=[item_id])["new_version"]
    assert needs_restore(rt) == {}
    rt.store.put(versions(rt, "story")[-1].key, b"<html>damaged</html>")
    originals._RESTORE_COUNTS.clear()
    assert needs_restore(rt) == {"story": 1}
    rt.close()


def test_counts_not_remembered_are_made_on_a_few_threads_kept_for_it(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    """Forty views at once of a cold /health start no more than RESTORE_COUNT_THREADS threads (each
    holds a catalog connection: a PostgreSQL catalog ran out of connections)."""
    from archiver.health import originals

    rt = setup(tmp_settings, origin, HINDI)
    for n in range(1, 8):
        archive(rt, page(HINDI), article_id=f"story{n}", url=f"https://news.example/story{n}")
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    article_health(rt, "story", check_now=True, now=T0)
    answers: list[dict[str, int]] = []

    def view() -> None:
        answers.append(needs_restore(rt))

    threads = [threading.Thread(target=view) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [{"story": 1, **{f"story{n}": 1 for n in range(1, 8)}}] * 40
    counting = [t for t in threading.enumerate() if t.name.startswith("restore-count")]
    assert 0 < len(counting) <= originals.RESTORE_COUNT_THREADS
    rt.close()


def test_a_card_withheld_by_a_takedown_since_lifted_needs_a_restore_again(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    """A restored card that a takedown turned into the withheld notice is no longer served from the
    archive: once the takedown is lifted, "Restore all" counts it and restores it (it said 0 and left
    it out, while restoring the article by name put it back)."""
    rt = setup(tmp_settings, origin, HINDI)
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    article_health(rt, "story", check_now=True, now=T0)
    assert restore(rt, "story")["new_version"] and needs_restore(rt) == {}
    takedown_post(rt, None, "twitter", HINDI.id, on=True, reason="court order 12")
    assert needs_restore(rt) == {}
    takedown_post(rt, None, "twitter", HINDI.id, on=False)
    assert needs_restore(rt) == {"story": 1}
    assert [i["status"] for i in restore(rt, "story")["items"]] == ["restored"]
    assert needs_restore(rt) == {}
    rt.close()
