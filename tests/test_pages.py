"""The web pages through FastAPI's TestClient: login and redirects, roles, search, post and article
pages on a real archive, escaping of hostile post fields everywhere, and the audit trail."""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archiver.auth import authenticate
from archiver.compliance import audit
from archiver.compliance.holds import set_takedown
from archiver.steps.prepare import load_plan
from archiver.web.app import create_app
from archiver.web.routes import pages
from tests import pages_corpus as pc
from tests.harness.services import fresh_pg_dsn


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[pc.Corpus]:
    """The same archive on each catalog backend: every page test runs on both."""
    overrides = {}
    if request.param == "postgres":
        overrides["catalog"] = fresh_pg_dsn(request.getfixturevalue("postgres_dsn"))
    with pc.origin() as origin:
        c = pc.build(tmp_path_factory.mktemp("pages"), origin, **overrides)
    yield c
    c.runtime.close()


@pytest.fixture(scope="module")
def app(corpus: pc.Corpus) -> Any:
    return create_app(corpus.settings, runtime=corpus.runtime)


def client_for(app: Any, corpus: pc.Corpus, role: str | None) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    if role:
        r = client.post("/login", data={"token": corpus.tokens[role], "next": "/"})
        assert r.status_code == 303, r.text
    return client


@pytest.fixture
def compliance(app: Any, corpus: pc.Corpus) -> TestClient:
    return client_for(app, corpus, "compliance")


def audit_events(corpus: pc.Corpus, action: str) -> list[dict[str, Any]]:
    audit.ensure_schema(corpus.runtime.catalog)  # the first test may run before any event
    return corpus.runtime.catalog.query(
        "SELECT action, target, result_count, actor, role, detail FROM audit_log WHERE action = ? ORDER BY at",
        [action])


def assert_no_hostile_markup(page: str) -> None:
    for marker in pc.HOSTILE:
        assert marker not in page, marker
    assert "javascript:" not in " ".join(re.findall(r'(?:href|src|action)="([^"]*)"', page))


# --- login, redirects, roles ---------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/search?q=x", f"/posts/twitter/{pc.HINDI_ID}", "/articles/story-hi",
                                  "/articles/story-hi/versions/1"])
def test_pages_redirect_to_login_without_a_token(app: Any, corpus: pc.Corpus, path: str) -> None:
    r = client_for(app, corpus, None).get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")
    assert "archiver_token" not in r.headers.get("set-cookie", "")


def session_cookie(response: Any) -> str:
    """The Set-Cookie header that sets archiver_session (a login also clears the legacy cookie)."""
    cookies = response.headers.get_list("set-cookie")
    return next(c for c in cookies if c.startswith("archiver_session=") and "max-age=0" not in c.lower())


def csrf_of(page: str) -> str:
    found = re.search(r'<input type="hidden" name="csrf" value="([0-9a-f]{64})">', page)
    assert found, "no CSRF field in the page's forms"
    return found.group(1)


def test_login_starts_a_server_side_session_in_a_strict_httponly_cookie(app: Any, corpus: pc.Corpus) -> None:
    client = client_for(app, corpus, None)
    form = client.get("/login?next=/articles/story-hi")
    assert form.status_code == 200 and 'name="token"' in form.text
    assert 'value="/articles/story-hi"' in form.text
    bad = client.post("/login", data={"token": "arc_not-a-token", "next": "/"})
    assert bad.status_code == 401 and "not valid" in bad.text
    assert "set-cookie" not in bad.headers
    before = len(audit_events(corpus, "login"))
    ok = client.post("/login", data={"token": corpus.tokens["editor"], "next": "/articles/story-hi"})
    assert ok.status_code == 303 and ok.headers["location"] == "/articles/story-hi"
    cookie = session_cookie(ok)
    session_id = cookie.split(";", 1)[0].split("=", 1)[1]
    attributes = cookie.lower()
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
    assert f"max-age={corpus.settings.session_lifetime}" in attributes
    assert "secure" not in attributes  # plain http here; see the https test
    # The cookie is a random session id kept hashed on the server, never the API token.
    assert corpus.tokens["editor"] not in ok.headers.get("set-cookie", "") and len(session_id) >= 40
    rows = corpus.runtime.catalog.query("SELECT session_hash FROM web_sessions")
    assert hashlib.sha256(session_id.encode()).hexdigest() in {r["session_hash"] for r in rows}
    assert session_id not in repr(rows)
    events = audit_events(corpus, "login")
    assert len(events) == before + 1 and events[-1]["role"] == "editor" and events[-1]["target"] == "session"
    assert client.get("/articles/story-hi").status_code == 200


