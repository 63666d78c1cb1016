"""WARCs as received (issue 16, point 1): captures through the fixture origin (gzip, deflate or no coding,
chunked or not) are written as WARC/1.1 that `warcio check` accepts, whose payloads are the bytes the
origin sent, read back with warcio alone into the manifest's text, author and media hashes; the
manifest is checked against its WARC (``check_manifest_against_warc``) and forgeries are caught; WARCs
of earlier versions (1.0, bodies stored decoded) still read; hostile WARCs end in one line."""

from __future__ import annotations

import copy
import gzip
import hashlib
import html
import io
import json
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archiver import __version__
from archiver.capture.exchange import Exchange
from archiver.capture.fetch import Fetcher
from archiver.capture.manifest import validate_manifest
from archiver.capture.record import store_capture
from archiver.capture.warc import (
    DECODED_LIMIT,
    Resource,
    WarcReadError,
    build_warc,
    check_manifest_against_warc,
    derive_from_warc,
    read_warc,
    resource_uri,
)
from archiver.discover.model import Embed
from archiver.providers.base import CaptureContext, occurrences_in
from archiver.providers.registry import get_provider
from archiver.storage.layout import capture_page_key
from archiver.storage.local import LocalStore
from archiver.testing.fixture_origin import FixtureOrigin

WARCIO = str(Path(sys.executable).with_name("warcio"))
QUOTING = {"id": "1763973978935815120", "handle": "PinecrestObs", "name": "Pinecrest Observer",
           "text": "Ice-out is official on Lake Mont & the ferry is back 👇", "quoted_id": "1762828123138730112",
           "photos": [{"name": "GGR3kxLWAAAq7Zp.jpg", "alt": "The lake", "width": 320, "height": 200}]}
QUOTED = {"id": "1762828123138730112", "handle": "LakemontDPW", "name": "Lakemont Public Works",
          "text": "Lake Mont ice report, Feb 28: stay off the ice."}
PARENT = {"id": "1757429972446608301", "handle": "LakemontDPW", "name": "Lakemont Public Works",
          "text": "Parking ban on Route 9 from 6 pm."}
REPLY = {"id": "1766441302328346877", "handle": "LakemontDPW", "name": "Lakemont Public Works",
         "text": "Update: the ban is lifted.", "parent_id": PARENT["id"]}
MASTODON = {"provider": "mastodon", "url": "https://social.pinecrest.example/@observer/112036596940807418",
            "text": "مرحبا من البحيرة — hello from the lake", "author_name": "Pinecrest Observer",
            "handle": "observer", "lang": "ar", "thumbnail": True}
T0 = datetime(2025, 7, 15, 9, 12, 33, 123000, tzinfo=UTC)


def _embed(tweet: dict[str, Any]) -> Embed:
    return Embed("twitter", tweet["id"], f"https://twitter.com/{tweet['handle']}/status/{tweet['id']}", 0, 0,
                 form="iframe")


@pytest.fixture(scope="module", params=[("gzip", True), ("deflate", False), (None, True)],
                ids=["gzip-chunked", "deflate", "plain-chunked"])
def captured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[dict[str, Any]]:
    """Captures of a quoting tweet with a photo (its quoted post captured with it), a reply and a
    Mastodon post, through a fixture origin that codes and chunks its answers as the param says."""
    coding, chunked = request.param
    tmp = tmp_path_factory.mktemp("warc")
    from archiver.config.settings import load_settings

    with FixtureOrigin(tweets=[QUOTING, QUOTED, PARENT, REPLY], posts=[MASTODON], content_encoding=coding,
                       chunked=chunked) as origin:
        settings = load_settings(env={}).replace(home=str(tmp), **origin.settings_overrides(), fetch_retries=0,
                                                 media_derivatives=False)
        store = LocalStore(tmp / "objects", "http://127.0.0.1:1/media")
        ctx = CaptureContext(settings=settings, fetcher=Fetcher(settings), article_id="a",
                             article_url="https://news.example/story")
        for embed in [_embed(QUOTING), _embed(REPLY), Embed("mastodon", None, MASTODON["url"], 0, 0, form="iframe")]:
            res = store_capture(get_provider(embed.provider).capture(occurrences_in("", [embed]), ctx), ctx, store)
            assert res.status == "archived", res.error
        manifests = {}
        for key in store.list("posts/"):
            if key.endswith(".json"):
                m = json.loads(store.get(key))
                validate_manifest(m)
                manifests[key] = m
        yield {"coding": coding, "chunked": chunked, "store": store, "root": tmp / "objects",
               "manifests": manifests, "origin": origin}


