"""Articles: decoding bytes to text (BOM, declared charset, detection), and a small cache of decoded sources.

Spans from discovery are code-point offsets into the decoded text, and a rewrite is encoded back
with the same encoding, so every byte outside the replaced spans stays identical.

Only the encodings of the web are used: every label (``--charset``, the HTTP header of a fetched
article, ``<meta charset>``, an XML declaration, a detector's guess) goes through the label table of
the WHATWG Encoding Standard (the ``webencodings`` package), so a label such as ``unicode_escape``,
``rot13``, ``base64``, ``idna``, ``utf-7`` or ``undefined`` names nothing and is an InputError. An
encoding is used only when it gives the bytes back exactly (decode, then encode, is the identity) and
its encoder is stateless at ASCII (every web encoding but ISO-2022-JP is; ISO-2022-JP is checked by
the round trip, which holds for canonical input), so a splice over markup changes no other byte.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import webencodings

from archiver.errors import InputError

# The byte-order marks the WHATWG decode algorithm honours (the BOM wins over every label), with the
# codec that keeps the mark as U+FEFF in the text, so encoding the text gives the very same bytes.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]{0,100}encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})""")
# The Python codec for a WHATWG encoding where webencodings' own choice is narrower than the
# standard's decoder (GBK is decoded with the gb18030 decoder) or not a registered Python codec
# (x-user-defined: ASCII as is, every other byte one code point; Latin-1 keeps the same bytes).
_PYTHON_CODEC = {"gbk": "gb18030", "x-user-defined": "latin-1"}
# Encodings a detector may propose: every web encoding but UTF-16 (only a BOM or a label selects
# it), the replacement encoding and x-user-defined.
_NOT_ASCII = frozenset({"utf-16-le", "utf-16-be", "iso2022_jp"})  # Python codecs where ASCII bytes may not be ASCII
_NOT_DETECTED = frozenset({"utf-16le", "utf-16be", "replacement", "x-user-defined"})
WEB_EXAMPLES = "utf-8, windows-1252, iso-8859-2, windows-1251, shift_jis, euc-kr, gb18030, big5"


@dataclass(frozen=True)
class DecodedArticle:
    """An article's text and the codec it was decoded with; `encode(text)` gives bytes back in that codec
    (UnicodeEncodeError for a character it cannot hold)."""

    text: str
    encoding: str  # Python codec used; encode(text, encoding) gives the bytes back

    def encode(self, text: str) -> bytes:
        return text.encode(self.encoding, errors="strict")


def article_id_for(data: bytes) -> str:
    """The default article id: a short hash of the source bytes."""
    return hashlib.sha256(data).hexdigest()[:20]


def _shown(label: object) -> str:
    return repr(str(label)[:60])


def web_encoding(label: object, *, where: str = "charset") -> str:
    """The WHATWG encoding name (e.g. "windows-1252") a label stands for (`where` names the label's
    origin in messages: "charset", "charset declared in the article", ...).

    Raises InputError (one line) for a label that is not one of the Encoding Standard's (such as
    "unicode_escape", "undefined", "utf-7" or "latin_1"), and for labels of the replacement encoding
    (ISO-2022-KR, HZ-GB-2312, ...), which cannot be decoded without losing the text."""
    if not isinstance(label, str):
        raise InputError(f"{where} must be a string, not {type(label).__name__}")
    found = webencodings.lookup(label)
    if found is None:
        raise InputError(f"unknown {where} {_shown(label)}: not an encoding of the web (use a label of the "
                         f"WHATWG Encoding Standard, e.g. {WEB_EXAMPLES})")
    if found.name == "replacement":
        raise InputError(f"{where} {_shown(label)} cannot be decoded without loss (the WHATWG Encoding "
                         "Standard reads it as the replacement encoding)")
    return found.name


def python_codec(encoding: str) -> str:
    """The Python codec name that decodes and encodes the WHATWG `encoding` (a name web_encoding gave)."""
    name = _PYTHON_CODEC.get(encoding)
    if name is None:
        found = webencodings.lookup(encoding)
        if found is None or found.name == "replacement":
            raise InputError(f"{_shown(encoding)} is not an encoding of the web")
        name = found.codec_info.name
    return codecs.lookup(name).name


def web_codec(label: object, *, where: str = "charset") -> str:
    """The Python codec for a declared label: web_encoding, then python_codec. InputError as web_encoding."""
    return python_codec(web_encoding(label, where=where))


def _document_label(data: bytes) -> str | None:
    """The label an XML declaration or a <meta charset> in the first 4 KB declares, if any."""
    head = data[:4096]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return m.group(1).decode("ascii") if m else None


def _document_encoding(label: str) -> str:
    """A label declared inside the document, as the HTML prescan reads it: UTF-16 is read as UTF-8 (a
    document that can be read for its label is not UTF-16), x-user-defined as windows-1252."""
    name = web_encoding(label, where="charset declared in the article")
    return {"utf-16le": "utf-8", "utf-16be": "utf-8", "x-user-defined": "windows-1252"}.get(name, name)


