"""The pages in a real headless browser: Debian's chromium driven by Playwright (executable_path,
no downloaded browser), against `archiver serve`'s app under uvicorn on a loopback port.

Logs in through the form, runs a Hindi query, opens the post and the article pages, checks what
the browser laid out (right-to-left and Devanagari text, thumbnails that loaded, no script run)
and saves screenshots in the test's tmp dir (copied to $ARCHIVER_SCREENSHOTS when set).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import browser_kit as kit
from tests import pages_corpus as pc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pc.Corpus]]:
    with kit.corpus_server(tmp_path_factory.mktemp("browser")) as served:
        yield served


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with kit.chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def shot(target: Any, tmp_path: Path, name: str, **kwargs: Any) -> Path:
    """Screenshot into the test's tmp dir and $ARCHIVER_SCREENSHOTS (browser_kit.shot)."""
    return kit.shot(target, name, tmp_path, **kwargs)


def text_direction(page: Any, selector: str) -> str:
    return page.eval_on_selector(selector, "el => getComputedStyle(el).direction")


def images_loaded(scope: Any, selector: str, wait: float = 5.0) -> list[bool]:
    """Whether each image matched in `scope` (a page or a frame) decoded, waiting for slow ones."""
    deadline = time.monotonic() + wait
    while True:
        loaded = scope.locator(selector).evaluate_all("els => els.map(e => e.complete && e.naturalWidth > 0)")
        if all(loaded) or time.monotonic() > deadline:
            return loaded
        time.sleep(0.1)


def test_login_hindi_search_post_and_article_pages(server: tuple[str, pc.Corpus], browser: Any,
                                                   tmp_path: Path) -> None:
    base, corpus = server
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # Not logged in: the login form, then back to the page asked for.
    page.goto(f"{base}/search?q=%E0%A4%9C%E0%A4%AF%E0%A4%B6%E0%A4%82%E0%A4%95%E0%A4%B0")  # जयशंकर
    assert "/login" in page.url
    shot(page, tmp_path, full_page=True, name="01-login")
    kit.axe_check(page)
    page.fill("#token", corpus.tokens["compliance"])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/search" in page.url

    # The Hindi query typed into the form.
    page.fill("#q", "जयशंकर")
    page.click(".query button[type=submit]")
    page.wait_for_load_state()
    assert page.inner_text("#summary").startswith("1 post")
    card = page.locator(".results .card").first
    assert "रूसी विदेश मंत्री लावरोव" in card.locator(".post-text").inner_text()
    assert card.locator(".post-text").get_attribute("lang") == "hi"
    assert all(images_loaded(page, ".results img.thumb")) and images_loaded(page, ".results img.thumb")
    shot(page, tmp_path, full_page=True, name="02-search-hindi")
    kit.axe_check(page)

    # Arabic lays out right to left; the hostile post's markup is text, nothing runs.
    page.goto(f"{base}/search?handle=AlJazeera")
    assert text_direction(page, ".results .post-text") == "rtl"
    assert pc.ARABIC_TEXT in page.inner_text(".results .post-text")
    shot(page, tmp_path, full_page=True, name="03-search-arabic")
    kit.axe_check(page)
    page.goto(f"{base}/search?handle=evil_handle")
    assert '<script>alert("pwned")</script>' in page.inner_text(".results .post-text")
    assert page.locator(".results .post-text script, .results .post-text img").count() == 0

    # The post page: both captures, the edit marked, provenance and hashes.
    page.goto(f"{base}/search?q=%E0%A4%9C%E0%A4%AF%E0%A4%B6%E0%A4%82%E0%A4%95%E0%A4%B0")
    page.click(".results .card a.button")
    page.wait_for_load_state()
    assert f"/posts/twitter/{pc.HINDI_ID}" in page.url
    assert page.locator("section.capture").count() == 2
    assert "रूसी" in page.inner_text(".changes ins")
    assert page.locator("table.sources tbody tr").count() >= 2
    shot(page, tmp_path, full_page=True, name="04-post")
    kit.axe_check(page)
    if page.locator("iframe.card-frame").count():  # the static card, rendered in its sandbox
        assert "@ANI" in page.frame_locator("iframe.card-frame").first.locator("body").inner_text()
        frame = page.locator("iframe.card-frame").first
        frame.scroll_into_view_if_needed()  # out-of-process frames paint only in the viewport
        assert all(images_loaded(page.frame_locator("iframe.card-frame").first, "img"))
        shot(frame, tmp_path, "06-card")

    # The article page: versions, embeds and images with their state.
    page.click("a[href='/articles/story-hi']")
    page.wait_for_load_state()
    assert page.url.endswith("/articles/story-hi")
    assert page.locator("a[href='/articles/story-hi/versions/1']").count() == 1
    assert page.locator("td .status-archived").count() >= 4
    assert all(images_loaded(page, "img.thumb"))
    shot(page, tmp_path, full_page=True, name="05-article")
    kit.axe_check(page)

    assert dialogs == []
    page.close()


def test_log_out_button_and_forms_from_another_site(server: tuple[str, pc.Corpus], browser: Any) -> None:
    """The "Log out" button posts the form (with its CSRF token) and ends the session; a page of another
    site that posts a form here (login CSRF) is refused, and a signed-in user's cookie is not sent with it."""
    base, corpus = server
    page = browser.new_page()
    page.goto(f"{base}/login?next=/search")
    page.fill("#token", corpus.tokens["editor"])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/search")

    evil = ("<!DOCTYPE html><form id=f method=post action='{action}'>"
            "<input name=token value='{token}'><input name=next value='/'></form>"
            "<script>document.getElementById('f').submit()</script>")
    page.route("http://evil.example/**", lambda route: route.fulfill(
        status=200, content_type="text/html",
        body=evil.format(action=f"{base}/articles/story-hi/restore", token="")))
    with page.expect_response(f"{base}/articles/story-hi/restore") as restored:
        page.goto("http://evil.example/restore")
    assert restored.value.status in (401, 403)
    page.unroute("http://evil.example/**")
    page.route("http://evil.example/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body=evil.format(action=f"{base}/login", token=corpus.tokens["admin"])))
    with page.expect_response(f"{base}/login") as login:
        page.goto("http://evil.example/login")
    assert login.value.status == 403
    page.unroute("http://evil.example/**")

    page.goto(f"{base}/search")
    assert page.url.endswith("/search")  # still signed in as the editor
    page.click("form.who button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/login")
    page.goto(f"{base}/search")
    assert "/login" in page.url
    page.close()
