"""A live `archiver serve` (a real process on a loopback port) against hostile requests: bodies are
bounded before they are read, credentials are checked before any body is read, and error answers
do not show where things are stored or the catalog's password.

Each oversized body is streamed over a raw socket, chunked (no Content-Length) or with a
Content-Length, while the answer is read as it comes: the server must answer within about a second
and its resident memory (VmRSS) must barely move.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from archiver.auth import create_token
from archiver.catalog.backend import open_catalog
from archiver.config.settings import Settings, load_settings
from archiver.web.app import create_app, publish_cap
from tests.harness.celery_worker import settings_env

HOSTILE_BYTES = 300 * 1024 * 1024
RSS_SLACK = 50 * 1024 * 1024
ANSWER_WITHIN = 1.5  # seconds, from the first byte sent to the answer's status line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    settings: Settings
    proc: subprocess.Popen
    port: int
    tokens: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        """The server process's resident memory, in bytes (/proc/<pid>/status VmRSS)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def session(self, role: str) -> requests.Session:
        """A browser-like session signed in through the login form as `role`."""
        s = requests.Session()
        r = s.post(f"{self.url}/login", data={"token": self.tokens[role], "next": "/"}, allow_redirects=False,
                   timeout=10)
        assert r.status_code == 303, r.text
        return s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("serve")
    # No broker: the publish hook archives in the server process. A small article cap keeps the
    # publish hook's body cap (2 x 1 MiB + 1 MiB) small, so the over-cap bodies below are cheap.
    settings = load_settings(env={}).replace(home=str(home), broker_url="", max_article_bytes=1024 * 1024,
                                             fetch_allow="", request_body_timeout=3.0)
    catalog = open_catalog(settings.catalog_url)
    tokens = {role: create_token(catalog, role, f"limits-{role}") for role in ("publisher", "editor", "compliance",
                                                                               "admin")}
    catalog.close()
    port = free_port()
    log = home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("archiver")), "serve", "--host", "127.0.0.1",
                                 "--port", str(port)], env=settings_env(settings), stdout=out, stderr=out)
    srv = Server(settings, proc, port, tokens, log)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if requests.get(f"{srv.url}/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "archiver serve did not start"
        time.sleep(0.1)
    yield srv
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    sent: int


def stream(port: int, method: str, path: str, headers: dict[str, str], total: int = HOSTILE_BYTES,
           chunked: bool = True, timeout: float = 10.0) -> Answer:
    """Send a request whose body is `total` bytes (chunked, or with Content-Length), reading the answer
    while sending; stop sending as soon as an answer's head has come (or the server closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(total)}
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json",
                                                    **framing, **headers}.items())
    sock.sendall(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode())
    piece = b"a" * (256 * 1024)
    frame = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") if chunked else piece
    sock.setblocking(False)
    started = time.monotonic()
    pending = memoryview(b"")
    sent, received = 0, b""
    closed = False
    try:
        while b"\r\n\r\n" not in received and time.monotonic() - started < timeout:
            want_write = sent < total or pending
            readable, writable, _ = select.select([sock], [sock] if want_write else [], [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    closed = True
                    break
                received += data
                continue
            if writable:
                if not pending:
                    last = b"0\r\n\r\n" if chunked else b""
                    pending = memoryview(frame if sent + len(piece) <= total else last)
                    sent += len(piece)
                # A server that stopped reading may refuse more: its answer, if any, is still to be read.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    pending = pending[sock.send(pending):]
        seconds = time.monotonic() - started
        sock.setblocking(True)
        sock.settimeout(2)
        while not closed:  # the rest of the answer (the server closes after a refusal)
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            received += data
            status_line, _, rest = received.partition(b"\r\n")
            if b"\r\n\r\n" in rest and b"content-length" in rest.lower():
                head_part, _, body = rest.partition(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head_part.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                if len(body) >= length:
                    break
    finally:
        sock.close()
    assert received, f"no answer to {method} {path} within {timeout}s (sent {sent} bytes)"
    status_line, _, rest = received.partition(b"\r\n")
    head_part, _, body = rest.partition(b"\r\n\r\n")
    answer_headers = {k.strip().lower(): v.strip() for k, _, v in
                      (line.decode("latin-1").partition(":") for line in head_part.split(b"\r\n"))}
    return Answer(int(status_line.split()[1]), answer_headers, body, seconds, sent)


def detail_of(answer: Answer, path: str) -> str:
    """The one line an error says: the API's JSON `detail`, or on a page's path the error page's line
    (archiver/web/errors.py decides by the path: /v1/... JSON, the pages' forms a page)."""
    if path.startswith("/v1/"):
        assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
        return json.loads(answer.body)["detail"]
    assert answer.headers.get("content-type", "").startswith("text/html"), answer.headers
    page = answer.body.decode()
    assert f"({answer.status})" in page and "Traceback" not in page, page[:500]
    line = re.search(r'<p class="error-line">([^<]*)</p>', page)
    assert line, page[:500]
    return html.unescape(line.group(1))


def assert_refused_fast_and_small(server: Server, answer: Answer, statuses: tuple[int, ...], rss_before: int,
                                  path: str) -> None:
    assert answer.status in statuses, (answer.status, answer.body[:300])
    assert answer.seconds < ANSWER_WITHIN, answer.seconds
    assert answer.sent < HOSTILE_BYTES / 4, answer.sent  # refused long before the body was all sent
    assert server.rss() - rss_before < RSS_SLACK, (server.rss() - rss_before) / 2**20
    assert detail_of(answer, path)


# Every route that changes something, with what it takes: (method, path, body?, who may call it).
# A route with a body is refused 413 over its cap once identified; without credentials, 401 before
# its body is read. The two forms that work signed out (login, logout) are below.
POST = "/v1/posts/twitter/1945048830047662087"
BODY_ROUTES = [
    ("POST", "/v1/articles", "publisher"),
    ("PUT", f"{POST}/hold", "compliance"),
    ("PUT", f"{POST}/takedown", "compliance"),
    ("POST", "/v1/exports", "compliance"),
    ("POST", "/v1/articles/story-1/restore", "editor"),
    ("POST", "/v1/articles/story-1/revert", "editor"),
    ("POST", "/v1/restore", "editor"),
]
NO_BODY_ROUTES = [("DELETE", f"{POST}/hold", "compliance"), ("DELETE", f"{POST}/takedown", "compliance")]
PAGE_POST = "/posts/twitter/1945048830047662087"
FORM_ROUTES = [("POST", "/articles/story-1/restore", "editor"), ("POST", "/articles/story-1/revert", "editor"),
               ("POST", "/logout", "editor"),
               ("POST", "/login", None), ("POST", f"{PAGE_POST}/hold", "compliance"),
               ("POST", f"{PAGE_POST}/release", "compliance"), ("POST", f"{PAGE_POST}/takedown", "compliance"),
               ("POST", f"{PAGE_POST}/lift-takedown", "compliance"), ("POST", f"{PAGE_POST}/export", "compliance"),
               ("POST", "/exports", "compliance"), ("POST", "/health/restore", "editor")]


def test_every_changing_route_is_listed_here() -> None:
    """A new route that takes a body must be added to the lists above (so its limits are tested)."""
    app = create_app(load_settings(env={}).replace(home="/nonexistent-home", broker_url=""))

    def routes(items: list) -> Iterator:
        for route in items:  # FastAPI keeps an included router as one entry holding the original
            nested = getattr(route, "original_router", None)
            yield from routes(nested.routes) if nested is not None else (route,)

    changing = {(method, route.path) for route in routes(app.routes) for method in getattr(route, "methods", ()) or ()
                if method not in ("GET", "HEAD", "OPTIONS")}
    assert len(changing) > 5
    listed = {(m, p.replace("twitter/1945048830047662087", "{provider}/{post_id}").replace("story-1", "{article_id}"))
              for m, p, _ in BODY_ROUTES + NO_BODY_ROUTES + FORM_ROUTES}
    assert changing == listed


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in BODY_ROUTES + NO_BODY_ROUTES + FORM_ROUTES[:1]])
def test_without_credentials_a_300_mb_chunked_body_is_never_read(server: Server, method: str, path: str) -> None:
    before = server.rss()
    answer = stream(server.port, method, path, {})
    assert_refused_fast_and_small(server, answer, (401,), before, path)
    assert answer.headers.get("connection") == "close"
    assert answer.headers.get("www-authenticate") == "Bearer"


