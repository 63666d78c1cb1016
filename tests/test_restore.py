"""Restore and revert: exact article bytes, a signed CMS callback, audit events, auto-restore."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from archiver.article.versions import versions
from archiver.compliance import audit
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.health.originals import article_health, check, dead_items, enroll
from archiver.health.restore import auto_restore, restore, revert
from archiver.records.result import EmbedResult, ImageResult
from archiver.runners.local import archive, retry
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.steps.results import load_result
from archiver.storage.layout import capture_page_key, version_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from tests.test_health import T0, TWEET, article

BASE = "https://archive.example/media"
CARD = b"<!doctype html><html><body><p>Lavrov and Jaishankar meet</p></body></html>"


class Receiver:
    """A CMS endpoint on loopback that keeps every POST it gets."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/archiver"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEET, handle="ANI", name="ANI", text="Lavrov and Jaishankar meet")]
    images = {f"/media/{n}.jpg": make_image(n, 64, 48) for n in ("a", "b", "c", "d")}
    with FixtureOrigin(tweets=tweets, images=images) as o:
        yield o


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def setup(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, **overrides: Any) -> Runtime:
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": BASE, "fetch_retries": 0,
                               "health_dead_after_failures": 1, "health_dead_after_hours": 0.0, **overrides})
    rt = Runtime.from_settings(settings)
    archive(rt, article(origin).encode(), article_id="story", url="https://news.example/story")
    return rt


def card_for(rt: Runtime) -> tuple[EmbedResult, str]:
    """The tweet's result and its card key (the card is written here when the capture made none)."""
    plan = load_plan(rt, "story")
    item = next(i for i in plan.items if i.kind == "embed")
    res = load_result(rt, plan, item.item_id)
    assert isinstance(res, EmbedResult) and res.status == "archived" and res.manifest_key
    manifest = json.loads(rt.store.get(res.manifest_key))
    key = (manifest.get("cards") or {}).get("html") or res.manifest_key.removesuffix(".json") + ".card.html"
    if not rt.store.exists(key):
        rt.store.put(key, CARD, content_type="text/html; charset=utf-8")
    return res, key


def kill_everything(origin: FixtureOrigin) -> None:
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    origin.set_behaviour("/media/a.jpg", "404", sticky=True)


def body(rt: Runtime, n: int) -> bytes:
    return rt.store.get(version_key("story", n))


def test_restore_then_revert_give_exact_bytes(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                             receiver: Receiver) -> None:
    rt = setup(tmp_settings, origin, cms_callback_url=receiver.url, cms_callback_secret="s3cret",
               restore_style="iframe")
    res, key = card_for(rt)
    v1 = body(rt, 1).decode()
    assert restore(rt, "story")["new_version"] is False  # nothing is dead yet
    kill_everything(origin)
    article_health(rt, "story", check_now=True, now=T0)
    assert {o.kind for o in dead_items(rt, "story")} == {"embed", "image"}

    report = restore(rt, "story")
    start = v1.index('<blockquote class="twitter-tweet"')
    end = v1.index("</script>") + len("</script>")
    frame = (f'<iframe class="archiver-card" src="{BASE}/{key}" '
             f'title="Archived copy of https://twitter.com/ANI/status/{TWEET}" sandbox="" loading="lazy" '
             'referrerpolicy="no-referrer" style="border:0;width:100%;max-width:550px;min-height:250px" '
             f'data-originalurl="https://twitter.com/ANI/status/{TWEET}" '
             f'data-versionurl="{BASE}/{capture_page_key(res.manifest_key)}" '
             f'data-versiondate="{res.captured_at}"></iframe>')
    expected = (v1[:start] + frame + v1[end:]).encode()
    assert body(rt, 2) == expected
    statuses = {i["kind"]: i["status"] for i in report["items"]}
    assert statuses == {"embed": "restored", "image": "already"}  # the image already pointed at its copy
    v = versions(rt, "story")[-1]
    assert report["current"] == 2 and report["version"] == {
        "version": 2, "created": v.created_at, "reason": "restore", "key": v.key,
        "path": rt.store.locate(v.key), "sha256": hashlib.sha256(expected).hexdigest()}
    patch = json.loads(rt.store.get(v.patch_key))
    assert patch["base"]["version"] == 1 and patch["ops"][0]["old"] == v1[start:end]  # reversible

    assert restore(rt, "story")["new_version"] is False  # idempotent
    back = revert(rt, "story", 1)
    assert back["current"] == 3 and back["version"]["reason"] == "revert" and body(rt, 3) == body(rt, 1)
    # Reverting to bytes the current version already has writes nothing (run twice: one version).
    again = revert(rt, "story", 1)
    assert again["new_version"] is False and again["current"] == 3 and len(versions(rt, "story")) == 3
    # Restoring after the revert carries the spans through the revert: the same bytes as before.
    restore(rt, "story")
    assert body(rt, 4) == expected
    assert revert(rt, "story", 3)["current"] == 5 and body(rt, 5) == v1.encode()

    headers, raw = receiver.posts[0]
    assert headers["x-archiver-signature"] == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert json.loads(raw)["event"] == "restore" and json.loads(raw)["current"] == 2
    assert [json.loads(b)["event"] for _, b in receiver.posts] == ["restore", "revert", "restore", "revert"]
    assert report["callback"] == {"url": receiver.url, "status": 204, "error": None}
    actions = [e["action"] for e in audit.list_events(rt, action=None)]
    assert actions.count("restore") == 4 and actions.count("revert") == 3  # no-ops are audited too


