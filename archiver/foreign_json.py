"""JSON from outside archiver (a platform's answer, JSON inside an article's markup) read into values that
can always be stored.

JSON may spell a lone UTF-16 surrogate (``"\\ud83d"`` without its pair; RFC 8259 section 8.2 calls such
strings not valid Unicode and leaves their handling open), and Python's decoder keeps it, also from
bytes that encode one (``ED A0 80``). Such a string cannot be written as UTF-8: a post whose text held
one could not be stored, and a URL holding one could not be fetched. Every reader of outside JSON goes
through `loads`, which replaces each lone surrogate by U+FFFD (the replacement character, as a UTF-8
decoder does with a bad byte) and keeps surrogate pairs as the character they spell; a test keeps the
discovery and provider modules off ``json.loads``. JSON that archiver wrote itself (manifests, records)
is read with ``json.loads``.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A lone surrogate can come only from a \uD800-\uDFFF escape or from surrogate code points already in
# the text (or, in bytes, their 3-byte encodings ED A0-BF xx); JSON without either is returned as parsed.
_MAY_HOLD_STR = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_MAY_HOLD_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(data: bytes | str) -> Any:
    """`data` (a JSON text; bytes in UTF-8, -16 or -32 as ``json.loads`` detects) as Python values, with
    every string (object keys too) free of lone surrogates: each one becomes U+FFFD, a pair spelled as
    two escapes or two code points becomes its character.

    Object keys that differ only in their lone surrogates become one key (the last value kept), and
    bytes that spell a pair as two 3-byte sequences (CESU-8) give the pair's character.

    Raises ValueError (``json.JSONDecodeError``, or ``UnicodeDecodeError`` for bytes in no Unicode
    encoding) when `data` is not JSON, also when it nests deeper than the decoder's recursion limit
    (where ``json.loads`` raises RecursionError).
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    if isinstance(data, str):
        may_hold = _MAY_HOLD_STR.search(data) is not None
    elif json.detect_encoding(data).startswith("utf-8"):
        may_hold = _MAY_HOLD_BYTES.search(data) is not None
    else:  # UTF-16 or -32: an escape's bytes are spread out; walk the values
        may_hold = True
    return _mended(value) if may_hold else value


def mend_text(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD and each surrogate pair joined into its
    character; `text` itself when it holds no surrogate."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _mended(value: Any) -> Any:
    """`value` (parsed JSON: dicts, lists, scalars) with `mend_text` applied to every string, walked
    without recursion (the parsed value may be as deep as the decoder allowed)."""
    if isinstance(value, str):
        return mend_text(value)
    if not isinstance(value, (dict, list)):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, at = stack.pop()
        node = container[at]
        if isinstance(node, str):
            container[at] = mend_text(node)
        elif isinstance(node, list):
            stack.extend((node, i) for i in range(len(node)))
        elif isinstance(node, dict):
            if any(isinstance(k, str) and _SURROGATE.search(k) for k in node):
                mended = {mend_text(k): v for k, v in node.items()}
                node.clear()
                node.update(mended)
            stack.extend((node, k) for k in node)
    return root[0]
