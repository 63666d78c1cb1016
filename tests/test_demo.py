"""`archiver demo` offline: its account shows what the manifest (schema v2) says of the sample post,
and the lines it prints for any manifest (v1 or v2, with cards, polls, edits and missing parts)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from archiver.capture.manifest import STATUS_WORDS
from archiver.cli.demo import manifest_lines, run_demo


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
