"""Stored copies are streamed, never read whole: ObjectStore.stream on a local directory and on S3 (a real
SeaweedFS), and the routes that serve copies (/media/, /evidence/, an image's Memento) through the app's
test client and a real uvicorn server: bounded chunks, HEAD from metadata, single byte ranges (RFC 9110
§14), the stream closed when the client goes away, and bounded peak memory for a large copy."""

from __future__ import annotations

import http.client
import random
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from archiver.config.settings import Settings
from archiver.runtime import Runtime
from archiver.storage.backend import open_store
from archiver.storage.base import ObjectNotFound, ObjectStore
from archiver.testing.fixture_origin import FixtureOrigin
from archiver.web.app import create_app
from tests.apikit import Api, api, archive_sample, fixture_origin
from tests.browser_kit import serve
from tests.harness.services import SeaweedFS

CHUNK = 64 * 1024            # the most bytes one read of a served copy may take from the store
SNIFF = 8192                 # the most bytes HEAD (or a range) may read to tell a blob's type
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def jpeg_like(size: int, seed: int = 7) -> bytes:
    """`size` bytes starting with a JPEG signature (so a blob sniffs as image/jpeg), the rest random."""
    return JPEG + random.Random(seed).randbytes(size - len(JPEG))


def store_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "local":
        return {"storage": (tmp_path / "objects").as_uri()}
    s3: SeaweedFS = request.getfixturevalue("s3")
    return s3.settings_overrides(request.getfixturevalue("s3_bucket"), "site")


@dataclass
class Spy:
    """What the served copy's store was asked: each stream opened (start, stop, the stream) and the size
    of every piece read from one."""

    key: str
    opened: list[tuple[int, int | None, Any]] = field(default_factory=list)
    pieces: list[int] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(self.pieces)


def spy_on(monkeypatch: pytest.MonkeyPatch, store: ObjectStore, key: str) -> Spy:
    """Refuse store.get of `key` (reading the copy whole) and record every stream opened on the store."""
    spy = Spy(key)
    real_get = store.get

    def get(k: str) -> bytes:
        if k == key:
            raise AssertionError(f"store.get({k!r}) read the copy whole")
        return real_get(k)

    monkeypatch.setattr(store, "get", get)
    real_stream = getattr(store, "stream", None)
    if real_stream is None:   # a store without streaming (the old interface): nothing to record
        return spy

    def stream(k: str, start: int = 0, stop: int | None = None, **kw: Any) -> Any:
        opened = real_stream(k, start, stop, **kw)
        read = opened._read

        def counted(n: int) -> bytes:
            piece = read(n)
            spy.pieces.append(len(piece))
            return piece

        opened._read = counted
        spy.opened.append((start, stop, opened))
        return opened

    monkeypatch.setattr(store, "stream", stream)
    return spy


# --- the stores ---------------------------------------------------------------------------------------
@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_settings: Callable[..., Settings], tmp_path: Path) -> ObjectStore:
    return open_store(tmp_settings(public_base_url="https://media.example.org/archive",
                                   **store_overrides(request, tmp_path)))


