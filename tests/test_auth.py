"""Tokens are stored hashed and each role is refused what it may not do (the whole matrix)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archiver.auth import authenticate, create_token
from archiver.catalog.backend import open_catalog
from archiver.config.settings import Settings
from archiver.errors import InputError
from tests.apikit import TWEET, Api, api, archive_sample, fixture_origin
from tests.harness.celery_worker import settings_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from archiver.config.settings import load_settings

    home = tmp_path_factory.mktemp("auth")
    with fixture_origin() as origin:
        settings = load_settings(env={}).replace(home=str(home), broker_url="", **origin.settings_overrides())
        with api(settings) as a:
            archive_sample(a.rt, origin)
            yield a


def test_token_is_stored_hashed_and_authenticates(tmp_settings: Callable[..., Settings]) -> None:
    catalog = open_catalog(tmp_settings().catalog_url)
    token = create_token(catalog, "compliance", "alice")
    rows = catalog.query("SELECT * FROM api_tokens")
    assert len(rows) == 1 and rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(rows)
    who = authenticate(catalog, token)
    assert who is not None and (who.name, who.role) == ("alice", "compliance")
    for bad in (None, "", token + "x", token[:-1], "arc_" + "A" * 500, "Bearer " + token):
        assert authenticate(catalog, bad) is None
    with pytest.raises(InputError):
        create_token(catalog, "root", "x")


def test_cli_token_create_prints_token_last(tmp_settings: Callable[..., Settings]) -> None:
    settings = tmp_settings()
    cli = str(Path(sys.executable).with_name("archiver"))
    out = subprocess.run([cli, "token", "create", "--role", "editor", "--name", "cms"],
                         env=settings_env(settings), capture_output=True, text=True, timeout=60, check=True)
    token = out.stdout.split()[-1]
    who = authenticate(open_catalog(settings.catalog_url), token)
    assert who is not None and who.role == "editor" and who.name == "cms"


# (method, path, json body, roles allowed besides admin)
POST = f"/v1/posts/twitter/{TWEET}"
MATRIX = [
    ("POST", "/v1/articles", {"article_id": "m1", "html": "<p>hello</p>"}, {"publisher"}),
    ("GET", "/v1/articles/story-1", None, {"editor", "compliance"}),
    ("GET", "/v1/search?q=Lavrov", None, {"editor", "compliance"}),
    ("GET", POST, None, {"editor", "compliance"}),
    ("PUT", f"{POST}/hold", {"reason": "litigation"}, {"compliance"}),
    ("DELETE", f"{POST}/hold", None, {"compliance"}),
    ("PUT", f"{POST}/takedown", {"reason": "court order"}, {"compliance"}),
    ("DELETE", f"{POST}/takedown", None, {"compliance"}),
    ("GET", f"{POST}/export", None, {"compliance"}),
    ("POST", "/v1/exports", {"posts": [{"provider": "twitter", "post_id": TWEET}]}, {"compliance"}),
    ("GET", "/v1/audit", None, {"compliance"}),
    ("GET", "/metrics", None, {"editor", "compliance"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, *_ in MATRIX])
def test_role_matrix(env: Api, method: str, path: str, body: dict | None, allowed: set[str]) -> None:
    assert env.call(None, method, path, json=body).status_code == 401
    bogus = env.client.request(method, path, json=body, headers={"Authorization": "Bearer arc_nope"})
    assert bogus.status_code == 401
    for role in ("publisher", "editor", "compliance", "admin"):
        resp = env.call(role, method, path, json=body)
        if role in allowed | {"admin"}:
            assert resp.status_code < 400, (role, resp.status_code, resp.text[:300])
        else:
            assert resp.status_code == 403, (role, resp.status_code)
            assert resp.json()["detail"]


def test_public_paths_need_no_token(env: Api) -> None:
    assert env.client.get("/healthz").status_code == 200
    keys = [k for k in env.rt.store.list(f"posts/twitter/{TWEET}/") if k.endswith(".json")]
    assert keys and env.client.get(f"/media/{keys[0]}").status_code == 200
    # The API's own description is not public: only /healthz, media and cards are.
    assert env.client.get("/openapi.json").status_code == 401


def test_a_session_cookie_reads_the_api_but_never_changes_it(env: Api) -> None:
    """The cookie a sign-in sets holds a session id, not the token; it lets a browser read the API
    (GET), not change it, and sign-out ends it on the server (replaying the old cookie fails)."""
    try:
        env.client.cookies.set("archiver_token", env.tokens["admin"])  # the raw token, as cookies once held
        assert env.client.get("/v1/articles/story-1").status_code == 401
        env.client.cookies.clear()
        login = env.client.post("/login", data={"token": env.tokens["admin"], "next": "/"}, follow_redirects=False)
        assert login.status_code == 303
        session = env.client.cookies["archiver_session"]
        assert session and env.tokens["admin"] not in login.headers["set-cookie"]
        assert env.client.get("/v1/articles/story-1").status_code == 200
        body = {"article_id": "by-cookie", "html": "<p>x</p>"}
        assert env.client.post("/v1/articles", json=body).status_code == 401
        assert env.client.put(f"{POST}/hold", json={"reason": "x"}).status_code == 401
        page = env.client.get("/search").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert env.client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        env.client.cookies.set("archiver_session", session)
        assert env.client.get("/v1/articles/story-1").status_code == 401
    finally:
        env.client.cookies.clear()
