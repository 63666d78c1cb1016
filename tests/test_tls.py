"""The fetcher's HTTPS path against a local TLS server: a throwaway CA (trustme), a made-up host name
resolved to 127.0.0.1 inside the test only, and the CA handed over through ``fetch_ca_bundle``.

What must hold: the certificate is verified for the real host name (sent as SNI and Host) while the
TCP connection goes to the address that was checked, resolved exactly once per request.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from archiver.capture.exchange import FetchError
from archiver.capture.fetch import Fetcher
from archiver.config.settings import Settings
from archiver.errors import ConfigError

HOST = "photos.newsroom.test"


class TLSOrigin:
    """HTTPS on 127.0.0.1 with a certificate for `names`; records SNI names, Host headers and peers."""

    def __init__(self, ca: trustme.CA, names: list[str]) -> None:
        self.sni: list[str | None] = []
        self.hosts: list[str | None] = []
        self.local_addresses: list[str] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                origin.hosts.append(self.headers.get("Host"))
                origin.local_addresses.append(self.connection.getsockname()[0])
                body = b"tls ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*names).configure_cert(ctx)
        ctx.sni_callback = lambda _sock, name, _ctx: origin.sni.append(name)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Resolve HOST (and nothing else made up) to 127.0.0.1; record every lookup of it."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == HOST:
            seen.append(host)
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return seen


@pytest.fixture
def serve(ca: trustme.CA) -> Iterator[Callable[[list[str]], TLSOrigin]]:
    started: list[TLSOrigin] = []

    def start(names: list[str]) -> TLSOrigin:
        started.append(TLSOrigin(ca, names))
        return started[-1]

    yield start
    for origin in started:
        origin.close()


def settings_for(origin: TLSOrigin, ca_file: str = "") -> Settings:
    return Settings(fetch_allow=f"127.0.0.1:{origin.port}", fetch_ca_bundle=ca_file, fetch_retries=0,
                    fetch_deadline=10.0)


def test_good_certificate_for_the_real_name_over_the_checked_address(
        serve: Callable[[list[str]], TLSOrigin], ca_file: str, lookups: list[str]) -> None:
    origin = serve([HOST])
    resp = Fetcher(settings_for(origin, ca_file)).get(f"https://{HOST}:{origin.port}/a.jpg", kind="image")
    assert resp.status == 200 and resp.body == b"tls ok"
    assert origin.sni == [HOST]                            # SNI carried the real name, not the IP
    assert origin.hosts == [f"{HOST}:{origin.port}"]
    assert origin.local_addresses == ["127.0.0.1"]
    assert resp.exchanges[-1].resolved_ip == "127.0.0.1"   # the address that was checked ...
    assert lookups == [HOST]                               # ... resolved once, never again at connect


def test_certificate_for_another_name_is_refused(
        serve: Callable[[list[str]], TLSOrigin], ca_file: str, lookups: list[str]) -> None:
    origin = serve(["other.newsroom.test"])
    with pytest.raises(FetchError) as err:
        Fetcher(settings_for(origin, ca_file)).get(f"https://{HOST}:{origin.port}/a.jpg", kind="image")
    assert "certificate" in str(err.value).lower() or "hostname" in str(err.value).lower()
    assert origin.hosts == []   # no request was sent over the unverified connection


def test_unknown_authority_is_refused_with_the_default_bundle(
        serve: Callable[[list[str]], TLSOrigin], lookups: list[str]) -> None:
    origin = serve([HOST])
    with pytest.raises(FetchError, match=r"(?i)certificate"):
        Fetcher(settings_for(origin)).get(f"https://{HOST}:{origin.port}/a.jpg", kind="image")
    assert origin.hosts == []


def test_certificate_for_the_ip_does_not_stand_for_the_name(
        serve: Callable[[list[str]], TLSOrigin], ca_file: str, lookups: list[str]) -> None:
    """We connect to 127.0.0.1, but the name checked is the host's, so an IP certificate is useless."""
    origin = serve(["127.0.0.1"])
    with pytest.raises(FetchError):
        Fetcher(settings_for(origin, ca_file)).get(f"https://{HOST}:{origin.port}/a.jpg", kind="image")
    assert origin.hosts == []


def test_unreadable_ca_bundle_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="fetch_ca_bundle"):
        Fetcher(Settings(fetch_ca_bundle=str(bad)))
    with pytest.raises(ConfigError, match="fetch_ca_bundle"):
        Fetcher(Settings(fetch_ca_bundle=str(tmp_path / "missing.pem")))
