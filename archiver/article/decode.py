"""Articles: decoding bytes to text as browsers do, and a small cache of decoded sources.

Spans from discovery are code-point offsets into the decoded text, and a rewrite is encoded back
with the same encoding, so every byte outside the replaced spans stays identical.

The encoding is chosen as the WHATWG HTML and Encoding Standards choose it: a byte-order mark, else
the charset given (``--charset``, an HTTP header), else the document's declaration (an XML
declaration, else the HTML prescan of the first 1024 bytes, html5lib's implementation of it), and
only when nothing is declared UTF-8 and then a detector's guess. Every label goes through the
Encoding Standard's label table (the ``webencodings`` package), so a label such as
``unicode_escape``, ``rot13``, ``base64``, ``idna``, ``utf-7`` or ``undefined`` names nothing and is an
InputError. Each encoding decodes as the standard's decoder: where Python's codec leaves bytes
undefined that the standard maps (windows-1252's 0x81/0x8D/0x8F/0x90/0x9D and the other windows-125x
and windows-874 C1 bytes, gbk's 0x80) a wider codec registered here is used (``x-cp1252``, ...,
``dos-874``, ``x-gbk``: names that are WHATWG labels of the same encoding), and where Python's decodes
otherwise (KOI8-U, x-user-defined) the registered one always is (``koi8-ru``, ``x-user-defined``).
Bytes a declared encoding does not decode are kept as U+10FF00 + byte under ``x-keep-<name>`` (the
browser shows U+FFFD there). An encoding is used only when it gives the bytes back exactly (decode,
then encode, is the identity) and its encoder is stateless at ASCII (every web encoding but
ISO-2022-JP is; ISO-2022-JP is checked by the round trip), so a splice over markup changes no other byte.
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
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]{0,100}encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})""")
_PRESCAN_BYTES = 1024  # the HTML prescan reads at most this much (WHATWG HTML, "prescan a byte stream")

# --- the web's codecs --------------------------------------------------------------------------------
# Where Python's codec for a WHATWG encoding decodes fewer bytes, or other characters, than the
# Encoding Standard's index: the byte -> code point entries that differ (checked against the standard's
# indexes). windows-874 and windows-125x map their unassigned bytes in 0x80-0x9F to the C1 control of
# the same number; Python's cp874/cp125x leave them undefined.
_C1 = frozenset(range(0x80, 0xA0))
_SINGLE_BYTE = {
    # WHATWG name: (the codec's name, a label of the same encoding Python does not know; Python codec;
    #               {byte: code point} beyond Python's table)
    "windows-874": ("dos-874", "cp874", {}),
    "windows-1250": ("x-cp1250", "cp1250", {}),
    "windows-1251": ("x-cp1251", "cp1251", {}),
    "windows-1252": ("x-cp1252", "cp1252", {}),
    "windows-1253": ("x-cp1253", "cp1253", {}),
    "windows-1254": ("x-cp1254", "cp1254", {}),
    "windows-1255": ("x-cp1255", "cp1255", {0xCA: 0x05BA}),
    "windows-1257": ("x-cp1257", "cp1257", {}),
    "windows-1258": ("x-cp1258", "cp1258", {}),
    "koi8-u": ("koi8-ru", "koi8-u", {0xAE: 0x045E, 0xBE: 0x040E}),
    "x-user-defined": ("x-user-defined", "ascii", {b: 0xF780 + b - 0x80 for b in range(0x80, 0x100)}),
}
_GBK = "x-gbk"  # WHATWG gbk: the gb18030 decoder (0x80 is the euro sign), and the euro sign encodes to 0x80
_KEEP = "x-keep-"  # + a WHATWG name: that encoding, with bytes it does not decode kept (KEPT_BASE below)
_CODECS: dict[str, codecs.CodecInfo] = {}
_HANDLERS_LOCK = threading.Lock()


def _single_byte_codec(name: str, base: str, extra: dict[int, int], fill_c1: bool) -> codecs.CodecInfo:
    table = []
    for b in range(256):
        try:
            ch = bytes([b]).decode(base)
        except UnicodeDecodeError:
            ch = chr(b) if fill_c1 and b in _C1 else "\ufffe"  # charmap's "undefined"
        table.append(chr(extra[b]) if b in extra else ch)
    decoding = "".join(table)
    encoding_map = codecs.charmap_build(decoding)

    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        return codecs.charmap_encode(text, errors, encoding_map)

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        return codecs.charmap_decode(data, errors, decoding)

    class IncrementalEncoder(codecs.IncrementalEncoder):
        def encode(self, text: str, final: bool = False) -> bytes:
            return codecs.charmap_encode(text, self.errors, encoding_map)[0]

    class IncrementalDecoder(codecs.IncrementalDecoder):
        def decode(self, data: bytes, final: bool = False) -> str:  # type: ignore[override]
            return codecs.charmap_decode(data, self.errors, decoding)[0]

    return codecs.CodecInfo(encode, decode, name=name, incrementalencoder=IncrementalEncoder,
                            incrementaldecoder=IncrementalDecoder)


