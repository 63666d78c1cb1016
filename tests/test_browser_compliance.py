"""A compliance officer's day in a real browser (Debian's chromium through Playwright, tests/browser_kit.py):
sign in, search in Hindi, open the post, place a legal hold (the notice and the held state), download
its evidence bundle through the page and check it with the project's own verifier, find it on the
holds page; axe-core on every page visited (login, search, post, holds, exports, articles, link
health, an error page): no serious or critical violations. Screenshots are kept for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.compliance.evidence import verify_bundle
from archiver.compliance.signing import PublicKeyInfo, create_key, key_path
from tests import browser_kit as kit
from tests import pages_corpus as pc

HINDI_QUERY = "जयशंकर"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, pc.Corpus, PublicKeyInfo]]:
    with kit.corpus_server(tmp_path_factory.mktemp("compliance-browser"),
                           display_timezone="Asia/Kolkata") as (base, corpus):
        key = create_key(key_path(corpus.settings.home_path))
        yield base, corpus, key


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with kit.chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def test_a_compliance_officer_holds_and_exports_a_hindi_post(served: tuple[str, pc.Corpus, PublicKeyInfo],
                                                           browser: Any, tmp_path: Path) -> None:
    base, corpus, key = served
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # Signed out: the login form (checked too), then the search page.
    page.goto(f"{base}/search")
    assert "/login" in page.url
    kit.axe_check(page)
    kit.shot(page, "c01-login", tmp_path)
    kit.login(page, base, corpus.tokens["compliance"])
    assert page.url.endswith("/search")
    nav = page.locator("header nav a")
    assert nav.all_inner_texts() == ["Search", "Articles", "Link health", "Holds and takedowns", "Exports"]
    assert page.locator("header nav a[aria-current=page]").inner_text() == "Search"

    # A Hindi search through the form.
    page.fill("#q", HINDI_QUERY)
    page.click(".query button[type=submit]")
    page.wait_for_load_state()
    assert page.inner_text("#summary").startswith("1 post")
    card = page.locator(".results .card").first
    assert card.locator(".post-text").get_attribute("lang") == "hi"
    posted = card.locator("dd time.when").first
    assert posted.get_attribute("datetime").endswith("Z") and posted.inner_text().endswith("IST")
    assert posted.evaluate("el => el.getClientRects().length") == 1  # one line, never broken
    kit.axe_check(page)
    kit.shot(page, "c02-search-hindi", tmp_path)

    # The post, then a legal hold: an empty reason is refused by the form itself (required).
    card.locator("a.button").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/posts/twitter/{pc.HINDI_ID}")
    kit.axe_check(page)
    kit.shot(page, "c03-post", tmp_path)
    page.click("text=Place legal hold")
    assert page.url.endswith(f"/posts/twitter/{pc.HINDI_ID}")  # the browser did not send it
    assert page.evaluate("document.getElementById('hold-reason').validity.valueMissing")
    page.fill("#hold-reason", "मामला 17/2026: preserve for court")
    page.click("text=Place legal hold")
    page.wait_for_load_state()
    assert "?flash=" in page.url
    assert page.locator("p.notice[role=status]").inner_text().startswith("Legal hold placed.")
    assert page.locator("h1 .status-hold").inner_text().lower() == "legal hold"
    assert "मामला 17/2026" in page.inner_text(".meta")
    assert page.locator("#compliance button", has_text="Release hold").count() == 1
    kit.axe_check(page)
    kit.shot(page, "c04-post-held", tmp_path)

    # The evidence bundle, downloaded through the page, verifies with the project's verifier; the page
    # names the key that signs it.
    assert key.fingerprint in page.inner_text("#compliance")
    with page.expect_download() as download:
        page.click("text=Download evidence (WACZ)")
    assert download.value.suggested_filename == f"evidence-twitter-{pc.HINDI_ID}.wacz"
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    result = verify_bundle(bundle, public_key=key.pem.encode())
    assert result.ok and result.problems == [], result.problems
    assert result.captures == 2 and result.signed_by == key.fingerprint

    # The holds page, reached by the navigation, lists it with who, when and why.
    page.click("header nav a:has-text('Holds and takedowns')")
    page.wait_for_load_state()
    row = page.locator("table.holds tbody tr", has_text=pc.HINDI_ID)
    assert row.count() == 1 and "compliance user" in row.inner_text() and "मामला 17/2026" in row.inner_text()
    assert page.locator("header nav a[aria-current=page]").inner_text() == "Holds and takedowns"
    kit.axe_check(page)
    kit.shot(page, "c05-holds", tmp_path)

    # The other pages the officer may open, and an error page: all pass axe.
    for path, name in (("/exports", "c06-exports"), ("/articles", "c07-articles"), ("/health", "c08-health"),
                       ("/no/such/page", "c09-error-404"), ("/search?page=0", "c10-error-422")):
        page.goto(f"{base}{path}")
        if "error" in name:
            assert page.locator(".error-page h1").count() == 1 and page.locator(".error-line").count() == 1
            assert page.locator("header nav a").count() == 5  # signed in: the navigation is there
        kit.axe_check(page)
        kit.shot(page, name, tmp_path)

    # Released again: the post page says so.
    page.goto(f"{base}/posts/twitter/{pc.HINDI_ID}")
    page.click("text=Release hold")
    page.wait_for_load_state()
    assert page.locator("p.notice").inner_text() == "Legal hold released."
    assert page.locator("#hold-reason").count() == 1
    assert dialogs == []
    page.close()


def test_arabic_post_page_and_a_takedown_lay_out_right_to_left(served: tuple[str, pc.Corpus, PublicKeyInfo],
                                                               browser: Any, tmp_path: Path) -> None:
    base, corpus, _key = served
    page = browser.new_page()
    kit.login(page, base, corpus.tokens["compliance"], next_path=f"/posts/twitter/{pc.ARABIC_ID}")
    page.fill("#takedown-reason", "طلب قانوني رقم ٤")
    page.click("text=Take down")
    page.wait_for_load_state()
    assert "?flash=" in page.url
    assert page.eval_on_selector("#main > section .post-text", "el => getComputedStyle(el).direction") == "rtl"
    kit.axe_check(page)
    kit.shot(page, "c11-post-arabic-taken-down", tmp_path)
    page.click("text=Lift takedown")
    page.wait_for_load_state()
    assert "?flash=" in page.url
    page.close()