def _of(captured: dict[str, Any], post_id: str) -> dict[str, Any]:
    (m,) = [m for m in captured["manifests"].values() if m["post_id"] == post_id]
    return m


def _warcio_records(data: bytes) -> list[tuple[Any, bytes, bytes]]:
    """(record, stored payload, payload decoded by warcio) for every record, warcio alone."""
    stored = [(rec, rec.raw_stream.read()) for rec in ArchiveIterator(io.BytesIO(data))]
    decoded = [rec.content_stream().read() for rec in ArchiveIterator(io.BytesIO(data))]  # warcio decodes
    return [(rec, raw, d) for (rec, raw), d in zip(stored, decoded, strict=True)]


def test_every_warc_is_1_1_as_received_and_warcio_check_passes(captured: dict[str, Any]) -> None:
    coding = captured["coding"]
    for key, m in captured["manifests"].items():
        path = captured["root"] / m["warc"]
        run = subprocess.run([WARCIO, "check", "-v", str(path)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and "digest pass" in run.stdout and "failed" not in run.stdout, run.stdout
        data = path.read_bytes()
        records = _warcio_records(data)
        assert {r.rec_headers.protocol for r, _, _ in records} == {"WARC/1.1"}
        info, fields, _ = records[0]
        assert info.rec_type == "warcinfo"
        warcinfo = dict(line.split(": ", 1) for line in fields.decode().splitlines())
        assert warcinfo["software"] == f"archiver/{__version__}" and warcinfo["capture-id"] == m["capture_id"]
        assert warcinfo["format"] == "WARC File Format 1.1"
        by_id = {r.rec_headers.get_header("WARC-Record-ID"): r for r, _, _ in records}
        responses = 0
        for rec, raw, decoded in records:
            h = rec.rec_headers
            if rec.rec_type == "resource":
                continue
            if rec.rec_type in ("request", "response"):
                assert h.get_header("WARC-Target-URI", "").startswith("http://127.0.0.1:")
                assert h.get_header("WARC-IP-Address") == "127.0.0.1"
                assert h.get_header("WARC-Block-Digest", "").startswith("sha1:")
                assert h.get_header("WARC-Payload-Digest", "").startswith("sha1:")
                other = by_id[h.get_header("WARC-Concurrent-To")]
                assert other.rec_headers.get_header("WARC-Concurrent-To") == h.get_header("WARC-Record-ID")
                assert other.rec_headers.get_header("WARC-Target-URI") == h.get_header("WARC-Target-URI")
            if rec.rec_type != "response":
                continue
            responses += 1
            http = rec.http_headers
            assert http.get_header("Transfer-Encoding") is None
            assert http.get_header("Content-Length") == str(len(raw)) and h.get_header("WARC-Truncated") is None
            if captured["chunked"]:
                assert http.get_header("X-Archive-Orig-Transfer-Encoding") == "chunked"
            if coding and raw:  # stored coded, exactly as sent: it decodes (by zlib, not by us) to the content
                assert http.get_header("Content-Encoding") == coding
                plain = gzip.decompress(raw) if coding == "gzip" else zlib.decompress(raw)
                assert plain != raw and plain == decoded
            else:
                assert http.get_header("Content-Encoding") is None and decoded == raw
        assert responses >= (3 if m["provider"] == "twitter" else 1), key


def test_the_warc_holds_the_answers_bytes_as_the_origin_sends_them(captured: dict[str, Any]) -> None:
    """The syndication answer stored is what the origin answers for it, byte for byte once decoded,
    and its stored form is the coded form the origin sent (a fresh coding of the same bytes)."""
    origin: FixtureOrigin = captured["origin"]
    m = _of(captured, QUOTING["id"])
    for rec, raw, decoded in _warcio_records((captured["root"] / m["warc"]).read_bytes()):
        if rec.rec_type != "response" or "/tweet-result" not in rec.rec_headers.get_header("WARC-Target-URI"):
            continue
        parts = urlsplit(rec.rec_headers.get_header("WARC-Target-URI"))
        _, _, served = origin.respond(parts.path, dict(parse_qsl(parts.query)))
        assert decoded == served
        if captured["coding"] == "deflate":
            assert raw == zlib.compress(served)
        elif captured["coding"] == "gzip":
            assert raw[:3] == b"\x1f\x8b\x08" and gzip.decompress(raw) == served
        else:
            assert raw == served


def test_a_capture_is_re_derived_from_its_warc_with_warcio_alone(captured: dict[str, Any]) -> None:
    """Text, author name and handle from the syndication answer, every medium's SHA-256 from the
    response at its final URL, and the cards from the resource records: read with warcio only."""
    store = captured["store"]
    for post in (QUOTING, QUOTED, PARENT, REPLY):
        m = _of(captured, post["id"])
        records = _warcio_records(store.get(m["warc"]))
        answers = [json.loads(decoded) for rec, _, decoded in records if rec.rec_type == "response"
                   and dict(parse_qsl(urlsplit(rec.rec_headers.get_header("WARC-Target-URI")).query)).get("id")
                   == post["id"]]
        (tweet,) = answers
        assert m["text_source"] == "syndication" and m["text"] == html.unescape(tweet["text"])
        assert (m["author"]["name"], m["author"]["handle"]) == (tweet["user"]["name"], tweet["user"]["screen_name"])
        assert m["author"]["name"] == post["name"]
        hashes = {(rec.rec_headers.get_header("WARC-Target-URI"), hashlib.sha256(decoded).hexdigest())
                  for rec, _, decoded in records if rec.rec_type == "response" and rec.http_headers.get_statuscode()
                  == "200"}
        for medium in m["media"]:
            assert medium["status"] == "archived" and (medium["final_url"], medium["sha256"]) in hashes
            assert store.get(medium["key"]) and hashlib.sha256(store.get(medium["key"])).hexdigest() == medium["sha256"]
        assert m["author"]["avatar_sha256"] in {sha for _, sha in hashes}
        resources = {rec.rec_headers.get_header("WARC-Target-URI"): (rec.rec_headers.get_header("Content-Type"), raw)
                     for rec, raw, _ in records if rec.rec_type == "resource"}
        page = capture_page_key(m["cards"]["html"].removesuffix(".card.html") + ".json")
        assert resources == {f"urn:archiver:{m['cards']['html']}": ("text/html; charset=utf-8",
                                                                   store.get(m["cards"]["html"])),
                             f"urn:archiver:{m['cards']['png']}": ("image/png", store.get(m["cards"]["png"])),
                             f"urn:archiver:{page}": ("text/html; charset=utf-8", store.get(page))}
        # The manifest binds the WARC file, the cards and the page by their stored bytes.
        assert m["warc_sha256"] == hashlib.sha256(store.get(m["warc"])).hexdigest()
        assert m["cards"]["page_sha256"] == hashlib.sha256(store.get(page)).hexdigest()
    assert len(_of(captured, QUOTING["id"])["media"]) == 1


def test_every_manifest_agrees_with_its_warc(captured: dict[str, Any]) -> None:
    for key, m in captured["manifests"].items():
        warc = captured["store"].get(m["warc"])
        assert check_manifest_against_warc(m, warc) == [], key
        derived = derive_from_warc(warc, m["provider"])
        assert derived["warc_version"] == "1.1" and derived["capture_id"] == m["capture_id"]
        assert derived["software"] == f"archiver/{__version__}" and derived["problems"] == []
    mastodon = next(m for m in captured["manifests"].values() if m["provider"] == "mastodon")
    derived = derive_from_warc(captured["store"].get(mastodon["warc"]), "mastodon")
    said = derived["posts"][f"url:{MASTODON['url']}"]
    assert [e["value"] for e in said["texts"]] == [MASTODON["text"]] == [mastodon["text"]]
    assert [e["value"] for e in said["handles"]] == ["observer@social.pinecrest.example"]
    quoting = derive_from_warc(captured["store"].get(_of(captured, QUOTING["id"])["warc"]))
    # The quoted post's copy in the quoting post's answer is read as the capture reads it.
    assert [e["source"] for e in quoting["posts"][QUOTED["id"]]["texts"]] == ["quoting_post"]


def _first_media(m: dict[str, Any]) -> dict[str, Any]:
    return m["media"][0]


FORGERIES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "author name": (lambda m: m["author"].update(name="Someone Else"), '"Someone Else"'),
    "author handle": (lambda m: m["author"].update(handle="SomeoneElse"), '"SomeoneElse"'),
    "text": (lambda m: m.update(text="Ice-out is cancelled"), '"Ice-out is cancelled"'),
    "a source's text": (lambda m: next(t for t in m["texts"] if t["source"] == "oembed").update(text="forged"),
                        '"forged"'),
    "text from the markup, texts dropped": (
        lambda m: (m.update(text="forged", text_source="publisher_markup"), m.pop("texts")), '"forged"'),
    "a text the answers give dropped": (
        lambda m: m.update(texts=[t for t in m["texts"] if t["source"] != "oembed"]), "does not list"),
    "media hash": (lambda m: _first_media(m).update(sha256="ab" * 32), "abababab"),
    "media final URL": (lambda m: _first_media(m).update(final_url="https://elsewhere.example/p.jpg"),
                        "elsewhere.example"),
    "avatar": (lambda m: m["author"].update(avatar_sha256="cd" * 32), "avatar cdcdcdcd"),
    "a source's hash": (lambda m: next(s for s in m["sources"] if s["name"] == "syndication").update(
        response_sha256="ef" * 32), "efefefef"),
    # What the answers decide (x16 finding 2): each kind of field, one edit each.
    "status archived -> deleted": (lambda m: m.update(status="deleted"), "is not what the WARC's answers decide"),
    "status archived -> tombstoned": (lambda m: m.update(status="tombstoned", error="This Post is unavailable."),
                                      "decide: archived"),
    "status archived -> unavailable": (lambda m: m.update(status="unavailable"), "decide: archived"),
    "captured_at moved years back": (lambda m: m.update(captured_at="2019-01-01T00:00:00.000Z"),
                                     "before the WARC's first exchange"),
    "captured_at moved forward": (lambda m: m.update(captured_at="2031-01-01T00:00:00.000Z"),
                                  "after the WARC was written"),
    "the photo dropped from media": (lambda m: m.update(media=[]), "neither in media nor in missing"),
    "the photo failed, in missing, status partial": (
        lambda m: (_first_media(m).update(status="failed", sha256=None),
                   m.update(status="partial", missing=[{"part": "photo", "ref": _first_media(m)["original_url"],
                                                        "reason": "HTTP 404"}])),
        "the WARC holds a whole 2xx image or video answer"),
    "the photo's status missing, not listed": (lambda m: _first_media(m).update(status="missing", sha256=None),
                                               "but not in missing"),
    "archived while lacking parts": (lambda m: m.update(missing=[{"part": "photo", "ref": "x", "reason": "y"}]),
                                     "with 1 missing part"),
    "every source dropped": (lambda m: m.update(sources=[]), "is in no source entry"),
    "a source's HTTP status dropped": (lambda m: [s.update(http_status=None, response_sha256=None)
                                                  for s in m["sources"] if s["name"] == "syndication"],
                                       "says no answer came"),
    "a source's HTTP status changed": (lambda m: [s.update(http_status=404) for s in m["sources"]
                                                  if s["name"] == "oembed"], 'has its HTTP status "404"'),
    "a source's hash dropped": (lambda m: [s.update(response_sha256=None) for s in m["sources"]
                                           if s["name"] == "oembed"], "names no SHA-256"),
    "created_at": (lambda m: m.update(created_at="2020-01-01T00:00:00.000Z"), 'created_at "2020-01-01'),
    "quoted post": (lambda m: m["quoted"].update(post_id="1"), 'quoted post "1" is not the one'),
    "quoted post dropped": (lambda m: m.update(quoted=None), "quoted post none is not the one"),
    "parent post added": (lambda m: m.update(parent={"post_id": "5", "url": None, "capture_id": None,
                                                     "manifest_key": None, "status": "archived"}),
                          'parent post "5"'),
    "metrics": (lambda m: m["metrics"].update(favorite_count=99999), 'metrics "favorite_count"'),
    "author id": (lambda m: m["author"].update(id="12"), 'author id "12"'),
    "lang": (lambda m: m.update(lang="ru"), 'lang "ru"'),
    "entities": (lambda m: m.update(entities={"mentions": [{"handle": "POTUS", "id": None, "name": None}],
                                              "hashtags": [], "urls": []}), "entities"),
    "avatar digest dropped": (lambda m: m["author"].update(avatar_sha256=None), "has no SHA-256, but the WARC"),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_manifest_is_caught_by_its_warc(captured: dict[str, Any], forgery: str) -> None:
    m = _of(captured, QUOTING["id"])
    warc = captured["store"].get(m["warc"])
    edit, shown = FORGERIES[forgery]
    forged = copy.deepcopy(m)
    edit(forged)
    problems = check_manifest_against_warc(forged, warc)
    assert problems and any(shown in p for p in problems), problems
    assert all("\n" not in p and len(p) < 600 for p in problems)


def test_the_quoted_and_the_oembed_posts_status_is_what_their_answers_decide(captured: dict[str, Any]) -> None:
    """The quoted post's capture (its own answers and its copy in the quoting post's answer) and an
    oEmbed provider's (oEmbed 200 with a text: archived) are held to the status their answers decide."""
    quoted = _of(captured, QUOTED["id"])
    mastodon = next(m for m in captured["manifests"].values() if m["provider"] == "mastodon")
    for m, forged in ((quoted, "deleted"), (quoted, "suspended"), (mastodon, "deleted"), (mastodon, "protected")):
        problems = check_manifest_against_warc({**m, "status": forged}, captured["store"].get(m["warc"]))
        assert any(f'status "{forged}" is not what' in p for p in problems), problems


def _answers_warc(synd: tuple[int, bytes], oembed: tuple[int, bytes], post_id: str = "1945048830047662202") -> bytes:
    """A WARC of a Twitter capture's two answers: syndication's and oEmbed's (status, body)."""
    url = f"https://twitter.com/a/status/{post_id}"
    return build_warc([
        _exchange(url=f"http://127.0.0.1:9/oembed?url={url}", status=oembed[0], body=oembed[1]),
        _exchange(url=f"http://127.0.0.1:9/tweet-result?id={post_id}&token=x", status=synd[0], body=synd[1])],
        capture_id="20250715T091233Z-0011aabb", created_at=T0)


@pytest.mark.parametrize(("synd", "oembed", "decided"), [
    ((404, b"{}"), (404, b"{}"), "deleted"),
    ((200, b'{"__typename": "TweetTombstone", "tombstone": {"text": "This Post is from a suspended account."}}'),
     (404, b"{}"), "suspended"),
    ((200, b'{"__typename": "TweetTombstone", "tombstone": {"text": "Nothing to see."}}'), (200, b"{}"),
     "tombstoned"),
    ((403, b""), (403, b""), "protected"),
])
def test_a_gone_status_needs_the_answer_that_says_so(synd: tuple[int, bytes], oembed: tuple[int, bytes],
                                                     decided: str) -> None:
    warc = _answers_warc(synd, oembed)
    base = {"provider": "twitter", "post_id": "1945048830047662202", "captured_at": "2025-07-15T09:12:33.500Z"}
    assert not [p for p in check_manifest_against_warc({**base, "status": decided}, warc) if p.startswith("status")]
    for other in ({"archived", "deleted", "suspended", "tombstoned", "protected", "partial"} - {decided}):
        problems = check_manifest_against_warc({**base, "status": other}, warc)
        assert any(f"decide: {decided}" in p for p in problems), (other, problems)


def test_another_captures_warc_does_not_pass_for_this_ones(captured: dict[str, Any]) -> None:
    m, other = _of(captured, QUOTING["id"]), _of(captured, REPLY["id"])
    problems = check_manifest_against_warc(m, captured["store"].get(other["warc"]))
    assert any("no response in the WARC" in p for p in problems)
    assert any("not in any answer the WARC holds" in p or "is not an answer the WARC holds" in p for p in problems)


def test_an_edited_payload_is_caught_by_its_digests(captured: dict[str, Any]) -> None:
    """The WARC edited in place, lengths kept (the author renamed wherever the stored bytes name him:
    the card's resource record, and the answers when they are not coded): its digests no longer hold,
    and an answer that now names someone else no longer agrees with the manifest."""
    m = _of(captured, QUOTING["id"])
    plain = gzip.decompress(captured["store"].get(m["warc"]))  # the WARC, every record uncompressed
    edited = plain.replace(b"Pinecrest Observer", b"Pinecrest Obscurer")
    assert edited != plain
    problems = check_manifest_against_warc(m, edited)
    assert any('resource record "urn:archiver:' in p and "digest" in p for p in problems), problems
    renamed = any('author name "Pinecrest Observer"' in p for p in problems)
    assert renamed is (captured["coding"] is None), problems


# --- writing: what the records say about a response ------------------------------------------------
def _exchange(**kw: Any) -> Exchange:
    base: dict[str, Any] = dict(method="GET", url="http://127.0.0.1:9/tweet-result?id=1", request_headers={
        "User-Agent": "archiver"}, status=200, response_headers=[("Content-Type", "application/json")],
        resolved_ip="127.0.0.1", started_at=T0, elapsed_ms=3.0, body=b'{"id_str":"1"}')
    base.update(kw)
    return Exchange(**base)


def _check(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "w.warc.gz"
    path.write_bytes(data)
    run = subprocess.run([WARCIO, "check", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout


def test_cut_bodies_dropped_bodies_and_failures_are_recorded_as_such(tmp_path: Path) -> None:
    coded = gzip.compress(b"x" * 5000)
    cut = _exchange(url="http://127.0.0.1:9/big", response_headers=[("Content-Encoding", "gzip"),
                                                                    ("Content-Length", "99999")],
                    body=b"x" * 5000, wire_body=coded[:40], truncated="length", error="over the cap")
    short = _exchange(url="http://127.0.0.1:9/short", response_headers=[("Content-Length", "10")], body=b"abc")
    page = _exchange(url="http://127.0.0.1:9/page", reason="Okay",
                     response_headers=[("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
                     body=b"<html>secret page</html>")
    page.drop_body()
    failed = _exchange(url="http://127.0.0.1:9/slow", status=None, response_headers=[], body=b"",
                       error="timeout: read timed out", resolved_ip=None)
    card = Resource("posts/twitter/1/20250715T091233Z-0011aabb.card.html", b"<p>card</p>", "text/html; charset=utf-8")
    data = build_warc([cut, short, page, failed], capture_id="20250715T091233Z-0011aabb", resources=[card])
    _check(tmp_path, data)
    records = read_warc(data)
    assert [r["type"] for r in records] == ["warcinfo", "resource", "request", "response", "request", "response",
                                            "request", "response", "request", "metadata"]
    assert records[1]["uri"] == resource_uri(card.key) == "urn:archiver:" + card.key
    big, small, dropped = records[3], records[5], records[7]
    assert big["wire"] == coded[:40] and big["truncated"] == "length" and big["date"] == "2025-07-15T09:12:33.123000Z"
    assert ("X-Archive-Orig-Content-Length", "99999") in big["http_headers"]
    assert ("Content-Length", "40") in big["http_headers"] and ("Content-Encoding", "gzip") in big["http_headers"]
    assert small["truncated"] == "unspecified" and ("X-Archive-Orig-Content-Length", "10") in small["http_headers"]
    assert dropped["wire"] == b"" and dropped["truncated"] == "unspecified"
    assert ("X-Archive-Orig-Transfer-Encoding", "chunked") in dropped["http_headers"]
    assert b"secret" not in gzip.decompress(data)
    assert b"read timed out" in records[9]["payload"] and records[8]["ip"] is None
    status_lines = [line for line in gzip.decompress(data).split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    assert status_lines == [b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 Okay"]


def test_a_truncated_answer_is_not_held_against_the_manifest(tmp_path: Path) -> None:
    """The capture hashed what it decoded before the cut; the stored coded bytes decode further or
    not at all: a truncated record is not compared, and its undecodable payload is not a problem."""
    coded = gzip.compress(json.dumps({"id_str": "1", "text": "x" * 3000}).encode())
    ex = _exchange(body=b'{"id_str":"1","te', wire_body=coded[:30], truncated="length",
                   response_headers=[("Content-Encoding", "gzip")])
    data = build_warc([ex], capture_id="20250715T091233Z-0011aabb")
    manifest = {"provider": "twitter", "post_id": "1", "sources": [{
        "name": "syndication", "final_url": ex.url, "http_status": 200, "response_sha256": ex.sha256}]}
    assert check_manifest_against_warc(manifest, data) == []


# --- WARCs of earlier versions --------------------------------------------------------------------
def _old_warc(body: bytes, url: str) -> bytes:
    """A WARC as archiver wrote them before issue 16: WARC/1.0 records, the body stored decoded and the
    wire-form headers renamed X-Archive-Orig-…, the stored length stated."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    writer.write_record(writer.create_warcinfo_record("c.warc.gz", {"software": "archiver/0.0.9",
                                                                    "capture-id": "20240101T000000Z-00000000"}))
    req = writer.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=StatusAndHeaders(
        "GET /tweet-result?id=1757429972446608301 HTTP/1.1", [("Host", "127.0.0.1:9")], is_http_request=True))
    writer.write_record(req)
    headers = [("Content-Type", "application/json"), ("X-Archive-Orig-Content-Encoding", "gzip"),
               ("X-Archive-Orig-Content-Length", "77"), ("Content-Length", str(len(body)))]
    writer.write_record(writer.create_warc_record(
        url, "response", payload=io.BytesIO(body),
        http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
        warc_headers_dict={"WARC-Concurrent-To": req.rec_headers.get_header("WARC-Record-ID"),
                           "WARC-Date": "2024-01-01T00:00:00Z"}))
    return buf.getvalue()


def test_a_warc_1_0_of_an_earlier_version_still_reads_and_checks() -> None:
    answer = {"__typename": "Tweet", "id_str": "1757429972446608301", "text": "Crews are out &amp; about",
              "user": {"name": "Lakemont Public Works", "screen_name": "LakemontDPW"}}
    body = json.dumps(answer).encode()
    url = "http://127.0.0.1:9/tweet-result?id=1757429972446608301"
    data = _old_warc(body, url)
    records = read_warc(data)
    assert [r["type"] for r in records] == ["warcinfo", "request", "response"]
    assert records[2]["payload"] == body and records[2]["warc_version"] == "WARC/1.0"
    derived = derive_from_warc(data)
    assert derived["warc_version"] == "1.0" and derived["software"] == "archiver/0.0.9"
    post = derived["posts"]["1757429972446608301"]
    assert [e["value"] for e in post["texts"]] == ["Crews are out & about"]
    manifest = {"schema": "archiver.manifest.v1", "provider": "twitter", "post_id": "1757429972446608301",
                "text": "Crews are out & about", "text_source": "syndication",
                "author": {"name": "Lakemont Public Works", "handle": "LakemontDPW"}, "media": [],
                "sources": [{"name": "syndication", "final_url": url, "http_status": 200,
                             "response_sha256": hashlib.sha256(body).hexdigest()}]}
    assert check_manifest_against_warc(manifest, data) == []
    manifest["author"]["name"] = "Someone Else"
    assert check_manifest_against_warc(manifest, data) != []


# --- hostile WARCs --------------------------------------------------------------------------------
def _response_warc(payload: bytes, headers: list[tuple[str, str]], *, uri: str = "http://127.0.0.1:9/x") -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True, warc_version="1.1")
    writer.write_record(writer.create_warc_record(
        uri, "response", payload=io.BytesIO(payload),
        http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")))
    return buf.getvalue()


def _bomb(megabytes: int) -> bytes:
    make = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(make.compress(b"\0" * 1_000_000) for _ in range(megabytes)) + make.flush()


HOSTILE: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "garbage": lambda: bytes(range(256)) * 40,
    "a gzip that is not a WARC": lambda: gzip.compress(b"hello world " * 100),
    "a WARC cut in the middle": lambda: _response_warc(b"x" * 5000, [])[:300],
    "a decompression bomb": lambda: _response_warc(_bomb(DECODED_LIMIT // 1_000_000 + 20),
                                                   [("Content-Encoding", "gzip")]),
    "a payload that does not decode": lambda: _response_warc(b"\x1f\x8b\x08\x00" + b"\xff" * 200,
                                                             [("Content-Encoding", "gzip")]),
    "a coding chain too long": lambda: _response_warc(b"abc", [("Content-Encoding", ", ".join(["gzip"] * 9))]),
    "a broken chunked payload": lambda: _response_warc(b"zz\r\nnot hex\r\n", [("Transfer-Encoding", "chunked")]),
    "JSON nested a million deep": lambda: _response_warc(b'{"a":' * 1_000_000, [("Content-Type", "application/json")]),
    "a control-laden author": lambda: _response_warc(json.dumps(
        {"__typename": "Tweet", "id_str": "1", "text": "t", "user": {"name": "\x1b[31mred\u202e", "screen_name": "x"}}
    ).encode(), []),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_warc_is_one_line_never_a_traceback(kind: str) -> None:
    data = HOSTILE[kind]()
    manifest = {"schema": "archiver.manifest.v2", "provider": "twitter", "post_id": "1", "text": "t",
                "text_source": "syndication", "author": {"name": "Someone", "handle": "x"},
                "media": [{"type": "photo", "status": "archived", "sha256": "ab" * 32,
                           "final_url": "http://127.0.0.1:9/x"}], "sources": []}
    t0 = time.monotonic()
    problems = check_manifest_against_warc(manifest, data)
    assert problems and time.monotonic() - t0 < 20
    assert all(isinstance(p, str) and "\n" not in p and "\x1b" not in p and "\u202e" not in p and len(p) < 600
               for p in problems), problems
    if kind in ("empty", "garbage", "a gzip that is not a WARC", "a WARC cut in the middle"):
        with pytest.raises(WarcReadError):
            derive_from_warc(data)
    if kind == "a decompression bomb":
        assert any("decodes to more than" in p for p in problems), problems
    if kind == "a control-laden author":
        assert any("\\u001b[31mred\\u202e" in p for p in problems), problems
    assert check_manifest_against_warc("not a manifest", data) == ["the manifest is not a JSON object"]  # type: ignore[arg-type]


def test_a_manifest_of_hostile_shapes_is_checked_without_raising(captured: dict[str, Any]) -> None:
    m = _of(captured, QUOTING["id"])
    warc = captured["store"].get(m["warc"])
    """Values of the wrong type are problems, never a raise (no sources and no media: the WARC's answers
    and the medium its answer lists are in none)."""
    for edit, wrong in ((lambda d: d["author"].update(name=["Pinecrest Observer"]), True),
                        (lambda d: d.update(texts=[{"source": {"x": 1}, "text": ["t"]}, "junk"]), True),
                        (lambda d: d.update(text={"t": 1}), True),
                        (lambda d: d.update(card={"image": {"status": "archived", "sha256": 7}}), True),
                        (lambda d: d.update(media="photo", sources={"name": "x"}), True),
                        (lambda d: d.update(text_source=["syndication"], post_id=None, url=12), True)):
        forged = copy.deepcopy(m)
        edit(forged)
        problems = check_manifest_against_warc(forged, warc)
        assert bool(problems) is wrong and all(isinstance(p, str) and "\n" not in p for p in problems), problems


def test_an_answer_too_big_to_keep_is_reported_not_taken_as_agreeing() -> None:
    """Bounded memory: a syndication answer over BODY_KEEP bytes is not kept for the answer checks, and
    that is a problem, not a pass."""
    from archiver.capture.warc import BODY_KEEP

    post_id = "1945048830047662202"
    big = json.dumps({"__typename": "Tweet", "id_str": post_id, "text": "x",
                      "pad": "y" * (BODY_KEEP + 10)}).encode()
    warc = _answers_warc((200, big), (404, b"{}"), post_id)
    problems = check_manifest_against_warc({"provider": "twitter", "post_id": post_id, "status": "deleted"}, warc)
    assert any("not kept for checking" in p for p in problems), problems


def test_any_field_of_the_wrong_type_is_compared_not_crashed_on(captured: dict[str, Any]) -> None:
    """Every field of a real manifest, one at a time, set to a value of another type: each check reads
    it by rule (a wrong type is not the WARC's value), so none ends in the catch-all line."""
    m = _of(captured, QUOTING["id"])
    warc = captured["store"].get(m["warc"])

    def paths(o: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        items = o.items() if isinstance(o, dict) else enumerate(o[:2]) if isinstance(o, list) else ()
        for k, v in items:
            yield (*path, k)
            yield from paths(v, (*path, k))

    for path in list(paths(m)):
        for wrong in (None, 7, ["a"], {"a": [1]}):
            forged = copy.deepcopy(m)
            holder = forged
            for k in path[:-1]:
                holder = holder[k]
            holder[path[-1]] = wrong
            problems = check_manifest_against_warc(forged, warc)
            assert not any("could not be checked" in p for p in problems), (path, wrong, problems)


def test_each_record_is_its_own_gzip_member_media_stored_uncompressed(tmp_path: Path) -> None:
    # Compressed payloads (a JPEG, a PNG card, a gzip-coded body) go into their gzip member at level 0
    # (deflate would spend milliseconds to shrink them by a few per cent); text at zlib's default. Either
    # way the WARC is one gzip member per record, warcio check passes and every payload reads back as stored.
    jpeg = bytes(range(256)) * 600  # stands for already-compressed bytes
    page = b"<html>" + b"<p>hello world</p>" * 400 + b"</html>"
    coded = gzip.compress(page)
    t0 = datetime(2025, 7, 15, 9, 12, 33, tzinfo=UTC)
    exchanges = [
        Exchange("GET", "http://127.0.0.1:1/a.jpg", {"User-Agent": "t"}, 200,
                 [("Content-Type", "image/jpeg"), ("Content-Length", str(len(jpeg)))], started_at=t0, body=jpeg),
        Exchange("GET", "http://127.0.0.1:1/p.html", {"User-Agent": "t"}, 200,
                 [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Content-Length", str(len(coded)))],
                 started_at=t0, body=page, wire_body=coded),
        Exchange("GET", "http://127.0.0.1:1/q.json", {"User-Agent": "t"}, 200,
                 [("Content-Type", "application/json"), ("Content-Length", str(len(page)))], started_at=t0, body=page),
    ]
    card = Resource("posts/twitter/1/x.card.png", b"\x89PNG" + jpeg, "image/png")
    html_card = Resource("posts/twitter/1/x.card.html", page, "text/html; charset=utf-8")
    data = build_warc(exchanges, capture_id="20250715T091233Z-0123abcd", resources=[card, html_card], created_at=t0)
    path = tmp_path / "x.warc.gz"
    path.write_bytes(data)
    run = subprocess.run([WARCIO, "check", "-v", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "digest pass" in run.stdout and "failed" not in run.stdout, run.stdout
    # Members, in order, with the gzip header's XFL byte (4: level 0 or 1, 0: default level).
    members, rest = [], data
    while rest:
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        d.decompress(rest)
        members.append((rest[8], rest[:len(rest) - len(d.unused_data)]))
        rest = d.unused_data
    records = list(ArchiveIterator(io.BytesIO(data)))
    assert len(members) == len(records) == 1 + 2 + 2 * 3
    fast = {i for i, (xfl, _) in enumerate(members) if xfl == 4}
    # warcinfo, PNG card, HTML card, then request/response per exchange: JPEG, coded HTML, JSON.
    assert fast == {1, 4, 6}
    payloads = [rec.raw_stream.read() for rec in ArchiveIterator(io.BytesIO(data))]
    assert payloads[1] == card.data and payloads[4] == jpeg and payloads[6] == coded and payloads[8] == page
