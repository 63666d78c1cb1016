"""Legal hold (Object Lock on S3 where the bucket has it, and the catalog always), takedown (410 to
the public, evidence kept), evidence bundles checked offline, and the audit trail of it all."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from archiver.compliance import audit
from archiver.compliance.evidence import verify_bundle
from archiver.compliance.holds import hidden_reason, post_state, reindex
from archiver.config.settings import Settings
from archiver.health.originals import article_health
from archiver.runners.reindex import reindex as rebuild
from archiver.runtime import Runtime
from archiver.storage.layout import capture_page_key
from archiver.storage.layout import compliance_state_key as state_key
from archiver.testing.fixture_origin import FixtureOrigin
from tests.apikit import ARTICLE_ID, TWEET, Api, api, archive_sample, fixture_origin
from tests.harness.celery_worker import settings_env

POST = f"/v1/posts/twitter/{TWEET}"


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with fixture_origin() as o:
        yield o


@pytest.fixture
def archived(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> Iterator[Api]:
    with api(tmp_settings(broker_url="", **origin.settings_overrides())) as a:
        archive_sample(a.rt, origin)
        yield a


def _post_public_keys(a: Api) -> tuple[str, str, str]:
    manifest_key = next(k for k in a.rt.store.list(f"posts/twitter/{TWEET}/") if k.endswith(".json"))
    manifest = json.loads(a.rt.store.get(manifest_key))
    sha = next(m["sha256"] for m in manifest["media"] if m["sha256"])
    return manifest_key, f"blobs/sha256/{sha[:2]}/{sha}", manifest["warc"]


def test_takedown_hides_from_the_public_keeps_evidence_and_is_audited(archived: Api) -> None:
    manifest_key, blob, warc = _post_public_keys(archived)
    lead = next(k for k in archived.rt.store.list("blobs/") if k != blob)  # the article's own image
    for key in (manifest_key, blob, warc, lead):
        assert archived.client.get(f"/media/{key}").status_code == 200

    resp = archived.call("compliance", "PUT", f"{POST}/takedown", json={"reason": "court order 12/2025"})
    assert resp.status_code == 200 and resp.json()["takedown"]["reason"] == "court order 12/2025"
    for key in (manifest_key, blob, warc):
        gone = archived.client.get(f"/media/{key}")
        # the public learns that it was withdrawn, never the internal reason; staff see the reason
        assert gone.status_code == 410 and gone.json() == {"detail": "withdrawn from public access"}
        assert "court order" not in gone.text and gone.headers["cache-control"] == "no-store"
        staff = archived.call("compliance", "GET", f"/media/{key}")
        assert staff.status_code == 410 and staff.json()["reason"] == "court order 12/2025"
        assert "court order" not in archived.call("editor", "GET", f"/media/{key}").text
        assert archived.rt.store.exists(key)  # evidence kept
    # a reader following a card's "Archived copy" link to the capture page gets a page, not JSON
    page = archived.client.get(f"/media/{capture_page_key(manifest_key)}")
    assert page.status_code == 410 and page.headers["content-type"].startswith("text/html")
    assert "withdrawn from public access" in page.text and "court order" not in page.text
    assert "Accept" in page.headers["vary"]
    program = archived.client.get(f"/media/{capture_page_key(manifest_key)}", headers={"Accept": "application/json"})
    assert program.status_code == 410 and program.json() == {"detail": "withdrawn from public access"}
    assert archived.client.get(f"/media/{lead}").status_code == 200
    # compliance still sees and exports it
    assert archived.call("compliance", "GET", POST).json()["compliance"]["takedown"]
    assert archived.call("compliance", "GET", f"{POST}/export").status_code == 200

    # the catalog index is rebuilt from storage
    archived.rt.catalog.execute("DELETE FROM takedown_keys")
    assert archived.client.get(f"/media/{blob}").status_code == 200
    assert reindex(archived.rt) == 1
    assert archived.client.get(f"/media/{blob}").status_code == 410

    assert archived.call("compliance", "DELETE", f"{POST}/takedown").status_code == 200
    assert archived.client.get(f"/media/{manifest_key}").status_code == 200
    # an unknown capture page is a 404 page for a browser, JSON elsewhere under /media/
    missing = archived.client.get(f"/media/{capture_page_key(manifest_key).replace('.html', 'x.html')}")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert archived.client.get(f"/media/{manifest_key}x").json()["detail"]
    actions = [e["action"] for e in audit.list_events(archived.rt)]
    assert actions[0] == "restore_public" and "takedown" in actions and "export" in actions


def test_a_catalog_rebuilt_from_storage_keeps_takedowns_holds_the_audit_trail_and_health(
        archived: Api, tmp_path: Path) -> None:
    """The catalog is only an index: `archiver reindex` into an empty one brings back what compliance
    and health keep in storage, so a taken-down post stays hidden, a held one held, the audit trail
    whole and each original's liveness history there; a damaged record is skipped, not fatal."""
    manifest_key, blob, _ = _post_public_keys(archived)
    assert archived.call("compliance", "PUT", f"{POST}/takedown", json={"reason": "court order"}).status_code == 200
    assert archived.call("compliance", "PUT", f"{POST}/hold", json={"reason": "litigation"}).status_code == 200
    article_health(archived.rt, ARTICLE_ID, check_now=True)
    events = [e["event_id"] for e in audit.list_events(archived.rt, limit=1000)]
    health_sql = "SELECT url_sha256, url, state, failures, next_check_at FROM link_health ORDER BY url_sha256"
    uses_sql = "SELECT url_sha256, article_id, item_id FROM link_uses ORDER BY url_sha256, item_id"
    health, uses = archived.rt.catalog.query(health_sql), archived.rt.catalog.query(uses_sql)
    assert len(events) >= 2 and health and uses
    archived.rt.store.put("audit/zz-damaged.json", b"[1, 2]", content_type="application/json")

    rebuilt = Runtime.from_settings(archived.settings.replace(catalog=f"sqlite:///{tmp_path}/rebuilt.sqlite3"))
    try:
        rep = rebuild(rebuilt)
        assert (rep.compliance_states, rep.audit_events, rep.health_records) == (1, len(events), len(health))
        assert rep.skipped == 1
        state = post_state(rebuilt, "twitter", TWEET)
        assert state["takedown"]["reason"] == "court order" and state["hold"]["reason"] == "litigation"
        assert hidden_reason(rebuilt, blob) and hidden_reason(rebuilt, manifest_key)
        assert [e["event_id"] for e in audit.list_events(rebuilt, limit=1000)] == events
        assert rebuilt.catalog.query(health_sql) == health and rebuilt.catalog.query(uses_sql) == uses
    finally:
        rebuilt.close()


