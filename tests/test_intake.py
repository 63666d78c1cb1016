"""One ArticleInput travels from a face through Intake to `prepare`: what the sender declared (charset,
format) reaches the plan on the local runner and in the queued task message, the source is stored
once, and task messages are published without Celery in the shape Celery's workers read."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from archiver.article.input import ArticleInput
from archiver.article.versions import versions
from archiver.cli import main as cli
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.runners.intake import MODE_LOCAL, Intake
from archiver.runners.local import archive
from archiver.runners.queue import PROCESS_ARTICLE
from archiver.runners.sweep import sweep
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan, prepare
from archiver.storage.layout import source_key
from archiver.storage.local import LocalStore
from tests.apikit import private_redis_db

# Cyrillic in windows-1251 with no declaration: detection alone guesses another code page.
CP1251 = "<p>Привет, мир</p>".encode("cp1251")
# Markdown whose start has HTML in it: read as HTML (the default guess) the flattened tweet is missed.
MARKDOWN = ("<!-- wp:paragraph -->\n\nIndia and Russia met in Tianjin.\n\n"
            "Lavrov meets Jaishankar in Tianjin — ANI (@ANI) July 15, 2025\n").encode()


@pytest.fixture
def local(tmp_settings: Callable[..., Settings]) -> Iterator[tuple[Runtime, Intake]]:
    with Runtime.from_settings(tmp_settings(broker_url="")) as rt, Intake(rt) as intake:
        yield rt, intake


def test_declared_charset_reaches_the_plan_on_the_local_runner(local: tuple[Runtime, Intake]) -> None:
    rt, intake = local
    job = intake.submit("cyr", ArticleInput(CP1251, charset="windows-1251"), via="cli")
    assert job.mode == MODE_LOCAL == "embedded" and job.queued
    intake.wait_idle()
    assert load_plan(rt, "cyr").encoding == "cp1251"
    assert rt.store.get(rt.catalog.versions("cyr")[-1]["key"]) == CP1251


def test_a_corrected_charset_submitted_again_is_archived_again(local: tuple[Runtime, Intake]) -> None:
    """The same bytes submitted with a corrected charset are planned again (as `archiver archive` does);
    submitted again unchanged, nothing is queued."""
    rt, intake = local
    assert intake.submit("cyr", ArticleInput(CP1251, charset="windows-1252")).queued
    intake.wait_idle()
    assert load_plan(rt, "cyr").encoding == "cp1252"
    assert not intake.submit("cyr", ArticleInput(CP1251, charset="windows-1252")).queued
    assert intake.submit("cyr", ArticleInput(CP1251, charset="windows-1251")).queued
    intake.wait_idle()
    assert load_plan(rt, "cyr").encoding == "cp1251"
    shown = versions(rt, "cyr")
    assert [v.encoding for v in shown] == ["cp1252", "cp1251"]   # the same bytes, now read right
    assert rt.store.get(shown[-1].key).decode(shown[-1].encoding) == "<p>Привет, мир</p>"
    assert not intake.submit("cyr", ArticleInput(CP1251, charset="windows-1251")).queued


def test_a_corrected_charset_is_queued_again(tmp_settings: Callable[..., Settings],
                                            broker: tuple[str, redis.Redis]) -> None:
    url, r = broker
    with Runtime.from_settings(tmp_settings(broker_url=url)) as rt, Intake(rt) as intake:
        intake.submit("q2", ArticleInput(CP1251, charset="windows-1252"), queue_only=True)
        intake.submit("q2", ArticleInput(CP1251, charset="windows-1252"), queue_only=True)   # the same: once
        assert len(_messages(r)) == 1
        # A worker planned it as windows-1252 (the plan is what the marker is compared with).
        from archiver.steps.prepare import prepare
        prepare(rt, ArticleInput(CP1251, charset="windows-1252"), article_id="q2", source_stored=True)
        assert intake.submit("q2", ArticleInput(CP1251, charset="windows-1251"), queue_only=True).queued
        assert [m[2]["charset"] for m in _messages(r)] == ["windows-1252", "windows-1251"]


def test_markdown_submitted_without_a_broker_is_discovered_as_markdown(local: tuple[Runtime, Intake]) -> None:
    rt, intake = local
    intake.submit("md", ArticleInput(MARKDOWN, format="markdown"))
    intake.wait_idle()
    items = load_plan(rt, "md").items
    assert [(i.kind, i.provider, i.occurrences[0].form) for i in items] == [
        ("embed", "twitter", "flattened")]


def test_an_article_accepted_without_a_broker_is_found_by_the_sweeper_if_this_process_dies(
        local: tuple[Runtime, Intake], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Accepted (202) while no broker answers, the article is only in this process's background queue:
    its catalog row says "queued" before the answer, so if the process dies before the thread gets
    to it, the sweeper queues it once a broker answers again."""
    rt, intake = local
    monkeypatch.setattr(ThreadPoolExecutor, "submit", lambda self, fn, *a, **kw: None)  # the process dies first
    job = intake.submit("lost", ArticleInput(b"<p>accepted, then the process died</p>"))
    assert job.mode == MODE_LOCAL and job.queued
    assert rt.catalog.article("lost")["status"] == "queued"
    sent: list[tuple[str, list[Any]]] = []
    later = datetime.now(UTC) + timedelta(seconds=rt.settings.sweep_stale_after + 60)
    sweep(rt, lambda name, args, fields: sent.append((name, list(args))), now=later)
    assert sent == [(PROCESS_ARTICLE, ["lost", job.source_sha256])]
    # `archiver show` says what the API says of it: queued, no version yet (not "nothing is stored")
    monkeypatch.setenv("ARCHIVER_HOME", rt.settings.home)
    capsys.readouterr()
    assert cli.main(["show", "lost"]) == 0
    assert "lost: queued, no version yet" in capsys.readouterr().out
    assert cli.main(["show", "lost", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "queued"
    assert cli.main(["show", "never-sent"]) == 2


def test_the_source_is_stored_once(local: tuple[Runtime, Intake], monkeypatch: pytest.MonkeyPatch) -> None:
    rt, intake = local
    puts: list[str] = []
    original = LocalStore.put

    def counting_put(self: LocalStore, key: str, data: bytes, **kw: Any) -> bool:
        puts.append(key)
        return original(self, key, data, **kw)

    monkeypatch.setattr(LocalStore, "put", counting_put)
    job = intake.submit("once", ArticleInput(b"<p>stored once</p>"))
    intake.wait_idle()
    assert puts.count(source_key("once", job.source_sha256)) == 1
    # A source whose plan is stored is neither written nor decoded again.
    prepare(rt, b"<p>stored once</p>", article_id="once")
    assert puts.count(source_key("once", job.source_sha256)) == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"charset": "no-such-charset"}, "unknown charset"),
    ({"format": "docx"}, "unknown format"),
    ({"url": "javascript:alert(1)"}, "not an absolute http"),
    ({"base_url": "news.example/story"}, "not an absolute http"),
    ({"url": "https://n.example/a\x00b"}, "not an absolute http"),      # a NUL: no catalog column takes it
    ({"base_url": "https://n.example/a\nSet-Cookie: x"}, "not an absolute http"),
    ({"url": "https://n.example/a\x7f"}, "not an absolute http"),
])
def test_article_input_is_validated(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ArticleInput(b"<p>x</p>", **fields)


def _messages(r: redis.Redis) -> list[tuple[dict[str, Any], list[Any], dict[str, Any]]]:
    out = []
    for raw in reversed(r.lrange("archiver", 0, -1)):  # LPUSHed: oldest last
        message = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"], args, kwargs))
    return out


@pytest.fixture
def broker(redis_url: str) -> Iterator[tuple[str, redis.Redis]]:
    url = private_redis_db(redis_url, 13)
    r = redis.Redis.from_url(url)
    r.flushdb()
    yield url, r
    r.flushdb()


def test_the_queued_message_carries_charset_and_format(tmp_settings: Callable[..., Settings],
                                                        broker: tuple[str, redis.Redis]) -> None:
    url, r = broker
    with Runtime.from_settings(tmp_settings(broker_url=url)) as rt, Intake(rt) as intake:
        job = intake.submit("q", ArticleInput(CP1251, url="https://news.example/q", charset="windows-1251",
                                              format="html", published_at="2025-07-15"), queue_only=True)
    [(headers, args, kwargs)] = _messages(r)
    assert headers["task"] == "archiver.process_article" and headers["lang"] == "py"
    assert headers["id"] == headers["root_id"] and headers["argsrepr"] == repr(args)
    assert args == ["q", job.source_sha256]
    assert kwargs == {"url": "https://news.example/q", "base_url": "https://news.example/q", "fmt": "html",
                      "charset": "windows-1251", "published_at": "2025-07-15"}


def test_retry_queue_sends_the_captures_or_a_finalize(tmp_settings: Callable[..., Settings],
                                                      broker: tuple[str, redis.Redis]) -> None:
    url, r = broker
    with Runtime.from_settings(tmp_settings(broker_url=url)) as rt, Intake(rt) as intake:
        archive(rt, b"<p>nothing to capture</p>", article_id="done")
        assert intake.retry("done") == 0
        sha = load_plan(rt, "done").source_sha256
    assert [(h["task"], a, k) for h, a, k in _messages(r)] == [
        ("archiver.finalize_article", ["done", sha, "retry"], {})]


def test_retry_queue_without_a_broker_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "ARCHIVER_HOME": str(tmp_path), "ARCHIVER_BROKER_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run([sys.executable, "-m", "archiver.cli", "retry", "some-article", "--queue"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "cannot reach the broker" in out.stderr
    assert out.stderr.count("\n") == 1
