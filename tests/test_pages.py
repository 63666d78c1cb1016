"""The web pages through FastAPI's TestClient: login and redirects, roles, search, post and article
pages on a real archive, escaping of hostile post fields everywhere, and the audit trail."""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archiver.auth import authenticate, create_token
from archiver.capture.cards.write import write_cards
from archiver.capture.manifest import Manifest, validate_manifest
from archiver.catalog.indexing import index_capture
from archiver.compliance import audit
from archiver.compliance.holds import set_takedown
from archiver.config.settings import load_settings
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from archiver.web.app import create_app
from archiver.web.routes import articles
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


def error_line(r: Any) -> str:
    """The one line of an error page (never the API's JSON on a page's path, never a traceback)."""
    assert r.headers["content-type"].startswith("text/html"), (r.status_code, r.headers, r.text[:200])
    assert f"({r.status_code})" in r.text and "Traceback" not in r.text and 'File "' not in r.text, r.text[:500]
    found = re.findall(r'<p class="error-line">([^<]*)</p>', r.text)
    assert len(found) == 1 and found[0].strip() and "\n" not in found[0], r.text[:500]
    return html.unescape(found[0])


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
    assert r.status_code == 403 and "cross-site" in error_line(r)
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
    """Signing in with it is refused with the reason (no session that would only ever show 403s); as
    a bearer token on a page it is not allowed either."""
    client = TestClient(app, follow_redirects=False)
    r = client.post("/login", data={"token": corpus.tokens["publisher"], "next": "/"})
    assert r.status_code == 403 and "for the API only" in r.text and "set-cookie" not in r.headers
    bearer = {"Authorization": f"Bearer {corpus.tokens['publisher']}"}
    for path in ("/search?q=x", f"/posts/twitter/{pc.HINDI_ID}", "/articles/story-hi"):
        r = client.get(path, headers=bearer)
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
    # Link health is there from the moment of archiving: nothing checked yet, so every item is unchecked,
    # and a compliance user sees no Restore or Revert button.
    assert 'id="health"' in page and "Not checked yet" in page
    assert page.count('class="badge status-unchecked"') == 5
    assert "Restore" not in page and "Revert" not in page and "/restore" not in page
    assert_no_hostile_markup(page)
    assert "%22%3E%3Cscript%3Ealert(6)" in page
    assert audit_events(corpus, "view")[-1]["target"] == "article:story-hi"


def test_article_version_is_served_as_inert_text(compliance: TestClient, corpus: pc.Corpus) -> None:
    r = compliance.get("/articles/story-hi/versions/1")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.content == corpus.runtime.store.get("articles/story-hi/v1")


def test_article_page_renders_a_health_block_when_provided(app: Any, compliance: TestClient,
                                                            corpus: pc.Corpus) -> None:
    plan_items = {}

    def health(_rt: Any, article_id: str) -> dict[str, Any]:

        plan = load_plan(corpus.runtime, article_id)
        plan_items.update({it.item_id: {"state": "dead", "checked_at": "2025-08-01T00:00:00Z",
                                        "detail": "<b>404</b>"} for it in plan.items if it.kind == "embed"})
        return {"state": "dead", "checked_at": "2025-08-01T00:00:00Z", "items": plan_items,
                "restore_url": f"/v1/articles/{article_id}/restore"}

    previous = list(articles._health_source)
    articles.provide_article_health(health)
    try:
        page = compliance.get("/articles/story-hi").text
        editor_page = client_for(app, corpus, "editor").get("/articles/story-hi").text
    finally:
        articles._health_source[:] = previous
    assert 'id="health"' in page and "Restore" not in page  # compliance never sees the button
    assert '<form method="post" action="/v1/articles/story-hi/restore">' in editor_page
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
    publisher = {"Authorization": f"Bearer {corpus.tokens['publisher']}"}
    assert TestClient(app).get(f"/evidence/{manifest_key}", headers=publisher).status_code == 403
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


# --- navigation by role ------------------------------------------------------------------------------
NAV_RE = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)


def nav_links(page: str) -> dict[str, bool]:
    """The main navigation's links: {href: current?}."""
    found = NAV_RE.search(page)
    assert found, "no navigation"
    return {href: bool(cur) for href, cur in
            re.findall(r'<a href="([^"]+)"( aria-current="page")?>', found.group(1))}


@pytest.mark.parametrize(("role", "links"), [
    ("compliance", ["/search", "/articles", "/health", "/holds", "/exports"]),
    ("admin", ["/search", "/articles", "/health", "/holds", "/exports"]),
    ("editor", ["/search", "/articles", "/health"])])
def test_navigation_reaches_every_page_the_role_may_open_and_marks_the_current_one(
        app: Any, corpus: pc.Corpus, role: str, links: list[str]) -> None:
    client = client_for(app, corpus, role)
    for href in links:
        r = client.get(href)
        assert r.status_code == 200, (role, href, r.status_code)
        nav = nav_links(r.text)
        assert list(nav) == links, (role, href)
        assert [h for h, current in nav.items() if current] == [href], (role, href)
    assert nav_links(client.get(f"/posts/twitter/{pc.HINDI_ID}").text)["/search"] is False
    for href in {"/holds", "/exports"} - set(links):  # what the nav leaves out, the role may not open
        assert client.get(href).status_code == 403


