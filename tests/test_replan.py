"""A stored plan is reused only when what decided it is the same: the same bytes archived again with a
corrected --charset, --base-url, --format or article URL are planned again (a version is written when
the rewrite differs, or when its encoding does), and an unchanged re-archive writes nothing. The
workers' steps (prepare, capture_item, finalize: workers/tasks.py) do the same."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import webencodings

from archiver.article.input import ArticleInput
from archiver.article.versions import versions
from archiver.config.settings import Settings
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.steps.capture import capture_item
from archiver.steps.finalize import finalize
from archiver.steps.prepare import load_plan, load_source, prepare
from archiver.steps.results import load_results, pending
from archiver.testing.fixture_origin import FixtureOrigin, make_image

CYRILLIC = "<html><body><p>Привет, мир</p>{img}</body></html>"
MARKDOWN = ("<!-- wp:paragraph -->\n\nIndia and Russia met in Tianjin.\n\n"
            "Lavrov meets Jaishankar in Tianjin — ANI (@ANI) July 15, 2025\n").encode()


def web_name(codec: str) -> str:
    """The WHATWG name of a stored codec name ("cp1251" and "x-cp1251" -> "windows-1251"; a codec that
    keeps undecodable bytes, "x-keep-utf-8", -> "utf-8"); the name itself when it is no label."""
    found = webencodings.lookup(codec.removeprefix("x-keep-"))
    return found.name if found is not None else codec



@pytest.fixture
def origin() -> Iterator[FixtureOrigin]:
    with FixtureOrigin(images={"/media/a.jpg": make_image("a", 64, 48)}) as o:
        yield o


@pytest.fixture
def rt(tmp_settings: Callable[..., Settings], origin: FixtureOrigin) -> Iterator[Runtime]:
    settings = tmp_settings(**{**origin.settings_overrides(), "public_base_url": "https://archive.example/media",
                               "fetch_retries": 0})
    with Runtime.from_settings(settings) as runtime:
        yield runtime


def stored(rt: Runtime) -> dict[str, tuple[bytes, int]]:
    """Every object in storage with its bytes and modification time (ns)."""
    root = Path(rt.settings.home)
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and "/objects/" in f"/{p.relative_to(root)}"}


def test_a_corrected_charset_plans_again(rt: Runtime, origin: FixtureOrigin) -> None:
    src = CYRILLIC.format(img=f'<img src="{origin.url("/media/a.jpg")}">').encode("cp1251")
    first = archive(rt, ArticleInput(src, charset="windows-1252"), article_id="cs")
    assert first["version"] == 1 and web_name(load_plan(rt, "cs").encoding) == "windows-1252"
    again = archive(rt, ArticleInput(src, charset="windows-1251"), article_id="cs")
    plan = load_plan(rt, "cs")
    assert web_name(plan.encoding) == "windows-1251" and "Привет, мир" in load_source(rt, plan).text
    assert again["version"] == 2  # the same rewritten bytes, now in the encoding they are read in
    current = versions(rt, "cs")[-1]
    assert web_name(current.encoding or "") == "windows-1251"
    assert "Привет, мир" in rt.store.get(current.key).decode(current.encoding or "")
    assert rt.catalog.article("cs")["encoding"] == plan.encoding


def test_a_corrected_base_url_plans_again_and_captures_what_it_resolves(rt: Runtime, origin: FixtureOrigin) -> None:
    src = b'<p>rel</p><img src="img/a.jpg"><img src="/media/a.jpg">'
    wrong = archive(rt, ArticleInput(src, base_url=origin.url("/x/")), article_id="rel")
    assert [i["url"] for i in wrong["images"]] == [origin.url("/x/img/a.jpg"), origin.url("/media/a.jpg")]
    assert [i["status"] for i in wrong["images"]] == ["failed", "archived"]
    right = archive(rt, ArticleInput(src, base_url=origin.url("/media/")), article_id="rel")
    assert [i["url"] for i in right["images"]] == [origin.url("/media/img/a.jpg"), origin.url("/media/a.jpg")]
    plan = load_plan(rt, "rel")
    assert plan.base_url == origin.url("/media/")
    assert {it.url for it in plan.items} == {origin.url("/media/img/a.jpg"), origin.url("/media/a.jpg")}
    # The image the old plan shared with the new one kept its result: fetched once.
    assert origin.count("/media/a.jpg") == 1
    # A new URL (the article's) is a new decision too.
    archive(rt, ArticleInput(src, url="https://news.example/rel", base_url=origin.url("/media/")), article_id="rel")
    assert load_plan(rt, "rel").url == "https://news.example/rel"


def test_a_corrected_format_plans_again(rt: Runtime) -> None:
    archive(rt, ArticleInput(MARKDOWN, format="html"), article_id="md")  # read as HTML the tweet is missed
    as_html = load_plan(rt, "md")
    archive(rt, ArticleInput(MARKDOWN, format="markdown"), article_id="md")
    as_markdown = load_plan(rt, "md")
    assert not any(it.kind == "embed" for it in as_html.items)
    assert any(it.kind == "embed" for it in as_markdown.items)


def test_an_unchanged_re_archive_stores_nothing(rt: Runtime, origin: FixtureOrigin) -> None:
    src = CYRILLIC.format(img=f'<img src="{origin.url("/media/a.jpg")}">').encode("cp1251")
    wrong = ArticleInput(src, url="https://news.example/cs", charset="windows-1252", format="html")
    right = ArticleInput(src, url="https://news.example/cs", charset="windows-1251", format="html")
    assert archive(rt, wrong, article_id="same")["version"] == 1
    assert archive(rt, right, article_id="same")["version"] == 2
    before = stored(rt)
    again = archive(rt, right, article_id="same")
    assert again["version"] == 2 and again.get("new_version") is False
    assert stored(rt) == before  # no object written, none rewritten
    assert origin.count("/media/a.jpg") == 1
    # A charset that decides the same encoding (a declared UTF-8 article given --charset utf-8): nothing written.
    utf8 = '<meta charset="utf-8"><p>ünïcödé</p>'.encode()
    archive(rt, ArticleInput(utf8), article_id="u8")
    before = stored(rt)
    archive(rt, ArticleInput(utf8, charset="utf-8"), article_id="u8")
    assert stored(rt) == before


def test_the_workers_steps_plan_again_too(rt: Runtime, origin: FixtureOrigin) -> None:
    """What workers/tasks.py does with a queued article (the source stored by Intake): prepare, capture
    each pending item against the stored plan, finalize."""
    src = CYRILLIC.format(img='<img src="a.jpg">').encode("cp1251")
    sha = hashlib.sha256(src).hexdigest()

    def worker_run(charset: str, base: str) -> None:
        plan = prepare(rt, ArticleInput(src, base_url=base, charset=charset), article_id="w", source_stored=False)
        for iid in pending(plan, load_results(rt, plan)):
            capture_item(rt, load_plan(rt, "w", sha), iid)
        finalize(rt, load_plan(rt, "w", sha))

    worker_run("windows-1252", origin.url("/x/"))
    worker_run("windows-1251", origin.url("/media/"))
    plan = load_plan(rt, "w", sha)
    assert web_name(plan.encoding) == "windows-1251" and plan.base_url == origin.url("/media/")
    assert [r.status for r in load_results(rt, plan).values()] == ["archived"]
    current = versions(rt, "w")[-1]
    assert current.version == 2 and web_name(current.encoding or "") == "windows-1251"
    body = rt.store.get(current.key).decode(current.encoding or "")
    assert "Привет, мир" in body and "https://archive.example/media/blobs/" in body
