"""`archiver demo` offline: its account shows what the manifest (schema v2) says of the sample post,
and the lines it prints for any manifest (v1 or v2, with cards, polls, edits and missing parts)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from archiver.capture.manifest import STATUS_WORDS
from archiver.catalog.query import SearchQuery
from archiver.cli.demo import manifest_lines, run_demo
from archiver.errors import InputError
from archiver.runtime import Runtime
from archiver.steps.prepare import load_plan


def test_the_demo_shows_the_status_text_counts_and_sizes(tmp_settings: Any) -> None:
    out = io.StringIO()
    assert run_demo(tmp_settings(), out=out) == 0
    text = out.getvalue()
    assert "twitter 1945048830047662087: archived" in text
    assert f"status: archived ({STATUS_WORDS['archived']})" in text
    assert "text is whole, from " in text
    assert re.search(r"counts: 1520 likes, 87 in the conversation \(read at \d{4}-\d\d-\d\dT[\d:.]+Z\)", text)
    assert "photo: image/jpeg 1200x800, stored at orig (the original)" in text
    assert "edits: not edited; chain 1945048830047662087" in text


def test_manifest_lines_for_version_2_parts_and_version_1() -> None:
    m = {"status": "partial", "text_complete": False, "text_source": "syndication",
         "texts": [{"source": "syndication", "text": "x", "complete": False}],
         "media": [{"type": "photo", "mime": "image/jpeg", "width": 4096, "height": 2304, "sha256": "ab" * 32,
                    "variant": "4096x4096", "degraded": True}],
         "edit": {"edit_ids": ["1", "2"], "is_edited": True, "is_stale": True},
         "card": {"name": "summary", "title": "Dune survey", "domain": "coast.example.org",
                  "expanded_url": "https://coast.example.org/s"},
         "poll": {"name": "poll2choice_text_only", "choices": [{"label": "Trains", "count": 412},
                                                               {"label": "Buses", "count": 198}],
                  "counts_are_final": False, "read_at": "2025-07-15T09:12:33.000Z"},
         "missing": [{"part": "photo", "reason": "HTTP 404"}]}
    lines = manifest_lines(m)
    assert lines[0].startswith("status: partial (archived in part): The post was archived in part: one photo")
    assert "text is a preview (no source gave the whole text), from syndication; 1 source(s) gave a text" in lines
    assert any("stored at 4096x4096, not the original" in line for line in lines)
    assert "edits: edited, the article shows an earlier version; chain 1, 2" in lines
    assert "link card: 'Dune survey' (coast.example.org) -> https://coast.example.org/s" in lines
    assert "poll: Trains 412, Buses 198 (counts at 2025-07-15T09:12:33.000Z)" in lines
    assert "missing: one photo is missing" in lines
    v1 = json.loads((Path(__file__).parent / "fixtures" / "manifests" / "twitter-tombstoned.json").read_text("utf-8"))
    v1_lines = manifest_lines(v1)
    assert v1_lines[0].startswith("status: tombstoned (not shown by the platform): The post is not shown")
    assert not any(line.startswith(("text is", "counts:", "link card", "poll:")) for line in v1_lines)


def test_the_demo_post_is_hindi_and_found_by_the_readme_search(tmp_settings: Any) -> None:
    """The README's search example (`archiver search "जयशंकर" --handle ANI`) finds the demo's post."""

    settings = tmp_settings()
    out = io.StringIO()
    assert run_demo(settings, as_json=True, out=out) == 0
    with Runtime.from_settings(settings) as rt:
        res = rt.catalog.search(SearchQuery.parse({"q": "जयशंकर", "handle": "ANI", "posted_since": "2025-07-01"}))
    assert [h["post_id"] for h in res.hits] == ["1945048830047662087"]
    assert "जयशंकर" in res.hits[0]["text"]


def test_the_demo_archives_an_article_of_ones_own(tmp_settings: Any, tmp_path: Path) -> None:
    """`archiver demo ARTICLE --tweets FILE`: the tweets given are archived from the fixture origin, the
    sample's tweet too, and one the origin does not know gets the platform's answer for a missing post
    (deleted), with a note; --base-url is the article's URL."""

    def quote(tid: str, handle: str) -> str:
        return (f'<blockquote class="twitter-tweet"><p>t</p>&mdash; {handle} '
                f'<a href="https://twitter.com/{handle}/status/{tid}">July 1, 2025</a></blockquote>\n')

    article = tmp_path / "mine.html"
    article.write_text("<h1>Mine</h1>\n" + quote("1234567890123456790", "known") + quote("1234567890123456789", "gone")
                       + quote("1945048830047662087", "ANI"), encoding="utf-8")
    tweets = tmp_path / "tweets.json"
    tweets.write_text(json.dumps([{"id": "1234567890123456790", "handle": "known", "name": "Known One",
                                   "text": "Known words", "lang": "en"}]), encoding="utf-8")
    settings = tmp_settings()
    out = io.StringIO()
    assert run_demo(settings, as_json=True, out=out, article_path=str(article), tweets_path=str(tweets),
                    base_url="https://news.example/mine", article_id="mine") == 0
    rep = json.loads(out.getvalue())
    statuses = {e["post_id"]: e["status"] for e in rep["embeds"]}
    assert statuses == {"1234567890123456790": "archived", "1234567890123456789": "deleted",
                        "1945048830047662087": "archived"}
    assert rep["unknown_posts"] == ["1234567890123456789"]
    with Runtime.from_settings(settings) as rt:
        assert load_plan(rt, "mine").url == "https://news.example/mine"
    text = io.StringIO()
    run_demo(settings, out=text, article_path=str(article), tweets_path=str(tweets), article_id="mine")
    assert text.getvalue().count("the fixture origin does not know this post") == 1


def test_a_bad_tweets_file_is_one_clear_error(tmp_settings: Any, tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    for content, says in (("{", "is not JSON"), ('{"id": 1}', "expected a JSON list"),
                          ("[1]", "entry 0 is not an object"), ('[{"id": "x", "handle": "a", "name": "a"}]', "entry 0"),
                          ("[" + ",".join(["{}"] * 1001) + "]", "at most 1000"),
                          ('[{"id": "1", "text": "t"}]', "entry 0 has no handle, name"),
                          ('[{"id": "1", "handle": "a", "name": "a", "txt": "t"}]', "unknown field.*txt"),
                          ('[{"id": "1", "handle": "a", "name": "a", "created_at": "yesterday"}]',
                           "created_at must be an ISO 8601 time"),
                          ('[{"id": "1", "handle": "a", "name": ["a"]}]', "name must be a string"),
                          ('[{"id": "1", "handle": "a", "name": "a", "photos": ["p.jpg"]}]', "photos must be objects")):
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match=says):
            run_demo(tmp_settings(), out=io.StringIO(), tweets_path=str(bad))
