"""The HTTP API in-process: the publish hook (on the local runner and onto a real Redis queue), article status,
search and post views (audit-logged), metrics, JSON errors and the read-only audit log."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from archiver.config.settings import Settings
from archiver.testing.fixture_origin import FixtureOrigin
from tests.apikit import ARTICLE_ID, TWEET, Api, api, archive_sample, article_html, fixture_origin, private_redis_db


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with fixture_origin() as o:
        yield o


@pytest.fixture
def local(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> Iterator[Api]:
    with api(tmp_settings(broker_url="", **origin.settings_overrides())) as a:
        yield a


def _wait(a: Api) -> None:
    a.client.app.state.intake.wait_idle()


def test_publish_hook_on_the_local_runner_is_idempotent_and_archives(local: Api, origin: FixtureOrigin) -> None:
    body = {"article_id": "wire-7", "url": "https://news.example/wire-7", "html": article_html(origin),
            "published_at": "2025-07-15T10:00:00Z"}
    first = local.call("publisher", "POST", "/v1/articles", json=body)
    assert first.status_code == 202, first.text
    job = first.json()
    # "embedded" is the local runner: the JSON value keeps its old name.
    assert job["job_id"].startswith("wire-7:") and job["queued"] and job["mode"] == "embedded"
    _wait(local)
    again = local.call("publisher", "POST", "/v1/articles", json=body).json()
    assert again["job_id"] == job["job_id"] and not again["queued"]

    status = local.call("editor", "GET", "/v1/articles/wire-7").json()
    assert status["published_at"] == "2025-07-15T10:00:00Z"
    assert [v["version"] for v in status["versions"]] == [1]
    assert {i["kind"]: i["status"] for i in status["items"]} == {"embed": "archived", "image": "archived"}
    assert "नई दिल्ली" in status["body"] and "/media/" in status["body"]

    changed = local.call("publisher", "POST", "/v1/articles", json={**body, "html": body["html"] + "<p>x</p>"})
    assert changed.json()["job_id"] != job["job_id"] and changed.json()["queued"]
    _wait(local)


@pytest.mark.parametrize("payload", [
    {"ID": 4711, "post_content": "<p>Hello from WordPress</p>", "guid": "https://cms.example/?p=4711",
     "post_date_gmt": "2025-07-15 10:00:00", "post_status": "publish", "post_author": "3"},
    {"id": 4711, "content": {"raw": "<p>Hello from WordPress</p>", "rendered": "<p>x</p>"},
     "link": "https://cms.example/hello", "date_gmt": "2025-07-15T10:00:00", "status": "publish"},
], ids=["webhook", "rest"])
def test_wordpress_payloads(local: Api, payload: dict) -> None:
    resp = local.call("publisher", "POST", "/v1/articles", json=payload)
    assert resp.status_code == 202, resp.text
    assert resp.json()["article_id"] == "4711"
    _wait(local)
    src = [k for k in local.rt.store.list("articles/4711/sources/")]
    assert len(src) == 1 and local.rt.store.get(src[0]) == b"<p>Hello from WordPress</p>"


@pytest.mark.parametrize(("payload", "code"), [
    ({"html": "<p>no id</p>"}, 400),
    ({"article_id": "x"}, 400),
    ({"article_id": "../etc", "html": "<p>x</p>"}, 400),
    ({"article_id": "ok", "html": "<p>x</p>", "url": "javascript:alert(1)"}, 422),
    ({"article_id": "ok", "html": 5}, 422),
    ({"ID": True, "post_content": "<p>x</p>"}, 422),
    ({"id": False, "content": {"raw": "<p>x</p>"}}, 422),
    ({"ID": 1.5, "post_content": "<p>x</p>"}, 422),
], ids=["no-id", "no-body", "bad-id", "bad-url", "bad-type", "true-id", "false-id", "float-id"])
def test_publish_hook_rejects_bad_input_as_json(local: Api, payload: dict, code: int) -> None:
    resp = local.call("publisher", "POST", "/v1/articles", json=payload)
    assert resp.status_code == code
    assert "detail" in resp.json()


def test_publish_hook_queues_once_on_redis(tmp_settings: Callable[..., Settings], redis_url: str) -> None:
    broker = private_redis_db(redis_url, 14)
    r = redis.Redis.from_url(broker)
    r.flushdb()
    with api(tmp_settings(broker_url=broker)) as a:
        body = {"article_id": "queued-1", "html": "<p>queued</p>", "url": "https://news.example/q"}
        first = a.call("publisher", "POST", "/v1/articles", json=body).json()
        second = a.call("publisher", "POST", "/v1/articles", json=body).json()
        assert first["mode"] == "queue" and first["queued"] and not second["queued"]
        assert first["job_id"] == second["job_id"]
        assert r.llen("archiver") == 1
        message = json.loads(r.lindex("archiver", 0))
        assert message["headers"]["task"] == "archiver.process_article"
        args = json.loads(base64.b64decode(message["body"]))[0]
        assert args[:2] == ["queued-1", first["source_sha256"]]
        assert a.rt.store.get(f"articles/queued-1/sources/{first['source_sha256']}") == b"<p>queued</p>"
        status = a.call("editor", "GET", "/v1/articles/queued-1").json()
        assert status["status"] == "queued" and status["job_id"] == first["job_id"]
        metrics = a.call("admin", "GET", "/metrics").text
        assert 'archiver_queue_depth{queue="archiver"} 1.0' in metrics
    r.flushdb()


@pytest.fixture
def archived(local: Api, origin: FixtureOrigin) -> Api:
    archive_sample(local.rt, origin)
    return local


def test_article_status_unknown_is_404(archived: Api) -> None:
    assert archived.call("editor", "GET", "/v1/articles/nope").status_code == 404
    assert archived.call("editor", "GET", "/v1/articles/..%2F..").status_code in {404, 422}


def test_search_and_post_view_are_audited(archived: Api) -> None:
    found = archived.call("compliance", "GET", "/v1/search", params={"q": "Jaishankar", "provider": "twitter"})
    assert found.status_code == 200, found.text
    data = found.json()
    assert data["total"] >= 1 and data["hits"][0]["post_id"] == TWEET
    assert ARTICLE_ID in data["hits"][0]["articles"]
    view = archived.call("compliance", "GET", f"/v1/posts/twitter/{TWEET}").json()
    assert len(view["manifests"]) == 1 and view["manifests"][0]["manifest"]["post_id"] == TWEET
    assert archived.call("compliance", "GET", "/v1/posts/twitter/999").status_code == 404

    events = archived.call("compliance", "GET", "/v1/audit").json()["events"]
    assert [e["action"] for e in events[:2]] == ["view", "search"]
    search_event = events[1]
    assert search_event["actor"] == "test-compliance" and search_event["target"] == "Jaishankar"
    assert search_event["result_count"] == data["total"] and search_event["detail"]["provider"] == "twitter"
    stored = [k for k in archived.rt.store.list("audit/") if k.endswith(".json")]
    assert len(stored) == 2


def test_search_rejects_bad_params(archived: Api) -> None:
    for params in ({"limit": 0}, {"limit": 10_000}, {"posted_since": "yesterday"}, {"image_sha256": "zz"}):
        resp = archived.call("compliance", "GET", "/v1/search", params=params)
        assert resp.status_code == 422 and resp.json()["detail"]


def test_audit_log_cannot_be_changed(archived: Api) -> None:
    archived.call("compliance", "GET", "/v1/search", params={"q": "x"})
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/v1/audit", "/v1/audit/1"):
            resp = archived.call("admin", method, path, json={})
            assert resp.status_code in {404, 405}, (method, path)
    assert archived.call("admin", "GET", "/v1/audit").json()["events"]


def test_metrics_report_captures_and_fetch_histogram(archived: Api) -> None:
    text = archived.call("editor", "GET", "/metrics").text
    assert 'archiver_captures{status="archived"} 1.0' in text
    assert "# TYPE archiver_fetch_seconds histogram" in text
    # The archived article's fetches went through the fetcher and were timed.
    assert re.search(r'archiver_fetch_seconds_count\{kind="image",outcome="ok"\} [1-9]', text)
    assert "archiver_queue_depth" in text


def test_errors_are_json_never_tracebacks(archived: Api) -> None:
    resp = archived.call("admin", "POST", "/v1/articles", content=b"{not json",
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "Traceback" not in resp.text
    huge = archived.call("publisher", "POST", "/v1/articles", content=b"x",
                         headers={"Content-Length": str(10**12)})
    assert huge.status_code == 413


def test_openapi_description_needs_a_token(archived: Api) -> None:
    assert archived.client.get("/openapi.json").status_code == 401
    assert archived.client.get("/docs").status_code == 404
    spec = archived.call("compliance", "GET", "/openapi.json").json()
    assert "/v1/search" in spec["paths"]


@pytest.mark.parametrize("body", [
    {"article_id": "ok", "html": "<p>SECRET-ARTICLE-TEXT</p>", "url": "javascript:SECRET-URL"},
    {"article_id": "ok", "html": ["SECRET-ARTICLE-TEXT"]},
    {"article_id": "SECRET-" + "x" * 200, "html": "<p>SECRET-ARTICLE-TEXT</p>"},
], ids=["bad-url", "bad-type", "long-id"])
def test_422_names_the_problems_without_echoing_the_body(archived: Api, body: dict) -> None:
    resp = archived.call("publisher", "POST", "/v1/articles", json=body)
    assert resp.status_code == 422
    assert "SECRET" not in resp.text
    problems = resp.json()["detail"]
    assert problems and all(set(p) == {"type", "loc", "msg"} for p in problems)
    assert problems[0]["loc"][0] == "body" and problems[0]["msg"]
    broken = archived.call("publisher", "POST", "/v1/articles", content=b'{"html": "SECRET-ARTICLE-TEXT", ',
                           headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "SECRET" not in broken.text
    nothing = archived.call("compliance", "POST", "/v1/exports", json={})  # the route's own 422, same shape
    assert nothing.status_code == 422 and nothing.json()["detail"][0]["msg"].startswith("nothing to export")


def test_openapi_lists_every_error_with_its_shape(archived: Api) -> None:
    spec = archived.call("compliance", "GET", "/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert set(schemas["ValidationProblem"]["properties"]) == {"type", "loc", "msg"}
    assert schemas["ErrorOut"]["required"] == ["detail"]
    refs = {name: f"#/components/schemas/{name}" for name in ("ErrorOut", "ValidationErrorOut")}
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert len(operations) > 15
    for path, method, op in operations:
        responses = op["responses"]
        public = ("/healthz", "/media/{key}", "/.well-known/archiver-signing-key.pem")
        # /media/: copies, TimeGates, TimeMaps; /.well-known/: the published signing keys
        is_public = path in public or path.startswith(("/media/", "/.well-known/"))
        expected = {"413", "500", "503"} | (set() if is_public else {"401", "403", "422"})
        assert expected <= set(responses), (method, path, sorted(responses))
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref in refs.values() or ref.endswith("TakenDownOut"), (method, path, code, ref)
                assert (ref == refs["ValidationErrorOut"]) == (code == "422"), (method, path, code)
    assert "404" in spec["paths"]["/v1/posts/{provider}/{post_id}/hold"]["put"]["responses"]
    assert "409" in spec["paths"]["/v1/articles/{article_id}/revert"]["post"]["responses"]
    assert "410" in spec["paths"]["/media/{key}"]["get"]["responses"]


def _body_schemas(node: Any, schemas: dict[str, Any], seen: dict[str, Any]) -> None:
    """Every named schema a JSON request body's schema refers to, itself and through its properties,
    items and alternatives, into `seen`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen[name] = schemas[name]
                _body_schemas(schemas[name], schemas, seen)
        for value in node.values():
            _body_schemas(value, schemas, seen)
    elif isinstance(node, list):
        for value in node:
            _body_schemas(value, schemas, seen)


