"""The post's text when its sources disagree (issue 15, point 2; ``../shared/formats/twitter-shapes.md``,
"Long posts (note tweets)").

Each source's text is kept (the manifest's ``texts``, one ``SourceText`` per source). With a
``note_tweet`` syndication's ``text`` is only a preview (``complete`` False); another source's text
that extends the preview (the same start, whitespace aside, longer, and not ending in an ellipsis,
trailing media links aside) is the whole post (``complete`` True). The post's ``text`` is then the
fullest: a source known to be whole (syndication first when it is), else, when every text is a
preview or no longer than one, the longest (``text_complete`` False); with no preview anywhere, the
first of syndication, the embedded copy, the note, oEmbed and the publisher's markup that has one
(``text_complete`` True).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from archiver.capture.manifest import SourceText

# Sources in the order their text is preferred when none is known to be a preview.
PREFERENCE = ("syndication", "note_tweet", "quoting_post", "replying_post", "oembed", "publisher_markup")
_ELLIPSES = ("…", "...", "\u22ef")
# Links a text may end with that are not its words: the t.co of media or of the full note, pic links.
_TRAILING_LINK = re.compile(r"\s*(?:https?://t\.co/\w{1,40}|(?:https?://)?pic\.(?:twitter|x)\.com/\w{1,40})\s*$",
                            re.IGNORECASE)
MAX_TEXT_CHARS = 100_000  # a source's text longer than this is cut (a post is at most 25,000 characters)


def _core(text: str) -> str:
    """``text`` with whitespace runs as one space, without trailing links and ellipses."""
    flat = " ".join(text.split())
    for _ in range(20):
        cut = _TRAILING_LINK.sub("", flat).rstrip()
        for mark in _ELLIPSES:
            cut = cut.removesuffix(mark).rstrip()
        if cut == flat:
            break
        flat = cut
    return flat


def ends_in_ellipsis(text: str) -> bool:
    """Whether ``text`` (trailing links aside) ends with an ellipsis: a preview's mark."""
    flat = " ".join(text.split())
    flat = _TRAILING_LINK.sub("", flat).rstrip() if _TRAILING_LINK.search(flat) else flat
    return flat.endswith(_ELLIPSES)


def extends(text: str, preview: str) -> bool:
    """Whether ``text`` is more of the post than ``preview``: the same start (whitespace aside),
    longer, and not itself cut with an ellipsis."""
    core = _core(preview)
    flat = " ".join(text.split())
    return bool(core) and flat.startswith(core) and len(_core(flat)) > len(core) and not ends_in_ellipsis(flat)


def choose_text(candidates: Sequence[tuple[str, str | None, bool | None]]) -> tuple[
        list[SourceText], SourceText | None, bool | None]:
    """(each source's text, the one the post's ``text`` is, ``text_complete``) from ``candidates``:
    (source name, its text or None, True/False when the source says whether it is whole, None when
    nothing says). Empty texts are left out; ``text_complete`` is None when no source has a text."""
    texts: list[SourceText] = []
    for name, text, complete in candidates:
        if isinstance(text, str) and text.strip() and all(t.source != name for t in texts):
            texts.append(SourceText(source=name, text=text[:MAX_TEXT_CHARS], complete=complete))
    if not texts:
        return [], None, None
    previews = [t for t in texts if t.complete is False]
    if previews:
        for t in texts:
            if t.complete is None:
                if any(extends(t.text, p.text) for p in previews):
                    t.complete = True
                elif ends_in_ellipsis(t.text):
                    t.complete = False
    whole = [t for t in texts if t.complete is True]
    if whole:
        own = next((t for t in whole if t.source == "syndication"), None)
        return texts, own or max(whole, key=lambda t: len(_core(t.text))), True
    if previews:
        return texts, max(texts, key=lambda t: (len(_core(t.text)), t.complete is None)), False

    def rank(t: SourceText) -> int:
        return PREFERENCE.index(t.source) if t.source in PREFERENCE else len(PREFERENCE)

    return texts, min(texts, key=rank), True
