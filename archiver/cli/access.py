"""CLI of the API area: `archiver token` (create, list, revoke), `archiver export`, `archiver verify` and
`archiver keys`.

`verify` works offline on an evidence bundle alone (no storage or catalog needed), so a third party
given the WACZ can check it. `export`, `token create` and `token revoke` are audited under the
operating-system user who ran it (`cli_principal`, in the admin role: what the API would ask of them).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

from archiver.auth import TokenInfo, issue_token, list_tokens, revoke_token, stamp
from archiver.catalog.backend import open_catalog
from archiver.catalog.query import MAX_LIMIT, SearchQuery
from archiver.catalog.syntax import selects_something
from archiver.cli.kinds import shown
from archiver.cli.output import cli_principal, copy_to_stdout, json_text, os_user, print_json, printable
from archiver.compliance import audit
from archiver.compliance.evidence import export_bundle, one_line, search_posts, verify_bundle
from archiver.compliance.holds import check_post
from archiver.compliance.signing import (
    all_keys,
    create_key,
    key_path,
    load_private_key,
    public_info,
    retired_dir,
)
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.runtime import Runtime

MAX_KEY_FILE = 64 * 1024


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver token create`: make a token for `args.role`, valid for `args.expires_in` when given (else
    until revoked), and print it once (`--json`: {"id", "role", "name", "expires_at", "token"}, name null
    when none was given); audited as ``token_create`` (never the secret); returns 0."""
    with Runtime.from_settings(settings) as rt:
        new = issue_token(rt.catalog, args.role, args.name or "", args.expires_in)
        audit.record(rt, cli_principal("admin"), "token_create", f"token:{new.info.token_id}",
                     {"via": "cli", "name": new.info.name, "role": new.info.role, "expires_at": new.info.expires_at})
    if args.json:
        print_json({"id": new.info.token_id, "role": args.role, "name": args.name or None,
                    "expires_at": new.info.expires_at, "token": new.token})
    else:
        until = f", expires {new.info.expires_at}" if new.info.expires_at else ""
        print(f"created a {args.role} token, id {new.info.token_id}{until} (shown once, stored hashed): {new.token}")
    return 0


