"""Defects of the web API and pages found against a running `archiver serve`: sign-in after a long link,
damaged stored records, side effects of cookie-authenticated GETs, the publish hook's status URL, strict
types, dates and repeated filters, control characters, takedown reasons by role, and audited reads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from archiver.auth import ROLES, create_token
from archiver.compliance import audit
from archiver.config.settings import load_settings
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan
from archiver.storage.layout import plan_key, result_key
from archiver.testing.fixture_origin import FixtureOrigin
from archiver.web.app import create_app
from tests.apikit import ARTICLE_ID, TWEET, archive_sample, fixture_origin


@dataclass
class Env:
    rt: Runtime
    app: Any
    origin: FixtureOrigin
    tokens: dict[str, str]

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False, raise_server_exceptions=False)

    def signed_in(self, role: str) -> TestClient:
        client = self.client()
        r = client.post("/login", data={"token": self.tokens[role], "next": "/"})
        assert r.status_code == 303, r.text
        return client

    def events(self, action: str) -> list[dict[str, Any]]:
        audit.ensure_schema(self.rt.catalog)
        return self.rt.catalog.query("SELECT action, target, role, detail FROM audit_log WHERE action = ? "
                                     "ORDER BY at", [action])


def _env(home: Path) -> Iterator[Env]:
    with fixture_origin() as origin:
        settings = load_settings(env={}).replace(home=str(home), broker_url="", **origin.settings_overrides())
        rt = Runtime.from_settings(settings)
        app = create_app(settings, rt)
        with TestClient(app):  # runs the app's lifespan (its intake) around the tests
            archive_sample(rt, origin)
            yield Env(rt, app, origin, {role: create_token(rt.catalog, role, f"t-{role}") for role in ROLES})
        rt.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from _env(tmp_path_factory.mktemp("web-defects"))


@pytest.fixture
def own_env(tmp_path: Path) -> Iterator[Env]:
    """An archive of its own, for a test that damages what is stored."""
    yield from _env(tmp_path)


# --- 1. sign-in after a long link ---------------------------------------------------------------------
def test_sign_in_after_following_a_long_link_succeeds(env: Env) -> None:
    word = "क" * 28
    client = env.client()
    first = client.get("/search", params={"q": " ".join([word] * 16)})
    assert first.status_code == 303
    location = first.headers["location"]
    assert location.startswith("/login?")
    nxt = parse_qs(urlsplit(location).query)["next"][0]
    r = client.post("/login", data={"token": env.tokens["editor"], "next": nxt})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/") and not r.headers["location"].startswith("//")
    assert client.get(r.headers["location"]).status_code in (200, 400)


def test_sign_in_with_an_overlong_next_falls_back_to_the_search(env: Env) -> None:
    r = env.client().post("/login", data={"token": env.tokens["editor"], "next": "/search?q=" + "x" * 5000})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"


# --- 2. damaged item results and plans --------------------------------------------------------------
def test_a_damaged_item_result_is_reported_for_its_item_not_a_503(own_env: Env) -> None:
    rt = own_env.rt
    plan = load_plan(rt, ARTICLE_ID)
    broken = plan.items[0].item_id
    rt.store.put(result_key(ARTICLE_ID, plan.source_sha256, broken), b"junk{")
    r = own_env.client().get(f"/v1/articles/{ARTICLE_ID}", headers=own_env.h("editor"))
    assert r.status_code == 200, r.text
    items = {i["item_id"]: i for i in r.json()["items"]}
    assert items[broken]["status"] == "unreadable" and items[broken]["unreadable"] is True
    assert all(i["status"] != "unreadable" for k, i in items.items() if k != broken)
    page = own_env.signed_in("editor").get(f"/articles/{ARTICLE_ID}")
    assert page.status_code == 200, page.text[:500]
    assert "Item result unreadable" in page.text


def test_a_damaged_plan_is_reported_as_such_not_a_503(own_env: Env) -> None:
    rt = own_env.rt
    plan = load_plan(rt, ARTICLE_ID)
    rt.store.put(plan_key(ARTICLE_ID, plan.source_sha256), b"junk{")
    r = own_env.client().get(f"/v1/articles/{ARTICLE_ID}", headers=own_env.h("editor"))
    assert r.status_code == 200, r.text
    assert r.json()["plan"] == {"unreadable": True, "key": plan_key(ARTICLE_ID, plan.source_sha256)}
    assert r.json()["versions"]
    page = own_env.signed_in("editor").get(f"/articles/{ARTICLE_ID}")
    assert page.status_code == 200, page.text[:500]
    assert "Plan record unreadable" in page.text


# --- 3. GETs that do something refuse the session cookie alone ---------------------------------------
def test_the_export_get_refuses_the_session_cookie_and_writes_no_event(env: Env) -> None:
    before = len(env.events("export"))
    r = env.signed_in("compliance").get(f"/v1/posts/twitter/{TWEET}/export")
    assert r.status_code == 401, r.status_code
    assert len(env.events("export")) == before
    ok = env.client().get(f"/v1/posts/twitter/{TWEET}/export", headers=env.h("compliance"))
    assert ok.status_code == 200 and ok.content[:2] == b"PK"


def test_check_now_refuses_the_session_cookie(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.health import originals
    started: list[Any] = []
    real = originals.check
    monkeypatch.setattr(originals, "check", lambda *a, **kw: started.append(a) or real(*a, **kw))
    r = env.signed_in("editor").get(f"/v1/articles/{ARTICLE_ID}/health", params={"check_now": "true"})
    assert r.status_code == 401 and not started
    assert env.signed_in("editor").get(f"/v1/articles/{ARTICLE_ID}/health").status_code == 200
    ok = env.client().get(f"/v1/articles/{ARTICLE_ID}/health", params={"check_now": "true"}, headers=env.h("editor"))
    assert ok.status_code == 200 and started


# --- 4. the publish hook's status URL is one the publisher may read ------------------------------------
def test_the_publish_hooks_status_url_answers_the_publisher(env: Env) -> None:
    client = env.client()
    body = {"article_id": "wire-9", "url": "https://news.example/wire-9", "html": "<p>hello</p>"}
    job = client.post("/v1/articles", json=body, headers=env.h("publisher"))
    assert job.status_code == 202, job.text
    env.app.state.intake.wait_idle()
    status = client.get(job.json()["status_url"], headers=env.h("publisher"))
    assert status.status_code == 200, status.text
    assert status.json()["job_id"] == job.json()["job_id"] and status.json()["article_id"] == "wire-9"
    assert status.json()["status"] and status.json()["current"] is True
    assert client.get("/v1/jobs/wire-9:0000000000000000", headers=env.h("publisher")).status_code == 404


# --- 5. strict integers for a revert ------------------------------------------------------------------
@pytest.mark.parametrize("version", [True, "1", 1.0])
def test_revert_takes_only_a_json_integer(env: Env, version: Any) -> None:
    r = env.client().post(f"/v1/articles/{ARTICLE_ID}/revert", json={"version": version}, headers=env.h("editor"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "version"]


# --- 6. real dates, and every repeated status ---------------------------------------------------------
@pytest.mark.parametrize("since", ["2025-13-45", "2025-02-30", "2025-01-01T25:61"])
def test_audit_since_must_be_a_real_date(env: Env, since: str) -> None:
    r = env.client().get("/v1/audit", params={"since": since}, headers=env.h("compliance"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "since"]
    assert env.client().get("/v1/audit", params={"since": "2025-02-28"}, headers=env.h("compliance")).status_code == 200


def test_the_search_page_takes_every_repeated_status(env: Env) -> None:
    client = env.signed_in("compliance")
    page = client.get("/search", params=[("q", "Lavrov"), ("status", "archived"), ("status", "deleted")])
    assert page.status_code == 200, page.text[:300]
    assert f"/posts/twitter/{TWEET}" in page.text  # the archived post: not lost to the last status
    detail = env.events("search")[-1]["detail"]
    assert "archived" in detail and "deleted" in detail


def test_the_export_form_takes_every_repeated_status(env: Env) -> None:
    client = env.signed_in("compliance")
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get("/exports").text).group(1)
    r = client.post("/exports", data={"csrf": csrf, "q": "Lavrov", "status": ["archived", "deleted"]},
                    headers={"Origin": "http://testserver"})
    assert r.status_code == 200, r.text[:500]
    assert r.content[:2] == b"PK"


# --- 7. what HTML forbids never reaches a page ---------------------------------------------------------
def test_a_nul_in_a_posts_text_never_reaches_the_post_page(own_env: Env) -> None:
    rt = own_env.rt
    row = rt.catalog.post_captures("twitter", TWEET)[0]
    doc = json.loads(rt.store.get(row["manifest_key"]))
    doc["text"] = "before\x00after\x0bvt\x7fdel"
    doc["author"] = {**(doc.get("author") or {}), "name": "name\x00x"}
    rt.store.put(row["manifest_key"], json.dumps(doc).encode())
    page = own_env.signed_in("editor").get(f"/posts/twitter/{TWEET}")
    assert page.status_code == 200, page.text[:300]
    assert not re.search("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]", page.text)
    assert "before\ufffdafter" in page.text and "name\ufffdx" in page.text


# --- 8. a takedown's reason only for the roles the 410 shows it to -------------------------------------
def test_a_takedowns_reason_is_shown_only_to_compliance_and_admin(own_env: Env) -> None:
    reason = "court order 4711 of the district court"
    client = own_env.client()
    r = client.put(f"/v1/posts/twitter/{TWEET}/takedown", json={"reason": reason}, headers=own_env.h("compliance"))
    assert r.status_code == 200, r.text
    for role, shown in (("editor", False), ("compliance", True), ("admin", True)):
        page = own_env.signed_in(role).get(f"/posts/twitter/{TWEET}")
        assert page.status_code == 200 and "taken down" in page.text.lower()
        assert (reason in page.text) is shown, role
        hits = own_env.signed_in(role).get("/search", params={"q": "Lavrov"})
        assert f"/posts/twitter/{TWEET}" in hits.text and (reason in hits.text) is shown, role
        api_post = client.get(f"/v1/posts/twitter/{TWEET}", headers=own_env.h(role)).json()
        # Editors see that it is taken down and since when; who took it down and why, only REASON_ROLES.
        takedown = api_post["compliance"]["takedown"]
        assert takedown["at"] and ("by" in takedown) is shown and (reason in json.dumps(api_post)) is shown, role
        found = client.get("/v1/search", params={"q": "Lavrov"}, headers=own_env.h(role)).json()
        assert found["hits"] and (reason in json.dumps(found)) is shown, role


# --- 9. reads of an article's data are audited as page views are ---------------------------------------
def test_reads_of_articles_versions_diffs_and_evidence_are_audited(env: Env) -> None:
    before = {e["target"] for e in env.events("view")}
    assert env.client().get(f"/v1/articles/{ARTICLE_ID}", headers=env.h("editor")).status_code == 200
    client = env.signed_in("editor")
    assert client.get(f"/articles/{ARTICLE_ID}/versions/1").status_code == 200
    assert client.get(f"/articles/{ARTICLE_ID}/versions/1/diff").status_code == 200
    key = env.rt.catalog.post_captures("twitter", TWEET)[0]["manifest_key"]
    assert client.get("/evidence/" + key).status_code == 200
    assert client.head("/evidence/" + key).status_code == 200
    events = env.events("view")
    targets = [e["target"] for e in events]
    assert f"article:{ARTICLE_ID}" in targets
    assert targets.count(f"article:{ARTICLE_ID}/v1") >= 2
    assert targets.count(f"evidence:{key}") == 1  # the GET, not the HEAD
    assert before != set(targets)