def exact(data: bytes, codec: str) -> str | None:
    """`data` decoded with the Python `codec` when that gives the same bytes back when encoded; else None."""
    try:
        text = data.decode(codec, errors="strict")
        return text if text.encode(codec, errors="strict") == data else None
    except (UnicodeError, LookupError):
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
    """Decode an article: its BOM (which wins), else UTF-8 (recorded as the given or declared
    encoding when the bytes are all ASCII, which read the same in it), else `declared_charset` (a WHATWG label,
    from --charset or the HTTP header), else the label the document declares (<meta charset>, an XML
    declaration), else detection. A UTF-16 or ISO-2022-JP label is tried before UTF-8 (their bytes can
    be valid UTF-8 and mean something else).

    Every label is read through the WHATWG label table, and an encoding is used only when it gives
    the bytes back exactly. Raises InputError with a plain reason (one line) when the article is over
    `max_bytes`, empty, binary, has a BOM its bytes do not follow, is given or (with no charset given)
    declares a label that is not an encoding of the web, or no web encoding decodes it exactly."""
    if max_bytes is not None and len(data) > max_bytes:
        raise InputError(
            f"article is {len(data):,} bytes, over the limit of {max_bytes:,} (ARCHIVER_MAX_ARTICLE_BYTES)"
        )
    if not data.strip():
        raise InputError("article is empty")
    if data.startswith(_UTF32_BOMS):
        raise InputError("article starts with a UTF-32 byte-order mark; UTF-32 is not an encoding of the web "
                         "(WHATWG Encoding Standard): convert it to UTF-8")
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _with_bom(data, codec)
    given = web_codec(declared_charset) if declared_charset is not None else None
    label = _document_label(data)
    declared = None
    if label is not None:
        try:
            declared = python_codec(_document_encoding(label))
        except InputError:
            if given is None:  # a given charset overrides what the document declares
                raise
            label = None
    # UTF-16 and ISO-2022-JP text can be valid UTF-8 too (a NUL every other byte; escape sequences
    # in 7-bit bytes) but means something else: when a label names one of them, it is tried first.
    for codec in (given, declared):
        if codec in _NOT_ASCII and (text := exact(data, codec)) is not None:
            return DecodedArticle(text, codec)
    if given is not None and given.startswith("utf-16"):
        raise InputError(f"article is not valid {declared_charset} (given): its length is odd or it holds "
                         "unpaired surrogates")
    text = exact(data, "utf-8")
    if text is not None:
        # All-ASCII bytes read the same in every ASCII-compatible encoding: the one given or declared is
        # kept, since a browser reads the page in it, and so must what is written into it later (a
        # restored card's characters it lacks become character references, not UTF-8 bytes).
        if data.isascii():
            for codec in (given, declared):
                if codec is not None and exact(data, codec) == text:
                    return DecodedArticle(text, codec)
        return DecodedArticle(text, "utf-8")
    if _looks_binary(data):
        raise InputError("article looks like binary data, not text or HTML")
    tried: list[str] = []
    if given is not None:
        text = exact(data, given)
        if text is not None:
            return DecodedArticle(text, given)
        tried.append(f"{declared_charset} (given)")
    if declared is not None:
        text = exact(data, declared)
        if text is not None:
            return DecodedArticle(text, declared)
        tried.append(f"{label} (declared)")
    found = _detected(data)
    if found is not None:
        return found
    what = f"does not decode exactly as {' or '.join(tried)}" if tried else "declares no charset"
    raise InputError(f"article is not valid UTF-8, {what}, and no detected encoding of the web decodes it "
                     "byte for byte: give its charset with --charset")


def _with_bom(data: bytes, codec: str) -> DecodedArticle:
    try:
        # The BOM stays in the text (U+FEFF), so encoding the text gives back the same bytes.
        return DecodedArticle(data.decode(codec, errors="strict"), codec)
    except UnicodeDecodeError as exc:
        name = {"utf-8": "UTF-8", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}[codec]
        raise InputError(f"article has a {name} byte-order mark but is not valid {name} "
                         f"({exc.reason} at byte {exc.start:,})") from None


def _detected(data: bytes) -> DecodedArticle | None:
    """The detector's best guess when it is an encoding of the web that decodes `data` exactly."""
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000]).best()
    if best is None:
        return None
    name = webencodings.lookup(best.encoding) or webencodings.lookup(best.encoding.replace("_", "-"))
    if name is None:
        by_codec = {python_codec(n): n for n in _DETECTABLE}
        try:
            guess = by_codec.get(codecs.lookup(best.encoding).name)
        except LookupError:
            guess = None
    else:
        guess = name.name
    if guess is None or guess in _NOT_DETECTED:
        return None
    codec = python_codec(guess)
    text = exact(data, codec)
    return DecodedArticle(text, codec) if text is not None else None


_DETECTABLE = tuple(sorted({e for e in webencodings.LABELS.values()} - _NOT_DETECTED))


def charset_param(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value ("text/html; charset=UTF-8" -> "UTF-8")."""
    m = re.search(r"""(?i);\s*charset\s*=\s*["']?([^"';\s]{1,60})""", content_type or "")
    return m.group(1) if m else None


def decode_xml(data: bytes, content_type: str | None = None, *, what: str = "feed") -> str:
    """An XML document (a feed) as text, the encoding chosen as for the web: its BOM, else the charset
    of its Content-Type header, else its XML declaration (UTF-16 read as UTF-8), else UTF-8.

    Raises InputError (one line naming `what`) for a label that is not an encoding of the web, a
    replacement-encoding label, a UTF-32 BOM, or bytes the chosen encoding does not decode."""
    if data.startswith(_UTF32_BOMS):
        raise InputError(f"{what} starts with a UTF-32 byte-order mark; UTF-32 is not an encoding of the web")
    codec = next((c for bom, c in _BOMS if data.startswith(bom)), None)
    if codec is None:
        header = charset_param(content_type)
        if header is not None:
            codec = web_codec(header, where=f"charset in the {what}'s HTTP header")
        else:
            m = _XML_ENCODING.match(data[:4096])
            label = m.group(1).decode("ascii") if m else None
            codec = python_codec(web_encoding(label, where=f"encoding declared in the {what}")
                                 if label is not None else "utf-8")
            codec = "utf-8" if codec.startswith("utf-16") else codec
    try:
        return data.decode(codec, errors="strict")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not valid {codec} ({exc.reason} at byte {exc.start:,})") from None


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
