"""The kinds of value a command line holds, each checked by argparse as it is parsed.

A value that is not of its kind (a port out of range, a URL that is not absolute http(s), a directory
where a file is expected, a limit below 1) is refused before the command runs: argparse's one line on
stderr, exit 2 (archiver/cli/main.py keeps it to one line). Every message quotes what the user typed
through `shown`: cut to a readable length and with control characters escaped, so a hostile or
pasted-by-mistake value cannot garble a terminal or flood a log.

This module is imported by the parser (archiver/cli/arguments.py), which `archiver --help` builds, so it
imports nothing heavy.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

from archiver.article.decode import web_encoding
from archiver.cli.output import printable
from archiver.errors import InputError
from archiver.lazyre import lazy
from archiver.providers import registry
from archiver.redact import redact_url
from archiver.storage.layout import PROVIDER_RE, filed_post_id

MAX_URL = 2048
SHOWN = 60
# The rule of archiver.steps.prepare.check_article_id (that module is too heavy for the parser to
# import); tests/test_cli_errors.py checks that both accept and refuse the same ids.
ARTICLE_ID_RE = lazy(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def shown(value: object, limit: int = SHOWN) -> str:
    """`value` quoted for a one-line message: escaped as all output is (archiver.cli.output.printable:
    ESC as ``\\u001b``), cut to `limit` characters with "…" when longer, in single quotes."""
    return "'" + printable(value, limit) + "'"


def _bad(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


def http_url(value: str) -> str:
    """An absolute http(s) URL with a host, at most MAX_URL (2048) characters, no whitespace or control
    character, no user name or password (``user:secret@``: it would be stored and shown as the article's
    URL), its host a DNS name or an IP literal (`valid_host`); the value itself. ArgumentTypeError
    otherwise."""
    if len(value) > MAX_URL:
        raise _bad(f"{shown(value)} is {len(value):,} characters long; a URL may have at most {MAX_URL}")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise _bad(f"{shown(value)} holds a space or a control character: not a URL")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise _bad(f"{shown(value)} is not a well-formed URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise _bad(f"{shown(value)} is not an absolute http(s) URL (like https://news.example/story)")
    if "@" in parts.netloc:
        raise _bad(f"{shown(redact_url(value))} holds a user name or password (user:password@): give the "
                   "article's public URL")
    if not valid_host(host):
        raise _bad(f"{shown(value)}: {shown(host)} is not a host name (letters, digits and hyphens between dots) "
                   "or an IP address")
    return value


_LABEL_RE = lazy(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def valid_host(host: str) -> bool:
    """Whether `host` (as urlsplit's hostname gives it: lower case, no brackets) is an IP address literal
    or a DNS name: labels of 1-63 letters, digits and hyphens, not starting or ending with a hyphen, at
    most 253 characters in all once IDNA-encoded (an internationalized name such as ``उदाहरण.भारत`` is
    taken in its ``xn--`` form); a final dot is allowed."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return False
    labels = ascii_host.removesuffix(".").split(".")
    return len(ascii_host) <= 253 and all(_LABEL_RE.fullmatch(label) for label in labels) \
        and not labels[-1].isdigit()


def article_source(value: str) -> str:
    """What an article is read from: ``-`` (stdin), an http(s) URL (`http_url`) or a file (`existing_file`)."""
    if value == "-":
        return value
    if value.lower().startswith(("http://", "https://")):
        return http_url(value)
    scheme = _SCHEME_RE.match(value)
    if scheme and not os.path.exists(value):  # ftp://, file:///, javascript:, mailto: ... (not C:\ paths)
        raise _bad(f"{shown(value)}: {scheme.group(1).lower()}: URLs are not read; an article is read from an "
                   "http(s) URL, a file path or - (stdin)")
    return existing_file(value)


# A URL's scheme (RFC 3986 3.1) of two characters or more: a one-letter one would be a drive letter.
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


def existing_file(value: str) -> str:
    """A path to a readable regular file; the value itself. ArgumentTypeError for a path that is
    missing, a directory, a FIFO, a device or a socket, or unreadable (stdin is ``-`` where a command
    reads it)."""
    if not value:
        raise _bad("an empty path")
    try:
        st = os.stat(value)
    except FileNotFoundError:
        raise _bad(f"{shown(value)}: no such file") from None
    except NotADirectoryError:
        raise _bad(f"{shown(value)}: a part of the path is a file, not a directory") from None
    except OSError as exc:
        raise _bad(f"{shown(value)}: {exc.strerror or type(exc).__name__}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _bad(f"{shown(value)} is a directory; give a file")
    if not stat.S_ISREG(st.st_mode):
        raise _bad(f"{shown(value)} is not a regular file")
    if not os.access(value, os.R_OK):
        raise _bad(f"{shown(value)}: permission denied (not readable)")
    return value


def existing_dir_parent(value: str) -> str:
    """A file path whose folder exists, is a directory and is writable, and that is not itself a
    directory; the value itself. ArgumentTypeError otherwise."""
    path = Path(value)
    if not value or path.is_dir():
        raise _bad(f"{shown(value)} is a directory; give a file path inside one")
    parent = path.absolute().parent
    if not parent.exists():
        raise _bad(f"{shown(value)}: no such directory {shown(str(parent))}")
    if not parent.is_dir():
        raise _bad(f"{shown(value)}: {shown(str(parent))} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _bad(f"{shown(value)}: the directory {shown(str(parent))} is not writable")
    return value


# The largest whole number an option takes: a signed 64-bit integer, what SQLite and PostgreSQL take as
# a parameter (a limit or an offset beyond it was an OverflowError deep in the catalog).
MAX_WHOLE = (1 << 63) - 1


def _integer(value: str) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise _bad(f"{shown(value)} is not a whole number") from None
    if abs(n) > MAX_WHOLE:
        raise _bad(f"{shown(value)} is too large (at most {MAX_WHOLE})")
    return n


def at_least_one(value: str) -> int:
    """A whole number of at least 1 (a limit, a count, a version). ArgumentTypeError otherwise."""
    n = _integer(value)
    if n < 1:
        raise _bad(f"{n} is below 1")
    return n


def not_negative(value: str) -> int:
    """A whole number of at least 0 (an offset). ArgumentTypeError otherwise."""
    n = _integer(value)
    if n < 0:
        raise _bad(f"{n} is below 0")
    return n


def _finite(value: str, *, above: float, inclusive: bool) -> float:
    """A finite number above `above` (or equal to it when `inclusive`); ArgumentTypeError otherwise."""
    try:
        x = float(value)
    except ValueError:
        raise _bad(f"{shown(value)} is not a number") from None
    if not (x >= above if inclusive else x > above) or x == float("inf"):
        raise _bad(f"{shown(value)} must be a number {'of' if inclusive else 'above'} {above:g}"
                   f"{' or more' if inclusive else ''}")
    return x


def not_negative_float(value: str) -> float:
    """A finite number of 0 or more (seconds). ArgumentTypeError otherwise."""
    return _finite(value, above=0, inclusive=True)


def positive_float(value: str) -> float:
    """A finite number above 0 (days, seconds). ArgumentTypeError otherwise."""
    return _finite(value, above=0, inclusive=False)


def port(value: str) -> int:
    """A TCP port, 1-65535. ArgumentTypeError otherwise."""
    n = _integer(value)
    if not 1 <= n <= 65535:
        raise _bad(f"{n} is not a TCP port (1-65535)")
    return n


def charset(value: str) -> str:
    """A label of the WHATWG Encoding Standard (archiver.article.decode.web_encoding); the label as given.
    ArgumentTypeError for an unknown label or one read as the replacement encoding."""
    try:
        web_encoding(value)
    except InputError as exc:
        raise _bad(str(exc)) from None
    return value


def article_id(value: str) -> str:
    """An article id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, no '..'.
    ArgumentTypeError otherwise."""
    if not ARTICLE_ID_RE.fullmatch(value) or ".." in value:
        raise _bad(f"article id {shown(value)} must be 1-128 characters of letters, digits, '.', '_' or '-'")
    return value


def post_ref(value: str) -> str:
    """``provider/post_id`` (e.g. twitter/20), the post id as the platform writes it (Telegram's
    telegram/durov/43) or as storage files it (telegram/durov:43); the value with the filed id
    (``layout.filed_post_id``). ArgumentTypeError otherwise."""
    provider, slash, post_id = value.partition("/")
    filed = filed_post_id(post_id)
    if not slash or not PROVIDER_RE.fullmatch(provider) or filed is None:
        raise _bad(f"{shown(value)} is not provider/post_id (like twitter/1945048830047662087)")
    return f"{provider}/{filed}"


def provider(value: str) -> str:
    """The name of a registered provider (twitter, instagram, ...: archiver.providers.registry), in any
    case; the name in lower case. ArgumentTypeError naming the known ones otherwise (the same line as the
    query's provider: filter)."""
    known = registry.names()
    if value.lower() not in known:
        raise _bad(f"unknown provider {shown(value)}: one of {', '.join(known)}")
    return value.lower()
