"""Credentials out of whatever is shown: URLs, DSNs and messages that quote them.

One rule, used wherever a storage URL, catalog DSN, broker URL or endpoint is described or put in an
error message (the CLI's one-line errors, `describe()` of stores and catalogs, the web's error bodies):

- the password of a URL's userinfo becomes ``***`` (``postgresql://u:secret@h/db`` ->
  ``postgresql://u:***@h/db``; the user name stays, it helps and is not a secret);
- the value of every query or fragment parameter whose name looks like a credential (password,
  secret, token, key, signature, auth and their kin, in any case:
  ``?password=``, ``sslpassword``, ``access_key``, ``X-Amz-Signature``...) becomes ``***``
  (is_secret_name says which names);
- in free text, each URL (``scheme://...``) is redacted so, and so are libpq-style ``password=...``
  words outside URLs.

Nothing here raises: text that is not a URL comes back unchanged.
"""

from __future__ import annotations

import re

from archiver.lazyre import lazy

MASK = "***"
# A name is a credential's when it, or one of its parts between _ - . (any case), is one of these
# words, or it ends with password, passwd, secret or token (sslpassword, PGPASSWORD, auth_token...).
_SECRET_WORDS = frozenset({"password", "passwd", "pass", "pwd", "secret", "token", "key", "apikey", "accesskey",
                           "secretkey", "sslkey", "signature", "sig", "credential", "credentials", "auth",
                           "authorization"})
_SECRET_ENDINGS = ("password", "passwd", "secret", "token")
# A URL in running text: a scheme, "://", then anything up to white space, a quote or a bracket.
_URL_IN_TEXT = lazy(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s'\"<>()\[\]{}`]*")
# libpq keyword/value pairs ("host=h password=secret"), and the same words in other free text.
_WORD_PAIR = lazy(r"(?<![\w.-])([A-Za-z_][\w.-]{0,63})(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&;,'\"()\[\]{}<>]+)")


def is_secret_name(name: str) -> bool:
    """Whether a parameter named `name` (any case) looks like it holds a credential."""
    lowered = name.strip().lower()
    parts = re.split(r"[_.-]+", lowered)
    return lowered.endswith(_SECRET_ENDINGS) or any(part in _SECRET_WORDS for part in (lowered, *parts))


def _params(text: str) -> str:
    """`a=1&password=x;b=2` with the values of credential-looking names masked (separators kept)."""
    out = []
    for piece in re.split(r"([&;])", text):
        name, eq, _value = piece.partition("=")
        out.append(f"{name}={MASK}" if eq and is_secret_name(name) else piece)
    return "".join(out)


def redact_url(url: str) -> str:
    """`url` with the userinfo's password and credential-looking parameters masked as ``***``.

    Works on the text (no parsing that could raise): the authority runs from ``://`` to the first
    ``/``, ``?`` or ``#``, and its userinfo up to the last ``@`` in it. Anything without ``://`` is
    treated as free text (see redact_text)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return redact_text(url)
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, host = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}:{MASK}@{host}" if colon else f"{user}@{host}"
    path, hook, query = tail.partition("?")
    query, hash_, fragment = query.partition("#") if hook else ("", "", "")
    if not hook:
        path, hash_, fragment = tail.partition("#")
    redacted = path + (hook + _params(query) if hook else "") + (hash_ + _params(fragment) if hash_ else "")
    return f"{scheme}{sep}{authority}{redacted}"


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (redact_url) and ``password=...``-like pairs masked."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _WORD_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}" if is_secret_name(m.group(1)) else m.group(0),
                          text)
