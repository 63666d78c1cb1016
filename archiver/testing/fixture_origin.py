"""A local stand-in for Twitter's oEmbed, syndication and t.co endpoints, the oEmbed endpoints of
YouTube, TikTok, Reddit, Bluesky and Mastodon, and media hosts.

Tests and ``archiver demo`` need the real response shapes without the network: this in-process
HTTP server (loopback, port 0, daemon threads) answers oEmbed and syndication requests from tweet
fixtures in the shapes publish.twitter.com/oembed and cdn.syndication.twimg.com/tweet-result
answer (``tests/test_fixture_origin.py`` checks their top-level keys against those real answers),
and the other platforms' oEmbed requests from post fixtures (the answers are built in
``shapes.py``, the fixtures and media bytes in ``fixtures.py``); it redirects t.co codes and the
other providers' share links (``shortlinks``: vt.tiktok.com, reddit /s/, facebook /share/,
fb.watch, asked through the ``shortlink_url`` template as ``/short/<host><path>``), serves real
media bytes and plays failures on request (404, ``{}``, tombstone, 429 then success, timeouts,
garbage, 500). Every request is recorded.

    with FixtureOrigin(tweets=[{"id": "1757429972446608301", "handle": "LakemontDPW", ...}]) as origin:
        settings = settings.replace(**origin.settings_overrides())
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import re
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from archiver.providers.twitter.ids import parse_status_url, syndication_token
from archiver.testing.fixtures import OEMBED_PROVIDERS, PostFixture, TweetFixture, make_image, make_mp4, media_type
from archiver.testing.shapes import ResponseShapes, tombstone_json

__all__ = ["FixtureOrigin", "PostFixture", "TweetFixture", "make_image", "make_mp4"]

STEP_NAMES = ("ok", "empty", "tombstone", "429", "timeout", "garbage", "redirect")
_MAX_SLEEP = 30.0


class QuietHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that says nothing when a client goes away mid-request (reset, broken
    pipe: what a fetcher that stops reading at its size or time limit does); any other error in a
    handler is printed as ``socketserver`` prints it."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver's hook for an exception in a handler: ignored for ConnectionError."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@dataclass
class RecordedRequest:
    """One request the origin received: method, path, decoded query parameters, headers (lower-case names)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FixtureOrigin(ResponseShapes):
    """The in-process origin. Use as a context manager; ``base_url`` is valid inside it."""

    def __init__(self, tweets: Iterable[TweetFixture | Mapping[str, Any]] = (),
                 images: Mapping[str, bytes] | None = None, *,
                 posts: Iterable[PostFixture | Mapping[str, Any]] = (),
                 shortlinks: Mapping[str, str] | None = None, retry_after: int = 1,
                 timeout_sleep: float = 2.0, port: int = 0, latency: float = 0.0,
                 content_encoding: str | None = None, chunked: bool = False) -> None:
        self.port = port  # 0: any free port; a fixed port falls back to a free one when taken
        # Seconds every answer waits before it starts, like a real origin over a network (at most 5).
        self.latency = min(5.0, max(0.0, latency))
        # Like a real origin: "gzip" or "deflate" codes every non-empty body whose request accepts that
        # coding (Content-Encoding); ``chunked`` sends bodies with Transfer-Encoding: chunked.
        if content_encoding not in (None, "gzip", "deflate"):
            raise ValueError(f"content_encoding must be gzip, deflate or None, not {content_encoding!r}")
        self.content_encoding = content_encoding
        self.chunked = chunked
        self.tweets: dict[str, TweetFixture] = {}
        self.posts: dict[str, PostFixture] = {}
        # Share link (host and path, no trailing slash) -> where it redirects.
        self.shortlinks: dict[str, str] = {}
        self.retry_after = retry_after
        self.timeout_sleep = min(_MAX_SLEEP, max(0.0, timeout_sleep))
        self.requests: list[RecordedRequest] = []
        # How many GET requests are being answered now, and the most ever answered at once (a client
        # that asks concurrently shows more than 1 when answers take time: ``latency``).
        self.in_flight = 0
        self.max_in_flight = 0
        self._files: dict[str, tuple[bytes, str]] = {}
        self._behaviours: dict[str, tuple[list[str], bool]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        for path, body in (images or {}).items():
            self.add_image(path, body)
        for short, target in (shortlinks or {}).items():
            self.add_shortlink(short, target)
        self._pending = [t if isinstance(t, TweetFixture) else TweetFixture(**dict(t)) for t in tweets]
        self._pending_posts = [p if isinstance(p, PostFixture) else PostFixture(**dict(p)) for p in posts]

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FixtureOrigin:
        if self._server is not None:
            return self
        origin = self

        class Handler(_Handler):
            fixture = origin

        try:
            self._server = QuietHTTPServer(("127.0.0.1", self.port), Handler)
        except OSError:
            self._server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        for t in self._pending:
            self.add_tweet(t)
        for p in self._pending_posts:
            self.add_post(p)
        self._pending, self._pending_posts = [], []
        self._thread = threading.Thread(target=self._server.serve_forever, name="fixture-origin", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FixtureOrigin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- configuration ----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def settings_overrides(self) -> dict[str, str]:
        """Settings that point the Twitter capture at this origin and allow fetching loopback."""
        return {
            "twitter_oembed_url": self.url("/oembed"),
            "twitter_syndication_url": self.url("/tweet-result"),
            "twitter_shortlink_url": self.url("/t.co/{code}"),
            **{f"{name}_oembed_url": self.url(f"/oembed/{name}") for name in OEMBED_PROVIDERS
               if name != "mastodon"},
            "mastodon_oembed_url": self.url("/mastodon/{host}/api/oembed"),
            "shortlink_url": self.url("/short/{host}{path}"),
            "fetch_allow": "127.0.0.1",
        }

    def add_image(self, path: str, body: bytes, content_type: str | None = None) -> str:
        """Serve ``body`` at ``path`` (query strings ignored); returns its URL."""
        path = urlsplit(path).path or "/"
        with self._lock:
            self._files[path] = (body, content_type or media_type(body))
        return self.url(path)

    def add_shortlink(self, short_url: str, target: str) -> None:
        """Answer ``short_url`` (a share link, asked as ``/short/<host><path>``; its query is ignored)
        with a 301 to ``target``, which may be another share link (a chain of hops)."""
        with self._lock:
            self.shortlinks[_short_key(short_url)] = target

    def add_tweet(self, tweet: TweetFixture | Mapping[str, Any]) -> TweetFixture:
        t = tweet if isinstance(tweet, TweetFixture) else TweetFixture(**dict(tweet))
        if not self.base_url:
            self._pending.append(t)
            return t
        self.tweets[t.id] = t
        avatar = make_image(f"avatar:{t.handle}", 48, 48)
        self.add_image(f"/profile_images/{t.user_id}/{t.handle}.jpg", avatar)
        self.add_image(f"/profile_images/{t.user_id}/{t.handle}_normal.jpg", avatar)
        for photo in t.photos:
            name = str(photo["name"])
            stem, _, ext = name.rpartition(".")
            body = make_image(f"photo:{name}", int(photo.get("width", 96)), int(photo.get("height", 64)),
                              "PNG" if ext.lower() == "png" else "JPEG")
            self.add_image(f"/media/{name}", body)
            self.add_image(f"/media/{stem}", body)
        for kind, spec in (("video", t.video), ("gif", t.gif)):
            if spec:
                for url, _bitrate in self._variants(t, kind, spec):
                    path = urlsplit(url).path
                    if path.endswith(".mp4"):
                        self.add_image(path, make_mp4(path, int(spec.get("duration_ms", 1000))))
                    else:
                        self.add_image(path, b"#EXTM3U\n", "application/x-mpegURL")
                poster, poster_body = self._poster(t, kind, spec), make_image(f"poster:{spec['name']}", 64, 36)
                self.add_image(poster, poster_body)
                self.add_image(poster.rpartition(".")[0], poster_body)  # as ?format=jpg&name=<size> asks
        return t

    def add_post(self, post: PostFixture | Mapping[str, Any]) -> PostFixture:
        """Answer oEmbed requests about ``post.url``; its thumbnail is served too."""
        p = post if isinstance(post, PostFixture) else PostFixture(**dict(post))
        if not self.base_url:
            self._pending_posts.append(p)
            return p
        self.posts[p.url] = p
        if p.thumbnail:
            self.add_image(self.thumbnail_path(p), make_image(f"thumb:{p.url}", 120, 90))
        return p

    def set_behaviour(self, match: str, *steps: str, sticky: bool = False) -> None:
        """Answer requests matching ``match`` ("/path" or "/path?id=…", the given query values
        must match) with ``steps`` in turn, then normally; with ``sticky`` the last step stays.
        Steps: "ok", "empty" ({}), "tombstone", "429" (Retry-After), "timeout" (sleeps
        ``timeout_sleep``), "garbage" (200 with a body that is not JSON), or any HTTP status
        such as "404", "500"."""
        for step in steps:
            if step not in STEP_NAMES and not re.fullmatch(r"[1-5]\d\d", step):
                raise ValueError(f"unknown behaviour {step!r}")
        with self._lock:
            self._behaviours[match] = (list(steps), sticky)

    def count(self, path: str, **query: str) -> int:
        """How many requests hit ``path`` with (at least) the given query values."""
        with self._lock:
            return sum(1 for r in self.requests
                       if r.path == path and all(r.query.get(k) == v for k, v in query.items()))

    def media_bytes(self, url_or_path: str) -> bytes:
        """The bytes served at a URL or path (query ignored); KeyError if nothing is served there."""
        return self._files[urlsplit(url_or_path).path][0]

    def _post_oembed(self, provider: str, query: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        p = self.posts.get(query.get("url", ""))
        if p is None or p.provider != provider or p.state == "deleted":
            return 404, [("Content-Type", "text/html; charset=utf-8")], b"Not Found"
        if p.state == "private":
            status = 401 if provider == "youtube" else 403
            return status, [("Content-Type", "text/html; charset=utf-8")], b"Unauthorized"
        return _json(200, self.post_oembed_json(p))

    def shortlink_target(self, code: str) -> str | None:
        for t in self.tweets.values():
            if t.media_code == code:
                kind = "photo" if t.photos else "video"
                return f"https://twitter.com/{t.handle}/status/{t.id}/{kind}/1"
            for short, expanded in t.links.items():
                if short.rsplit("/", 1)[-1] == code:
                    return expanded
        return None

    # --- request handling ------------------------------------------------------------------------
    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Count one request as being answered (``in_flight``, ``max_in_flight``) while the block runs."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def _record(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> str | None:
        """Log the request; the behaviour step to play, if one matches."""
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, headers))
            for match, (steps, sticky) in self._behaviours.items():
                m_path, _, m_query = match.partition("?")
                if m_path != path or any(query.get(k) != v for k, v in parse_qsl(m_query)):
                    continue
                if not steps:
                    continue
                return steps[0] if sticky and len(steps) == 1 else steps.pop(0)
        return None

    def sleep(self) -> None:
        """A bounded sleep that ends early when the origin closes."""
        self._stop.wait(self.timeout_sleep)

    def respond(self, path: str, query: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """The normal answer (no behaviour) to a GET."""
        if path == "/oembed":
            found = parse_status_url(query.get("url", ""))
            t = self.tweets.get(found[1]) if found else None
            if t is None or t.state in ("deleted", "tombstone"):
                return _json(404, {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]})
            if t.state == "protected":
                return _json(403, {"errors": [{"message": "Not authorized", "code": 179}]})
            return _json(200, self.oembed_json(t))
        if path == "/tweet-result":
            tid = query.get("id", "")
            if not re.fullmatch(r"[0-9]{1,20}", tid):
                return _json(400, {"error": "id must be a tweet id"})
            t = self.tweets.get(tid)
            if t is None or query.get("token") != syndication_token(tid) or t.state == "protected":
                return 404, [("Content-Type", "text/plain")], b""
            if t.syndication is not None:
                return _json(200, self.syndication_json(t))
            if t.state == "deleted":
                return _json(200, {})
            if t.state == "tombstone":
                return _json(200, tombstone_json(t.tombstone_text))
            return _json(200, self.syndication_json(t))
        if path.startswith("/oembed/"):
            return self._post_oembed(path[len("/oembed/"):], query)
        if m := re.fullmatch(r"/mastodon/([a-z0-9.\-]{1,253})/api/oembed", path):
            if urlsplit(query.get("url", "")).hostname != m.group(1):
                return 404, [("Content-Type", "text/html; charset=utf-8")], b"Not Found"
            return self._post_oembed("mastodon", query)
        if path.startswith("/short/"):
            with self._lock:
                short_target = self.shortlinks.get(_short_key("https://" + path[len("/short/"):]))
            if short_target is not None:  # else a page served there (add_image), or 404
                body = f'<a href="{html.escape(short_target)}">Moved Permanently</a>.'.encode()
                return 301, [("Location", short_target), ("Content-Type", "text/html; charset=utf-8")], body
        if path.startswith("/t.co/"):
            target = self.shortlink_target(path[len("/t.co/"):])
            if target is None:
                return 404, [("Content-Type", "text/html")], b"<html><body>Not found</body></html>"
            esc = html.escape(target)
            body = (f'<head><meta name="referrer" content="always"><noscript><META http-equiv="refresh" '
                    f'content="0;URL={esc}"></noscript><title>{esc}</title></head>'
                    '<script>window.opener = null; location.replace("' + esc + '")</script>').encode()
            return 301, [("Location", target), ("Content-Type", "text/html; charset=utf-8")], body
        with self._lock:
            found_file = self._files.get(path)
        if found_file is None:
            return 404, [("Content-Type", "text/plain")], b"not found"
        body, ctype = found_file
        return 200, [("Content-Type", ctype)], body

    def play(self, step: str, path: str, query: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        if step == "ok":
            return self.respond(path, query)
        if step == "empty":
            return _json(200, {})
        if step == "tombstone":
            return _json(200, tombstone_json())
        if step == "429":
            return 429, [("Retry-After", str(self.retry_after)), ("Content-Type", "application/json")], \
                b'{"errors":[{"message":"Rate limit exceeded","code":88}]}'
        if step == "timeout":
            self.sleep()
            return self.respond(path, query)
        if step == "garbage":
            return 200, [("Content-Type", "application/json")], b"<html>\x00\xff\xfe{{not json"
        if step == "redirect":  # to the site's home page, as CDNs do for what they removed
            return 302, [("Location", "/"), ("Content-Type", "text/plain")], b""
        return int(step), [("Content-Type", "text/plain")], f"fixture status {step}".encode()


def _short_key(url: str) -> str:
    """A share link as the origin files it: lower-case host and path, no trailing slash, no query."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower() + parts.path.rstrip("/")


def _json(status: int, body: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """`body` as a platform's JSON answer: UTF-8, non-ASCII as is, a lone surrogate as its escape (as
    JavaScript's JSON.stringify writes it since ES2019)."""
    text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(body, ensure_ascii=False))
    return status, [("Content-Type", "application/json;charset=utf-8")], text.encode("utf-8")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _Handler(BaseHTTPRequestHandler):
    fixture: FixtureOrigin
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real web servers set it: with Nagle's algorithm on, a kept-alive client's delayed
    # ACK holds each answer's body back up to 40 ms after its head (the head and body are two writes).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        with self.fixture.serving():
            self._answer_get()

    def _answer_get(self) -> None:
        if self.fixture.latency:
            time.sleep(self.fixture.latency)
        try:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            headers_in = {k.lower(): v for k, v in self.headers.items()}
            step = self.fixture._record("GET", parts.path, query, headers_in)
            if step is None:
                status, headers, body = self.fixture.respond(parts.path, query)
            else:
                status, headers, body = self.fixture.play(step, parts.path, query)
        except Exception as exc:  # the origin must answer, whatever it was asked
            status, headers, body = 500, [("Content-Type", "text/plain")], f"fixture error: {exc}".encode()
        coding = self.fixture.content_encoding
        if coding and body and coding in str(self.headers.get("Accept-Encoding") or "").lower():
            body = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
            headers = [*headers, ("Content-Encoding", coding)]
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if self.fixture.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(body), 1000):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000]))
                self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client went away (e.g. it timed out)
            self.close_connection = True
