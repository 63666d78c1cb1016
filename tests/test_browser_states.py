"""Every page in a narrow phone viewport and in its error states, in Debian's chromium (Playwright,
tests/browser_kit.py): at 375 px no page scrolls sideways (tables scroll in their own box, long URLs
and hashes wrap), and axe-core finds no serious or critical violation on error states too (a search
that does not parse, an unknown filter, form errors on the post page, the styled error pages), not
only on the happy paths. Screenshots go to the test's tmp dir and $ARCHIVER_SCREENSHOTS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import browser_kit as kit
from tests import pages_corpus as pc

PAGES = ("/search", "/search?q=%E0%A4%9C%E0%A4%AF%E0%A4%B6%E0%A4%82%E0%A4%95%E0%A4%B0", "/search?handle=evil_handle",
         "/articles", "/articles/story-hi", "/articles/story-ar", "/articles/story-hi/versions/1/diff", "/health",
         "/holds", "/exports", f"/posts/twitter/{pc.HINDI_ID}", f"/posts/twitter/{pc.FORGED_ID}",
         f"/posts/twitter/{pc.ARABIC_ID}")
ERRORS = ('/search?q=%22unbalanced', "/exports?q=%22", "/search?status=bogus", "/search?provider=bogus",
          "/exports?status=bogus",
          "/articles?state=bogus", "/health?state=bogus", "/holds?show=bogus", "/no/such/page",
          "/posts/twitter/999", "/search?page=0", "/articles/story-hi/versions/99/diff")
OVERFLOW = """() => {
  const w = window.innerWidth, wide = document.scrollingElement.scrollWidth;
  const culprits = [...document.querySelectorAll('body *')].filter(e => {
      const r = e.getBoundingClientRect(); return r.right > w + 1 && !e.closest('.table-wrap, .table-wrap *');
  }).slice(0, 6).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' +
                          Math.round(e.getBoundingClientRect().right));
  return {w, wide, culprits};
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pc.Corpus]]:
    with kit.corpus_server(tmp_path_factory.mktemp("states")) as (base, corpus):
        yield base, corpus


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with kit.chromium(tmp_path_factory.mktemp("chromium-phone"), viewport={"width": 375, "height": 800}) as context:
        yield context


def name_of(path: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in path.strip("/"))[:60] or "root"


def test_no_page_scrolls_sideways_at_375px(served: tuple[str, pc.Corpus], phone: Any, tmp_path: Path) -> None:
    base, corpus = served
    page = phone.new_page()
    kit.login(page, base, corpus.tokens["admin"], "/search")
    wide = []
    for path in (*PAGES, *ERRORS):
        page.goto(base + path)
        page.wait_for_load_state()
        found = page.evaluate(OVERFLOW)
        if found["wide"] > found["w"]:
            wide.append(f"{path}: {found['wide'] - found['w']}px wider, {found['culprits']}")
        kit.shot(page, "m-" + name_of(path), tmp_path)
    page.close()
    assert wide == [], "\n".join(wide)


def test_axe_finds_nothing_serious_on_error_states(served: tuple[str, pc.Corpus], phone: Any,
                                                   tmp_path: Path) -> None:
    base, corpus = served
    page = phone.new_page()
    kit.login(page, base, corpus.tokens["admin"], "/search")
    problems = []
    for path in ERRORS:
        page.goto(base + path)
        page.wait_for_load_state()
        assert page.locator(".error, .error-line").count() >= 1, path  # an error state indeed
        try:
            kit.axe_check(page)
        except AssertionError as exc:
            problems.append(str(exc))
    # Form errors on the post page: a reason of spaces is refused with the error under the form.
    for form in ("hold", "takedown"):
        page.goto(f"{base}/posts/twitter/{pc.ARABIC_ID}")
        page.fill(f"#{form}-reason", "   ")
        page.click(f"#{form}-reason ~ button[type=submit]")
        page.wait_for_load_state()
        assert page.locator(f"#{form}-error").count() == 1, page.url
        kit.shot(page, f"post-{form}-error", tmp_path)
        try:
            kit.axe_check(page)
        except AssertionError as exc:
            problems.append(str(exc))
    # A refused sign-in: the form again with its error.
    page.goto(f"{base}/login?next=/search")
    page.fill("#token", "arc_not-a-token")
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error").count() == 1
    try:
        kit.axe_check(page)
    except AssertionError as exc:
        problems.append(str(exc))
    # The export search that finds nothing.
    page.goto(f"{base}/exports")
    page.fill("#export-q", "zzzznothingzzzz")
    page.click(".export-search button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error").count() >= 1
    try:
        kit.axe_check(page)
    except AssertionError as exc:
        problems.append(str(exc))
    page.close()
    assert problems == [], "\n".join(problems)
