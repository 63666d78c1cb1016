"""Bad articles get one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    import json

    rep = json.loads(out.stdout)
    assert Path(rep["rewritten"]).read_bytes() == text.encode("cp1251")


def test_submit_without_a_broker_is_a_clear_error(tmp_path: Path) -> None:
    ok = tmp_path / "ok.html"
    ok.write_text("<p>hello</p>")
    out = run(["submit", str(ok)], tmp_path, ARCHIVER_BROKER_URL="redis://127.0.0.1:1/0")
    assert out.returncode == 2 and "cannot reach the broker" in out.stderr
    assert "Traceback" not in out.stderr
