"""`archiver archive` and `archiver submit` of many sources (issue 18): one line or JSON record per
article, a bad source reported while the others run, --from-file lists (comments, stdin), flags that
name one article refused, submit of many reaching a real Redis with one task per article, and
articles archived at once each keeping its own deadline."""

from __future__ import annotations

import base64
import contextvars
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver.capture.exchange import FetchError
from archiver.capture.fetch import ARTICLE_DEADLINE, Fetcher
from archiver.config.settings import Settings
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.testing.fixture_origin import FixtureOrigin
from archiver.testing.fixtures import make_image

ARCHIVER = [sys.executable, "-m", "archiver.cli"]
ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], tmp_path: Path, *, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    full_env.update({"ARCHIVER_HOME": str(tmp_path / "home"), **env})
    return subprocess.run([*ARCHIVER, *args], capture_output=True, text=True, env=full_env, timeout=180,
                          input=stdin, cwd=tmp_path)


def stories(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = tmp_path / f"story{i}.html"
        path.write_text(f"<html><body><h1>Story {i}</h1><p>Words of story {i}.</p></body></html>\n")
        paths.append(path)
    return paths


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_a_source_in_another_scheme_says_so_not_no_such_file(tmp_path: Path) -> None:
    (a,) = stories(tmp_path, 1)
    odd = ["ftp://news.example/a.html", "javascript:alert(1)", "file:///etc/passwd", "mailto:desk@news.example"]
    out = run(["archive", str(a), *odd, "--json"], tmp_path)
    records = {r["input"]: r for r in json_lines(out.stdout)}
    assert out.returncode == 2 and records[str(a)]["version"] == 1
    for source in odd:
        scheme, error = source.split(":", 1)[0], records[source]["error"]
        assert f"{scheme}: URLs are not read" in error and "no such file" not in error


def test_many_sources_one_bad_the_others_archived(tmp_path: Path) -> None:
    a, b = stories(tmp_path, 2)
    out = run(["archive", str(a), "missing.html", str(b), "--json"], tmp_path)
    assert out.returncode == 2, out.stderr
    records = {r["input"]: r for r in json_lines(out.stdout)}
    assert set(records) == {str(a), "missing.html", str(b)}
    assert records["missing.html"]["exit"] == 2 and "no such file" in records["missing.html"]["error"]
    for path in (a, b):  # the shape of `archive --json`, plus the source as given
        rep = records[str(path)]
        assert {"article_id", "version", "rewritten", "embeds", "images", "source"} <= set(rep)
        assert rep["version"] == 1 and Path(rep["rewritten"]).is_file()
    lines = out.stderr.splitlines()
    assert lines[-1] == "2 archived, 1 failed"
    assert any("missing.html" in line and "no such file" in line for line in lines[:-1])
    assert "Traceback" not in out.stderr
    # What finished is stored: the same sources again are unchanged versions.
    again = run(["archive", str(a), str(b), "--json"], tmp_path)
    assert again.returncode == 0 and again.stderr.splitlines()[-1] == "2 archived, 0 failed"
    assert all(r["version"] == 1 and r["new_version"] is False for r in json_lines(again.stdout))


def test_from_file_skips_blank_lines_and_comments(tmp_path: Path) -> None:
    a, b, c = stories(tmp_path, 3)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# backfill\n\n{a}\n   {b}   \n  # {c} is not wanted\n\n")
    out = run(["archive", "--from-file", str(listing)], tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()  # not a terminal, no --json: one short line per article
    assert len(lines) == 2 and {line.split(":")[0] for line in lines} == {str(a), str(b)}
    assert all("version 1 (new)" in line for line in lines)
    assert out.stderr == "2 archived, 0 failed\n"


def test_the_list_from_stdin_and_stdin_read_once(tmp_path: Path) -> None:
    a, b = stories(tmp_path, 2)
    out = run(["submit", "--from-file", "-", "--json"], tmp_path, stdin=f"{a}\n-\n",
              ARCHIVER_BROKER_URL="redis://127.0.0.1:1/0")
    # The broker is checked before the first article: one line, exit 2, nothing per article.
    assert out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1, out.stderr
    out = run(["archive", "--from-file", "-", str(b), "--json"], tmp_path, stdin=f"# list\n{a}\n-\n")
    assert out.returncode == 2, out.stderr
    records = {r["input"]: r for r in json_lines(out.stdout)}
    assert set(records) == {str(a), str(b), "-"}
    assert "stdin was read already" in records["-"]["error"]
    assert records[str(a)]["version"] == 1 and records[str(b)]["version"] == 1


def test_a_single_dash_among_many_is_one_article_from_stdin(tmp_path: Path) -> None:
    (a,) = stories(tmp_path, 1)
    out = run(["archive", str(a), "-", "--json"], tmp_path, stdin="<p>from stdin</p>")
    assert out.returncode == 0, out.stderr
    records = {r["input"]: r for r in json_lines(out.stdout)}
    assert set(records) == {str(a), "-"} and records["-"]["version"] == 1


@pytest.mark.parametrize("flag", [["--base-url", "https://news.example/a"], ["--article-id", "one"]])
def test_flags_naming_one_article_refuse_many_sources(tmp_path: Path, flag: list[str]) -> None:
    a, b = stories(tmp_path, 2)
    for command in ("archive", "submit"):
        out = run([command, str(a), str(b), *flag], tmp_path)
        assert out.returncode == 2 and out.stdout == "", out.stderr
        assert out.stderr.count("\n") == 1 and flag[0] in out.stderr and "one SOURCE" in out.stderr
    out = run(["submit", str(a), str(b), "--wait", "5"], tmp_path)
    assert out.returncode == 2 and "--wait" in out.stderr
    out = run(["archive"], tmp_path)
    assert out.returncode == 2 and "--from-file" in out.stderr and out.stderr.count("\n") == 1


def test_an_unusable_article_among_many_is_its_own_error(tmp_path: Path) -> None:
    a, b = stories(tmp_path, 2)
    bad = tmp_path / "bad.html"
    bad.write_bytes(b"\xff\xfe" + b"\x00\xd8" * 3)  # a broken byte-order mark: unusable, a user error
    out = run(["archive", str(a), str(bad), str(b)], tmp_path)
    assert out.returncode == 2 and out.stderr.splitlines()[-1] == "2 archived, 1 failed", out.stderr
    assert "byte-order mark" in out.stderr


@pytest.mark.integration
def test_submit_of_many_queues_one_task_per_article(tmp_path: Path, redis_url: str) -> None:
    import redis

    paths = stories(tmp_path, 12)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in paths[2:]))
    out = run(["submit", str(paths[0]), str(paths[1]), "--from-file", str(listing), "--json"], tmp_path,
              ARCHIVER_BROKER_URL=redis_url)
    assert out.returncode == 0, out.stderr
    jobs = {r["input"]: r for r in json_lines(out.stdout)}
    assert set(jobs) == {str(p) for p in paths} and all(j["queued"] for j in jobs.values())
    assert out.stderr.splitlines()[-1] == "12 submitted, 0 failed"
    ids = {j["article_id"] for j in jobs.values()}
    client = redis.Redis.from_url(redis_url)
    queued = []
    for raw in client.lrange("archiver", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == "archiver.process_article":
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            if args[0] in ids:
                queued.append(args[0])
    assert sorted(queued) == sorted(ids)  # one task per article
    # The same sources again: stored and queued already, so nothing new is queued.
    again = run(["submit", *map(str, paths), "--json"], tmp_path, ARCHIVER_BROKER_URL=redis_url)
    assert again.returncode == 0 and not any(r["queued"] for r in json_lines(again.stdout))


def test_the_fetcher_reads_the_deadline_of_its_own_article(tmp_settings: Callable[..., Settings]) -> None:
    """Two articles' fetches on one Fetcher at once end at their own deadlines (a context variable),
    not at whichever the other set."""
    with FixtureOrigin(timeout_sleep=20) as origin:
        origin.add_image("/slow.jpg", make_image("s"))
        origin.set_behaviour("/slow.jpg", "timeout", sticky=True)
        fetcher = Fetcher(tmp_settings(**origin.settings_overrides(), fetch_retries=0))
        ended: dict[str, float] = {}
        started = time.monotonic()

        def fetch(name: str, budget: float) -> None:
            ARTICLE_DEADLINE.set(time.monotonic() + budget)
            with pytest.raises(FetchError):
                fetcher.get(origin.url("/slow.jpg"), kind="image")
            ended[name] = time.monotonic() - started

        threads = [threading.Thread(target=contextvars.copy_context().run, args=(fetch, name, budget))
                   for name, budget in (("short", 1.0), ("long", 3.0))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert 0.8 < ended["short"] < 2.0 and 2.8 < ended["long"] < 4.5, ended


def test_concurrent_articles_keep_their_own_deadlines(tmp_settings: Callable[..., Settings]) -> None:
    """An article whose image stalls times out alone at its own deadline while another, started later on
    the same Runtime, finishes; the stalled fetch is cut at that deadline (its capture ends)."""
    with FixtureOrigin(timeout_sleep=25) as origin:
        slow = origin.add_image("/slow.jpg", make_image("slow", 200, 150))
        fast = origin.add_image("/fast.jpg", make_image("fast", 200, 150))
        origin.set_behaviour("/slow.jpg", "timeout", sticky=True)
        settings = tmp_settings(**origin.settings_overrides(), archive_deadline=3.0, fetch_retries=0,
                                fetch_read_timeout=20.0, fetch_deadline=20.0)
        with Runtime.from_settings(settings) as rt:
            reports: dict[str, dict[str, Any]] = {}
            took: dict[str, float] = {}

            def one(name: str, url: str) -> None:
                started = time.monotonic()
                reports[name] = archive(rt, f'<p>{name} <img src="{url}"></p>'.encode(), article_id=name)
                took[name] = time.monotonic() - started

            slow_thread = threading.Thread(target=one, args=("slow", slow))
            slow_thread.start()
            time.sleep(1.0)  # the second article's deadline is a second later than the first's
            one("fast", fast)
            slow_thread.join(15)
            assert reports["fast"]["images"][0]["status"] == "archived"
            assert reports["slow"]["images"][0]["status"] == "failed"
            assert "timed out" in reports["slow"]["images"][0]["error"]
            assert 2.5 < took["slow"] < 5.0, took
            # The stalled fetch was cut at its article's deadline, not left to fetch_deadline (20 s): closing
            # the Runtime, which waits for the captures still running on its pool, returns at once.
            started = time.monotonic()
            rt.close()
            assert time.monotonic() - started < 2.0


def test_a_terminal_gets_a_progress_bar(tmp_path: Path) -> None:
    """stderr a terminal: a progress bar (tqdm) there, error lines above it, no line per article."""
    import fcntl
    import pty
    import struct
    import termios

    a, b = stories(tmp_path, 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env["ARCHIVER_HOME"] = str(tmp_path / "home")
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of 100 columns on stdin, stdout and stderr
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        os.chdir(tmp_path)
        os.execve(sys.executable, [*ARCHIVER, "archive", str(a), "missing.html", str(b)], env)
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    text = seen.decode()
    assert os.waitstatus_to_exitcode(status) == 2, text
    assert "3/3" in text and "100%" in text and "article" in text
    assert "archiver: error: 'missing.html': no such file" in text
    assert text.rstrip().endswith("2 archived, 1 failed") and "version 1 (new)" not in text


def test_the_exit_status_is_the_worst_failure(capsys: pytest.CaptureFixture[str]) -> None:
    """Every source runs; a user error is exit 2, an internal error (a bug) 1 whatever else failed."""
    from archiver.cli.bulk import Reporter, run_bulk
    from archiver.errors import InputError

    def work(source: str) -> dict[str, Any]:
        if source == "bad":
            raise InputError("bad: unusable")
        if source == "bug":
            raise RuntimeError("a bug")
        return {"article_id": source}

    def bulk(sources: list[str]) -> int:
        return run_bulk(sources, work, Reporter(len(sources), as_json=True, done_word="archived",
                                                line=lambda s, a: s), workers=2)

    assert bulk(["a", "b"]) == 0
    assert bulk(["a", "bad", "b"]) == 2
    assert bulk(["bug", "a", "bad"]) == 1
    out, err = capsys.readouterr()
    records = json_lines(out)
    assert sum(1 for r in records if r.get("article_id") == "a") == 3
    assert {"input": "bug", "error": "RuntimeError: a bug", "exit": 1} in records
    assert "archiver: internal error: 'bug': RuntimeError: a bug" in err
    assert err.splitlines()[-1] == "1 archived, 2 failed"


def test_urls_among_the_sources_are_fetched_and_a_failed_fetch_is_its_own_error(tmp_path: Path) -> None:
    with FixtureOrigin() as origin:
        pages = [origin.add_image(f"/news/{i}.html", f"<p>page {i}</p>".encode(), "text/html; charset=utf-8")
                 for i in range(2)]
        gone = origin.url("/news/gone.html")
        out = run(["archive", *pages, gone, "--json"], tmp_path, ARCHIVER_FETCH_ALLOW="127.0.0.1")
    assert out.returncode == 2, out.stderr
    records = {r["input"]: r for r in json_lines(out.stdout)}
    assert records[gone]["exit"] == 2 and "HTTP 404" in records[gone]["error"]
    assert [records[p]["version"] for p in pages] == [1, 1]
    assert out.stderr.splitlines()[-1] == "2 archived, 1 failed"


def run_bytes(args: list[str], tmp_path: Path, *, stdin: bytes | None = None, close_stdout: bool = False,
              **env: str) -> subprocess.CompletedProcess[bytes]:
    """`run`, its output as bytes (what a reader of the pipe gets), optionally started without a stdout."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    full_env.update({"ARCHIVER_HOME": str(tmp_path / "home"), **env})
    return subprocess.run([*ARCHIVER, *args], capture_output=not close_stdout, env=full_env, timeout=180,
                          input=stdin, cwd=tmp_path, stderr=subprocess.PIPE if close_stdout else None,
                          preexec_fn=(lambda: os.close(1)) if close_stdout else None)


def test_json_lines_are_utf8_with_a_file_name_that_is_not(tmp_path: Path) -> None:
    """A file name whose bytes are not UTF-8 is archived, and its JSON line is still UTF-8: the bytes are
    written as \\udcXX escapes, from which os.fsencode gives the name back; the same for every command's
    JSON (archiver.cli.output.json_text)."""
    from archiver.cli.output import json_text

    (a,) = stories(tmp_path, 1)
    raw = b"bad\xff\xfename.html"
    (tmp_path / os.fsdecode(raw)).write_bytes(b"<p>a name that is not UTF-8</p>")
    out = run_bytes(["archive", os.fsdecode(raw), a.name, "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line.decode("utf-8")) for line in out.stdout.splitlines()]
    assert {os.fsencode(r["input"]) for r in records} == {raw, a.name.encode()}
    assert b"\\udcff\\udcfe" in out.stdout
    assert all(r["version"] == 1 for r in records)
    text = json_text({"name": os.fsdecode(raw), "nested": [os.fsdecode(b"\x80")]})
    assert json.loads(text.encode("utf-8")) == {"name": os.fsdecode(raw), "nested": [os.fsdecode(b"\x80")]}


def test_a_from_file_line_that_cannot_be_a_path_is_its_own_error(tmp_path: Path) -> None:
    a, b = stories(tmp_path, 2)
    listing = tmp_path / "list.txt"
    listing.write_bytes(f"{a.name}\nnul\x00.html\n{b.name}\n".encode())
    out = run(["archive", "--from-file", str(listing), "--json"], tmp_path)
    assert out.returncode == 2, out.stderr
    records = {r["input"]: r for r in json_lines(out.stdout)}
    assert records["nul\x00.html"]["exit"] == 2 and "cannot be a file name" in records["nul\x00.html"]["error"]
    assert records[a.name]["version"] == 1 and records[b.name]["version"] == 1
    assert "internal error" not in out.stderr and out.stderr.splitlines()[-1] == "2 archived, 1 failed"


def test_from_file_lines_split_on_newline_only(tmp_path: Path) -> None:
    """A byte-order mark, CRLF line ends and tabs around a name are dropped; every other character is
    part of a name (file separators, U+2028, a form feed, bytes that are not UTF-8)."""
    a, b = stories(tmp_path, 2)
    names = ["odd\x1cname.html", "odd\u2028name.html", "odd\x0cname.html", os.fsdecode(b"bad\xffname.html")]
    for name in names:
        (tmp_path / name).write_text(f"<p>{name.encode('utf-8', 'surrogateescape')!r}</p>")
    listing = tmp_path / "list.txt"
    body = b"\xef\xbb\xbf" + f"{a.name}\r\n\t {b.name} \t\r\n# note\r\n\r\n".encode()
    body += b"".join(os.fsencode(n) + b"\n" for n in names)
    listing.write_bytes(body)
    out = run_bytes(["archive", "--from-file", str(listing), "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    inputs = {json.loads(line)["input"] for line in out.stdout.splitlines()}
    assert inputs == {a.name, b.name, *names}


def test_from_file_with_null_takes_names_exactly(tmp_path: Path) -> None:
    """-0: names end with NUL (find -print0) and are taken as they are: a newline, a leading '#' or
    spaces are part of the name."""
    names = ["new\nline.html", "#hash.html", " spaced .html"]
    for name in names:
        (tmp_path / name).write_text(f"<p>{name!r}</p>")
    out = run_bytes(["archive", "--from-file", "-", "-0", "--json"], tmp_path,
                    stdin=b"".join(n.encode() + b"\0" for n in names) + b"\0")
    assert out.returncode == 0, out.stderr
    assert {json.loads(line)["input"] for line in out.stdout.splitlines()} == set(names)
    out = run_bytes(["archive", "x.html", "-0"], tmp_path)
    assert out.returncode == 2 and b"--from-file" in out.stderr


def test_an_error_names_its_source_once_and_json_holds_the_real_text(tmp_path: Path) -> None:
    (a,) = stories(tmp_path, 1)
    missing = "gone\x1b[31m.html"
    refused = "http://127.0.0.1:1/story?x=1"  # loopback: the fetcher's guard refuses it
    out = run(["archive", a.name, missing, refused, "--json"], tmp_path)
    assert out.returncode == 2, out.stderr
    records = {r["input"]: r for r in json_lines(out.stdout)}
    assert records[missing]["error"] == "no such file"  # the source is "input", not escaped into "error"
    assert records[refused]["error"].startswith("cannot fetch: refused") and refused not in records[refused]["error"]
    lines = out.stderr.splitlines()
    assert "archiver: error: 'gone\\u001b[31m.html': no such file" in lines
    (line,) = [x for x in lines if "127.0.0.1:1" in x]
    assert line.count(refused) == 1, line
    assert "\x1b" not in out.stderr


def test_options_may_stand_among_the_sources(tmp_path: Path) -> None:
    a, b = stories(tmp_path, 2)
    dash = tmp_path / "-dash.html"
    dash.write_text("<p>a name starting with a dash</p>")
    out = run(["archive", a.name, "--json", b.name, "--format", "html", "--", dash.name], tmp_path)
    assert out.returncode == 0, out.stderr
    assert {r["input"] for r in json_lines(out.stdout)} == {a.name, b.name, dash.name}
    out = run(["submit", a.name, "--wait", "5", b.name], tmp_path)
    assert out.returncode == 2 and "--wait" in out.stderr and out.stderr.count("\n") == 1
    out = run(["archive", a.name, "--bogus", b.name], tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "unrecognized arguments: --bogus (" in out.stderr  # b.name is a source, not an unknown argument


@pytest.mark.parametrize("many", [False, True])
def test_a_closed_stdout_is_a_reader_gone(tmp_path: Path, many: bool) -> None:
    """Started without a stdout (`>&-`): the articles are archived, and the command ends as when its
    reader went away (141, nothing on stderr), not with an internal error."""
    a, b = stories(tmp_path, 2)
    sources = [a.name, b.name] if many else [a.name]
    out = run_bytes(["archive", *sources, "--json"], tmp_path, close_stdout=True)
    assert out.returncode == 141 and out.stderr == b"", out.stderr
    again = run(["archive", *sources, "--json"], tmp_path)  # what was archived is there, unchanged
    assert again.returncode == 0, again.stderr
    reports = json_lines(again.stdout) if many else [json.loads(again.stdout)]
    assert len(reports) == len(sources) and all(r["version"] == 1 and not r["new_version"] for r in reports)


def test_a_closed_stdin_is_an_input_error(tmp_path: Path) -> None:
    """Started without a stdin (`<&-`): '-' as a source or as --from-file's list is that source's error
    (exit 2), not an internal error."""
    (a,) = stories(tmp_path, 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    env["ARCHIVER_HOME"] = str(tmp_path / "home")
    for args in (["archive", "-"], ["archive", "--from-file", "-"], ["archive", a.name, "-"]):
        out = subprocess.run([*ARCHIVER, *args], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=180, preexec_fn=lambda: os.close(0))
        assert out.returncode == 2 and "no stdin to read" in out.stderr, (args, out.stderr)
        assert "internal error" not in out.stderr


def test_a_service_fault_starts_no_more_sources(capsys: pytest.CaptureFixture[str]) -> None:
    """The first storage, catalog or broker fault is reported once; no source starts after it, those
    running that meet it too and those not started are counted once as not done; exit 2."""
    from archiver.cli.bulk import Reporter, run_bulk

    started: list[str] = []
    both_running = threading.Barrier(2, timeout=10)

    def work(source: str) -> dict[str, Any]:
        started.append(source)
        if source.startswith("down"):
            if source.startswith("down-together"):
                both_running.wait()
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return {"article_id": source}

    def bulk(sources: list[str], workers: int) -> int:
        return run_bulk(sources, work, Reporter(len(sources), as_json=True, done_word="submitted",
                                                line=lambda s, a: s), workers=workers)

    assert bulk(["ok1", "down1", "ok2", "down2", "ok3"], 1) == 2
    assert started == ["ok1", "down1"]
    out, err = capsys.readouterr()
    assert [r["input"] for r in json_lines(out)] == ["ok1", "down1"]
    assert err.count("ConnectionError") == 1 and "no more sources start" in err
    assert err.splitlines()[-1].startswith("1 submitted, 1 failed, 3 not done: ")
    started.clear()
    assert bulk(["down-together1", "down-together2", "ok1", "ok2"], 2) == 2
    assert sorted(started) == ["down-together1", "down-together2"]
    out, err = capsys.readouterr()
    assert len(json_lines(out)) == 1 and err.count("ConnectionError") == 1
    assert err.splitlines()[-1].startswith("0 submitted, 1 failed, 3 not done: ")


@pytest.mark.integration
def test_submit_stops_when_the_broker_is_lost(tmp_path: Path) -> None:
    """A real Redis stopped mid-run: the source that meets it fails once, the rest are not done."""
    from tests.harness.services import start_redis

    a, b, *rest = stories(tmp_path, 6)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_")}
    with start_redis() as server:
        full_env.update(ARCHIVER_HOME=str(tmp_path / "home"), ARCHIVER_BROKER_URL=server.url,
                        ARCHIVER_ARTICLE_CONCURRENCY="1")
        # One at a time; the third source is stdin, so it waits until the broker is gone.
        proc = subprocess.Popen([*ARCHIVER, "submit", a.name, b.name, "-", *(p.name for p in rest), "--json"],
                                cwd=tmp_path, env=full_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdin is not None
        first = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert all(r["queued"] for r in first)
        server.stop()
        out, err = proc.communicate("<p>read from stdin once the broker is gone</p>", timeout=120)
    assert proc.returncode == 2, err
    (lost,) = json_lines(out)
    assert lost["input"] == "-" and lost["exit"] == 2 and "the broker" in lost["error"]
    assert err.count("ConnectionError") == 1, err  # one error line, not one per source left
    assert err.splitlines()[-1] == "2 submitted, 1 failed, 4 not done: the broker (ARCHIVER_BROKER_URL) did not answer"
