"""The editor's flow in a real browser (Debian's chromium through Playwright, tests/browser_kit.py):
an embedded tweet and an image die at the fixture origin, the real health machinery declares them
dead, the editor finds the tweet in the link-health worklist, restores it, reads the result and the
inline card the new version holds, then reverts. axe-core runs on every page the flow visits (no
serious or critical violation); screenshots go to the test's tmp dir and $ARCHIVER_SCREENSHOTS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.health.originals import article_health
from archiver.runners.local import archive
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture, make_image
from archiver.web.app import create_app
from tests import browser_kit as kit
from tests import pages_corpus as pc

TWEET = "1945000000000000088"
TWEET_TEXT = "Jaishankar and Lavrov meet in Tianjin"


def story(origin: FixtureOrigin) -> bytes:
    return ("<html><head><meta charset=\"utf-8\"><title>Ministers meet in Tianjin | News</title>"
            '<meta property="article:published_time" content="2025-07-15T08:00:00Z"></head><body>\n'
            "<h1>Ministers meet in Tianjin</h1>\n<p>Lead paragraph.</p>\n"
            f'<p><img src="{origin.url("/media/meeting.jpg")}" alt="the meeting"></p>\n'
            f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">{TWEET_TEXT}</p>&mdash; ANI (@ANI) '
            f'<a href="https://twitter.com/ANI/status/{TWEET}">July 15, 2025</a></blockquote>\n'
            "<p>Closing paragraph.</p>\n</body></html>\n").encode()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pc.Corpus, FixtureOrigin]]:
    """The pages corpus plus the story, served, with the fixture origin kept running for health checks."""
    port = kit.free_port()
    with pc.origin() as origin:
        origin.add_tweet(TweetFixture(id=TWEET, handle="ANI", name="ANI", text=TWEET_TEXT))
        origin.add_image("/media/meeting.jpg", make_image("meeting", 640, 400))
        corpus = pc.build(tmp_path_factory.mktemp("editor"), origin, public_base_url=f"http://127.0.0.1:{port}/media",
                          health_dead_after_failures=1, health_dead_after_hours=0.0, fetch_retries=0,
                          display_timezone="Asia/Kolkata")
        archive(corpus.runtime, story(origin), article_id="story-meet", url="https://news.example/meet")
        try:
            with kit.serve(create_app(corpus.settings, runtime=corpus.runtime), port=port) as base:
                yield base, corpus, origin
        finally:
            corpus.runtime.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with kit.chromium(tmp_path_factory.mktemp("chromium-editor")) as context:
        yield context


def visit(page: Any, tmp_path: Path, name: str) -> None:
    """What every page of the flow gets: no horizontal overflow, axe-core, a screenshot."""
    page.wait_for_load_state()
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"{page.url} scrolls sideways by {overflow}px"
    kit.axe_check(page)
    kit.shot(page, name, tmp_path)


def test_editor_restores_a_dead_embed_from_the_worklist_then_reverts(
        site: tuple[str, pc.Corpus, FixtureOrigin], browser: Any, tmp_path: Path) -> None:
    base, corpus, origin = site
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    kit.login(page, base, corpus.tokens["editor"], "/articles")

    # The list of articles: the story by its headline, archived, never checked.
    assert page.get_by_role("link", name="Ministers meet in Tianjin | News").count() == 1
    row = page.locator("tr", has=page.get_by_role("link", name="Ministers meet in Tianjin | News"))
    assert "UNCHECKED 2" in row.inner_text().upper() and "13:30 IST" in row.inner_text()  # in the display zone
    visit(page, tmp_path, "e01-articles")

    # Link health before any check: listed, nothing dead.
    page.get_by_role("link", name="Link health").first.click()
    page.wait_for_load_state()
    assert "/health" in page.url and "No dead link." in page.inner_text("#worklist")
    assert page.locator('a[href="/articles/story-meet#health"]').count() == 1
    visit(page, tmp_path, "e02-health-unchecked")

    # The tweet is deleted and the image gone at the origin; the real checks declare them dead.
    origin.tweets[TWEET].state = "deleted"
    origin.set_behaviour("/media/meeting.jpg", "404", sticky=True)
    assert article_health(corpus.runtime, "story-meet", check_now=True)["summary"]["dead"] == 2

    page.reload()
    worklist = page.locator("#worklist")
    assert "Dead links (2)" in worklist.inner_text()
    embed_row = worklist.locator("tr", has_text="twitter")
    assert embed_row.count() == 1 and "deleted" in embed_row.inner_text().lower()
    visit(page, tmp_path, "e03-health-worklist")

    # From the worklist to the article: capture status and link health side by side.
    embed_row.get_by_role("link").first.click()
    page.wait_for_load_state()
    assert re.search(r"/articles/story-meet#health$", page.url)
    embeds = page.locator("table", has=page.get_by_role("columnheader", name="Post"))
    assert "ARCHIVED" in embeds.inner_text().upper() and "DEAD" in embeds.inner_text().upper()
    images = page.locator("section", has=page.get_by_role("heading", name="Images"))
    assert "HTTP 404" in images.inner_text()
    visit(page, tmp_path, "e04-article-dead")

    # Back to the worklist, and Restore there.
    page.go_back()
    page.wait_for_load_state()
    page.locator("#worklist tr", has_text="twitter").get_by_role("button", name="Restore", exact=True).click()
    page.wait_for_load_state()
    assert "/articles/story-meet?flash=" in page.url
    notice = page.locator("#result-text")
    assert notice.inner_text() == "Restored 1 embed: version 2 written."
    result = page.locator("#result")
    assert "archiver-card" in result.inner_text() and TWEET_TEXT in result.inner_text()  # the inline card, added
    visit(page, tmp_path, "e05-restored")
    kit.shot(result, "e06-restored-changes", tmp_path)
    # The card as readers will see it: rendered on the page, its author isolated, its photo-less text there.
    card = page.locator("#cards .card-preview blockquote.archiver-card")
    assert card.count() == 1 and TWEET_TEXT in card.inner_text() and card.locator("bdi").count() >= 1
    assert card.locator("script, iframe, [onerror], [onload], [style]").count() == 0
    card.scroll_into_view_if_needed()
    kit.shot(card, "e06b-card-preview", tmp_path)

    # The whole diff of version 2, and the version's own text with the card in the article's markup.
    page.get_by_role("link", name="What changed in version 2").click()
    visit(page, tmp_path, "e07-diff")
    assert page.locator("table.diff ins").count() >= 1
    version = page.request.get(f"{base}/articles/story-meet/versions/2")
    assert version.ok and 'class="archiver-card"' in version.text() and TWEET_TEXT in version.text()
    assert "twitter-tweet" not in version.text()

    # The worklist still lists the dead original, marked restored, with no button.
    page.goto(f"{base}/health")
    restored_row = page.locator("#worklist tr", has_text="twitter")
    assert "RESTORED" in restored_row.inner_text().upper() and restored_row.get_by_role("button").count() == 0
    visit(page, tmp_path, "e07b-health-restored")

    # Revert to version 1 from the article page.
    page.goto(f"{base}/articles/story-meet")
    page.get_by_role("button", name="Revert to v1").click()
    page.wait_for_load_state()
    assert page.locator("#result-text").inner_text() == "Reverted to version 1: version 3 written."
    assert page.locator("#cards").count() == 0  # reverted: no restored card left to preview
    visit(page, tmp_path, "e08-reverted")
    assert page.request.get(f"{base}/articles/story-meet/versions/3").text() == \
        page.request.get(f"{base}/articles/story-meet/versions/1").text()
    assert dialogs == []
