"""The editor's pages through FastAPI's TestClient on a real archive (both catalog backends): the list
of articles with headlines read from the markup, the article page (URL, capture status and link health
side by side with their history, versions, diffs), Restore and Revert from the page with their result
sentences, the link-health overview and dead worklist (never-checked articles included, the JSON API
agreeing), roles, and hostile headlines."""

from __future__ import annotations

import html
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from archiver.article.metadata import MAX_HEADLINE, article_metadata
from archiver.health.originals import article_health
from archiver.runners.local import archive
from archiver.runners.reindex import reindex
from archiver.steps.prepare import load_plan
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from archiver.web.app import create_app
from archiver.web.routes import articles
from tests import pages_corpus as pc
from tests.harness.services import fresh_pg_dsn

FLOW_TWEET = "1945000000000000077"
RLO = "\u202e"
HOSTILE_TITLE = f'<script>alert("t1")</script> Evil {RLO}txt.exe & "quoted"'
# og:title wins over <title>, and its entities are decoded once.
HOSTILE_ARTICLE = (
    "<html><head><meta charset=\"utf-8\">"
    f"<meta property=\"og:title\" content=\"{html.escape(HOSTILE_TITLE)}\">"
    "<title>the title tag loses</title>"
    '<meta property="article:published_time" content="2025-07-15T09:30:00+05:30"></head>'
    "<body><h1>heading</h1><p>No embeds here.</p></body></html>\n").encode()
HUGE_TITLE_ARTICLE = ("<html><head><title>" + "दीर्घ शीर्षक " * 9000 + "</title></head><body>x</body></html>").encode()


@dataclass
class Env:
    corpus: pc.Corpus
    origin: FixtureOrigin
    app: Any

    def client(self, role: str | None) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        if role:
            r = client.post("/login", data={"token": self.corpus.tokens[role], "next": "/"})
            assert r.status_code == 303, r.text
        return client


def flow_article(img: str) -> bytes:
    return ("<html><head><meta charset=\"utf-8\"><title>Flow story | News</title>"
            '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2025-07-20T08:00:00Z"}'
            "</script></head><body>\n"
            f'<p>Lead</p>\n<p><img src="{img}" alt="flow"></p>\n'
            f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Flow tweet</p>&mdash; ANI (@ANI) '
            f'<a href="https://twitter.com/ANI/status/{FLOW_TWEET}">July 20, 2025</a></blockquote>\n'
            "</body></html>\n").encode()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    overrides: dict[str, Any] = {"health_dead_after_failures": 1, "health_dead_after_hours": 0.0, "fetch_retries": 0}
    if request.param == "postgres":
        overrides["catalog"] = fresh_pg_dsn(request.getfixturevalue("postgres_dsn"))
    with pc.origin() as origin:
        origin.add_tweet(TweetFixture(id=FLOW_TWEET, handle="ANI", name="ANI", text="Flow tweet"))
        origin.add_image("/media/flow.jpg", make_image("flow", 320, 200))
        corpus = pc.build(tmp_path_factory.mktemp("articles"), origin, **overrides)
        rt = corpus.runtime
        archive(rt, HOSTILE_ARTICLE, article_id="story-evil", url="https://news.example/evil")
        archive(rt, HUGE_TITLE_ARTICLE, article_id="story-huge", url="https://news.example/huge")
        archive(rt, flow_article(origin.url("/media/flow.jpg")), article_id="story-flow", url="https://news.example/flow")
        yield Env(corpus, origin, create_app(corpus.settings, runtime=rt))
    corpus.runtime.close()


def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, "no CSRF field on the page"
    return m.group(1)