def test_logout_is_a_post_with_the_csrf_token_and_ends_the_session(app: Any, corpus: pc.Corpus) -> None:
    client = client_for(app, corpus, "editor")
    session_id = client.cookies["archiver_session"]
    page = client.get("/articles/story-hi")
    assert '<form class="who" method="post" action="/logout">' in page.text
    csrf = csrf_of(page.text)
    # A link (GET) cannot sign anyone out, nor can a post without the form's token.
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf": "0" * 64}).status_code == 403
    assert client.get("/articles/story-hi").status_code == 200
    before = len(audit_events(corpus, "logout"))
    out = client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert 'archiver_session=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
    assert client.get("/articles/story-hi").status_code == 303
    events = audit_events(corpus, "logout")
    assert len(events) == before + 1 and events[-1]["role"] == "editor"
    # The old cookie, replayed, is worth nothing: the session is gone on the server.
    replay = TestClient(app, follow_redirects=False, cookies={"archiver_session": session_id})
    assert replay.get("/articles/story-hi").status_code == 303


def test_sessions_expire(app: Any, corpus: pc.Corpus) -> None:
    client = client_for(app, corpus, "compliance")
    session_id = client.cookies["archiver_session"]
    assert client.get("/search").status_code == 200
    digest = hashlib.sha256(session_id.encode()).hexdigest()
    corpus.runtime.catalog.execute("UPDATE web_sessions SET expires_at = ? WHERE session_hash = ?",
                                   [int(time.time()) - 1, digest])
    assert client.get("/search").status_code == 303


def test_the_cookie_is_secure_over_https(app: Any, corpus: pc.Corpus) -> None:
    client = TestClient(app, base_url="https://archive.example", follow_redirects=False)
    ok = client.post("/login", data={"token": corpus.tokens["compliance"], "next": "/"})
    assert ok.status_code == 303 and "; secure" in session_cookie(ok).lower()


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Referer": "https://evil.example/page"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "http://testserver.evil.example"}])
def test_forms_from_other_sites_are_refused(app: Any, corpus: pc.Corpus, headers: dict[str, str]) -> None:
    # Login CSRF (signing a victim in as someone else) and logout CSRF: refused before anything is read.
    client = client_for(app, corpus, None)
    r = client.post("/login", data={"token": corpus.tokens["admin"], "next": "/"}, headers=headers)
    assert r.status_code == 403 and "cross-site" in r.json()["detail"]
    assert "archiver_session" not in r.headers.get("set-cookie", "")
    signed_in = client_for(app, corpus, "editor")
    csrf = csrf_of(signed_in.get("/search").text)
    assert signed_in.post("/logout", data={"csrf": csrf}, headers=headers).status_code == 403
    assert signed_in.get("/search").status_code == 200  # still signed in