def test_a_bad_token_or_a_cookie_is_no_credential_for_the_api(server: Server) -> None:
    before = server.rss()
    answer = stream(server.port, "POST", "/v1/articles", {"Authorization": "Bearer arc_forged"})
    assert_refused_fast_and_small(server, answer, (401,), before, "/v1/articles")
    browser = server.session("admin")  # the session cookie reads the API, never changes it
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    answer = stream(server.port, "POST", "/v1/articles", {"Cookie": cookie})
    assert_refused_fast_and_small(server, answer, (401,), before, "/v1/articles")


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize(("method", "path", "role"), BODY_ROUTES)
def test_with_a_token_a_body_over_its_cap_is_413(server: Server, method: str, path: str, role: str,
                                                 chunked: bool) -> None:
    before = server.rss()
    answer = stream(server.port, method, path, {"Authorization": f"Bearer {server.tokens[role]}"}, chunked=chunked)
    assert_refused_fast_and_small(server, answer, (413,), before, path)
    assert answer.headers.get("connection") == "close"
    assert "too large" in detail_of(answer, path)


@pytest.mark.parametrize(("method", "path", "role"), FORM_ROUTES)
def test_form_posts_over_their_cap_are_413(server: Server, method: str, path: str, role: str | None) -> None:
    cookie = {}
    if role:
        cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in server.session(role).cookies.items())}
    before = server.rss()
    answer = stream(server.port, method, path, {"Content-Type": "application/x-www-form-urlencoded", **cookie})
    assert_refused_fast_and_small(server, answer, (413,), before, path)
    assert "too large" in detail_of(answer, path)  # a styled page saying so, never the API's JSON


