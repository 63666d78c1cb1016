"""`archiver search` (the catalog's search, as the API gives it) and `archiver reindex` (rebuild
the catalog from object storage)."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing

from archiver.catalog.backend import open_catalog
from archiver.cli.output import print_json
from archiver.config.settings import Settings
from archiver.runners.reindex import reindex
from archiver.runtime import Runtime


def register(sub: argparse._SubParsersAction) -> None:
    """Add search and reindex."""
    p = sub.add_parser("search", help="search archived posts: words, \"phrases\", prefix*, any script",
                       description="Search archived posts (their latest capture). Words are all required; "
                                   "\"quoted words\" must be adjacent; word* is a prefix.")
    p.add_argument("query", nargs="?", default="", help="words, \"phrases\", prefix*; empty: every post")
    p.add_argument("--handle", help="the author's handle (with or without @)")
    p.add_argument("--author", help="words of the author's display name")
    p.add_argument("--provider", help="twitter, instagram, ...")
    p.add_argument("--since", help="posted on or after (YYYY-MM-DD or ISO 8601)")
    p.add_argument("--until", help="posted on or before (YYYY-MM-DD or ISO 8601)")
    p.add_argument("--captured-since", help="captured on or after")
    p.add_argument("--captured-until", help="captured on or before")
    p.add_argument("--article", help="only posts embedded in this article id")
    p.add_argument("--status", action="append", help="capture status (archived, deleted, ...); repeatable")
    p.add_argument("--image-sha256", help="posts whose captured media include this image")
    p.add_argument("--near-phash", help="posts with an image near this 16-hex perceptual hash")
    p.add_argument("--distance", type=int, default=8, help="Hamming distance for --near-phash (default 8)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--json", action="store_true", help='print {"total", "hits": [...]}')
    p.set_defaults(func=cmd_search)

    r = sub.add_parser("reindex", help="rebuild the catalog from object storage")
    r.add_argument("--fresh", action="store_true", help="empty the rebuilt tables first (drops stale rows)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_reindex)


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    with closing(open_catalog(settings.catalog_url)) as catalog:
        res = catalog.search(
            args.query, handle=args.handle, author=args.author, provider=args.provider, posted_since=args.since,
            posted_until=args.until, captured_since=args.captured_since, captured_until=args.captured_until,
            article_id=args.article, status=args.status, image_sha256=args.image_sha256,
            near_phash=args.near_phash, max_distance=args.distance, limit=args.limit, offset=args.offset)
    if args.json:
        print_json(res.to_json())
        return 0
    print(f"{res.total} post{'s' if res.total != 1 else ''}")
    for h in res.hits:
        who = f"@{h['handle']}" if h["handle"] else (h["author"] or "?")
        text = " ".join((h["text"] or "").split())
        print(f"{h['provider']}/{h['post_id']}  {h['status']}  {who}  {h['posted_at'] or '-'}  "
              f"{text[:100]}{'…' if len(text) > 100 else ''}")
        if h["articles"]:
            print(f"    in: {', '.join(h['articles'])}")
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    with Runtime.from_settings(settings) as rt:
        rep = reindex(rt, fresh=args.fresh)
    if args.json:
        sys.stdout.write(json.dumps(rep.to_json()) + "\n")
    else:
        print(f"reindexed {rt.store.describe()} into {rt.catalog.describe()}: " +
              ", ".join(f"{v} {k}" for k, v in rep.to_json().items()))
    return 0
