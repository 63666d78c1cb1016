"""`archiver timestamp`: timestamp pending captures now (RFC 3161, archiver/compliance/timestamps.py).

The local runner and the workers do this by themselves after each capture; this command finishes
what they left (a TSA that was down), or timestamps chosen captures, at once.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from archiver.cli.output import print_json
from archiver.compliance.timestamps import find_pending, one_line, timestamp_captures
from archiver.config.settings import Settings
from archiver.dates import parse_iso, utcnow
from archiver.errors import ConfigError, InputError
from archiver.runtime import Runtime
from archiver.storage.layout import MANIFEST_KEY_RE


def cmd_timestamp(args: argparse.Namespace, settings: Settings) -> int:
    """Timestamp the captures named (manifest keys), else every capture of the catalog since
    ``--since`` (default ``tsa_lookback`` ago, at most ``--limit``) whose record is not complete; with
    ``--force`` a TSA that failed is asked again without waiting for its retry delay. Prints what was
    done (``--json``: TimestampRun.to_json()); returns 0. ConfigError (exit 2) when no TSA is configured,
    InputError for a bad key or time."""
    if not settings.tsa_url_list:
        raise ConfigError("no time-stamping authority configured: set ARCHIVER_TSA_URLS (a comma list of TSA URLs)")
    for key in args.manifest_key or []:
        if not MANIFEST_KEY_RE.fullmatch(key):
            raise InputError("not a manifest key (posts/<provider>/<post_id>/<capture_id>.json): "
                             f"{one_line(key, 200)!r}")
    since = None
    if args.since:
        try:
            since = parse_iso(args.since)
        except ValueError:
            raise InputError(f"--since {one_line(args.since, 60)!r} is not an ISO 8601 time") from None
    elif args.days is not None:
        since = utcnow() - timedelta(days=args.days)
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    with Runtime.from_settings(settings) as rt:
        keys = list(args.manifest_key or []) or find_pending(rt, since=since, limit=args.limit)
        run = timestamp_captures(rt, keys, force=args.force)
    if args.json:
        print_json(run.to_json())
        return 0
    if run.skipped:
        print(f"nothing done: {run.skipped}")
        return 0
    print(f"looked at {run.captures} capture(s): {run.complete} already complete, {run.stamped} completed now, "
          f"{len(run.pending)} still pending; {run.requests} request(s) to TSAs")
    for root in run.roots:
        print(f"  timestamped root {root}")
    for line in run.failures:
        print(f"  failed: {line}")
    for key in run.pending:
        print(f"  pending: {key}")
    for key in run.unreadable:
        print(f"  not found: {key}")
    return 0