def test_caps_are_the_settings(server: Server) -> None:
    """Under its cap a body is taken (chunked too); one byte over, refused."""
    headers = {"Authorization": f"Bearer {server.tokens['publisher']}"}
    cap = publish_cap(server.settings)
    article = {"article_id": "small-1", "html": "<p>" + "x" * 1000 + "</p>"}

    def chunks() -> Iterator[bytes]:
        yield json.dumps(article).encode()

    r = requests.post(f"{server.url}/v1/articles", data=chunks(),
                      headers={**headers, "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 202, r.text
    over = requests.post(f"{server.url}/v1/articles", data=b" " * (cap + 1),
                         headers={**headers, "Content-Type": "application/json"}, timeout=10)
    assert over.status_code == 413
    hold = requests.put(f"{server.url}{POST}/hold", data=b" " * (server.settings.max_request_bytes + 1),
                        headers={"Authorization": f"Bearer {server.tokens['compliance']}",
                                 "Content-Type": "application/json"}, timeout=10)
    assert hold.status_code == 413
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_the_server_is_still_well_after_all_this(server: Server) -> None:
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert server.proc.poll() is None


# --- what errors say ---------------------------------------------------------------------------------
def test_errors_do_not_show_where_things_are_stored(server: Server) -> None:
    home = str(Path(server.settings.home).resolve())
    editor = {"Authorization": f"Bearer {server.tokens['editor']}"}
    answers = [
        requests.get(f"{server.url}/v1/articles/nope/health", headers=editor, timeout=10),
        requests.post(f"{server.url}/v1/articles/nope/restore", json={}, headers=editor, timeout=10),
        requests.post(f"{server.url}/v1/articles/nope/revert", json={"version": 1}, headers=editor, timeout=10),
        requests.get(f"{server.url}/v1/articles/nope", headers=editor, timeout=10),
    ]
    browser = server.session("editor")
    page = browser.get(f"{server.url}/search", timeout=10).text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answers += [browser.get(f"{server.url}/articles/nope", timeout=10),
                browser.post(f"{server.url}/articles/nope/restore", data={"csrf": csrf}, allow_redirects=False,
                             timeout=10)]
    for r in answers:
        assert r.status_code == 404, (r.request.method, r.request.url, r.status_code, r.text[:300])
        assert home not in r.text and "file:" not in r.text and "sqlite" not in r.text, r.text[:500]


@pytest.mark.parametrize("form", ["query", "userinfo"])
def test_a_catalog_password_is_never_shown(tmp_path: Path, postgres_dsn: str, form: str) -> None:
    """PostgreSQL ignores the password here (the test server trusts loopback), so the DSN works and
    every message that names the catalog has it to leak: the API's, the pages' and the CLI's."""
    from fastapi.testclient import TestClient

    from archiver.runtime import Runtime
    from tests.harness.services import fresh_pg_dsn

    secret = "hunter2-" + form
    dsn = fresh_pg_dsn(postgres_dsn)
    if form == "query":
        dsn += f"?sslmode=disable&password={secret}"
    else:
        dsn = dsn.replace("@", f":{secret}@", 1)
    settings = load_settings(env={}).replace(home=str(tmp_path), catalog=dsn, broker_url="")
    with Runtime.from_settings(settings) as rt:
        token = create_token(rt.catalog, "admin", "leak-check")
        assert secret not in rt.catalog.describe() and "***" in rt.catalog.describe()
        client = TestClient(create_app(settings, runtime=rt), raise_server_exceptions=False)
        auth = {"Authorization": f"Bearer {token}"}
        for r in (client.get("/v1/articles/nope/health", headers=auth),
                  client.post("/v1/articles/nope/restore", json={}, headers=auth),
                  client.get("/articles/nope", headers=auth)):
            assert r.status_code == 404 and secret not in r.text and str(tmp_path) not in r.text, r.text[:300]
    env = settings_env(settings)
    cli = str(Path(sys.executable).with_name("archiver"))
    for argv in (["retry", "nope"], ["show", "nope"], ["health", "--article-id", "nope"]):
        out = subprocess.run([cli, *argv], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and secret not in out.stderr + out.stdout, (argv, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    bad = {**env, "ARCHIVER_CATALOG": dsn.replace("postgresql://", "mysql://")}
    out = subprocess.run([cli, "show", "nope"], env=bad, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and secret not in out.stderr and "***" in out.stderr, out.stderr


def test_a_catalog_that_does_not_answer_is_503_with_retry_after_and_one_cli_line(tmp_path: Path) -> None:
    """The catalog's PostgreSQL is down (nothing listens on its port). `archiver serve` does not start
    on it (one line, exit 2: compose restarts it once the catalog is healthy); an app already serving
    when the catalog goes away answers a publish hook's caller with a retryable 503 with Retry-After,
    not a 500 (a CMS retries its webhook on 503), and /readyz says 503 while /healthz (liveness) stays
    200. The password shows nowhere, and the CLI prints one line."""
    from fastapi.testclient import TestClient

    port = free_port()
    dsn = f"postgresql://archiver:pw1@127.0.0.1:{free_port()}/x?password=pw2&connect_timeout=2"
    settings = load_settings(env={}).replace(home=str(tmp_path), catalog=dsn, broker_url="")
    serve = subprocess.run([str(Path(sys.executable).with_name("archiver")), "serve", "--host", "127.0.0.1",
                            "--port", str(port)], env=settings_env(settings), capture_output=True, text=True,
                           timeout=60)
    assert serve.returncode == 2 and len(serve.stderr.strip().splitlines()) == 1, serve.stderr
    assert "Traceback" not in serve.stderr and "pw1" not in serve.stderr and "pw2" not in serve.stderr
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.post("/v1/articles", json={"article_id": "a", "html": "<p>x</p>"},
                        headers={"Authorization": "Bearer arc_" + "a" * 40})
        assert r.status_code == 503 and r.headers.get("Retry-After") == "30", (r.status_code, r.text[:300])
        assert "pw1" not in r.text and "pw2" not in r.text and "5432" not in r.text
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "pw1" not in ready.text and "pw2" not in ready.text
    out = subprocess.run([str(Path(sys.executable).with_name("archiver")), "search", "x"], env=settings_env(settings),
                         capture_output=True, text=True, timeout=60)
    # An unreachable catalog is a configuration error of the operator's: exit 2 (issue 17's CLI rules).
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "did not answer" in out.stderr and "pw1" not in out.stderr and "pw2" not in out.stderr


# --- the session cookie through the real server ------------------------------------------------------
def test_secure_cookie_behind_a_trusted_tls_proxy_and_logout(server: Server) -> None:
    """`forwarded_allow_ips` (default 127.0.0.1) is a proxy that terminates TLS: when it says
    X-Forwarded-Proto: https the session cookie is Secure; otherwise (plain http) it is not."""
    form = {"token": server.tokens["editor"], "next": "/search"}
    plain = requests.post(f"{server.url}/login", data=form, allow_redirects=False, timeout=10)
    proxied = requests.post(f"{server.url}/login", data=form, allow_redirects=False, timeout=10,
                            headers={"X-Forwarded-Proto": "https"})
    for r, secure in ((plain, False), (proxied, True)):
        assert r.status_code == 303 and r.headers["location"] == "/search"
        cookie = next(c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("archiver_session="))
        assert ("; secure" in cookie.lower()) is secure, cookie
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert server.tokens["editor"] not in cookie
    browser = requests.Session()
    browser.cookies.set("archiver_session", plain.cookies["archiver_session"])
    page = browser.get(f"{server.url}/search", allow_redirects=False, timeout=10)
    assert page.status_code == 200
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert browser.get(f"{server.url}/logout", allow_redirects=False, timeout=10).status_code == 405
    assert browser.get(f"{server.url}/search", allow_redirects=False, timeout=10).status_code == 200
    out = browser.post(f"{server.url}/logout", data={"csrf": csrf}, allow_redirects=False, timeout=10,
                       headers={"Origin": server.url})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    replay = requests.get(f"{server.url}/search", allow_redirects=False, timeout=10,
                          cookies={"archiver_session": plain.cookies["archiver_session"]})
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


@pytest.mark.parametrize(("method", "path", "content_type"), [
    ("GET", "/", "application/json"), ("GET", "/v1/search?q=x", "application/json"),
    ("POST", "/logout", "application/x-www-form-urlencoded"), ("POST", "/login", "text/plain")])
def test_a_route_that_reads_no_body_closes_instead_of_draining_one(server: Server, method: str, path: str,
                                                                   content_type: str) -> None:
    """Without a token, a route that answers without reading the body (a page, a search, the signed-out
    forms) says Connection: close and the server stops taking the body: the sender is cut off long
    before the 300 MB are through."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: {content_type}\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    piece = b"a" * (256 * 1024)
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent, started = 0, time.monotonic()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
        while sent < HOSTILE_BYTES and time.monotonic() - started < 20:
            sock.sendall(frame)
            sent += len(piece)
    sock.close()
    assert sent < HOSTILE_BYTES / 4, f"the server took {sent / 2**20:.0f} MiB it never read"


def test_a_body_trickled_byte_by_byte_is_cut_off(server: Server) -> None:
    """A client sending its body slowly holds its connection no longer than request_body_timeout (3 s
    here): 408 and the connection closed."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    token = server.tokens["publisher"]
    sock.sendall(f"POST /v1/articles HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
                 f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    started, received = time.monotonic(), b""
    sock.setblocking(False)
    while time.monotonic() - started < 10 and b"\r\n\r\n" not in received:
        with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
            sock.send(b"1\r\n{\r\n")
        readable, _, _ = select.select([sock], [], [], 0.5)
        if readable:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    sock.close()
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b"connection: close" in received.lower()
    assert time.monotonic() - started < 5
