"""API tokens end: revoked or expired, a token is refused at once by the API and by every web session
signed in with it; `archiver token list` shows them all without a secret, `token revoke` is idempotent
and audited, and a catalog whose api_tokens table predates expiry and revocation is upgraded in place.
The API and session cases run on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver.auth import (
    authenticate,
    create_token,
    find_token,
    issue_token,
    list_tokens,
    parse_duration,
    revoke_token,
    stamp,
)
from archiver.catalog.backend import open_catalog
from archiver.config.settings import Settings, load_settings
from archiver.errors import InputError
from tests.apikit import Api, api
from tests.harness.celery_worker import settings_env
from tests.harness.services import fresh_pg_dsn

ARCHIVER = [sys.executable, "-m", "archiver.cli"]
PATH = "/openapi.json"  # answers any signed-in role, 401 to anyone else


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    overrides = {"home": str(tmp_path_factory.mktemp("tokens")), "broker_url": ""}
    if request.param == "postgres":
        overrides["catalog"] = fresh_pg_dsn(request.getfixturevalue("postgres_dsn"))
    with api(load_settings(env={}).replace(**overrides)) as a:
        yield a


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(env: Api, token: str) -> None:
    login = env.client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert login.status_code == 303, login.text[:300]
    assert env.client.cookies.get("archiver_session")


def test_a_revoked_token_is_refused_at_once(env: Api) -> None:
    new = issue_token(env.rt.catalog, "editor", "leaked")
    assert env.client.get(PATH, headers=bearer(new.token)).status_code == 200
    info, changed = revoke_token(env.rt.catalog, new.info.token_id)
    assert changed and info.state() == "revoked" and info.revoked_at
    resp = env.client.get(PATH, headers=bearer(new.token))
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    assert authenticate(env.rt.catalog, new.token) is None
    again, changed = revoke_token(env.rt.catalog, "leaked")  # by name; nothing changes
    assert not changed and again.revoked_at == info.revoked_at
    # other tokens are untouched
    assert env.client.get(PATH, headers=env.h("editor")).status_code == 200


def test_an_expired_token_is_refused_like_an_invalid_one(env: Api) -> None:
    expired = issue_token(env.rt.catalog, "compliance", "past", expires_in=timedelta(seconds=-1))
    live = issue_token(env.rt.catalog, "compliance", "future", expires_in=timedelta(days=90))
    assert expired.info.expires_at and live.info.expires_at and live.info.expires_at > stamp()
    assert env.client.get(PATH, headers=bearer(expired.token)).status_code == 401
    assert env.client.get(PATH, headers=bearer(live.token)).status_code == 200
    assert find_token(env.rt.catalog, expired.info.token_id).state() == "expired"
    # nor can it sign in
    login = env.client.post("/login", data={"token": expired.token, "next": "/"}, follow_redirects=False)
    assert login.status_code == 401 and "archiver_session" not in login.headers.get("set-cookie", "")


def test_a_session_ends_when_its_token_is_revoked(env: Api) -> None:
    new = issue_token(env.rt.catalog, "editor", "browser")
    try:
        sign_in(env, new.token)
        assert env.client.get(PATH).status_code == 200
        assert env.client.get("/search", follow_redirects=False).status_code == 200
        revoke_token(env.rt.catalog, new.info.token_id)
        assert env.client.get(PATH).status_code == 401
        assert env.client.get("/search", follow_redirects=False).status_code in (303, 307, 401)
    finally:
        env.client.cookies.clear()


def test_a_session_ends_when_its_token_expires(env: Api) -> None:
    new = issue_token(env.rt.catalog, "editor", "short", expires_in=timedelta(hours=1))
    try:
        sign_in(env, new.token)
        assert env.client.get(PATH).status_code == 200
        past = stamp(datetime.now(UTC) - timedelta(seconds=1))
        env.rt.catalog.execute("UPDATE api_tokens SET expires_at = ? WHERE token_id = ?", [past, new.info.token_id])
        assert env.client.get(PATH).status_code == 401
    finally:
        env.client.cookies.clear()


def test_use_is_recorded(env: Api) -> None:
    new = issue_token(env.rt.catalog, "editor", "used")
    assert find_token(env.rt.catalog, new.info.token_id).last_used_at is None
    assert env.client.get(PATH, headers=bearer(new.token)).status_code == 200
    used = find_token(env.rt.catalog, new.info.token_id).last_used_at
    assert used is not None and used <= stamp()


# --- an older catalog -------------------------------------------------------------------------------
OLD_SCHEMA = """CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL)"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_old_tokens_table_is_upgraded_in_place(backend: str, request: pytest.FixtureRequest,
                                                  tmp_path: Path) -> None:
    url = (fresh_pg_dsn(request.getfixturevalue("postgres_dsn")) if backend == "postgres"
           else f"sqlite:///{tmp_path / 'old.sqlite3'}")
    token = "arc_" + "x" * 43
    old = open_catalog(url)
    old.execute(OLD_SCHEMA)
    old.execute("INSERT INTO api_tokens (token_id, token_hash, name, role, created_at) VALUES (?, ?, ?, ?, ?)",
                ["0123456789abcdef", hashlib.sha256(token.encode()).hexdigest(), "ops", "admin",
                 "2025-01-02T03:04:05Z"])
    old.close()
    catalog = open_catalog(url)
    try:
        who = authenticate(catalog, token)
        assert who is not None and (who.token_id, who.name, who.role) == ("0123456789abcdef", "ops", "admin")
        assert {"expires_at", "revoked_at", "last_used_at"} <= catalog.backend.columns("api_tokens")
        [info] = list_tokens(catalog)
        assert (info.state(), info.expires_at, info.revoked_at) == ("active", None, None)
        assert info.last_used_at is not None
        create_token(catalog, "editor", "new", timedelta(days=1))
        _, changed = revoke_token(catalog, "ops")
        assert changed and authenticate(catalog, token) is None
    finally:
        catalog.close()
    # a second open (another process) finds the columns there and adds nothing
    again = open_catalog(url)
    try:
        assert [t.name for t in list_tokens(again)] == ["ops", "new"]
    finally:
        again.close()


