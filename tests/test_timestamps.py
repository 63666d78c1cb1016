"""Trusted time (RFC 3161): Merkle batches, tokens from real local TSAs (openssl ts -reply behind a
loopback HTTP endpoint: tests/harness/tsa.py), the local runner's step, the workers' pending set,
`archiver timestamp`, and verification by `openssl ts -verify` and verify_capture_timestamps."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from archiver.cli.demo import run_demo
from archiver.cli.main import main as cli_main
from archiver.compliance import timestamps as ts
from archiver.compliance.merkle import build_tree, fold_path, leaf_hash, node_hash, parse_path
from archiver.config.settings import Settings, load_settings
from archiver.dates import utcnow
from archiver.errors import ConfigError
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps import timestamp as step
from archiver.storage.layout import MANIFEST_KEY_RE, timestamp_record_key, timestamp_token_key
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from tests.harness.services import fresh_pg_dsn
from tests.harness.tsa import LocalTSA, openssl_verify

TWEETS = ["1945048830047662087", "1945048830047662088", "1945048830047662089"]
QUOTED = "1945048830047662090"


# --- Merkle trees ------------------------------------------------------------------------------------
def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1's MTH, written from the RFC independently of merkle.py."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + reference_mth(leaves[:k]) + reference_mth(leaves[k:])).digest()


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
@hsettings(max_examples=60, deadline=None)
def test_merkle_tree_is_rfc6962_and_every_path_folds_to_the_root(digests: list[bytes]) -> None:
    tree = build_tree(digests)
    assert tree.root == reference_mth(digests)
    assert hashlib.sha256(tree.preimage).digest() == tree.root
    for i, d in enumerate(digests):
        path = tree.path(i)
        assert len(path) <= max(1, (len(digests) - 1).bit_length())
        root, pre = fold_path(leaf_hash(d), path)
        assert root == tree.root
        assert (pre if pre is not None else b"\x00" + d) == tree.preimage
        other = hashlib.sha256(d + b"x").digest()
        assert fold_path(leaf_hash(other), path)[0] != tree.root
        assert parse_path([s.to_json() for s in path]) == list(path)


def test_a_batch_of_one_is_a_tree_of_one_and_leaves_are_domain_separated() -> None:
    d = hashlib.sha256(b"manifest").digest()
    tree = build_tree([d])
    assert tree.root == leaf_hash(d) == hashlib.sha256(b"\x00" + d).digest()
    assert tree.path(0) == () and tree.preimage == b"\x00" + d
    # A leaf is never an inner node of the same bytes (RFC 6962's second-preimage defence).
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    assert node_hash(a, b) != hashlib.sha256(b"\x00" + a + b).digest()
    with pytest.raises(ValueError):
        build_tree([])
    with pytest.raises(ValueError):
        build_tree([b"short"])


@pytest.mark.parametrize("doc", [None, {}, [{"side": "up", "hash": "00" * 32}], [{"side": "left", "hash": "0" * 63}],
                                 [{"side": "left", "hash": "AB" * 32}], [{"side": "left"}],
                                 [{"side": "left", "hash": "00" * 32, "x": 1}],
                                 [{"side": "left", "hash": "00" * 32}] * 65])
def test_hostile_paths_are_refused_in_one_line(doc: Any) -> None:
    with pytest.raises(ValueError) as err:
        parse_path(doc)
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


# --- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    tweets = [TweetFixture(id=TWEETS[0], handle="ANI", name="ANI", text="जयशंकर और लावरोव Tianjin में",
                           photos=[{"name": "p1.jpg", "alt": "handshake", "width": 320, "height": 200}],
                           media_code="HA2sQBIEQc", quoted_id=QUOTED),
              TweetFixture(id=QUOTED, handle="MFA_Russia", name="МИД России", text="Встреча в Тяньцзине"),
              TweetFixture(id=TWEETS[1], handle="PinecrestObs", name="Pinecrest Observer", text="Ice-out 👇"),
              TweetFixture(id=TWEETS[2], handle="ANI", name="ANI", text="Third post")]
    with FixtureOrigin(tweets=tweets) as o:
        yield o


@pytest.fixture
def tsas() -> Iterator[tuple[LocalTSA, LocalTSA]]:
    with LocalTSA("archiver test TSA one") as one, LocalTSA("archiver test TSA two") as two:
        yield one, two


def blockquote(tweet: str) -> str:
    return (f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">post {tweet}</p>&mdash; ANI (@ANI) '
            f'<a href="https://twitter.com/ANI/status/{tweet}">July 15, 2025</a></blockquote>\n')


def story(*tweets: str) -> bytes:
    return ("<html><body><p>नई दिल्ली</p>\n" + "".join(blockquote(t) for t in tweets) + "</body></html>\n").encode()


def tsa_settings(tsas: tuple[LocalTSA, ...], **more: Any) -> dict[str, Any]:
    return {"tsa_urls": ",".join(t.url for t in tsas), "tsa_ca_certs": ",".join(str(t.ca_file) for t in tsas),
            "tsa_timeout": 2.0, "tsa_retries": 0, **more}


@pytest.fixture(params=["file", "s3"])
def make(request: pytest.FixtureRequest, tmp_settings: Callable[..., Settings],
         origin: FixtureOrigin) -> Callable[..., Settings]:
    """Settings on a local directory + SQLite, or on S3 + PostgreSQL, with the fixture origin."""
    extra: dict[str, Any] = {}
    if request.param == "s3":
        s3 = request.getfixturevalue("s3")
        extra = {**s3.settings_overrides(s3.make_bucket(), "news"),
                 "catalog": fresh_pg_dsn(request.getfixturevalue("postgres_dsn"))}

    def build(**more: Any) -> Settings:
        return tmp_settings(**origin.settings_overrides(), **extra, public_base_url="https://archive.example/media",
                            **more)

    return build


def manifest_keys(rep: dict[str, Any]) -> list[str]:
    return [e["snapshot"] for e in rep["embeds"] if e["snapshot"]]


def all_manifests(rt: Runtime) -> list[str]:
    return sorted(k for k in rt.store.list("posts/") if MANIFEST_KEY_RE.fullmatch(k))


def record(rt: Runtime, key: str) -> dict[str, Any]:
    return json.loads(rt.store.get(timestamp_record_key(key)))


def tokens_of(rt: Runtime, rec: dict[str, Any]) -> dict[str, bytes]:
    return {t["token_key"]: rt.store.get(t["token_key"]) for t in rec["tokens"]}


def roots_of(tsas: tuple[LocalTSA, ...]) -> list[bytes]:
    return [t.ca_pem for t in tsas]


# --- the local runner -----------------------------------------------------------------------------------
def test_local_archive_gets_a_token_from_each_tsa_that_openssl_and_the_verifier_accept(
        make: Callable[..., Settings], tsas: tuple[LocalTSA, LocalTSA]) -> None:
    settings = make(**tsa_settings(tsas))
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, story(TWEETS[0]), base_url="https://news.example/story")
        assert rep["embeds"][0]["status"] == "archived"
        keys = all_manifests(rt)
        assert len(keys) == 2                      # the post and the post it quotes, each timestamped
        assert manifest_keys(rep)[0] in keys
        recs = {k: record(rt, k) for k in keys}
        root = recs[keys[0]]["root"]
        for key, rec in recs.items():
            manifest = rt.store.get(key)
            assert rec["schema"] == ts.RECORD_SCHEMA and rec["manifest_key"] == key
            assert rec["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
            assert rec["root"] == root and rec["batch_size"] == 2 and len(rec["path"]) == 1
            assert [t["tsa_url"] for t in rec["tokens"]] == [tsas[0].url, tsas[1].url]
            assert [t["token_key"] for t in rec["tokens"]] == [timestamp_token_key(root, n) for n in (0, 1)]
            assert rec["failed_attempts"] == []
            assert ts.verify_capture_timestamps(manifest, rec, tokens_of(rt, rec), roots_of(tsas)) == []
            # Each token's time is the TSA's, within the run.
            for t in rec["tokens"]:
                assert abs((utcnow() - ts.parse_iso(t["gen_time"])).total_seconds()) < 120
        for n, tsa in enumerate(tsas):
            token = rt.store.get(timestamp_token_key(root, n))
            ok, out = openssl_verify(root, token, tsa.ca_file)
            assert ok, out
            assert not openssl_verify(hashlib.sha256(b"another digest").hexdigest(), token, tsa.ca_file)[0]
            # One request per TSA for the whole batch.
            assert tsa.requests == 1


def test_a_token_for_another_digest_is_rejected_by_both(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                       tsas: tuple[LocalTSA, LocalTSA]) -> None:
    settings = tmp_settings(**origin.settings_overrides(), **tsa_settings(tsas))
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, story(TWEETS[1]))
        key = manifest_keys(rep)[0]
        rec = record(rt, key)
        manifest = rt.store.get(key)
        # A real token of the same TSA, over another root, put in place of the right one.
        other_root = hashlib.sha256(b"\x00" + hashlib.sha256(b"another manifest").digest()).hexdigest()
        body, _ = ts.request_token(tsas[0].url, b"\x00" + hashlib.sha256(b"another manifest").digest(), settings,
                                   roots_of(tsas))
        assert openssl_verify(other_root, body, tsas[0].ca_file)[0]
        assert not openssl_verify(rec["root"], body, tsas[0].ca_file)[0]
        swapped = {**tokens_of(rt, rec), rec["tokens"][0]["token_key"]: body}
        problems = ts.verify_capture_timestamps(manifest, rec, swapped, roots_of(tsas))
        assert len(problems) == 1 and "not over " + rec["root"] in problems[0], problems


def test_a_batch_shares_one_token_per_tsa_with_distinct_paths_and_a_second_run_changes_nothing(
        make: Callable[..., Settings], tsas: tuple[LocalTSA, LocalTSA]) -> None:
    settings = make(**tsa_settings(tsas))
    with Runtime.from_settings(settings) as rt:
        archive(rt, story(*TWEETS))
        keys = all_manifests(rt)
        assert len(keys) == 4
        recs = [record(rt, k) for k in keys]
        assert {r["root"] for r in recs} == {recs[0]["root"]}
        assert len({json.dumps(r["path"]) for r in recs}) == 4
        assert {r["leaf"] for r in recs} == {leaf_hash(hashlib.sha256(rt.store.get(k)).digest()).hex() for k in keys}
        assert [t.requests for t in tsas] == [1, 1]
        assert sorted(rt.store.list(f"timestamps/{recs[0]['root']}/")) == [
            timestamp_token_key(recs[0]["root"], 0), timestamp_token_key(recs[0]["root"], 1)]
        stored = {k: rt.store.get(timestamp_record_key(k)) for k in keys}
        run = ts.timestamp_captures(rt, keys, force=True)
        assert (run.complete, run.stamped, run.requests) == (4, 0, 0)
        assert {k: rt.store.get(timestamp_record_key(k)) for k in keys} == stored
        assert [t.requests for t in tsas] == [1, 1]
        # A token for one capture does not vouch for another capture's manifest.
        wrong = ts.verify_capture_timestamps(rt.store.get(keys[1]), recs[0], tokens_of(rt, recs[0]), roots_of(tsas))
        assert wrong and "not for this manifest" in wrong[0]


def test_tsa_down_does_not_block_the_rewrite_and_the_next_run_completes_the_same_root(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, tsas: tuple[LocalTSA, LocalTSA]) -> None:
    one, two = tsas
    settings = tmp_settings(**origin.settings_overrides(), **tsa_settings(tsas, tsa_retry_delays="0"))
    two.stop_serving()
    with Runtime.from_settings(settings) as rt:
        started = time.monotonic()
        rep = archive(rt, story(TWEETS[1]), article_id="first")
        assert time.monotonic() - started < 30
        assert rep["version"] == 1 and rep["embeds"][0]["status"] == "archived"
        key = manifest_keys(rep)[0]
        rec = record(rt, key)
        assert [t["tsa_url"] for t in rec["tokens"]] == [one.url]
        [failure] = rec["failed_attempts"]
        assert failure["tsa_url"] == two.url and failure["error"].startswith("network: ")
        assert ts.find_pending(rt) == [key]
        root = rec["root"]
        two.serve_again()
        # The next run (another article) asks the TSA that failed again, over the same root.
        archive(rt, story(TWEETS[2]), article_id="second")
        rec = record(rt, key)
        assert rec["root"] == root
        assert [t["tsa_url"] for t in rec["tokens"]] == [one.url, two.url]
        assert one.requests == 2 and two.requests == 2   # root 1 (two failed it), root 2
        assert ts.verify_capture_timestamps(rt.store.get(key), rec, tokens_of(rt, rec), roots_of(tsas)) == []
        assert ts.find_pending(rt) == []


def test_a_failed_tsa_waits_for_its_retry_delay(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                tsas: tuple[LocalTSA, LocalTSA]) -> None:
    one, _ = tsas
    settings = tmp_settings(**origin.settings_overrides(), **tsa_settings((one,), tsa_retry_delays="60,600"))
    one.mode = "error"
    with Runtime.from_settings(settings) as rt:
        key = manifest_keys(archive(rt, story(TWEETS[1])))[0]
        assert one.requests == 1
        one.mode = "ok"
        now = utcnow()
        assert ts.timestamp_captures(rt, [key], now=now).requests == 0          # not due yet
        assert ts.next_due(record(rt, key), settings.tsa_url_list, now, [60, 600]) > now
        run = ts.timestamp_captures(rt, [key], now=now + timedelta(seconds=61))
        assert (run.requests, run.stamped) == (1, 1)


@pytest.mark.parametrize(("mode", "kind"), [("garbage", "malformed"), ("huge", "too_large"), ("slow", "timeout"),
                                            ("error", "http"), ("other_digest", "invalid"), ("reject", "rejected")])
def test_hostile_tsa_answers_are_recorded_as_clear_failures(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, tsas: tuple[LocalTSA, LocalTSA],
        mode: str, kind: str) -> None:
    one, _ = tsas
    settings = tmp_settings(**origin.settings_overrides(), **tsa_settings((one,), tsa_timeout=1.0))
    one.mode = mode
    with Runtime.from_settings(settings) as rt:
        started = time.monotonic()
        rep = archive(rt, story(TWEETS[1]))
        assert time.monotonic() - started < 20
        assert rep["version"] == 1
        key = manifest_keys(rep)[0]
        rec = record(rt, key)
        assert rec["tokens"] == []
        [failure] = rec["failed_attempts"]
        assert failure["error"].startswith(f"{kind}: "), failure
        assert "\n" not in failure["error"] and len(failure["error"]) <= 300
        assert list(rt.store.list("timestamps/")) == []
        problems = ts.verify_capture_timestamps(rt.store.get(key), rec, {}, roots_of(tsas))
        assert problems == ["the record holds no timestamp token (timestamping still pending)"]


def test_the_tsa_goes_through_the_address_guard(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                               tsas: tuple[LocalTSA, LocalTSA]) -> None:
    one, _ = tsas
    settings = tmp_settings(**origin.settings_overrides())
    with Runtime.from_settings(settings) as rt:
        key = manifest_keys(archive(rt, story(TWEETS[1])))[0]
    # The TSA's loopback address is not in fetch_allow: refused before any connection.
    with Runtime.from_settings(settings.replace(fetch_allow="", **tsa_settings((one,)))) as rt:
        run = ts.timestamp_captures(rt, [key])
        assert run.pending == [key] and one.requests == 0
        assert "127.0.0.1 is loopback" in run.failures[0]
        assert record(rt, key)["failed_attempts"][0]["error"].startswith("refused: ")


def test_an_unusable_record_is_replaced_and_a_stored_token_over_the_same_root_reused(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, tsas: tuple[LocalTSA, LocalTSA]) -> None:
    settings = tmp_settings(**origin.settings_overrides(), **tsa_settings(tsas))
    with Runtime.from_settings(settings) as rt:
        key = manifest_keys(archive(rt, story(TWEETS[1])))[0]
        whole = record(rt, key)
        for junk in (b"{}", b"\xff\xfe", b"[" * 100_000, json.dumps({**whole, "path": "x"}).encode()):
            rt.store.put(timestamp_record_key(key), junk)
            run = ts.timestamp_captures(rt, [key])
            # A batch of one has the same root again: its stored tokens are reused, not asked for anew.
            assert (run.stamped, run.requests) == (1, 0)
            assert record(rt, key)["tokens"] == whole["tokens"]
        assert [t.requests for t in tsas] == [1, 1]


def test_a_crash_between_token_and_record_reuses_the_stored_token(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, tsas: tuple[LocalTSA, LocalTSA]) -> None:
    settings = tmp_settings(**origin.settings_overrides(), **tsa_settings(tsas))
    with Runtime.from_settings(settings) as rt:
        keys = manifest_keys(archive(rt, story(TWEETS[1], TWEETS[2])))
        whole = {k: record(rt, k) for k in keys}
        # As if the round died after storing the tokens, before writing the records.
        for k, rec in whole.items():
            rt.store.put(timestamp_record_key(k), json.dumps({**rec, "tokens": []}).encode())
        assert sorted(ts.find_pending(rt)) == sorted(keys)
        run = ts.timestamp_captures(rt, keys)
        assert (run.requests, run.stamped) == (0, 2)
        assert [t.requests for t in tsas] == [1, 1]
        for k in keys:
            assert record(rt, k)["tokens"] == whole[k]["tokens"]


def test_a_rewritten_manifest_gets_a_new_record(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                tsas: tuple[LocalTSA, LocalTSA]) -> None:
    settings = tmp_settings(**origin.settings_overrides(), **tsa_settings(tsas))
    with Runtime.from_settings(settings) as rt:
        key = manifest_keys(archive(rt, story(TWEETS[1])))[0]
        old = record(rt, key)
        doc = json.loads(rt.store.get(key))
        doc["error"] = "completed by a retry"
        rt.store.put(key, json.dumps(doc).encode())
        assert ts.find_pending(rt) == [key]
        assert ts.verify_capture_timestamps(rt.store.get(key), old, tokens_of(rt, old), roots_of(tsas))
        run = ts.timestamp_captures(rt, [key])
        new = record(rt, key)
        assert run.stamped == 1 and new["root"] != old["root"]
        assert ts.verify_capture_timestamps(rt.store.get(key), new, tokens_of(rt, new), roots_of(tsas)) == []


def test_no_tsa_configured_means_no_timestamping(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    with Runtime.from_settings(tmp_settings(**origin.settings_overrides())) as rt:
        key = manifest_keys(archive(rt, story(TWEETS[1])))[0]
        assert not rt.store.exists(timestamp_record_key(key))
        assert list(rt.store.list("timestamps/")) == []
        assert ts.timestamp_captures(rt, [key]).skipped


# --- verification of hostile records ------------------------------------------------------------------
@pytest.fixture
def stamped(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
            tsas: tuple[LocalTSA, LocalTSA]) -> tuple[bytes, dict[str, Any], dict[str, bytes], list[bytes]]:
    settings = tmp_settings(**origin.settings_overrides(), **tsa_settings(tsas))
    with Runtime.from_settings(settings) as rt:
        keys = manifest_keys(archive(rt, story(TWEETS[1], TWEETS[2])))
        rec = record(rt, keys[0])
        return rt.store.get(keys[0]), rec, tokens_of(rt, rec), roots_of(tsas)


def _flip_hex(value: str) -> str:
    return ("1" if value[0] == "0" else "0") + value[1:]


@pytest.mark.parametrize(("change", "expect"), [
    (lambda m, r, t: (m + b" ", r, t), "not for this manifest"),
    (lambda m, r, t: (m, {**r, "schema": "x"}, t), "not a timestamp record"),
    (lambda m, r, t: (m, {**r, "leaf": _flip_hex(r["leaf"])}, t), "leaf is not"),
    (lambda m, r, t: (m, {**r, "root": _flip_hex(r["root"])}, t), "inclusion path joins"),
    (lambda m, r, t: (m, {**r, "path": [{"side": "left" if s["side"] == "right" else "right", "hash": s["hash"]}
                                        for s in r["path"]]}, t), "inclusion path joins"),
    (lambda m, r, t: (m, {**r, "path": "x" * 10_000_000}, t), "not a list"),
    (lambda m, r, t: (m, {**r, "tokens": []}, t), "no timestamp token"),
    (lambda m, r, t: (m, r, {}), "missing"),
    (lambda m, r, t: (m, r, dict.fromkeys(t, b"\x30\x03\x02\x01\x00")), "not an RFC 3161"),
    (lambda m, r, t: (m, r, dict.fromkeys(t, b"\x00" * (ts.MAX_RESPONSE_BYTES + 1))), "over"),
    (lambda m, r, t: (m, {**r, "tokens": [{**e, "gen_time": "2001-01-01T00:00:00Z"} for e in r["tokens"]]}, t),
     "the record says time 2001"),
    (lambda m, r, t: (m, {**r, "tokens": [{**e, "serial": "999"} for e in r["tokens"]]}, t), "says serial 999"),
    (lambda m, r, t: (m, {**r, "tokens": [{"token_key": 7}]}, t), "no token_key"),
    (lambda m, r, t: (m, {**r, "manifest_key": "posts/twitter/1/x.json"}, t), "names manifest"),
    (lambda m, r, t: (m, [r], t), "not a timestamp record"),
    (lambda m, r, t: (b"[" * 100_000, {**r, "manifest_sha256": hashlib.sha256(b"[" * 100_000).hexdigest()}, t),
     "leaf is not"),
])
def test_verify_reports_each_tampering_in_one_line(stamped: Any, change: Any, expect: str) -> None:
    manifest, rec, tokens, roots = stamped
    assert ts.verify_capture_timestamps(manifest, rec, tokens, roots) == []
    problems = ts.verify_capture_timestamps(*change(manifest, rec, tokens), roots)
    assert problems and any(expect in p for p in problems), problems
    assert all("\n" not in p and len(p) < 600 for p in problems)


def test_verify_needs_the_right_trust_roots(stamped: Any) -> None:
    manifest, rec, tokens, roots = stamped
    with LocalTSA("a stranger") as stranger:
        problems = ts.verify_capture_timestamps(manifest, rec, tokens, [stranger.ca_pem])
    assert len(problems) == 2 and all("does not verify" in p for p in problems)
    # One TSA's root vouches for its own token only.
    assert len(ts.verify_capture_timestamps(manifest, rec, tokens, roots[:1])) == 1
    # Without roots, the self-signed CA each token carries checks its integrity.
    assert ts.verify_capture_timestamps(manifest, rec, tokens, None) == []
    assert ts.verify_capture_timestamps(manifest, rec, tokens, [b"not a certificate"])


def test_without_ca_certs_a_token_without_its_root_is_taken_in_but_verify_needs_the_root(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> None:
    with LocalTSA("a TSA that sends no root", chain=False) as bare, LocalTSA("one that sends its root") as full:
        settings = tmp_settings(**origin.settings_overrides(), tsa_urls=f"{bare.url},{full.url}", tsa_retries=0)
        with Runtime.from_settings(settings) as rt:
            key = manifest_keys(archive(rt, story(TWEETS[1])))[0]
            rec = record(rt, key)
            assert [t["signature_checked"] for t in rec["tokens"]] == [False, True]
            manifest, tokens = rt.store.get(key), tokens_of(rt, rec)
        [problem] = ts.verify_capture_timestamps(manifest, rec, tokens, None)
        assert problem.startswith(f"token {rec['tokens'][0]['token_key']}: no trust roots given")
        assert ts.verify_capture_timestamps(manifest, rec, tokens, [bare.ca_pem, full.ca_pem]) == []
        assert openssl_verify(rec["root"], tokens[rec["tokens"][0]["token_key"]], bare.ca_file)[0]


# --- the workers' pending set -----------------------------------------------------------------------------
def test_pending_set_batches_due_captures_and_keeps_failures_for_later(
        tmp_settings: Callable[..., Settings], origin: FixtureOrigin, tsas: tuple[LocalTSA, LocalTSA],
        redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(step.PENDING_KEY, step.SCHEDULED_KEY)
    one, _ = tsas
    plain = tmp_settings(**origin.settings_overrides())
    with Runtime.from_settings(plain) as rt:
        noted = manifest_keys(archive(rt, story(TWEETS[1], TWEETS[2]), article_id="noted"))
        archive(rt, story(TWEETS[0]), article_id="unnoted")     # a post and the post it quotes
        unnoted = sorted(set(all_manifests(rt)) - set(noted))
    assert len(noted) == 2 and len(unnoted) == 2
    settings = plain.replace(**tsa_settings((one,)))
    scheduled: list[float] = []
    with Runtime.from_settings(settings) as rt:
        assert step.note_captures(client, noted[:1], scheduled.append, window=5, max_countdown=60)
        assert not step.note_captures(client, noted[1:], scheduled.append, window=5, max_countdown=60)
        assert scheduled == [5]                                   # one batch per window
        one.mode = "error"
        run = step.run_pending(rt, client)
        assert sorted(run.pending) == sorted(noted) and one.requests == 1
        # Still pending, due after the first retry delay.
        due = dict(client.zrange(step.PENDING_KEY, 0, -1, withscores=True))
        assert sorted(k.decode() for k in due) == sorted(noted)
        assert all(score > time.time() + 30 for score in due.values())
        one.mode = "ok"
        assert step.run_pending(rt, client).requests == 0        # nothing due yet
        later = utcnow() + timedelta(seconds=61)
        run = step.run_pending(rt, client, scan=True, now=later)  # the scan finds the captures never noted
        assert run.stamped == 4 and run.requests == 2 and client.zcard(step.PENDING_KEY) == 0
        assert len({record(rt, k)["root"] for k in noted}) == 1
        assert len({record(rt, k)["root"] for k in [*noted, *unnoted]}) == 2
        for k in [*noted, *unnoted]:
            rec = record(rt, k)
            assert ts.verify_capture_timestamps(rt.store.get(k), rec, tokens_of(rt, rec), [one.ca_pem]) == []


@pytest.mark.integration
def test_workers_timestamp_what_they_capture_in_one_batch(
        tmp_path: Path, redis_url: str, s3: Any, origin: FixtureOrigin, tsas: tuple[LocalTSA, LocalTSA]) -> None:
    import subprocess
    import sys

    import redis

    from tests.harness.celery_worker import ROOT, Worker, settings_env

    redis.Redis.from_url(redis_url).delete(step.PENDING_KEY, step.SCHEDULED_KEY)
    settings = load_settings(env={}).replace(
        home=str(tmp_path), catalog=f"sqlite:///{tmp_path / 'catalog.sqlite3'}", broker_url=redis_url,
        public_base_url="https://archive.example/media", visibility_timeout=8, lock_lease=3.0,
        **s3.settings_overrides(s3.make_bucket(), "prod"), **origin.settings_overrides(),
        **tsa_settings(tsas, tsa_batch_window=2.0))
    path = tmp_path / "story.html"
    path.write_bytes(story(*TWEETS))
    with Worker(settings_env(settings), tmp_path / "worker.log", concurrency=3):
        out = subprocess.run([sys.executable, "-m", "archiver.cli", "submit", str(path), "--article-id", "story",
                              "--json", "--wait", "90"], env=settings_env(settings), capture_output=True, text=True,
                             timeout=150, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["version"] == 1
        with Runtime.from_settings(settings) as rt:
            keys = all_manifests(rt)
            assert len(keys) == 4
            deadline = time.monotonic() + 60
            while ts.find_pending(rt):
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
                time.sleep(0.5)
            recs = [record(rt, k) for k in keys]
            for k, rec in zip(keys, recs, strict=True):
                assert ts.verify_capture_timestamps(rt.store.get(k), rec, tokens_of(rt, rec), roots_of(tsas)) == []
            # Captures committed within one window share a root: far fewer requests than captures.
            roots = {r["root"] for r in recs}
            assert len(roots) < len(keys)
            assert [t.requests for t in tsas] == [len(roots)] * 2
    assert redis.Redis.from_url(redis_url).zcard(step.PENDING_KEY) == 0


# --- the CLI and settings -------------------------------------------------------------------------------
def test_archiver_timestamp_command(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                    tsas: tuple[LocalTSA, LocalTSA], monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_settings(**origin.settings_overrides())
    with Runtime.from_settings(plain) as rt:
        keys = manifest_keys(archive(rt, story(TWEETS[1], TWEETS[2])))
    monkeypatch.setenv("ARCHIVER_HOME", plain.home)
    monkeypatch.setenv("ARCHIVER_FETCH_ALLOW", "127.0.0.1")
    assert cli_main(["timestamp"]) == 2
    assert capsys.readouterr().err.strip() == ("archiver: error: no time-stamping authority configured: set "
                                               "ARCHIVER_TSA_URLS (a comma list of TSA URLs)")
    for name, value in tsa_settings(tsas).items():
        monkeypatch.setenv(f"ARCHIVER_{name.upper()}", str(value))
    assert cli_main(["timestamp", "posts/../x.json"]) == 2
    assert "not a manifest key" in capsys.readouterr().err
    assert cli_main(["timestamp", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["captures"], out["stamped"], out["pending"], len(out["roots"])) == (2, 2, [], 1)
    assert cli_main(["timestamp"]) == 0
    assert capsys.readouterr().out.startswith("looked at 0 capture(s)")
    assert cli_main(["timestamp", keys[0]]) == 0
    assert "1 already complete" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["ftp://tsa.example/", "http://user:pw@tsa.example/", "http://a/,http://a/",
                                   ",".join(f"http://t{i}.example/" for i in range(9)), "http:///nohost"])
def test_bad_tsa_urls_are_one_line_config_errors(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"ARCHIVER_TSA_URLS": value})
    assert str(err.value).startswith("ARCHIVER_TSA_URLS=") and "\n" not in str(err.value)
    assert "pw@" not in str(err.value)


def test_unreadable_trust_roots_are_a_config_error(tmp_path: Path, tsas: tuple[LocalTSA, LocalTSA]) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"bad\.pem"):
        ts.load_trust_roots(Settings(tsa_ca_certs=str(bad)))
    both = tmp_path / "both.pem"
    both.write_bytes(tsas[0].ca_pem + tsas[1].ca_pem)
    assert len(ts.load_trust_roots(Settings(tsa_ca_certs=str(both)))) == 2


def test_step_never_raises(tmp_settings: Callable[..., Settings], origin: FixtureOrigin, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    settings = tmp_settings(**origin.settings_overrides(), tsa_urls="http://127.0.0.1:9/tsr", tsa_ca_certs=str(bad))
    with Runtime.from_settings(settings) as rt:
        rep = archive(rt, story(TWEETS[1]))
        assert rep["version"] == 1
        assert step.timestamp_after_run(rt, {}) is None


def test_the_demo_says_whether_its_captures_are_timestamped(tmp_settings: Callable[..., Settings], tmp_path: Path,
                                                          tsas: tuple[LocalTSA, LocalTSA]) -> None:
    out = io.StringIO()
    run_demo(tmp_settings(home=str(tmp_path / "off")), out=out)
    assert "trusted time: off (ARCHIVER_TSA_URLS is empty" in out.getvalue()
    out = io.StringIO()
    run_demo(tmp_settings(home=str(tmp_path / "on"), **tsa_settings(tsas)), out=out)
    [line] = [x for x in out.getvalue().splitlines() if x.startswith("trusted time: ")]
    assert f"timestamped by {tsas[0].url} at " in line and f", {tsas[1].url} at " in line
    assert "waiting" not in line


def test_the_readme_steps_check_a_capture_by_hand(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                  tsas: tuple[LocalTSA, LocalTSA], tmp_path: Path) -> None:
    import re
    import subprocess

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    script = re.search(r"\*\*Checking one by hand\*\*.*?```sh\n(.*?)```", readme, re.S).group(1)
    one, _ = tsas
    with Runtime.from_settings(tmp_settings(**origin.settings_overrides(), **tsa_settings((one,)))) as rt:
        key = manifest_keys(archive(rt, story(*TWEETS)))[1]
        rec = record(rt, key)
        root, work = rec["root"], tmp_path / "by-hand"
        (work / "timestamps" / root).mkdir(parents=True)
        (work / "manifest.json").write_bytes(rt.store.get(key))
        (work / "record.json").write_bytes(rt.store.get(timestamp_record_key(key)))
        (work / "timestamps" / root / "0.tsr").write_bytes(rt.store.get(rec["tokens"][0]["token_key"]))
    assert len(rec["path"]) == 2
    (work / "freetsa-cacert.pem").write_bytes(one.ca_pem)
    run = subprocess.run(["bash", "-e", "-c", script.replace("<root>", root)], cwd=work, capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 0 and f"root OK {root}" in run.stdout and "Verification: OK" in run.stdout, run.stderr
    # A manifest changed by one byte is caught by the first step.
    (work / "manifest.json").write_bytes(b" " + (work / "manifest.json").read_bytes())
    run = subprocess.run(["bash", "-e", "-c", script.replace("<root>", root)], cwd=work, capture_output=True,
                         text=True, timeout=60, check=False)
    assert "root MISMATCH" in run.stdout
