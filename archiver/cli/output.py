"""What every command prints the same way: JSON on stdout, human-readable UTF-8, indented; the one
escaping writer all text output goes through (`EscapingWriter`, installed by archiver/cli/main.py on
stdout and stderr for every command, so a new command cannot forget it: post text, author names, URLs
and errors come from platforms and articles and may hold a terminal's escapes); and who runs the
command (`os_user`), as the audit log records it."""

from __future__ import annotations

import errno
import json
import os
import pwd
import re
import sys
from typing import IO, Any

from archiver.auth import Principal

# What a terminal would act on rather than show: C0 controls but newline and tab, DEL, the C1 controls,
# the bidirectional controls (which reorder what follows them: U+061C, U+200E/F, U+202A-E, U+2066-9) and
# the line and paragraph separators. Joiners (U+200C/D) stay: Indic scripts and emoji need them.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                    "\u2066-\u2069]")


# Joiners are not printable to str.isprintable but are part of the text (Indic conjuncts, emoji).
JOINERS = frozenset("\u200c\u200d")


def escape_char(c: str) -> str:
    """The one spelling of an escaped character in all output: ``\\uXXXX`` (ESC is ``\\u001b``, as
    JSON spells it), ``\\UXXXXXXXX`` above U+FFFF."""
    n = ord(c)
    return f"\\u{n:04x}" if n <= 0xFFFF else f"\\U{n:08x}"


def escape_unsafe(text: str) -> str:
    """`text` with each UNSAFE character as `escape_char` spells it, so a terminal shows it instead of
    acting on it; the same form keeps JSON output valid and lossless (a JSON string may hold that
    escape anywhere). Newlines and tabs are kept."""
    return UNSAFE.sub(lambda m: escape_char(m.group()), text)


class EscapingWriter:
    """A text stream that writes through `escape_unsafe` to `inner` (stdout or stderr); everything else
    (``buffer`` for binary output, ``fileno``, ``flush``, ``isatty``, ``encoding``) is `inner`'s."""

    def __init__(self, inner: IO[str]) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        """Write `text`, escaped; returns len(text) as a text stream does. A character the stream's
        encoding cannot hold (Devanagari on an ASCII or Latin-1 terminal, PYTHONIOENCODING=ascii) is
        written as `escape_char` spells it, never a UnicodeEncodeError."""
        safe = escape_unsafe(text)
        try:
            self.inner.write(safe)
        except UnicodeEncodeError:
            self.inner.write(encodable(safe, getattr(self.inner, "encoding", None)))
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each line, escaped."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ClosedStream:
    """Stands for a standard stream the process was started without (``archiver ... >&-``: Python's
    sys.stdout is None). Stdout (`broken`): writing raises BrokenPipeError, as writing to a pipe nobody
    reads does, so the command ends as it does then (archiver/cli/main.py: exit 141, nothing on
    stderr); stderr (not `broken`): what is written is dropped, there is no one to tell. Flushing
    succeeds; ``buffer`` is itself (binary output is treated the same way)."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, fd: int, *, broken: bool = True) -> None:
        self.fd = fd
        self.broken = broken
        # The descriptor is held on /dev/null, so a file this process opens next does not become its
        # stdout (a catalog or a WARC a child process or a stray write would then write into).
        try:
            os.fstat(fd)
        except OSError:
            held = os.open(os.devnull, os.O_RDWR)
            if held != fd:
                os.dup2(held, fd)
                os.close(held)

    @property
    def buffer(self) -> ClosedStream:
        """Itself: its binary writes fail as its text writes do."""
        return self

    def write(self, data: str | bytes) -> int:
        """Raise BrokenPipeError when `broken` (there is no stream to write to), else drop `data`."""
        if self.broken:
            raise BrokenPipeError(errno.EPIPE, f"standard stream {self.fd} is closed")
        return len(data)

    def writelines(self, lines: Any) -> None:
        """Write each line as `write` does."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Nothing to flush."""

    def isatty(self) -> bool:
        """False: no terminal."""
        return False

    def fileno(self) -> int:
        """Raise OSError: the stream has no file descriptor of its own."""
        raise OSError(errno.EBADF, f"standard stream {self.fd} is closed")


def copy_to_stdout(src: IO[bytes], chunk: int = 1 << 20) -> int:
    """Copy all of `src` (a binary file, from where it is) to standard output and return the bytes
    written: what was printed before is flushed first, each chunk is written to the file descriptor
    until all of it is taken (a pipe or an unbuffered stdout may take less than asked: shutil.copyfileobj
    would drop the rest). BrokenPipeError when the reader goes away (the caller must not then claim
    success). Without a file descriptor (a test's captured stdout), the binary buffer is written to."""
    sys.stdout.flush()
    try:
        fd: int | None = sys.stdout.fileno()
        sys.stdout.buffer.flush()
    except (AttributeError, OSError, ValueError):
        fd = None
    total = 0
    while data := src.read(chunk):
        view = memoryview(data)
        while view:
            n = os.write(fd, view) if fd is not None else sys.stdout.buffer.write(view)
            if not n:
                raise BrokenPipeError("standard output took nothing")
            total += n
            view = view[n:]
    if fd is None:
        sys.stdout.buffer.flush()
    return total