def _when(value: str | None, none: str) -> str:
    return value if value is not None else none


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver token list`: every token, oldest first, one line each (id, role, state, created, last used,
    expires, name), revoked and expired ones too; never a secret (only hashes are kept, and not shown).
    `--json`: {"tokens": [TokenInfo.as_json()...]}. Returns 0."""
    with closing(open_catalog(settings.catalog_url)) as catalog:
        tokens = list_tokens(catalog)
    now = stamp()
    if args.json:
        print_json({"tokens": [t.as_json(now) for t in tokens]})
        return 0
    if not tokens:
        print("no API tokens: make one with `archiver token create --role ROLE`")
        return 0
    rows = [("ID", "ROLE", "STATE", "CREATED", "LAST USED", "EXPIRES", "NAME")]
    rows += [(t.token_id, t.role, t.state(now) + (f" {t.revoked_at}" if t.revoked_at else ""), t.created_at,
              _when(t.last_used_at, "never"), _when(t.expires_at, "never"), printable(t.name, 80)) for t in tokens]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    return 0


def _described(t: TokenInfo) -> str:
    return f"token {t.token_id} ({printable(t.name, 80)}, {t.role})"


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver token revoke ID_OR_NAME`: revoke the token (by its id, else its name): from now on the API
    refuses it (401) and every web session signed in with it ends. Audited as ``token_revoke``; revoking a
    token already revoked changes nothing and is audited as a ``noop``. Prints what happened (`--json`:
    the token as `token list --json` shows it, plus "changed"); returns 0 either way. InputError for an
    unknown name or id, or a name several tokens share."""
    with Runtime.from_settings(settings) as rt:
        info, changed = revoke_token(rt.catalog, args.token)
        target = f"token:{info.token_id}"
        if changed:
            audit.record(rt, cli_principal("admin"), "token_revoke", target,
                         {"via": "cli", "name": info.name, "role": info.role})
        else:
            audit.record(rt, cli_principal("admin"), "noop", target,
                         {"via": "cli", "action": "token_revoke", "why": "already revoked"}, 0)
    if args.json:
        print_json({**info.as_json(), "changed": changed})
    elif changed:
        print(f"revoked {_described(info)}: it and the sessions signed in with it no longer work")
    else:
        print(f"{_described(info)} was already revoked at {info.revoked_at}: nothing changed")
    return 0


def _check_output(path: str) -> Path | None:
    """The bundle's target: None for ``-`` (standard output; refused when it is a terminal), else the
    path, refused (InputError) when something that is not a regular file is there (a directory, a
    symlink, a FIFO, a device, a socket: the bundle is written to a temporary file beside it and renamed
    over, which must only ever replace a file) or when its directory does not exist. An empty name
    is refused as such. Names in messages are quoted cut to 60 characters (`shown`)."""
    if path == "":
        raise InputError("-o '': give the .wacz file to write (- for standard output)")
    if path == "-":
        if sys.stdout.isatty():
            raise InputError("-o -: standard output is a terminal; redirect it to a file or a pipe")
        return None
    out = Path(path)
    try:
        st = out.lstat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(f"{shown(path)}: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a symbolic link" if stat.S_ISLNK(st.st_mode)
                else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device"
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise InputError(f"{shown(path)} is {kind}: give a new or regular .wacz file to write (- for stdout)")
    if not out.absolute().parent.is_dir():
        raise InputError(f"{shown(path)}: no such directory {shown(str(out.absolute().parent))}")
    return out


def _posts_of(args: argparse.Namespace, settings: Settings) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The posts to export (named, then the search's hits) and the query the audit log records."""
    posts = []
    for ref in args.post:
        provider, _, post_id = ref.partition("/")
        posts.append(check_post(provider, post_id))
    query: dict[str, Any] = {"posts": list(args.post)}
    try:
        selects = args.query is None or selects_something(args.query)
    except InputError as exc:
        raise InputError(f"--query searches nothing: {exc}") from None
    if not selects:
        raise InputError("--query '' searches nothing: give words, \"phrases\", prefix* or a filter such as "
                         "from:handle (to export everything, name the posts)")
    if args.article is not None or args.query is not None:
        given = {"q": args.query or "", "article_id": args.article, "limit": MAX_LIMIT}
        search = SearchQuery.parse({k: v for k, v in given.items() if v is not None},
                                   spell=lambda name: {"q": "--query", "article_id": "--article"}.get(name, name))
        query["search"] = search.filters()
        with closing(open_catalog(settings.catalog_url)) as catalog:
            # every match, or refused
            found, query["matched"], query["matched_captures"] = search_posts(catalog.search, search)
        posts += found
        if not posts:
            what = " and ".join(x for x in (f"article {shown(args.article)}" if args.article else "",
                                            f"the query {shown(args.query)}" if args.query else "") if x)
            raise InputError(f"nothing to export: no archived post for {what}")
    if not posts:
        raise InputError("nothing to export: name posts (provider/post_id), --article ID or --query WORDS")
    return posts, query


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver export`: write the WACZ evidence bundle of the posts to `args.output` (``-``: standard
    output), audited under the operating-system user (`os_user`; the environment's name too when it
    differs; `cli_principal`, as hold and restore are); prints its summary as JSON on stdout (on stderr when
    the bundle goes to stdout, and only once all of it was written: a reader that closes the pipe early
    ends the command with 141, no summary, and an ``export_incomplete`` audit event) and, on
    stderr, that it is not signed when the archive has no key; returns 0. The bundle is written to a
    temporary file in the target's directory and renamed over the target, so a failed export leaves
    nothing behind. InputError for a malformed or unknown post, nothing to export, a query that
    searches nothing (empty; one that does not parse is the parser's line; a filter alone, `from:ANI`,
    is a selection: `selects_something`), a search matching more than MAX_EXPORT_POSTS (`search_posts`:
    every match is exported, never a cut), a stored capture that does not verify, too many posts, or a
    target that is empty or not a regular file (`_check_output`), or an existing FILE without `--force`
    (an earlier bundle is evidence; with `--force` it is replaced, and stderr says so).
    `--json` indents the summary (without it, it is one line of JSON)."""
    out = _check_output(args.output)
    force = getattr(args, "force", False)
    existed = out is not None and out.exists()
    if existed and not force:
        raise InputError(f"{shown(args.output)} exists: give --force to replace it, or another file name")
    env_user = os_user()[1]
    with Runtime.from_settings(settings) as rt:
        posts, query = _posts_of(args, settings)
        rt.catalog.ensure_schema()  # the audit log is indexed there: a catalog that is not there fails now
        where = str(out.absolute().parent) if out is not None else None
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".archiver-export-", suffix=".part")
        try:
            with os.fdopen(fd, "w+b") as fh:
                who = cli_principal("compliance")
                summary = export_bundle(rt, who, posts, fh, query=query, via="cli", env_user=env_user)
                if out is None:
                    size = fh.tell()
                    fh.seek(0)
                    try:
                        copy_to_stdout(fh)
                    except BrokenPipeError:  # the reader went away: the export above did not reach anyone whole
                        audit.record(rt, who, "export_incomplete", ",".join(f"{p}/{i}" for p, i in posts)[:1000],
                                     {"via": "cli", "bytes": size, "reason": "standard output was closed before "
                                      "the bundle was written whole"}, result_count=0)
                        raise
            if out is not None:
                if force:
                    os.replace(tmp, out)
                else:
                    try:  # placed only if the name is still free: a link never replaces (another export's file)
                        os.link(tmp, out)
                    except FileExistsError:
                        audit.record(rt, who, "export_incomplete", ",".join(f"{p}/{i}" for p, i in posts)[:1000],
                                     {"via": "cli", "sha256": summary.get("sha256"), "reason": f"{out} was "
                                      "written by someone else meanwhile; this bundle was not kept"},
                                     result_count=0)
                        raise InputError(f"{shown(args.output)} appeared while the bundle was written (another "
                                         "export?): it was left as it is; give --force to replace it, or another "
                                         "file name") from None
                    except OSError:  # a file system without hard links: placed by rename (the check above)
                        os.replace(tmp, out)
        finally:
            Path(tmp).unlink(missing_ok=True)
    if existed:
        print(f"archiver: note: {shown(args.output)} existed and was replaced by this bundle", file=sys.stderr)
    if summary["signed"] is None:
        print("archiver: warning: the bundle is not signed: this archive has no signing key "
              "(make one with `archiver keys create`)", file=sys.stderr)
    if summary.get("pending_timestamps"):
        print(f"archiver: warning: {len(summary['pending_timestamps'])} capture(s) not timestamped yet (the TSAs "
              "had not answered): `archiver timestamp`, then export again", file=sys.stderr)
    print(json_text({"bundle": str(out) if out is not None else "-", **summary}, indent=2 if args.json else None),
          file=sys.stdout if out is not None else sys.stderr)
    return 0


def _read_small(path: str, what: str) -> bytes:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_KEY_FILE:
            raise InputError(f"{shown(path)}: not a {what} (over {MAX_KEY_FILE} bytes)")
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"{shown(path)}: {exc.strerror or exc}") from None


def cmd_verify(args: argparse.Namespace, _settings: Settings) -> int:
    """`archiver verify`: check a bundle offline. Prints one ``FAILED <problem>`` line per problem and returns 2,
    or ``OK <n> files (<k> stored files as export counts them), <m> captures, signed by …; timestamped
    <capture> at <time> (<tsa>), …`` and returns 0 (n: the WACZ members); ``WARNING`` and ``NOT CHECKED`` lines say what
    the check proves less of (`--json`: one object, with ``timestamps`` [{capture, tsa, gen_time}]).
    InputError when a file given does not exist."""
    if not Path(args.bundle).is_file():
        raise InputError(f"{shown(args.bundle)}: no such file")
    public_key = _read_small(args.public_key, "public key") if args.public_key else None
    for path in args.tsa_ca or []:
        _read_small(path, "certificate")
    result = verify_bundle(args.bundle, public_key=public_key, tsa_ca=args.tsa_ca)
    if args.json:
        print_json({"ok": result.ok, "files": result.files, "stored_files": result.stored_files,
                    "captures": result.captures, "signed_by": result.signed_by,
                    "key": "given" if public_key else "embedded", "timestamps": result.timestamps,
                    "problems": result.problems, "warnings": result.warnings, "not_checked": result.not_checked})
        return 0 if result.ok else 2
    # Names and values come from the bundle as they are: each line escaped here (`printable`).
    for problem in result.problems:
        print(printable(f"FAILED {problem}", 10_000))
    for line in result.warnings:
        print(printable(f"WARNING {line}", 10_000))
    for line in result.not_checked:
        print(printable(f"NOT CHECKED {line}", 10_000))
    if not result.ok:
        return 2
    by = f", signed by {result.signed_by}" + (" (the given key)" if public_key else " (the bundle's own key)") \
        if result.signed_by else ", not signed"
    times = [f"{t['capture'].rsplit('/', 1)[-1].removesuffix('.json')} at {t['gen_time']} ({t['tsa']})"
             for t in result.timestamps]
    stamped = "; timestamped " + ", ".join(times[:5]) + (f" and {len(times) - 5} more (--json lists them)"
                                                        if len(times) > 5 else "") if times else "; no timestamp"
    print(printable(f"OK {result.files} file{'s' if result.files != 1 else ''} ({result.stored_files} stored files "
                    f"as export counts them), {result.captures} "
                    f"capture{'s' if result.captures != 1 else ''}{by}{stamped}", 10_000))
    return 0


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver keys create`: make the signing key under the archiver home (0600) and print its public key
    and fingerprint (`--json`: {"path", "fingerprint", "public_key_pem", "retired"}); with --force, the
    replaced key's public half is kept under keys/retired/ (and said); returns 0. InputError when a key
    exists and --force is not given."""
    path = key_path(settings.home_path)
    info = create_key(path, force=args.force)
    if args.json:
        print_json({"path": str(path), "fingerprint": info.fingerprint, "public_key_pem": info.pem,
                    "retired": info.retired or None})
        return 0
    if info.retired:
        print(f"kept the replaced key's public key {info.retired} in "
              f"{retired_dir(settings.home_path)} (bundles it signed still verify against it)")
    print(f"created the evidence signing key {path} (ECDSA P-256, mode 0600)")
    print(f"fingerprint {info.fingerprint}")
    print(info.pem, end="")
    return 0


def cmd_keys_show(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver keys show`: print the public key (PEM) and its fingerprint (`--json`: {"path", "fingerprint",
    "public_key_pem"}); returns 0. InputError when there is no key.

    `--all`: every key the archive has signed with, the current one first, then the retired ones
    (`archiver.compliance.signing.all_keys`): for each a ``fingerprint <fp> <status> valid <from> .. <until>``
    line and its PEM (`--json`: {"keys": [KeyRecord.as_json()...], "problems": [...]}); a retired file that
    is not a key is a ``warning`` line on stderr. InputError when there is no key at all."""
    path = key_path(settings.home_path)
    if args.all:
        keys, problems = all_keys(settings.home_path)
        for problem in problems:
            print(f"archiver: warning: {one_line(problem)}", file=sys.stderr)
        if not keys:
            raise InputError(f"no signing key at {path}: make one with `archiver keys create`")
        if args.json:
            print_json({"keys": [k.as_json() for k in keys], "problems": problems})
            return 0
        for k in keys:
            print(f"fingerprint {k.fingerprint} {k.status} valid {k.valid_from or '?'} .. {k.valid_until or 'now'}")
            print(k.pem, end="")
        return 0
    key = load_private_key(path)
    if key is None:
        raise InputError(f"no signing key at {path}: make one with `archiver keys create`")
    info = public_info(key.public_key())
    if args.json:
        print_json({"path": str(path), "fingerprint": info.fingerprint, "public_key_pem": info.pem})
    else:
        print(f"fingerprint {info.fingerprint}")
        print(info.pem, end="")
    return 0