def test_compliance_forms_show_only_for_roles_that_may_press_them(app: Any, corpus: pc.Corpus) -> None:
    forms = ("/hold\"", "/takedown\"", "/export\"")
    officer = client_for(app, corpus, "compliance").get(f"/posts/twitter/{pc.HINDI_ID}").text
    assert all(f'action="/posts/twitter/{pc.HINDI_ID}{f}' in officer for f in forms)
    editor = client_for(app, corpus, "editor")
    page = editor.get(f"/posts/twitter/{pc.HINDI_ID}").text
    assert "Compliance" not in words(page) and 'action="/posts/' not in page
    csrf = csrf_of(page)
    for action, data in (("hold", {"reason": "x"}), ("takedown", {"reason": "x"}), ("export", {})):
        r = editor.post(f"/posts/twitter/{pc.HINDI_ID}/{action}", data={"csrf": csrf, **data})
        assert r.status_code == 403 and "may not" in error_line(r)
    assert corpus.runtime.catalog.query("SELECT held, taken_down FROM post_compliance WHERE post_id = ?",
                                        [pc.HINDI_ID]) in ([], [{"held": 0, "taken_down": 0}])


# --- compliance actions on the post page -----------------------------------------------------------
def state_of(corpus: pc.Corpus, post_id: str) -> dict[str, Any]:
    from archiver.compliance.holds import post_state
    return post_state(corpus.runtime, "twitter", post_id)


def test_hold_and_release_from_the_post_page_are_audited_with_the_user(app: Any, corpus: pc.Corpus) -> None:
    client = client_for(app, corpus, "compliance")
    url = f"/posts/twitter/{pc.ARABIC_ID}"
    csrf = csrf_of(client.get(url).text)
    before = len(audit_events(corpus, "hold"))
    # An empty (or blank) reason: the page again with the error under the form, nothing changed.
    for blank in ("", "   \n\t "):
        r = client.post(f"{url}/hold", data={"csrf": csrf, "reason": blank})
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
        assert 'id="hold-error" role="alert">A reason is required' in r.text and 'aria-invalid="true"' in r.text
        assert state_of(corpus, pc.ARABIC_ID)["hold"] is None and len(audit_events(corpus, "hold")) == before
    too_long = client.post(f"{url}/hold", data={"csrf": csrf, "reason": "x" * 1001})
    assert too_long.status_code == 400 and "at most 1000" in too_long.text
    # No CSRF token: refused, nothing changed.
    assert client.post(f"{url}/hold", data={"reason": "case 7"}).status_code == 403
    assert state_of(corpus, pc.ARABIC_ID)["hold"] is None
    try:
        r = client.post(f"{url}/hold", data={"csrf": csrf, "reason": "  Case 2026-17:\n preserve  "})
        assert r.status_code == 303 and re.fullmatch(rf"{url}\?flash=[\w-]+", r.headers["location"])
        page = client.get(r.headers["location"]).text
        assert '<p class="notice" role="status">Legal hold placed.' in page
        assert "Legal hold since" in words(page) and "Case 2026-17: preserve" in page
        assert 'class="badge status-hold"' in page and f'action="{url}/release"' in page
        assert f'action="{url}/hold"' not in page
        hold = state_of(corpus, pc.ARABIC_ID)["hold"]
        assert hold["reason"] == "Case 2026-17: preserve" and hold["by"] == "compliance user"
        event = audit_events(corpus, "hold")[-1]
        assert event["target"] == f"twitter/{pc.ARABIC_ID}" and event["actor"] == "compliance user"
        assert event["role"] == "compliance" and json.loads(event["detail"])["reason"] == "Case 2026-17: preserve"
        # The holds page lists it: who, when (a readable time), why, linked to the post.
        holds = client.get("/holds").text
        row = next(r for r in re.findall(r"<tr>.*?</tr>", holds, re.S) if pc.ARABIC_ID in r)
        assert f'<a href="{url}">' in row and "compliance user" in row and "Case 2026-17: preserve" in row
        assert '<time class="when" datetime="' in row
        assert pc.ARABIC_ID not in client.get("/holds?show=takedown").text
    finally:
        r = client.post(f"{url}/release", data={"csrf": csrf})
    assert r.status_code == 303 and re.fullmatch(rf"{url}\?flash=[\w-]+", r.headers["location"])
    assert "Legal hold released." in client.get(r.headers["location"]).text
    assert state_of(corpus, pc.ARABIC_ID)["hold"] is None
    assert audit_events(corpus, "release_hold")[-1]["actor"] == "compliance user"
    assert pc.ARABIC_ID not in client.get("/holds").text