# A byte a declared encoding does not decode is kept in the text as the code point KEPT_BASE + byte
# (U+10FF00-U+10FFFF, the end of plane 16's private use area: valid text that JSON, the catalog and
# every later step take as it is, and that no article is expected to hold; the round trip check refuses
# one that does), and encodes back to that byte.
KEPT_BASE = 0x10FF00
KEPT = re.compile("[\U0010ff00-\U0010ffff]+")
_KEEP_DECODE = "archiver-keep-decode"


def _keep_decode(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(KEPT_BASE + b) for b in exc.object[exc.start:exc.end]), exc.end


codecs.register_error(_KEEP_DECODE, _keep_decode)


def _handler(errors: str) -> str:
    """The name of an error handler that decodes a lone 0x80 to the euro sign (gbk), then does `errors`."""
    name = f"archiver-gbk-euro+{errors}"
    with _HANDLERS_LOCK:
        try:
            codecs.lookup_error(name)
            return name
        except LookupError:
            pass
        then = codecs.lookup_error(errors)

        def gbk_euro(exc: UnicodeError) -> tuple[str | bytes, int]:
            if isinstance(exc, UnicodeDecodeError) and exc.object[exc.start] == 0x80:
                return "\u20ac", exc.start + 1
            return then(exc)

        codecs.register_error(name, gbk_euro)
        return name


def _gbk_codec() -> codecs.CodecInfo:
    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        return b"\x80".join(part.encode("gb18030", errors) for part in text.split("\u20ac")), len(text)

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        return codecs.decode(data, "gb18030", _handler(errors)), len(data)

    return codecs.CodecInfo(encode, decode, name=_GBK)


def _keep_codec(name: str, base: str) -> codecs.CodecInfo:
    """`base`, except that a byte it cannot decode becomes KEPT_BASE + the byte when decoding strictly,
    and encodes back to that byte: a declared encoding the bytes do not wholly follow is still the one
    the text is read and written in (a browser shows U+FFFD there; decoding with errors="replace" gives
    that), and the bytes come back exactly."""
    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        out, pos = [], 0
        for m in KEPT.finditer(text):
            out += [codecs.encode(text[pos:m.start()], base, errors), bytes(ord(c) - KEPT_BASE for c in m.group())]
            pos = m.end()
        out.append(codecs.encode(text[pos:], base, errors))
        return b"".join(out), len(text)

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        return codecs.decode(data, base, _KEEP_DECODE if errors == "strict" else errors), len(data)

    return codecs.CodecInfo(encode, decode, name=name)


def _search(name: str) -> codecs.CodecInfo | None:
    # Python hands search functions the name lower-cased, with "-" (and spaces) as "_".
    key = name.lower().replace("-", "_").replace(" ", "_")
    found = _CODECS.get(key)
    if found is None and key.startswith("x_keep_"):
        rest = key[len("x_keep_"):]
        web = webencodings.lookup(rest) or webencodings.lookup(rest.replace("_", "-"))
        if web is not None and web.name not in {"replacement", "utf-16le", "utf-16be"}:
            base = _WIDER.get(web.name) or python_codec(web.name)
            found = _CODECS.setdefault(key, _keep_codec(_KEEP + web.name, base))
    return found


for _web, (_name, _base, _extra) in _SINGLE_BYTE.items():
    _CODECS[_name.replace("-", "_")] = _single_byte_codec(_name, _base, _extra, fill_c1=_web != "x-user-defined")
_CODECS[_GBK.replace("-", "_")] = _gbk_codec()
codecs.register(_search)

# The Python codec for a WHATWG encoding whose Python codec (webencodings' choice) decodes some byte
# to another character than the standard's decoder does: always this one.
# (gbk is decoded with the gb18030 decoder, as the standard's gbk decoder is that one.)
_PYTHON_CODEC = {"gbk": "gb18030", "koi8-u": "koi8-ru", "x-user-defined": "x-user-defined"}
# Where Python's codec only leaves bytes undefined that the standard decodes, the codec that decodes
# them too: tried when Python's own does not give the bytes back (so the text, and a plan's encoding
# name, stay what they were for every article Python's codec reads).
_WIDER = {web: name for web, (name, _, _) in _SINGLE_BYTE.items() if web not in _PYTHON_CODEC} | {"gbk": _GBK,
                                                                                               "gb18030": _GBK}