def test_restore_chosen_items_and_bad_requests(tmp_settings: Callable[..., Settings],
                                              origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin)
    plan = load_plan(rt, "story")
    embed = next(i for i in plan.items if i.kind == "embed")
    with pytest.raises(InputError):
        restore(rt, "story", item_ids=["nope"])
    with pytest.raises(InputError):
        revert(rt, "story", 9)
    with pytest.raises(InputError):
        restore(rt, "no-such-article")
    res = load_result(rt, plan, embed.item_id)
    assert isinstance(res, EmbedResult) and res.manifest_key
    if not rt.store.exists(res.manifest_key.removesuffix(".json") + ".card.html"):
        # No card (captures before cards existed): that item fails clearly and nothing is written.
        rep = restore(rt, "story", item_ids=[embed.item_id])
        assert "no static card" in rep["items"][0]["error"] and not rep["new_version"]
        card_for(rt)
    # An item chosen by the editor is restored even though its original is alive.
    rep = restore(rt, "story", item_ids=[embed.item_id])
    assert rep["new_version"] and rep["items"][0]["status"] == "restored"


def test_auto_restore_for_policy_sites(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    rt = setup(tmp_settings, origin, auto_restore_sites="news.example")
    card_for(rt)
    kill_everything(origin)
    tweet = next(o for o in enroll(rt, "story") if o.kind == "embed")
    rec = check(rt, tweet, now=T0 + timedelta(hours=1))
    assert rec["state"] == "dead"
    (done,) = auto_restore(rt, tweet.url)
    assert done["version"]["reason"] == "auto-restore" and b"archiver-card" in body(rt, 2)
    other = setup(tmp_settings, origin, auto_restore_sites="elsewhere.example")
    assert auto_restore(other, tweet.url) == []


def test_http_api_and_editors_pages(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    from fastapi.testclient import TestClient

    from archiver.auth import create_token
    from archiver.web.app import create_app
    from archiver.web.routes import articles
    from archiver.web.routes import health as health_routes

    rt = setup(tmp_settings, origin)
    card_for(rt)
    articles.provide_article_health(health_routes.article_block)  # the pages tests may have cleared it
    editor = create_token(rt.catalog, "editor")
    compliance = create_token(rt.catalog, "compliance")
    client = TestClient(create_app(rt.settings, runtime=rt))
    auth = {"Authorization": f"Bearer {editor}"}
    assert client.get("/v1/articles/story/health").status_code == 401
    assert client.post("/v1/articles/story/restore", headers={"Authorization": f"Bearer {compliance}"}
                       ).status_code == 403
    kill_everything(origin)
    r = client.get("/v1/articles/story/health", params={"check_now": "true"}, headers=auth)
    assert r.status_code == 200 and r.json()["summary"]["dead"] == 2
    assert all(i["history"] for i in r.json()["items"])
    assert client.get("/v1/health", headers=auth).json()["articles"][0]["dead"] == 2
    assert client.get("/v1/articles/..%2Fx/health", headers=auth).status_code == 404

    assert client.post("/login", data={"token": editor, "next": "/"}, follow_redirects=False).status_code == 303
    page = client.get("/articles/story").text
    assert 'id="health"' in page and '<form method="post" action="/articles/story/restore">' in page
    assert 'href="/articles/story#health"' in client.get("/health").text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/articles/story/restore", follow_redirects=False).status_code == 403  # no CSRF token
    r = client.post("/articles/story/restore", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/articles/story?flash=")
    assert versions(rt, "story")[-1].reason == "restore"
    client.cookies.clear()

    r = client.post("/v1/articles/story/revert", json={"version": 1}, headers=auth)
    assert r.status_code == 200 and r.json()["current"] == 3 and body(rt, 3) == body(rt, 1)
    r = client.post("/v1/articles/story/restore", json={}, headers=auth)
    assert r.status_code == 200 and r.json()["current"] == 4 and body(rt, 4) == body(rt, 2)
    assert client.post("/v1/articles/story/revert", json={"version": 99}, headers=auth).status_code == 404


def test_cli_health_restore_revert_and_show_agree(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from archiver.cli import main as cli

    rt = setup(tmp_settings, origin)
    card_for(rt)
    for name in ("home", "public_base_url", "fetch_allow", "twitter_oembed_url", "twitter_syndication_url",
                 "twitter_shortlink_url", "health_dead_after_failures", "health_dead_after_hours", "fetch_retries"):
        monkeypatch.setenv(f"ARCHIVER_{name.upper()}", str(getattr(rt.settings, name)))
    kill_everything(origin)

    def run(*argv: str) -> dict[str, Any]:
        capsys.readouterr()
        assert cli.main(list(argv)) == 0
        return json.loads(capsys.readouterr().out)

    from fastapi.testclient import TestClient

    from archiver.auth import create_token
    from archiver.web.app import create_app

    client = TestClient(create_app(rt.settings, runtime=rt))
    auth = {"Authorization": f"Bearer {create_token(rt.catalog, 'editor')}"}

    def api(path: str) -> dict[str, Any]:
        r = client.get(path, headers=auth)
        assert r.status_code == 200, r.text
        return r.json()

    rep = run("health", "--article-id", "story", "--check-now", "--json")
    assert rep["summary"]["dead"] == 2 and rep["items"][0]["history"]
    assert rep == api("/v1/articles/story/health")  # the CLI answers what the API answers
    every = run("health", "--json")  # the stored states, no fetching
    assert every["totals"]["dead"] == 2 and every == api("/v1/health?limit=1000")
    assert run("health", "--json", "--state", "live") == api("/v1/health?state=live&limit=1000")
    restored = run("restore", "story", "--all-dead", "--json")
    shown = run("show", "story", "--json")
    assert shown == api("/v1/articles/story")
    assert shown["current_version"] == restored["current"] == 2
    assert shown["versions"][-1]["sha256"] == restored["version"]["sha256"]
    reverted = run("revert", "story", "--to", "1", "--json")
    shown = run("show", "story", "--json")
    assert shown == api("/v1/articles/story") and shown["current_version"] == reverted["current"] == 3
    assert body(rt, 3) == body(rt, 1)
    assert cli.main(["revert", "story", "--to", "7"]) == 2


def test_one_damaged_version_record_blocks_nothing_else(tmp_settings: Callable[..., Settings],
                                                        origin: FixtureOrigin, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A corrupt ``v2.json`` is listed as unreadable by the API and `show`, reverting to a readable
    version still works (and writes after the damaged one, not over it), and reverting to the damaged
    one is one line naming the record, exit 1 (stored data is damaged: not the user's error)."""
    from fastapi.testclient import TestClient

    from archiver.auth import create_token
    from archiver.cli import main as cli
    from archiver.storage.layout import version_meta_key
    from archiver.web.app import create_app

    rt = setup(tmp_settings, origin)
    for name in ("home", "public_base_url", "fetch_allow"):
        monkeypatch.setenv(f"ARCHIVER_{name.upper()}", str(getattr(rt.settings, name)))
    card_for(rt)
    kill_everything(origin)
    article_health(rt, "story", check_now=True, now=T0)
    restore(rt, "story")
    revert(rt, "story", 1)  # v3
    damaged = version_meta_key("story", 3)
    rt.store.put(damaged, b'{"version": 3, "article_id": "stor', content_type="application/json")

    client = TestClient(create_app(rt.settings, runtime=rt))
    r = client.get("/v1/articles/story", headers={"Authorization": f"Bearer {create_token(rt.catalog, 'editor')}"})
    assert r.status_code == 200, r.text
    listed = r.json()["versions"]
    assert [v["version"] for v in listed] == [1, 2, 3]
    assert listed[2] == {"version": 3, "unreadable": True, "key": damaged} and "unreadable" not in listed[0]
    assert r.json()["current_version"] == 2

    capsys.readouterr()
    assert cli.main(["show", "story"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  v1") and lines[1].startswith("* v2")
    assert lines[2].startswith("! v3  record unreadable:") and damaged in lines[2]
    assert cli.main(["show", "story", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == r.json()

    assert cli.main(["revert", "story", "--to", "3"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and damaged in err and "backup" in err and "Traceback" not in err
    assert cli.main(["revert", "story", "--to", "1"]) == 0
    assert versions(rt, "story")[-1].version == 4 and body(rt, 4) == body(rt, 1)  # after v3, not over it
    assert rt.store.get(damaged).startswith(b'{"version": 3, "article_id": "stor')


def test_a_later_capture_keeps_the_editors_restore(tmp_settings: Callable[..., Settings],
                                                   origin: FixtureOrigin) -> None:
    """An image failed at publication, the dead tweet was restored to its card, then a retry captures
    the image: the new version is the restored one with the image pointed at its copy, not a
    rewrite of the source that drops the card."""
    origin.set_behaviour("/media/b.jpg", "500", sticky=True)
    rt = setup(tmp_settings, origin)
    card_for(rt)
    b_url = origin.url("/media/b.jpg")
    assert b_url in body(rt, 1).decode()
    origin.set_behaviour("/oembed", "404", sticky=True)
    origin.set_behaviour("/tweet-result", "empty", sticky=True)
    article_health(rt, "story", check_now=True, now=T0)
    restored = restore(rt, "story", item_ids=[next(
        i.item_id for i in load_plan(rt, "story").items if i.kind == "embed")])
    assert restored["current"] == 2
    v2 = body(rt, 2).decode()
    assert 'class="archiver-card"' in v2

    origin.set_behaviour("/media/b.jpg", "ok")
    report = retry(rt, "story")
    assert report["version"] == 3
    plan = load_plan(rt, "story")
    b_item = next(i for i in plan.items if i.url == b_url)
    b_result = load_result(rt, plan, b_item.item_id)
    assert isinstance(b_result, ImageResult)
    stable = b_result.stable_url
    assert body(rt, 3).decode() == v2.replace(b_url, stable)
    history = versions(rt, "story")
    assert [v.reason for v in history] == ["archive", "restore", "retry"]
    patch = json.loads(rt.store.get(history[-1].patch_key))
    assert patch["base"]["kind"] == "version" and patch["base"]["version"] == 2
    # The chain still leads back to the source: restoring and reverting keep working on top of it.
    assert revert(rt, "story", 2)["current"] == 4 and body(rt, 4) == body(rt, 2)
    rt.close()
