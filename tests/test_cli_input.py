"""Bad articles get one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from archiver.article.decode import decode_article
from archiver.article.input import ArticleInput
from archiver.config.settings import Settings
from archiver.errors import InputError
from tests.apikit import api

ARCHIVER = [sys.executable, "-m", "archiver.cli"]


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ARCHIVER_HOME": str(tmp_path / "home"), **env}
    return subprocess.run([*ARCHIVER, *args], capture_output=True, text=True, env=full_env, timeout=120)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.html", b"", "article is empty"),
        ("blank.html", b"  \n\t\n", "article is empty"),
        ("junk.bin", bytes(range(256)) * 64, "binary"),
        ("bad-bom.html", b"\xff\xfe" + b"\x00\xd8" * 3, "byte-order mark"),
    ],
)
def test_unusable_article_is_a_clear_error(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for command in ("archive", "extract"):
        out = run([command, str(path), "--json"], tmp_path)
        assert out.returncode == 2, out.stderr
        assert message in out.stderr
        assert "Traceback" not in out.stderr
        assert out.stderr.count("\n") == 1
        assert out.stdout == ""


def test_oversized_article_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with path.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # 50 MB (sparse): refused by size, not read
    out = run(["archive", str(path)], tmp_path)
    assert out.returncode == 2
    assert "over the limit" in out.stderr and "ARCHIVER_MAX_ARTICLE_BYTES" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_file_and_bad_article_id(tmp_path: Path) -> None:
    out = run(["archive", str(tmp_path / "nope.html")], tmp_path)
    assert out.returncode == 2 and "no such file" in out.stderr
    ok = tmp_path / "ok.html"
    ok.write_text("<p>hello</p>")
    out = run(["archive", str(ok), "--article-id", "../../etc"], tmp_path)
    assert out.returncode == 2 and "article id" in out.stderr
    assert not (tmp_path / "etc").exists()


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    ok = tmp_path / "ok.html"
    ok.write_text("<p>hello</p>")
    out = run(["archive", str(ok)], tmp_path, ARCHIVER_FETCH_RETRIES="lots")
    assert out.returncode == 2 and "ARCHIVER_FETCH_RETRIES" in out.stderr


def test_declared_non_utf8_article_is_archived_byte_exact(tmp_path: Path) -> None:
    text = '<html><head><meta charset="windows-1251"></head><body><p>Привет, мир</p></body></html>'
    src = tmp_path / "cp1251.html"
    src.write_bytes(text.encode("cp1251"))
    out = run(["archive", str(src), "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert Path(rep["rewritten"]).read_bytes() == text.encode("cp1251")


def test_submit_without_a_broker_is_a_clear_error(tmp_path: Path) -> None:
    ok = tmp_path / "ok.html"
    ok.write_text("<p>hello</p>")
    out = run(["submit", str(ok)], tmp_path, ARCHIVER_BROKER_URL="redis://127.0.0.1:1/0")
    assert out.returncode == 2 and "cannot reach the broker" in out.stderr
    assert "Traceback" not in out.stderr


# --- encodings: only the web's, read exactly ------------------------------------------------------------
NOT_WEB = ["undefined", "unicode_escape", "raw_unicode_escape", "idna", "punycode", "rot13", "base64", "zlib",
           "hex", "uu", "bz2", "quopri", "utf-7", "utf_32", "latin_1", "mbcs", "cp037", "palmos"]


@pytest.mark.parametrize("label", NOT_WEB)
def test_a_label_that_is_not_a_web_encoding_is_refused_wherever_declared(label: str) -> None:
    for body in (b"<p>caf\xe9</p>", b"<p>plain ASCII \\u0041</p>"):
        for data in (f'<meta charset="{label}">'.encode() + body,
                     f'<?xml version="1.0" encoding="{label}"?>'.encode() + body):
            with pytest.raises(InputError, match=f"'{label}': not an encoding of the web"):
                decode_article(data)
        with pytest.raises(InputError, match=f"'{label}': not an encoding of the web"):
            ArticleInput(body, charset=label)
    # a charset given (--charset) overrides a junk label in the document
    assert decode_article(f'<meta charset="{label}"><p>caf\xe9</p>'.encode("cp1252"), "windows-1252").text.endswith(
        "café</p>")


@pytest.mark.parametrize("label", ["replacement", "iso-2022-kr", "hz-gb-2312", "iso-2022-cn", "csiso2022kr"])
def test_replacement_encoding_labels_are_refused(label: str) -> None:
    with pytest.raises(InputError, match="without loss"):
        decode_article(f'<meta charset="{label}"><p>x</p>'.encode())
    with pytest.raises(InputError, match="without loss"):
        ArticleInput(b"<p>x</p>", charset=label)


def test_web_labels_are_read_as_the_standard_says() -> None:
    latin = decode_article(b'<meta charset="ISO-8859-1"><p>\x93caf\xe9\x94</p>')
    assert latin.encoding == "cp1252" and "\u201ccafé\u201d" in latin.text  # iso-8859-1 means windows-1252
    user = decode_article(b"<p>\xe9\x80</p>", "x-user-defined")  # every byte kept, ASCII as ASCII
    assert user.encode(user.text) == b"<p>\xe9\x80</p>"
    assert decode_article(b'<meta charset="x-user-defined"><p>\x93</p>').encoding == "cp1252"
    sjis = "<p>日本語</p>".encode("cp932")
    assert decode_article(b'<meta charset="x-sjis">' + sjis).text.endswith("日本語</p>")
    jis = '<meta charset="csISO2022JP"><p>日本語</p>'.encode("iso2022_jp")  # 7-bit: valid UTF-8 too
    assert decode_article(jis).text.endswith("日本語</p>")
    utf16 = "<p>x</p>".encode("utf-16-le")
    assert decode_article(utf16, "utf-16").text == "<p>x</p>"  # a UTF-16 label is taken before UTF-8
    with pytest.raises(InputError, match="odd"):
        decode_article(utf16 + b"<", "utf-16be")


BAD_ENCODINGS = [
    ("utf16-bom-odd.html", b"\xff\xfe<\x00p\x00>", [], "has a UTF-16LE byte-order mark but is not valid UTF-16LE"),
    ("bom-then-binary.html", b"\xef\xbb\xbf" + b"\x00\x01\x02\x03\xfe\xff" * 50, [], "binary"),
    ("undefined.html", b'<meta charset="undefined"><p>caf\xe9</p>', [], "'undefined': not an encoding of the web"),
    ("escape.html", b'<meta charset="unicode_escape"><p>\\u0041</p>', [], "'unicode_escape': not an encoding"),
    ("xml.html", b'<?xml version="1.0" encoding="raw_unicode_escape"?><p>x</p>', [], "'raw_unicode_escape': not"),
    ("kr.html", b'<meta charset="iso-2022-kr"><p>x</p>', [], "cannot be decoded without loss"),
    ("utf32.html", b"\xff\xfe\x00\x00<\x00\x00\x00", [], "UTF-32"),
    ("given.html", b"<p>caf\xe9</p>", ["--charset", "rot13"], "charset 'rot13': not an encoding of the web"),
    ("given-idna.html", b"<p>x</p>", ["--charset", "idna"], "charset 'idna': not an encoding of the web"),
]


@pytest.mark.parametrize(("name", "content", "flags", "message"), BAD_ENCODINGS, ids=[b[0] for b in BAD_ENCODINGS])
def test_bad_encodings_are_one_line_and_exit_2(tmp_path: Path, name: str, content: bytes, flags: list[str],
                                                message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for command in ("extract", "archive", "submit"):
        out = run([command, str(path), "--json", *flags], tmp_path, ARCHIVER_BROKER_URL="redis://127.0.0.1:1/0")
        assert out.returncode == 2, (command, out.stderr)
        assert message in out.stderr and "Traceback" not in out.stderr, (command, out.stderr)
        assert out.stderr.count("\n") == 1 and out.stdout == ""


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf<p>caf\xe9</p>", b"\xef\xbb\xbf<p>\xe2\x82</p>\r\n"],
                         ids=["bom-then-latin1", "bom-then-cut"])
def test_a_utf8_bom_page_with_bytes_that_are_not_utf8_is_archived_byte_for_byte(tmp_path: Path,
                                                                                content: bytes) -> None:
    """The BOM says UTF-8 as a <meta charset> does: bytes that are not UTF-8 (a browser shows U+FFFD)
    are kept as they are, and the rest of the article is archived."""
    path = tmp_path / "bom.html"
    path.write_bytes(content)
    out = run(["archive", str(path), "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert Path(report["rewritten"]).read_bytes() == content
    assert decode_article(content).encoding == "x-keep-utf-8"


def test_bad_encodings_are_the_same_error_from_the_api(tmp_settings: Callable[..., Settings]) -> None:
    cases = {
        '<meta charset="undefined"><p>x</p>': "'undefined': not an encoding of the web",
        '<meta charset="unicode_escape"><p>\\u0041</p>': "'unicode_escape': not an encoding of the web",
        '<?xml version="1.0" encoding="utf-7"?><p>x</p>': "'utf-7': not an encoding of the web",
        '<meta charset="hz-gb-2312"><p>x</p>': "without loss",
    }
    with api(tmp_settings(broker_url="")) as a:
        for i, (html, message) in enumerate(cases.items()):
            resp = a.call("publisher", "POST", "/v1/articles", json={"article_id": f"e{i}", "html": html})
            assert resp.status_code in (400, 422) and message in resp.json()["detail"], resp.text
        # JSON may carry an unpaired surrogate, which no encoding stores: an input error, not a 500
        for i, field in enumerate(("html", "published_at", "url")):
            doc = {"article_id": f"s{i}", "html": "<p>x</p>", field: "https://news.example/\ud800"}
            body = json.dumps(doc).encode()  # ensure_ascii: the surrogate travels as \\ud800
            resp = a.call("publisher", "POST", "/v1/articles", content=body,
                          headers={"Content-Type": "application/json"})
            assert resp.status_code in (400, 422), resp.text  # pydantic or the library refuses it
            assert field != "html" or "unpaired surrogate" in resp.json()["detail"]
        assert not [k for k in a.rt.store.list("articles/") if "/sources/" in k]  # nothing was stored


class _Page(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        ctype, body = self.pages[self.path]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_http_header_charset_is_a_web_label_too(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    text = "<p>Привет, мир</p>"
    _Page.pages = {"/escape": ("text/html; charset=unicode_escape", b"<p>\\u0041</p>"),
                   "/cyrillic": ('text/html; charset="windows-1251"', text.encode("cp1251"))}
    allow = {"ARCHIVER_FETCH_ALLOW": f"127.0.0.1:{port}"}
    try:
        # A label no browser knows is ignored, as a browser ignores it ("legacy extract an encoding"): the
        # page is read by its own declaration, else as UTF-8, and never with Python's unicode_escape codec.
        out = run(["archive", f"http://127.0.0.1:{port}/escape", "--json"], tmp_path, **allow)
        assert out.returncode == 0, out.stderr
        assert Path(json.loads(out.stdout)["rewritten"]).read_bytes() == b"<p>\\u0041</p>"
        out = run(["extract", f"http://127.0.0.1:{port}/escape"], tmp_path, **allow)
        assert out.returncode == 0, out.stderr
        out = run(["archive", f"http://127.0.0.1:{port}/cyrillic", "--json"], tmp_path, **allow)
        assert out.returncode == 0, out.stderr
        assert Path(json.loads(out.stdout)["rewritten"]).read_bytes() == text.encode("cp1251")
    finally:
        server.shutdown()
        server.server_close()
