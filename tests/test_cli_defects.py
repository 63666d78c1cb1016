"""CLI defects: settings with a syntax are checked when they load (one line naming the setting, exit 2,
nothing stored); re-archiving is idempotent; unresolved embeds belong to their article; a damaged
health record, a narrow terminal encoding, Ctrl-C and a second reindex are handled. Each case runs
`python -m archiver.cli` as a real subprocess or the real command functions."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from archiver.cli.bulk import Reporter, run_bulk
from archiver.config.settings import Settings, load_settings
from archiver.errors import ConfigError
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from tests.test_cli_errors import ARCHIVER, base_env, one_line_error, run
from tests.test_partial import PHOTO_TWEET, STEM, blockquote


# --- item 2: settings with a syntax are checked when they load ----------------------------------------
@pytest.mark.parametrize(("name", "value"), [
    ("FETCH_ALLOW", "bad/99"), ("FETCH_ALLOW", "127.0.0.1:99999"), ("FETCH_ALLOW", "10.0.0.0/33"),
    ("FETCH_ALLOW", "127.0.0.1, [::1"),
    ("TWITTER_SYNDICATION_URL", "notaurl"), ("TWITTER_OEMBED_URL", "ftp://x.example/oembed"),
    ("SHORTLINK_URL", "{host}{path}"),
    ("PUBLIC_BASE_URL", "/media"), ("PUBLIC_BASE_URL", 'https://a.example/m"x'),
    ("PUBLIC_BASE_URL", "https://a.example/m x"), ("PUBLIC_BASE_URL", "https://a.example/a,b"),
    ("PUBLIC_BASE_URL", "https://a.example/a(b)"), ("PUBLIC_BASE_URL", "https://a.example/<b>"),
    ("PUBLIC_BASE_URL", "https://a.example/a\\b"), ("PUBLIC_BASE_URL", "https://a.example/a'b"),
])
def test_a_malformed_setting_is_one_line_and_exit_2_and_nothing_is_stored(name: str, value: str,
                                                                          tmp_path: Path) -> None:
    story = tmp_path / "story.html"
    story.write_text('<p>hello</p><img src="http://127.0.0.1:9/a.jpg">\n', encoding="utf-8")
    out = run(["archive", str(story), "--json"], base_env(tmp_path, **{f"ARCHIVER_{name}": value}))
    line = one_line_error(out)
    assert f"ARCHIVER_{name}=" in line and out.stdout == ""
    assert not (tmp_path / "home" / "objects").exists()


def test_a_malformed_setting_in_the_file_names_the_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text('fetch_allow = "bad/99"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"a\.toml: fetch_allow = 'bad/99'"):
        load_settings(env={}, config_file=cfg)
    cfg.write_text('twitter_syndication_url = "notaurl"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"a\.toml: twitter_syndication_url = 'notaurl'"):
        load_settings(env={}, config_file=cfg)


def test_good_values_still_load() -> None:
    s = load_settings(env={"ARCHIVER_FETCH_ALLOW": "127.0.0.1:18931, 10.0.0.0/8, cdn.intranet, [::1]:9000",
                           "ARCHIVER_MASTODON_OEMBED_URL": "https://{host}/api/oembed",
                           "ARCHIVER_PUBLIC_BASE_URL": "https://archive.example:8443/media/?a=b&c=d"})
    assert s.fetch_allow_list[0] == "127.0.0.1:18931"
    assert Settings().public_base_url.startswith("http")


def test_the_fetcher_and_the_settings_share_one_parser() -> None:
    from archiver.capture import guard
    from archiver.config import settings

    assert guard.parse_allow is settings.parse_allow


# --- item 3: a source named several times in one bulk command is archived once -------------------------
def test_a_source_named_again_runs_once_and_each_name_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    story = tmp_path / "a.html"
    story.write_text("<p>hello</p>\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    calls: list[str] = []

    def work(source: str) -> dict[str, Any]:
        calls.append(source)
        return {"article_id": "x", "version": 1}

    reporter = Reporter(4, as_json=True, done_word="archived", line=lambda s, a: s)
    assert run_bulk(["a.html", "./a.html", "a.html", str(story)], work, reporter, workers=4) == 0
    assert calls == ["a.html"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in lines] == ["a.html", "./a.html", "a.html", str(story)]
    assert all(r["article_id"] == "x" for r in lines)


def test_archive_of_one_file_eight_times_archives_it_once(tmp_path: Path) -> None:
    tweets = [TweetFixture(id=PHOTO_TWEET, handle="LakemontDPW", name="Lakemont Public Works", text="Crews out now",
                           photos=[{"name": f"{STEM}.jpg", "alt": "A plow", "width": 120, "height": 80}])]
    with FixtureOrigin(tweets=tweets) as origin:
        for path in (f"/media/{STEM}", f"/media/{STEM}.jpg"):
            origin.set_behaviour(path, "500", sticky=True)  # a partial capture
        story = tmp_path / "story.html"
        story.write_text("<p>Storm</p>\n" + blockquote("LakemontDPW", PHOTO_TWEET), encoding="utf-8")
        env = base_env(tmp_path, ARCHIVER_FETCH_RETRIES="0", ARCHIVER_MEDIA_DERIVATIVES="0",
                       **{f"ARCHIVER_{k.upper()}": str(v) for k, v in origin.settings_overrides().items()})
        out = run(["archive", *[str(story)] * 8, "--json"], env)
        assert out.returncode == 0, out.stderr[-2000:]
        lines = [json.loads(line) for line in out.stdout.splitlines()]
        assert len(lines) == 8 and {r["version"] for r in lines} == {1}
        assert origin.count("/tweet-result") + origin.count("/oembed") <= 2
    manifests = list((tmp_path / "home" / "objects" / "posts" / "twitter" / PHOTO_TWEET).glob("*.json"))
    assert len(manifests) == 1
    aid = lines[0]["article_id"]
    assert not (tmp_path / "home" / "objects" / "articles" / aid / "v2.json").exists()


# --- item 4: a post without an id of its own belongs to its article ------------------------------------
FLATTENED = ("नई दिल्ली, वाईबीएन डेस्क। जयशंकर और लावरोव की बैठक\n"
             "Russia's Foreign Minister Sergey Lavrov and Minister of External Affairs of India Dr S Jaishankar hold "
             "a meeting on the sidelines of the SCO Council of Foreign Ministers meeting in Tianjin, China\n"
             "— ANI (@ANI) July 15, 2025\n"
             "(Source: Ministry of Foreign Affairs of Russia) pic.twitter.com/ZZ9unknown0\n"
             "क्या है शंघाई सहयोग संगठन (SCO)?\n")


def test_an_unresolved_embed_is_found_by_its_article(tmp_path: Path) -> None:
    with FixtureOrigin() as origin:
        story = tmp_path / "seed.txt"
        story.write_text(FLATTENED, encoding="utf-8")
        env = base_env(tmp_path, ARCHIVER_FETCH_RETRIES="0",
                       **{f"ARCHIVER_{k.upper()}": str(v) for k, v in origin.settings_overrides().items()})
        out = run(["archive", str(story), "--article-id", "seed", "--json"], env)
        assert out.returncode == 0, out.stderr[-2000:]
        [embed] = json.loads(out.stdout)["embeds"]
        assert embed["post_id"] is None and embed["snapshot"].startswith("posts/twitter/unresolved-")
        filed = embed["snapshot"].split("/")[2]

        by_handle = json.loads(run(["search", "from:ANI", "--json"], env).stdout)
        assert [(h["post_id"], h["articles"]) for h in by_handle["hits"]] == [(filed, ["seed"])]
        by_article = json.loads(run(["search", "--article", "seed", "--json"], env).stdout)
        assert [h["post_id"] for h in by_article["hits"]] == [filed]
        exported = run(["export", "--article", "seed", "-o", str(tmp_path / "a.wacz"), "--json"], env)
        assert exported.returncode == 0, exported.stderr[-2000:]
        assert json.loads(exported.stdout)["posts"] == 1
        # `archiver reindex` rebuilds the same link from storage.
        assert run(["reindex", "--json"], env).returncode == 0
        again = json.loads(run(["search", "--article", "seed", "--json"], env).stdout)
        assert [h["post_id"] for h in again["hits"]] == [filed]


# --- item 5b: output whatever the terminal's encoding ---------------------------------------------------
HINDI = "जयशंकर और लावरोव की मुलाकात 🇮🇳"


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_output_is_valid_whatever_the_terminals_encoding(tmp_path: Path, encoding: str) -> None:
    tweet = "1945048830047662087"
    with FixtureOrigin(tweets=[TweetFixture(id=tweet, handle="ANI", name="ANI समाचार", text=HINDI, lang="hi")]) as o:
        story = tmp_path / "story.html"
        story.write_text(f'<p>{HINDI}</p>\n<blockquote class="twitter-tweet"><p lang="hi" dir="ltr">{HINDI}</p>'
                         f'&mdash; ANI (@ANI) <a href="https://twitter.com/ANI/status/{tweet}">July 15, 2025</a>'
                         "</blockquote>\n", encoding="utf-8")
        env = base_env(tmp_path, ARCHIVER_FETCH_RETRIES="0",
                       **{f"ARCHIVER_{k.upper()}": str(v) for k, v in o.settings_overrides().items()})
        assert run(["archive", str(story), "--article-id", "hi", "--json"], env).returncode == 0
    env["PYTHONIOENCODING"] = encoding
    found = run(["search", "जयशंकर", "--json"], env)
    assert found.returncode == 0 and found.stderr == "", found.stderr[-2000:]
    assert [h["text"] for h in json.loads(found.stdout)["hits"]] == [HINDI]
    shown = run(["show", "hi", "--json"], env)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr[-2000:]
    assert HINDI in json.loads(shown.stdout)["body"]
    text = run(["search", "जयशंकर"], env)
    assert text.returncode == 0 and text.stderr == "", text.stderr[-2000:]
    assert "\\u091c" in text.stdout and "ANI" in text.stdout
    text.stdout.encode(encoding)
    missing = run(["show", "नहीं-है"], env)  # an error quoting what was typed: one line, no traceback
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and len(missing.stderr.splitlines()) == 1


# --- item 5c: Ctrl-C ---------------------------------------------------------------------------------------
class SlowImages:
    """An image host on loopback that holds every request `hold` seconds, then answers 404; `asked` is set
    at the first request."""

    def __init__(self, hold: float = 4.0) -> None:
        self.asked = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer.asked.set()
                time.sleep(hold)
                try:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow() -> Iterator[SlowImages]:
    s = SlowImages()
    yield s
    s.close()


def slow_env(tmp_path: Path, slow: SlowImages) -> dict[str, str]:
    return base_env(tmp_path, ARCHIVER_FETCH_ALLOW=f"127.0.0.1:{slow.port}", ARCHIVER_FETCH_RETRIES="0",
                    ARCHIVER_FETCH_READ_TIMEOUT="30", ARCHIVER_FETCH_DEADLINE="30")


def _as_from_a_terminal() -> None:
    # A suite started in the background (`cmd &` in a script) has SIGINT ignored, and a child keeps
    # that: Python then never raises KeyboardInterrupt. Ctrl-C at a terminal has its default action.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*ARCHIVER, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)


def test_ctrl_c_of_one_article_says_so_in_one_line(tmp_path: Path) -> None:
    # Held longer than a loaded machine may take to send the signal: the run must still be waiting.
    slow = SlowImages(hold=25.0)
    try:
        story = tmp_path / "slow.html"
        story.write_text(f'<p>slow</p><img src="http://127.0.0.1:{slow.port}/a.jpg">\n', encoding="utf-8")
        proc = start(["archive", str(story)], slow_env(tmp_path, slow))
        assert slow.asked.wait(60)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        slow.close()
    assert proc.returncode == 130, err
    assert err.startswith("archiver: interrupted: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_a_double_ctrl_c_in_a_bulk_run_keeps_the_lines_of_finished_articles(tmp_path: Path,
                                                                            slow: SlowImages) -> None:
    fast = tmp_path / "fast.html"
    fast.write_text("<p>fast</p>\n", encoding="utf-8")
    late = tmp_path / "slow.html"
    late.write_text(f'<p>slow</p><img src="http://127.0.0.1:{slow.port}/a.jpg">\n', encoding="utf-8")
    proc = start(["archive", str(fast), str(late), "--json"], slow_env(tmp_path, slow))
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["input"] == str(fast)
    assert slow.asked.wait(60)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    lines = [json.loads(line) for line in rest.splitlines()]
    assert [r["input"] for r in lines] == [str(late)], err  # it finished: its line is not lost
    assert lines[0]["version"] == 1 and lines[0]["images"][0]["status"] == "failed"
    assert err.splitlines()[-1] == "2 archived, 0 failed", err