# Encodings a detector may propose: every web encoding but UTF-16 (only a BOM or a label selects
# it), the replacement encoding and x-user-defined.
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


def codecs_for(encoding: str) -> list[str]:
    """The Python codecs that decode the WHATWG `encoding` as the standard does, to try in turn:
    python_codec's, then (windows-874, windows-125x, gbk) the one that also decodes the bytes Python's
    leaves undefined (the C1 controls; gbk's 0x80, the euro sign)."""
    first = python_codec(encoding)
    wider = _WIDER.get(encoding)
    return [first, codecs.lookup(wider).name] if wider else [first]


def web_codec(label: object, *, where: str = "charset") -> str:
    """The Python codec for a declared label: web_encoding, then python_codec. InputError as web_encoding."""
    return python_codec(web_encoding(label, where=where))


def _document_label(data: bytes) -> str | None:
    """The label the document declares: an XML declaration at its start, else what the WHATWG HTML
    "prescan a byte stream to determine its encoding" finds in its first 1024 bytes (comments skipped,
    only real <meta> attributes read: charset, or http-equiv="content-type" with a content charset;
    html5lib's EncodingParser is that algorithm). A label there that names no encoding is passed over
    as the prescan does when a later <meta> names one; when none does, that label is returned (and
    refused as not an encoding of the web) rather than the article being read as something else."""
    m = _XML_ENCODING.match(data[:4096])
    if m:
        return m.group(1).decode("ascii")
    parser = _prescan_parser()(data[:_PRESCAN_BYTES])
    found = parser.getEncoding()
    if found is not None:
        return str(found.name)
    return parser.junk


_PRESCANNER: type | None = None


def _prescan_parser() -> type:
    """html5lib's prescan (loaded on first use), noting the first label of a real <meta> that names no
    encoding (`junk`)."""
    global _PRESCANNER
    if _PRESCANNER is None:
        from html5lib._inputstream import ContentAttrParser, EncodingBytes, EncodingParser

        class Prescan(EncodingParser):  # type: ignore[misc]
            junk: str | None = None
            _meta = False

            def handleMeta(self) -> bool:
                self._meta = True
                try:
                    return bool(super().handleMeta())
                finally:
                    self._meta = False

            def getAttribute(self) -> tuple[bytes, bytes] | None:
                attr = super().getAttribute()
                if self._meta and attr is not None and self.junk is None:
                    label = (attr[1] if attr[0] == b"charset" else
                             ContentAttrParser(EncodingBytes(attr[1])).parse() if attr[0] == b"content" else None)
                    if label and webencodings.lookup(label.decode("latin-1")) is None:
                        self.junk = label.decode("latin-1")[:60]
                return attr

        _PRESCANNER = Prescan
    return _PRESCANNER


def _document_encoding(label: str) -> str:
    """A label declared inside the document, as the HTML prescan reads it: UTF-16 is read as UTF-8 (a
    document that can be read for its label is not UTF-16), x-user-defined as windows-1252."""
    name = web_encoding(label, where="charset declared in the article")
    return {"utf-16le": "utf-8", "utf-16be": "utf-8", "x-user-defined": "windows-1252"}.get(name, name)


def same_encoding(a: str, b: str) -> bool:
    """Whether two codec names (a plan's or version's `encoding`) read and write bytes alike for a
    text that either decoded exactly: the same name, or the same web encoding where one is the wider
    codec of the other ("cp1252" and "x-cp1252"); ``x-keep-`` codecs only equal themselves."""
    return a == b or (web_name(a) == web_name(b) and a.startswith(_KEEP) == b.startswith(_KEEP))


