"""Articles: decoding bytes to text as browsers do, and a small cache of decoded sources.

Spans from discovery are code-point offsets into the decoded text, and a rewrite is encoded back
with the same encoding, so every byte outside the replaced spans stays identical.

The encoding is chosen as the WHATWG HTML and Encoding Standards choose it: a byte-order mark, else
the charset given (``--charset``, an HTTP header: charset_param reads a Content-Type as WHATWG's MIME
type parsing does), else the document's declaration as the HTML "prescan a byte stream to determine its
encoding" finds it (after whatwg/html#1752): an XML declaration in UTF-16 without a BOM (``<\\0?\\0x\\0``,
``\\0<\\0?\\0x``) means UTF-16LE/BE; else a <meta> in the first 1024 bytes (html5lib's implementation of
the prescan loop); else the XML declaration ("get an XML encoding"); and only when nothing is declared
UTF-8 and then a detector's guess. Every label goes through the Encoding Standard's label table (the
``webencodings`` package), so a label such as ``unicode_escape``, ``rot13``, ``base64``, ``idna``,
``utf-7`` or ``undefined`` names nothing and is an InputError. Each encoding decodes as the standard's
decoder: where Python's codec leaves bytes undefined that the standard maps (windows-1252's
0x81/0x8D/0x8F/0x90/0x9D and the other windows-125x and windows-874 C1 bytes, gbk's 0x80) a wider codec
registered here is used (``x-cp1252``, ..., ``dos-874``, ``x-gbk``: names that are WHATWG labels of the
same encoding), and where Python's decodes otherwise (KOI8-U, x-user-defined; Shift_JIS, whose single
bytes 0xA0 and 0xFD-0xFF cp932 reads as private-use characters where the standard has errors;
ISO-2022-JP) the registered one always is (``koi8-ru``, ``x-user-defined``, ``x-sjis``,
``x-iso-2022-jp``). Bytes a declared encoding does not decode are kept as U+10FF00 + byte under
``x-keep-<name>`` (the browser shows U+FFFD there), and so are pairs a multibyte codec decodes to a
character it writes as other bytes (cp932's NEC and IBM rows, big5-hkscs and gbk duplicates). An
encoding is used only when it gives the bytes back exactly (decode, then encode, is the identity).
ISO-2022-JP is stateful: its codec here leaves out of the text the escape sequences its encoder writes
itself and keeps the others (ESC ( J back from kanji, ESC $ @, ...) as their bytes, and its encoder
writes spliced text in the state the bytes around it are in (see _Iso2022Jp), so a splice over markup
changes no other byte. Binary data (WHATWG MIME Sniffing's signatures and binary data bytes) is refused:
see looks_binary.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import webencodings

from archiver.errors import InputError
from archiver.lazyre import lazy

# The byte-order marks the WHATWG decode algorithm honours (the BOM wins over every label), with the
# codec that keeps the mark as U+FEFF in the text, so encoding the text gives the very same bytes.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
# The HTML prescan's "prescan for UTF-16 XML declarations": `<?x` in UTF-16LE or UTF-16BE, no BOM.
_UTF16_XML = ((b"<\x00?\x00x\x00", "utf-16le"), (b"\x00<\x00?\x00x", "utf-16be"))
_XML_ENCODING_NAME = lazy(rb"encoding", re.IGNORECASE)
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


# The lead bytes of the double-byte decoders, by Python codec. Where the standard's decoder meets a lead
# byte and then a byte that makes no character, it drops both unless the second is ASCII; Python's
# drops only the lead and reads the next byte as the start of a character.
_LEAD_BYTES = {name: frozenset(leads) for names, leads in (
    (("cp932", "shift_jis"), [*range(0x81, 0xA0), *range(0xE0, 0xFD)]),
    (("euc_jp",), [0x8E, *range(0xA1, 0xFF)]),
    (("cp949", "euc_kr", "big5hkscs", "big5", "gb18030", "gbk"), range(0x81, 0xFF))) for name in names}


_KEPT_TEXT = {b: KEPT_BASE + b for b in range(256)}
_KEPT_BYTES = {KEPT_BASE + b: b for b in range(256)}
# Python's surrogateescape error handler writes a byte >= 0x80 it cannot decode as U+DC00 + byte.
_ESCAPED = re.compile("[\udc80-\udcff]+")
_ESCAPED_KEPT = {0xDC00 + b: KEPT_BASE + b for b in range(0x80, 0x100)}
_KEPT_ESCAPED = {KEPT_BASE + b: 0xDC00 + b for b in range(0x80, 0x100)}
# Text the surrogateescape shortcut of an x-keep- encoder would write otherwise than it does: a lone
# surrogate it would write as a byte (the encoder refuses it), a kept ASCII byte it cannot write.
_ESCAPED_OR_KEPT_ASCII = re.compile("[\udc80-\udcff\U0010ff00-\U0010ff7f]")


def _swapped(text: str, runs: re.Pattern[str], table: dict[int, int]) -> str:
    """`text` with the characters `runs` finds (runs of them) translated by `table`: run by run when
    there are few, else the whole text in one call (both in C; linear in the text)."""
    found = 0
    for _ in runs.finditer(text):
        found += 1
        if found > 64:
            return text.translate(table)
    return runs.sub(lambda m: m.group().translate(table), text) if found else text


# The WHATWG encodings of more than one byte a character (UTF-16 and ISO-2022-JP have codecs of their own).
_MULTI_BYTE = frozenset({"gbk", "gb18030", "big5", "euc-jp", "shift_jis", "euc-kr"})


def kept_text(raw: bytes) -> str:
    """Bytes kept in a text: each as the code point KEPT_BASE + byte."""
    return raw.decode("latin-1").translate(_KEPT_TEXT)


def kept_bytes(text: str) -> bytes:
    """The bytes kept in `text`, a run of code points KEPT_BASE + byte (the inverse of kept_text)."""
    return text.translate(_KEPT_BYTES).encode("latin-1")


# A decode reads at most this many byte sequences one at a time in Python: bytes kept because the
# encoding does not decode them, and characters a Python codec leaves undefined that the standard reads
# (gbk's 0x80, EUC-JP's NEC and IBM rows). Everything else is read by Python's C codecs; without the bound
# a hostile page of errors in a multibyte encoding took several seconds a megabyte. Past it, exact()
# raises OverDecodeLimit (the article's error says so).
MAX_ONE_BY_ONE = 200_000
_BUDGET = threading.local()


class _OneByOneBudget:
    """Within it, this thread's Python error handlers of this module read at most MAX_ONE_BY_ONE byte
    sequences, then raise OverDecodeLimit."""

    def __enter__(self) -> None:
        self.outer = getattr(_BUDGET, "left", None)
        _BUDGET.left = MAX_ONE_BY_ONE

    def __exit__(self, *exc: object) -> None:
        _BUDGET.left = self.outer


class _NotCounted:
    """Within it, this thread's byte sequences read one by one are not counted: bytes read again (a
    second pass over the same bytes, counted in the first) and tables built once per process."""

    def __enter__(self) -> None:
        _BUDGET.paused = getattr(_BUDGET, "paused", 0) + 1

    def __exit__(self, *exc: object) -> None:
        _BUDGET.paused -= 1


def _spend(exc: UnicodeDecodeError) -> None:
    """Count one byte sequence read one by one (`exc` says where); OverDecodeLimit when the budget is
    spent."""
    left = getattr(_BUDGET, "left", None)
    if left is None or getattr(_BUDGET, "paused", 0):
        return
    if left <= 0:
        raise OverDecodeLimit(str(exc.encoding), exc.object, exc.start, exc.end,
                              f"over {MAX_ONE_BY_ONE:,} bytes or characters that its codec does not read "
                              "as the Encoding Standard does")
    _BUDGET.left = left - 1


def _keep_decode(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _spend(exc)
    end, data = exc.end, exc.object
    if (end == exc.start + 1 and end < len(data) and data[end] >= 0x80
            and data[exc.start] in _LEAD_BYTES.get(str(exc.encoding), ())):
        end += 1  # the byte after the lead is an error with it, as the standard's decoder reads them
    return kept_text(bytes(data[exc.start:end])), end


codecs.register_error(_KEEP_DECODE, _keep_decode)


def _chained(name: str, first: Callable[[UnicodeError], tuple[str | bytes, int] | None], errors: str) -> str:
    """The name of an error handler (registered once per process, under `name`) that tries `first`,
    then, when it gives None, does `errors` (codecs' handler of that name)."""
    with _HANDLERS_LOCK:
        try:
            codecs.lookup_error(name)
            return name
        except LookupError:
            pass
        then = codecs.lookup_error(errors)

        def handler(exc: UnicodeError) -> tuple[str | bytes, int]:
            found = first(exc)
            if found is None:
                return then(exc)  # type: ignore[no-any-return]
            if isinstance(exc, UnicodeDecodeError):
                _spend(exc)
            return found

        codecs.register_error(name, handler)
        return name


def _gbk_euro(exc: UnicodeError) -> tuple[str | bytes, int] | None:
    """A lone 0x80 decoded to the euro sign (gbk, as WHATWG's decoder reads it)."""
    if isinstance(exc, UnicodeDecodeError) and exc.object[exc.start] == 0x80:
        return "\u20ac", exc.start + 1
    return None


def _handler(errors: str) -> str:
    """The name of an error handler that decodes a lone 0x80 to the euro sign (gbk), then does `errors`."""
    return _chained(f"archiver-gbk-euro+{errors}", _gbk_euro, errors)


def _gbk_codec() -> codecs.CodecInfo:
    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        return b"\x80".join(part.encode("gb18030", errors) for part in text.split("\u20ac")), len(text)

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        return codecs.decode(data, "gb18030", _handler(errors)), len(data)

    return codecs.CodecInfo(encode, decode, name=_GBK)


# --- multibyte codecs: bytes Python's codec reads otherwise than the standard, and pairs it writes back
# otherwise. cp932 (Python's codec for Shift_JIS) decodes the single bytes 0xA0 and 0xFD-0xFF to private
# use characters, where the standard's Shift_JIS decoder gives an error (U+FFFD): ``x-sjis`` (a WHATWG
# label of Shift_JIS) is cp932 with those bytes errors. And some pairs decode to a character whose
# encoding is another pair (cp932's NEC and IBM rows, e.g. 0x8790 and 0x81E0 both U+2252; big5-hkscs;
# gb18030's 0xA2E3 and 0x80, both U+20AC): read as the browser reads them, they do not give the bytes
# back, so ``x-keep-<name>`` keeps such a pair, and a byte the standard does not decode, as its bytes.
_SJIS = "x-sjis"
_SJIS_ERRORS = frozenset(bytes([b]) for b in (0xA0, 0xFD, 0xFE, 0xFF))  # single bytes, not trail bytes
_SJIS_PRIVATE = lazy("[\uf8f0-\uf8f3]")  # what cp932 decodes them to
# How the standard's decoders split bytes into characters (a run of ASCII bytes is one token here).
_TOKENS = {
    "shift_jis": lazy(rb"[\x00-\x7f]+|[\x81-\x9f\xe0-\xfc][\x40-\x7e\x80-\xfc]|[\x80-\xff]"),
    "big5": lazy(rb"[\x00-\x7f]+|[\x81-\xfe][\x40-\x7e\xa1-\xfe]|[\x80-\xff]"),
    "gbk": lazy(rb"[\x00-\x7f]+|[\x81-\xfe][\x30-\x39][\x81-\xfe][\x30-\x39]|[\x81-\xfe][\x40-\x7e\x80-\xfe]"
                      rb"|[\x80-\xff]"),
}
_TOKENS["gb18030"] = _TOKENS["gbk"]
_TOKENS["euc-jp"] = lazy(rb"[\x00-\x7f]+|\x8f[\xa1-\xfe][\xa1-\xfe]|[\x8e\xa1-\xfe][\xa1-\xfe]|[\x80-\xff]")
_ODD_PAIRS: dict[str, frozenset[bytes]] = {}
_ODD_PAIRS_LOCK = threading.Lock()


def _odd_pairs(codec: str) -> frozenset[bytes]:
    """The two-byte sequences (and EUC-JP's three-byte ones) `codec` decodes to a character that it
    encodes otherwise (computed once)."""
    with _ODD_PAIRS_LOCK, _NotCounted():
        found = _ODD_PAIRS.get(codec)
        if found is None:
            odd = set()
            pairs = [bytes([lead, trail]) for lead in range(0x81, 0xFF) for trail in range(0x40, 0xFF)]
            if codec == _EUC_JP:
                pairs += [b"\x8f" + pair for pair in pairs if pair[0] >= 0xA1 and pair[1] >= 0xA1]
            for pair in pairs:
                try:
                    if pair.decode(codec).encode(codec) != pair:
                        odd.add(pair)
                except UnicodeError:
                    continue
            found = _ODD_PAIRS[codec] = frozenset(odd)
    return found


def _alternatives(strings: list[bytes]) -> bytes:
    """A regular expression matching exactly one of `strings` (non-empty byte strings), as a tree of
    their common leading bytes, so the engine tests one byte at a time instead of each string in turn."""
    by_first: dict[int, list[bytes]] = {}
    for s in strings:
        by_first.setdefault(s[0], []).append(s[1:])
    alts = []
    for first, rests in sorted(by_first.items()):
        ends, longer = b"" in rests, [r for r in rests if r]
        rest = _alternatives(longer) if longer else b""
        alts.append(re.escape(bytes([first])) + (b"(?:" + rest + b")?" if ends and rest else rest))
    return b"(?:" + b"|".join(alts) + b")"


_MARKED_SCANNERS: dict[tuple[bytes, frozenset[bytes]], tuple[re.Pattern[bytes], re.Pattern[bytes]]] = {}


def _marked_scanner(tokens: re.Pattern[bytes], marked: frozenset[bytes]) -> tuple[re.Pattern[bytes],
                                                                                 re.Pattern[bytes]]:
    """(scan, one): `scan.match(data, pos)`, from a token boundary `pos`, skips the tokens (as `tokens`
    splits bytes) not in `marked` and matches the next run of tokens in `marked` as group 1 (None when
    there is none); `one` matches one token in `marked`. Each string in `marked` must be a whole token
    wherever it stands (checked once, ValueError otherwise), so looking for it at each token boundary
    finds what splitting by `tokens` finds; the skipping is atomic, so the engine never splits the
    bytes otherwise than `tokens` does."""
    key = (tokens.pattern, marked)
    found = _MARKED_SCANNERS.get(key)
    if found is None:
        # Whether a string is a whole token wherever it stands: tested with every continuation up to
        # the longest token (4 bytes), one byte of each stretch of bytes the token classes treat alike
        # (each class is written with \xHH bounds, so those bounds and the bytes after them start them).
        bounds = {int(h, 16) for h in re.findall(rb"\\x([0-9a-f]{2})", tokens.pattern)}
        alike = bytes(sorted({0} | bounds | {b + 1 for b in bounds if b < 0xFF}))

        def whole(s: bytes) -> bool:
            return bool(tokens.fullmatch(s)) and all(
                tokens.match(s + bytes(tail)).end() == len(s)  # type: ignore[union-attr]
                for n in range(1, 5 - len(s)) for tail in itertools.product(alike, repeat=n))

        if not all(s and whole(s) for s in marked):
            raise ValueError("a marked string is not always one token")  # (a programming error)
        one = _alternatives(sorted(marked)) if marked else rb"(?!)"  # (nothing marked: never matches)
        found = (re.compile(rb"(?:(?!" + one + rb")(?>" + tokens.pattern + rb"))*+((?:" + one + rb")++)"),
                 re.compile(one))
        _MARKED_SCANNERS[key] = found
    return found


def _decode_marking(data: bytes, codec: str, errors: str, tokens: re.Pattern[bytes], marked: frozenset[bytes],
                    name: str) -> str:
    """`data` decoded with `codec` (`errors` for its errors), each token (as `tokens` splits the bytes)
    that is in `marked` being an error for `errors` instead (a linear scan by the regular expression
    engine; a run of such tokens is kept in one step)."""
    handler = codecs.lookup_error(errors)
    scan, one = _marked_scanner(tokens, marked)
    out, done = [], 0

    def part(end: int) -> str:
        try:
            with _NotCounted():  # (its errors were counted when the bytes were read before marking)
                return data[done:end].decode(codec, errors)
        except OverDecodeLimit:
            raise
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError(exc.encoding, data, done + exc.start, done + exc.end, exc.reason) from None

    while (m := scan.match(data, done)) is not None:
        start, end = m.span(1)
        out.append(part(start))
        if errors == _KEEP_DECODE:
            _spend(UnicodeDecodeError(name, data, start, end, "not decoded by the standard"))
            out.append(kept_text(data[start:end]))
        else:
            for t in one.finditer(data, start, end):
                replacement, _ = handler(UnicodeDecodeError(name, data, t.start(), t.end(),
                                                            "not decoded by the standard"))
                out.append(str(replacement))
        done = end
    out.append(part(len(data)))
    return "".join(out)


def _sjis_codec() -> codecs.CodecInfo:
    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        return codecs.encode(text, "cp932", errors), len(text)

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        data = bytes(data)
        try:
            text = codecs.decode(data, "cp932", errors)
        except OverDecodeLimit:
            raise
        except UnicodeDecodeError:  # (strict: the marking pass below says where)
            text = None
        if text is not None and not _SJIS_PRIVATE.search(text):
            return text, len(data)
        return _decode_marking(data, "cp932", errors, _TOKENS["shift_jis"], _SJIS_ERRORS, _SJIS), len(data)

    return codecs.CodecInfo(encode, decode, name=_SJIS)


# EUC-JP: the standard reads its JIS X 0208 pairs with index jis0208 (as Shift_JIS and ISO-2022-JP), where
# Python's euc_jp has the JIS mappings of six characters and leaves the NEC and IBM rows undefined.
_EUC_JP = "x-euc-jp"  # a WHATWG label of EUC-JP


def _jis0208_pair(exc: UnicodeError) -> tuple[str | bytes, int] | None:
    """A JIS X 0208 pair of index jis0208 that Python's euc_jp leaves undefined, read or written."""
    jis, first = _jis0208()
    if isinstance(exc, UnicodeDecodeError):
        pair = bytes(exc.object[exc.start:exc.start + 2])
        ch = jis.get(bytes(b & 0x7F for b in pair)) if len(pair) == 2 and min(pair) >= 0xA1 else None
        if ch is not None:
            return ch, exc.start + 2
    elif isinstance(exc, UnicodeEncodeError) and exc.object[exc.start] in first:
        return bytes(b | 0x80 for b in first[exc.object[exc.start]]), exc.start + 1
    return None


def _euc_jp_handler(errors: str, encoding: bool) -> str:
    """An error handler that reads (or writes) a JIS X 0208 pair of index jis0208 that Python's euc_jp
    leaves undefined, then does `errors`."""
    return _chained(f"archiver-euc-jp-{'encode' if encoding else 'decode'}+{errors}", _jis0208_pair, errors)


def _euc_jp_codec() -> codecs.CodecInfo:
    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        return codecs.encode(text.translate(_JIS_UNFIX), "euc_jp", _euc_jp_handler(errors, True)), len(text)

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        return codecs.decode(data, "euc_jp", _euc_jp_handler(errors, False)).translate(_JIS_FIX), len(data)

    return codecs.CodecInfo(encode, decode, name=_EUC_JP)


def _keep_codec(name: str, base: str, web: str) -> codecs.CodecInfo:
    """`base`, except that a byte it cannot decode becomes KEPT_BASE + the byte when decoding strictly,
    and encodes back to that byte: a declared encoding the bytes do not wholly follow is still the one
    the text is read and written in (a browser shows U+FFFD there; decoding with errors="replace" gives
    that), and the bytes come back exactly."""
    simple = web not in _MULTI_BYTE  # UTF-8 and the single-byte encodings: errors read in C

    def encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
        if simple and errors == "strict" and not _ESCAPED_OR_KEPT_ASCII.search(text):
            return codecs.encode(_swapped(text, KEPT, _KEPT_ESCAPED), base, "surrogateescape"), len(text)
        out, pos = [], 0
        for m in KEPT.finditer(text):
            out += [codecs.encode(text[pos:m.start()], base, errors), kept_bytes(m.group())]
            pos = m.end()
        out.append(codecs.encode(text[pos:], base, errors))
        return b"".join(out), len(text)

    def decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
        if errors != "strict":
            return codecs.decode(data, base, errors), len(data)
        if simple:
            # Python's surrogateescape writes each byte of an error as U+DC00 + byte, in C, where
            # _keep_decode writes KEPT_BASE + byte; for these encodings it keeps the same bytes (its
            # errors never take a lead byte's next byte along), so only the code points differ.
            try:
                text = codecs.decode(data, base, "surrogateescape")
            except UnicodeDecodeError:  # an error holding an ASCII byte: not expected, read as below
                pass
            else:
                return _swapped(text, _ESCAPED, _ESCAPED_KEPT), len(data)
        text = codecs.decode(data, base, _KEEP_DECODE)
        tokens = _TOKENS.get(web)
        if tokens is not None and encode(text)[0] != data:  # pairs written back otherwise: kept
            marked = _odd_pairs(base) | (_SJIS_ERRORS if web == "shift_jis" else frozenset())
            text = _decode_marking(bytes(data), base, _KEEP_DECODE, tokens, marked, name)
        return text, len(data)

    return codecs.CodecInfo(encode, decode, name=name)


# --- ISO-2022-JP: a stateful encoding, read as the standard's decoder reads it, written back exactly ----
# The Encoding Standard's decoder switches state at each escape sequence (ESC ( B: ASCII, ESC ( J: JIS X
# 0201 Roman, where 0x5C is U+00A5 and 0x7E U+203E; ESC ( I: katakana; ESC $ @ and ESC $ B: JIS X 0208,
# index jis0208, the index Shift_JIS uses, so cp932 gives it) and outputs nothing for it. Many pages write
# escapes an encoder would not (ESC ( J back from kanji, ESC $ @, escapes with nothing between), so
# re-encoding the decoded text does not give the bytes back. The codec here writes the escape sequences
# its encoder would write itself, and keeps each escape it would not, in the text, as its bytes
# (U+10FF00 + byte, as a byte no decoder maps is kept): decoding then encoding gives the bytes back, and
# text spliced in is written in the state the bytes around it are in, returning to it after.
#
# The encoder (`_Iso2022Jp.encode`): the "base" state is ASCII at the start and the state of the last
# kept escape after it. A character the base state holds is written in it (first switching back to it);
# else one the current state holds is written in it; else it is written after an escape to the state
# that holds it (ASCII before Roman for ASCII characters, JIS X 0208 written as the last kept escape to it
# was, ESC $ B before any). At the end it switches back from katakana or JIS X 0208 to an ASCII or Roman
# base state. An escape in the bytes is
# "implied" (left out of the text) when the encoder writes exactly it there; the decoder checks that,
# and, should its check and the encoder ever disagree, keeps every escape (which always round-trips).
_ASCII, _ROMAN, _KATAKANA, _JIS = 0, 1, 2, 3
_ESCAPES = {b"\x1b(B": _ASCII, b"\x1b(J": _ROMAN, b"\x1b(I": _KATAKANA, b"\x1b$@": _JIS, b"\x1b$B": _JIS}
_ESCAPE_OF = {_ASCII: b"\x1b(B", _ROMAN: b"\x1b(J", _KATAKANA: b"\x1b(I"}
_ESCAPE = lazy(rb"\x1b(?:\([BJI]|\$[@B])")
_ISO2022JP_RUNS = (lazy(rb"[^\x0e\x0f\x1b\x80-\xff]+"), lazy(rb"[^\x0e\x0f\x1b\x80-\xff]+"),
                   lazy(rb"[\x21-\x5f]+"), lazy(rb"(?:[\x21-\x7e][\x21-\x7e])+"))
_MAX_TOKENS = 1_000_000


class OverDecodeLimit(UnicodeDecodeError):
    """Bytes a codec of this module will not read exactly because they are over one of its bounds (an
    ISO-2022-JP page with more than _MAX_TOKENS escape sequences and errors; more than MAX_ONE_BY_ONE
    byte sequences read one at a time), not because they are not in its encoding: the article's error
    says so instead of suggesting another charset."""
_ISO2022JP_ERRORS = (lazy(rb"[\x0e\x0f\x80-\xff]+"), lazy(rb"[\x0e\x0f\x80-\xff]+"),
                     lazy(rb"[^\x1b\x21-\x5f]+"), lazy(rb"[^\x1b\x21-\x7e]+"))
_SINGLE_BYTE_RUN = {_ASCII: lazy("[^\x0e\x0f\x1b\x80-\U0010ffff]+"),
                    _ROMAN: lazy("[^\x0e\x0f\x1b\\\\~\x80-\U0010ffff]+")}
_ROMAN_ENCODE = {"\u00a5": b"\x5c", "\u203e": b"\x7e"}
_TEXT_RUN = lazy("([\U0010ff00-\U0010ffff]+)|([\x00-\x7f]+)|([^\x00-\x7f\U0010ff00-\U0010ffff]+)")
_JIS0208: tuple[dict[bytes, str], dict[str, bytes]] | None = None
_JIS_LATIN1: dict[int, str] = {}  # character -> its two bytes as Latin-1 text (str.translate, then encode)
# Python's iso2022_jp reads JIS X 0208 with the JIS mappings of these six; index jis0208 (cp932) otherwise.
_JIS_FIX = str.maketrans("\u301c\u2016\u2212\xa2\xa3\xac", "\uff5e\u2225\uff0d\uffe0\uffe1\uffe2")
_JIS_UNFIX = {v: k for k, v in _JIS_FIX.items()}  # (EUC-JP: written back with Python's euc_jp)
_KATAKANA_TEXT = {b: chr(0xFF61 - 0x21 + b) for b in range(0x21, 0x60)}
_ROMAN_TEXT = {0x5C: "\u00a5", 0x7E: "\u203e"}
_JIS_BYTES = lazy("[\x21-\x7e]*")


def _jis0208() -> tuple[dict[bytes, str], dict[str, bytes]]:
    """index jis0208 as (two ISO-2022-JP bytes -> character, character -> the bytes of its first
    pointer), from cp932 (whose pairs decode as the Encoding Standard's Shift_JIS decoder does)."""
    global _JIS0208
    if _JIS0208 is None:
        decode: dict[bytes, str] = {}
        encode: dict[str, bytes] = {}
        for pointer in range(94 * 94):
            lead, trail = divmod(pointer, 188)
            sjis = bytes([lead + (0x81 if lead < 0x1F else 0xC1), trail + (0x40 if trail < 0x3F else 0x41)])
            try:
                ch = sjis.decode("cp932")
            except UnicodeDecodeError:
                continue
            jis = bytes([pointer // 94 + 0x21, pointer % 94 + 0x21])
            decode[jis] = ch
            encode.setdefault(ch, jis)
        _JIS_LATIN1.update({ord(ch): jis.decode("latin-1") for ch, jis in encode.items()})
        _JIS0208 = (decode, encode)
    return _JIS0208


def _jis_text(raw: bytes) -> str | None:
    """Pairs of JIS X 0208 bytes as index jis0208 reads them, when each is the first pointer of its
    character (Python's C decoder, then the six mappings it differs in); None otherwise."""
    try:
        return (b"\x1b$B" + raw).decode("iso2022_jp").translate(_JIS_FIX)
    except UnicodeDecodeError:
        return None  # NEC and IBM rows: read pair by pair


def _holds(ch: str, state: int) -> bool:
    """Whether ISO-2022-JP `state` writes the character `ch`."""
    o = ord(ch)
    if state == _ASCII:
        return o < 0x80 and o not in (0x0E, 0x0F, 0x1B)
    if state == _ROMAN:
        return (o < 0x80 and o not in (0x0E, 0x0F, 0x1B, 0x5C, 0x7E)) or ch in _ROMAN_ENCODE
    if state == _KATAKANA:
        return 0xFF61 <= o <= 0xFF9F
    return ch in _jis0208()[1]


def _target(ch: str) -> int | None:
    """The state the encoder switches to for `ch` (one neither the base nor the current state holds)."""
    for state in (_ASCII, _ROMAN, _KATAKANA, _JIS):
        if _holds(ch, state):
            return state
    return None


@dataclass(slots=True)
class _Token:
    kind: str  # "text" (in `state`), "escape" (to `state`), "error" (bytes no decoder maps), "odd" (a pair
    #            index jis0208 maps to a character whose first pointer is another)
    raw: bytes
    start: int
    text: str = ""
    state: int = _ASCII


def _iso2022jp_tokens(data: bytes) -> list[_Token] | None:
    """`data` split as the Encoding Standard's ISO-2022-JP decoder reads it; None past _MAX_TOKENS tokens
    (escape sequences, runs of text and errors: an article has thousands; bounded work)."""
    jis, first = _jis0208()
    tokens: list[_Token] = []
    state, pos, n = _ASCII, 0, len(data)
    while pos < n:
        if len(tokens) > _MAX_TOKENS:
            return None
        m = _ISO2022JP_RUNS[state].match(data, pos)
        if m:
            raw = m.group()
            fast = _jis_text(raw) if state == _JIS else None
            if fast is not None:
                tokens.append(_Token("text", raw, pos, fast, state))
            elif state == _JIS:
                chars = [jis.get(raw[i:i + 2]) for i in range(0, len(raw), 2)]
                done = 0  # consecutive pairs that are text make one token
                for i, ch in enumerate(chars):
                    pair = raw[2 * i:2 * i + 2]
                    if ch is not None and first[ch] == pair:
                        continue
                    if done < i:
                        tokens.append(_Token("text", raw[2 * done:2 * i], pos + 2 * done, "".join(
                            chars[done:i]), state))  # type: ignore[arg-type]
                    tokens.append(_Token("error" if ch is None else "odd", pair, pos + 2 * i, ch or "", state))
                    done = i + 1
                if done < len(chars):
                    tokens.append(_Token("text", raw[2 * done:], pos + 2 * done, "".join(
                        chars[done:]), state))  # type: ignore[arg-type]
            else:
                text = raw.decode("ascii").translate({_ASCII: {}, _ROMAN: _ROMAN_TEXT,
                                                      _KATAKANA: _KATAKANA_TEXT}[state])
                tokens.append(_Token("text", raw, pos, text, state))
            pos = m.end()
            continue
        if data[pos] == 0x1B:
            escape = data[pos:pos + 3]
            if escape in _ESCAPES:
                state = _ESCAPES[escape]
                tokens.append(_Token("escape", escape, pos, state=state))
                pos += 3
            else:
                tokens.append(_Token("error", data[pos:pos + 1], pos))
                pos += 1
        elif state == _JIS and 0x21 <= data[pos] <= 0x7E:  # a lead byte, then ESC, another byte or the end
            end = pos + 1 if pos + 1 >= n or data[pos + 1] == 0x1B else pos + 2
            tokens.append(_Token("error", data[pos:end], pos, state=state))
            pos = end
        else:  # bytes no state reads (a run of them is one token: bounded memory)
            m = _ISO2022JP_ERRORS[state].match(data, pos)
            end = m.end() if m else pos + 1
            tokens.append(_Token("error", data[pos:end], pos))
            pos = end
    return tokens


class _Iso2022JpEncoder:
    """The encoder described above, fed characters and kept bytes in turn."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.current = self.base = _ASCII
        self.jis_escape = b"\x1b$B"

    def escape(self, state: int) -> bytes:
        return self.jis_escape if state == _JIS else _ESCAPE_OF[state]

    def switch(self, state: int) -> None:
        if self.current != state:
            self.out.append(self.escape(state))
            self.current = state

    def kept(self, raw: bytes) -> None:
        self.out.append(raw)
        for m in _ESCAPE.finditer(raw):
            self.current = self.base = _ESCAPES[m.group()]
            if self.current == _JIS:
                self.jis_escape = m.group()

    def state_for(self, ch: str) -> int | None:
        """The state `ch` is written in from here (None: none holds it), without writing anything."""
        if _holds(ch, self.base):
            return self.base
        if _holds(ch, self.current):
            return self.current
        return _target(ch)

    def char(self, ch: str, state: int) -> None:
        self.switch(state)
        if state == _JIS:
            self.out.append(_jis0208()[1][ch])
        elif state == _KATAKANA:
            self.out.append(bytes([ord(ch) - 0xFF61 + 0x21]))
        else:
            self.out.append(_ROMAN_ENCODE.get(ch) or ch.encode("ascii"))

    def ends_back(self) -> bool:
        """Whether the encoder switches back to the base state at the end (from katakana or JIS X 0208 to
        an ASCII-compatible base)."""
        return self.base in (_ASCII, _ROMAN) and self.current in (_KATAKANA, _JIS)

    def finish(self) -> bytes:
        if self.ends_back():
            self.switch(self.base)
        return b"".join(self.out)


class _Iso2022Jp:
    """The ISO-2022-JP codec (`keep`: escapes and bytes kept as U+10FF00 + byte, see above)."""

    def __init__(self, name: str, keep: bool) -> None:
        self.name, self.keep = name, keep

    def encode(self, text: str, errors: str = "strict") -> tuple[bytes, int]:
        enc = _Iso2022JpEncoder()
        for m in _TEXT_RUN.finditer(text):
            if m.group(1):
                enc.kept(kept_bytes(m.group(1)))
                continue
            run, i = m.group(), 0
            if m.group(3):
                _jis0208()
                as_jis = run.translate(_JIS_LATIN1)
                if _JIS_BYTES.fullmatch(as_jis):  # all JIS X 0208, which no other state holds
                    enc.switch(_JIS)
                    enc.out.append(as_jis.encode("latin-1"))
                    continue
            while i < len(run):
                if m.group(2) and enc.current == enc.base in (_ASCII, _ROMAN):
                    same = _SINGLE_BYTE_RUN[enc.base].match(run, i)
                    if same:  # characters the base state holds, in it: as they are
                        enc.out.append(same.group().encode("ascii"))
                        i = same.end()
                        continue
                ch = run[i]
                i += 1
                state = enc.state_for(ch)
                if state is not None:
                    enc.char(ch, state)
                    continue
                at = m.start() + i - 1
                replacement, _ = codecs.lookup_error(errors)(
                    UnicodeEncodeError(self.name, text, at, at + 1, "not in ISO-2022-JP"))
                if isinstance(replacement, bytes):
                    enc.kept(replacement)
                    continue
                for r in replacement:
                    state = enc.state_for(r)
                    if state is None:
                        raise UnicodeEncodeError(self.name, text, at, at + 1, "not in ISO-2022-JP")
                    enc.char(r, state)
        return enc.finish(), len(text)

    def decode(self, data: bytes | bytearray | memoryview, errors: str = "strict") -> tuple[str, int]:
        data = bytes(data)
        try:  # most pages: Python's C decoder reads them alike, and the encoder writes them back
            fast: str | None = data.decode("iso2022_jp").translate(_JIS_FIX)
        except UnicodeDecodeError:
            fast = None
        if fast is not None and not KEPT.search(fast) and self._gives_back(fast, data):
            return fast, len(data)
        tokens = _iso2022jp_tokens(data)
        keeping = self.keep and errors == "strict"
        if tokens is None:  # hostile: Python's decoder for a view, else not this encoding
            if errors != "strict":
                return codecs.decode(data, "iso2022_jp", errors).translate(_JIS_FIX), len(data)
            raise OverDecodeLimit(self.name, data, 0, len(data), f"over {_MAX_TOKENS:,} escape sequences "
                                  "and errors")
        if errors != "strict" and not keeping:
            return self._browser_text(data, tokens, errors), len(data)
        implied = _implied_escapes(tokens)
        text = self._text(data, tokens, implied, keeping)  # (not keeping: raises at the first kept escape)
        if not self._gives_back(text, data):
            if not keeping:
                raise UnicodeDecodeError(self.name, data, 0, len(data), "escape sequences written unusually")
            text = self._text(data, tokens, set(), keeping)  # every escape kept: always gives the bytes back
        return text, len(data)

    def _gives_back(self, text: str, data: bytes) -> bool:
        try:
            return self.encode(text)[0] == data
        except UnicodeEncodeError:
            return False

    def _text(self, data: bytes, tokens: list[_Token], implied: set[int], keeping: bool) -> str:
        out = []
        for t in tokens:
            if t.kind == "text":
                out.append(t.text)
            elif t.kind == "escape" and t.start in implied:
                continue
            elif keeping:
                out.append(kept_text(t.raw))
            else:
                reason = {"escape": "an escape sequence the encoder would not write", "odd": "a duplicate of "
                          "another pair", "error": "not in ISO-2022-JP"}[t.kind]
                raise UnicodeDecodeError(self.name, data, t.start, t.start + len(t.raw), reason)
        return "".join(out)

    def _browser_text(self, data: bytes, tokens: list[_Token], errors: str) -> str:
        """The text as the standard's decoder gives it (an escape right after another is an error)."""
        handler, out, after_escape = codecs.lookup_error(errors), [], False
        for t in tokens:
            if t.kind in ("text", "odd"):
                out.append(t.text)
            elif t.kind == "error" or after_escape:
                one = len(t.raw) == 2 and t.state == _JIS and t.raw[0] >= 0x21  # a lead byte and its trail
                for at in [t.start] if one or t.kind == "escape" else range(t.start, t.start + len(t.raw)):
                    end = t.start + len(t.raw) if one else at + 1
                    replacement, _ = handler(UnicodeDecodeError(self.name, data, at, end, "not in ISO-2022-JP"))
                    out.append(str(replacement))
            after_escape = t.kind == "escape"
        return "".join(out)

    def info(self) -> codecs.CodecInfo:
        return codecs.CodecInfo(self.encode, self.decode, name=self.name)


def _implied_escapes(tokens: list[_Token]) -> set[int]:
    """The offsets of the escape sequences the encoder writes itself (left out of the text): it follows
    the encoder through the tokens, an escape not implied being kept (and setting the base state)."""
    enc = _Iso2022JpEncoder()
    implied: set[int] = set()
    for i, t in enumerate(tokens):
        if t.kind != "escape":
            if t.kind == "text":
                enc.current = t.state  # where the encoder, in step with the bytes, writes them
            else:
                enc.kept(t.raw)
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is None:
            ok = t.state == enc.base and enc.ends_back() and t.raw == enc.escape(t.state)
        else:
            first = nxt.text[:1] if nxt.kind == "text" and nxt.state == t.state else ""
            ok = (bool(first) and t.state != enc.current and enc.state_for(first) == t.state
                  and t.raw == enc.escape(t.state)
                  and (t.state == enc.base or not any(_holds(c, enc.base) for c in set(nxt.text))))
        if ok:
            implied.add(t.start)
            enc.current = t.state
        else:
            enc.kept(t.raw)
    return implied


def _search(name: str) -> codecs.CodecInfo | None:
    # Python hands search functions the name lower-cased, with "-" (and spaces) as "_".
    key = name.lower().replace("-", "_").replace(" ", "_")
    found = _CODECS.get(key)
    if found is None and key.startswith("x_keep_"):
        rest = key[len("x_keep_"):]
        web = webencodings.lookup(rest) or webencodings.lookup(rest.replace("_", "-"))
        if web is not None and web.name == "iso-2022-jp":
            found = _CODECS.setdefault(key, _Iso2022Jp(_KEEP + web.name, keep=True).info())
        elif web is not None and web.name not in {"replacement", "utf-16le", "utf-16be"}:
            base = _WIDER.get(web.name) or python_codec(web.name)
            found = _CODECS.setdefault(key, _keep_codec(_KEEP + web.name, base, web.name))
    return found


for _web, (_name, _base, _extra) in _SINGLE_BYTE.items():
    _CODECS[_name.replace("-", "_")] = _single_byte_codec(_name, _base, _extra, fill_c1=_web != "x-user-defined")
_CODECS[_GBK.replace("-", "_")] = _gbk_codec()
_CODECS[_SJIS.replace("-", "_")] = _sjis_codec()
_CODECS[_EUC_JP.replace("-", "_")] = _euc_jp_codec()
_ISO2022JP = "x-iso-2022-jp"  # ISO-2022-JP as the standard decodes it (_Iso2022Jp)
_CODECS[_ISO2022JP.replace("-", "_")] = _Iso2022Jp(_ISO2022JP, keep=False).info()
codecs.register(_search)

# The Python codec for a WHATWG encoding whose Python codec (webencodings' choice) decodes some byte
# to another character than the standard's decoder does: always this one.
# (gbk is decoded with the gb18030 decoder, as the standard's gbk decoder is that one.)
_PYTHON_CODEC = {"gbk": "gb18030", "koi8-u": "koi8-ru", "x-user-defined": "x-user-defined",
                 "iso-2022-jp": _ISO2022JP, "shift_jis": _SJIS, "euc-jp": _EUC_JP}
# The WHATWG encoding of each codec registered here that is not named by one of its labels.
_WEB_OF = {_ISO2022JP: "iso-2022-jp"}
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


def utf16_xml_declaration(data: bytes) -> str | None:
    """"utf-16le" or "utf-16be" when `data` starts with an XML declaration in UTF-16 without a BOM (its
    first bytes are ``<\\0?\\0x\\0`` or ``\\0<\\0?\\0x``), else None: the first step of the WHATWG HTML
    "prescan a byte stream to determine its encoding" ("prescan for UTF-16 XML declarations")."""
    return next((name for pattern, name in _UTF16_XML if data.startswith(pattern)), None)


def xml_encoding_label(data: bytes) -> str | None:
    """The label an XML declaration at the very start of `data` names, as the WHATWG HTML "get an XML
    encoding" reads it: ``<?xml``, then the first ``encoding`` (any case) before the declaration's
    ``>``, optional bytes <= 0x20, ``=``, optional bytes <= 0x20, a quoted value holding no byte <= 0x20.
    None when any step fails. The label is returned as written (at most 60 characters), not looked up:
    the caller judges it. Reads at most the first 1024 bytes; never raises."""
    head = data[:_PRESCAN_BYTES]
    if not head.startswith(b"<?xml"):
        return None
    end = head.find(b">")
    if end < 0:
        return None
    m = _XML_ENCODING_NAME.search(head, 5, end)
    if m is None:
        return None
    pos = m.end()
    while pos < len(head) and head[pos] <= 0x20:
        pos += 1
    if pos >= len(head) or head[pos] != 0x3D:  # "="
        return None
    pos += 1
    while pos < len(head) and head[pos] <= 0x20:
        pos += 1
    if pos >= len(head) or head[pos] not in b"\"'":
        return None
    close = head.find(head[pos:pos + 1], pos + 1)
    if close < 0:
        return None
    label = head[pos + 1:close]
    if not label or any(b <= 0x20 for b in label):
        return None
    return label.decode("latin-1")[:60]


def _document_label(data: bytes) -> str | None:
    """The label the document declares, as the WHATWG HTML "prescan a byte stream to determine its
    encoding" (after whatwg/html#1752) finds it in the first 1024 bytes: a <meta> first (comments
    skipped, only real <meta> attributes read: charset, or http-equiv="content-type" with a content
    charset; html5lib's EncodingParser is that loop), and only when no <meta> names an encoding the XML
    declaration ("get an XML encoding"). (A UTF-16 XML declaration is found before this, by
    utf16_xml_declaration.) A label there that names no encoding is passed over as the prescan does
    when a later <meta>, or the XML declaration, names one; when none does, that label is returned (and
    refused as not an encoding of the web) rather than the article being read as something else."""
    parser = _prescan_parser()(data[:_PRESCAN_BYTES])
    found = parser.getEncoding()
    if found is not None:
        return str(found.name)
    xml = xml_encoding_label(data)
    if xml is not None and webencodings.lookup(xml) is not None:
        return xml
    return parser.junk if parser.junk is not None else xml


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
        if py in _WEB_OF:
            return _WEB_OF[py]
        found = next((webencodings.lookup(w) for w, (n, b, _) in _SINGLE_BYTE.items() if py in (n, b)), None)
        found = found or next((webencodings.lookup(w) for w in _DETECTABLE if _base_codec(w) == py), None)
    return found.name if found is not None else str(codec)


def exact(data: bytes, codec: str, *, bounded: bool = True) -> str | None:
    """`data` decoded with the Python `codec` when that gives the same bytes back when encoded; else None
    (also when the bytes are over one of the codec's bounds, or, with `bounded` False, OverDecodeLimit
    then)."""
    try:
        with _OneByOneBudget():
            text = data.decode(codec, errors="strict")
        return text if text.encode(codec, errors="strict") == data else None
    except OverDecodeLimit:
        if not bounded:
            raise
        return None
    except (UnicodeError, LookupError):
        return None


# WHATWG MIME Sniffing's binary data bytes (0x1B, ESC, is not one: ISO-2022-JP text is full of it).
_BINARY_DATA_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])
# The HTML and XML signatures of WHATWG MIME Sniffing's "identify an unknown MIME type" (after leading
# whitespace: "<!DOCTYPE HTML", "<HTML", ..., "<!--", each followed by a space or ">"; and "<?xml").
_HTML_SIGNATURE = re.compile(
    rb"[\t\n\x0c\r ]*+(?:<(?:!DOCTYPE HTML|HTML|HEAD|SCRIPT|IFRAME|H1|DIV|FONT|TABLE|A|STYLE|TITLE|B|BODY|BR|P"
    rb"|!--)[ >]|<\?xml)", re.IGNORECASE)
# Binary signatures of the same algorithm (images, audio and video, fonts, archives) and PDF: those that
# no text starts with (BMP's "BM" and similar two-letter or word-like ones are left out).
_BINARY_SIGNATURES = (b"GIF87a", b"GIF89a", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\x00\x00\x01\x00",
                      b"\x00\x00\x02\x00", b"OggS\x00", b"ID3\x02", b"ID3\x03", b"ID3\x04", b"\x1a\x45\xdf\xa3",
                      b"wOFF", b"wOF2", b"\x00\x01\x00\x00", b"\x1f\x8b\x08", b"PK\x03\x04", b"Rar!\x1a\x07\x00",
                      b"%PDF-", b"%!PS-Adobe-")
_RIFF = lazy(rb"RIFF....(?:WEBP|WAVE|AVI )", re.DOTALL)


def _binary_signature(data: bytes) -> bool:
    return data.startswith(_BINARY_SIGNATURES) or _RIFF.match(data) is not None


def looks_binary(data: bytes, *, declared: bool) -> bool:
    """Whether `data` is binary data rather than a text article, by WHATWG MIME Sniffing's rules.

    Text when it starts (after whitespace) with an HTML or XML signature ("identify an unknown MIME
    type": ``<!DOCTYPE HTML``, ``<html``, ``<p``, ``<!--`` ...; ``<?xml``), whatever else it holds.
    Binary when it starts with a binary signature (an image, audio or video, font, archive or PDF
    magic number; decode_article refuses those before any decoding). Otherwise: an article whose
    encoding is `declared` (a charset given, or declared in the document) is binary only when over 5%
    of its first 8192 bytes are binary data bytes (0x00-0x08, 0x0B, 0x0E-0x1A, 0x1C-0x1F), so a stray
    NUL does not make a page binary; an undeclared one is binary, as "the rules for distinguishing if a
    resource is text or binary" say, when its first 1445 bytes hold any binary data byte (or its first
    8192 bytes a NUL, or over 5% binary data bytes). Reads at most 8192 bytes; never raises."""
    head = data[:1445]
    if _HTML_SIGNATURE.match(head):
        return False
    if _binary_signature(head):
        return True
    sample = data[:8192]
    controls = len(sample) - len(sample.translate(None, _BINARY_DATA_BYTES))
    if declared:
        return controls > len(sample) * 0.05
    return (controls > len(sample) * 0.05 or b"\x00" in sample
            or len(head.translate(None, _BINARY_DATA_BYTES)) < len(head))


def decode_article(
    data: bytes, declared_charset: str | None = None, max_bytes: int | None = None
) -> DecodedArticle:
    """Decode an article as a browser does: its BOM (which wins), else `declared_charset` (a WHATWG
    label, from --charset or the HTTP header), else the label the document declares (an XML
    declaration as the HTML prescan of its first 1024 bytes finds it: a UTF-16 XML declaration, else
    <meta charset>, else the XML declaration), else, only when nothing is declared, UTF-8 and then
    detection.

    A declared encoding is used even when some bytes are not valid in it (a browser shows U+FFFD for
    them): those bytes are kept in the text as U+10FF00 + byte and the codec is ``x-keep-<name>``, so
    encoding the text still gives the same bytes. Every label is read through the WHATWG label table,
    and an encoding is used only when it gives the bytes back exactly. Raises InputError with a plain
    reason (one line) when the article is over `max_bytes`, empty, binary (it starts with an image,
    font, archive or PDF signature; or, when its declared encoding does not decode it, or nothing is
    declared and it is not UTF-8, looks_binary says so), has a BOM its bytes do not
    follow (UTF-16; a UTF-8 one keeps the bytes that are not UTF-8, as a declared encoding does), is
    given or (with no charset given) declares a label that is not an encoding of the web
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
    if _binary_signature(data):  # an image, a font, an archive ... whatever charset is declared
        raise InputError("article looks like binary data, not text or HTML")
    if declared_charset is not None:
        encoding, shown = web_encoding(declared_charset), f"{declared_charset} (given)"
    elif (utf16 := utf16_xml_declaration(data)) is not None:
        encoding, shown = utf16, f"{utf16} (an XML declaration in UTF-16)"
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
        if looks_binary(data, declared=True):
            raise InputError("article looks like binary data, not text or HTML")
        try:
            text = exact(data, _KEEP + encoding, bounded=False)
        except OverDecodeLimit as exc:
            raise InputError(f"article in {shown} has {exc.reason}, more than archiver reads byte for byte: "
                             "convert it to UTF-8") from None
        if text is not None:
            return DecodedArticle(text, codecs.lookup(_KEEP + encoding).name)
        raise InputError(f"article does not decode as {shown} in a way that gives its bytes back: give "
                         "its charset with --charset")
    text = exact(data, "utf-8")
    if text is not None:
        return DecodedArticle(text, "utf-8")
    if looks_binary(data, declared=False):
        raise InputError("article looks like binary data, not text or HTML")
    found = _detected(data)
    if found is not None:
        return found
    raise InputError("article is not valid UTF-8, declares no charset, and no detected encoding of the web "
                     "decodes it byte for byte: give its charset with --charset")


def _with_bom(data: bytes, codec: str) -> DecodedArticle:
    """The article in the encoding its BOM names (the BOM stays in the text as U+FEFF, so encoding the
    text gives back the same bytes). A UTF-8 article with bytes that are not UTF-8 after its BOM is
    read as one that declares UTF-8 is (a browser shows U+FFFD there): those bytes are kept
    (``x-keep-utf-8``), unless it looks binary. InputError for that, and for UTF-16 that is not
    (an odd length, unpaired surrogates)."""
    try:
        return DecodedArticle(data.decode(codec, errors="strict"), codec)
    except UnicodeDecodeError as exc:
        name = {"utf-8": "UTF-8", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}[codec]
        if codec == "utf-8":
            if looks_binary(data, declared=True):
                raise InputError("article looks like binary data, not text or HTML") from None
            text = exact(data, _KEEP + "utf-8")
            if text is not None:
                return DecodedArticle(text, codecs.lookup(_KEEP + "utf-8").name)
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


_HTTP_WHITESPACE = "\t\n\r "
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED_STRING_TOKEN = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_MAX_CONTENT_TYPE = 8192  # a header value longer than this is cut (bounded work)


def _collect(value: str, pos: int, stop: str) -> int:
    """WHATWG Infra "collect a sequence of code points" that are not in `stop`, from value[pos]: where
    the sequence ends (the first character in `stop`, or the end of `value`)."""
    end = pos
    while end < len(value) and value[end] not in stop:
        end += 1
    return end


def _quoted_string(value: str, pos: int, extract: bool) -> tuple[str, int]:
    """WHATWG Fetch "collect an HTTP quoted string" from value[pos] (a '"'): the string and the position
    after it."""
    start, out = pos, []
    pos += 1
    while True:
        end = _collect(value, pos, '"\\')
        out.append(value[pos:end])
        pos = end
        if pos >= len(value):
            break
        quote_or_backslash = value[pos]
        pos += 1
        if quote_or_backslash == "\\":
            if pos >= len(value):
                out.append("\\")
                break
            out.append(value[pos])
            pos += 1
        else:
            break
    return ("".join(out) if extract else value[start:pos]), pos


def parse_mime_type(value: str) -> tuple[str, dict[str, str]] | None:
    """WHATWG MIME Sniffing "parse a MIME type": (essence, parameters) for a MIME type string such as
    'text/html; charset="utf-8"' -> ("text/html", {"charset": "utf-8"}), or None (failure).

    Type and subtype must be HTTP tokens (lower-cased); parameter names are lower-cased; a value may be
    an HTTP quoted string (backslash escapes; text after its closing quote up to ";" is ignored) or
    runs to the next ";" (trailing whitespace removed); a parameter whose name is not a token or whose
    value holds other code points is skipped, and of a repeated name the first wins. Never raises."""
    value = value.strip(_HTTP_WHITESPACE)
    slash = value.find("/")
    if slash < 0 or not _TOKEN.fullmatch(value[:slash]):
        return None
    semi = value.find(";", slash + 1)
    end = len(value) if semi < 0 else semi
    subtype = value[slash + 1:end].rstrip(_HTTP_WHITESPACE)
    if not _TOKEN.fullmatch(subtype):
        return None
    params: dict[str, str] = {}
    pos = end
    while pos < len(value):
        pos += 1  # past ";"
        while pos < len(value) and value[pos] in _HTTP_WHITESPACE:
            pos += 1
        name_end = _collect(value, pos, ";=")
        name, pos = value[pos:name_end].lower(), name_end
        if pos < len(value):
            if value[pos] == ";":
                continue
            pos += 1  # past "="
        if pos >= len(value):
            break
        if value[pos] == '"':
            param, pos = _quoted_string(value, pos, extract=True)
            pos = _collect(value, pos, ";")
        else:
            param_end = value.find(";", pos)
            param_end = len(value) if param_end < 0 else param_end
            param, pos = value[pos:param_end].rstrip(_HTTP_WHITESPACE), param_end
            if not param:
                continue
        if name and _TOKEN.fullmatch(name) and _QUOTED_STRING_TOKEN.fullmatch(param) and name not in params:
            params[name] = param
    return f"{value[:slash].lower()}/{subtype.lower()}", params


def _split_header(value: str) -> list[str]:
    """WHATWG Fetch "get, decode, and split" of a header value: split at commas outside quoted
    strings, each part stripped of HTTP tab or space."""
    parts, pos, current = [], 0, []
    while True:
        end = _collect(value, pos, '",')
        current.append(value[pos:end])
        pos = end
        if pos < len(value) and value[pos] == '"':
            quoted, pos = _quoted_string(value, pos, extract=False)
            current.append(quoted)
            if pos < len(value):
                continue
        parts.append("".join(current).strip("\t "))
        if pos >= len(value):
            return parts
        current = []
        pos += 1  # past ","


def charset_param(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value, as WHATWG Fetch's "extract a MIME type"
    and "legacy extract an encoding" read it: 'text/html; charset="UTF-8"' -> "UTF-8". The value is
    split at commas outside quotes (headers combined), each part parsed as a MIME type
    (parse_mime_type; failures and "*/*" skipped); the last MIME type counts, and it keeps the charset of
    an earlier one of the same essence when it has none. So `charset` inside another parameter's quoted
    value is not read, the first of two charset parameters wins, and names are matched in any case.
    None when there is no charset (the label is returned as given, not looked up). Never raises."""
    if not isinstance(content_type, str) or not content_type:
        return None
    charset: str | None = None
    essence: str | None = None
    for part in _split_header(content_type[:_MAX_CONTENT_TYPE]):
        parsed = parse_mime_type(part)
        if parsed is None or parsed[0] == "*/*":
            continue
        if parsed[0] != essence:
            charset, essence = parsed[1].get("charset"), parsed[0]
        elif "charset" in parsed[1]:
            charset = parsed[1]["charset"]
    return charset


def http_charset(content_type: str | None) -> str | None:
    """The charset an HTTP Content-Type header declares, as a browser takes it (WHATWG Fetch's "legacy
    extract an encoding"): `charset_param`'s label when it names an encoding of the web, else None, so
    a label no browser knows (``charset=utf8mb4``, ``charset=none``) is ignored and the document's own
    declaration decides, as a browser reads the page. (A label given by a person, ``--charset``, is
    still refused when unknown: that is a mistake to correct.) Never raises."""
    label = charset_param(content_type)
    if label is None or webencodings.lookup(label) is None:
        return None
    return label


def decode_xml(data: bytes, content_type: str | None = None, *, what: str = "feed") -> str:
    """An XML document (a feed) as text, the encoding chosen as for the web: its BOM, else the charset
    of its Content-Type header, else its XML declaration (UTF-16 read as UTF-8), else UTF-8.

    Raises InputError (one line naming `what`) for a label that is not an encoding of the web, a
    replacement-encoding label, a UTF-32 BOM, or bytes the chosen encoding does not decode."""
    if data.startswith(_UTF32_BOMS):
        raise InputError(f"{what} starts with a UTF-32 byte-order mark; UTF-32 is not an encoding of the web")
    codec = next((c for bom, c in _BOMS if data.startswith(bom)), None)
    if codec is None:
        header = http_charset(content_type)
        if header is not None:
            codec = web_codec(header, where=f"charset in the {what}'s HTTP header")
        elif (utf16 := utf16_xml_declaration(data)) is not None:
            codec = python_codec(utf16)
        else:
            label = xml_encoding_label(data)
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
