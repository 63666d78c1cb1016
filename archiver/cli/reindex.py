"""`archiver reindex`: rebuild the catalog from object storage, which stays the truth.

Each count it prints names what it counts: captures (stored manifests), articles, items (item results),
versions, blobs (distinct image originals: one content-addressed original used by many captures and
articles is one blob), compliance states, audit events and health records indexed, and stored objects
skipped as unreadable. The text line and `--json` give the same numbers.
"""

from __future__ import annotations

import argparse
import sys

from archiver.cli.output import json_text
from archiver.config.settings import Settings
from archiver.runners.reindex import reindex
from archiver.runtime import Runtime


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    """`archiver reindex`: rebuild the catalog from object storage (`--fresh`: its tables emptied first) and
    print what was indexed, each count what it names (blobs: distinct originals, not their uses); returns 0."""
    with Runtime.from_settings(settings) as rt:
        rep = reindex(rt, fresh=args.fresh)
        where = f"{rt.store.describe()} into {rt.catalog.describe()}"
    counts = rep.to_json()
    if args.json:
        sys.stdout.write(json_text(counts, indent=None) + "\n")
    else:
        print(f"reindexed {where}: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
    return 0