def test_takedown_needs_a_reason_hides_the_public_copies_and_lifts(app: Any, corpus: pc.Corpus) -> None:
    client = client_for(app, corpus, "compliance")
    public = TestClient(app, follow_redirects=False)
    url = f"/posts/twitter/{pc.ARABIC_ID}"
    manifest_key = corpus.runtime.catalog.captures("twitter", pc.ARABIC_ID)[-1]["manifest_key"]
    csrf = csrf_of(client.get(url).text)
    r = client.post(f"{url}/takedown", data={"csrf": csrf, "reason": " "})
    assert r.status_code == 400 and 'id="takedown-error" role="alert">A reason is required' in r.text
    assert public.get(f"/media/{manifest_key}").status_code == 200
    try:
        r = client.post(f"{url}/takedown", data={"csrf": csrf, "reason": "<b>court</b> order 5"})
        assert r.status_code == 303 and re.fullmatch(rf"{url}\?flash=[\w-]+", r.headers["location"])
        page = client.get(r.headers["location"]).text
        assert "Taken down: the post's public copies now answer 410 Gone." in words(page)
        assert "&lt;b&gt;court&lt;/b&gt; order 5" in page and "<b>court</b>" not in page
        assert public.get(f"/media/{manifest_key}").status_code == 410
        assert audit_events(corpus, "takedown")[-1]["actor"] == "compliance user"
        row = next(r for r in re.findall(r"<tr>.*?</tr>", client.get("/holds?show=takedown").text, re.S)
                   if pc.ARABIC_ID in r)
        assert "&lt;b&gt;court&lt;/b&gt; order 5" in row
    finally:
        r = client.post(f"{url}/lift-takedown", data={"csrf": csrf})
    assert r.status_code == 303 and "Takedown lifted: the post's public copies are served again." in \
        words(client.get(r.headers["location"]).text)
    assert public.get(f"/media/{manifest_key}").status_code == 200
    assert audit_events(corpus, "restore_public")[-1]["actor"] == "compliance user"


def test_the_notice_is_a_fixed_text_a_link_cannot_choose(compliance: TestClient) -> None:
    page = compliance.get(f"/posts/twitter/{pc.HINDI_ID}", params={"done": "<script>alert(1)</script>"}).text
    assert 'class="notice"' not in page and "<script>alert(1)" not in page


def test_compliance_forms_for_unknown_posts_are_404_pages(compliance: TestClient) -> None:
    csrf = csrf_of(compliance.get("/search").text)
    for action in ("hold", "release", "takedown", "lift-takedown", "export"):
        r = compliance.post(f"/posts/twitter/999/{action}", data={"csrf": csrf, "reason": "x"})
        assert r.status_code == 404 and error_line(r)


def test_evidence_downloaded_from_the_post_page_verifies(app: Any, corpus: pc.Corpus, tmp_path: Any) -> None:
    from archiver.compliance.evidence import verify_bundle
    from archiver.compliance.signing import create_key, key_path

    path = key_path(corpus.settings.home_path)
    info = create_key(path, force=path.exists())
    client = client_for(app, corpus, "compliance")
    csrf = csrf_of(client.get(f"/posts/twitter/{pc.HINDI_ID}").text)
    r = client.post(f"/posts/twitter/{pc.HINDI_ID}/export", data={"csrf": csrf})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="evidence-twitter-{pc.HINDI_ID}.wacz"'
    assert r.headers["x-archiver-signed-by"] == info.fingerprint
    bundle = tmp_path / "evidence.wacz"
    bundle.write_bytes(r.content)
    result = verify_bundle(bundle, public_key=info.pem.encode())
    assert result.ok and result.problems == [] and result.captures == 2 and result.signed_by == info.fingerprint
    event = audit_events(corpus, "export")[-1]
    assert event["actor"] == "compliance user" and pc.HINDI_ID in event["target"]
    assert json.loads(event["detail"]).get("via") == "web"
    exports = client.get("/exports").text  # the exports page lists it
    assert f"twitter/{pc.HINDI_ID}" in exports and "compliance user" in exports


def test_a_search_exported_from_the_exports_page(app: Any, corpus: pc.Corpus, tmp_path: Any) -> None:
    from archiver.compliance.evidence import verify_bundle

    client = client_for(app, corpus, "compliance")
    found = client.get("/search", params={"q": "जयशंकर"}).text
    link = html.unescape(re.search(r'href="(/exports\?[^"]+)"', found).group(1))
    form = client.get(link).text
    assert 'value="जयशंकर"' in form
    csrf = csrf_of(form)
    r = client.post("/exports", data={"csrf": csrf, "q": "जयशंकर"})
    unsigned = "-unsigned" if r.headers["x-archiver-signed-by"] == "unsigned" else ""  # a key exists or not
    assert r.status_code == 200 and f'filename="evidence-search{unsigned}.wacz"' in r.headers["content-disposition"]
    (tmp_path / "s.wacz").write_bytes(r.content)
    assert verify_bundle(tmp_path / "s.wacz").captures == 2
    for data, message in (({}, "searches nothing"), ({"q": '"unbalanced'}, "quote"),
                          ({"q": "nothingmatchesthisword"}, "finds no post")):
        again = client.post("/exports", data={"csrf": csrf, **data})
        assert again.status_code == 400 and message in again.text and "Traceback" not in again.text


