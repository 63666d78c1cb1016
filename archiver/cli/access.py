"""CLI of the API area: `archiver token create`, `archiver export`, `archiver verify` and `archiver keys`.

`verify` works offline on an evidence bundle alone (no storage or catalog needed), so a third party
given the WACZ can check it. `export` is audited under the operating-system user who ran it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

from archiver.auth import Principal, create_token
from archiver.catalog.backend import open_catalog
from archiver.catalog.query import MAX_LIMIT, SearchQuery
from archiver.cli.output import print_json
from archiver.compliance.evidence import MAX_EXPORT_POSTS, export_bundle, verify_bundle
from archiver.compliance.holds import check_post
from archiver.compliance.signing import create_key, key_path, load_private_key, public_info
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.runtime import Runtime

MAX_KEY_FILE = 64 * 1024


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver token create`: make a token for `args.role` and print it once; returns 0."""
    with closing(open_catalog(settings.catalog_url)) as catalog:
        token = create_token(catalog, args.role, args.name or "")
    print(f"created a {args.role} token (shown once, stored hashed): {token}")
    return 0


def os_principal() -> Principal:
    """Who runs this command, for the audit log: the operating-system user (getpass.getuser(), else
    ``uid:<n>`` when the user has no name), role ``cli``."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no LOGNAME/USER and no passwd entry
        name = f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return Principal(token_id="", name=name[:200] or "unknown", role="cli")


def _posts_of(args: argparse.Namespace, settings: Settings) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The posts to export (named, then the search's hits) and the query the audit log records."""
    posts = []
    for ref in args.post:
        provider, _, post_id = ref.partition("/")
        posts.append(check_post(provider, post_id))
    query: dict[str, Any] = {"posts": list(args.post)}
    if args.article is not None or args.query is not None:
        given = {"q": args.query or "", "article_id": args.article, "limit": MAX_LIMIT}
        search = SearchQuery.parse({k: v for k, v in given.items() if v is not None},
                                   spell=lambda name: {"q": "--query", "article_id": "--article"}.get(name, name))
        query["search"] = search.filters()
        with closing(open_catalog(settings.catalog_url)) as catalog:
            offset = 0
            while len(posts) <= MAX_EXPORT_POSTS:
                page = catalog.search(search.model_copy(update={"offset": offset}))
                posts += [(h["provider"], h["post_id"]) for h in page.hits]
                offset += len(page.hits)
                if not page.hits or offset >= page.total:
                    break
        if not posts:
            what = " and ".join(x for x in (f"article {args.article!r}" if args.article else "",
                                            f"the query {args.query!r}" if args.query else "") if x)
            raise InputError(f"nothing to export: no archived post for {what}")
    if not posts:
        raise InputError("nothing to export: name posts (provider/post_id), --article ID or --query WORDS")
    return posts, query


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver export`: write the WACZ evidence bundle of the posts to `args.output` (atomically), audited
    under the operating-system user; prints its summary as JSON (and, on stderr, that it is not signed when
    the archive has no key); returns 0. InputError for a malformed or unknown post, nothing to export, or
    too many posts."""
    out = Path(args.output)
    if out.is_dir():
        raise InputError(f"{args.output} is a directory: give the .wacz file to write")
    if not out.absolute().parent.is_dir():
        raise InputError(f"{args.output}: no such directory {str(out.absolute().parent)!r}")
    with Runtime.from_settings(settings) as rt:
        posts, query = _posts_of(args, settings)
        fd, tmp = tempfile.mkstemp(dir=out.parent if str(out.parent) else ".", suffix=".part")
        try:
            with os.fdopen(fd, "w+b") as fh:
                summary = export_bundle(rt, os_principal(), posts, fh, query=query, via="cli")
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    if summary["signed"] is None:
        print("archiver: warning: the bundle is not signed: this archive has no signing key "
              "(make one with `archiver keys create`)", file=sys.stderr)
    print(json.dumps({"bundle": str(out), **summary}, ensure_ascii=False))
    return 0


def _read_small(path: str, what: str) -> bytes:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_KEY_FILE:
            raise InputError(f"{path}: not a {what} (over {MAX_KEY_FILE} bytes)")
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None


def cmd_verify(args: argparse.Namespace, _settings: Settings) -> int:
    """`archiver verify`: check a bundle offline. Prints one ``FAILED <problem>`` line per problem and returns 2,
    or ``OK <n> files (<k> stored files as export counts them), <m> captures, signed by …; timestamped
    <capture> at <time> (<tsa>), …`` and returns 0 (n: the WACZ members); ``WARNING`` and ``NOT CHECKED`` lines say what
    the check proves less of (`--json`: one object, with ``timestamps`` [{capture, tsa, gen_time}]).
    InputError when a file given does not exist."""
    if not Path(args.bundle).is_file():
        raise InputError(f"{args.bundle}: no such file")
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
    for problem in result.problems:
        print(f"FAILED {problem}")
    for line in result.warnings:
        print(f"WARNING {line}")
    for line in result.not_checked:
        print(f"NOT CHECKED {line}")
    if not result.ok:
        return 2
    by = f", signed by {result.signed_by}" + (" (the given key)" if public_key else " (the bundle's own key)") \
        if result.signed_by else ", not signed"
    times = [f"{t['capture'].rsplit('/', 1)[-1].removesuffix('.json')} at {t['gen_time']} ({t['tsa']})"
             for t in result.timestamps]
    shown = "; timestamped " + ", ".join(times[:5]) + (f" and {len(times) - 5} more (--json lists them)"
                                                        if len(times) > 5 else "") if times else "; no timestamp"
    print(f"OK {result.files} file{'s' if result.files != 1 else ''} ({result.stored_files} stored files as "
          f"export counts them), {result.captures} "
          f"capture{'s' if result.captures != 1 else ''}{by}{shown}")
    return 0


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver keys create`: make the signing key under the archiver home (0600) and print its public key
    and fingerprint; returns 0. InputError when a key exists and --force is not given."""
    path = key_path(settings.home_path)
    info = create_key(path, force=args.force)
    print(f"created the evidence signing key {path} (ECDSA P-256, mode 0600)")
    print(f"fingerprint {info.fingerprint}")
    print(info.pem, end="")
    return 0


def cmd_keys_show(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver keys show`: print the public key (PEM) and its fingerprint (`--json`: {"path", "fingerprint",
    "public_key_pem"}); returns 0. InputError when there is no key."""
    path = key_path(settings.home_path)
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