def test_forms_from_this_site_are_accepted(app: Any, corpus: pc.Corpus) -> None:
    client = client_for(app, corpus, None)
    for headers in ({"Origin": "http://testserver"}, {"Referer": "http://testserver/login?next=/"},
                    {"Origin": "https://archive.example", "Sec-Fetch-Site": "same-origin"}):  # public_base_url's
        r = client.post("/login", data={"token": corpus.tokens["admin"], "next": "/"}, headers=headers)
        assert r.status_code == 303, (headers, r.text)


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(app: Any, corpus: pc.Corpus, target: str) -> None:
    r = client_for(app, corpus, None).post("/login", data={"token": corpus.tokens["admin"], "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_a_publisher_token_opens_no_page(app: Any, corpus: pc.Corpus) -> None:
    client = client_for(app, corpus, "publisher")
    for path in ("/search?q=x", f"/posts/twitter/{pc.HINDI_ID}", "/articles/story-hi"):
        r = client.get(path)
        assert r.status_code == 403 and "Not allowed" in r.text


def test_bearer_tokens_work_too(app: Any, corpus: pc.Corpus) -> None:
    client = TestClient(app, follow_redirects=False)
    r = client.get("/articles/story-hi", headers={"Authorization": f"Bearer {corpus.tokens['admin']}"})
    assert r.status_code == 200


def test_pages_carry_a_strict_csp(compliance: TestClient) -> None:
    r = compliance.get("/")
    assert r.status_code == 200
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "script-src" not in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    css = compliance.get("/static/archiver.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


# --- search ----------------------------------------------------------------------------------------
def test_a_hindi_search_shows_the_post_with_its_language_and_articles(compliance: TestClient,
                                                                     corpus: pc.Corpus) -> None:
    before = len(audit_events(corpus, "search"))
    r = compliance.get("/search", params={"q": "जयशंकर"})
    assert r.status_code == 200
    page = r.text
    assert pc.HINDI_EDITED in html.unescape(page)  # the latest capture's text
    assert re.search(r'<p class="post-text" dir="auto" lang="hi">', page)
    assert f'href="/posts/twitter/{pc.HINDI_ID}"' in page
    assert 'href="/articles/story-hi"' in page and 'href="/articles/story-ar"' in page
    assert re.search(r'<img class="thumb" src="/evidence/derived/[0-9a-f]{64}/thumb.webp"', page)
    assert pc.ARABIC_TEXT not in page
    events = audit_events(corpus, "search")
    assert len(events) == before + 1
    last = events[-1]
    assert last["result_count"] == 1 and last["actor"] == "compliance user" and "जयशंकर" in last["detail"]


def test_search_by_handle_and_status_and_arabic_text(compliance: TestClient) -> None:
    r = compliance.get("/search", params={"handle": "@AlJazeera", "status": "archived"})
    assert r.status_code == 200
    assert pc.ARABIC_TEXT in r.text and pc.ARABIC_NAME in r.text
    assert '<p class="post-text" dir="auto" lang="ar">' in r.text
    assert pc.HINDI_TEXT not in r.text


def test_search_form_errors_are_shown_not_raised(compliance: TestClient, corpus: pc.Corpus) -> None:
    before = len(audit_events(corpus, "search"))
    r = compliance.get("/search", params={"q": "x", "posted_from": "15/07/2025", "status": "<script>"})
    assert r.status_code == 400
    assert "expected a date" in r.text and "status: expected one of" in r.text
    assert "<script>" not in r.text
    assert len(audit_events(corpus, "search")) == before  # nothing was searched


def test_an_empty_form_searches_nothing(compliance: TestClient, corpus: pc.Corpus) -> None:
    before = len(audit_events(corpus, "search"))
    r = compliance.get("/")
    assert r.status_code == 200 and 'name="q"' in r.text and "post-text" not in r.text
    assert len(audit_events(corpus, "search")) == before


def test_hostile_post_fields_are_escaped_in_search_results(compliance: TestClient) -> None:
    for params in ({"handle": "evil_handle"}, {"q": "forged"}):
        page = compliance.get("/search", params=params).text
        assert_no_hostile_markup(page)
    evil = compliance.get("/search", params={"handle": "evil_handle"}).text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in evil
    assert "&lt;b onmouseover=alert(3)&gt;Evil&lt;/b&gt;" in evil
    forged = compliance.get("/search", params={"q": "forged"}).text
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in forged and "&lt;svg onload=alert(5)&gt;" in forged


# --- a post ----------------------------------------------------------------------------------------
def test_post_page_shows_every_capture_the_edit_hashes_and_provenance(compliance: TestClient,
                                                                      corpus: pc.Corpus) -> None:
    rt = corpus.runtime
    before = len(audit_events(corpus, "view"))
    r = compliance.get(f"/posts/twitter/{pc.HINDI_ID}")
    assert r.status_code == 200
    page = r.text
    rows = rt.catalog.captures("twitter", pc.HINDI_ID)
    assert len(rows) == 2
    for row in rows:
        assert f'id="capture-{row["capture_id"]}"' in page
        assert f'href="/evidence/{row["manifest_key"]}"' in page
    newest = max(rows, key=lambda row: row["captured_at"])
    manifest = json.loads(rt.store.get(newest["manifest_key"]))
    assert f'href="/evidence/{manifest["warc"]}"' in page
    for medium in manifest["media"]:
        assert medium["sha256"] in page
    for source in manifest["sources"]:
        if source["response_sha256"]:
            assert source["response_sha256"] in page
        assert html.escape(source["request_url"]) in page
    # The edit: the words added between the two captures are marked as inserted.
    assert "<ins>रूसी विदेश मंत्री </ins>" in page or "<ins>रूसी विदेश मंत्री</ins>" in page
    assert 'lang="hi"' in page and 'href="/articles/story-hi"' in page and 'href="/articles/story-ar"' in page
    events = audit_events(corpus, "view")
    assert len(events) == before + 1 and events[-1]["target"] == f"post:twitter/{pc.HINDI_ID}"


def test_post_page_shows_the_card_in_a_sandboxed_frame_when_there_is_one(compliance: TestClient,
                                                                          corpus: pc.Corpus) -> None:
    rt = corpus.runtime
    row = rt.catalog.captures("twitter", pc.ARABIC_ID)[0]
    card = row["manifest_key"].removesuffix(".json") + ".card.html"
    if not rt.store.exists(card):
        rt.store.put(card, b"<!DOCTYPE html><p>card</p>", content_type="text/html; charset=utf-8")
    page = compliance.get(f"/posts/twitter/{pc.ARABIC_ID}").text
    assert f'<iframe class="card-frame" src="/evidence/{card}" sandbox=""' in page
    assert compliance.get(f"/evidence/{card}").headers["content-security-policy"].endswith("sandbox")


@pytest.mark.parametrize("post_id", [pc.EVIL_ID, pc.FORGED_ID])
def test_hostile_post_fields_are_escaped_on_the_post_page(compliance: TestClient, post_id: str) -> None:
    r = compliance.get(f"/posts/twitter/{post_id}")
    assert r.status_code == 200
    assert_no_hostile_markup(r.text)


@pytest.mark.parametrize("path", ["/posts/twitter/999", "/posts/Bad!/1", "/posts/twitter/..",
                                  "/articles/nope", "/articles/story-hi/versions/9"])
def test_unknown_things_are_404_pages(compliance: TestClient, path: str) -> None:
    r = compliance.get(path)
    assert r.status_code == 404


# --- an article ------------------------------------------------------------------------------------
def test_article_page_lists_versions_embeds_and_images(compliance: TestClient, corpus: pc.Corpus) -> None:
    r = compliance.get("/articles/story-hi")
    assert r.status_code == 200
    page = r.text
    assert 'href="/articles/story-hi/versions/1"' in page
    assert f'href="/posts/twitter/{pc.HINDI_ID}"' in page and f'href="/posts/twitter/{pc.EVIL_ID}"' in page
    assert "https://archive.example/media/posts/twitter/" in page  # stable URLs of the snapshots
    assert page.count('class="badge status-archived"') >= 4
    assert re.search(r'<img class="thumb" src="/evidence/derived/[0-9a-f]{64}/thumb.webp"', page)
    assert 'id="health"' not in page
    assert_no_hostile_markup(page)
    assert "%22%3E%3Cscript%3Ealert(6)" in page
    assert audit_events(corpus, "view")[-1]["target"] == "article:story-hi"


def test_article_version_is_served_as_inert_text(compliance: TestClient, corpus: pc.Corpus) -> None:
    r = compliance.get("/articles/story-hi/versions/1")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.content == corpus.runtime.store.get("articles/story-hi/v1")


def test_article_page_renders_a_health_block_when_provided(compliance: TestClient, corpus: pc.Corpus) -> None:
    plan_items = {}

    def health(_rt: Any, article_id: str) -> dict[str, Any]:

        plan = load_plan(corpus.runtime, article_id)
        plan_items.update({it.item_id: {"state": "dead", "checked_at": "2025-08-01T00:00:00Z",
                                        "detail": "<b>404</b>"} for it in plan.items if it.kind == "embed"})
        return {"state": "dead", "checked_at": "2025-08-01T00:00:00Z", "items": plan_items,
                "restore_url": f"/v1/articles/{article_id}/restore"}

    pages.provide_article_health(health)
    try:
        page = compliance.get("/articles/story-hi").text
    finally:
        pages._health_source.clear()
    assert 'id="health"' in page
    assert '<form method="post" action="/v1/articles/story-hi/restore">' in page
    assert page.count('class="badge status-dead"') >= 3 and "&lt;b&gt;404&lt;/b&gt;" in page


def test_taken_down_posts_stay_visible_to_staff_as_evidence(app: Any, compliance: TestClient,
                                                             corpus: pc.Corpus) -> None:
    rt = corpus.runtime
    principal = authenticate(rt.catalog, corpus.tokens["compliance"])
    set_takedown(rt, principal, "twitter", pc.EVIL_ID, on=True, reason="<script>alert(9)</script> court order")
    manifest_key = rt.catalog.captures("twitter", pc.EVIL_ID)[-1]["manifest_key"]
    public = TestClient(app, follow_redirects=False)
    assert public.get(f"/media/{manifest_key}").status_code == 410
    assert public.get(f"/evidence/{manifest_key}").status_code == 303  # to the login form
    assert client_for(app, corpus, "publisher").get(f"/evidence/{manifest_key}").status_code == 403
    staff = compliance.get(f"/evidence/{manifest_key}")
    assert staff.status_code == 200 and staff.content == rt.store.get(manifest_key)
    assert staff.headers["cache-control"] == "private, no-store"
    assert staff.headers["x-content-type-options"] == "nosniff"
    assert compliance.get("/evidence/articles/story-hi/v1").status_code == 404  # only what /media/ would serve
    page = compliance.get(f"/posts/twitter/{pc.EVIL_ID}").text
    assert "taken down" in page and "&lt;script&gt;alert(9)&lt;/script&gt; court order" in page
    assert_no_hostile_markup(page)
    found = compliance.get("/search", params={"handle": "evil_handle"}).text
    assert 'class="badge status-takedown"' in found