def test_the_holds_page_is_paged(compliance: TestClient) -> None:
    assert "There is no page 50" in compliance.get("/holds?page=50").text
    for bad in ("/holds?page=0", "/holds?page=-1", "/holds?page=x"):
        r = compliance.get(bad)
        assert r.status_code == 422 and error_line(r)
    r = compliance.get("/holds?show=nope")
    assert r.status_code == 400 and error_line(r) == 'unknown show "nope": use one of all, hold, takedown'


# --- errors: pages on the UI's paths, JSON on the API's ------------------------------------------
@pytest.mark.parametrize(("path", "status", "says"), [
    ("/no/such/page", 404, "There is no page at this address."), ("/posts/twitter/999", 404, "no capture"),
    ("/search?page=0", 422, "page: Input should be greater than or equal to 1"),
    ("/search?page=-3", 422, "page:"), ("/search?page=99999999", 422, "page: Input should be less than"),
    ("/search?page=2x", 422, "page: Input should be a valid integer"),
    ("/articles/story-hi/versions/two", 422, "number:"),
    ("/holds?show=%3Cscript%3E", 400, 'unknown show "<script>": use one of all, hold, takedown')])
def test_page_errors_are_styled_pages_with_one_line(compliance: TestClient, path: str, status: int,
                                                    says: str) -> None:
    r = compliance.get(path)
    assert r.status_code == status, r.text[:300]
    assert says in error_line(r)
    assert "/holds" in nav_links(r.text)  # signed in: the navigation is there
    assert "<script>" not in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_method_the_page_does_not_take_is_a_405_page(compliance: TestClient) -> None:
    for method, path in (("PUT", "/search"), ("GET", f"/posts/twitter/{pc.HINDI_ID}/hold"), ("DELETE", "/holds")):
        r = compliance.request(method, path)
        assert r.status_code == 405 and error_line(r) == f"This address does not take a {method} request."
        assert r.headers["allow"]


def test_an_unknown_path_signed_out_is_a_404_page_without_navigation(app: Any, corpus: pc.Corpus) -> None:
    r = client_for(app, corpus, None).get("/wp-admin/<x>")
    assert r.status_code == 404 and error_line(r) and not NAV_RE.search(r.text)
    assert 'href="/login"' in r.text


def test_a_too_long_or_bad_query_is_one_line_on_the_search_page(compliance: TestClient) -> None:
    for q, says in (("x" * 501, "500 characters"), ('"unbalanced', "quote")):
        r = compliance.get("/search", params={"q": q})
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
        errors = re.findall(r'<div class="error" role="alert"><ul>(.*?)</ul></div>', r.text, re.S)
        assert len(errors) == 1 and says in html.unescape(errors[0]), errors
        assert 'open>' in r.text or "syntax-help" not in r.text  # the syntax help is opened beside the error


def test_the_search_form_sorts_and_explains_its_syntax(compliance: TestClient) -> None:
    page = compliance.get("/search", params={"provider": "twitter", "sort": "posted"}).text
    assert '<option value="posted" selected>Newest posted</option>' in page
    assert '<summary>Search syntax</summary>' in page and "from:handle" in page
    posted = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in
              re.findall(r'<dt>Posted</dt><dd><time class="when" datetime="([^"]+)"', page)]
    assert len(posted) >= 3 and posted == sorted(posted, reverse=True)  # newest posted first
    bad = compliance.get("/search", params={"q": "x", "sort": "sideways"})
    assert bad.status_code == 400 and "sort" in bad.text.lower()


def test_a_body_over_its_cap_on_a_page_path_is_a_413_page(compliance: TestClient, corpus: pc.Corpus) -> None:
    big = "x" * (corpus.settings.max_request_bytes + 10)
    r = compliance.post(f"/posts/twitter/{pc.HINDI_ID}/hold", content=big,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and "too large" in error_line(r)
    api = compliance.put(f"/v1/posts/twitter/{pc.HINDI_ID}/hold", content=big,
                         headers={"Authorization": f"Bearer {corpus.tokens['compliance']}",
                                  "Content-Type": "application/json"})
    assert api.status_code == 413 and "too large" in api.json()["detail"]


def test_an_internal_error_is_a_page_with_an_error_id_that_the_log_records(
        corpus: pc.Corpus, caplog: pytest.LogCaptureFixture) -> None:
    """A fault inside a page route (here: the post page's manifest reader fails in a way nobody
    foresaw) is a 500 page with an error id and no traceback; the log has the id and the traceback.
    The same fault on the API's path is the API's JSON."""
    from archiver.web.routes import pages

    app = create_app(corpus.settings, runtime=corpus.runtime)
    client = client_for(app, corpus, "compliance")
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False, cookies=client.cookies)
    original = pages._manifest

    def broken(_rt: Any, _key: Any) -> dict[str, Any]:
        raise RuntimeError("secret internals at /srv/archive")

    pages._manifest = broken  # type: ignore[assignment]
    try:
        with caplog.at_level("ERROR", logger="archiver.web.errors"):
            r = client.get(f"/posts/twitter/{pc.HINDI_ID}")
    finally:
        pages._manifest = original  # type: ignore[assignment]
    assert r.status_code == 500 and "internal error" in error_line(r)
    error_id = re.search(r'<code class="error-id">([0-9a-f]{12})</code>', r.text).group(1)
    assert "secret internals" not in r.text and "RuntimeError" not in r.text and "/srv/archive" not in r.text
    logged = [rec for rec in caplog.records if error_id in rec.getMessage()]
    assert logged and logged[0].exc_info and "secret internals" in str(logged[0].exc_info[1])


