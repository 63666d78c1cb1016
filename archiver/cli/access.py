"""CLI of the API area: `archiver token create`, `archiver export` and `archiver verify`.

`verify` works offline on an evidence bundle alone (no settings, storage or catalog needed), so a
third party given the zip can check it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from contextlib import closing
from pathlib import Path

from archiver.auth import create_token
from archiver.catalog.backend import open_catalog
from archiver.compliance.evidence import export_bundle, verify_bundle
from archiver.compliance.holds import check_post
from archiver.config.settings import Settings
from archiver.errors import InputError
from archiver.runtime import Runtime


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver token create`: make a token for `args.role` and print it once; returns 0."""
    with closing(open_catalog(settings.catalog_url)) as catalog:
        token = create_token(catalog, args.role, args.name or "")
    print(f"created a {args.role} token (shown once, stored hashed): {token}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver export`: write the evidence bundle of the `provider/post_id` posts to `args.output` (atomically)
    and print its summary as JSON; returns 0. InputError for a malformed or unknown post, or too many posts."""
    posts = []
    for ref in args.post:
        provider, _, post_id = ref.partition("/")
        posts.append(check_post(provider, post_id))
    out = Path(args.output)
    with Runtime.from_settings(settings) as rt:
        fd, tmp = tempfile.mkstemp(dir=out.parent if str(out.parent) else ".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                summary = export_bundle(rt, None, posts, fh, query={"cli": args.post})
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    print(json.dumps({"bundle": str(out), **summary}))
    return 0


def cmd_verify(args: argparse.Namespace, _settings: Settings) -> int:
    """`archiver verify`: check a bundle offline; prints "OK n files" and returns 0, or one FAILED line per
    problem and returns 2. InputError when the file does not exist."""
    if not Path(args.bundle).is_file():
        raise InputError(f"{args.bundle}: no such file")
    result = verify_bundle(args.bundle)
    if result.ok:
        print(f"OK {result.files} files")
        return 0
    for problem in result.problems:
        print(f"FAILED {problem}")
    return 2
