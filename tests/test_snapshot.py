"""Manifest schema, object keys, WARC records, and the generic markup capture."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from archiver.capture.exchange import Exchange
from archiver.capture.manifest import Manifest, ManifestError, new_capture_id, validate_manifest
from archiver.capture.record import CaptureResult, store_capture
from archiver.capture.warc import build_warc, read_warc
from archiver.config.settings import Settings, env_name, load_settings
from archiver.discover.model import Embed
from archiver.providers.base import CaptureContext, CapturedPost, Provider, occurrences_in
from archiver.providers.markup import MarkupProvider
from archiver.providers.registry import get_provider
from archiver.providers.twitter.capture import TwitterProvider
from archiver.runtime import Runtime
from archiver.storage.layout import MANIFEST_KEY_RE, capture_page_key, manifest_key, warc_key
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from tests.apikit import api

T0 = datetime(2025, 7, 15, 9, 12, 33, 123000, tzinfo=UTC)


def _manifest(**changes: Any) -> dict[str, Any]:
    m = Manifest.new(provider="twitter", post_id="1945048830047662087", capture_id=new_capture_id(T0), captured_at=T0,
                     status="archived", url="https://twitter.com/ANI/status/1945048830047662087").to_json()
    m.update(text="hello", text_expanded="hello")
    m.update(changes)
    return m


BODY = b'{"id_str":"1","text":"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87"}'
WIRE = gzip.compress(BODY, mtime=0)


def _exchange(**kw: Any) -> Exchange:
    """A syndication answer as the fetcher records it: gzip on the wire, decoded for parsing."""
    base: dict[str, Any] = dict(method="GET", url="http://127.0.0.1:9/tweet-result?id=1", request_headers={
        "User-Agent": "archiver"}, status=200, response_headers=[("Content-Type", "application/json"),
                                                                 ("Content-Encoding", "gzip"),
                                                                 ("Content-Length", str(len(WIRE)))],
        http_version="HTTP/1.1", resolved_ip="127.0.0.1", started_at=T0, elapsed_ms=3.0, body=BODY,
        wire_body=WIRE)
    base.update(kw)
    return Exchange(**base)


def test_capture_ids_sort_by_time_and_are_unique() -> None:
    a = new_capture_id(T0)
    b = new_capture_id(datetime(2025, 7, 15, 9, 12, 34, tzinfo=UTC))
    assert a.startswith("20250715T091233Z-") and a < b
    assert len({new_capture_id(T0) for _ in range(200)}) == 200


def test_keys_follow_the_layout_and_refuse_hostile_parts() -> None:
    cid = new_capture_id(T0)
    assert manifest_key("twitter", "123", cid) == f"posts/twitter/123/{cid}.json"
    assert warc_key("twitter", "unresolved-0123456789abcdef", cid).endswith(".warc.gz")
    for provider, post_id, capture in [("twitter", "../etc", cid), ("twitter", "a/b", cid),
                                       ("Twitter", "1", cid), ("twitter", "1", "not-an-id"),
                                       ("twitter", "", cid)]:
        with pytest.raises(ValueError):
            manifest_key(provider, post_id, capture)


def test_schema_accepts_base_and_rejects_broken_manifests() -> None:
    validate_manifest(_manifest())
    for breakage in [
        lambda m: m.pop("sources"),
        lambda m: m.update(status="great"),
        lambda m: m["author"].update(avatar_sha256="xyz"),
        lambda m: m.update(captured_at="2025-07-15 09:12"),
        lambda m: m.update(media=[{"type": "photo"}]),
        lambda m: m.update(unknown_field=1),
        lambda m: m.update(schema="archiver.manifest.v3"),
    ]:
        m = copy.deepcopy(_manifest())
        breakage(m)
        with pytest.raises(ManifestError):
            validate_manifest(m)


def test_warc_round_trip_keeps_exchanges() -> None:
    ok = _exchange()
    failed = _exchange(url="http://127.0.0.1:9/slow", status=None, response_headers=[], body=b"", wire_body=None,
                       error="timeout: read timed out", resolved_ip=None)
    data = build_warc([ok, failed], capture_id="20250715T091233Z-0011aabb")
    assert gzip.decompress(data).startswith(b"WARC/1.1\r\n")
    records = read_warc(data)
    assert [r["type"] for r in records] == ["warcinfo", "request", "response", "request", "metadata"]
    resp = records[2]
    assert resp["uri"] == ok.url and resp["status"] == 200 and resp["payload"] == BODY and resp["wire"] == WIRE
    assert resp["date"] == "2025-07-15T09:12:33.123000Z" and resp["ip"] == "127.0.0.1"
    # Stored as received: the coded bytes under the headers that say so, Content-Length theirs.
    assert resp["http_headers"] == ok.response_headers and not resp["truncated"]
    assert b"read timed out" in records[4]["payload"] and records[3]["ip"] is None


def test_storing_a_capture_validates_and_writes_the_manifest_and_warc(tmp_path: Path, tmp_settings: Any) -> None:
    store = LocalStore(tmp_path, "http://127.0.0.1:1/media")
    ctx = CaptureContext(settings=tmp_settings(), fetcher=None)  # type: ignore[arg-type]
    res = store_capture(CapturedPost("twitter", validate_manifest(_manifest()), [_exchange()]), ctx, store)
    assert res.status == "archived" and res.manifest_key
    stored = json.loads(store.get(res.manifest_key))
    assert stored["warc"] == res.manifest_key.removesuffix(".json") + ".warc.gz"
    records = read_warc(store.get(stored["warc"]))
    assert [r["status"] for r in records if r["type"] == "response"] == [200]
    # The cards and the capture page as stored are in the WARC too, as resource records under their keys.
    page = capture_page_key(res.manifest_key)
    files = {name: stored["cards"][name] for name in ("html", "png")} | {"page": page}
    assert {r["uri"]: r["payload"] for r in records if r["type"] == "resource"} == {
        f"urn:archiver:{key}": store.get(key) for key in files.values()}
    # The manifest binds what was stored beside it: the WARC file's, the cards' and the page's bytes.
    assert stored["warc_sha256"] == hashlib.sha256(store.get(stored["warc"])).hexdigest()
    for name, key in files.items():
        assert stored["cards"][f"{name}_sha256"] == hashlib.sha256(store.get(key)).hexdigest(), name
    # The page shows no manifest digest (the manifest names the page's: showing its own would be a cycle).
    assert hashlib.sha256(store.get(res.manifest_key)).hexdigest().encode() not in store.get(page)
    # Stored again (same capture), the same bytes: the digests still hold.
    again = store_capture(CapturedPost("twitter", validate_manifest(_manifest(capture_id=stored["capture_id"])),
                                       [_exchange()]), ctx, store)
    assert json.loads(store.get(again.manifest_key or ""))["cards"] == stored["cards"]
    bad = validate_manifest(_manifest())
    bad.status = "bogus"  # what a provider may set: validated only when stored
    res = store_capture(CapturedPost("twitter", bad, [_exchange()]), ctx, store)
    assert res.status == "failed" and res.manifest_key is None
    assert res.error and res.error.startswith("could not store the capture:") and "status" in res.error
    assert not store.exists(manifest_key("twitter", bad.post_id, bad.capture_id))
    assert not store.exists(warc_key("twitter", bad.post_id, bad.capture_id))  # nothing written


def _capture(tmp_path: Path, tmp_settings: Any, provider: Provider, embed: Embed, text: str) -> CaptureResult:
    ctx = CaptureContext(settings=tmp_settings(), fetcher=None,  # type: ignore[arg-type]
                         article_id="a", article_url="https://news.example/a")
    return store_capture(provider.capture(occurrences_in(text, [embed]), ctx), ctx, LocalStore(tmp_path, "http://x/m"))


def test_markup_provider_archives_text_and_keeps_unresolved(tmp_path: Path, tmp_settings: Any) -> None:
    text = ('<blockquote class="instagram-media"><p>Last sheet of ice goes out</p>A post shared by '
            'Pine Ridge (@pineridgeresort)</blockquote>\n(Source: Instagram)')
    e = Embed("instagram", "C4kP2rTz8Lm", "https://www.instagram.com/p/C4kP2rTz8Lm/", 0, text.index("\n"),
              handle="pineridgeresort", text="Last sheet of ice goes out", form="blockquote")
    res = _capture(tmp_path, tmp_settings, get_provider("instagram"), e, text)
    assert res.status == "archived" and res.post_id == "C4kP2rTz8Lm"
    m = json.loads(LocalStore(tmp_path, "http://x/m").get(res.manifest_key or ""))
    validate_manifest(m)
    assert m["text"] == "Last sheet of ice goes out" and m["warc"] is None and "warc_sha256" not in m
    # No WARC, but the cards and the page are bound all the same.
    store = LocalStore(tmp_path, "http://x/m")
    for name, key in (("html", m["cards"]["html"]), ("png", m["cards"]["png"]),
                      ("page", capture_page_key(res.manifest_key or ""))):
        assert m["cards"][f"{name}_sha256"] == hashlib.sha256(store.get(key)).hexdigest(), name
    assert m["attribution"]["source_lines"] == ["(Source: Instagram)"]
    bare = Embed("tiktok", None, None, 0, 0, form="iframe")
    res = _capture(tmp_path, tmp_settings, MarkupProvider("tiktok"), bare, text)
    assert res.status == "unresolved" and res.post_id and res.post_id.startswith("unresolved-")
    validate_manifest(res.manifest)


def test_registry() -> None:
    assert isinstance(get_provider("twitter"), TwitterProvider)
    assert get_provider("youtube").name == "youtube"
    for bad in ["", "../x", "Twitter", "x" * 40]:
        with pytest.raises(ValueError):
            get_provider(bad)


# --- provenance: the article a post was found in (issue 16, point 6) ---------------------------------
PROVENANCE_TWEETS = [TweetFixture(id=tid, handle="LakemontDPW", name="Lakemont Public Works", text=f"Update {n}")
                     for n, tid in enumerate(("1757429972446608301", "1766441302328346877", "1762828123138730112"))]


def _blockquote(tweet: TweetFixture) -> str:
    return (f'<p>Story</p><blockquote class="twitter-tweet"><p lang="en" dir="ltr">{tweet.text}</p>&mdash; '
            f'Lakemont Public Works (@LakemontDPW) <a href="https://twitter.com/LakemontDPW/status/{tweet.id}">'
            "July 15, 2025</a></blockquote>\n")


def _articles_of(settings: Settings, post_id: str) -> list[dict[str, Any]]:
    with Runtime.from_settings(settings) as rt:
        keys = [k for k in rt.store.list(f"posts/twitter/{post_id}/") if MANIFEST_KEY_RE.fullmatch(k)]
        assert len(keys) == 1, keys
        m = json.loads(rt.store.get(keys[0]))
    markup = next(s for s in m["sources"] if s["name"] == "publisher_markup")
    assert markup["request_url"] == m["articles"][0]["url"]  # the markup source says where it was read
    return m["articles"]


def test_the_manifest_names_the_article_url_from_the_cli_and_the_api(tmp_path: Path) -> None:
    """`archiver archive FILE --base-url URL`, `archiver archive URL` and the publish API's url: each
    manifest's articles[] names the article and the URL it is published at."""
    with FixtureOrigin(tweets=PROVENANCE_TWEETS) as origin:
        overrides = {**origin.settings_overrides(), "home": str(tmp_path / "home"), "broker_url": "",
                     "media_derivatives": "false"}
        env = {**os.environ, **{env_name(k): v for k, v in overrides.items()}}
        settings = load_settings(env={env_name(k): v for k, v in overrides.items()})
        first, second, third = PROVENANCE_TWEETS
        article = tmp_path / "story.html"
        article.write_text(_blockquote(first), encoding="utf-8")
        cli = [sys.executable, "-m", "archiver.cli", "archive"]
        run = subprocess.run([*cli, str(article), "--base-url", "https://news.example/2025/07/story",
                              "--article-id", "story-1", "--json"],
                             capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        assert [(a["article_id"], a["url"]) for a in _articles_of(settings, first.id)] == [
            ("story-1", "https://news.example/2025/07/story")]
        served = origin.add_image("/news/story-2.html", _blockquote(second).encode(), "text/html; charset=utf-8")
        run = subprocess.run([*cli, served, "--article-id", "story-2", "--json"], capture_output=True, text=True,
                             env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        assert [(a["article_id"], a["url"]) for a in _articles_of(settings, second.id)] == [("story-2", served)]
        with api(settings) as local:
            resp = local.call("publisher", "POST", "/v1/articles", json={
                "article_id": "wire-3", "url": "https://news.example/wire-3", "html": _blockquote(third)})
            assert resp.status_code == 202, resp.text
            local.client.app.state.intake.wait_idle()
        assert [(a["article_id"], a["url"]) for a in _articles_of(settings, third.id)] == [
            ("wire-3", "https://news.example/wire-3")]