def test_takedown_needs_a_reason_and_an_existing_post(archived: Api) -> None:
    assert archived.call("compliance", "PUT", f"{POST}/takedown", json={}).status_code == 422
    assert archived.call("compliance", "PUT", f"{POST}/takedown", json={"reason": ""}).status_code == 422
    missing = archived.call("compliance", "PUT", "/v1/posts/twitter/42/takedown", json={"reason": "x"})
    assert missing.status_code == 404


def test_hold_on_local_store_is_recorded(archived: Api) -> None:
    resp = archived.call("compliance", "PUT", f"{POST}/hold", json={"reason": "litigation"}).json()
    assert resp["hold"]["reason"] == "litigation" and resp["hold"]["object_lock"] is False
    stored = json.loads(archived.rt.store.get(state_key("twitter", TWEET)))
    assert stored["hold"]["by"] == "test-compliance"
    assert post_state(archived.rt, "twitter", TWEET)["hold"]
    assert archived.call("compliance", "DELETE", f"{POST}/hold").json()["hold"] is None


def test_a_posts_objects_include_the_timestamp_tokens_its_records_name(archived: Api) -> None:
    """A hold or takedown reaches the RFC 3161 tokens of the post's captures (stored under timestamps/,
    shared with a batch), and only well-formed, stored token keys."""
    from archiver.compliance.holds import post_keys

    manifest_key, _, _ = _post_public_keys(archived)
    token = f"timestamps/{'ab' * 32}/0.tsr"
    archived.rt.store.put(token, b"token bytes")
    record = {"tokens": [{"token_key": token}, {"token_key": "posts/../../etc/passwd"},
                         {"token_key": f"timestamps/{'cd' * 32}/1.tsr"}, "junk"]}
    archived.rt.store.put(manifest_key.removesuffix(".json") + ".timestamps.json", json.dumps(record).encode())
    keys = post_keys(archived.rt, "twitter", TWEET)
    assert token in keys and not any("passwd" in k or "cd" * 32 in k for k in keys)


