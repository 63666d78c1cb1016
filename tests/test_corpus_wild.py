"""The wild corpus (tests/corpus/wild/): discovery finds what real publishers write, with exact spans.

Each case is an article file and its expected JSON (see the folder's README): the posts (provider, id,
the exact text of each span) and the images (absolute URL, the URL as written), both in document order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.article.splice import Patch, Replacement, revert_patch, splice
from archiver.article.versions import versions
from archiver.config.settings import Settings
from archiver.discover.scan import discover
from archiver.runners.local import archive
from archiver.runtime import Runtime
from archiver.storage.layout import patch_key
from archiver.testing.fixture_origin import FixtureOrigin, make_image

CORPUS = Path(__file__).parent / "corpus" / "wild"
CASES = sorted(p for p in CORPUS.glob("*/*") if p.suffix in (".html", ".md", ".txt"))


def expected(case: Path) -> dict[str, Any]:
    return json.loads(case.with_suffix(".json").read_text(encoding="utf-8"))


def found(case: Path) -> tuple[str, Any]:
    want = expected(case)
    doc = case.read_text(encoding="utf-8")
    return doc, discover(doc, base_url=want.get("base_url"), fmt=want.get("format", "auto"))


def test_the_corpus_has_three_cases_of_every_kind() -> None:
    kinds = {p.parent.name for p in CASES}
    assert kinds >= {"status-urls", "constructs", "shortcodes", "flattened", "images", "false-embeds"}, kinds
    for kind in kinds:
        assert len([p for p in CASES if p.parent.name == kind]) >= 3, kind
    assert all(p.with_suffix(".json").is_file() for p in CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_wild_case(case: Path) -> None:
    want = expected(case)
    doc, got = found(case)
    embeds = sorted(got.embeds, key=lambda e: (e.start, e.end))
    assert [(e.provider, e.post_id, doc[e.start:e.end]) for e in embeds] == \
        [(w["provider"], w["post_id"], w["span"]) for w in want["embeds"]]
    images = sorted(got.images, key=lambda i: (i.start, i.end))
    assert [(i.url, doc[i.start:i.end]) for i in images] == [(w["url"], w["span"]) for w in want["images"]]


# --- a property: spans of random mixes of the corpus's constructs ----------------------------------------
def _fragments() -> list[tuple[str, str, str | None]]:
    """(construct as written, provider, post id) of every embed of the HTML cases, standing alone."""
    out = []
    for case in CASES:
        if case.suffix != ".html" or case.parent.name == "false-embeds":
            continue
        for e in expected(case)["embeds"]:
            if "\n\n" not in e["span"]:
                out.append((e["span"], e["provider"], e["post_id"]))
    return out


FRAGMENTS = _fragments()
FILLERS = [
    "<p>राजनीति: एक अनुच्छेद &amp; more.</p>", "<div class=\"wp-block-group\"><p>Lorem ipsum.</p></div>",
    "<h2>Update — 14:05</h2>", "<ul><li>one</li><li>two</li></ul>", "<p>See <a href=\"/about\">our page</a>.</p>",
    "<figure><img src=\"/wp-content/uploads/a.jpg\" alt=\"\"><figcaption>Photo</figcaption></figure>",
    "<!-- a comment -->", "<p>مرحبا بالعالم</p>", "<hr>", "<p>&lt;not a tag&gt; &#x1F600;</p>",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(range(len(FRAGMENTS))), st.sampled_from(FILLERS),
                          st.sampled_from(["\n", "\n\n", "\r\n", "\n  "])), min_size=1, max_size=6))
def test_spans_of_random_mixes_slice_their_constructs_and_splice_back(parts: list[tuple[int, str, str]]) -> None:
    doc, placed = "<html><body>\n", []
    for index, filler, sep in parts:
        construct, provider, post_id = FRAGMENTS[index]
        doc += filler + sep
        placed.append((len(doc), len(doc) + len(construct), provider, post_id))
        doc += construct + sep
    doc += "</body></html>\n"
    got = discover(doc, base_url="https://news.example/story/")
    spans = {(e.start, e.end, e.provider, e.post_id) for e in got.embeds}
    for start, end, provider, post_id in placed:
        assert (start, end, provider, post_id) in spans, (doc[start:end], sorted(spans))
    for image in got.images:
        written = doc[image.start:image.end]
        assert written and not any(c in written for c in "<>\"'\n"), written
    marked = [Replacement(s, e, f"\x00{i}\x00") for i, (s, e) in
              enumerate(sorted({(x.start, x.end) for x in [*got.embeds, *got.images]}))]
    kept: list[Replacement] = []
    for r in marked:  # nested spans (an image inside an embed): the outer one is spliced
        if kept and r.start < kept[-1].end:
            continue
        kept.append(r)
    new_text, patch = splice(doc, kept)
    assert revert_patch(new_text, patch) == doc
    assert revert_patch(new_text, patch).encode() == doc.encode()


# --- end to end: every image found is replaced, nothing else changes --------------------------------------
def _onto(doc: str, hosts: set[str], origin: FixtureOrigin) -> str:
    """`doc` with every absolute or protocol-relative URL on `hosts` pointing at the fixture origin
    (under /h/<host>/), so the images can be fetched; relative ones follow through the base URL."""
    for host in sorted(hosts, key=len, reverse=True):
        doc = re.sub(rf"(?:https?:)?//{re.escape(host)}(?=[/?#\"'\s)]|$)", origin.url(f"/h/{host}"), doc)
    return doc


@pytest.mark.integration
def test_the_wild_corpus_archives_with_every_image_replaced_and_nothing_else_changed(
        tmp_settings: Callable[..., Settings]) -> None:
    with FixtureOrigin() as origin, \
            Runtime.from_settings(tmp_settings(**origin.settings_overrides(),
                                               public_base_url="https://archive.example/media")) as rt:
        archived = 0
        for n, case in enumerate(CASES):
            want = expected(case)
            if want.get("archive", True) is False:
                continue
            base = want.get("base_url") or "https://news.example/"
            hosts = {urlsplit(i["url"]).netloc for i in want["images"]} | {urlsplit(base).netloc}
            doc = _onto(case.read_text(encoding="utf-8"), hosts, origin)
            base = _onto(base, hosts, origin)
            fmt = want.get("format", "auto")
            found = discover(doc, base_url=base, fmt=fmt)
            for image in found.images:
                if image.url.startswith(origin.url("/")):
                    origin.add_image(urlsplit(image.url).path, make_image(image.url, 40, 30), "image/jpeg")
            aid = f"wild-{n}"
            rep = archive(rt, doc.encode(), article_id=aid, base_url=base, fmt=fmt)
            assert [i["status"] for i in rep["images"]] == ["archived"] * len(rep["images"]), (case.name, rep["images"])
            history = versions(rt, aid)
            patch = Patch.from_json(json.loads(rt.store.get(patch_key(aid, history[-1].version))))
            ops = {(op["start"], op["end"]): op["new"] for op in patch.ops}
            stable = {i["url"]: i["stable_url"] for i in rep["images"]}
            embed_spans = [(e.start, e.end) for e in found.embeds]
            for image in found.images:
                inside_embed = any(s <= image.start and image.end <= e for s, e in embed_spans)
                if not inside_embed:  # an image inside an embed's markup belongs to the capture
                    assert ops.get((image.start, image.end)) == stable[image.url], (case.name, image)
            spans = embed_spans + [(i.start, i.end) for i in found.images]
            for op in patch.ops:  # every change lies within a discovered span: nothing else changed
                assert any(s <= op["start"] and op["end"] <= e for s, e in spans), (case.name, op)
            assert revert_patch(rt.store.get(history[-1].key).decode(), patch) == doc
            archived += 1
        assert archived >= len(CASES) - 3