# Lone surrogates: in a str from the operating system (a file name, argv, a --from-file line) they are
# the bytes that are not UTF-8, kept by the surrogateescape error handler (b"\\xff" is "\\udcff").
SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str, encoding: str | None) -> str:
    """`text` with each character `encoding` cannot encode as `escape_char` spells it (all of it when
    the encoding is unknown to Python: then only ASCII is kept)."""
    def fits(c: str) -> bool:
        try:
            c.encode(encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            return False
        return True

    return "".join(c if c.isascii() or fits(c) else escape_char(c) for c in text)


def stdout_encodes(text: str) -> bool:
    """Whether standard output's encoding can hold `text` as it is (UTF-8 can; ASCII or Latin-1, the
    encoding of a narrow terminal or PYTHONIOENCODING=ascii, may not)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def json_text(obj: Any, indent: int | None = 2, *, ascii_only: bool | None = None) -> str:
    """`obj` as JSON text carrying the real strings (never pre-escaped text), non-ASCII characters as
    they are except UNSAFE ones: json.dumps escapes only C0 controls, so the C1 and bidirectional
    controls, DEL and U+2028/2029 are escaped here too (``\\u202e``; they can only stand inside JSON
    strings, where that escape is the same character to any JSON reader). A lone surrogate (a byte of
    a file name that is not UTF-8, as Python decodes it: byte 0xff is U+DCFF) is written as its
    ``\\udcff`` escape, as ensure_ascii would, never as the raw byte: the text is always valid UTF-8,
    and a reader in Python gets the name back with ``os.fsencode(json.loads(line)["input"])``.

    `ascii_only` (None: when standard output's encoding cannot hold the text, `stdout_encodes`): every
    character outside ASCII as its JSON escape (json.dumps' ensure_ascii), so the output is valid JSON,
    the same strings to any reader, whatever the terminal's encoding."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    text = escape_unsafe(SURROGATE.sub(lambda m: escape_char(m.group()), text))
    if ascii_only or (ascii_only is None and not stdout_encodes(text)):
        return json.dumps(obj, ensure_ascii=True, indent=indent)
    return text


def print_json(obj: Any) -> None:
    """`obj` as indented JSON on stdout (`json_text`)."""
    sys.stdout.write(json_text(obj) + "\n")


def printable(text: object, limit: int = 200) -> str:
    """`text` as one printable line, the one escaping of human-readable output: each character that is
    not printable (newline, tab, C0/C1 controls, bidirectional controls, line separators, other
    invisible format characters; not the joiners U+200C/D) as `escape_char` spells it (ESC is
    ``\\u001b``, whichever command prints it); at most `limit` characters, "…" ending a longer one."""
    out = "".join(c if c.isprintable() or c in JOINERS else escape_char(c) for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


ENV_USER_VARS = ("LOGNAME", "USER", "LNAME", "USERNAME")  # what getpass.getuser() reads, in its order


def os_user() -> tuple[str, str | None]:
    """Who runs this command, by the kernel: the passwd name of the real uid (``pwd.getpwuid(os.getuid())``,
    else ``uid:<n>`` when the uid has no passwd entry), and the name the environment claims (the first of
    LOGNAME, USER, LNAME, USERNAME that is set, as getpass.getuser() would take it) only when it differs,
    else None. The environment is anyone's to set, so it never stands in for the user; both are one
    printable line (`printable`), at most 200 characters."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name or f"uid:{uid}"
    except KeyError:
        name = f"uid:{uid}"
    claimed = next((os.environ[v] for v in ENV_USER_VARS if os.environ.get(v)), None)
    name = printable(name, 200)
    return name, (printable(claimed, 200) if claimed is not None and claimed != name else None)


def sudo_user() -> str | None:
    """The person behind sudo: SUDO_USER, believed only when this process runs as root (uid 0) and
    SUDO_UID names the same passwd entry (as sudo sets both); None otherwise. A user who is not root
    gains nothing by setting SUDO_USER, and root could claim anything anyway."""
    name, uid = os.environ.get("SUDO_USER"), os.environ.get("SUDO_UID", "")
    if os.getuid() != 0 or not name or not uid.isdigit():
        return None
    try:
        entry = pwd.getpwuid(int(uid))
    except (KeyError, OverflowError):
        return None
    return printable(name, 200) if entry.pw_name == name else None


def cli_principal(role: str) -> Principal:
    """Who a CLI action (export, hold, release, takedown, restore, revert) is audited as, one format for
    all: name ``cli:<passwd name of the uid>`` (`os_user`, never what LOGNAME/USER claim), followed by
    `` (sudo by <SUDO_USER>)`` when root runs it through sudo (`sudo_user`), token id ``cli``, `role`."""
    sudo = sudo_user()
    name = f"cli:{os_user()[0]}" + (f" (sudo by {sudo})" if sudo else "")
    return Principal(token_id="cli", name=name, role=role)  # noqa: S106 - an id, not a secret
