"""A real, throwaway RFC 3161 time-stamping authority on loopback, made with `openssl`.

``LocalTSA`` makes a CA and a TSA certificate signed by it (EC P-256; the TSA's with
``extendedKeyUsage = critical, timeStamping``, as RFC 3161 section 2.3 requires) in its own temp
directory, and answers ``POST`` requests of type application/timestamp-query by running
``openssl ts -reply -config <conf> -queryfile … -signer … -inkey … -chain <CA>``: the token is
OpenSSL's, not ours. ``mode`` makes it misbehave for the hostile-answer tests:

    ok            a real reply (the default)
    garbage       200 with bytes that are not a TimeStampResp
    huge          200 streaming ``huge_bytes`` bytes with no Content-Length
    slow          200 dripping one byte every ``drip_seconds`` for ever
    error         HTTP 503
    other_digest  a real, valid reply, but for another digest than the one asked
    reject        a real reply with status rejection (badAlg: a section that allows SHA-512 only)

``openssl_verify(digest_hex, token, ca_file)`` runs ``openssl ts -verify -digest … -in … -CAfile …``.

    with LocalTSA() as tsa:
        settings = settings.replace(tsa_urls=tsa.url, tsa_ca_certs=str(tsa.ca_file), fetch_allow="127.0.0.1")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from archiver.testing.fixture_origin import QuietHTTPServer

OPENSSL = shutil.which("openssl") or "openssl"
MODES = ("ok", "garbage", "huge", "slow", "error", "other_digest", "reject")
MAX_QUERY = 64 * 1024

_TS_CONF = """\
[ tsa ]
default_tsa = tsa_ok

[ tsa_ok ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1.1
other_policies = 1.3.6.1.4.1.55555.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256

[ tsa_reject ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1.1
digests = sha512
accuracy = secs:1
ess_cert_id_alg = sha256
"""

_TSA_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _run(*args: str, cwd: Path, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run([OPENSSL, *args], cwd=cwd, input=stdin, capture_output=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return proc.stdout


class LocalTSA:
    """A time-stamping authority with its own CA, on a free loopback port (see the module docstring)."""

    def __init__(self, name: str = "archiver test TSA", *, huge_bytes: int = 5 * 1024 * 1024,
                 drip_seconds: float = 0.2, chain: bool = True) -> None:
        """`chain`: tokens carry the CA certificate besides the TSA's (``-chain``), as many TSAs do not."""
        self.name = name
        self.chain = chain
        self.mode = "ok"
        self.huge_bytes = huge_bytes
        self.drip_seconds = drip_seconds
        self.requests = 0
        self.dir = Path(tempfile.mkdtemp(prefix="archiver-tsa-"))
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._make_pki()

    # --- the PKI --------------------------------------------------------------------------------
    def _make_pki(self) -> None:
        d = self.dir
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
        _run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
             "-subj", f"/O=archiver tests/CN={self.name} root CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)
        _run("req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/O=archiver tests/CN={self.name}",
             cwd=d)
        (d / "tsa.ext").write_text(_TSA_EXT)
        _run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "2",
             "-days", "3650", "-out", "tsa.crt", "-extfile", "tsa.ext", cwd=d)
        (d / "serial").write_text("01\n")
        (d / "ts.cnf").write_text(_TS_CONF.format(dir=d))

    @property
    def ca_file(self) -> Path:
        """The PEM of this TSA's root CA (its trust root)."""
        return self.dir / "ca.crt"

    @property
    def ca_pem(self) -> bytes:
        return self.ca_file.read_bytes()

    def reply(self, query: bytes, section: str = "tsa_ok") -> bytes:
        """``openssl ts -reply`` to a DER TimeStampReq: the DER TimeStampResp."""
        with self._lock:
            q = self.dir / f"q-{threading.get_ident()}.tsq"
            q.write_bytes(query)
            try:
                chain = ("-chain", "ca.crt") if self.chain else ()
                return _run("ts", "-reply", "-config", "ts.cnf", "-section", section, "-queryfile", q.name,
                            "-signer", "tsa.crt", "-inkey", "tsa.key", *chain, cwd=self.dir)
            finally:
                q.unlink(missing_ok=True)

    def query_for(self, digest_hex: str) -> bytes:
        """An ``openssl ts -query`` for a SHA-256 digest (hex), asking for the certificate."""
        return _run("ts", "-query", "-digest", digest_hex, "-sha256", "-cert", cwd=self.dir)

    # --- the HTTP endpoint ------------------------------------------------------------------------
    def start(self) -> Self:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                tsa.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length <= 0 or length > MAX_QUERY or \
                        self.headers.get("Content-Type", "").split(";")[0].strip() != "application/timestamp-query":
                    self._send(400, b"not a timestamp query\n", "text/plain")
                    return
                query = self.rfile.read(length)
                mode = tsa.mode
                if mode == "error":
                    self._send(503, b"busy\n", "text/plain")
                elif mode == "garbage":
                    self._send(200, b"\x30\x82\x01\x00" + os.urandom(300))
                elif mode == "huge":
                    self._stream(lambda: b"\x30" * 65536, tsa.huge_bytes)
                elif mode == "slow":
                    self._drip()
                elif mode == "other_digest":
                    self._send(200, tsa.reply(tsa.query_for("ab" * 32)))
                elif mode == "reject":
                    self._send(200, tsa.reply(query, "tsa_reject"))
                else:
                    self._send(200, tsa.reply(query))

            def _send(self, status: int, body: bytes, ctype: str = "application/timestamp-reply") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, chunk: Any, total: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                try:
                    while sent < total:
                        data = chunk()
                        self.wfile.write(data)
                        sent += len(data)
                except OSError:
                    pass
                self.close_connection = True

            def _drip(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", "4096")
                self.end_headers()
                try:
                    for _ in range(4096):
                        if tsa._stopping.is_set():
                            break
                        self.wfile.write(b"\x30")
                        self.wfile.flush()
                        time.sleep(tsa.drip_seconds)
                except OSError:
                    pass
                self.close_connection = True

        self._server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-tsa", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the TSA first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Where to POST queries: ``http://127.0.0.1:<port>/tsr``."""
        return f"http://127.0.0.1:{self.port}/tsr"

    def stop_serving(self) -> None:
        """Close the port (the TSA is down: connections are refused) but keep the PKI."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def serve_again(self) -> None:
        """Listen again on the same port after ``stop_serving``."""
        port = self.port
        self._stopping.clear()
        handler = self._server.RequestHandlerClass if self._server else None
        assert handler is not None
        self._server = QuietHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-tsa", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and remove the directory with the keys."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def openssl_verify(digest_hex: str, token: bytes | Path, ca_file: Path) -> tuple[bool, str]:
    """``openssl ts -verify -digest <hex> -in <token> -CAfile <ca>``: (accepted, its output)."""
    with tempfile.TemporaryDirectory(prefix="archiver-tsr-") as tmp:
        path = token if isinstance(token, Path) else Path(tmp) / "token.tsr"
        if not isinstance(token, Path):
            path.write_bytes(token)
        proc = subprocess.run([OPENSSL, "ts", "-verify", "-digest", digest_hex, "-in", str(path),
                               "-CAfile", str(ca_file)], capture_output=True, timeout=30, check=False)
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    return proc.returncode == 0 and "Verification: OK" in out, out
