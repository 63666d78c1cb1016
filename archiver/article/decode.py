"""Articles: decoding bytes to text (BOM, declared charset, detection), and a small cache of decoded sources.

Spans from discovery are code-point offsets into the decoded text, and a rewrite is encoded back
with the same encoding, so every byte outside the replaced spans stays identical.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from archiver.errors import InputError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]{0,100}encoding=["']([A-Za-z0-9_.-]{1,40})""")


@dataclass(frozen=True)
class DecodedArticle:
    """An article's text and the codec it was decoded with; `encode(text)` gives bytes back in that codec
    (UnicodeEncodeError for a character it cannot hold)."""

    text: str
    encoding: str  # codec used; encode(text, encoding) gives the bytes back

    def encode(self, text: str) -> bytes:
        return text.encode(self.encoding, errors="strict")


def article_id_for(data: bytes) -> str:
    """The default article id: a short hash of the source bytes."""
    return hashlib.sha256(data).hexdigest()[:20]


def _declared(data: bytes) -> str | None:
    head = data[:4096]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if not m:
        return None
    name = m.group(1).decode("ascii", "replace").lower()
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return controls > len(sample) * 0.05


def decode_article(
    data: bytes, declared_charset: str | None = None, max_bytes: int | None = None
) -> DecodedArticle:
    """Decode an article. Raises InputError with a plain reason when it cannot be used."""
    if max_bytes is not None and len(data) > max_bytes:
        raise InputError(
            f"article is {len(data):,} bytes, over the limit of {max_bytes:,} (ARCHIVER_MAX_ARTICLE_BYTES)"
        )
    if not data.strip():
        raise InputError("article is empty")
    for bom, codec in _BOMS:
        if data.startswith(bom):
            # Keep the BOM in the text so that encoding gives back the same bytes.
            enc = {"utf-8-sig": "utf-8"}.get(codec, codec)
            if enc == "utf-8":
                return DecodedArticle(data.decode("utf-8", errors="strict"), "utf-8")
            return _strict(data, codec)
    try:
        return DecodedArticle(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if _looks_binary(data):
        raise InputError("article looks like binary data, not text or HTML")
    for candidate in (declared_charset, _declared(data)):
        if candidate:
            try:
                codec = codecs.lookup(candidate).name
                return DecodedArticle(data.decode(codec), codec)
            except (LookupError, UnicodeDecodeError):
                continue
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000]).best()
    if best is not None:
        try:
            codec = codecs.lookup(best.encoding).name
            text = data.decode(codec)
            if text.encode(codec) == data:
                return DecodedArticle(text, codec)
        except (LookupError, UnicodeError):
            pass
    raise InputError("article is not valid UTF-8 and no declared or detected charset decodes it")


def _strict(data: bytes, codec: str) -> DecodedArticle:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise InputError(f"article has a {codec} byte-order mark but does not decode: {exc.reason}") from None
    # utf-16/utf-32 decoders drop the BOM; keep a codec that writes it back.
    return DecodedArticle(text, codec)


class SourceCache:
    """The article sources this process decoded last, by key (``<article id>:<source sha256>``).

    A source is content-addressed and never changes, so a decoded copy can be shared by every step
    of the process that needs it: the local runner's captures decode the article once, not once per
    embed. Holds at most `size` sources and `max_chars` code points in all (the newest first; a
    source larger than that alone is not kept), so a worker holding a few 25 MB articles stays
    bounded. Thread-safe; a source is decoded at most once at a time (`get` loads under the lock).
    """

    def __init__(self, size: int = 4, max_chars: int = 16_000_000) -> None:
        self.size = size
        self.max_chars = max_chars
        self._items: OrderedDict[str, DecodedArticle] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def put(self, key: str, source: DecodedArticle) -> None:
        """Keep `source` under `key`, dropping the oldest beyond `size` sources or `max_chars`."""
        with self._lock:
            self._keep(key, source)

    def get(self, key: str, load: Callable[[], DecodedArticle]) -> DecodedArticle:
        """The cached source under `key`, else `load()` (its errors propagate, nothing is cached)."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
            source = load()
            self._keep(key, source)
            return source

    def _keep(self, key: str, source: DecodedArticle) -> None:
        if len(source.text) > self.max_chars:
            return
        old = self._items.pop(key, None)
        self._chars -= len(old.text) if old is not None else 0
        self._items[key] = source
        self._chars += len(source.text)
        while len(self._items) > self.size or self._chars > self.max_chars:
            _, dropped = self._items.popitem(last=False)
            self._chars -= len(dropped.text)