def test_hold_sets_object_lock_legal_hold_on_s3(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                 s3: object) -> None:
    bucket = s3.make_bucket(object_lock=True)  # type: ignore[attr-defined]
    settings = tmp_settings(broker_url="", **origin.settings_overrides(),
                            **s3.settings_overrides(bucket, "news"))  # type: ignore[attr-defined]
    with api(settings) as a:
        archive_sample(a.rt, origin)
        manifest_key, blob, warc = _post_public_keys(a)
        resp = a.call("compliance", "PUT", f"{POST}/hold", json={"reason": "litigation"}).json()
        assert resp["hold"]["object_lock"] is True and resp["hold"]["objects"] >= 3
        for key in (manifest_key, blob, warc):
            assert a.rt.store.legal_hold(key), key  # type: ignore[attr-defined]
        a.call("compliance", "DELETE", f"{POST}/hold")
        assert not a.rt.store.legal_hold(manifest_key)  # type: ignore[attr-defined]


def _export(a: Api) -> bytes:
    resp = a.call("compliance", "POST", "/v1/exports", json={"search": {"q": "Tianjin"}})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/zip"  # a WACZ (docs/ of the bundle say so)
    return resp.content


def test_export_bundle_verifies_offline_and_tampering_is_named(archived: Api, tmp_path: Path) -> None:
    data = _export(archived)
    manifest_key, blob, warc = _post_public_keys(archived)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        meta = json.loads(zf.read("docs/export.json"))
        originals = {n: zf.read(n) for n in names}
    listed = {f["key"]: f for f in meta["files"]}
    assert {manifest_key, blob, warc} <= set(listed)
    assert meta["query"]["q"] == "Tianjin" and meta["posts"][0]["post_id"] == TWEET
    assert meta["created_by"]["name"] == "test-compliance" and meta["created_by"]["via"] == "api"
    assert originals[listed[warc]["in"]] == archived.rt.store.get(warc)  # the capture's WARC, as stored

    bundle = tmp_path / "evidence.wacz"
    bundle.write_bytes(data)
    ok = verify_bundle(bundle)
    assert ok.ok and ok.files == len(names) - 2, ok.problems  # every file but the datapackage and its digest
    cli = str(Path(sys.executable).with_name("archiver"))
    run = subprocess.run([cli, "verify", str(bundle)], capture_output=True, text=True, timeout=60,
                         env=settings_env(archived.settings))
    assert run.returncode == 0 and run.stdout.strip().splitlines()[-1].startswith(f"OK {len(names) - 2} files")

    # flip one byte of the capture's WARC, rebuilding the zip so only the hashes can tell
    member = listed[warc]["in"]
    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, content in originals.items():
            if name == member:
                content = content[:10] + bytes([content[10] ^ 1]) + content[11:]
            zf.writestr(name, content)
    bad = verify_bundle(tampered)
    assert not bad.ok and any(p.startswith(f"{member}: SHA-256 mismatch") for p in bad.problems), bad.problems
    run = subprocess.run([cli, "verify", str(tampered)], capture_output=True, text=True, timeout=60,
                         env=settings_env(archived.settings))
    assert run.returncode == 2 and f"FAILED {member}: SHA-256 mismatch" in run.stdout


