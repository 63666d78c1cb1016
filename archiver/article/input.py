"""What a face hands to the pipeline: one article as received, with what its sender declared.

Every face (the CLI's `archive`, `submit` and `extract`, the publish hook, the feed poller) builds one
`ArticleInput`, and it travels unchanged through Intake (in-process, or as the fields of the queued
task) to `prepare`. Before it existed each face passed loose arguments and two of them got lost on
the way: `submit --charset` and the format when intake fell back to archiving in-process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from archiver.article.decode import DecodedArticle, decode_article, web_encoding
from archiver.discover.scan import FORMATS
from archiver.errors import InputError
from archiver.storage.layout import sha256_hex


@dataclass(frozen=True, slots=True)
class ArticleInput:
    """One article's bytes as received, and what its sender declared about them.

    data: the bytes, untouched (they are stored and rewritten byte for byte).
    url: where the article is published (an absolute http(s) URL), or None.
    base_url: what relative links resolve against (absolute http(s)); `url` when None.
    charset: the charset the bytes are in when they have no BOM (it wins over the document's own
        declaration and over detection, as an HTTP charset does in a browser): a label of the WHATWG
        Encoding Standard ("windows-1252", "shift_jis", ...; a Python-only codec name is refused).
    format: "auto", "html", "markdown" or "text": how discovery reads the text.
    published_at: when the sender says it was published, as the sender wrote it.
    url_trusted: whether `url` (else `base_url`) is vouched for, not merely claimed: archiver fetched
        the article from it (its final URL after redirects), or the operator gave it (the CLI, a
        library caller). Only then does the article's registrable domain get the own-site politeness
        limits (archiver.capture.ownsite; a configured own_sites domain gets them either way). False for
        a URL that came with the article's bytes in an API, webhook or feed payload.

    Raises InputError (a one-line reason) when a field is malformed; the bytes themselves are
    judged when decoded (`decode`).
    """

    data: bytes
    url: str | None = None
    base_url: str | None = None
    charset: str | None = None
    format: str = "auto"
    published_at: str | None = None
    url_trusted: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise InputError(f"article must be bytes, not {type(self.data).__name__}")
        for name in ("url", "base_url"):
            value = getattr(self, name)
            if value is not None and not is_http_url(value):
                raise InputError(f"{name.replace('_', ' ')} {value!r} is not an absolute http(s) URL")
        if self.charset is not None:
            web_encoding(self.charset)  # InputError unless an encoding of the web
        if self.format not in FORMATS:
            raise InputError(f"unknown format {self.format!r}: use one of {', '.join(FORMATS)}")
        if not isinstance(self.url_trusted, bool):
            raise InputError(f"url_trusted must be a bool, not {type(self.url_trusted).__name__}")
        if self.published_at is not None and not isinstance(self.published_at, str):
            raise InputError(f"published_at must be a string, not {type(self.published_at).__name__}")
        for name in ("url", "base_url", "charset", "published_at"):
            value = getattr(self, name)
            if value is not None:
                utf8_body(value, what=name.replace("_", " "))  # stored as UTF-8 JSON: no lone surrogate

    @classmethod
    def of(cls, article: ArticleInput | bytes, *, url: str | None = None, base_url: str | None = None,
           charset: str | None = None, format: str = "auto", url_trusted: bool = False) -> ArticleInput:
        """`article` itself, or bytes wrapped with the given fields (a shorthand for library callers)."""
        if isinstance(article, ArticleInput):
            return article
        return cls(article, url=url, base_url=base_url, charset=charset, format=format, url_trusted=url_trusted)

    @property
    def base(self) -> str | None:
        """The URL relative links resolve against: base_url, else url, else None."""
        return self.base_url or self.url

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes: the source's name in storage."""
        return sha256_hex(self.data)

    def decode(self, max_bytes: int | None = None) -> DecodedArticle:
        """The text (BOM, then this charset, then the document's declaration, then UTF-8 and detection).

        Raises InputError when the article is over `max_bytes`, empty, binary or undecodable."""
        return decode_article(self.data, self.charset, max_bytes=max_bytes)


def utf8_body(text: str, *, what: str = "the article body") -> bytes:
    """`text` as UTF-8 bytes (how a face turns text it received, such as a JSON string, into an article).

    Raises InputError (one line) when it holds an unpaired surrogate (JSON allows "\\ud800"), which
    is not a character and no encoding can store."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} holds an unpaired surrogate (U+{ord(text[exc.start]):04X} at character "
                         f"{exc.start:,}), which is not text in any encoding") from None


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def is_http_url(value: object) -> bool:
    """Whether `value` is an absolute http(s) URL (a string with that scheme and a host, and no control
    character: a NUL, a newline or DEL is in no URL a browser sends, and no catalog column takes NUL)."""
    if not isinstance(value, str) or _CONTROL.search(value):
        return False
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)