def test_every_json_body_forbids_fields_it_does_not_name(archived: Api) -> None:
    """Each JSON request body the API document describes, and every object inside it, forbids fields it
    does not name (additionalProperties false): a typo is a 422, never a default that widens the action.
    The publish hook alone takes WordPress posts as they come (their many other fields ignored)."""
    spec = archived.call("compliance", "GET", "/openapi.json").json()
    seen: dict[str, Any] = {}
    for item in spec["paths"].values():
        for op in item.values():
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json")
            if body is not None:
                _body_schemas(body["schema"], spec["components"]["schemas"], seen)
    assert {"RestoreIn", "RevertIn", "Reason", "ExportIn", "PostRef", "ArticleIn"} <= set(seen), sorted(seen)
    lax = {name for name, schema in seen.items()
           if schema.get("type") == "object" and schema.get("additionalProperties") is not False}
    assert lax == {"ArticleIn", "WPText"}, lax


@pytest.mark.parametrize(("role", "method", "path", "body", "field"), [
    ("editor", "POST", f"/v1/articles/{ARTICLE_ID}/restore", {"item": ["embed-0"]}, "item"),
    ("editor", "POST", f"/v1/articles/{ARTICLE_ID}/restore", {"items": [], "all_dead": False, "dry": True}, "dry"),
    ("editor", "POST", f"/v1/articles/{ARTICLE_ID}/revert", {"version": 1, "versoin": 2}, "versoin"),
    ("compliance", "PUT", f"/v1/posts/twitter/{TWEET}/hold", {"reason": "court order", "until": "x"}, "until"),
    ("compliance", "PUT", f"/v1/posts/twitter/{TWEET}/takedown", {"reason": "court order", "why": "x"}, "why"),
    ("compliance", "POST", "/v1/exports", {"post": [{"provider": "twitter", "post_id": TWEET}]}, "post"),
    ("compliance", "POST", "/v1/exports", {"posts": [{"provider": "twitter", "post_id": TWEET, "id": 1}]}, "id"),
], ids=["restore-typo", "restore-extra", "revert", "hold", "takedown", "export", "export-post"])
def test_an_unknown_field_is_a_422_naming_it_and_changes_nothing(archived: Api, role: str, method: str, path: str,
                                                                  body: dict[str, Any], field: str) -> None:
    before = archived.call("editor", "GET", f"/v1/articles/{ARTICLE_ID}").json()["versions"]
    state = archived.call("compliance", "GET", f"/v1/posts/twitter/{TWEET}").json()["compliance"]
    resp = archived.call(role, method, path, json=body)
    assert resp.status_code == 422, (resp.status_code, resp.text)
    problems = resp.json()["detail"]
    assert any(p["loc"][0] == "body" and p["loc"][-1] == field and p["msg"] == "Extra inputs are not permitted"
               for p in problems), problems
    assert archived.call("editor", "GET", f"/v1/articles/{ARTICLE_ID}").json()["versions"] == before
    assert archived.call("compliance", "GET", f"/v1/posts/twitter/{TWEET}").json()["compliance"] == state