def test_raw_byte_flip_in_zip_fails(archived: Api, tmp_path: Path) -> None:
    data = bytearray(_export(archived))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("archive/files.warc.gz")  # stored, not deflated: its bytes sit in the zip as they are
    assert info.compress_type == zipfile.ZIP_STORED
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01
    bundle = tmp_path / "flipped.wacz"
    bundle.write_bytes(bytes(data))
    result = verify_bundle(bundle)
    assert not result.ok and result.problems[0].startswith("archive/files.warc.gz"), result.problems


def test_audit_events_are_append_only_in_storage_and_reindexable(archived: Api) -> None:
    archived.call("compliance", "GET", "/v1/search", params={"q": "Lavrov"})
    archived.call("compliance", "GET", POST)
    keys = [k for k in archived.rt.store.list("audit/") if k.endswith(".json")]
    assert len(keys) == 2
    event = json.loads(archived.rt.store.get(keys[0]))
    assert archived.rt.store.put(keys[0], b"{}", if_none_match=True) is False  # never overwritten
    archived.rt.catalog.execute("DELETE FROM audit_log")
    assert audit.list_events(archived.rt) == []
    assert audit.reindex(archived.rt) == 2
    assert {e["event_id"] for e in audit.list_events(archived.rt)} >= {event["id"]}


def test_cli_hold_release_and_takedown_are_audited_under_the_os_user(
        archived: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`archiver hold/release/takedown` do what the API does, each audited under the operating-system
    user (not what LOGNAME claims); a hold or takedown without a reason, or an unknown post, is a
    one-line error with exit 2."""
    import pwd

    from archiver.cli import main as cli

    monkeypatch.setenv("ARCHIVER_HOME", archived.rt.settings.home)
    monkeypatch.setenv("ARCHIVER_CATALOG", archived.rt.settings.catalog_url)
    monkeypatch.setenv("LOGNAME", "chief.compliance.officer")
    me = f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    post = f"twitter/{TWEET}"

    def run(*argv: str) -> dict[str, Any]:
        capsys.readouterr()
        assert cli.main([*argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    assert run("hold", post, "--reason", "litigation  notice")["hold"]["reason"] == "litigation notice"
    assert post_state(archived.rt, "twitter", TWEET)["hold"]["by"] == me
    assert run("release", post)["hold"] is None
    assert run("takedown", post, "--reason", "court order")["takedown"]["by"] == me
    manifest_key, _, _ = _post_public_keys(archived)
    assert archived.client.get(f"/media/{manifest_key}").status_code == 410
    assert run("takedown", post, "--lift")["takedown"] is None
    assert archived.client.get(f"/media/{manifest_key}").status_code == 200
    events = audit.list_events(archived.rt)
    assert [e["action"] for e in events][:4] == ["restore_public", "takedown", "release_hold", "hold"]
    assert {e["actor"] for e in events[:4]} == {me}
    capsys.readouterr()
    assert cli.main(["hold", post, "--reason", "   "]) == 2
    assert cli.main(["takedown", "twitter/42", "--reason", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("archiver: error:") == 2 and "Traceback" not in err


def test_the_audit_logs_since_is_the_instant_it_names_whatever_its_offset(tmp_settings: Callable[..., Settings]
                                                                          ) -> None:
    with Runtime.from_settings(tmp_settings()) as rt:
        event = audit.record(rt, None, "probe", "x", {})
        at = datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
        ahead = (at + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-8)))
        behind = (at - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=5, minutes=30)))
        # As strings these sort the other way round: "-08:00" local time reads hours earlier than UTC,
        # "+05:30" hours later.
        assert [e["event_id"] for e in audit.list_events(rt, ahead.isoformat())] == []
        assert [e["event_id"] for e in audit.list_events(rt, behind.isoformat())] == [event["id"]]
        assert [e["event_id"] for e in audit.list_events(rt, "0001-01-01T00:00:00+01:00")] == [event["id"]]
        assert [e["event_id"] for e in audit.list_events(rt, at.date().isoformat())] == [event["id"]]
