"""JSON from outside (a platform's answer, JSON in an article's markup) that spells a lone UTF-16
surrogate: the post is archived all the same with U+FFFD in its place, and an article whose JSON-LD or
embed block holds one is discovered and archived (archiver.foreign_json)."""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archiver import foreign_json
from archiver.capture.warc import check_manifest_against_warc
from archiver.config.settings import Settings
from archiver.discover.scan import discover
from archiver.runners import local
from archiver.runtime import Runtime
from archiver.testing.fixture_origin import FixtureOrigin, TweetFixture
from archiver.testing.fixtures import make_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("data", "expected"), [
    (b'{"text": "dam \\ud83d now"}', {"text": "dam \ufffd now"}),
    ('{"text": "dam \\uDC00"}', {"text": "dam \ufffd"}),
    (b'["\\ud83d\\ude00", "\\ude00\\ud83d"]', ["\U0001f600", "\ufffd\ufffd"]),
    (b'{"\\ud800key": {"deep": ["x\\udfff"]}}', {"\ufffdkey": {"deep": ["x\ufffd"]}}),
    (b'"\xed\xa0\x80 encoded"', "\ufffd encoded"),           # a surrogate's own UTF-8 bytes
    ('"\ud83d\ude00 \ud800"', "\U0001f600 \ufffd"),          # code points already in a str: a pair joins
    ('{"t": "\\ud800"}'.encode("utf-16"), {"t": "\ufffd"}),  # UTF-16 JSON, as json.loads detects it
    (b'{"plain": "\xe0\xa4\x9c\xe0\xa4\xaf \\u00e9 \\ud83d\\ude00"}', {"plain": "जय é \U0001f600"}),
])
def test_loads_replaces_each_lone_surrogate_and_keeps_pairs(data: bytes | str, expected: Any) -> None:
    value = foreign_json.loads(data)
    assert value == expected
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # storable as UTF-8


@pytest.mark.parametrize("data", ["[" * 100_000, b"{not json", b"\xff\xfe\x00", '"\\ud80"'])
def test_loads_raises_valueerror_for_what_is_not_json(data: bytes | str) -> None:
    with pytest.raises(ValueError):
        foreign_json.loads(data)


def test_discovery_and_provider_modules_read_outside_json_through_foreign_json() -> None:
    """The rule, kept: no json.loads / json.load in the modules that read outside JSON (discovery, the
    providers, the article's metadata, the fetcher's responses, the answers re-read from a WARC)."""
    files = [*sorted((ROOT / "archiver/discover").rglob("*.py")), *sorted((ROOT / "archiver/providers").rglob("*.py")),
             ROOT / "archiver/article/metadata.py", ROOT / "archiver/capture/exchange.py",
             ROOT / "archiver/capture/fetch.py", ROOT / "archiver/capture/warc.py"]
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr in ("loads", "load")
                    and isinstance(node.value, ast.Name) and node.value.id == "json"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


ARTICLE = """<html><head><title>Dam</title>
<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Dam \\ud800 opens",
 "image": "%(ld_image)s"}</script></head><body>
<h1>Dam opens</h1>
<!-- wp:embed {"url":"https://twitter.com/CoastDesk/status/%(tid)s","type":"rich","note":"\\udc00"} -->
<figure class="wp-block-embed"><div class="wp-block-embed__wrapper">
https://twitter.com/CoastDesk/status/%(tid)s
</div></figure>
<!-- /wp:embed -->
<p>Lead <img src="%(lead)s" alt="lead"></p>
</body></html>"""


def test_an_article_and_a_post_with_lone_surrogates_are_archived_whole(
        tmp_settings: Callable[..., Settings]) -> None:
    """The tweet's answer spells lone surrogates in its text and its author's name, the article's JSON-LD
    and WordPress block in theirs: the tweet is archived (text stored and searchable, U+FFFD in place of
    each; the manifest agrees with the answers its WARC keeps), the image and the JSON-LD image too."""
    with FixtureOrigin() as origin:
        tweet = origin.add_tweet(TweetFixture(id="1850000000000099001", handle="CoastDesk", name="Coast \ud800Desk",
                                              text="Sluice gates \ud83d open at the dam \udc00today"))
        lead = origin.add_image("/lead.jpg", make_image("lead", 120, 90))
        ld_image = origin.add_image("/ld.jpg", make_image("ld", 100, 80))
        page = ARTICLE % {"tid": tweet.id, "lead": lead, "ld_image": ld_image}
        found = discover(page)
        assert [e.post_id for e in found.embeds] == [tweet.id]
        settings = tmp_settings(**origin.settings_overrides())
        with Runtime.from_settings(settings) as rt:
            rep = local.archive(rt, page.encode("utf-8"), article_id="dam")
            assert [e["status"] for e in rep["embeds"]] == ["archived"], rep
            assert sorted(im["status"] for im in rep["images"]) == ["archived", "archived"], rep
            manifest = json.loads(rt.store.get(rep["embeds"][0]["snapshot"]))
            warc = rt.store.get(manifest["warc"])
            hits = rt.catalog.search("Sluice").hits
    assert manifest["text"] == "Sluice gates \ufffd open at the dam \ufffdtoday"
    assert manifest["author"]["name"] == "Coast \ufffdDesk"
    # The WARC keeps the answer's bytes; read again as the capture read them, they agree (archiver verify).
    assert b"\\ud83d" in warc or b"\\ud83d" in gzip.decompress(warc)
    assert check_manifest_against_warc(manifest, warc) == []
    assert [h["post_id"] for h in hits] == [tweet.id]
    assert "\ufffd" in hits[0]["text"]


def test_a_json_ld_image_url_spelling_a_lone_surrogate_is_found_as_a_url_that_can_be_fetched() -> None:
    """JSON-LD's escapes are read as JSON: the URL keeps U+FFFD in the lone surrogate's place (which a
    fetch percent-encodes), whether the image is a string or an ImageObject."""
    for image in ('"https://x.example/a\\ud800.jpg"', '{"@type": "ImageObject", "url": "https://x.example/a\\ud800.jpg"}'):
        doc = (f'<html><head><script type="application/ld+json">{{"image": {image}}}</script></head>'
               '<body><p>x</p></body></html>')
        assert [i.url for i in discover(doc).images] == ["https://x.example/a\ufffd.jpg"]