@pytest.mark.parametrize(("path", "status"), [
    ("/v1/nope", 404), ("/v1/search?limit=0", 422), ("/media/nope", 404), ("/.well-known/nope", 404),
    ("/v1/posts/twitter/999", 404)])
def test_api_paths_keep_json_errors(app: Any, corpus: pc.Corpus, path: str, status: int) -> None:
    client = client_for(app, corpus, "compliance")
    r = client.get(path, headers={"Authorization": f"Bearer {corpus.tokens['compliance']}",
                                  "Accept": "text/html"})  # Accept changes nothing: the path decides
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert r.json()["detail"]


# --- HEAD wherever GET works on the stored copies, capture pages and static files --------------------
HEAD_PREFIXES = ("/media/", "/evidence/", "/static/", "/.well-known/")


def head_samples(corpus: pc.Corpus) -> dict[str, list[str]]:
    """For each GET route path of those kinds, URLs to try: found, missing and (for stored copies)
    taken down. A new route there needs samples here (the test fails until it has them)."""
    from archiver.storage.layout import capture_page_key

    rt = corpus.runtime
    hindi = rt.catalog.captures("twitter", pc.HINDI_ID)[-1]["manifest_key"]
    evil = rt.catalog.captures("twitter", pc.EVIL_ID)[-1]["manifest_key"]
    page = capture_page_key(hindi)
    blob = rt.catalog.query("SELECT key FROM blobs LIMIT 1")[0]["key"]
    post = f"https://twitter.com/ANI/status/{pc.HINDI_ID}"
    image = rt.catalog.query("SELECT url FROM url_history LIMIT 1")
    image_url = image[0]["url"] if image else "https://example.com/x.jpg"
    return {
        "/media/{key:path}": [f"/media/{hindi}", f"/media/{page}", f"/media/{blob}", "/media/posts/nope.json",
                              f"/media/{evil}"],
        "/evidence/{key:path}": [f"/evidence/{hindi}", f"/evidence/{page}", f"/evidence/{blob}",
                                 "/evidence/posts/nope.json", f"/evidence/{evil}"],
        "/static/archiver.css": ["/static/archiver.css"],
        "/.well-known/archiver-signing-key.pem": ["/.well-known/archiver-signing-key.pem"],
        "/.well-known/archiver-signing-keys.json": ["/.well-known/archiver-signing-keys.json"],
        "/media/timegate/{rest:path}": [f"/media/timegate/{post}", "/media/timegate/https://nope.example/"],
        "/media/timemap/link/{rest:path}": [f"/media/timemap/link/{post}", "/media/timemap/link/https://no.example/"],
        "/media/memento/{when}/{rest:path}": [f"/media/memento/20250716000000/{image_url}",
                                              "/media/memento/20250716000000/https://nope.example/x.jpg"],
        "/healthz": ["/healthz"],
    }


def get_routes(app: Any) -> set[str]:
    def routes(items: list) -> Iterator:
        for route in items:  # FastAPI keeps an included router as one entry holding the original
            nested = getattr(route, "original_router", None)
            yield from routes(nested.routes) if nested is not None else (route,)
    return {r.path for r in routes(app.routes) if "GET" in (getattr(r, "methods", None) or ())
            and (r.path.startswith(HEAD_PREFIXES) or r.path == "/healthz")}


def test_head_answers_as_get_does_on_every_copy_capture_page_and_static_route(
        app: Any, corpus: pc.Corpus) -> None:
    set_takedown(corpus.runtime, None, "twitter", pc.EVIL_ID, on=True, reason="head test")  # some 410s
    samples = head_samples(corpus)
    paths = get_routes(app)
    assert paths and paths <= set(samples), f"GET routes without HEAD samples: {paths - set(samples)}"
    statuses = set()
    for who in (client_for(app, corpus, "compliance"), TestClient(app, follow_redirects=False)):
        for route in sorted(paths):
            for url in samples[route]:
                got, head = who.get(url), who.head(url)
                statuses.add(got.status_code)
                assert head.status_code == got.status_code, (url, got.status_code, head.status_code)
                assert head.content == b"", url
                skip = {"date", "set-cookie", "content-length"}
                assert {k: v for k, v in head.headers.items() if k not in skip} == \
                       {k: v for k, v in got.headers.items() if k not in skip}, url
                if "content-length" in got.headers:
                    assert head.headers.get("content-length") == got.headers["content-length"] \
                           == str(len(got.content)), url
    assert {200, 404, 410} <= statuses


