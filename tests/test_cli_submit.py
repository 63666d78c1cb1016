"""`archiver submit --wait --json` reports the article as `archiver archive --json` does (the items with
the statuses the workers stored), and `retry --queue --json` says what it queued: real Redis, a real
Celery worker and a fixture origin, the CLI in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from archiver.cli.demo import TWEET_ID, demo_tweet
from archiver.testing.fixture_origin import FixtureOrigin, make_image
from tests.harness.celery_worker import Worker, settings_env

ROOT = Path(__file__).resolve().parent.parent


def _cli(settings_env_: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archiver.cli", *args], env=settings_env_, capture_output=True,
                          text=True, timeout=180, cwd=ROOT)


def _shape(rep: dict[str, Any]) -> dict[str, Any]:
    """The keys of a report and of its items, and the items' statuses."""
    return {"keys": set(rep), "embed_keys": [set(e) for e in rep["embeds"]],
            "image_keys": [set(i) for i in rep["images"]],
            "statuses": sorted(x["status"] for x in rep["embeds"] + rep["images"])}


@pytest.mark.integration
def test_submit_json_reports_items_like_archive_json(tmp_settings: Any, redis_url: str, tmp_path: Path) -> None:
    with FixtureOrigin(tweets=[demo_tweet()]) as origin:
        photo = origin.add_image("/img/p.jpg", make_image("p", 400, 300))
        page = ('<p>story <img src="{}" alt="p"></p>\n<blockquote class="twitter-tweet"><p>x</p>&mdash; ANI '
                f'<a href="https://twitter.com/ANI/status/{TWEET_ID}">July 15, 2025</a></blockquote>\n')
        (tmp_path / "a.html").write_text(page.format(photo), encoding="utf-8")
        (tmp_path / "b.html").write_text(page.format(photo) + "<p>b</p>\n", encoding="utf-8")
        settings = tmp_settings(broker_url=redis_url, home=str(tmp_path / "home"), **origin.settings_overrides())
        env = settings_env(settings)
        local = _cli(env, "archive", str(tmp_path / "a.html"), "--article-id", "local", "--json")
        assert local.returncode == 0, local.stderr
        with Worker(env, tmp_path / "worker.log", concurrency=2):
            out = _cli(env, "submit", str(tmp_path / "b.html"), "--article-id", "queued",
                       "--base-url", "https://news.example/b", "--wait", "120", "--json")
            assert out.returncode == 0, out.stderr + (tmp_path / "worker.log").read_text()[-3000:]
            queued = json.loads(out.stdout)
            retry = _cli(env, "retry", "queued", "--queue", "--json")
            assert retry.returncode == 0, retry.stderr
            assert json.loads(retry.stdout) == {"article_id": "queued", "queued": 0}
    archived = json.loads(local.stdout)
    assert {"article_id", "source_sha256", "job_id", "queued"} <= set(queued)
    assert queued["queued"] is True and queued["version"] == 1 and queued["new_version"] is True
    mine, theirs = _shape(queued), _shape(archived)
    assert theirs["keys"] <= mine["keys"]
    assert mine["embed_keys"] == theirs["embed_keys"] and mine["image_keys"] == theirs["image_keys"]
    assert mine["statuses"] == theirs["statuses"] == ["archived", "archived"]
    assert Path(queued["rewritten"]).is_file()