# --- the command line -------------------------------------------------------------------------------
def run(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ARCHIVER, *argv], env=settings_env(settings), capture_output=True, text=True,
                          timeout=120)


def test_cli_lists_revokes_and_audits_without_ever_printing_a_secret(
        tmp_settings: Callable[..., Settings]) -> None:
    settings = tmp_settings()
    made = run(settings, "token", "create", "--role", "compliance", "--name", "desk", "--expires-in", "90d", "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    token, token_id = created["token"], created["id"]
    assert created["expires_at"] > stamp(datetime.now(UTC) + timedelta(days=89))
    digest = hashlib.sha256(token.encode()).hexdigest()

    listed = run(settings, "token", "list")
    as_json = run(settings, "token", "list", "--json")
    assert listed.returncode == as_json.returncode == 0
    for out in (listed, as_json):
        assert token not in out.stdout + out.stderr and digest not in out.stdout + out.stderr
        assert token[len("arc_"):][:12] not in out.stdout
    [row] = json.loads(as_json.stdout)["tokens"]
    assert row == {"id": token_id, "name": "desk", "role": "compliance", "created_at": row["created_at"],
                   "last_used_at": None, "expires_at": created["expires_at"], "revoked_at": None, "state": "active"}
    assert "desk" in listed.stdout and token_id in listed.stdout and "active" in listed.stdout

    first = run(settings, "token", "revoke", "desk")
    second = run(settings, "token", "revoke", token_id, "--json")
    assert first.returncode == 0 and "revoked" in first.stdout, first.stderr
    assert second.returncode == 0 and json.loads(second.stdout)["changed"] is False
    assert json.loads(run(settings, "token", "list", "--json").stdout)["tokens"][0]["state"] == "revoked"
    catalog = open_catalog(settings.catalog_url)
    try:
        assert authenticate(catalog, token) is None
        events = catalog.query("SELECT action, target, actor, role, detail FROM audit_log ORDER BY at")
    finally:
        catalog.close()
    assert [(e["action"], e["target"]) for e in events] == [
        ("token_create", f"token:{token_id}"), ("token_revoke", f"token:{token_id}"), ("noop", f"token:{token_id}")]
    assert all(e["actor"].startswith("cli:") and e["role"] == "admin" for e in events)
    assert all(token not in e["detail"] and digest not in e["detail"] for e in events)


@pytest.mark.parametrize("argv", [["token", "revoke", "no-such-token"], ["token", "revoke", "0123456789abcdef"],
                                  ["token", "create", "--role", "editor", "--expires-in", "90"],
                                  ["token", "create", "--role", "editor", "--expires-in", "0h"]])
def test_cli_unknown_token_or_bad_duration_is_one_line_exit_2(argv: list[str],
                                                               tmp_settings: Callable[..., Settings]) -> None:
    settings = tmp_settings()
    assert run(settings, "token", "create", "--role", "editor").returncode == 0
    out = run(settings, *argv)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_a_name_several_tokens_share_is_refused_for_revoke(tmp_settings: Callable[..., Settings]) -> None:
    catalog = open_catalog(tmp_settings().catalog_url)
    try:
        a = issue_token(catalog, "editor", "twin")
        issue_token(catalog, "editor", "twin")
        with pytest.raises(InputError, match="revoke one by its id"):
            revoke_token(catalog, "twin")
        assert revoke_token(catalog, a.info.token_id)[1]
    finally:
        catalog.close()


@pytest.mark.parametrize(("text", "length"), [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)),
                                              ("30m", timedelta(minutes=30)), ("2w", timedelta(weeks=2)),
                                              (" 7D ", timedelta(days=7)), ("3650d", timedelta(days=3650))])
def test_durations(text: str, length: timedelta) -> None:
    assert parse_duration(text) == length


@pytest.mark.parametrize("text", ["", "90", "d", "1.5d", "-1d", "0m", "3651d", "1y", "90 days", "1d2h", "9" * 8 + "d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError):
        parse_duration(text)