# --- what manifest v2 adds: statuses, source texts, cards, polls, counts, edits, media, missing -------
EARLY_ID, LATEST_ID, GONE_ID, ODD_ID = "1850000000000000003", "1850000000000000004", "1850000000000000005", \
    "1850000000000000006"
EARLY_CID, LATEST_CID, GONE_CID, ODD_CID = ("20250715T091233Z-0000e001", "20250715T091234Z-0000e002",
                                            "20250715T091235Z-0000e003", "20250715T091236Z-0000e004")
PREVIEW_TEXT = "Our coastal survey results are in, and the findings on dune erosion are more serious than"
WHOLE_TEXT = PREVIEW_TEXT + " last year's projections suggested. Over the next decade the northern beaches recede."
EVIL = '<script>alert("v2")</script>'
PIPE_FIRST_ID, PIPE_LATEST_ID = "1850000000000000201", "1850000000000000202"


def v2_manifest(post_id: str, capture_id: str, status: str, text: str | None, **fields: Any) -> dict[str, Any]:
    m = Manifest.new(provider="twitter", post_id=post_id, capture_id=capture_id,
                     captured_at=datetime.strptime(capture_id[:16] + "+0000", "%Y%m%dT%H%M%SZ%z"), status=status,
                     url=f"https://twitter.com/coastlab/status/{post_id}").to_json()
    m.update(text=text, text_expanded=text, lang="en", created_at="2025-07-15T09:00:00.000Z", **fields)
    m["author"].update(name="Coast Lab", handle="coastlab")
    return m


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def v2(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An archive of v2 captures stored and indexed as a capture does it: a stale version of an edited
    post (partial, with every v2 part) and its latest version, a suspended account's post whose text is
    a preview, and a capture with hostile v2 fields."""
    home = tmp_path_factory.mktemp("pages-v2")
    catalog = (fresh_pg_dsn(request.getfixturevalue("postgres_dsn")) if request.param == "postgres"
               else f"sqlite:///{home / 'catalog.sqlite3'}")
    tweets = [TweetFixture(id=PIPE_LATEST_ID, handle="CoastLab", name="Coast Lab",
                           text="Beach open from 9:30 (corrected).", edit_ids=[PIPE_FIRST_ID, PIPE_LATEST_ID]),
              TweetFixture(id=PIPE_FIRST_ID, handle="CoastLab", name="Coast Lab", text="Beach open from 9.",
                           edit_ids=[PIPE_FIRST_ID, PIPE_LATEST_ID])]
    with FixtureOrigin(tweets=tweets) as origin:
        settings = load_settings(env={}).replace(home=str(home), catalog=catalog, capture_fresh_for=0,
                                                 public_base_url="https://archive.example/media",
                                                 **origin.settings_overrides())
        rt = Runtime.from_settings(settings)
        article = ('<html><body><p>Beach news</p><blockquote class="twitter-tweet"><p lang="en">Beach open from 9.'
                   '</p>&mdash; Coast Lab (@CoastLab) <a href="https://twitter.com/CoastLab/status/'
                   f'{PIPE_FIRST_ID}">July 15, 2025</a></blockquote></body></html>').encode()
        archive(rt, article, article_id="story-edit", url="https://news.example/beach")
    photo = {"type": "photo", "status": "archived", "sha256": "ab" * 32, "key": f"blobs/sha256/ab/{'ab' * 32}",
             "mime": "image/jpeg", "bytes": 1000, "width": 4096, "height": 2304, "duration": None,
             "original_url": "https://pbs.twimg.com/media/GxAbC?format=jpg&name=orig", "alt_text": None,
             "variant": "4096x4096", "degraded": True,
             "availability": {"status": "Available", "reason": "Geoblocked"},
             "sensitive_warning": {"adult_content": True, "graphic_violence": False, "other": False},
             "source_status_id": "1840000000000000009"}
    early = v2_manifest(
        EARLY_ID, EARLY_CID, "partial", WHOLE_TEXT, text_complete=True, error="one photo is missing",
        texts=[{"source": "syndication", "text": PREVIEW_TEXT + " …", "complete": False},
               {"source": "oembed", "text": WHOLE_TEXT, "complete": True}],
        edit={"edit_ids": [EARLY_ID, LATEST_ID], "is_edited": True, "is_latest": False, "is_stale": True,
              "initial_id": EARLY_ID},
        latest_edit={"post_id": LATEST_ID, "url": None, "capture_id": LATEST_CID,
                     "manifest_key": f"posts/twitter/{LATEST_ID}/{LATEST_CID}.json", "status": "archived"},
        media=[photo],
        card={"name": "summary_large_image", "url": "https://t.co/Qw3rTy7uIo",
              "expanded_url": "https://coast.example.org/survey", "title": "Dune erosion survey 2025",
              "description": "Annual results for the northern coast.", "domain": "coast.example.org"},
        poll={"name": "poll2choice_text_only", "choices": [{"label": "Trains", "count": 412},
                                                            {"label": "Buses", "count": 198}],
              "end_datetime": "2025-07-16T09:00:00Z", "counts_are_final": True},
        metrics={"read_at": "2025-07-15T09:12:33.000Z", "favorite_count": 1234, "conversation_count": 56},
        entities={"mentions": [{"handle": "HarbourFerries", "id": "44000001", "name": "Harbour Ferries"}],
                  "hashtags": ["DuneWatch"],
                  "urls": [{"url": "https://t.co/Qw3rTy7uIo", "expanded_url": "https://coast.example.org/survey",
                            "display_url": "coast.example.org/survey"}]},
        missing=[{"part": "photo", "ref": "https://pbs.twimg.com/media/GxMiSsInG?format=jpg&name=orig",
                  "reason": "every size answered HTTP 404"}])
    latest = v2_manifest(LATEST_ID, LATEST_CID, "archived", WHOLE_TEXT + " (edited)", text_complete=True,
                         edit={"edit_ids": [EARLY_ID, LATEST_ID], "is_edited": True, "is_latest": True,
                               "is_stale": False},
                         referenced_by=[{"capture_id": EARLY_CID, "relation": "latest_edit"}])
    gone = v2_manifest(GONE_ID, GONE_CID, "suspended", "Harbour closing early today", text_complete=False,
                       error="the account is suspended", tombstone="This Post is from a suspended account.",
                       interstitial="This Post may include sensitive content.", withheld_in_countries=["DE"],
                       edit={"edit_ids": [GONE_ID], "is_edited": False, "is_latest": True, "is_stale": False})
    odd = v2_manifest(ODD_ID, ODD_CID, "partial", "odd capture", text_complete=False, error=EVIL,
                      texts=[{"source": EVIL, "text": EVIL, "complete": False}],
                      card={"name": "summary", "title": EVIL, "description": EVIL, "domain": EVIL,
                            "expanded_url": "javascript:alert(1)"},
                      poll={"name": "poll", "choices": [{"label": EVIL, "count": 1}]},
                      entities={"mentions": [{"handle": EVIL, "name": EVIL}], "hashtags": [EVIL],
                                "urls": [{"url": "javascript:alert(2)", "display_url": EVIL}]},
                      missing=[{"part": EVIL, "ref": "javascript:alert(3)", "reason": EVIL}],
                      edit={"edit_ids": [EVIL, "../x"], "is_edited": True, "is_latest": False, "is_stale": True},
                      media=[{**photo, "variant": EVIL, "availability": {"status": "Unavailable", "reason": EVIL}}],
                      referenced_by=[{"capture_id": EARLY_CID, "relation": "latest_edit"}])
    for m in (early, latest, gone, odd):
        validate_manifest(m)
        key = f"posts/twitter/{m['post_id']}/{m['capture_id']}.json"
        rt.store.put(key, json.dumps(m).encode(), content_type="application/json")
        write_cards(rt.store, m)
        index_capture(rt, key, m)
    app = create_app(settings, runtime=rt)
    client = TestClient(app, follow_redirects=False)
    token = create_token(rt.catalog, "compliance", "compliance user")
    assert client.post("/login", data={"token": token, "next": "/"}).status_code == 303
    yield {"client": client, "runtime": rt}
    rt.close()


def words(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded, blanks collapsed."""
    return re.sub(r" ([:.,;)])", r"\1", " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split()))


def test_post_page_says_what_each_source_said_and_every_v2_part(v2: dict[str, Any]) -> None:
    page = v2["client"].get(f"/posts/twitter/{EARLY_ID}").text
    seen = words(page)
    assert "What each source said" in seen
    assert f"syndication preview {PREVIEW_TEXT} …" in seen and f"oembed whole text {WHOLE_TEXT}" in seen
    # Status in plain words with the reason; the missing part with its reason.
    assert "The post was archived in part: one photo is missing." in seen
    assert "Reason: one photo is missing" not in seen  # the provider's reason, already said
    assert "Missing parts photo https://pbs.twimg.com/media/GxMiSsInG?format=jpg&name=orig: every size " \
           "answered HTTP 404" in seen
    # The medium: which size was stored, and the platform's flags.
    assert "stored at 4096x4096, not the original" in seen and "geoblocked" in seen
    assert "the platform warns it is sensitive: adult content" in seen
    assert "first posted in post 1840000000000000009" in seen
    # Link card, poll, counts with their read time, entities.
    assert "Dune erosion survey 2025" in seen and "Annual results for the northern coast." in seen
    assert '<a href="https://coast.example.org/survey" rel="noreferrer noopener nofollow">' in page
    assert "Trains 412 67.5%" in seen and "Buses 198 32.5%" in seen and "final results" in seen
    assert '<meter min="0" max="610" value="412">' in page
    assert "1234 likes · 56 in the conversation (read at 15 Jul 2025, 09:12 UTC;" in seen
    assert '<time class="when" datetime="2025-07-15T09:12:33Z" title="15 Jul 2025, 09:12:33 UTC">' in page
    assert ('@<bdi>HarbourFerries</bdi></span> (<bdi>Harbour Ferries</bdi>) <span class="muted">id 44000001</span>'
            in page) and "#<bdi>DuneWatch</bdi>" in page


def test_edit_links_go_both_ways_and_say_which_version_the_article_showed(v2: dict[str, Any]) -> None:
    early = v2["client"].get(f"/posts/twitter/{EARLY_ID}").text
    assert "The article showed this version, an earlier one of an edited post." in words(early)
    assert f'<a href="/posts/twitter/{LATEST_ID}#capture-{LATEST_CID}"><code>{LATEST_ID}</code></a>' in early
    latest = v2["client"].get(f"/posts/twitter/{LATEST_ID}").text
    assert "This is the latest version of an edited post. The article showed an earlier version" in words(latest)
    assert f'<a href="/posts/twitter/{EARLY_ID}#capture-{EARLY_CID}"><code>{EARLY_ID}</code></a>' in latest
    # The chain, in order, each linked but this post.
    assert f'<a href="/posts/twitter/{EARLY_ID}"><code>{EARLY_ID}</code></a> <span class="muted">first version' \
           in latest
    assert f"<code>{LATEST_ID}</code> <span class=\"muted\">latest version</span> <strong>this post</strong>" in latest


def test_gone_posts_and_previews_are_said_in_plain_words_on_the_page_and_in_search(v2: dict[str, Any]) -> None:
    client = v2["client"]
    seen = words(client.get(f"/posts/twitter/{GONE_ID}").text)
    assert "The post is from a suspended account. This is what the article showed. Reason: the account is " \
           "suspended" in seen
    assert "The platform shows a warning before this post: “This Post may include sensitive content.”" in seen
    assert "Withheld by the platform in: Germany (DE)." in seen
    assert "Preview: the platform did not give the whole text." in seen
    # A post never edited (its chain is itself) has no edit section; an edited one has.
    assert "<h3>Edits</h3>" not in client.get(f"/posts/twitter/{GONE_ID}").text
    assert "<h3>Edits</h3>" in client.get(f"/posts/twitter/{EARLY_ID}").text
    found = client.get("/search", params={"q": "harbour closing"}).text
    assert "from a suspended account" in words(found) and "preview the platform did not give the whole text" in \
        words(found)
    whole = client.get("/search", params={"q": "beaches"}).text
    assert "did not give the whole text" not in whole and "archived in part" in words(whole)
    # A card title and a poll label find their posts from the search page too.
    assert f'href="/posts/twitter/{EARLY_ID}"' in client.get("/search", params={"q": "dune erosion survey"}).text
    assert f'href="/posts/twitter/{EARLY_ID}"' in client.get("/search", params={"q": "buses"}).text


def test_hostile_v2_fields_are_escaped_and_never_links(v2: dict[str, Any]) -> None:
    r = v2["client"].get(f"/posts/twitter/{ODD_ID}")
    assert r.status_code == 200
    assert_no_hostile_markup(r.text)
    assert '<script>alert("v2")' not in r.text and "&lt;script&gt;alert(&#34;v2&#34;)&lt;/script&gt;" in r.text
    assert not re.search(r'href="javascript', r.text)
    assert 'href="/posts/twitter/..' not in r.text  # an edit id that is not one is no link
    found = v2["client"].get("/search", params={"q": "odd capture"}).text
    assert_no_hostile_markup(found)


def test_article_page_says_it_showed_an_earlier_version_of_an_edited_post(v2: dict[str, Any]) -> None:
    """Archived through the pipeline: the article embeds a version that is no longer the latest."""
    page = v2["client"].get("/articles/story-edit").text
    assert (f"The post was edited: the article showed an earlier version; the latest version is {PIPE_LATEST_ID}."
            in words(page))
    post = v2["client"].get(f"/posts/twitter/{PIPE_FIRST_ID}").text
    latest = v2["runtime"].catalog.captures("twitter", PIPE_LATEST_ID)
    assert len(latest) == 1
    assert f'<a href="/posts/twitter/{PIPE_LATEST_ID}#capture-{latest[0]["capture_id"]}">' in post
    back = v2["client"].get(f"/posts/twitter/{PIPE_LATEST_ID}").text
    assert f'<a href="/posts/twitter/{PIPE_FIRST_ID}#capture-' in back