def text_of(page: str) -> str:
    """The page's words, tags dropped and entities decoded (for sentences split by markup)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# --- metadata (no I/O) ---------------------------------------------------------------------------------
def test_headline_order_entities_and_published_time() -> None:
    m = article_metadata(HOSTILE_ARTICLE.decode(), "auto")
    assert m.headline == '<script>alert("t1")</script> Evil txt.exe & "quoted"'  # RLO removed, entity decoded
    assert m.published_at == "2025-07-15T04:00:00Z"
    only_title = article_metadata("<html><head><title> A\n  title </title></head><body><h1>H</h1></body></html>")
    assert only_title.headline == "A title"
    only_h1 = article_metadata('<p>x</p><h1>Head <b>line</b></h1><time datetime="2024-02-03">3 Feb</time>', "auto")
    assert only_h1 == type(only_h1)("Head line", "2024-02-03T00:00:00Z")
    ld = article_metadata(flow_article("http://img.example/a.jpg").decode())
    assert ld.headline == "Flow story | News" and ld.published_at == "2025-07-20T08:00:00Z"
    assert article_metadata("# Markdown *title*\n\ntext", "auto").headline == "Markdown *title*"
    assert article_metadata("\n\nPlain first line\nsecond", "text").headline == "Plain first line"
    assert article_metadata('<time datetime="not a time">x</time><h1>t</h1>').published_at is None
    huge = article_metadata(HUGE_TITLE_ARTICLE.decode())
    assert huge.headline is not None and len(huge.headline) <= MAX_HEADLINE and huge.headline.endswith("क…")
    assert article_metadata("<title>" + "x" * 5_000_000).headline is not None  # bounded, no error


# --- the list of articles ------------------------------------------------------------------------------
def test_articles_list_shows_headlines_urls_times_and_counts_newest_first(env: Env) -> None:
    page = env.client("compliance").get("/articles")
    assert page.status_code == 200
    text = page.text
    order = list(dict.fromkeys(m for m in re.findall(r'href="/articles/([^"#?/]+)"', text) if m.startswith("story-")))
    assert set(order) == {"story-flow", "story-huge", "story-evil", "story-ar", "story-hi"}
    archived_at = [env.corpus.runtime.catalog.article(a)["created_at"] for a in order]
    assert archived_at == sorted(archived_at, reverse=True)  # newest first (ties: by id)
    assert "तियानजिन में जयशंकर-लावरोव वार्ता" in text and "لقاء في تيانجين" in text  # the <h1>s
    assert "https://news.example/hi" in text
    # published time from og metadata, through the 'when' filter, never a raw ISO string in the text
    assert '<time class="when" datetime="2025-07-15T04:00:00Z"' in text
    assert "2025-07-15T04:00:00Z</" not in text
    row = text.split('href="/articles/story-hi"', 1)[1].split("</tr>", 1)[0]
    assert row.count('class="badge status-archived"') == 2  # 2 embeds archived, 2 images archived: two cells
    assert "status-unchecked" in row and ">unchecked</span> 4" in row  # never checked: unchecked, counted
    assert "5 articles" in text


def test_articles_list_filters_and_pages(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    client = env.client("editor")
    assert "story-flow" not in client.get("/articles?state=queued").text
    archived = client.get("/articles?state=archived").text  # an item captured as archived
    assert 'href="/articles/story-hi"' in archived and 'href="/articles/story-evil"' not in archived
    assert client.get("/articles?state=%3Cscript%3E").status_code == 400
    monkeypatch.setattr(articles, "LIST_PAGE", 2)
    first = client.get("/articles").text
    assert 'href="/articles?page=2"' in first and "page 1 of 3" in first
    seen = []
    for n in (1, 2, 3):
        page = client.get(f"/articles?page={n}").text
        listed = re.findall(r'<td class="headline-cell"><a href="/articles/([^"]+)"', page)
        assert len(listed) == (2 if n < 3 else 1)
        seen += listed
    assert sorted(seen) == ["story-ar", "story-evil", "story-flow", "story-hi", "story-huge"]  # each once


def test_hostile_headlines_are_escaped_isolated_and_bounded(env: Env) -> None:
    client = env.client("editor")
    for path in ("/articles", "/articles/story-evil", "/articles/story-evil/versions/1/diff"):
        page = client.get(path).text
        assert '<script>alert("t1")' not in page and RLO not in page, path
    article = client.get("/articles/story-evil").text
    assert "&lt;script&gt;alert(&#34;t1&#34;)&lt;/script&gt; Evil txt.exe &amp; &#34;quoted&#34;" in article
    assert '<h1 class="headline"><bdi>' in article
    huge = client.get("/articles/story-huge").text
    assert len(huge) < 60_000 and "दीर्घ शीर्षक" in huge


def test_reindex_rebuilds_headline_and_published_time_from_storage(env: Env) -> None:
    rt = env.corpus.runtime
    rt.catalog.execute("UPDATE articles SET headline = NULL, published_at = NULL")
    reindex(rt)
    row = rt.catalog.article("story-evil")
    assert row is not None and row["headline"].startswith("<script>") and row["published_at"] == "2025-07-15T04:00:00Z"
    assert rt.catalog.article("story-hi")["headline"] == "तियानजिन में जयशंकर-लावरोव वार्ता"


# --- the article page ------------------------------------------------------------------------------------
def test_article_page_shows_url_headline_health_and_versions(env: Env) -> None:
    page = env.client("compliance").get("/articles/story-hi").text
    assert '<a href="https://news.example/hi" rel="noreferrer noopener nofollow">' in page
    assert "URL</dt><dd class=\"url\" dir=\"ltr\">—" not in page
    assert 'href="/articles/story-hi/versions/1/diff"' in page and "diff with the source" in page
    assert "archived</td>" in page  # the version's reason in words
    assert page.count("not checked yet") == 4


def test_an_article_received_but_not_read_yet_says_so(env: Env) -> None:
    """The publish hook accepted it (the API says "queued"): its page says it is not processed yet,
    not "no such article"; an id nobody sent stays 404."""
    env.corpus.runtime.catalog.record_article(article_id="story-queued", url="https://news.example/q",
                                              source_sha256="ab" * 32, encoding="", status="queued",
                                              created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
    r = env.client("editor").get("/articles/story-queued")
    assert r.status_code == 200 and "not processed yet" in text_of(r.text) and "queued" in text_of(r.text)
    assert env.client("editor").get("/articles/story-nobody-sent").status_code == 404


def test_base_url_is_the_articles_url_when_no_url_is_given(env: Env) -> None:
    rt = env.corpus.runtime
    archive(rt, b"<html><body><h1>Based</h1></body></html>", article_id="story-base",
            base_url="https://news.example/based/")
    page = env.client("editor").get("/articles/story-base").text
    assert '<a href="https://news.example/based/" rel="noreferrer noopener nofollow">' in page
    assert "URL</dt><dd class=\"url\" dir=\"ltr\">—" not in page


def test_diff_page_is_escaped_and_bounded(env: Env) -> None:
    client = env.client("compliance")
    r = client.get("/articles/story-hi/versions/1/diff")
    assert r.status_code == 200
    assert "Version 1 against the source as received" in r.text
    assert "<del>" in r.text and "<ins>" in r.text and "https://archive.example/media/blobs/sha256/" in r.text
    assert "%22%3E%3Cscript%3Ealert(6)" in r.text and "<script>alert" not in r.text
    assert client.get("/articles/story-hi/versions/9/diff").status_code == 404
    assert client.get("/articles/..%2Fx/versions/1/diff").status_code == 404
    rt = env.corpus.runtime
    big = ("<html><body>\n" + "<p>line of an enormous article</p>\n" * 120_000 + "</body></html>\n").encode()
    archive(rt, big, article_id="story-big", url="https://news.example/big")
    big_page = client.get("/articles/story-big/versions/1/diff")
    assert big_page.status_code == 200 and len(big_page.text) < 2_000_000


# --- restore and revert from the page, link health ---------------------------------------------------------
def test_editor_restores_from_the_worklist_and_reverts(env: Env) -> None:
    rt, origin = env.corpus.runtime, env.origin
    editor = env.client("editor")
    # Archived, never checked: on the health page already, every item unchecked.
    health = editor.get("/health").text
    assert 'href="/articles/story-flow#health"' in health and "No dead link." in health
    # The originals die at the origin; the real health machinery declares them dead.
    origin.tweets[FLOW_TWEET].state = "deleted"
    origin.set_behaviour("/media/flow.jpg", "404", sticky=True)
    report = article_health(rt, "story-flow", check_now=True)
    assert report["summary"]["dead"] == 2
    health = editor.get("/health").text
    worklist = health.split('id="worklist"', 1)[1].split("</section>", 1)[0]
    assert worklist.count('href="/articles/story-flow#health"') == 2 and "HTTP 404" in worklist
    assert 'action="/articles/story-flow/restore"' in worklist and "Flow story | News" in worklist
    # The image was pointed at its stable copy when archived: dead at its origin, covered, no button.
    # The tweet: its Restore button, "Restore everywhere" (the post in every article) and "Restore all".
    assert worklist.count("<button") == 3 and 'status-restored">covered' in worklist
    assert worklist.count(">Restore</button>") == 1 and "Restore everywhere" in worklist
    assert "Restore all 1" in worklist
    assert "1 needs a restore" in worklist
    # The JSON API counts what the page counts.
    api = editor.get("/v1/health").json()
    totals = api["totals"]
    for state in ("dead", "suspect", "live", "unchecked"):
        assert re.search(rf">{state}</span> <strong>{totals[state]}</strong>", health), state
    assert totals["dead"] == 2 and totals["articles"] >= 6
    assert {r["article_id"] for r in api["articles"]} >= {"story-flow", "story-hi", "story-ar"}
    flow = next(r for r in api["articles"] if r["article_id"] == "story-flow")
    assert flow["dead"] == 2 and api["articles"][0]["article_id"] == "story-flow"  # most dead first
    assert flow["needs_restore"] == 1 and totals["needs_restore"] == 1  # the image is covered
    dead_only = editor.get("/v1/health?state=dead").json()
    assert [r["article_id"] for r in dead_only["articles"]] == ["story-flow"]

    # The article page: capture status and link health side by side, with the check history.
    page = editor.get("/articles/story-flow").text
    image_row = page.split('id="images-h"', 1)[1].split("</tr>", 2)[1]
    assert 'status-archived">archived' in image_row and 'status-dead">dead' in image_row
    assert "HTTP 404" in image_row and "1 check</summary>" in image_row
    assert 'status-restored">covered' in image_row and "Restore this image" not in image_row
    # The image's row: archiving already pointed it at its stable copy, so restoring it writes nothing.
    csrf = csrf_of(page)
    image_id = next(i.item_id for i in load_plan(rt, "story-flow").items if i.kind == "image")
    r = editor.post("/articles/story-flow/restore", data={"csrf": csrf, "item": image_id})
    assert r.status_code == 303 and re.fullmatch(r"/articles/story-flow\?flash=[\w-]+#result", r.headers["location"])
    assert ("Nothing to restore: 1 item already uses the archived copy in version 1."
            in text_of(editor.get(r.headers["location"]).text))
    # Every dead item: the embed becomes its card, in version 2, and the page shows what changed.
    r = editor.post("/articles/story-flow/restore", data={"csrf": csrf})
    after = editor.get(r.headers["location"]).text
    assert "Restored 1 embed: version 2 written." in text_of(after)
    assert 'href="/articles/story-flow/versions/2/diff"' in after and "<ins>" in after  # what changed, inline
    assert "<del>" in after.split('id="result"', 1)[1].split("</section>", 1)[0]
    # Restored: the item says so, its button and the page's "Restore every dead item" are gone, and the
    # worklist marks it (the original is still dead).
    page = editor.get("/articles/story-flow").text
    embed_row = page.split('id="embeds-h"', 1)[1].split("</tr>", 2)[1]
    assert 'status-restored">restored' in embed_row and "Restore this embed" not in embed_row
    assert "Restore every dead item" not in page  # the image is dead but covered since archiving
    worklist = editor.get("/health").text.split('id="worklist"', 1)[1].split("</section>", 1)[0]
    assert worklist.count('status-restored">restored') == 1 and worklist.count("<button") == 0
    assert "0 need a restore" in worklist and editor.get("/v1/health").json()["totals"]["needs_restore"] == 0
    r = editor.post("/articles/story-flow/restore", data={"csrf": csrf})
    assert "Nothing to restore: 2 items already use the archived copy in version 2." in text_of(
        editor.get(r.headers["location"]).text)
    # Revert to the first version, then again: the second time nothing is written.
    r = editor.post("/articles/story-flow/revert", data={"csrf": csrf, "version": "1"})
    assert r.status_code == 303
    assert "Reverted to version 1: version 3 written." in text_of(editor.get(r.headers["location"]).text)
    r = editor.post("/articles/story-flow/revert", data={"csrf": csrf, "version": "1"})
    assert "Version 1 already current: nothing written." in text_of(editor.get(r.headers["location"]).text)
    embed_row = editor.get("/articles/story-flow").text.split('id="embeds-h"', 1)[1].split("</tr>", 2)[1]
    assert "status-restored" not in embed_row and "Restore this embed" in embed_row  # reverted: dead again
    assert editor.post("/articles/story-flow/revert", data={"csrf": csrf, "version": "99"}).status_code == 404
    assert editor.post("/articles/story-flow/restore", data={"csrf": csrf, "item": "nope"}).status_code == 404
    versions_table = editor.get("/articles/story-flow").text.split('id="versions-h"', 1)[1]
    assert "reverted to v1</td>" in versions_table and "restored dead items</td>" in versions_table
    assert versions_table.count("Revert to v") == 2  # every version but the current one


def test_outcome_sentences_never_come_from_the_address(env: Env) -> None:
    client = env.client("editor")
    assert "Restored" not in client.get("/articles/story-hi?done=restore&v=42&new=1&embeds=9").text
    assert "Reverted" not in client.get("/articles/story-hi?done=revert&to=7&v=1&new=1").text
    assert "Restored" not in client.get("/articles/story-hi?done=restore&v=<b>&new=1").text
    assert "Version 1 already current" not in client.get("/articles/story-hi?done=revert&to=1&v=1&new=0").text


def test_compliance_sees_no_buttons_and_may_not_press_them(env: Env) -> None:
    compliance = env.client("compliance")
    for path in ("/articles/story-flow", "/articles/story-hi", "/health", "/articles"):
        page = compliance.get(path)
        assert page.status_code == 200, path
        assert "/restore" not in page.text and "/revert" not in page.text, path
        assert "Restore" not in page.text and "Revert" not in page.text, path
    csrf = csrf_of(compliance.get("/articles/story-flow").text)
    assert compliance.post("/articles/story-flow/restore", data={"csrf": csrf}).status_code == 403
    assert compliance.post("/articles/story-flow/revert", data={"csrf": csrf, "version": "1"}).status_code == 403
    assert env.client("editor").post("/articles/story-flow/restore").status_code == 403  # no CSRF token
    anonymous = env.client(None)
    assert anonymous.get("/articles").status_code == 303 and anonymous.get("/health").status_code == 303
    publisher = {"Authorization": f"Bearer {env.corpus.tokens['publisher']}"}
    assert env.client(None).get("/articles", headers=publisher).status_code == 403


def test_line_diff_marks_words_shows_hidden_characters_and_stays_bounded() -> None:
    diff = articles.line_diff("<p>Old words here</p>\n<p>same</p>\n", f"<p>New words here{RLO}</p>\n<p>same</p>\n")
    (hunk,) = diff["hunks"]
    before, after = (r for r in hunk if r["op"] != "equal")
    assert ("delete", "<p>Old") in before["runs"] and ("insert", "<p>New") in after["runs"]
    assert any("⟨U+202E⟩" in text for _, text in after["runs"]) and all(RLO not in t for _, t in after["runs"])
    one_line = "<div>" + "<span>word</span> " * 50_000 + "</div>"  # a minified article: one long line
    assert len(articles.diff_lines(one_line)) > 100 and max(map(len, articles.diff_lines(one_line))) <= 240
    # Repetitive markup that makes word and line matching quadratic stays within the bounds.
    rng = random.Random(7)

    def words(n: int) -> str:
        return " ".join(rng.choice(["a", "b", "<p>", "</p>", "x y"]) for _ in range(n))

    old = "\n".join(words(100) + ("\n" + "same " * 10) * 3 for _ in range(300))
    new = "\n".join(words(100) + ("\n" + "same " * 10) * 3 for _ in range(300))
    started = time.monotonic()
    big = articles.line_diff(old, new)
    assert time.monotonic() - started < 5
    assert sum(len(h) for h in big["hunks"]) <= articles.MAX_ROWS
