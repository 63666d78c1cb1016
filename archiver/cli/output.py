"""What every command prints the same way: JSON on stdout, human-readable UTF-8, indented; and who runs
the command (`os_user`), as the audit log records it."""

from __future__ import annotations

import json
import os
import pwd
import sys
from typing import Any

from archiver.auth import Principal


def print_json(obj: Any) -> None:
    """`obj` as indented JSON on stdout, non-ASCII characters as they are."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def printable(text: str, limit: int = 200) -> str:
    """`text` as one printable line: each character that is not printable (newlines, a terminal's escapes)
    as its backslash escape; at most `limit` characters."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
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


def cli_principal(role: str) -> Principal:
    """Who a CLI action is audited as: ``cli:<passwd name of the uid>`` (`os_user`, never what
    LOGNAME/USER claim) with `role`."""
    return Principal(token_id="cli", name=f"cli:{os_user()[0]}", role=role)  # noqa: S106 - an id, not a secret