def test_store_streams_objects_and_ranges_in_bounded_chunks(store: ObjectStore) -> None:
    data = jpeg_like(300_000)
    _, key, _ = store.put_blob(data, "image/jpeg")
    with store.stream(key, chunk_size=CHUNK) as whole:
        assert (whole.size, whole.start, whole.stop, whole.length) == (len(data), 0, len(data), len(data))
        chunks = list(whole)
    assert whole.closed and b"".join(chunks) == data
    assert max(map(len, chunks)) <= CHUNK and all(chunks) and len(chunks) == -(-len(data) // CHUNK)
    cases = [(0, 1), (10, 100), (CHUNK - 1, CHUNK + 1), (len(data) - 5, None), (0, None), (5, 10 ** 12),
             (len(data), None), (len(data) + 50, None), (7, 7)]
    for start, stop in cases:
        with store.stream(key, start, stop, chunk_size=1000) as part:
            got = b"".join(part)
            assert part.size == len(data), (start, stop)
        assert got == data[start:stop], (start, stop)
    with store.stream(key, 100) as first:
        assert first.read(5) == data[100:105]   # read a little, then close without reading the rest
    assert first.closed and list(first) == []
    assert store.put("posts/x/empty.json", b"")
    assert b"".join(store.stream("posts/x/empty.json")) == b""
    assert b"".join(store.stream("posts/x/empty.json", 3)) == b""
    with pytest.raises(ObjectNotFound):
        store.stream("blobs/sha256/00/missing")
    for start, stop in ((-1, None), (10, 5)):
        with pytest.raises(ValueError):
            store.stream(key, start, stop)


# --- the routes, through the test client --------------------------------------------------------------
@pytest.fixture(params=["local", "s3"])
def served(request: pytest.FixtureRequest, tmp_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Api]:
    settings = tmp_settings(broker_url="", public_base_url="https://archive.example/media",
                            **store_overrides(request, tmp_path))
    with api(settings) as a:
        yield a


BIG = 3 * 1024 * 1024 + 12_345


def test_media_get_streams_the_copy_in_bounded_chunks(served: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    data = jpeg_like(BIG)
    _, key, _ = served.rt.store.put_blob(data, "image/jpeg")
    spy = spy_on(monkeypatch, served.rt.store, key)
    got = served.client.get(f"/media/{key}")
    assert got.status_code == 200, got.text[:200]
    assert got.content == data
    assert got.headers["content-type"] == "image/jpeg" and got.headers["content-length"] == str(BIG)
    assert got.headers["accept-ranges"] == "bytes" and got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["cache-control"] == "public, max-age=3600"
    assert got.headers["content-security-policy"].endswith("sandbox")
    assert [(start, stop) for start, stop, _ in spy.opened] == [(0, BIG)]  # one stream, sniffed from it
    assert spy.read == BIG and max(spy.pieces) <= CHUNK and len(spy.pieces) >= BIG // CHUNK
    assert spy.opened[0][2].closed


def test_head_answers_from_metadata_reading_no_body(served: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    data = jpeg_like(BIG)
    _, blob, _ = served.rt.store.put_blob(data, "image/jpeg")
    doc = b'{"a": "' + b"x" * 200_000 + b'"}'
    served.rt.store.put("posts/twitter/1/c1.json", doc, content_type="application/json")
    for key, size, ctype, most in ((blob, BIG, "image/jpeg", SNIFF), ("posts/twitter/1/c1.json", len(doc),
                                                                       "application/json", 0)):
        spy = spy_on(monkeypatch, served.rt.store, key)
        head = served.client.head(f"/media/{key}")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(size) and head.headers["content-type"] == ctype
        assert head.headers["accept-ranges"] == "bytes" and head.headers["x-content-type-options"] == "nosniff"
        # The blob's type is sniffed from its first bytes only; a .json key says its type: nothing is read.
        assert spy.read <= most and all(stop is not None and stop <= SNIFF for _, stop, _ in spy.opened), key
        assert all(s.closed for _, _, s in spy.opened)
        monkeypatch.undo()
    assert served.client.head("/media/blobs/sha256/00/nope").status_code == 404


RANGES = [  # (Range header, other headers, status, the bytes expected (a slice of the copy), Content-Range)
    ("bytes=0-99", {}, 206, slice(0, 100), "bytes 0-99/{n}"),
    ("bytes={half}-", {}, 206, "half:", "bytes {half}-{last}/{n}"),
    ("bytes=-500", {}, 206, slice(-500, None), "bytes {m500}-{last}/{n}"),
    ("bytes=5-5", {}, 206, slice(5, 6), "bytes 5-5/{n}"),
    ("BYTES= {third}-99999999999999999999999 ", {}, 206, "third:", "bytes {third}-{last}/{n}"),
    ("bytes=-99999999", {}, 206, slice(0, None), "bytes 0-{last}/{n}"),
    ("bytes={n}-", {}, 416, None, "bytes */{n}"),
    ("bytes={n}-{n2}", {}, 416, None, "bytes */{n}"),
    ("bytes=-0", {}, 416, None, "bytes */{n}"),
    ("bytes=0-1,5-9", {}, 200, slice(None), None),            # several ranges: the whole copy
    ("bytes=0-99", {"If-Range": '"x"'}, 200, slice(None), None),  # no validator to match: the whole copy
    ("bytes=9-5", {}, 200, slice(None), None),                # invalid: ignored
    ("bytes=abc", {}, 200, slice(None), None),
    ("items=0-9", {}, 200, slice(None), None),
]


def _expect(data: bytes, case: tuple) -> tuple[str, dict[str, str], int, bytes | None, str | None]:
    header, others, status, part, content_range = case
    n = len(data)
    fmt = {"n": n, "n2": n + 10, "last": n - 1, "m500": n - 500, "half": n // 2, "third": n // 3}
    if isinstance(part, str):   # "half:" or "third:": from that position to the end
        part = slice(fmt[part.rstrip(":")], None)
    return (header.format(**fmt), others, status, None if part is None else data[part],
            None if content_range is None else content_range.format(**fmt))


def check_ranges(client: Any, path: str, data: bytes, headers: dict[str, str] | None = None) -> None:
    for case in RANGES:
        header, others, status, body, content_range = _expect(data, case)
        got = client.get(path, headers={**(headers or {}), **others, "Range": header})
        assert got.status_code == status, (header, got.status_code)
        assert got.headers["accept-ranges"] == "bytes", header
        assert got.headers.get("content-range") == content_range, header
        if body is not None:
            assert got.content == body, header
            assert got.headers["content-length"] == str(len(body)), header
            assert got.headers["x-content-type-options"] == "nosniff"
        else:
            assert got.headers["cache-control"] == "no-store", header


def test_media_answers_single_byte_ranges(served: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    data = jpeg_like(400_000)
    _, key, _ = served.rt.store.put_blob(data, "image/jpeg")
    spy = spy_on(monkeypatch, served.rt.store, key)
    check_ranges(served.client, f"/media/{key}", data)
    got = served.client.get(f"/media/{key}", headers={"Range": "bytes=0-9"})
    assert got.headers["content-type"] == "image/jpeg"   # a range's type is the whole copy's
    assert got.headers["cache-control"] == "public, max-age=3600"
    spy.pieces.clear()
    assert served.client.get(f"/media/{key}", headers={"Range": "bytes=300000-300009"}).status_code == 206
    assert spy.read <= SNIFF + 10   # the type from the first bytes, then the ten asked for
    # HEAD ignores Range (RFC 9110 defines ranges for GET only): the whole copy's headers.
    head = served.client.head(f"/media/{key}", headers={"Range": "bytes=0-9"})
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_evidence_streams_and_answers_ranges(served: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    data = jpeg_like(BIG)
    _, key, _ = served.rt.store.put_blob(data, "image/jpeg")
    spy = spy_on(monkeypatch, served.rt.store, key)
    staff = served.h("compliance")
    got = served.client.get(f"/evidence/{key}", headers=staff)
    assert got.status_code == 200 and got.content == data and got.headers["cache-control"] == "private, no-store"
    assert max(spy.pieces) <= CHUNK and got.headers["accept-ranges"] == "bytes"
    spy.pieces.clear()
    head = served.client.head(f"/evidence/{key}", headers=staff)
    assert head.status_code == 200 and head.headers["content-length"] == str(BIG) and spy.read <= SNIFF
    check_ranges(served.client, f"/evidence/{key}", data, staff)
    part = served.client.get(f"/evidence/{key}", headers={**staff, "Range": "bytes=-10"})
    assert part.status_code == 206 and part.headers["cache-control"] == "private, no-store"


@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with fixture_origin() as o:
        yield o


def test_image_memento_streams_and_answers_ranges(tmp_settings: Callable[..., Settings], origin: FixtureOrigin,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with api(tmp_settings(broker_url="", public_base_url="https://archive.example/media",
                          **origin.settings_overrides())) as a:
        archive_sample(a.rt, origin)
        image = origin.url("/media/lead.jpg")
        gate = a.client.get(f"/media/timegate/{image}", follow_redirects=False)
        assert gate.status_code == 302, gate.text
        path = urlsplit(gate.headers["location"]).path
        sha = a.rt.catalog.query("SELECT sha256 FROM url_history WHERE url = ?", [image])[0]["sha256"]
        key = f"blobs/sha256/{sha[:2]}/{sha}"
        data = a.rt.store.get(key)
        spy = spy_on(monkeypatch, a.rt.store, key)
        got = a.client.get(path)
        assert got.status_code == 200 and got.content == data and got.headers["content-type"] == "image/jpeg"
        assert got.headers["memento-datetime"] and got.headers["accept-ranges"] == "bytes"
        assert spy.opened and max(spy.pieces) <= CHUNK
        spy.pieces.clear()
        head = a.client.head(path)
        assert head.status_code == 200 and head.content == b"" and spy.read <= SNIFF
        assert head.headers["content-length"] == str(len(data)) and head.headers["memento-datetime"]
        check_ranges(a.client, path, data)


# --- through a real HTTP server ---------------------------------------------------------------------
@pytest.fixture(params=["local", "s3"])
def server(request: pytest.FixtureRequest, tmp_settings: Callable[..., Settings],
           tmp_path: Path) -> Iterator[tuple[Runtime, str, int]]:
    settings = tmp_settings(broker_url="", public_base_url="https://archive.example/media",
                            **store_overrides(request, tmp_path))
    rt = Runtime.from_settings(settings)
    try:
        with serve(create_app(settings, rt)) as base:
            host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
            yield rt, host, port
    finally:
        rt.close()


HUGE = 32 * 1024 * 1024


def test_a_large_copy_is_served_in_bounded_memory(server: tuple[Runtime, str, int]) -> None:
    rt, host, port = server
    data = jpeg_like(HUGE)
    _, key, _ = rt.store.put_blob(data, "image/jpeg")
    del data
    conn = http.client.HTTPConnection(host, port, timeout=60)
    tracemalloc.start()
    try:
        received = 0
        conn.request("GET", f"/media/{key}")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("content-length") == str(HUGE)
        while piece := resp.read(CHUNK):
            received += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        conn.close()
    assert received == HUGE
    assert peak < 8 * 1024 * 1024, f"serving a {HUGE >> 20} MiB copy took {peak >> 20} MiB"


def test_the_stream_is_closed_when_the_client_goes_away(server: tuple[Runtime, str, int],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rt, host, port = server
    _, key, _ = rt.store.put_blob(jpeg_like(HUGE), "image/jpeg")
    spy = spy_on(monkeypatch, rt.store, key)
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(f"GET /media/{key} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        got = b""
        while len(got) < 200_000 and (piece := sock.recv(65536)):
            got += piece
        assert got.startswith(b"HTTP/1.1 200"), got[:100]
    deadline = time.monotonic() + 15
    while not (spy.opened and spy.opened[-1][2].closed):
        assert time.monotonic() < deadline, "the copy's stream was not closed after the client went away"
        time.sleep(0.05)
    assert spy.read < HUGE   # it stopped reading: the rest was never fetched from storage


def test_range_positions_with_leading_zeros() -> None:
    """RFC 9110 §14.1.1: a position is digits, leading zeros included; they do not make it huge."""
    from archiver.web.copies import byte_range

    assert byte_range({"range": "bytes=0000000000000000000001-2"}, 10) == (1, 3)
    assert byte_range({"range": "bytes=0000000000000000000005-"}, 10) == (5, 10)
    assert byte_range({"range": "bytes=-0000000000000000000003"}, 10) == (7, 10)
