"""The wild corpus (tests/corpus/wild/): discovery finds what real publishers write, with exact spans.

Each case is an article file and its expected JSON (see the folder's README): the posts (provider, id,
the exact text of each span) and the images (absolute URL, the URL as written), both in document order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archiver.discover.scan import discover

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
