"""The post's text when its sources disagree (issue 15, point 2; ``../shared/formats/twitter-shapes.md``,
"Long posts (note tweets)").

Each source's text is kept (the manifest's ``texts``, one ``SourceText`` per source, with
``complete``: True whole, False a preview). The sources are the platform's (syndication, the full
``note_tweet`` text when an answer carries it, a quoting or replying post's copy, oEmbed) and the
publisher's embed markup in the article.

The rule, in full:

1. Texts are compared normalized (``normalize``): NFC; zero-width, joiner and bidi marks dropped;
   whitespace runs one space; every link (``https://…``, ``t.co/…``, ``pic.twitter.com/…``, a bare
   ``example.org/path`` as oEmbed shows a link) one token; a reply's leading ``@mentions`` dropped
   (``display_text_range`` skips them; oEmbed does not show them). A text's *stem* is that without
   its trailing links and a trailing ellipsis ("…", "...", "⋯").
2. A text *extends* another when its stem starts with the other's stem and is longer
   (``extends``): it holds more of the same post.
3. A text is a preview (``complete`` False) when
   a. it is syndication's (or a copy's) and that answer has a ``note_tweet`` (its ``text`` is only the
      first part of a long post);
   b. another platform text extends it;
   c. its stem is no longer than a preview's (a. or b.) and is a start of it (it adds nothing to a
      preview);
   d. it is oEmbed's or the markup's, ends in an ellipsis, and neither extends a preview (then the
      ellipsis is the author's: "Wait for it...") nor has the stem of a whole syndication text;
   e. it is the markup's and a platform text is a preview that it does not extend (rule 2): the
      publisher's text completes a preview only when it starts with it, normalized (otherwise it is
      another text, a paraphrase, a translation or a mistake, never the post's whole text);
   f. it was longer than ``MAX_TEXT_CHARS`` and is kept cut: a cut text is never whole.
   The publisher's markup never makes a platform text a preview: text a publisher adds after a
   post ("[Translated by our desk]") is not the post's.
   Every other text is whole (``complete`` True): syndication's without a ``note_tweet`` that no
   platform text extends; a ``note_tweet``'s; oEmbed's or the markup's that no rule above marks.
   A whole post that really ends in "..." stays whole when nothing extends it.
4. The post's ``text`` is the first whole platform text in ``PLATFORM`` order (syndication, the
   note, the copies, oEmbed); else a whole markup text (by 3e, one that extends the platform's
   preview when there is one); else the longest text other than a markup text 3e marks (of equal
   ones, the first in ``PLATFORM`` order), with ``text_complete`` False.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from archiver.capture.manifest import SourceText

MARKUP = "publisher_markup"
# The platform's sources, in the order their whole text is preferred.
PLATFORM = ("syndication", "note_tweet", "quoting_post", "replying_post", "oembed")
# Sources whose text is the platform's own reading of the post (a copy carried by another post's answer
# counts): an ellipsis they end in is the author's.
_ANSWERS = ("syndication", "note_tweet", "quoting_post", "replying_post")
MAX_TEXT_CHARS = 100_000  # a source's text longer than this is cut (a post is at most 25,000 characters)

_LINK_MARK = "\ue000"  # stands for each link: a private-use character no post text is compared with
# Links as texts show them: with a scheme, t.co and pic links without one, and bare host/path display URLs.
_LINK = re.compile(
    r"(?i)(?:https?://\S+|\b(?:t\.co|pic\.(?:twitter|x)\.com)/\S+"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}/\S*)")
# Zero-width spaces and joiners, bidi marks and embeddings, the word joiner, the BOM (all format
# characters) are dropped.
_ELLIPSES = ("…", "...", "⋯")
_LEADING_MENTIONS = re.compile(r"^(?:@\w{1,50}\s*)+")


def normalize(text: str) -> str:
    """``text`` as it is compared (this module's rule 1): NFC, format characters dropped,
    whitespace runs one space, each link one token, leading @mentions dropped."""
    nfc = unicodedata.normalize("NFC", text[:MAX_TEXT_CHARS])
    kept = "".join(ch for ch in nfc if unicodedata.category(ch) != "Cf")
    flat = " ".join(_LINK.sub(f" {_LINK_MARK} ", kept).split())
    return _LEADING_MENTIONS.sub("", flat)


def _strip_end(flat: str) -> tuple[str, bool]:
    """(``flat`` without its trailing link tokens and ellipses, whether an ellipsis was among them)."""
    cut = False
    while True:
        before = flat
        flat = flat.removesuffix(_LINK_MARK).rstrip()
        for mark in _ELLIPSES:
            if flat.endswith(mark):
                flat, cut = flat.removesuffix(mark).rstrip(), True
        if flat == before:
            return flat, cut


def stem(text: str) -> str:
    """``text`` normalized, without its trailing links and ellipsis."""
    return _strip_end(normalize(text))[0]


def ends_in_ellipsis(text: str) -> bool:
    """Whether ``text`` (trailing links aside) ends with an ellipsis: a preview's mark, or the author's."""
    return _strip_end(normalize(text))[1]


def extends(text: str, other: str) -> bool:
    """Whether ``text`` holds more of the post than ``other``: its stem starts with ``other``'s and is
    longer (rule 2)."""
    a, b = stem(text), stem(other)
    return bool(b) and len(a) > len(b) and a.startswith(b)


def choose_text(candidates: Sequence[tuple[str, str | None, bool | None]]) -> tuple[
        list[SourceText], SourceText | None, bool | None]:
    """(each source's text, the one the post's ``text`` is, ``text_complete``) from ``candidates``:
    (source name, its text or None, False when the source says it is a preview (a ``note_tweet``
    answer's text), True when it says it is whole, None when nothing says). Empty texts and a source
    named twice are left out; ``text_complete`` is None when no source has a text. The rules are this
    module's docstring's."""
    texts: list[SourceText] = []
    cut_off: set[str] = set()  # 3f
    for name, text, said in candidates:
        if isinstance(text, str) and text.strip() and all(t.source != name for t in texts):
            texts.append(SourceText(source=name, text=text[:MAX_TEXT_CHARS], complete=said))
            if len(text) > MAX_TEXT_CHARS:
                cut_off.add(name)
    if not texts:
        return [], None, None
    stems = {t.source: stem(t.text) for t in texts}
    cut = {t.source: ends_in_ellipsis(t.text) for t in texts}

    def longer(a: str, b: str) -> bool:  # a extends b (stems)
        return bool(b) and len(a) > len(b) and a.startswith(b)

    platform = [t for t in texts if t.source != MARKUP]
    preview = {t.source for t in texts if t.complete is False} | cut_off  # rules 3a, 3f
    preview |= {t.source for t in texts  # 3b
                if any(u is not t and longer(stems[u.source], stems[t.source]) for u in platform)}
    known = set(preview)
    for t in texts:  # 3c: adds nothing to a preview
        if t.source not in preview and any(
                stems[p] and stems[p].startswith(stems[t.source]) for p in known):
            preview.add(t.source)
    whole_answers = {stems[t.source] for t in texts
                     if t.source in _ANSWERS and t.complete is not False and t.source not in preview}
    for t in texts:  # 3d: an ellipsis that is not the author's
        if (t.source not in _ANSWERS and cut[t.source] and t.source not in preview
                and not any(longer(stems[t.source], stems[p]) for p in known)
                and stems[t.source] not in whole_answers):
            preview.add(t.source)
    platform_previews = [stems[t.source] for t in platform if t.source in preview]
    foreign = {t.source for t in texts  # 3e: the markup completes a preview only when it starts with it
               if t.source == MARKUP and platform_previews
               and not any(longer(stems[t.source], p) for p in platform_previews)}
    preview |= foreign
    for t in texts:
        t.complete = t.source not in preview

    def rank(t: SourceText) -> int:
        return PLATFORM.index(t.source) if t.source in PLATFORM else len(PLATFORM)

    whole = sorted((t for t in texts if t.complete), key=rank)
    if whole:
        return texts, whole[0], True
    kept = [t for t in texts if t.source not in foreign]
    return texts, max(kept, key=lambda t: (len(stems[t.source]), -rank(t))), False
