"""Rewriting an article on spans: only the replaced spans change, and every change is recorded
as a patch that can be applied to the original or reverted from the result, byte for byte.

Also the Robust Links attributes (data-originalurl, data-versionurl, data-versiondate) that
point an embed at its archived copy while keeping the original link.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from typing import Any

PATCH_FORMAT = "archiver-patch/1"
ROBUST_ATTRS = ("data-originalurl", "data-versionurl", "data-versiondate")

_FIRST_TAG = re.compile(r"<([a-zA-Z][\w:-]{0,60})")
_COMMENT_OR_SPACE = re.compile(r"(?:\s++|<!--.*?-->)*+", re.S)
_TAG_BODY = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_ATTR = re.compile(r"""([^\s"'>/=][^\s"'>/=]*+)(?:\s*+=\s*+(?:"[^"]*+"|'[^']*+'|[^\s"'=<>`]++))?""")


class PatchError(ValueError):
    """A patch does not fit the text it is applied to."""


@dataclass
class Replacement:
    """Put `new` in place of text[start:end]; offsets count code points of the decoded text."""

    start: int
    end: int
    new: str


@dataclass
class Patch:
    """Replacements in ORIGINAL coordinates, with the hashes of the text before and after."""

    base_sha256: str
    result_sha256: str
    ops: list[dict[str, Any]] = field(default_factory=list)  # {start, end, old, new}, sorted

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PATCH_FORMAT,
            "base_sha256": self.base_sha256,
            "result_sha256": self.result_sha256,
            "ops": [dict(op) for op in self.ops],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Patch:
        if not isinstance(data, dict) or data.get("format", PATCH_FORMAT) != PATCH_FORMAT:
            raise PatchError("not an archiver patch")
        try:
            ops = [
                {"start": int(op["start"]), "end": int(op["end"]), "old": str(op["old"]), "new": str(op["new"])}
                for op in data["ops"]
            ]
            patch = cls(str(data["base_sha256"]), str(data["result_sha256"]), ops)
        except (KeyError, TypeError, ValueError) as exc:
            raise PatchError(f"malformed patch: {exc}") from None
        _check_ops(ops)
        return patch


def text_sha256(text: str) -> str:
    """The SHA-256 (64 lowercase hex digits) of `text` encoded as UTF-8, lone surrogates kept."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _check_ops(ops: list[dict[str, Any]]) -> None:
    prev_end = 0
    for op in ops:
        if op["start"] < prev_end or op["end"] < op["start"] or op["end"] - op["start"] != len(op["old"]):
            raise PatchError(f"patch operations overlap or are malformed at {op['start']}")
        prev_end = op["end"]


def splice(text: str, replacements: list[Replacement]) -> tuple[str, Patch]:
    """Replace the given spans of `text`; everything outside them stays identical.

    Raises ValueError when spans overlap or fall outside the text."""
    reps = sorted(replacements, key=lambda r: (r.start, r.end))
    parts: list[str] = []
    ops: list[dict[str, Any]] = []
    pos = 0
    for r in reps:
        if not (0 <= r.start <= r.end <= len(text)):
            raise ValueError(f"replacement {r.start}-{r.end} is outside the text (length {len(text)})")
        if r.start < pos:
            raise ValueError(f"replacements overlap at {r.start}-{r.end}")
        parts.append(text[pos:r.start])
        parts.append(r.new)
        ops.append({"start": r.start, "end": r.end, "old": text[r.start:r.end], "new": r.new})
        pos = r.end
    parts.append(text[pos:])
    result = "".join(parts)
    return result, Patch(text_sha256(text), text_sha256(result), ops)


def apply_patch(text: str, patch: Patch) -> str:
    """The patched text; raises PatchError unless `text` is exactly the patch's base."""
    if text_sha256(text) != patch.base_sha256:
        raise PatchError("text is not the base this patch was made for (sha256 differs)")
    result, _ = splice(text, [Replacement(op["start"], op["end"], op["new"]) for op in patch.ops])
    if text_sha256(result) != patch.result_sha256:
        raise PatchError("patch does not reproduce its recorded result")
    return result


def revert_patch(new_text: str, patch: Patch) -> str:
    """The original text back from the patched one; raises PatchError on a different text."""
    if text_sha256(new_text) != patch.result_sha256:
        raise PatchError("text is not the result of this patch (sha256 differs)")
    parts: list[str] = []
    pos = 0  # in new_text
    shift = 0  # new position minus original position
    for op in patch.ops:
        start = op["start"] + shift
        end = start + len(op["new"])
        if new_text[start:end] != op["new"]:
            raise PatchError(f"patched text does not hold the expected replacement at {start}")
        parts.append(new_text[pos:start])
        parts.append(op["old"])
        pos = end
        shift += len(op["new"]) - (op["end"] - op["start"])
    parts.append(new_text[pos:])
    original = "".join(parts)
    if text_sha256(original) != patch.base_sha256:
        raise PatchError("reverting did not give back the original (sha256 differs)")
    return original


def add_robust_links(markup: str, original_url: str, version_url: str, version_date: str) -> str:
    """Add (or replace) Robust Links attributes on the first opening tag of an HTML construct.

    Non-HTML constructs (a bare URL line, flattened text, a shortcode) come back unchanged.
    Idempotent: applying it twice gives the same markup as once."""
    lead = _COMMENT_OR_SPACE.match(markup)
    pos = lead.end() if lead else 0
    if not markup.startswith("<", pos):
        return markup
    m = _FIRST_TAG.search(markup, pos)
    if not m:
        return markup
    body = _TAG_BODY.match(markup, m.end())
    if not body:
        return markup
    tag_end = body.end() - 1  # the ">"
    values = dict(zip(ROBUST_ATTRS, (original_url, version_url, version_date), strict=True))
    edits: list[tuple[int, int, str]] = []
    for a in _ATTR.finditer(markup, m.end(), tag_end):
        name = a.group(1).lower()
        if name in values:
            edits.append((a.start(), a.end(), f'{name}="{html.escape(values.pop(name), quote=True)}"'))
    if values:
        insert_at = tag_end - 1 if markup[tag_end - 1] == "/" else tag_end
        while insert_at > m.end() and markup[insert_at - 1].isspace():
            insert_at -= 1
        added = "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in values.items())
        edits.append((insert_at, insert_at, added))
    for start, end, new in sorted(edits, reverse=True):
        markup = markup[:start] + new + markup[end:]
    return markup