def web_name(codec: str) -> str:
    """The WHATWG name of the encoding a Python codec name (a plan's or version's `encoding`) stands
    for, for a charset parameter ("x-cp1252" and "cp1252" -> "windows-1252", "x-keep-utf-8" ->
    "utf-8"); the codec name itself when it is not a web encoding's."""
    name = str(codec).lower()
    if name.startswith(_KEEP):
        name = name[len(_KEEP):]
    if name in ("utf-16-le", "utf-16-be", "utf_16_le", "utf_16_be"):   # Python's names; WHATWG's have no inner "-"
        return "utf-16" + name[-2:]
    found = webencodings.lookup(name) or webencodings.lookup(name.replace("_", "-"))
    if found is None:
        try:
            py = codecs.lookup(name).name
        except LookupError:
            return str(codec)
        found = next((webencodings.lookup(w) for w, (n, b, _) in _SINGLE_BYTE.items() if py in (n, b)), None)
        found = found or next((webencodings.lookup(w) for w in _DETECTABLE if _base_codec(w) == py), None)
    return found.name if found is not None else str(codec)


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
    """Decode an article as a browser does: its BOM (which wins), else `declared_charset` (a WHATWG
    label, from --charset or the HTTP header), else the label the document declares (an XML
    declaration, else the HTML prescan of its first 1024 bytes for <meta charset>), else, only when
    nothing is declared, UTF-8 and then detection.

    A declared encoding is used even when some bytes are not valid in it (a browser shows U+FFFD for
    them): those bytes are kept in the text as U+10FF00 + byte and the codec is ``x-keep-<name>``, so
    encoding the text still gives the same bytes. Every label is read through the WHATWG label table,
    and an encoding is used only when it gives the bytes back exactly. Raises InputError with a plain
    reason (one line) when the article is over `max_bytes`, empty, binary, has a BOM its bytes do not
    follow, is given or (with no charset given) declares a label that is not an encoding of the web
    (or the replacement encoding), or no web encoding decodes it exactly."""
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
    if declared_charset is not None:
        encoding, shown = web_encoding(declared_charset), f"{declared_charset} (given)"
    else:
        label = _document_label(data)
        encoding = _document_encoding(label) if label is not None else None
        shown = f"{label} (declared)"
    if encoding is not None:
        for codec in codecs_for(encoding):
            text = exact(data, codec)
            if text is not None:
                return DecodedArticle(text, codec)
        if encoding.startswith("utf-16"):
            raise InputError(f"article is not valid {shown}: its length is odd or it holds unpaired "
                             "surrogates")
        if _looks_binary(data):
            raise InputError("article looks like binary data, not text or HTML")
        text = exact(data, _KEEP + encoding)
        if text is not None:
            return DecodedArticle(text, codecs.lookup(_KEEP + encoding).name)
        raise InputError(f"article does not decode as {shown} in a way that gives its bytes back: give "
                         "its charset with --charset")
    text = exact(data, "utf-8")
    if text is not None:
        return DecodedArticle(text, "utf-8")
    if _looks_binary(data):
        raise InputError("article looks like binary data, not text or HTML")
    found = _detected(data)
    if found is not None:
        return found
    raise InputError("article is not valid UTF-8, declares no charset, and no detected encoding of the web "
                     "decodes it byte for byte: give its charset with --charset")


def _with_bom(data: bytes, codec: str) -> DecodedArticle:
    try:
        # The BOM stays in the text (U+FEFF), so encoding the text gives back the same bytes.
        return DecodedArticle(data.decode(codec, errors="strict"), codec)
    except UnicodeDecodeError as exc:
        name = {"utf-8": "UTF-8", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}[codec]
        raise InputError(f"article has a {name} byte-order mark but is not valid {name} "
                         f"({exc.reason} at byte {exc.start:,})") from None


def _base_codec(encoding: str) -> str:
    """Python's own codec for a WHATWG encoding (webencodings' choice), as codecs.lookup names it."""
    found = webencodings.lookup(encoding)
    return codecs.lookup(found.codec_info.name).name if found is not None else encoding


def _detected(data: bytes) -> DecodedArticle | None:
    """The detector's best guess when it is an encoding of the web that decodes `data` exactly."""
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000]).best()
    if best is None:
        return None
    name = webencodings.lookup(best.encoding) or webencodings.lookup(best.encoding.replace("_", "-"))
    if name is None:
        by_codec = {_base_codec(n): n for n in _DETECTABLE}
        try:
            guess = by_codec.get(codecs.lookup(best.encoding).name)
        except LookupError:
            guess = None
    else:
        guess = name.name
    if guess is None or guess in _NOT_DETECTED:
        return None
    for codec in codecs_for(guess):
        text = exact(data, codec)
        if text is not None:
            return DecodedArticle(text, codec)
    return None


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
        wider = _WIDER.get(web_name(codec))
        if wider is not None and (text := exact(data, wider)) is not None:
            return text
        raise InputError(f"{what} is not valid {codec} ({exc.reason} at byte {exc.start:,})") from None


class SourceCache:
    """The article sources this process decoded last, by key (``<article id>:<source sha256>:<codec>``,
    archiver.steps.prepare.source_cache_key: a source planned again in another encoding is decoded again).

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
